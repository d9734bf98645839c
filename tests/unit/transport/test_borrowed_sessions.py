"""A borrowed aiohttp session: clients sharing it never store or send each other's cookies."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from rbtokens import RBClient

MIME = "application/vnd.reviewboard.org.{}+json"


@pytest.fixture
async def identity_server() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """/api/session/ answers who the request is: by Authorization, else by cookie."""
    seen: list[dict[str, str]] = []

    async def session(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        auth = request.headers.get("Authorization", "")
        user = None
        if auth.startswith("Basic "):
            user = base64.b64decode(auth[6:]).decode().partition(":")[0]
        else:
            user = request.cookies.get("rbsessionid", "").removeprefix("sess-") or None
        links: dict[str, Any] = {"self": {"href": str(request.url), "method": "GET"}}
        if user:
            links["user"] = {"href": f"{request.url}users/{user}/", "title": user}
        body = {"stat": "ok", "session": {"authenticated": bool(user), "links": links}}
        resp = web.json_response(body, content_type=MIME.format("session"))
        if auth and user:
            resp.set_cookie("rbsessionid", f"sess-{user}", path="/", httponly=True)
        return resp

    app = web.Application()
    app.router.add_get("/api/session/", session)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/", seen
    finally:
        await runner.cleanup()


async def test_borrowed_session_never_mixes_identities(
    identity_server: tuple[str, list[dict[str, str]]],
) -> None:
    url, seen = identity_server
    session_url = url + "api/session/"
    # An ordinary session whose jar would keep cookies even from an IP host.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with (
            RBClient(url, username="alice", password="a-pw", session=http) as a,
            RBClient(url, username="bob", password="b-pw", session=http) as b,
        ):
            for _ in range(2):
                assert (await a.request("GET", session_url)).username == "alice"
                assert (await b.request("GET", session_url)).username == "bob"
        assert len(http.cookie_jar) == 0  # nothing stored in the borrowed jar
        assert not http.closed  # borrowed: left open
        async with http.get(session_url) as resp:  # and still usable
            assert resp.status == 200
    cookies = [h.get("Cookie") for h in seen[:-1]]
    assert cookies == [None, None, "rbsessionid=sess-alice", "rbsessionid=sess-bob"]
