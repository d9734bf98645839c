"""One contract, two servers: the stand-in and a real Review Board 8.1 site.

Every test runs against ``standin`` (``tools.standin``, over its socket) and
``review-board`` (the suite's own 8.1 site, marked ``integration``), with the
same assertions: statuses, body keys, the expansion's shape, and the rate
limits (``rate_limited_site``: anonymous ``30/m``; ``Retry-After`` within 2 s
of what the stand-in's window arithmetic gives for the same moment).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from payloads import body as fixture_body
from yarl import URL

from rbtokens import AiohttpTransport, Request, Response
from tools.standin import Dataset, RateLimits, StandIn, TokenKind, serve_in_thread
from tools.standin.ratelimit import Rate

MIME = "application/vnd.reviewboard.org.{}+json"
LIMIT = 30
_ips = (f"10.{n // 250}.{n % 250}.{int(time.time()) % 250}" for n in itertools.count(1))


@dataclass
class Target:
    """A server and the accounts the contract uses on it."""

    name: str
    url: str
    admin: tuple[str, str]
    member: tuple[str, str] = ("alice", "alice-pw")
    owner: str = "audit_many"
    transport: AiohttpTransport = field(default_factory=AiohttpTransport)

    async def send(
        self,
        path: str,
        *,
        method: str = "GET",
        auth: tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
    ) -> Response:
        hdrs = {"Accept": "application/json", **(headers or {})}
        if auth is not None:
            hdrs["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
        body = None
        if form is not None:
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
            body = urlencode(form).encode()
        return await self.transport.send(Request(method, URL(self.url + path), hdrs, body))


def contract_dataset() -> Dataset:
    """The users of the real site's "test" seed that the contract touches."""
    dataset = Dataset.generate(5, seed=11)
    for name in ("alice", "bob", "carol"):
        dataset.add_user(name, password=f"{name}-pw")
    for i in range(30):  # tools/rbsite.py PAGE_USERS: every fifth one inactive
        dataset.add_user(f"page_u{i:02d}", password=f"page_u{i:02d}-pw", is_active=i % 5 != 4)
    dataset.add_user("audit_many", password="audit_many-pw")
    for _ in range(11):
        dataset.add_token("audit_many", kind=TokenKind.HEALTHY)
    return dataset


@pytest.fixture(scope="module")
def standin() -> Iterator[StandIn]:
    # In a thread of its own: the parametrized fixtures below ask for it by name.
    with serve_in_thread(dataset=contract_dataset()) as rb:
        yield rb


@pytest.fixture(scope="module")
def limited_standin() -> Iterator[StandIn]:
    limits = RateLimits(authenticated="600/m", anonymous=f"{LIMIT}/m")
    with serve_in_thread(dataset=contract_dataset(), rate_limits=limits) as rb:
        yield rb


SERVERS = ["standin", pytest.param("review-board", marks=pytest.mark.integration)]


@pytest.fixture(params=SERVERS)
async def target(request: pytest.FixtureRequest) -> AsyncIterator[Target]:
    if request.param == "standin":
        rb: StandIn = request.getfixturevalue("standin")
        server = Target("standin", rb.url, ("admin", "admin"))
    else:
        site = request.getfixturevalue("rb_site")
        server = Target("review-board", site.url, (site.admin_username, site.admin_password))
    yield server
    await server.transport.aclose()


@pytest.fixture(params=SERVERS)
async def limited(request: pytest.FixtureRequest) -> AsyncIterator[Target]:
    if request.param == "standin":
        rb: StandIn = request.getfixturevalue("limited_standin")
        server = Target("standin", rb.url, ("admin", "admin"))
    else:
        site = request.getfixturevalue("rate_limited_site")
        server = Target("review-board", site.url, (site.admin_username, site.admin_password))
    yield server
    await server.transport.aclose()


def data(response: Response) -> Any:
    return json.loads(response.body)


def session_cookie(response: Response) -> str:
    value = response.cookies.get("rbsessionid")
    assert value, response.headers
    return f"rbsessionid={value}"


# -- statuses and bodies ---------------------------------------------------------------


async def test_the_root_answers_anyone(target: Target) -> None:
    root = await target.send("api/")
    assert root.status == 200
    assert root.headers["content-type"] == MIME.format("root")
    body = data(root)
    assert set(body) >= {"capabilities", "links", "product", "site", "stat", "uri_templates"}
    assert body["links"]["users"]["href"] == target.url + "api/users/"
    assert body["product"]["version"] == "8.1"


async def test_logins_and_their_refusals(target: Target) -> None:
    ip = {"X-Real-IP": next(_ips)}  # failed logins count towards a lockout per address
    anonymous = await target.send(f"api/users/{target.owner}/api-tokens/", headers=ip)
    assert anonymous.status == 401
    assert data(anonymous) == fixture_body("error-401-not-logged-in.json")
    assert anonymous.headers["www-authenticate"] == 'Basic realm="Web API"'
    wrong = await target.send("api/", auth=(target.admin[0], "not-it"), headers=ip)
    assert wrong.status == 401 and data(wrong) == fixture_body("error-401-bad-password.json")
    ok = await target.send("api/session/", auth=target.admin)
    assert ok.status == 200 and data(ok)["session"]["authenticated"] is True
    cookie = ok.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert attributes >= {"httponly", "max-age", "path", "samesite"}
    member = await target.send(f"api/users/{target.owner}/api-tokens/", auth=target.member)
    assert member.status == 403 and data(member)["err"]["code"] == 101


async def test_a_users_page(target: Target) -> None:
    query = "max-results=4&start=2&q=page_u"
    page = await target.send(f"api/users/?{query}", auth=target.admin)
    assert page.status == 200
    assert page.headers["item-content-type"] == MIME.format("user")
    body = data(page)
    assert list(body) == ["links", "stat", "total_results", "users"]
    assert body["total_results"] == 24  # the inactive ones need include-inactive
    base = target.url + "api/users/"
    assert body["links"]["self"]["href"] == f"{base}?{query}"
    assert body["links"]["next"]["href"] == f"{base}?start=6&max-results=4&q=page_u"
    assert body["links"]["prev"]["href"] == f"{base}?start=0&max-results=4&q=page_u"
    assert [u["username"] for u in body["users"]] == [
        "page_u02",
        "page_u03",
        "page_u05",
        "page_u06",
    ]


async def test_the_expansion_of_api_tokens(target: Target) -> None:
    fields = "id,username,api_tokens,expires,valid"
    query = f"q={target.owner}&expand=api_tokens&only-fields={fields}&only-links=api_tokens"
    page = data(await target.send(f"api/users/?{query}", auth=target.admin))
    (user,) = page["users"]
    assert set(user) == {"_expanded", "api_tokens", "id", "links", "username"}
    assert user["links"] == {}
    assert user["_expanded"] == {
        "api_tokens": {
            "item_mimetype": MIME.format("api-token"),
            "list_mimetype": MIME.format("api-tokens"),
            "list_url": f"{target.url}api/users/{target.owner}/api-tokens/",
        }
    }
    assert len(user["api_tokens"]) == 11  # every token, unpaged
    for token in user["api_tokens"]:
        assert set(token) == {"expires", "id", "links", "valid"} and token["links"] == {}
    # The same for the user item, and for anyone: 8.1 checks no permission here.
    item_query = f"expand=api_tokens&only-fields={fields}&only-links=api_tokens"
    item = data(await target.send(f"api/users/{target.owner}/?{item_query}"))["user"]
    assert item == user
    # Other links: still expanded, the children's links filtered the same way.
    query = f"q={target.owner}&expand=api_tokens&only-fields={fields}&only-links=self"
    (linked,) = data(await target.send(f"api/users/?{query}", auth=target.admin))["users"]
    assert set(linked) == {"_expanded", "api_tokens", "id", "links", "username"}
    assert set(linked["links"]) == {"self"}
    assert all(set(t["links"]) == {"self"} for t in linked["api_tokens"])
    # Dropped by an empty only-links, or by only-fields without api_tokens.
    for extra in ("&only-links=", "&only-fields=id,username"):
        query = f"q={target.owner}&expand=api_tokens{extra}"
        (plain,) = data(await target.send(f"api/users/?{query}", auth=target.admin))["users"]
        assert "_expanded" not in plain and "api_tokens" not in plain, extra


async def test_the_user_item_and_what_anonymous_requests_see(target: Target) -> None:
    private = {"email", "first_name", "last_name", "fullname"}
    anonymous = data(await target.send(f"api/users/{target.member[0]}/"))["user"]
    assert not private & set(anonymous)
    admin = data(await target.send(f"api/users/{target.member[0]}/", auth=target.admin))["user"]
    assert private <= set(admin)
    assert set(admin) == set(fixture_body("user.json")["user"])
    refused = await target.send(f"api/users/{target.member[0]}/?q=x", auth=target.admin)
    assert refused.status == 400
    assert data(refused)["fields"] == {"q": ["Field is not supported"]}


async def test_token_writes_and_the_invalidate_bug(target: Target) -> None:
    tokens = f"api/users/{target.member[0]}/api-tokens/"
    missing = await target.send(tokens, method="POST", auth=target.admin, form={"note": "x"})
    assert missing.status == 400
    assert data(missing) == fixture_body("error-105-missing-policy.json")
    made = await target.send(
        tokens, method="POST", auth=target.admin, form={"note": "contract", "policy": "{}"}
    )
    assert made.status == 201 and "etag" not in made.headers
    token = data(made)["api_token"]
    item = f"{tokens}{token['id']}/"
    try:
        assert set(token) == set(fixture_body("api-token.json")["api_token"])
        put = await target.send(item, method="PUT", auth=target.admin, form={"valid": "0"})
        assert put.status == 200 and data(put)["api_token"]["valid"] is True  # 8.1's bug
        refused = await target.send(item, method="PUT", auth=target.admin, form={"valid": "1"})
        assert refused.status == 400 and isinstance(data(refused)["fields"]["valid"], str)
    finally:
        gone = await target.send(item, method="DELETE", auth=target.admin)
    assert gone.status == 204
    after = await target.send(item, auth=target.admin)
    assert after.status == 404 and data(after) == fixture_body("error-404-does-not-exist.json")


# -- rate limits -----------------------------------------------------------------------


def fresh_window(seconds_needed: float = 15.0) -> None:
    """Wait for the next minute if this one ends too soon for a whole test."""
    left = 60 - time.time() % 60
    if left < seconds_needed:
        time.sleep(left + 0.2)


def expected_retry_after() -> int:
    now = int(time.time())
    return Rate(LIMIT, 60).window_end(now) - now


async def test_anonymous_requests_are_limited_per_address(limited: Target) -> None:
    await asyncio.to_thread(fresh_window)
    ip = {"X-Real-IP": next(_ips)}
    for n in range(LIMIT):
        answer = await limited.send("api/", headers=ip)
        assert answer.status == 200, n
    over = await limited.send("api/", headers=ip)
    expected = expected_retry_after()
    assert over.status == 429
    assert over.headers["content-type"] == MIME.format("error")
    assert data(over) == fixture_body("error-429-rate-limit.json")
    assert over.headers["x-ratelimit-limit"] == str(LIMIT)
    assert abs(int(over.headers["retry-after"]) - expected) <= 2
    assert (await limited.send("api/", headers={"X-Real-IP": next(_ips)})).status == 200


async def test_a_cookie_session_draws_on_the_anonymous_limit(limited: Target) -> None:
    await asyncio.to_thread(fresh_window)
    login = await limited.send("api/session/", auth=limited.member)
    cookie = {"Cookie": session_cookie(login), "X-Real-IP": next(_ips)}
    for n in range(LIMIT):
        answer = await limited.send("api/session/", headers=cookie)
        assert answer.status == 200, n
    over = await limited.send("api/session/", headers=cookie)
    assert over.status == 429 and over.headers["x-ratelimit-limit"] == str(LIMIT)
    assert abs(int(over.headers["retry-after"]) - expected_retry_after()) <= 2
    # The header-authenticated bucket of the same user is another one.
    header = await limited.send("api/session/", auth=limited.member, headers=cookie)
    assert header.status == 200


def test_the_contract_covers_both_servers() -> None:
    ids: Iterator[str] = (p if isinstance(p, str) else p.values[0] for p in SERVERS)
    assert list(ids) == ["standin", "review-board"]
