"""``tokens.create``: owner, policy, expiry and extra data; local checks first; code 228 retried.

Against an in-memory Review Board 8.1 token resource (``FakeTokenServer``).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from tokenkit import FAST, client_for, form_of, writes

import rbtokens
from rbtokens import Policy, PolicyError, TokensError
from tools.standin.testing import FakeTokenServer, api_error


async def test_admin_creates_a_token_for_another_user(fake: FakeTokenServer) -> None:
    extra = {"ticket": "123", "nested": {"a": [1, 2]}, "flag": True}
    async with client_for(fake) as client:
        token = await client.tokens.create(
            "alice",
            note="ci",
            policy=Policy.read_only(),
            expires_in=timedelta(days=7),
            extra_data=extra,
        )
    assert token.username == "alice"
    assert token.token.startswith("rbp_") and len(token.token) == 255
    assert token.policy == {"resources": {"*": {"allow": ["GET"], "block": ["*"]}}}
    assert token.extra_data == extra  # "123" stayed a string: sent as extra_data:json
    assert token.expires is not None
    assert abs(token.expires - (datetime.now(UTC) + timedelta(days=7))) < timedelta(seconds=5)
    (post,) = writes(fake, "POST")
    assert post.url.path == "/api/users/alice/api-tokens/"
    form = form_of(post)
    assert json.loads(form["policy"]) == token.policy
    assert json.loads(form["extra_data:json"]) == extra
    assert fake.owner[token.id] == "alice"


async def test_create_defaults_to_the_logged_in_user_and_full_access(
    fake: FakeTokenServer,
) -> None:
    async with client_for(fake, "bob") as client:
        token = await client.tokens.create(note="mine")
    assert token.username == "bob" and token.policy == {} and token.expires is None
    form = form_of(writes(fake, "POST")[0])
    assert form["policy"] == "{}" and "expires" not in form and "extra_data:json" not in form


async def test_invalid_policy_is_refused_before_any_request(fake: FakeTokenServer) -> None:
    async with client_for(fake) as client:
        with pytest.raises(PolicyError, match='"nope" is not a valid resource policy ID'):
            await client.tokens.create("alice", note="x", policy={"resources": {"nope": {}}})
        with pytest.raises(PolicyError, match='must have "allow" and/or "block"'):
            await client.tokens.create("alice", note="x", policy={"resources": {"*": {}}})
    assert not writes(fake, "POST")


async def test_unknown_policy_id_opt_in_reaches_the_server_which_crashes(
    fake: FakeTokenServer,
) -> None:
    policy = {"resources": {"extension_thing": {"*": {"allow": ["GET"]}}}}
    async with client_for(fake) as client:
        with pytest.raises(TokensError) as info:
            await client.tokens.create(
                "alice", note="x", policy=policy, allow_unknown_policy_ids=True
            )
    assert info.value.http_status == 500
    assert "crashed" in str(info.value) and "policy" in str(info.value)
    assert isinstance(info.value.__cause__, rbtokens.ServerBugError)


async def test_create_expiry_arguments(fake: FakeTokenServer) -> None:
    async with client_for(fake) as client:
        with pytest.raises(ValueError, match="timezone-aware"):
            await client.tokens.create("alice", note="x", expires=datetime(2030, 1, 1))
        with pytest.raises(ValueError, match="not both"):
            await client.tokens.create(
                "alice", note="x", expires=datetime.now(UTC), expires_in=timedelta(1)
            )
        when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
        token = await client.tokens.create("alice", note="x", expires=when)
    assert token.expires == when
    assert form_of(writes(fake, "POST")[0])["expires"] == "2030-01-02T03:04:05+00:00"


async def test_code_228_is_retried_by_the_client(fake: FakeTokenServer) -> None:
    collision = api_error(500, 228, "Could not generate a unique token")
    fake.inject("POST", "/api-tokens/", lambda r: collision)
    async with client_for(fake) as client:
        token = await client.tokens.create("alice", note="retry me")
    assert len(writes(fake, "POST")) == 2
    assert [t["id"] for t in fake.tokens_of("alice")] == [token.id]


async def test_code_228_every_time_is_a_clear_tokens_error(fake: FakeTokenServer) -> None:
    collision = api_error(500, 228, "Could not generate a unique token")
    for _ in range(FAST.attempts):
        fake.inject("POST", "/api-tokens/", lambda r: collision)
    async with client_for(fake) as client:
        with pytest.raises(TokensError) as info:
            await client.tokens.create("alice", note="x")
    assert info.value.error_code == 228 and "safe to try again" in str(info.value)
    assert len(writes(fake, "POST")) == FAST.attempts
    assert not fake.tokens_of("alice")


async def test_missing_field_keeps_the_server_field_errors(fake: FakeTokenServer) -> None:
    fake.inject(
        "POST",
        "/api-tokens/",
        lambda r: api_error(
            400, 105, "One or more fields had errors", fields={"note": ["This field is required"]}
        ),
    )
    async with client_for(fake) as client:
        with pytest.raises(TokensError) as info:
            await client.tokens.create("alice", note="x")
    err = info.value
    assert (err.http_status, err.error_code) == (400, 105)
    assert err.fields == {"note": ["This field is required"]}
    assert err.message == "One or more fields had errors"


async def test_create_refuses_an_expiry_in_the_past(fake: FakeTokenServer) -> None:
    async with client_for(fake) as client:
        with pytest.raises(ValueError, match="not in the future"):
            await client.tokens.create(
                "alice", note="x", expires=datetime.now(UTC) - timedelta(days=1)
            )
        with pytest.raises(ValueError, match="not in the future"):
            await client.tokens.create("alice", note="x", expires_in=timedelta(days=-1))
        with pytest.raises(ValueError, match="not in the future"):
            await client.tokens.create("alice", note="x", expires_in=timedelta(0))
    assert not writes(fake, "POST")


async def test_policy_warnings_are_logged_on_create_and_update(
    fake: FakeTokenServer, caplog: pytest.LogCaptureFixture
) -> None:
    broken = Policy().block("user", obj="bob").allow("user")
    caplog.set_level(logging.WARNING, logger="rbtokens")
    async with client_for(fake) as client:
        token = await client.tokens.create("alice", note="x", policy=broken)
        created = [r for r in caplog.records if "per-object entries" in r.getMessage()]
        assert [r.levelno for r in created] == [logging.WARNING]
        caplog.clear()
        await client.tokens.update(token, policy=broken)
        updated = [r for r in caplog.records if "per-object entries" in r.getMessage()]
        assert [r.levelno for r in updated] == [logging.WARNING]
