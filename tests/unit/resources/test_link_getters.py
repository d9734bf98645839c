"""Navigation by links and URI templates: ``get_<name>()``, ``follow()``, generic items."""

from __future__ import annotations

import json

import pytest
from fakeclient import FAST, client_for

import rbtokens
from rbtokens import APIToken, ListResource, RBClient, User
from rbtokens.transport import Request, Response
from tools.standin.testing import BASE, FakeReviewBoard, ok


async def test_walk_the_tree() -> None:
    fake = FakeReviewBoard(users=7)
    async with client_for(fake) as client:
        root = await client.get_root()
        users = await root.get_users(max_results=3, include_inactive=True)
        assert users.total_results == 7 and len(users) == 3
        assert isinstance(users[0], User)
        tokens = await users[0].get_api_tokens()
        assert isinstance(tokens, ListResource) and tokens.item_type is APIToken
        again = await tokens[0].get_self()
        assert again.id == tokens[0].id
        by_template = await root.get_api_tokens(username="u001")
        assert [t.id for t in by_template] == [1000, 1001]
        one = await root.get_api_token(username="u001", api_token_id=1001)
        assert one.username == "u001"


async def test_query_names_reach_the_wire() -> None:
    fake = FakeReviewBoard()
    async with client_for(fake) as client:
        root = await client.get_root()
        await root.get_users(max_results=500, include_inactive=True, q="u0")
    query = fake.requests[-1].url.query
    assert query["max-results"] == "200"
    assert query["include-inactive"] == "1"
    assert query["q"] == "u0"


async def test_missing_link_is_a_navigation_error() -> None:
    fake = FakeReviewBoard()

    def without_create(request: Request) -> Response:
        # Review Board always links ``create`` on a list: serve one without it.
        resp = fake.route(request)
        payload = json.loads(resp.body)
        del payload["links"]["create"]
        return Response(200, resp.headers, json.dumps(payload).encode())

    fake.overrides[("GET", "/api/users/u000/api-tokens/")] = without_create
    async with client_for(fake) as client:
        tokens = await (await client.get_root()).get_api_tokens(username="u000")
        with pytest.raises(rbtokens.NavigationError, match="create"):
            await tokens.create(note="x")
        with pytest.raises(AttributeError):
            tokens.get_nothing_here  # noqa: B018


async def test_generic_link_getters() -> None:
    fake = FakeReviewBoard()
    fake.overrides[("GET", "/api/users/u001/watched/")] = lambda r: ok(
        "watched", {"watched": {"note": "generic"}}
    )
    async with client_for(fake) as client:
        root = await client.get_root()
        session = await root.get_session()
        assert session.username == "admin"
        user = await root.get_user(username="u001")
        assert isinstance(user, User) and user.username == "u001"
        watched = await user.get_watched()  # no Struct for this type: generic
        assert isinstance(watched, rbtokens.GenericItem)
        assert watched.fields == {"note": "generic"}
        got = await root.follow("users", max_results=1)
        assert isinstance(got, ListResource)
        assert callable(root.get_webhooks)
        assert callable(root.get_review_requests)  # a URI template


async def test_dynamic_getters_still_work_at_run_time() -> None:
    fake = FakeReviewBoard(users=3)
    async with RBClient(
        BASE, username="admin", password=fake.password, transport=fake.transport, retry=FAST
    ) as c:
        root = await c.get_root()
        users = await root.get_users()
        via_link = await root.follow("users")
        assert len(users) == len(via_link)
        assert callable(root.get_user)
        with pytest.raises(AttributeError):
            root.get_no_such_link  # noqa: B018
