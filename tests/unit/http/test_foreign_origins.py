"""Credentials stay with the server's origin: foreign links, hand-made headers, default ports."""

from __future__ import annotations

import pytest
from fakeclient import client_for
from httpkit import MIME, ROOT_CT

import rbtokens
from rbtokens import RBClient
from rbtokens.transport import MockTransport, Request, Response
from tools.standin.testing import BASE, FakeReviewBoard


async def test_foreign_origin_links_are_refused() -> None:
    fake = FakeReviewBoard()
    async with client_for(fake) as client:
        root = await client.get_root()
        root.links["users"] = rbtokens.Link(href="http://evil.test/api/users/")
        with pytest.raises(rbtokens.ForeignOriginError, match=r"evil\.test"):
            await root.get_users()
    assert all(r.url.host == "rb.test" for r in fake.requests)


async def test_foreign_origin_allowed_goes_without_credentials() -> None:
    fake = FakeReviewBoard()
    async with client_for(fake, allow_foreign_origins=True) as client:
        await client.get_root()
        with pytest.raises(rbtokens.NotLoggedInError):
            await client.get_url("http://other.test/api/session/")
    foreign = fake.requests[-1]
    assert foreign.url.host == "other.test"
    assert "Authorization" not in foreign.headers and "Cookie" not in foreign.headers


async def test_hand_made_credential_headers_stay_home() -> None:
    fake = FakeReviewBoard()
    headers = {"Authorization": "Basic c2VjcmV0", "X-Real-IP": "10.1.2.3"}
    async with RBClient(
        BASE, transport=fake.transport, headers=headers, allow_foreign_origins=True
    ) as client:
        with pytest.raises(rbtokens.NotLoggedInError):
            await client.get_url("https://other.test/api/session/")
    foreign = fake.requests[-1]
    assert "Authorization" not in foreign.headers
    assert foreign.headers["X-Real-IP"] == "10.1.2.3"


async def test_explicit_default_port_is_the_same_origin() -> None:
    root = b'{"stat":"ok","links":{"session":{"href":"https://rb.example.com/api/session/"}}}'

    def handler(req: Request) -> Response:
        if req.url.path == "/api/":
            return Response(200, dict(ROOT_CT), root)
        return Response(
            200,
            {"content-type": MIME.format("session")},
            b'{"stat":"ok","session":{"authenticated":true,"links":{}}}',
        )

    async with RBClient(
        "https://rb.example.com:443/", api_token="rbp_x", transport=MockTransport(handler)
    ) as c:
        assert str(c.base_url) == "https://rb.example.com/"
        session = await (await c.get_root()).get_session()
        assert session.authenticated
