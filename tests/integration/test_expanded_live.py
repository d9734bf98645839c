"""Expanded children (``expand=``) against the real Review Board 8.1 site.

Read-only: nothing here creates, changes or deletes a token. No secret is
printed; assertions compare ids, notes and usernames only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from rbtokens import APIToken, GenericItem, RBClient, User

pytestmark = pytest.mark.integration


@pytest.fixture
async def admin(rb_site: Any) -> AsyncIterator[RBClient]:
    async with RBClient(
        rb_site.url, username=rb_site.admin_username, password=rb_site.admin_password
    ) as client:
        yield client


async def test_users_expand_api_tokens(admin: RBClient) -> None:
    root = await admin.get_root()
    users = await root.get_users(expand="api_tokens", q="audit_", include_inactive=True)
    raw = await admin.get_json(users.href)
    assert all("_expanded" in user for user in raw["users"])  # the real mark, not a guess
    assert len(users) >= 10
    for user in users:
        tokens = user.expanded_list("api_tokens", APIToken)
        assert all(t.username == user.username for t in tokens)
        # The server drops the ``api_tokens`` link when it expands it: it
        # is put back from ``list_url``, so this fetches the same tokens.
        listed = [t.id async for t in (await user.get_api_tokens()).all_items()]
        assert sorted(t.id for t in tokens) == sorted(listed)
    many = next(u for u in users if u.username == "audit_many")
    tokens = many.expanded_list("api_tokens", APIToken)
    assert len(tokens) == 11 and all(t.token for t in tokens)
    again = await tokens[0].get_self()  # bound to the client like any item
    assert (again.id, again.note) == (tokens[0].id, tokens[0].note)
    assert again.etag is not None


async def test_only_fields_and_only_links_reach_the_expanded_tokens(admin: RBClient) -> None:
    root = await admin.get_root()
    user = await root.get_user(
        username="audit_many",
        expand="api_tokens",
        only_fields="id,username,api_tokens,note",
        only_links="self,api_tokens",
    )
    tokens = user.expanded_list("api_tokens", APIToken)
    assert len(tokens) == 11
    assert all(t.note and not t.token and t.expires is None for t in tokens)
    assert all(set(t.links) == {"self"} for t in tokens)
    assert set(user.links) == {"self", "api_tokens"}
    fetched = await tokens[0].get_self()
    assert fetched.id == tokens[0].id and fetched.token  # the full token this time


async def test_without_expand_nothing_is_expanded(admin: RBClient) -> None:
    root = await admin.get_root()
    user = await root.get_user(username="audit_many")
    assert user.expanded == {} and user.has_link("api_tokens")
    session = await root.get_session()
    assert session.user is None and session.has_link("user")


async def test_session_expand_user(admin: RBClient, rb_site: Any) -> None:
    root = await admin.get_root()
    session = await root.get_session(expand="user")
    raw = await admin.get_json(session.href)
    assert "_expanded" not in raw["session"] and "user" in raw["session"]  # no mark here
    assert not session.has_link("user")  # expanding drops the link
    assert isinstance(session.user, User)
    assert session.username == session.user.username == rb_site.admin_username
    assert session.expanded_item("user", User) is session.user
    me = await session.get_user()
    assert (me.id, me.username) == (session.user.id, rb_site.admin_username)


async def test_session_expand_user_trimmed_by_only_fields(admin: RBClient, rb_site: Any) -> None:
    # Review Board applies only-fields to the inlined user too: it arrives
    # with nothing but its links, so it cannot be a User.
    root = await admin.get_root()
    session = await root.get_session(expand="user", only_fields="authenticated")
    raw = await admin.get_json(session.href)  # the self link keeps the query
    assert set(raw["session"]["user"]) == {"links"}
    assert session.authenticated and session.user is None
    child = session.expanded_item("user", GenericItem)
    assert child.fields == {} and child.has_link("self")
    me = await session.get_user()  # through the inlined user's own link
    assert me.username == rb_site.admin_username


async def test_get_self_of_an_expanded_item(admin: RBClient) -> None:
    root = await admin.get_root()
    user = await root.get_user(username="audit_many", expand="api_tokens")
    assert len(user.expanded_list("api_tokens", APIToken)) == 11
    assert "expand" not in user.href  # the self link drops the query...
    again = await user.get_self()
    assert again.expanded == {} and again.etag != user.etag  # ...and the children
    expanded = await user.get_self(expand="api_tokens")
    ids = sorted(t.id for t in expanded.expanded_list("api_tokens", APIToken))
    assert ids == sorted(t.id for t in user.expanded_list("api_tokens", APIToken))
    # A page's links keep the query, so its children come back.
    page = await root.get_users(expand="api_tokens", q="audit_many")
    refreshed = await page.get_self()
    assert [len(u.expanded_list("api_tokens", APIToken)) for u in refreshed] == [11]
