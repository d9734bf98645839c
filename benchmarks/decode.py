#!/usr/bin/env python3
"""Decode cost of one 200-token page: bytes to typed objects, per token.

The page comes from the stand-in (Review Board 8.1's payload shape, every
field and link), fetched once over loopback. Measured, best of several
repeats:

* rbtokens ``decode_response`` (bytes → ``ListResource[APIToken]``);
* the same, then reading the fields an audit reads from every token;
* rbtokens on the page an audit actually fetches (``only-fields`` and
  ``only-links=``, which the audit sends);
* RBTools 7.0 the way its ``SyncTransport`` does it: ``decode_response``
  (json) + ``create_resource`` (``ListResource``), then iterating the items
  (each one an ``ItemResource`` built on access) and reading the same fields;
* rbtokens on a page of 100 users, per user: as listed, then with
  ``expand=api_tokens`` (their 200 tokens inlined with ``_expanded``, which
  takes the expanding path). ``rbtokens_plain_equivalent_us`` is the fast
  path's cost for the same objects (a user plus its 2 tokens, from plain
  pages), and ``expanded_overhead`` the expanded page's cost over it.

    python benchmarks/decode.py [--json] [--quick]
"""

from __future__ import annotations

import argparse
import base64
import json
import operator
import sys
import timeit
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rbtools.api.decode import decode_response as rbtools_decode  # type: ignore[import-untyped]  # noqa: E402
from rbtools.api.factory import create_resource  # type: ignore[import-untyped]  # noqa: E402
from rbtools.api.transport import Transport  # type: ignore[import-untyped]  # noqa: E402

from rbtokens.auditing import TOKEN_FIELDS  # noqa: E402
from rbtokens.wire import decode_response  # noqa: E402
from tools.standin import Dataset, TokenKind, serve_in_thread  # noqa: E402

TOKENS = 200
USERS = 100  # the expanded page: USERS users with TOKENS tokens between them
FIELDS = tuple(TOKEN_FIELDS.split(","))  # what an audit asks for
AUDIT_QUERY = "&only-fields=" + ",".join(FIELDS) + "&only-links="
read = operator.attrgetter(*FIELDS)
MIME = "application/vnd.reviewboard.org.api-tokens+json"
ITEM_MIME = "application/vnd.reviewboard.org.api-token+json"


@dataclass
class Pages:
    """The pages measured, as the stand-in serves them, with their headers."""

    full: bytes = b""
    audit: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    users: bytes = b""
    expanded: bytes = b""
    users_headers: dict[str, str] = field(default_factory=dict)


def fetch_pages() -> Pages:
    """A user with 200 tokens of mixed kinds; 100 users with 2 tokens each."""
    ds = Dataset()
    ds.add_user("bench")
    kinds = list(TokenKind)
    for i in range(TOKENS):
        ds.add_token("bench", kind=kinds[i % len(kinds)])
    for u in range(USERS):
        ds.add_user(f"exp{u:03d}")
        for k in range(TOKENS // USERS):
            ds.add_token(f"exp{u:03d}", kind=kinds[(u + k) % len(kinds)])
    pages = Pages()
    with serve_in_thread(dataset=ds) as rb:
        auth = "Basic " + base64.b64encode(b"admin:admin").decode()
        base = f"{rb.api_url}users/bench/api-tokens/?max-results=200"

        def get(url: str) -> tuple[bytes, dict[str, str]]:
            req = urllib.request.Request(url, headers={"Authorization": auth})
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.read(), {k.lower(): v for k, v in resp.headers.items()}

        pages.full, pages.headers = get(base)
        pages.audit, _ = get(base + AUDIT_QUERY)
        users = f"{rb.api_url}users/?q=exp&max-results={USERS}"
        pages.users, pages.users_headers = get(users)
        pages.expanded, _ = get(users + "&expand=api_tokens")
    return pages


def per_token(fn: Callable[[], Any], number: int, repeat: int, *, per: int = TOKENS) -> float:
    """Best time per token (or per ``per`` items), in microseconds."""
    best = min(timeit.repeat(fn, number=number, repeat=repeat))
    return best / number / per * 1e6


def run(quick: bool = False) -> dict[str, Any]:
    pages = fetch_pages()
    full, audit, headers = pages.full, pages.audit, pages.headers
    number, repeat = (20, 3) if quick else (100, 7)

    def rbtokens_decode() -> Any:
        return decode_response(200, headers, full)

    def rbtokens_read() -> list[tuple[Any, ...]]:
        return [read(t) for t in decode_response(200, headers, full)]

    def rbtokens_audit_page() -> list[tuple[Any, ...]]:
        return [read(t) for t in decode_response(200, headers, audit)]

    transport = Transport("http://127.0.0.1/")

    def rbtools_read() -> list[tuple[Any, ...]]:
        payload = rbtools_decode(full, MIME)
        page = create_resource(
            transport=transport,
            payload=payload,
            url="http://127.0.0.1/api/users/bench/api-tokens/",
            mime_type=MIME,
            item_mime_type=ITEM_MIME,
        )
        return [read(t) for t in page]

    def rbtokens_users() -> Any:
        return decode_response(200, pages.users_headers, pages.users)

    def rbtokens_expanded() -> Any:
        return decode_response(200, pages.users_headers, pages.expanded)

    page = rbtokens_decode()
    assert len(page) == TOKENS
    assert len(rbtools_read()) == TOKENS
    assert len(rbtokens_users()) == USERS and not any(u.expanded for u in rbtokens_users())
    expanded = rbtokens_expanded()
    assert sum(len(u.expanded["api_tokens"]) for u in expanded) == TOKENS
    results = {
        "page_bytes": len(full),
        "audit_page_bytes": len(audit),
        "rbtokens_decode_us": per_token(rbtokens_decode, number, repeat),
        "rbtokens_decode_read_us": per_token(rbtokens_read, number, repeat),
        "rbtokens_audit_page_us": per_token(rbtokens_audit_page, number, repeat),
        "rbtools_us": per_token(rbtools_read, max(5, number // 5), repeat),
        "users_page_bytes": len(pages.users),
        "expanded_page_bytes": len(pages.expanded),
        "rbtokens_users_us": per_token(rbtokens_users, number, repeat, per=USERS),
        "rbtokens_expanded_us": per_token(rbtokens_expanded, number, repeat, per=USERS),
    }
    fast_path = results["rbtokens_users_us"] + TOKENS / USERS * results["rbtokens_decode_us"]
    results["rbtokens_plain_equivalent_us"] = fast_path
    results["expanded_overhead"] = results["rbtokens_expanded_us"] / fast_path
    results["ratio_rbtools_over_rbtokens"] = (
        results["rbtools_us"] / results["rbtokens_decode_read_us"]
    )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    res = run(quick=args.quick)
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"200-token page: {res['page_bytes']} bytes ({res['audit_page_bytes']} as audited)")
    print(f"rbtokens decode_response          {res['rbtokens_decode_us']:7.2f} µs/token")
    print(f"rbtokens decode + read fields     {res['rbtokens_decode_read_us']:7.2f} µs/token")
    print(f"rbtokens, the page an audit gets  {res['rbtokens_audit_page_us']:7.2f} µs/token")
    print(f"RBTools decode + resources + read {res['rbtools_us']:7.2f} µs/token")
    print(f"RBTools / rbtokens                {res['ratio_rbtools_over_rbtokens']:7.1f}x")
    print(
        f"{USERS}-user page: {res['users_page_bytes']} bytes, "
        f"{res['expanded_page_bytes']} with expand=api_tokens ({TOKENS} tokens)"
    )
    print(f"rbtokens users page               {res['rbtokens_users_us']:7.2f} µs/user")
    print(f"rbtokens users + expanded tokens  {res['rbtokens_expanded_us']:7.2f} µs/user")
    print(f"the same from plain pages         {res['rbtokens_plain_equivalent_us']:7.2f} µs/user")
    print(f"expanded / fast path, same items  {res['expanded_overhead']:7.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
