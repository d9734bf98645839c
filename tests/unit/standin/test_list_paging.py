"""Paged lists as §2 of the API notes describes them (the captured pages are the reference)."""

from __future__ import annotations

import aiohttp
import pytest
from payloads import body as fixture_body
from standinkit import MIME, get

from rbtokens import (
    Count,
    InvalidFormDataError,
    ListResource,
    ServerBugError,
    User,
)
from tools.standin import (
    StandIn,
)


async def test_users_page_as_section_2_describes(rb: StandIn, http: aiohttp.ClientSession) -> None:
    query = "max-results=2&start=3&q=audit_0"
    ans = await get(http, f"{rb.api_url}users/?{query}")
    assert ans.status == 200
    assert ans.headers["content-type"] == MIME.format("users")
    assert ans.headers["item-content-type"] == MIME.format("user")
    page = ans.decode()
    assert isinstance(page, ListResource)
    assert page.item_type is User
    base = rb.api_url + "users/"
    active = [
        u for u in rb.dataset.users.values() if u.is_active and u.username.startswith("audit_0")
    ]
    assert page.total_results == len(active)
    assert [u.username for u in page] == [u.username for u in active[3:5]]
    assert page.links["self"].href == f"{base}?{query}"  # verbatim
    assert page.links["next"].href == f"{base}?start=5&max-results=2&q=audit_0"
    assert page.links["prev"].href == f"{base}?start=1&max-results=2&q=audit_0"
    assert page.links["create"].method == "POST"
    assert list(ans.json()) == ["links", "stat", "total_results", "users"]


async def test_first_page_matches_the_captured_first_page(
    rb: StandIn, http: aiohttp.ClientSession
) -> None:
    ans = (await get(http, rb.api_url + "users/?max-results=3")).json()
    captured = fixture_body("users-page.json")
    assert sorted(ans["links"]) == sorted(captured["links"])  # no prev on the first page
    assert ans["links"]["next"]["href"].endswith("/api/users/?start=3&max-results=3")
    second = (await get(http, ans["links"]["next"]["href"])).json()
    assert sorted(second["links"]) == sorted(fixture_body("users-page-2.json")["links"])
    assert second["links"]["prev"]["href"].endswith("/api/users/?start=0&max-results=3")


async def test_paging_defaults_caps_and_edges(rb: StandIn, http: aiohttp.ClientSession) -> None:
    everyone = len(rb.dataset.users)
    active = sum(u.is_active for u in rb.dataset.users.values())
    assert active < everyone  # some generated users are inactive

    default = (await get(http, rb.api_url + "users/")).decode()
    assert len(default) == 25
    assert default.total_results == active
    assert "max-results=25" in default.links["next"].href

    capped = (await get(http, rb.api_url + "users/?max-results=500&include-inactive=1")).json()
    assert len(capped["users"]) == everyone  # fewer than 200 here
    assert capped["total_results"] == everyone
    assert "next" not in capped["links"]

    small = (
        await get(http, rb.api_url + "users/?max-results=500&include-inactive=1&start=1")
    ).json()
    assert small["links"]["prev"]["href"].endswith("?start=0&max-results=200&include-inactive=1")

    past = (await get(http, rb.api_url + f"users/?start={everyone + 10}")).json()
    assert past["users"] == []
    assert sorted(past["links"]) == ["create", "prev", "self"]

    zero = (await get(http, rb.api_url + "users/?max-results=0&start=4")).json()
    assert zero["users"] == []
    assert zero["links"]["next"]["href"].endswith("?start=4&max-results=0")  # loops on itself

    negative_start = (await get(http, rb.api_url + "users/?start=-5&max-results=1")).json()
    assert "prev" not in negative_start["links"]


async def test_paging_errors(rb: StandIn, http: aiohttp.ClientSession) -> None:
    bad = await get(http, rb.api_url + "users/?max-results=abc")
    assert bad.status == 400
    assert bad.json() == fixture_body("error-400-max-results.json")
    with pytest.raises(InvalidFormDataError):
        bad.decode()
    negative = await get(http, rb.api_url + "users/?max-results=-1")
    assert negative.status == 500
    assert negative.headers["content-type"].startswith("text/html")
    with pytest.raises(ServerBugError):
        negative.decode()


async def test_counts_only_with_any_value(rb: StandIn, http: aiohttp.ClientSession) -> None:
    for value in ("1", "0", "true"):
        ans = await get(http, f"{rb.api_url}users/?counts-only={value}&include-inactive=1")
        assert ans.headers["content-type"] == MIME.format("users")
        count = ans.decode()
        assert isinstance(count, Count)
        assert count.count == len(rb.dataset.users)


async def test_only_fields_and_only_links(rb: StandIn, http: aiohttp.ClientSession) -> None:
    ans = await get(http, rb.api_url + "users/?only-fields=id,username&only-links=&max-results=2")
    data = ans.json()
    assert [sorted(u) for u in data["users"]] == [["id", "username"]] * 2
    assert "next" in data["links"]  # the list's own links stay
    some = await get(http, rb.api_url + "users/?only-links=self,api_tokens&max-results=1")
    assert sorted(some.json()["users"][0]["links"]) == ["api_tokens", "self"]
