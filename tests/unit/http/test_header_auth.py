"""Header authentication (credentials on every request): only after a real answer with no cookie."""

from __future__ import annotations

import asyncio

import pytest
from httpkit import not_logged_in, root_ok

import rbtokens
from rbtokens import RBClient
from rbtokens.errors import LoginFailedError
from rbtokens.transport import MockTransport, Request, Response
from tools.standin.testing import error


async def test_an_html_404_does_not_switch_to_header_auth() -> None:
    state = {"revoked": False, "auth_attempts": 0}

    def handler(req: Request) -> Response:
        if req.url.path == "/api/nope/":
            return Response(404, {"content-type": "text/html"}, b"<h1>Not Found</h1>")
        if "Authorization" in req.headers:
            state["auth_attempts"] += 1
            if state["revoked"]:
                return error(401, 104, "Login failed")
            return root_ok({"rbsessionid": "s"})
        return not_logged_in()

    async with RBClient(
        "https://rb.test/", api_token="rbp_x", transport=MockTransport(handler)
    ) as c:
        with pytest.raises(rbtokens.RBTokensError):
            await c.get_path("nope/")
        await c.get_root()
        assert c.has_session_cookie
        assert not c._channel.auth.header_mode
        state["revoked"] = True
        state["auth_attempts"] = 0
        results = await asyncio.gather(
            *(c.get_root(refresh=True) for _ in range(20)), return_exceptions=True
        )
    # The cookie was accepted (the fake keeps no sessions, so 103), then one
    # refused re-login: never 20 failed header logins.
    assert state["auth_attempts"] == 1
    assert {type(r) for r in results} == {LoginFailedError}


async def test_a_401_in_header_mode_goes_through_the_failed_login_guard() -> None:
    state = {"revoked": False, "sent": 0}

    def handler(req: Request) -> Response:
        state["sent"] += 1
        if state["revoked"]:
            return error(401, 104, "Login failed")
        return root_ok()  # a server that never sets a cookie

    async with RBClient(
        "https://rb.test/", api_token="rbp_x", transport=MockTransport(handler)
    ) as c:
        await c.get_root()
        assert c._channel.auth.header_mode
        state["revoked"] = True
        with pytest.raises(LoginFailedError):
            await c.get_root(refresh=True)
        state["sent"] = 0
        with pytest.raises(LoginFailedError):
            await c.get_root(refresh=True)
    assert state["sent"] == 0  # the refused credentials are not sent again
