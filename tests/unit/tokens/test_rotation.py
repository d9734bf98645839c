"""``tokens.rotate`` when it succeeds: the replacement, the old token's grace and expiry.

Against an in-memory Review Board 8.1 token resource (``FakeTokenServer``).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from tokenkit import client_for, form_of, writes

from rbtokens import APIToken, RotationError
from rbtokens.tokens import ROTATION_KEY
from rbtokens.transport import Request, Response
from tools.standin.testing import FakeTokenServer


async def test_rotate_with_grace(fake: FakeTokenServer) -> None:
    added = datetime.now(UTC) - timedelta(days=10)
    record = fake.add_token(
        "alice",
        note="deploy",
        policy={"resources": {"*": {"allow": ["GET"], "block": ["*"]}}},
        extra_data={"team": "infra", "expired_notification_sent": True},
        time_added=added,
        expires=added + timedelta(days=30),
    )
    async with client_for(fake) as client:
        rotation = await client.tokens.rotate(
            record["id"], username="alice", grace=timedelta(hours=2)
        )
        new, old = rotation.new_token, rotation.old_token
        assert old is not None and not rotation.old_deleted
        assert new.token.startswith("rbp_") and new.token != record["token"]
        assert (new.note, new.policy) == ("deploy", record["policy"])
        # extra_data is copied, less the server-managed key; the rotation's nonce
        # tags the create and is removed once the replacement is in hand.
        assert new.extra_data == {"team": "infra"}
        assert fake.tokens[new.id]["extra_data"] == {"team": "infra"}
        form = form_of(writes(fake, "POST")[0])
        assert re.fullmatch(r"[0-9a-f]{32}", json.loads(form["extra_data:json"])[ROTATION_KEY])
        target = datetime.now(UTC) + timedelta(hours=2)
        assert rotation.old_expires is not None
        assert abs(rotation.old_expires - target) < timedelta(seconds=5)
        assert old.usable
        # The replacement keeps the old token's 30-day lifetime.
        assert new.expires is not None
        assert abs(new.expires - (datetime.now(UTC) + timedelta(days=30))) < timedelta(seconds=5)
        again = await client.tokens.get(record["id"], username="alice")
        assert again.expires == rotation.old_expires


async def test_rotate_never_extends_the_old_token(fake: FakeTokenServer) -> None:
    soon = datetime.now(UTC) + timedelta(minutes=5)
    record = fake.add_token("alice", expires=soon)
    async with client_for(fake) as client:
        rotation = await client.tokens.rotate(
            record["id"], username="alice", grace=timedelta(days=1), expires=None
        )
    assert rotation.old_expires == soon
    assert rotation.new_token.expires is None
    assert not [r for r in writes(fake, "PUT") if r.url.path.endswith(f"/{record['id']}/")]


async def test_rotate_without_grace_deletes_on_8_1(fake: FakeTokenServer) -> None:
    record = fake.add_token("alice", note="n")
    async with client_for(fake) as client:
        rotation = await client.tokens.rotate(record["id"], username="alice", grace=timedelta(0))
    assert rotation.old_deleted and rotation.old_token is None
    assert [t["id"] for t in fake.tokens_of("alice")] == [rotation.new_token.id]


async def test_rotate_without_grace_deletes_directly(caplog: pytest.LogCaptureFixture) -> None:
    # Even where PUT valid=false would persist: deleting is what also ends the
    # sessions opened with the old token, and on 8.1 the PUT is wasted.
    fake = FakeTokenServer(invalidate_persists=True)
    record = fake.add_token("alice", note="n")
    caplog.set_level(logging.INFO, logger="rbtokens")
    async with client_for(fake) as client:
        await client.tokens.whoami()  # the login, out of the count
        before = len(fake.requests)
        rotation = await client.tokens.rotate(record["id"], username="alice", grace=timedelta(0))
    sent = [(r.method, r.url.path) for r in fake.requests[before:]]
    item = f"/api/users/alice/api-tokens/{record['id']}/"
    assert sent == [
        ("GET", item),
        ("POST", "/api/users/alice/api-tokens/"),
        ("PUT", f"/api/users/alice/api-tokens/{rotation.new_token.id}/"),  # the nonce's removal
        ("DELETE", item),
        ("GET", item),  # confirms the DELETE (404)
    ]
    assert rotation.old_deleted and rotation.old_token is None
    assert [r.levelname for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert f"deleted token {record['id']} of alice" in caplog.text


async def test_rotate_refuses_a_huge_grace_before_creating_anything(
    fake: FakeTokenServer,
) -> None:
    record = fake.add_token("alice", note="n")
    async with client_for(fake) as client:
        with pytest.raises(ValueError, match="grace"):
            await client.tokens.rotate(
                record["id"], username="alice", grace=timedelta(days=3_000_000)
            )
    assert not writes(fake, "POST") and len(fake.tokens) == 1


async def test_rotate_asks_for_expires_when_the_old_lifetime_is_not_positive(
    fake: FakeTokenServer,
) -> None:
    now = datetime.now(UTC)
    record = fake.add_token("alice", note="n", time_added=now, expires=now - timedelta(days=1))
    async with client_for(fake) as client:
        with pytest.raises(ValueError, match="pass expires="):
            await client.tokens.rotate(record["id"], username="alice")
        with pytest.raises(ValueError, match="not in the future"):
            await client.tokens.rotate(
                record["id"], username="alice", expires=now - timedelta(hours=1)
            )
        assert not writes(fake, "POST")
        rotation = await client.tokens.rotate(
            record["id"], username="alice", expires=now + timedelta(days=1)
        )
    assert rotation.new_token.usable


async def test_rotation_docs_say_expiry_does_not_end_sessions() -> None:
    from rbtokens.tokens import Rotation, Tokens  # noqa: PLC0415

    for doc in (Rotation.__doc__ or "", Tokens.rotate.__doc__ or ""):
        text = " ".join(doc.split())
        assert "new logins" in text and "deleted" in text


async def test_post_put_expiry_is_read_back_when_the_answer_differs(
    fake: FakeTokenServer,
) -> None:
    record = fake.add_token("alice", note="n")

    def stale_answer(request: Request) -> Response:
        fake.route(request)  # saved...
        stale = fake.token_payload({**record, "expires": None})  # ...but answered stale
        return Response(
            200,
            {"content-type": "application/vnd.reviewboard.org.api-token+json"},
            json.dumps({"stat": "ok", "api_token": stale}).encode(),
        )

    fake.inject("PUT", f"/api-tokens/{record['id']}/", stale_answer)
    async with client_for(fake) as client:
        rotation = await client.tokens.rotate(
            record["id"], username="alice", grace=timedelta(hours=1)
        )
    assert rotation.old_expires is not None
    assert abs(rotation.old_expires - (datetime.now(UTC) + timedelta(hours=1))) < timedelta(
        seconds=5
    )


async def test_post_put_expiry_not_kept_is_a_rotation_error(fake: FakeTokenServer) -> None:
    record = fake.add_token("alice", note="n", expires=datetime.now(UTC) + timedelta(days=30))

    def not_saved(request: Request) -> Response:
        payload = fake.token_payload(record)  # answers 200 without saving
        return Response(
            200,
            {"content-type": "application/vnd.reviewboard.org.api-token+json"},
            json.dumps({"stat": "ok", "api_token": payload}).encode(),
        )

    fake.inject("PUT", f"/api-tokens/{record['id']}/", not_saved)
    async with client_for(fake) as client:
        with pytest.raises(RotationError, match="did not keep") as info:
            await client.tokens.rotate(record["id"], username="alice", grace=timedelta(hours=1))
    assert isinstance(info.value.new_token, APIToken)
