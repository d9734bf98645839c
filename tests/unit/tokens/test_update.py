"""``tokens.update``: only what changes is sent; arguments checked locally.

Against an in-memory Review Board 8.1 token resource (``FakeTokenServer``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from tokenkit import client_for, form_of, writes

import rbtokens
from rbtokens import PolicyError, TokensError
from tools.standin.testing import FakeTokenServer


async def test_update_sends_only_what_changes(fake: FakeTokenServer) -> None:
    record = fake.add_token(
        "alice", note="a", extra_data={"keep": 1, "drop": 2}, expires=datetime.now(UTC)
    )
    async with client_for(fake) as client:
        token = await client.tokens.get(record["id"], username="alice")
        updated = await client.tokens.update(token, note="b")
        assert updated.note == "b" and updated.expires == token.expires
        assert set(form_of(writes(fake, "PUT")[-1])) == {"note"}

        updated = await client.tokens.update(
            token.id,
            username="alice",
            expires=None,
            extra_data={"drop": None, "new": "007"},
            extra_data_patch=[{"op": "add", "path": "/patched", "value": [1]}],
        )
        form = form_of(writes(fake, "PUT")[-1])
        assert form["expires"] == ""
        assert json.loads(form["extra_data:json"]) == {"drop": None, "new": "007"}
        assert updated.expires is None
        assert updated.extra_data == {
            "keep": 1,
            "new": "007",
            "patched": [1],
            "expired_notification_sent": False,
        }
        with pytest.raises(ValueError, match="nothing to update"):
            await client.tokens.update(token)


async def test_update_failed_patch_keeps_field_errors(fake: FakeTokenServer) -> None:
    record = fake.add_token("alice", extra_data={"v": 1})
    async with client_for(fake) as client:
        with pytest.raises(TokensError) as info:
            await client.tokens.update(
                record["id"],
                username="alice",
                extra_data_patch=[{"op": "test", "path": "/v", "value": 2}],
            )
    assert info.value.error_code == 105 and "extra_data" in info.value.fields
    assert fake.tokens[record["id"]]["extra_data"] == {"v": 1}


async def test_update_policy_rejected_by_the_server_is_a_policy_error(
    fake: FakeTokenServer,
) -> None:
    record = fake.add_token("alice")
    policy = {"resources": {"not_here": {"*": {"allow": ["GET"]}}}}
    async with client_for(fake) as client:
        with pytest.raises(PolicyError) as info:
            await client.tokens.update(
                record["id"], username="alice", policy=policy, allow_unknown_policy_ids=True
            )
    assert info.value.fields == {"policy": ['"not_here" is not a valid resource policy ID.']}
    assert info.value.http_status == 400


async def test_update_refuses_a_token_of_another_owner(fake: FakeTokenServer) -> None:
    record = fake.add_token("alice")
    async with client_for(fake) as client:
        token = await client.tokens.get(record["id"], username="alice")
        with pytest.raises(ValueError, match="belongs to 'alice'"):
            await client.tokens.update(token, username="bob", note="x")


async def test_update_refuses_none_except_for_expires(fake: FakeTokenServer) -> None:
    record = fake.add_token("alice", note="important", extra_data={"a": 1})
    async with client_for(fake) as client:
        for kw in ({"note": None}, {"policy": None}, {"extra_data": None}):
            with pytest.raises(TypeError, match="None"):
                await client.tokens.update(record["id"], username="alice", **kw)
        with pytest.raises(TypeError, match="JSON Patch"):
            await client.tokens.update(record["id"], username="alice", extra_data_patch=None)  # type: ignore[arg-type]
        assert not writes(fake, "PUT")
        assert rbtokens.tokens.UNSET is not None
        updated = await client.tokens.update(record["id"], username="alice", note="")
    assert updated.note == "" and fake.tokens[record["id"]]["note"] == ""


async def test_json_patch_and_token_id_are_checked_locally(fake: FakeTokenServer) -> None:
    record = fake.add_token("alice")
    async with client_for(fake) as client:
        await client.tokens.whoami()
        before = len(fake.requests)
        for patch in ("add", {"op": "add"}, [{"op": "add"}], ["x"], [{"path": "/a"}]):
            with pytest.raises(TypeError):
                await client.tokens.update(
                    record["id"],
                    username="alice",
                    extra_data_patch=patch,  # type: ignore[arg-type]
                )
        for bad in (True, -1, "5", 1.0):
            with pytest.raises(TypeError, match="non-negative int"):
                await client.tokens.get(bad, username="alice")  # type: ignore[arg-type]
        assert len(fake.requests) == before
