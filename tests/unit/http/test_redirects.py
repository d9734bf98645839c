"""Redirects: a redirected POST is an error; a redirect off the origin carries no credentials."""

from __future__ import annotations

import pytest
from fakeclient import client_for
from httpkit import ROOT_BODY, ROOT_CT, root_ok
from yarl import URL

import rbtokens
from rbtokens import RBClient
from rbtokens.transport import MockTransport, Request, Response
from tools.standin.testing import BASE, FakeReviewBoard


async def test_post_redirect_is_an_error_not_a_silent_get() -> None:
    fake = FakeReviewBoard()

    def redirect(request: Request) -> Response:
        return Response(301, {"location": "/api/users/u000/api-tokens/"}, b"")

    fake.overrides[("POST", "/api/users/u000/api-tokens")] = redirect
    async with client_for(fake) as client:
        await client.get_root()
        with pytest.raises(rbtokens.HTTPStatusError, match="trailing slash"):
            await client.request("POST", f"{BASE}/api/users/u000/api-tokens", data={"note": "x"})


async def test_get_redirect_to_foreign_origin_is_refused() -> None:
    fake = FakeReviewBoard()
    fake.overrides[("GET", "/api/moved/")] = lambda r: Response(
        302, {"location": "https://evil.test/steal/"}, b""
    )
    async with client_for(fake) as client:
        await client.get_root()
        with pytest.raises(rbtokens.ForeignOriginError):
            await client.get_path("moved")
    assert all(r.url.host == "rb.test" for r in fake.requests)


async def test_foreign_redirect_strips_lowercase_credentials_and_plants_no_cookie() -> None:
    received: dict[str, str] = {}

    def handler(req: Request) -> Response:
        if req.url.host == "rb.test" and req.url.path == "/api/x/":
            return Response(302, {"location": "https://evil.test/steal/"}, b"")
        if req.url.host == "evil.test":
            received.update(req.headers)
            return Response(
                200,
                dict(ROOT_CT),
                ROOT_BODY,
                {"rbsessionid": "attacker"},
                URL("https://evil.test/steal/"),
            )
        return root_ok({"rbsessionid": "real"} if "Authorization" in req.headers else {})

    async with RBClient(
        "https://rb.test/",
        api_token="rbp_x",
        transport=MockTransport(handler),
        allow_foreign_origins=True,
        headers={"proxy-authorization": "Basic cHJveHk6c2VjcmV0", "cookie": "sso=abc"},
    ) as c:
        await c.get_root()
        await c.get_url("https://rb.test/api/x/")
        assert c._channel.auth.cookie == "real"
    credentials = {"authorization", "cookie", "proxy-authorization"}
    assert {k.lower() for k in received} & credentials == set()
