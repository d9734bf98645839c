"""Helpers for the stand-in's own tests (``tests/unit/standin``).

Answers are decoded with rbtokens' own decoder, so the stand-in and the
client are checked against the same captured payloads (``tests/fixtures/``).
``get`` goes over the socket (``serve``); ``ask`` straight to the core.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp
import msgspec
from yarl import URL

from rbtokens import Request, Response
from rbtokens.wire import decode_response
from tools.standin import ReviewBoard

ADMIN = aiohttp.encode_basic_auth("admin", "admin")
MIME = "application/vnd.reviewboard.org.{}+json"
USERS = 60
ORIGIN = "http://rb.test"
FREE_FORM = frozenset({"policy", "extra_data", "avatar_urls"})


class Answer(msgspec.Struct):
    status: int
    headers: dict[str, str]
    body: bytes

    def decode(self) -> Any:
        return decode_response(self.status, self.headers, self.body)

    def json(self) -> Any:
        return json.loads(self.body)


async def get(
    http: aiohttp.ClientSession,
    url: str | URL,
    *,
    auth: str | None = ADMIN,
    method: str = "GET",
    **kw: Any,
) -> Answer:
    """One request over the socket (redirects not followed)."""
    headers = dict(kw.pop("headers", {}))
    if auth is not None:
        headers["Authorization"] = auth
    async with http.request(method, url, headers=headers, allow_redirects=False, **kw) as resp:
        raw = await resp.read()
        return Answer(resp.status, {k.lower(): v for k, v in resp.headers.items()}, raw)


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def ask(
    core: ReviewBoard,
    path: str,
    *,
    method: str = "GET",
    auth: str | None = ADMIN,
    headers: Mapping[str, str] | None = None,
    form: Mapping[str, str] | None = None,
    remote: str = "127.0.0.1",
) -> Response:
    """One request straight to the core (``path`` below the origin, query included)."""
    hdrs = dict(headers or {})
    if auth is not None:
        hdrs["Authorization"] = auth
    body = None
    if form is not None:
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        body = urlencode(form).encode()
    return core.handle(Request(method, URL(ORIGIN + path), hdrs, body), remote=remote)


def payload(response: Response) -> Any:
    return json.loads(response.body)


def shape(obj: Any) -> Any:
    """The keys of a payload, recursively (values, and free-form dicts, dropped)."""
    if isinstance(obj, dict):
        return {
            k: sorted(v) if k == "links" else None if k in FREE_FORM else shape(v)
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [shape(obj[0])] if obj else []
    return None


def checksum_ok(token: str) -> bool:
    """Whether an ``rbp_`` token's base62 CRC32 checksum is right."""
    charset = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    entropy, check = token[4:-6], token[-6:]
    num = zlib.crc32(entropy.encode()) & 0xFFFFFFFF
    digits = ""
    while num:
        num, rem = divmod(num, 62)
        digits = charset[rem] + digits
    return len(token) == 255 and check == digits.rjust(6, "0")
