"""``tokens.rotate`` when something fails: lost answers found by nonce; errors say what exists.

Against an in-memory Review Board 8.1 token resource (``FakeTokenServer``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from tokenkit import FAST, client_for, form_of, writes

from rbtokens import APIToken, RotationError
from rbtokens.errors import ConnectError
from rbtokens.tokens import ROTATION_KEY
from rbtokens.transport import Request, Response
from tools.standin.testing import FakeTokenServer, api_error, html


def _lost_after(fake: FakeTokenServer) -> Any:
    """A POST handler that creates the token and then loses the answer."""

    def handler(request: Request) -> Response:
        fake.route(request)
        raise ConnectError("connection reset", method="POST", url=str(request.url))

    return handler


async def test_rotate_recovers_a_created_token_whose_answer_was_lost(
    fake: FakeTokenServer,
) -> None:
    record = fake.add_token("alice", note="keep me")
    fake.add_token("alice", note="keep me")  # an unrelated token with the same note
    fake.inject("POST", "/api-tokens/", _lost_after(fake))
    async with client_for(fake) as client:
        rotation = await client.tokens.rotate(record["id"], username="alice")
    new_id = rotation.new_token.id
    assert fake.tokens[new_id]["token"] == rotation.new_token.token
    assert new_id == max(fake.tokens)  # the one the POST created, not the look-alike
    assert ROTATION_KEY not in rotation.new_token.extra_data
    assert rotation.old_token is not None and rotation.old_expires is not None


async def test_rotate_keeps_going_when_the_nonce_cannot_be_removed(
    fake: FakeTokenServer, caplog: pytest.LogCaptureFixture
) -> None:
    record = fake.add_token("alice", note="n", extra_data={"team": "infra"})
    for _ in range(FAST.attempts):
        fake.inject("PUT", f"/api-tokens/{fake.next_id}/", lambda r: html(503))
    caplog.set_level(logging.WARNING, logger="rbtokens")
    async with client_for(fake) as client:
        rotation = await client.tokens.rotate(record["id"], username="alice", grace=timedelta(0))
    new = rotation.new_token
    assert rotation.old_deleted and fake.tokens[new.id]["token"] == new.token
    assert set(new.extra_data) == {"team", ROTATION_KEY}
    assert f"replacement token {new.id} keeps extra_data['{ROTATION_KEY}']" in caplog.text


async def test_rotate_never_adopts_another_token_with_the_same_note(
    fake: FakeTokenServer,
) -> None:
    # The POST never arrives; meanwhile another job creates a full-access
    # token with the same note. Recovery by note would adopt it, then delete
    # the old token.
    ro = {"resources": {"*": {"allow": ["GET"], "block": ["*"]}}}
    record = fake.add_token("alice", note="deploy", policy=ro)

    def never_arrives(request: Request) -> Response:
        fake.add_token("alice", note="deploy", policy={})
        raise ConnectError("connection refused", method="POST", url=str(request.url))

    fake.inject("POST", "/api-tokens/", never_arrives)
    async with client_for(fake) as client:
        with pytest.raises(RotationError) as info:
            await client.tokens.rotate(record["id"], username="alice", grace=timedelta(0))
    assert info.value.new_token is None and info.value.possibly_created
    assert record["id"] in fake.tokens and not writes(fake, "DELETE")


def _gateway_timeout(fake: FakeTokenServer, pending: list[Request]) -> Any:
    """A POST handler: a proxy's 504 while the server goes on with the request."""

    def handler(request: Request) -> Response:
        pending.append(request)
        return html(504)

    return handler


async def test_rotate_after_a_504_finds_a_replacement_created_late(
    fake: FakeTokenServer,
) -> None:
    record = fake.add_token("alice", note="n")
    pending: list[Request] = []
    fake.inject("POST", "/api-tokens/", _gateway_timeout(fake, pending))

    def list_then_finish(request: Request) -> Response:
        answer = fake.route(request)
        fake.route(pending[0])  # the upstream finishes the POST after the first look
        return answer

    fake.inject("GET", "/users/alice/api-tokens/", list_then_finish)
    async with client_for(fake) as client:
        rotation = await client.tokens.rotate(record["id"], username="alice")
    assert fake.tokens[rotation.new_token.id]["token"] == rotation.new_token.token
    lists = [r for r in fake.requests if r.method == "GET" and r.url.path.endswith("-tokens/")]
    assert len(lists) == 2


async def test_rotate_after_a_504_says_the_token_may_still_be_created(
    fake: FakeTokenServer,
) -> None:
    record = fake.add_token("alice", note="n")
    pending: list[Request] = []
    fake.inject("POST", "/api-tokens/", _gateway_timeout(fake, pending))
    async with client_for(fake) as client:
        with pytest.raises(RotationError) as info:
            await client.tokens.rotate(record["id"], username="alice")
    err = info.value
    assert err.possibly_created and err.new_token is None and err.http_status == 504
    assert "none was created" not in str(err)
    nonce = json.loads(form_of(pending[0])["extra_data:json"])[ROTATION_KEY]
    assert f"extra_data['{ROTATION_KEY}'] is '{nonce}'" in str(err)
    fake.route(pending[0])  # it was created after all: the nonce identifies it
    (late,) = [t for t in fake.tokens_of("alice") if t["extra_data"].get(ROTATION_KEY) == nonce]
    assert late["id"] != record["id"]


async def test_rotate_lists_every_candidate_when_the_create_was_answered_twice(
    fake: FakeTokenServer,
) -> None:
    record = fake.add_token("alice", note="n")

    def twice(request: Request) -> Response:
        fake.route(request)
        fake.route(request)
        raise ConnectError("reset", method="POST", url=str(request.url))

    fake.inject("POST", "/api-tokens/", twice)
    async with client_for(fake) as client:
        with pytest.raises(RotationError) as info:
            await client.tokens.rotate(record["id"], username="alice")
    err = info.value
    assert err.new_token is None and err.possibly_created
    assert len(err.candidates) == 2
    assert all(isinstance(t, APIToken) for t in err.candidates)
    for token in err.candidates:
        assert fake.tokens[token.id]["token"] == token.token
        assert token.token not in str(err)
    assert "RotationError.candidates" in str(err)
    assert fake.tokens[record["id"]]["expires"] is None  # the old token was left alone


async def test_rotate_without_an_answer_says_a_token_may_still_be_created(
    fake: FakeTokenServer,
) -> None:
    # A refused connection and a lost answer look the same to the client.
    record = fake.add_token("alice", note="n")

    def refuse(request: Request) -> Response:
        raise ConnectError("connection refused", method="POST", url=str(request.url))

    fake.inject("POST", "/api-tokens/", refuse)
    async with client_for(fake) as client:
        with pytest.raises(RotationError) as info:
            await client.tokens.rotate(record["id"], username="alice")
    err = info.value
    assert err.new_token is None and err.candidates == [] and err.possibly_created
    assert err.old_token.id == record["id"]
    nonce = json.loads(form_of(writes(fake, "POST")[0])["extra_data:json"])[ROTATION_KEY]
    assert "may still create it" in str(err) and repr(nonce) in str(err)
    assert "still usable" in str(err)
    assert len(fake.tokens_of("alice")) == 1 and not writes(fake, "PUT")


async def test_rotate_create_refused_by_the_server(fake: FakeTokenServer) -> None:
    record = fake.add_token("alice", note="n")
    fake.inject(
        "POST", "/api-tokens/", lambda r: api_error(400, 105, "One or more fields had errors")
    )
    async with client_for(fake) as client:
        with pytest.raises(RotationError, match="nothing was created") as info:
            await client.tokens.rotate(record["id"], username="alice")
    assert info.value.error_code == 105 and info.value.new_token is None
    assert not info.value.possibly_created and info.value.candidates == []
    # Nothing was listed: the nonce makes a listing before the create unnecessary.
    assert [r.method for r in fake.requests if r.url.path.endswith("/api-tokens/")] == ["POST"]


async def test_rotate_keeps_the_secret_when_retiring_fails(
    fake: FakeTokenServer, caplog: pytest.LogCaptureFixture
) -> None:
    record = fake.add_token("alice", note="n")
    fake.inject("PUT", f"/api-tokens/{record['id']}/", lambda r: html(500))
    caplog.set_level(logging.DEBUG, logger="rbtokens")
    async with client_for(fake) as client:
        with pytest.raises(RotationError) as info:
            await client.tokens.rotate(record["id"], username="alice", grace=timedelta(hours=1))
    err = info.value
    new = err.new_token
    assert isinstance(new, APIToken) and fake.tokens[new.id]["token"] == new.token
    assert err.old_token.id == record["id"] and err.old_token.expires is None
    text = str(err)
    assert f"replacement token {new.id} was created" in text
    assert "unchanged and still usable" in text
    assert new.token not in text and record["token"] not in text
    assert new.token not in caplog.text and record["token"] not in caplog.text


async def test_rotate_reports_unknown_old_state(fake: FakeTokenServer) -> None:
    record = fake.add_token("alice", note="n")
    path = f"/api-tokens/{record['id']}/"
    fake.inject("PUT", path, lambda r: html(502))
    async with client_for(fake) as client:
        token = await client.tokens.get(record["id"], username="alice")
        for _ in range(FAST.attempts):
            fake.inject("GET", path, lambda r: html(503))
        # rotate() re-reads the old token first, so let that one through:
        fake.injections.insert(0, ("GET", path, fake.route))
        with pytest.raises(RotationError, match="unknown state") as info:
            await client.tokens.rotate(token)
    assert isinstance(info.value.new_token, APIToken)
    assert info.value.old_token is None


async def test_rotate_wraps_an_unexpected_error_after_the_create(fake: FakeTokenServer) -> None:
    record = fake.add_token("alice", note="n")

    def broken(request: Request) -> Response:
        raise RuntimeError("a bug in the PUT path")

    fake.inject("PUT", f"/api-tokens/{record['id']}/", broken)
    async with client_for(fake) as client:
        with pytest.raises(RotationError) as info:
            await client.tokens.rotate(record["id"], username="alice", grace=timedelta(hours=1))
    new = info.value.new_token
    assert isinstance(new, APIToken) and fake.tokens[new.id]["token"] == new.token
    assert isinstance(info.value.__cause__, RuntimeError)
    assert "RuntimeError: a bug in the PUT path" in str(info.value)
    assert "the old token is unchanged and still usable" in str(info.value)


async def test_rotate_cancelled_while_retiring_keeps_the_replacement(
    fake: FakeTokenServer, caplog: pytest.LogCaptureFixture
) -> None:
    record = fake.add_token("alice", note="n")
    started = asyncio.Event()

    async def slow(request: Request) -> Response:
        started.set()
        await asyncio.sleep(10)
        return fake.route(request)

    fake.inject("PUT", f"/api-tokens/{record['id']}/", slow)
    caplog.set_level(logging.INFO, logger="rbtokens")
    async with client_for(fake) as client:
        task = asyncio.ensure_future(
            client.tokens.rotate(record["id"], username="alice", grace=timedelta(hours=1))
        )
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError) as info:
            await task
    new = info.value.new_token  # type: ignore[attr-defined]
    assert isinstance(new, APIToken) and fake.tokens[new.id]["token"] == new.token
    notes = "\n".join(info.value.__notes__)
    assert f"replacement token {new.id}" in notes and new.token not in notes
    assert f"token {new.id}" in caplog.text and new.token not in caplog.text


async def test_rotate_cancelled_while_creating_names_the_nonce(fake: FakeTokenServer) -> None:
    record = fake.add_token("alice", note="n")
    started = asyncio.Event()

    async def slow(request: Request) -> Response:
        started.set()
        await asyncio.sleep(10)
        return fake.route(request)

    fake.inject("POST", "/api-tokens/", slow)
    async with client_for(fake) as client:
        task = asyncio.ensure_future(client.tokens.rotate(record["id"], username="alice"))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError) as info:
            await task
    nonce = json.loads(form_of(writes(fake, "POST")[0])["extra_data:json"])[ROTATION_KEY]
    assert any(nonce in note for note in info.value.__notes__)
