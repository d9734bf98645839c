"""Token verbs against an in-memory Review Board 8.1 token resource."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import pytest

import rbtokens
from rbtokens import (
    APIToken,
    InvalidateNotPersistedError,
    PasswordLoginRequiredError,
    Policy,
    PolicyError,
    RBClient,
    RotationError,
    TokenNotFoundError,
    TokensError,
)
from rbtokens.errors import ConnectError
from rbtokens.tokens import ROTATION_KEY
from rbtokens.transport import Request, Response
from tools.standin.testing import BASE, FakeTokenServer, api_error, html

FAST = rbtokens.RetryPolicy(attempts=3, backoff=0.0)


def client_for(fake: FakeTokenServer, user: str = "admin", **kw: Any) -> RBClient:
    if "api_token" not in kw:
        kw.setdefault("username", user)
        kw.setdefault("password", f"{user}-pw")
    client = RBClient(BASE, transport=fake.transport, retry=FAST, **kw)
    client.tokens.recovery_delay = 0.0
    return client


def form_of(request: Request) -> dict[str, str]:
    return dict(parse_qsl((request.body or b"").decode(), keep_blank_values=True))


def writes(fake: FakeTokenServer, method: str) -> list[Request]:
    return [r for r in fake.requests if r.method == method]


@pytest.fixture
def fake() -> FakeTokenServer:
    return FakeTokenServer()


# -- who ------------------------------------------------------------------------


async def test_whoami_reads_the_session_once(fake: FakeTokenServer) -> None:
    async with client_for(fake, "bob") as client:
        assert await client.tokens.whoami() == "bob"
        assert await client.tokens.whoami() == "bob"
    sessions = [r for r in fake.requests if r.url.path == "/api/session/"]
    assert len(sessions) == 1


# -- create ---------------------------------------------------------------------


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


# -- get / find -----------------------------------------------------------------


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


# -- permissions ----------------------------------------------------------------


async def test_non_admin_is_refused_with_403(fake: FakeTokenServer) -> None:
    fake.add_token("alice")
    async with client_for(fake, "carol") as client:
        for call in (
            client.tokens.list("alice"),
            client.tokens.create("alice", note="x"),
            client.tokens.list(all_users=True),
        ):
            with pytest.raises(TokensError) as info:
                await call
            err = info.value
            assert not isinstance(err, PasswordLoginRequiredError)
            assert (err.http_status, err.error_code) == (403, 101)
            assert "administrator" in str(err)
            assert isinstance(err.__cause__, rbtokens.PermissionDeniedError)
        # carol may manage her own tokens
        mine = await client.tokens.create(note="carol's")
        assert (await client.tokens.list()).items == [mine]


async def test_non_admin_naming_a_missing_user_gets_a_server_bug_explained(
    fake: FakeTokenServer,
) -> None:
    async with client_for(fake, "carol") as client:
        with pytest.raises(TokensError, match="non-administrator names a user") as info:
            await client.tokens.list("ghost")
    assert info.value.http_status == 500


async def test_token_login_gets_password_login_required(fake: FakeTokenServer) -> None:
    secret = fake.add_token("alice")["token"]
    async with client_for(fake, api_token=secret) as client:
        with pytest.raises(PasswordLoginRequiredError, match="password") as info:
            await client.tokens.list()
    assert (info.value.http_status, info.value.error_code) == (403, 101)
    assert secret not in str(info.value)


async def test_wrong_password_is_a_tokens_error(fake: FakeTokenServer) -> None:
    async with RBClient(BASE, username="alice", password="nope", transport=fake.transport) as c:
        with pytest.raises(TokensError) as info:
            await c.tokens.list()
    assert (info.value.http_status, info.value.error_code) == (401, 104)


# -- list / Pager ---------------------------------------------------------------


@pytest.fixture
def seven(fake: FakeTokenServer) -> list[int]:
    return [fake.add_token("bob", note=f"bob {n}")["id"] for n in range(7)]


async def test_pager_describes_one_page(fake: FakeTokenServer, seven: list[int]) -> None:
    async with client_for(fake) as client:
        pager = await client.tokens.list("bob", per_page=3)
        assert (pager.page, pager.per_page, pager.total_items, pager.total_pages) == (1, 3, 7, 3)
        assert [t.id for t in pager.items] == seven[:3]
        assert [t.id for t in await pager.page_items()] == seven[:3]
        last = await client.tokens.list("bob", page=3, per_page=3)
        assert [t.id for t in last.items] == seven[6:]
        beyond = await client.tokens.list("bob", page=4, per_page=3)
        assert beyond.items == [] and beyond.total_items == 7
        second = await pager.next_page()
        assert second is not None and [t.id for t in second.items] == seven[3:6]
        assert await last.next_page() is None
        first = await second.prev_page()
        assert first is not None and first.page == 1 and await first.prev_page() is None
    queries = [r.url.query for r in fake.requests if r.url.path.endswith("/api-tokens/")]
    assert {"start": "6", "max-results": "3"} in [dict(q) for q in queries]


async def test_pager_iterates_from_its_page_to_the_last(
    fake: FakeTokenServer, seven: list[int]
) -> None:
    async with client_for(fake) as client:
        pager = await client.tokens.list("bob", page=2, per_page=3)
        assert [t.id async for t in pager] == seven[3:]
        assert [t.id for t in await pager.all()] == seven[3:]
        first = await client.tokens.list("bob", per_page=2)
        assert [t.id async for t in first] == seven


async def test_pager_indexing_across_pages(fake: FakeTokenServer, seven: list[int]) -> None:
    async with client_for(fake) as client:
        pager = await client.tokens.list("bob", per_page=3)
        assert (await pager[0]).id == seven[0]
        assert (await pager[4]).id == seven[4]
        assert (await pager[-1]).id == seven[-1]
        assert (await pager[-7]).id == seven[0]
        assert [t.id for t in await pager[1:5]] == seven[1:5]
        assert [t.id for t in await pager[-2:]] == seven[-2:]
        assert [t.id for t in await pager[::3]] == seven[::3]
        assert [t.id for t in await pager[::-2]] == seven[::-2]
        assert await pager[10:20] == []
        with pytest.raises(IndexError):
            await pager[7]
        with pytest.raises(IndexError):
            await pager[-8]
        with pytest.raises(TypeError):
            pager["x"]  # type: ignore[call-overload]
        # Indices count from the pager's own page; negatives from the last token.
        second = await pager.goto(2)
        assert (await second[0]).id == seven[3]
        assert (await second[-1]).id == seven[-1]
        assert [t.id for t in await second[:]] == seven[3:]
        with pytest.raises(IndexError):
            await second[4]


async def test_per_page_above_the_server_cap_is_fetched_in_chunks() -> None:
    fake = FakeTokenServer()
    ids = [fake.add_token("bob")["id"] for _ in range(205)]
    async with client_for(fake) as client:
        pager = await client.tokens.list("bob", per_page=203)
        assert [t.id for t in pager.items] == ids[:203]
        assert pager.total_pages == 2
        assert [t.id async for t in pager] == ids
    sizes = {int(r.url.query["max-results"]) for r in fake.requests if "max-results" in r.url.query}
    assert max(sizes) <= 200


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


# -- update ---------------------------------------------------------------------


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


# -- invalidate / revoke --------------------------------------------------------


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


# -- rotate ---------------------------------------------------------------------


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


# -- update argument checks -----------------------------------------------------


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


# -- errors ---------------------------------------------------------------------


async def test_html_500_outside_named_reads_is_not_blamed_on_a_missing_user(
    fake: FakeTokenServer,
) -> None:
    record = fake.add_token("alice", note="n")
    fake.inject("PUT", f"/api-tokens/{record['id']}/", lambda r: html(500))
    async with client_for(fake) as client:
        with pytest.raises(TokensError) as info:
            await client.tokens.update(record["id"], username="alice", note="x")
    text = str(info.value)
    assert "the server crashed (HTML 500)" in text and "non-administrator" not in text


async def test_guard_reraises_a_tokens_error_from_a_task_group_as_is(
    fake: FakeTokenServer,
) -> None:
    cause = ConnectError("reset", method="GET", url=BASE)
    err = TokensError("cannot do it", cause=cause)
    async with client_for(fake) as client:
        with pytest.raises(TokensError) as info, client.tokens._ops.guard("do it"):
            raise ExceptionGroup("workers", [err])
    assert info.value is err
    assert err.__cause__ is cause


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


# -- client.tokens --------------------------------------------------------------


async def test_client_keeps_one_tokens_object(fake: FakeTokenServer) -> None:
    async with client_for(fake, "bob") as client:
        assert client.tokens is client.tokens
        client.tokens.concurrency = 50
        assert client.tokens.concurrency == 50
        assert await client.tokens.whoami() == "bob"
    assert not hasattr(rbtokens.tokens, "_whoami_cache")


# -- listing robustness ---------------------------------------------------------


async def test_list_all_users_records_a_deleted_user(
    fake: FakeTokenServer, caplog: pytest.LogCaptureFixture
) -> None:
    for owner in ("alice", "bob", "bob", "carol"):
        fake.add_token(owner, note=owner)
    fake.inject(
        "GET", "/users/bob/api-tokens/", lambda r: api_error(404, 100, "Object does not exist")
    )
    async with client_for(fake) as client:
        pager = await client.tokens.list(all_users=True)
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
        pager = await client.tokens.list(all_users=True, per_page=1)
        assert [t.username async for t in pager] == ["alice", "carol"]
        assert not pager.complete
        (failure,) = pager.failures
        assert failure.username == "bob" and not failure.vanished
        assert failure.error.http_status == 503  # type: ignore[attr-defined]
        assert "bob" in str(failure)
        second = await pager.next_page()
        assert second is not None and second.failures == pager.failures
    assert any(r.levelno == logging.WARNING and "bob" in r.getMessage() for r in caplog.records)


async def test_pager_iteration_drops_tokens_seen_on_earlier_pages(
    fake: FakeTokenServer, seven: list[int]
) -> None:
    # The listing has no ORDER BY: a later chunk may repeat a token.
    def shifted(request: Request) -> Response:
        url = request.url.update_query(start=str(int(request.url.query["start"]) - 1))
        return fake.route(Request(request.method, url, request.headers, request.body))

    async with client_for(fake) as client:
        pager = await client.tokens.list("bob", per_page=2)
        fake.inject("GET", "/users/bob/api-tokens/", shifted)
        assert [t.id async for t in pager] == seven


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


# -- masking --------------------------------------------------------------------


async def test_secrets_are_masked_everywhere_but_the_attribute(
    fake: FakeTokenServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with client_for(fake) as client:
        token = await client.tokens.create("alice", note="secret holder")
        rotation = await client.tokens.rotate(token, grace=timedelta(hours=1))
        logging.getLogger("test").info("created %s and %r, rotated %s", token, token, rotation)
    secrets_ = [token.token, rotation.new_token.token]
    for secret in secrets_:
        assert secret.startswith("rbp_")
        for text in (repr(token), str(token), repr(rotation), str(rotation), caplog.text):
            assert secret not in text
        assert secret not in token.to_json() and secret not in rotation.new_token.to_json()
    assert "rbp_****" in repr(token)
    err = RotationError(f"failed with {token.token}", new_token=token)
    assert token.token not in str(err) and err.new_token.token == token.token
