"""``tokens.invalidate`` (and Review Board 8.1's unsaved invalidation) and ``tokens.revoke``.

Against an in-memory Review Board 8.1 token resource (``FakeTokenServer``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from tokenkit import client_for, form_of, writes

import rbtokens
from rbtokens import APIToken, InvalidateNotPersistedError, TokenNotFoundError, TokensError
from rbtokens.transport import Request, Response
from tools.standin.testing import FakeTokenServer


async def test_invalidate_detects_the_8_1_bug(fake: FakeTokenServer) -> None:
    record = fake.add_token("alice")
    async with client_for(fake) as client:
        with pytest.raises(InvalidateNotPersistedError) as info:
            await client.tokens.invalidate(record["id"], username="alice", reason="leaked")
    text = str(info.value)
    assert "did not save" in text and "revoke()" in text and "delete_if_not_persisted" in text
    assert isinstance(info.value, TokensError)
    assert fake.tokens[record["id"]]["valid"] is True
    form = form_of(writes(fake, "PUT")[0])
    assert form == {"invalid_reason": "leaked", "valid": "0"}


async def test_invalidate_can_delete_instead(fake: FakeTokenServer) -> None:
    record = fake.add_token("alice")
    async with client_for(fake) as client:
        result = await client.tokens.invalidate(
            record["id"], username="alice", reason="leaked", delete_if_not_persisted=True
        )
    assert result is None and record["id"] not in fake.tokens


async def test_invalidate_where_the_server_persists_it() -> None:
    fake = FakeTokenServer(invalidate_persists=True)
    record = fake.add_token("alice")
    async with client_for(fake) as client:
        result = await client.tokens.invalidate(record["id"], username="alice", reason="leaked")
    assert result is not None and not result.valid and result.invalid_reason == "leaked"
    assert not result.usable
    assert not writes(fake, "DELETE")


async def test_revoke_by_object_and_by_id(fake: FakeTokenServer) -> None:
    one = fake.add_token("alice")
    two = fake.add_token("alice")
    async with client_for(fake) as client:
        token = await client.tokens.get(one["id"], username="alice")
        await client.tokens.revoke(token)
        await client.tokens.delete(two["id"], username="alice")
        assert fake.tokens_of("alice") == []
        with pytest.raises(TokenNotFoundError):
            await client.tokens.revoke(two["id"], username="alice")
    assert rbtokens.Tokens.delete is rbtokens.Tokens.revoke


async def test_revoke_confirms_and_repeats_a_dropped_delete(fake: FakeTokenServer) -> None:
    # 8.1's 204-with-a-body can make a DELETE that never reached the server look done.
    record = fake.add_token("alice")
    path = f"/api-tokens/{record['id']}/"
    fake.inject("DELETE", path, lambda r: Response(204, {}, b""))
    async with client_for(fake) as client:
        await client.tokens.revoke(record["id"], username="alice")
    assert record["id"] not in fake.tokens
    assert len(writes(fake, "DELETE")) == 2


async def test_revoke_gives_up_when_the_token_never_goes(fake: FakeTokenServer) -> None:
    record = fake.add_token("alice")
    path = f"/api-tokens/{record['id']}/"
    for _ in range(3):
        fake.inject("DELETE", path, lambda r: Response(204, {}, b""))
    async with client_for(fake) as client:
        with pytest.raises(TokensError, match="still exists"):
            await client.tokens.revoke(record["id"], username="alice")
    assert record["id"] in fake.tokens


async def test_revoke_an_exported_token_without_links(fake: FakeTokenServer) -> None:
    record = fake.add_token("alice")
    async with client_for(fake) as client:
        token = await client.tokens.get(record["id"], username="alice")
        data = token.to_dict()
        del data["links"]
        restored = APIToken.from_dict(data)
        await client.tokens.revoke(restored)
    assert fake.tokens_of("alice") == []


async def test_invalidate_trusts_the_reread_over_a_stale_answer(fake: FakeTokenServer) -> None:
    record = fake.add_token("alice")

    def saved_but_stale(request: Request) -> Response:
        record.update(valid=False, invalid_reason="leaked", invalid_date=datetime.now(UTC))
        stale = fake.token_payload({**record, "valid": True, "invalid_reason": ""})
        return Response(
            200,
            {"content-type": "application/vnd.reviewboard.org.api-token+json"},
            json.dumps({"stat": "ok", "api_token": stale}).encode(),
        )

    fake.inject("PUT", f"/api-tokens/{record['id']}/", saved_but_stale)
    async with client_for(fake) as client:
        result = await client.tokens.invalidate(record["id"], username="alice", reason="leaked")
    assert result is not None and not result.valid and result.invalid_reason == "leaked"
    assert not writes(fake, "DELETE")
