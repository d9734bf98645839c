"""Expanded children through the client: bound to it, and dropped or kept by ``get_self``.

The payloads are built by hand from the user and token items of the captured
Review Board 8.1 fixtures (``tests/expandedkit.py``), arranged the way the
server arranges them for ``?expand=``: an ``_expanded`` object per item, the
expanded field inlined, and the expanded list's link dropped.
``tests/integration/test_expanded_live.py`` checks that arrangement against
the real server.
"""

from __future__ import annotations

import copy
import json

import pytest
from expandedkit import decode, expanded_user, tokens_info, users_page
from payloads import body

import rbtokens
from rbtokens import APIToken, RBClient, User
from rbtokens.transport import Request, Response
from tools.standin.testing import BASE, FakeReviewBoard, _rebase, ok

pytestmark = pytest.mark.usefixtures("fixture_secrets")


FAST = rbtokens.RetryPolicy(attempts=1, backoff=0.0)


def admin_client(fake: FakeReviewBoard) -> RBClient:
    return RBClient(
        BASE, username="admin", password=fake.password, transport=fake.transport, retry=FAST
    )


class ExpandingRB(FakeReviewBoard):
    """The fake, answering ``expand=api_tokens`` and ``expand=user`` like Review Board."""

    def route(self, request: Request) -> Response:
        response = super().route(request)
        if response.status != 200:  # e.g. a 304 to a conditional GET: no body
            return response
        expand = request.url.query.get("expand", "")
        path = request.url.path
        data = json.loads(response.body)
        if "api_tokens" in expand.split(",") and path == "/api/users/":
            for user in data["users"]:
                user["links"].pop("api_tokens", None)
                user["_expanded"] = {"api_tokens": tokens_info(user["username"])}
                user["api_tokens"] = copy.deepcopy(self.tokens[user["username"]])
            return ok("users", {k: v for k, v in data.items() if k != "stat"})
        if expand == "api_tokens" and path.startswith("/api/users/") and "user" in data:
            user = data["user"]
            user["links"].pop("api_tokens", None)
            user["_expanded"] = {"api_tokens": tokens_info(user["username"])}
            user["api_tokens"] = copy.deepcopy(self.tokens[user["username"]])
            return ok("user", {"user": user})
        if expand == "user" and path == "/api/session/":
            session = data["session"]
            session["links"].pop("user", None)
            session["user"] = copy.deepcopy(self.users[0])
            return ok("session", {"session": session})
        return response


async def test_expanded_children_are_bound_to_the_client() -> None:
    fake = ExpandingRB(users=3, tokens_per_user=2)
    async with admin_client(fake) as client:
        root = await client.get_root()
        users = await root.get_users(expand="api_tokens")
        first = users[0]
        tokens = first.expanded_list("api_tokens", APIToken)
        assert [t.id for t in tokens] == [t["id"] for t in fake.tokens[first.username]]
        assert tokens[0].client is client
        sent = len(fake.requests)
        again = await tokens[0].get_self()
        assert again.id == tokens[0].id and again.etag == f"etag-{tokens[0].id}"
        assert fake.requests[sent].url.path == (
            f"/api/users/{first.username}/api-tokens/{tokens[0].id}/"
        )
        listed = await first.get_api_tokens()  # through the restored link
        assert [t.id for t in listed] == [t.id for t in tokens]

        session = await root.get_session(expand="user")
        assert session.username == "u000" and session.user is not None
        assert session.user.client is client
        me = await session.get_user()
        assert isinstance(me, User) and me.username == "u000"
        assert fake.requests[-1].url.path == "/api/users/u000/"


async def test_unbound_children_say_so() -> None:
    (alice,) = decode("users", users_page(expanded_user()))
    token = alice.expanded_list("api_tokens", APIToken)[0]
    with pytest.raises(rbtokens.ClientStateError):
        _ = token.client


async def test_get_self_drops_the_children_unless_asked_again() -> None:
    fake = ExpandingRB(users=2, tokens_per_user=2)
    async with admin_client(fake) as client:
        root = await client.get_root()
        user = await root.get_user(username="u001", expand="api_tokens")
        assert len(user.expanded_list("api_tokens", APIToken)) == 2
        again = await user.get_self()  # the self link has no ``?expand=``
        assert again.expanded == {} and again.has_link("api_tokens")
        assert fake.requests[-1].url.query_string == ""
        expanded = await user.get_self(expand="api_tokens")
        assert [t.id for t in expanded.expanded_list("api_tokens", APIToken)] == [1000, 1001]
        assert fake.requests[-1].url.query == {"expand": "api_tokens"}
        # A list page's links keep the query: its children come back.
        page = await root.get_users(expand="api_tokens")
        assert all(u.expanded for u in await page.get_self())


async def test_get_self_with_a_query_is_never_conditional() -> None:
    fake = ExpandingRB(users=1, tokens_per_user=1)
    async with admin_client(fake) as client:
        root = await client.get_root()
        token = await root.get_api_token(username="u000", api_token_id=0)
        assert token.etag == "etag-0"
        await token.get_self()
        assert fake.requests[-1].headers.get("If-None-Match") == "etag-0"
        trimmed = await token.get_self(only_fields="id,note")
        assert "If-None-Match" not in fake.requests[-1].headers
        assert fake.requests[-1].url.query == {"only-fields": "id,note"}
        assert trimmed.id == 0


async def test_get_user_through_a_trimmed_inlined_user() -> None:
    fake = ExpandingRB(users=2)

    def trimmed(request: Request) -> Response:
        session = _rebase(body("session.json"))["session"]
        del session["links"]["user"]
        session["user"] = {"links": {"self": {"href": f"{BASE}/api/users/u001/"}}}
        return ok("session", {"session": session})

    fake.overrides[("GET", "/api/session/")] = trimmed
    async with admin_client(fake) as client:
        root = await client.get_root()
        session = await root.get_session(expand="user", only_fields="authenticated")
        assert session.user is None
        me = await session.get_user()
        assert isinstance(me, User) and me.username == "u001"
