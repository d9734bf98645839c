"""Conditional requests: ``If-None-Match`` with the ETag exactly as sent, never
``If-Modified-Since``, and the cached item reused on 304.

A real aiohttp server records the headers that reach the wire, so nothing the
client or aiohttp adds can hide. The last tests use the in-memory fake, whose
token items carry ETags and whose list items do not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from fakeclient import client_for

from rbtokens import APIToken, RBClient, RetryPolicy
from rbtokens.transport import Request, Response
from tools.standin.testing import FakeReviewBoard

MIME = "application/vnd.reviewboard.org.{}+json"
PATH = "/api/users/alice/api-tokens/4/"


@dataclass
class TokenSite:
    """One token item with a Review Board-style (unquoted) ETag and Last-Modified."""

    url: str = ""
    note: str = "first"
    etag_style: str = "unquoted"
    seen: list[dict[str, str]] = field(default_factory=list)

    def etag(self) -> str:
        digest = hashlib.sha256(self.note.encode()).hexdigest()
        if self.etag_style == "quoted":
            return f'"{digest}"'
        if self.etag_style == "weak":
            return f'W/"{digest}"'
        return digest

    def body(self) -> bytes:
        href = self.url.rstrip("/") + PATH
        item = {
            "id": 4,
            "token": "rbp_" + "C" * 251,
            "note": self.note,
            "policy": {},
            "links": {"self": {"href": href, "method": "GET"}},
        }
        return json.dumps({"stat": "ok", "api_token": item}).encode()

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(dict(request.headers))
        etag = self.etag()
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(
            body=self.body(),
            headers={
                "Content-Type": MIME.format("api-token"),
                "ETag": etag,
                "Last-Modified": "Mon, 23 Nov 2026 04:01:41 GMT",
            },
        )


@pytest.fixture
async def site() -> AsyncIterator[TokenSite]:
    state = TokenSite()
    app = web.Application()
    app.router.add_get(PATH, state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    yield state
    await runner.cleanup()


def client(site: TokenSite, **kw: Any) -> RBClient:
    return RBClient(site.url, retry=RetryPolicy(attempts=1), **kw)


async def fetch(c: RBClient, site: TokenSite) -> APIToken:
    res = await c.request("GET", site.url.rstrip("/") + PATH)
    assert isinstance(res, APIToken)
    return res


@pytest.mark.parametrize("style", ["unquoted", "quoted", "weak"])
async def test_get_self_sends_the_etag_verbatim_and_reuses_the_body(
    site: TokenSite, style: str
) -> None:
    site.etag_style = style
    async with client(site) as c:
        token = await fetch(c, site)
        assert token.etag == site.etag()
        again = await token.get_self()
    assert again is token  # the cached item, not a new decode
    assert site.seen[1]["If-None-Match"] == site.etag()
    assert c.stats.requests == 2


async def test_unquoted_etag_is_not_quoted_on_the_wire(site: TokenSite) -> None:
    async with client(site) as c:
        token = await fetch(c, site)
        await token.get_self()
    sent = site.seen[1]["If-None-Match"]
    assert sent == hashlib.sha256(b"first").hexdigest()
    assert '"' not in sent and not sent.startswith("W/")


async def test_changed_resource_returns_a_fresh_item(site: TokenSite) -> None:
    async with client(site) as c:
        token = await fetch(c, site)
        old_etag = token.etag
        site.note = "second"
        fresh = await token.get_self()
        assert fresh is not token
        assert fresh.note == "second" and fresh.etag != old_etag
        # ...and the fresh ETag is used next time.
        assert await fresh.get_self() is fresh
    assert site.seen[-1]["If-None-Match"] == site.etag()


async def test_never_sends_if_modified_since(site: TokenSite) -> None:
    async with client(site) as c:
        token = await fetch(c, site)
        await token.get_self()
        site.note = "changed"
        await token.get_self()
    assert len(site.seen) == 3
    for headers in site.seen:
        assert "If-Modified-Since" not in headers
        assert "if-modified-since" not in {k.lower() for k in headers}


async def test_a_plain_get_is_unconditional(site: TokenSite) -> None:
    async with client(site) as c:
        await fetch(c, site)
        await fetch(c, site)
    assert all("If-None-Match" not in h for h in site.seen)


async def test_an_item_without_etag_revalidates_unconditionally(site: TokenSite) -> None:
    async with client(site) as c:
        token = await fetch(c, site)
        token.__dict__.pop("_rb_etag")
        again = await token.get_self()
    assert "If-None-Match" not in site.seen[1]
    assert again is not token and again.id == token.id


async def test_conditional_get_self() -> None:
    fake = FakeReviewBoard()
    async with client_for(fake) as client:
        token = await (await client.get_root()).get_api_token(username="u000", api_token_id=0)
        assert token.etag == "etag-0"

        def not_modified(request: Request) -> Response:
            assert request.headers["If-None-Match"] == "etag-0"
            assert "If-Modified-Since" not in request.headers
            return Response(304, {}, b"")

        fake.overrides[("GET", "/api/users/u000/api-tokens/0/")] = not_modified
        assert await token.get_self() is token


async def test_list_items_have_no_etag_and_get_self_refetches() -> None:
    fake = FakeReviewBoard()
    async with client_for(fake) as client:
        tokens = await (await client.get_root()).get_api_tokens(username="u000")
        fresh = await tokens[0].get_self()
        assert "If-None-Match" not in fake.requests[-1].headers
        assert fresh.etag == "etag-0"
