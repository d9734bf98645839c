#!/usr/bin/env python3
"""The same audit written with RBTools 7.0, the way its users write it.

``--threads 1`` is the plain sequential script: one ``RBClient`` (with its
default HTTP cache; ``--no-cache`` turns it off), the users
list with ``include_inactive=1, max_results=200`` followed with
``get_next()``, and ``user.get_api_tokens(max_results=200)`` for each user.

``--threads N`` hands the same per-user ``user.get_api_tokens()`` calls to a
thread pool, sharing one client. One client per thread does not work:
RBTools installs its urllib opener process-wide (``install_opener``), so
every ``RBClient`` in a process sends through the opener (cookie jar and
one-shot Basic header) of the last one created, and threads get 401s. A
shared client must turn the HTTP cache off (``allow_caching=False``): the
cache is an sqlite connection bound to the thread that opened it.

RBTools keeps cookies in ``~/.rbtools-cookies`` and its cache under
``~/.cache/rbtools``: run it with ``HOME`` pointing at a throw-away
directory (``benchmarks/run.py`` does).

    python benchmarks/rbtools_audit.py --server URL --username U --password P [--threads N]
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from rbtools.api.client import RBClient  # type: ignore[import-untyped]


def parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def judge(username: str, active: bool, tokens: list[Any], now: datetime) -> list[dict[str, Any]]:
    stale = now - timedelta(days=90)
    rows = []
    for t in tokens:
        expires = parse_time(t.expires)
        last_used = parse_time(t.last_used)
        expired = t.expired or (expires is not None and expires <= now)
        usable = t.valid and not expired
        flags = []
        if usable:
            if expires is None:
                flags.append("no-expiry")
            if last_used is not None and last_used < stale:
                flags.append("stale")
            if not t.policy:
                flags.append("unrestricted-policy")
            if t.deprecated:
                flags.append("deprecated-generator")
            if not active:
                flags.append("inactive-owner")
        else:
            flags.append("expired" if expired else "invalid")
        rows.append(
            {"username": username, "id": t.id, "note": t.note, "usable": usable, "flags": flags}
        )
    return rows


def all_items(page: Any) -> list[Any]:
    items = []
    while True:
        items.extend(page)
        try:
            page = page.get_next()
        except StopIteration:
            return items


def sequential(
    server: str, username: str, password: str, now: datetime, *, cache: bool = True
) -> list[dict[str, Any]]:
    client = RBClient(server, username=username, password=password, allow_caching=cache)
    root = client.get_root()
    rows: list[dict[str, Any]] = []
    users = root.get_users(include_inactive=1, max_results=200)
    while True:
        for user in users:
            tokens = all_items(user.get_api_tokens(max_results=200))
            rows.extend(judge(user.username, user.is_active, tokens, now))
        try:
            users = users.get_next()
        except StopIteration:
            break
    return rows


def threaded(
    server: str, username: str, password: str, now: datetime, threads: int
) -> list[dict[str, Any]]:
    client = RBClient(server, username=username, password=password, allow_caching=False)
    root = client.get_root()

    def audit_user(user: Any) -> list[dict[str, Any]]:
        tokens = all_items(user.get_api_tokens(max_results=200))
        return judge(user.username, user.is_active, tokens, now)

    rows: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures: list[Future[list[dict[str, Any]]]] = []
        users = root.get_users(include_inactive=1, max_results=200)
        while True:
            futures.extend(pool.submit(audit_user, user) for user in users)
            try:
                users = users.get_next()
            except StopIteration:
                break
        for future in futures:
            rows.extend(future.result())
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--no-cache", action="store_true", help="sequential: allow_caching=False (not the default)"
    )
    args = parser.parse_args()
    now = datetime.now(UTC)
    if args.threads <= 1:
        rows = sequential(args.server, args.username, args.password, now, cache=not args.no_cache)
    else:
        rows = threaded(args.server, args.username, args.password, now, args.threads)
    rows.sort(key=lambda r: (r["username"], r["id"]))
    json.dump({"tokens_seen": len(rows), "tokens": rows}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
