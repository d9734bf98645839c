#!/usr/bin/env python3
"""The floor: a hand-written minimal audit with bare aiohttp and msgspec.

It sends the same requests as ``rbtokens audit`` (the root with one Basic
login, the users list with ``include-inactive=1``, ``max-results=200`` and the
same ``only-fields``/``only-links``, the later pages concurrently at computed
offsets, then every user's token list), keeps ``--concurrency`` requests in
flight, reuses the session cookie, decodes into minimal Structs and prints a
JSON list of the tokens with the flags an audit looks at. No retries, no
error handling beyond failing loudly: this is the lower bound of the cost.

    python benchmarks/floor_audit.py --server URL --username U --password P
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import msgspec

USER_FIELDS = "id,username,is_active"
TOKEN_FIELDS = (
    "id,note,policy,expires,expired,valid,invalid_reason,"
    "last_used,time_added,token_generator_id,deprecated"
)


class Link(msgspec.Struct):
    href: str


class Root(msgspec.Struct):
    links: dict[str, Link]
    uri_templates: dict[str, str]


class User(msgspec.Struct):
    id: int
    username: str
    is_active: bool = True


class UsersPage(msgspec.Struct):
    users: list[User]
    total_results: int
    links: dict[str, Link] = {}


class Token(msgspec.Struct):
    id: int
    note: str = ""
    policy: dict[str, Any] = {}
    expires: datetime | None = None
    expired: bool = False
    valid: bool = True
    last_used: datetime | None = None
    time_added: datetime | None = None
    token_generator_id: str = ""
    deprecated: bool = False


class TokensPage(msgspec.Struct):
    api_tokens: list[Token]
    links: dict[str, Link] = {}


class Row(msgspec.Struct):
    username: str
    id: int
    note: str
    usable: bool
    flags: list[str]


root_decoder = msgspec.json.Decoder(Root)
users_decoder = msgspec.json.Decoder(UsersPage)
tokens_decoder = msgspec.json.Decoder(TokensPage)


def judge(username: str, active: bool, tokens: list[Token], now: datetime) -> list[Row]:
    stale = now - timedelta(days=90)
    rows = []
    for t in tokens:
        expired = t.expired or (t.expires is not None and t.expires <= now)
        usable = t.valid and not expired
        flags = []
        if usable:
            if t.expires is None:
                flags.append("no-expiry")
            if t.last_used is not None and t.last_used < stale:
                flags.append("stale")
            if not t.policy:
                flags.append("unrestricted-policy")
            if t.deprecated:
                flags.append("deprecated-generator")
            if not active:
                flags.append("inactive-owner")
        else:
            flags.append("expired" if expired else "invalid")
        rows.append(Row(username, t.id, t.note, usable, flags))
    return rows


async def audit(server: str, username: str, password: str, concurrency: int) -> list[Row]:
    api = server.rstrip("/") + "/api/"
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Accept": "application/json"}
    now = datetime.now(UTC)
    rows: list[Row] = []
    async with aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar()
    ) as session:

        async def get(url: str, params: dict[str, str] | None = None) -> bytes:
            async with session.get(url, params=params, headers=headers) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"GET {resp.url}: {resp.status} {body[:200]!r}")
                cookie = resp.cookies.get("rbsessionid")
                if cookie is not None:
                    headers["Cookie"] = f"rbsessionid={cookie.value}"
                    headers.pop("Authorization", None)
                return body

        headers["Authorization"] = aiohttp.encode_basic_auth(username, password)
        root = root_decoder.decode(await get(api))
        users_url = root.links["users"].href
        template = root.uri_templates["api_tokens"]
        users_q = {
            "include-inactive": "1",
            "max-results": "200",
            "only-fields": USER_FIELDS,
            "only-links": "",
        }
        tokens_q = {"max-results": "200", "only-fields": TOKEN_FIELDS, "only-links": ""}
        first = users_decoder.decode(await get(users_url, users_q))

        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        for start in range(len(first.users), first.total_results, 200):
            queue.put_nowait(("users", start))
        for user in first.users:
            queue.put_nowait(("user", user))

        async def worker() -> None:
            while True:
                kind, arg = await queue.get()
                try:
                    if kind == "users":
                        page = users_decoder.decode(
                            await get(users_url, {**users_q, "start": str(arg)})
                        )
                        for user in page.users:
                            queue.put_nowait(("user", user))
                    else:
                        url = template.replace("{username}", arg.username)
                        tokens: list[Token] = []
                        params: dict[str, str] | None = tokens_q
                        while True:
                            page2 = tokens_decoder.decode(await get(url, params))
                            tokens.extend(page2.api_tokens)
                            nxt = page2.links.get("next")
                            if nxt is None or not page2.api_tokens:
                                break
                            url, params = nxt.href, None
                        rows.extend(judge(arg.username, arg.is_active, tokens, now))
                finally:
                    queue.task_done()

        workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
        await queue.join()
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    rows = asyncio.run(audit(args.server, args.username, args.password, args.concurrency))
    rows.sort(key=lambda r: (r.username, r.id))
    sys.stdout.buffer.write(msgspec.json.encode({"tokens_seen": len(rows), "tokens": rows}))
    sys.stdout.buffer.write(b"\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
