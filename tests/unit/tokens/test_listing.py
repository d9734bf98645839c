"""``tokens.list``: filters, every user's tokens, and users that vanish or fail.

Against an in-memory Review Board 8.1 token resource (``FakeTokenServer``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from tokenkit import FAST, client_for

from tools.standin.testing import FakeTokenServer, api_error, html


async def test_list_filters(fake: FakeTokenServer) -> None:
    now = datetime.now(UTC)
    fake.add_token("alice", note="Deploy bot")
    fake.add_token("alice", note="old deploy", expires=now - timedelta(days=1))
    fake.add_token("alice", note="revoked", valid=False, invalid_reason="leak")
    fake.add_token("alice", note="laptop")
    async with client_for(fake) as client:
        tokens = client.tokens
        assert [t.note for t in (await tokens.list("alice", search="DEPLOY")).items] == [
            "Deploy bot",
            "old deploy",
        ]
        assert [t.note for t in (await tokens.list("alice", valid=False)).items] == ["revoked"]
        assert [t.note for t in (await tokens.list("alice", expired=True)).items] == ["old deploy"]
        usable = await tokens.list("alice", valid=True, expired=False, per_page=1)
        assert usable.total_items == 2 and usable.total_pages == 2
        assert [t.note async for t in usable] == ["Deploy bot", "laptop"]
        assert (await usable[-1]).note == "laptop"


async def test_list_all_users_includes_inactive_users(fake: FakeTokenServer) -> None:
    for owner in ("bob", "dave", "alice", "bob"):
        fake.add_token(owner, note=f"{owner}'s")
    async with client_for(fake) as client:
        pager = await client.tokens.list(all_users=True, per_page=2)
        everything = [t async for t in pager]
        assert pager.total_items == 4
        assert [t.username for t in everything] == ["alice", "bob", "bob", "dave"]
        with pytest.raises(ValueError, match="not both"):
            await client.tokens.list("alice", all_users=True)
        deploy = await client.tokens.list(all_users=True, search="dave")
        assert [t.username for t in deploy.items] == ["dave"]
    users_queries = [r.url.query for r in fake.requests if r.url.path == "/api/users/"]
    assert all(q.get("include-inactive") == "1" for q in users_queries)


async def test_list_all_users_pages_the_user_list() -> None:
    fake = FakeTokenServer(extra_users=230)
    fake.add_token("user229", note="last user")
    fake.add_token("alice", note="first user")
    async with client_for(fake) as client:
        pager = await client.tokens.list(all_users=True)
    assert [t.note for t in pager.items] == ["first user", "last user"]


async def test_list_argument_checks(fake: FakeTokenServer) -> None:
    async with client_for(fake) as client:
        with pytest.raises(ValueError):
            await client.tokens.list(page=0)
        with pytest.raises(ValueError):
            await client.tokens.list(per_page=0)


async def test_list_all_users_records_a_deleted_user(
    fake: FakeTokenServer, caplog: pytest.LogCaptureFixture
) -> None:
    for owner in ("alice", "bob", "bob", "carol"):
        fake.add_token(owner, note=owner)
    fake.inject(
        "GET", "/users/bob/api-tokens/", lambda r: api_error(404, 100, "Object does not exist")
    )
    async with client_for(fake) as client:
        pager = await client.tokens.list(all_users=True, walk="per-user")
    assert [t.username for t in pager.items] == ["alice", "carol"]
    (failure,) = pager.failures
    assert failure.username == "bob" and failure.vanished
    assert pager.complete  # a deleted user has no tokens left to miss


async def test_list_all_users_keeps_going_when_one_user_fails(
    fake: FakeTokenServer, caplog: pytest.LogCaptureFixture
) -> None:
    for owner in ("alice", "bob", "bob", "carol"):
        fake.add_token(owner, note=owner)
    for _ in range(FAST.attempts):
        fake.inject("GET", "/users/bob/api-tokens/", lambda r: html(503))
    caplog.set_level(logging.WARNING, logger="rbtokens")
    async with client_for(fake) as client:
        pager = await client.tokens.list(all_users=True, walk="per-user", per_page=1)
        assert [t.username async for t in pager] == ["alice", "carol"]
        assert not pager.complete
        (failure,) = pager.failures
        assert failure.username == "bob" and not failure.vanished
        assert failure.error.http_status == 503  # type: ignore[attr-defined]
        assert "bob" in str(failure)
        second = await pager.next_page()
        assert second is not None and second.failures == pager.failures
    assert any(r.levelno == logging.WARNING and "bob" in r.getMessage() for r in caplog.records)
