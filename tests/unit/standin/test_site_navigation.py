"""The root, the item shapes, hrefs, redirects and unrouted URLs, as on Review Board 8.1."""

from __future__ import annotations

import aiohttp
from payloads import body as fixture_body
from standinkit import MIME, get, shape
from yarl import URL

from rbtokens import (
    APIToken,
    Root,
    Session,
    User,
)
from tools.standin import (
    StandIn,
)


async def test_root_is_the_captured_root_on_the_standins_origin(
    rb: StandIn, http: aiohttp.ClientSession
) -> None:
    ans = await get(http, rb.api_url, auth=None)
    assert ans.status == 200
    assert ans.headers["content-type"] == MIME.format("root")
    root = ans.decode()
    assert isinstance(root, Root)
    captured = fixture_body("root.json")
    assert set(root.uri_templates) == set(captured["uri_templates"])
    assert root.uri_templates["api_tokens"] == rb.api_url + "users/{username}/api-tokens/"
    assert root.links["users"].href == rb.api_url + "users/"
    assert "127.0.0.1:8080" not in ans.body.decode()
    assert root.product.version == "8.1"


async def test_hrefs_follow_the_host_header(rb: StandIn, http: aiohttp.ClientSession) -> None:
    port = URL(rb.url).port
    ans = await get(http, f"http://localhost:{port}/api/users/?max-results=1", auth=None)
    assert (
        ans.json()["links"]["self"]["href"] == f"http://localhost:{port}/api/users/?max-results=1"
    )
    assert ans.json()["users"][0]["links"]["self"]["href"].startswith(f"http://localhost:{port}/")


async def test_item_payloads_have_the_captured_shape(
    rb: StandIn, http: aiohttp.ClientSession
) -> None:
    user = await get(http, rb.api_url + "users/audit_00003/")
    assert shape(user.json()) == shape(fixture_body("user.json"))
    assert isinstance(user.decode(), User)

    owner = next(u for u in rb.dataset.users.values() if len(u.tokens) >= 1)
    tokens = await get(http, f"{rb.api_url}users/{owner.username}/api-tokens/")
    captured = fixture_body("api-tokens.json")
    assert shape(tokens.json()) == shape(captured)
    tid = owner.tokens[0].id
    item = await get(http, f"{rb.api_url}users/{owner.username}/api-tokens/{tid}/")
    assert shape(item.json()) == shape(fixture_body("api-token.json"))
    token = item.decode()
    assert isinstance(token, APIToken)
    assert token.username == owner.username

    session = await get(http, rb.api_url + "session/")
    assert shape(session.json()) == shape(fixture_body("session.json"))
    decoded = session.decode()
    assert isinstance(decoded, Session)
    assert decoded.username == "admin"


async def test_missing_trailing_slash_redirects(rb: StandIn, http: aiohttp.ClientSession) -> None:
    ans = await get(http, rb.api_url + "users?q=a")
    assert ans.status == 301
    assert ans.headers["location"] == "/api/users/?q=a"


async def test_unknown_paths_are_html_404(rb: StandIn, http: aiohttp.ClientSession) -> None:
    for path in ("nope/", "users/bad%20name/", "users/audit_00001/api-tokens/x/"):
        ans = await get(http, rb.api_url + path)
        assert ans.status == 404
        assert ans.headers["content-type"].startswith("text/html")
