"""Credentials go only to the configured server's origin.

One MockTransport plays both the Review Board server (``https://rb.test``) and
any other host, and records every request, so a test can check exactly which
headers reached which origin.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from yarl import URL

from rbtokens import ForeignOriginError, NavigationError, RBClient, RetryPolicy
from rbtokens.transport import MockTransport, Request, Response

BASE = "https://rb.test/"
PASSWORD = "origin-test-pw-5521"
TOKEN = "rbp_" + "O" * 251
MIME = "application/vnd.reviewboard.org.{}+json"
FAST = RetryPolicy(attempts=2, backoff=0.0001)


def link(href: str) -> dict[str, str]:
    return {"href": href, "method": "GET"}


class World:
    """rb.test serves a root whose links and templates are chosen per test."""

    def __init__(
        self,
        *,
        links: dict[str, str] | None = None,
        templates: dict[str, str] | None = None,
        redirects: dict[str, str] | None = None,
    ) -> None:
        self.links = {"self": BASE + "api/", "session": BASE + "api/session/", **(links or {})}
        self.templates = templates or {}
        self.redirects = redirects or {}
        self.transport = MockTransport(self.handle)

    @property
    def requests(self) -> list[Request]:
        return self.transport.requests

    def to(self, host: str) -> list[Request]:
        return [r for r in self.requests if r.url.host == host]

    def handle(self, request: Request) -> Response:
        url = request.url
        if str(url) in self.redirects:
            return Response(302, {"location": self.redirects[str(url)]}, b"")
        if url.host != "rb.test":
            # Another server, happy to set its own "session" cookie.
            body = json.dumps({"stat": "ok", "user": {"id": 9, "username": "mallory"}})
            return Response(
                200,
                {"content-type": MIME.format("user")},
                body.encode(),
                {"rbsessionid": "evil-session"},
            )
        if url.path == "/api/":
            root = {
                "stat": "ok",
                "links": {k: link(v) for k, v in self.links.items()},
                "uri_templates": self.templates,
            }
            return Response(
                200,
                {"content-type": MIME.format("root")},
                json.dumps(root).encode(),
                {"rbsessionid": "good-session"},
            )
        body = json.dumps({"stat": "ok", "user": {"id": 1, "username": "alice"}})
        return Response(200, {"content-type": MIME.format("user")}, body.encode())


def client(world: World, **kw: Any) -> RBClient:
    kw.setdefault("username", "admin")
    kw.setdefault("password", PASSWORD)
    return RBClient(BASE, transport=world.transport, retry=FAST, **kw)


def carries_credentials(request: Request) -> bool:
    return any(k.lower() in ("authorization", "cookie") for k in request.headers)


def leaked(world: World) -> list[Request]:
    return [r for r in world.requests if r.url.host != "rb.test" and carries_credentials(r)]


FOREIGN = [
    "https://evil.test/api/users/",
    "http://rb.test/api/users/",  # scheme downgrade
    "https://rb.test:8443/api/users/",  # another port
    "https://rb.test.evil.test/api/users/",
    "https://rb.test@evil.test/api/users/",  # userinfo trick
    "//evil.test/api/users/",  # scheme-relative
    "HTTPS://EVIL.TEST/api/users/",
]


@pytest.mark.parametrize("href", FOREIGN)
async def test_foreign_link_is_refused(href: str) -> None:
    world = World(links={"users": href})
    async with client(world) as c:
        root = await c.get_root()
        with pytest.raises(ForeignOriginError) as info:
            await root.follow("users")
    assert [r.url.host for r in world.requests] == ["rb.test"]
    message = str(info.value)
    assert "https://rb.test" in message and "allow_foreign_origins" in message
    assert PASSWORD not in message


@pytest.mark.parametrize("href", FOREIGN)
async def test_foreign_link_followed_without_credentials_when_allowed(href: str) -> None:
    world = World(links={"users": href})
    async with client(world, allow_foreign_origins=True) as c:
        root = await c.get_root()
        await root.follow("users")
        assert c.has_session_cookie  # the session with rb.test is live...
        await root.follow("users")
    foreign = [r for r in world.requests if r.url.origin() != URL(BASE).origin()]
    assert len(foreign) == 2
    assert not any(carries_credentials(r) for r in foreign)  # ...and never sent elsewhere


async def test_foreign_uri_template_is_refused() -> None:
    world = World(templates={"user": "https://evil.test/api/users/{username}/"})
    async with client(world) as c:
        root = await c.get_root()
        with pytest.raises(ForeignOriginError):
            await root.get_template("user", username="alice")
    assert world.to("evil.test") == []


async def test_foreign_uri_template_without_credentials_when_allowed() -> None:
    world = World(templates={"user": "https://evil.test/api/users/{username}/"})
    async with client(world, allow_foreign_origins=True) as c:
        root = await c.get_root()
        await root.get_template("user", username="alice")
    assert len(world.to("evil.test")) == 1
    assert leaked(world) == []


@pytest.mark.parametrize("api_token", [None, TOKEN])
async def test_redirect_to_a_foreign_origin_is_refused(api_token: str | None) -> None:
    kw: dict[str, Any] = {"api_token": api_token, "password": None} if api_token else {}
    world = World(redirects={BASE + "api/users/": "https://evil.test/steal/"})
    async with client(world, **kw) as c:
        await c.get_root()
        with pytest.raises(ForeignOriginError):
            await c.get_path("users/")
    assert world.to("evil.test") == []


@pytest.mark.parametrize("api_token", [None, TOKEN])
async def test_redirect_followed_without_credentials_when_allowed(api_token: str | None) -> None:
    kw: dict[str, Any] = {"api_token": api_token, "password": None} if api_token else {}
    world = World(redirects={BASE + "api/users/": "https://evil.test/steal/"})
    async with client(world, allow_foreign_origins=True, **kw) as c:
        await c.get_root()
        await c.get_path("users/")
    assert len(world.to("evil.test")) == 1
    assert leaked(world) == []


async def test_first_request_redirect_does_not_carry_the_password_away() -> None:
    # The very first request carries the Authorization header: its redirect must not.
    world = World(redirects={BASE + "api/": "https://evil.test/api/"})
    async with client(world, allow_foreign_origins=True) as c:
        await c.request("GET", BASE + "api/")
    assert [r.url.host for r in world.requests] == ["rb.test", "evil.test"]
    assert leaked(world) == []
    auth = world.requests[0].headers["Authorization"]
    assert base64.b64decode(auth.split()[1]).decode() == f"admin:{PASSWORD}"


async def test_same_origin_redirect_keeps_the_session() -> None:
    world = World(redirects={BASE + "api/users": BASE + "api/users/"})
    async with client(world) as c:
        await c.get_root()
        await c.request("GET", BASE + "api/users")
    assert world.requests[-1].url.path == "/api/users/"
    assert world.requests[-1].headers.get("Cookie") == "rbsessionid=good-session"


async def test_a_foreign_cookie_is_never_stored() -> None:
    world = World(links={"users": "https://evil.test/api/users/"})
    async with client(world, allow_foreign_origins=True) as c:
        root = await c.get_root()
        await root.follow("users")
        await c.get_path("users/")
    assert world.requests[-1].headers.get("Cookie") == "rbsessionid=good-session"


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "ftp://rb.test/api/",
        "http://[::1",
        "mailto:admin@rb.test",
    ],
)
@pytest.mark.parametrize("allow", [False, True])
async def test_non_http_or_malformed_links_are_navigation_errors(href: str, allow: bool) -> None:
    world = World(links={"users": href})
    async with client(world, allow_foreign_origins=allow) as c:
        root = await c.get_root()
        with pytest.raises(NavigationError):
            await root.follow("users")
    assert len(world.requests) == 1


@pytest.mark.parametrize("location", ["file:///etc/passwd", "http://[::1", "javascript:x"])
async def test_malformed_redirect_location_is_an_rbtokens_error(location: str) -> None:
    world = World(redirects={BASE + "api/users/": location})
    async with client(world, allow_foreign_origins=True) as c:
        await c.get_root()
        with pytest.raises(NavigationError):
            await c.get_path("users/")
    assert len(world.requests) == 2


async def test_relative_links_resolve_against_the_server() -> None:
    world = World(links={"users": "/api/users/"})
    async with client(world) as c:
        root = await c.get_root()
        await root.follow("users")
    assert str(world.requests[-1].url) == BASE + "api/users/"
    assert world.requests[-1].headers.get("Cookie") == "rbsessionid=good-session"
