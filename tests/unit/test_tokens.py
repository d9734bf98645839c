"""Token verbs against an in-memory Review Board 8.1 token resource."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import pytest
from tokenfake import BASE, FakeTokenServer, api_error, html

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
from rbtokens.transport import Request, Response

FAST = rbtokens.RetryPolicy(attempts=3, backoff=0.0)


def client_for(fake: FakeTokenServer, user: str = "admin", **kw: Any) -> RBClient:
    if "api_token" not in kw:
        kw.setdefault("username", user)
        kw.setdefault("password", f"{user}-pw")
    return RBClient(BASE, transport=fake.transport, retry=FAST, **kw)


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
        assert new.extra_data == {"team": "infra"}
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
    assert not writes(fake, "PUT")


async def test_rotate_without_grace_deletes_on_8_1(fake: FakeTokenServer) -> None:
    record = fake.add_token("alice", note="n")
    async with client_for(fake) as client:
        rotation = await client.tokens.rotate(record["id"], username="alice", grace=timedelta(0))
    assert rotation.old_deleted and rotation.old_token is None
    assert [t["id"] for t in fake.tokens_of("alice")] == [rotation.new_token.id]


async def test_rotate_without_grace_invalidates_where_supported() -> None:
    fake = FakeTokenServer(invalidate_persists=True)
    record = fake.add_token("alice", note="n")
    async with client_for(fake) as client:
        rotation = await client.tokens.rotate(record["id"], username="alice", grace=timedelta(0))
    assert not rotation.old_deleted
    assert rotation.old_token is not None and not rotation.old_token.valid
    assert f"replaced by token {rotation.new_token.id}" in rotation.old_token.invalid_reason


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
    assert rotation.old_token is not None and rotation.old_expires is not None


async def test_rotate_reports_nothing_created_when_the_post_never_arrived(
    fake: FakeTokenServer,
) -> None:
    record = fake.add_token("alice", note="n")

    def refuse(request: Request) -> Response:
        raise ConnectError("connection refused", method="POST", url=str(request.url))

    fake.inject("POST", "/api-tokens/", refuse)
    async with client_for(fake) as client:
        with pytest.raises(RotationError) as info:
            await client.tokens.rotate(record["id"], username="alice")
    err = info.value
    assert err.new_token is None and err.old_token.id == record["id"]
    assert "no new token appeared" in str(err) and "still usable" in str(err)
    assert len(fake.tokens_of("alice")) == 1


async def test_rotate_create_refused_by_the_server(fake: FakeTokenServer) -> None:
    record = fake.add_token("alice", note="n")
    fake.inject(
        "POST", "/api-tokens/", lambda r: api_error(400, 105, "One or more fields had errors")
    )
    async with client_for(fake) as client:
        with pytest.raises(RotationError, match="nothing was created") as info:
            await client.tokens.rotate(record["id"], username="alice")
    assert info.value.error_code == 105 and info.value.new_token is None


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
