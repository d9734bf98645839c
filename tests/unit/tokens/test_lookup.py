"""``tokens.whoami``, ``get`` and ``find``, and the one ``client.tokens`` object.

Against an in-memory Review Board 8.1 token resource (``FakeTokenServer``).
"""

from __future__ import annotations

import pytest
from tokenkit import client_for

import rbtokens
from rbtokens import TokenNotFoundError
from tools.standin.testing import FakeTokenServer


async def test_whoami_reads_the_session_once(fake: FakeTokenServer) -> None:
    async with client_for(fake, "bob") as client:
        assert await client.tokens.whoami() == "bob"
        assert await client.tokens.whoami() == "bob"
    sessions = [r for r in fake.requests if r.url.path == "/api/session/"]
    assert len(sessions) == 1


async def test_get_and_find(fake: FakeTokenServer) -> None:
    record = fake.add_token("alice", note="hello")
    async with client_for(fake) as client:
        token = await client.tokens.get(record["id"], username="alice")
        assert token.note == "hello" and token.username == "alice"
        with pytest.raises(TokenNotFoundError) as info:
            await client.tokens.get(record["id"] + 99, username="alice")
        assert info.value.error_code == 100 and info.value.http_status == 404
        assert await client.tokens.find(record["id"] + 99, username="alice") is None
        # A token id under the wrong owner is not found either.
        assert await client.tokens.find(record["id"], username="bob") is None
        assert await client.tokens.find(record["id"], username="ghost") is None
        n = len(fake.requests)
        assert await client.tokens.find(1, username="no spaces allowed") is None
        assert len(fake.requests) == n  # refused locally: the URL pattern cannot match


async def test_get_uses_the_logged_in_user_by_default(fake: FakeTokenServer) -> None:
    record = fake.add_token("bob", note="bob's")
    async with client_for(fake, "bob") as client:
        assert (await client.tokens.get(record["id"])).note == "bob's"


async def test_client_keeps_one_tokens_object(fake: FakeTokenServer) -> None:
    async with client_for(fake, "bob") as client:
        assert client.tokens is client.tokens
        client.tokens.concurrency = 50
        assert client.tokens.concurrency == 50
        assert await client.tokens.whoami() == "bob"
    assert not hasattr(rbtokens.tokens, "_whoami_cache")
