"""Token verbs against the real Review Board 8.1 site the suite starts.

Every token created here belongs to alice, bob or carol and is deleted after
each test (the audit tests expect exactly the seeded tokens). Requests that
must fail a login carry ``X-Real-IP`` so the server's per-IP lockout does not
hit 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rbtokens import (
    APIToken,
    InvalidateNotPersistedError,
    PasswordLoginRequiredError,
    Policy,
    PolicyError,
    RBClient,
    ServerBugError,
    TokensError,
)
from rbtokens.errors import LoginFailedError, PermissionDeniedError
from rbtokens.policy import POLICY_IDS, policy_warnings, validate_policy
from rbtokens.tokens import ROTATION_KEY

pytestmark = pytest.mark.integration

TEST_OWNERS = ("alice", "bob", "carol")


def password(site: Any, username: str) -> str:
    for user in site.manifest["users"]:
        if user["username"] == username:
            return str(user["password"])
    raise KeyError(username)


def admin(site: Any, **kw: Any) -> RBClient:
    return RBClient(site.url, username=site.admin_username, password=site.admin_password, **kw)


def login(site: Any, username: str, **kw: Any) -> RBClient:
    return RBClient(site.url, username=username, password=password(site, username), **kw)


def with_token(site: Any, secret: str, ip: int | None = None) -> RBClient:
    headers = {"X-Real-IP": f"10.77.0.{ip}"} if ip is not None else None
    return RBClient(site.url, api_token=secret, headers=headers)


async def authenticates(site: Any, secret: str, *, ip: int) -> str | None:
    """The username a token logs in as, or None if the server refuses it."""
    async with with_token(site, secret, ip) as client:
        try:
            return (await client.get_session()).username
        except LoginFailedError:
            return None


@pytest.fixture(autouse=True)
async def no_leftover_tokens(rb_site: Any) -> AsyncIterator[None]:
    """Delete every token of the test users after each test."""
    yield
    async with admin(rb_site) as client:
        for owner in TEST_OWNERS:
            for token in await (await client.tokens.list(owner, per_page=200)).all():
                await client.tokens.revoke(token)
            assert (await client.tokens.list(owner)).total_items == 0


async def test_admin_manages_another_users_tokens(rb_site: Any) -> None:
    async with admin(rb_site) as client:
        tokens = client.tokens
        assert await tokens.whoami() == "admin"
        created = await tokens.create(
            "alice",
            note="integration: admin for alice",
            policy=Policy.read_only(),
            expires_in=timedelta(days=7),
            extra_data={"ticket": "0042", "flags": {"ci": True}},
        )
        assert created.username == "alice" and created.token.startswith("rbp_")
        assert len(created.token) == 255 and created.usable
        assert created.extra_data == {"ticket": "0042", "flags": {"ci": True}}

        fetched = await tokens.get(created.id, username="alice")
        assert fetched.policy == Policy.read_only().to_dict()
        assert fetched.expires is not None
        assert abs(fetched.expires - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=1)
        assert [t.id for t in (await tokens.list("alice")).items] == [created.id]

        updated = await tokens.update(
            created,
            note="integration: renamed",
            expires=None,
            extra_data={"ticket": None, "owner": "team-a"},
            extra_data_patch=[{"op": "add", "path": "/patched", "value": [1, 2]}],
        )
        assert updated.note == "integration: renamed" and updated.expires is None
        again = await tokens.get(created.id, username="alice")
        assert again.note == "integration: renamed" and again.expires is None
        assert again.extra_data["owner"] == "team-a"
        assert again.extra_data["patched"] == [1, 2]
        assert "ticket" not in again.extra_data

        # The secret really works, as alice, and its read-only policy holds.
        assert await authenticates(rb_site, created.token, ip=201) == "alice"
        async with with_token(rb_site, created.token) as as_alice:
            user = await (await as_alice.get_root()).get_user(username="alice")
            with pytest.raises(PermissionDeniedError):
                await as_alice.request("PUT", user.href, data={"first_name": "Mallory"})

        await tokens.revoke(created)
        assert await tokens.find(created.id, username="alice") is None
        assert await authenticates(rb_site, created.token, ip=201) is None


async def test_non_admin_is_refused_with_403(rb_site: Any) -> None:
    async with admin(rb_site) as client:
        alices = await client.tokens.create("alice", note="integration: alice's")
    async with login(rb_site, "carol") as carol:
        attempts = [
            carol.tokens.list("alice"),
            carol.tokens.get(alices.id, username="alice"),
            carol.tokens.create("alice", note="integration: not allowed"),
            carol.tokens.revoke(alices.id, username="alice"),
            carol.tokens.list(all_users=True),
        ]
        for attempt in attempts:
            with pytest.raises(TokensError) as info:
                await attempt
            assert (info.value.http_status, info.value.error_code) == (403, 101)
            assert not isinstance(info.value, PasswordLoginRequiredError)
        # ... but carol manages her own.
        mine = await carol.tokens.create(note="integration: carol's own")
        assert [t.id for t in (await carol.tokens.list()).items] == [mine.id]
        await carol.tokens.revoke(mine)
    async with admin(rb_site) as client:
        assert (await client.tokens.get(alices.id, username="alice")).id == alices.id


async def test_token_login_cannot_manage_tokens(rb_site: Any) -> None:
    async with login(rb_site, "alice") as alice:
        token = await alice.tokens.create(note="integration: token login")
    async with with_token(rb_site, token.token) as client:
        for attempt in (client.tokens.list(), client.tokens.create(note="integration: nope")):
            with pytest.raises(PasswordLoginRequiredError, match="password") as info:
                await attempt
            assert (info.value.http_status, info.value.error_code) == (403, 101)
            assert token.token not in str(info.value)


async def test_wrong_password_is_a_tokens_error(rb_site: Any) -> None:
    headers = {"X-Real-IP": "10.77.0.202"}
    async with RBClient(rb_site.url, username="alice", password="wrong", headers=headers) as c:
        with pytest.raises(TokensError) as info:
            await c.tokens.list()
    assert (info.value.http_status, info.value.error_code) == (401, 104)


async def test_pagination_across_pages(rb_site: Any) -> None:
    async with admin(rb_site) as client:
        created = await asyncio.gather(
            *(client.tokens.create("bob", note=f"integration: page {n}") for n in range(7))
        )
        ids = sorted(t.id for t in created)
        pager = await client.tokens.list("bob", per_page=3)
        assert (pager.page, pager.per_page, pager.total_items, pager.total_pages) == (1, 3, 7, 3)
        pages = [pager.items]
        nxt = await pager.next_page()
        while nxt is not None:
            pages.append(nxt.items)
            nxt = await nxt.next_page()
        assert [len(p) for p in pages] == [3, 3, 1]
        listing = [t.id for page in pages for t in page]
        assert sorted(listing) == ids
        assert [t.id async for t in pager] == listing
        second = await client.tokens.list("bob", page=2, per_page=3)
        assert [t.id async for t in second] == listing[3:]
        assert (await pager[-1]).id == listing[-1]
        assert [t.id for t in await pager[2:5]] == listing[2:5]
        assert (await second[0]).id == listing[3]
        searched = await client.tokens.list("bob", search="PAGE 6", per_page=3)
        assert [t.note for t in searched.items] == ["integration: page 6"]
    # the server really paged: the last page request asked for start=6
    # (checked implicitly: page 3 has exactly one token).


async def test_all_users_lists_every_token_including_inactive_owners(rb_site: Any) -> None:
    manifest = rb_site.manifest
    expected = len(manifest["tokens"]) + sum(u["token_count"] for u in manifest["other_users"])
    inactive = {u["username"] for u in manifest["users"] if not u["is_active"] and u["token_ids"]}
    async with admin(rb_site) as client:
        pager = await client.tokens.list(all_users=True, per_page=5)
        assert pager.failures == [] and pager.complete
        everything = await pager.all()
        assert pager.total_items == expected == len(everything)
        assert pager.total_pages == -(-expected // 5)
        owners = {t.username for t in everything}
        assert inactive and inactive <= owners
        seeded = {t["id"]: t["username"] for t in manifest["tokens"]}
        assert {t.id: t.username for t in everything if t.id in seeded} == seeded
        unusable = await client.tokens.list(all_users=True, valid=False)
        assert {t.id for t in unusable.items} == {
            t["id"] for t in manifest["tokens"] if not t["valid"]
        }


async def test_rotation_with_grace_read_back(rb_site: Any) -> None:
    policy = (
        Policy.deny_all()
        .allow("root", "GET")
        .allow("session", "GET")
        .allow("user", "GET", obj="alice")
    )
    assert policy.warnings() == []
    async with login(rb_site, "alice") as alice:
        old = await alice.tokens.create(
            note="integration: rotate me",
            policy=policy,
            expires_in=timedelta(days=30),
            extra_data={"team": "infra", "n": 1},
        )
        rotation = await alice.tokens.rotate(old, grace=timedelta(hours=2))
        new = rotation.new_token
        assert new.id != old.id and new.token != old.token

        new_back = await alice.tokens.get(new.id)
        old_back = await alice.tokens.get(old.id)
    assert (new_back.note, new_back.policy) == ("integration: rotate me", policy.to_dict())
    assert new_back.extra_data == {"team": "infra", "n": 1}  # the nonce was removed again
    assert new_back.expires is not None
    assert abs(new_back.expires - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=1)
    assert old_back.expires is not None and rotation.old_expires is not None
    assert abs(old_back.expires - (datetime.now(UTC) + timedelta(hours=2))) < timedelta(minutes=1)
    assert abs(old_back.expires - rotation.old_expires) < timedelta(seconds=1)
    assert old_back.usable and new_back.usable
    # Both secrets work during the grace period.
    assert await authenticates(rb_site, old.token, ip=203) == "alice"
    assert await authenticates(rb_site, new.token, ip=203) == "alice"


async def test_the_rotation_nonce_is_stored_and_listed_with_the_secret(rb_site: Any) -> None:
    # What recovery after a lost create relies on: the server keeps the key
    # (it does not start with "__"), and a listing returns the secret.
    async with login(rb_site, "carol") as carol:
        tagged = await carol.tokens.create(
            note="integration: nonce", extra_data={ROTATION_KEY: "0123abcd" * 4}
        )
        listed = [
            t
            for t in (await carol.tokens.list()).items
            if t.extra_data.get(ROTATION_KEY) == "0123abcd" * 4
        ]
        assert [(t.id, t.token) for t in listed] == [(tagged.id, tagged.token)]
        untagged = await carol.tokens.update(tagged, extra_data={ROTATION_KEY: None})
        assert ROTATION_KEY not in untagged.extra_data and untagged.token == tagged.token


async def test_grace_expiry_stops_new_logins_but_only_deletion_ends_sessions(
    rb_site: Any,
) -> None:
    async with login(rb_site, "alice") as alice:
        old = await alice.tokens.create(note="integration: session survival")
        async with with_token(rb_site, old.token, ip=206) as session:
            assert (await session.get_session()).username == "alice"
            assert session.has_session_cookie
            rotation = await alice.tokens.rotate(old, grace=timedelta(seconds=1))
            await asyncio.sleep(2)
            assert not (await alice.tokens.get(old.id)).usable
            # New logins with the old token fail once the grace period is over...
            assert await authenticates(rb_site, old.token, ip=207) is None
            # ...but the session it opened still works, as the docs say.
            assert (await session.get_session()).username == "alice"
            # Deleting the old token is what ends that session.
            await alice.tokens.revoke(old)
            try:
                after = await session.get_session()
            except LoginFailedError:
                pass  # logged out, and the token no longer logs in
            else:
                assert not after.authenticated, "the session outlived the token's deletion"
        assert rotation.new_token.usable


async def test_rotation_without_grace_removes_the_old_token(rb_site: Any) -> None:
    async with login(rb_site, "bob") as bob:
        old = await bob.tokens.create(note="integration: rotate now")
        rotation = await bob.tokens.rotate(old.id, grace=timedelta(0))
        # 8.1 does not persist PUT valid=false, so the old token is deleted instead.
        assert rotation.old_deleted and rotation.old_token is None
        assert await bob.tokens.find(old.id) is None
        assert (await bob.tokens.get(rotation.new_token.id)).note == "integration: rotate now"
    assert await authenticates(rb_site, old.token, ip=204) is None
    assert await authenticates(rb_site, rotation.new_token.token, ip=204) == "bob"


async def test_invalidate_is_not_persisted_by_8_1(rb_site: Any) -> None:
    async with admin(rb_site) as client:
        token = await client.tokens.create("alice", note="integration: invalidate me")
        with pytest.raises(InvalidateNotPersistedError, match="did not save"):
            await client.tokens.invalidate(token, reason="integration test")
        # Confirmed: the record is unchanged and the token still authenticates.
        again = await client.tokens.get(token.id, username="alice")
        assert again.valid and again.invalid_reason == ""
        assert await authenticates(rb_site, token.token, ip=205) == "alice"

        result = await client.tokens.invalidate(
            token, reason="integration test", delete_if_not_persisted=True
        )
        assert result is None
        assert await client.tokens.find(token.id, username="alice") is None
    assert await authenticates(rb_site, token.token, ip=205) is None


async def test_server_side_invalidation_is_seen(rb_site: Any) -> None:
    async with admin(rb_site) as client:
        token = await client.tokens.create("bob", note="integration: invalidated by the ORM")
        rb_site.manage(
            "WebAPIToken.objects.invalidate_token("
            f"token={token.token!r}, invalid_reason='integration')"
        )
        # Now the PUT finds an invalid token and its answer says so.
        result = await client.tokens.invalidate(token, reason="again")
        assert result is not None and not result.valid and not result.usable
        assert result.invalid_date is not None


async def test_secrets_are_masked(rb_site: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with login(rb_site, "alice") as alice:
        token = await alice.tokens.create(note="integration: masking")
        rotation = await alice.tokens.rotate(token, grace=timedelta(minutes=5))
        logging.getLogger("integration").warning("token %s / %r / %s", token, token, rotation)
        with pytest.raises(InvalidateNotPersistedError) as not_saved:
            await alice.tokens.invalidate(rotation.new_token, reason="mask check")
        error_text = str(not_saved.value) + repr(not_saved.value)
    async with with_token(rb_site, token.token) as as_token:
        with pytest.raises(TokensError) as info:
            await as_token.tokens.list()
    texts = [
        repr(token),
        str(token),
        repr(rotation),
        caplog.text,
        error_text,
        str(info.value),
        token.to_json(),
        token.to_yaml(),
    ]
    for secret in (token.token, rotation.new_token.token):
        assert secret.startswith("rbp_")
        for text in texts:
            assert secret not in text
    assert "rbp_****" in repr(token)
    assert token.to_dict(include_secret=True)["token"] == token.token


async def test_export_round_trips_a_real_token(rb_site: Any) -> None:
    async with login(rb_site, "bob") as bob:
        token = await bob.tokens.create(
            note="integration: export", policy=Policy.read_only(), extra_data={"k": [1]}
        )
        fetched = await bob.tokens.get(token.id)
    for restored in (
        APIToken.from_dict(fetched.to_dict(include_secret=True)),
        APIToken.from_json(fetched.to_json(include_secret=True)),
        APIToken.from_yaml(fetched.to_yaml(include_secret=True)),
    ):
        assert restored == fetched and restored.username == "bob"
    masked = json.loads(fetched.to_json())
    assert masked["token"] == "rbp_****" and masked["username"] == "bob"


# -- policies -------------------------------------------------------------------


async def test_policy_ids_are_the_servers(rb_site: Any) -> None:
    out = rb_site.manage(
        "import json\n"
        "from reviewboard.webapi.resources import resources\n"
        "ids = WebAPIToken._get_valid_policy_ids(resources.root)\n"
        "print(json.dumps(sorted(ids)))\n"
    )
    assert json.loads(out.strip().splitlines()[-1]) == list(POLICY_IDS)


BAD_POLICIES: list[Any] = [
    [],
    {"foo": 1},
    {"resources": []},
    {"resources": {}},
    {"resources": {"*": []}},
    {"resources": {"*": {}}},
    {"resources": {"*": {"allow": "GET"}}},
    {"resources": {"*": {"block": {}}}},
    {"resources": {"users": {"*": {"allow": []}}}},
    {"resources": {"user": {"alice": {"deny": []}}}},
    {"resources": {"user": {"*": {"allow": ["GET"]}, "bob": 1}}},
]


async def test_local_validation_gives_the_servers_messages(rb_site: Any) -> None:
    out = rb_site.manage(
        "import json\n"
        "from django.core.exceptions import ValidationError\n"
        f"cases = json.loads({json.dumps(json.dumps(BAD_POLICIES))})\n"
        "msgs = []\n"
        "for case in cases:\n"
        "    try:\n"
        "        WebAPIToken.validate_policy(case)\n"
        "        msgs.append(None)\n"
        "    except ValidationError as e:\n"
        "        msgs.append(str(e.message))\n"
        "print(json.dumps(msgs))\n"
    )
    server = json.loads(out.strip().splitlines()[-1])
    ours = []
    for case in BAD_POLICIES:
        try:
            validate_policy(case)
            ours.append(None)
        except PolicyError as exc:
            ours.append(str(exc))
    assert ours == server
    assert None not in server


async def test_invalid_policy_on_post_still_crashes_the_server(rb_site: Any) -> None:
    bad = {"resources": {"no_such_resource": {"*": {"allow": ["GET"]}}}}
    async with login(rb_site, "alice") as alice:
        with pytest.raises(PolicyError):
            await alice.tokens.create(note="integration: bad policy", policy=bad)
        with pytest.raises(TokensError) as info:
            await alice.tokens.create(
                note="integration: bad policy", policy=bad, allow_unknown_policy_ids=True
            )
        assert info.value.http_status == 500 and not isinstance(info.value, PolicyError)
        assert isinstance(info.value.__cause__, ServerBugError)
        assert (await alice.tokens.list()).total_items == 0
        # PUT validates properly: a 400 with the server's message, as a PolicyError.
        token = await alice.tokens.create(note="integration: good policy")
        with pytest.raises(PolicyError) as put_info:
            await alice.tokens.update(token, policy=bad, allow_unknown_policy_ids=True)
        assert put_info.value.fields == {
            "policy": ['"no_such_resource" is not a valid resource policy ID.']
        }


async def test_per_object_entry_breaks_the_user_list_as_warned(rb_site: Any) -> None:
    broken = Policy().block("user", obj="bob").allow("user")
    fine = (
        Policy.deny_all()
        .allow("root", "GET")
        .allow("session", "GET")
        .allow("user", "GET", obj="alice")
    )
    assert policy_warnings(broken) and not policy_warnings(fine)
    async with login(rb_site, "alice") as alice:
        bad_token = await alice.tokens.create(note="integration: per-object", policy=broken)
        good_token = await alice.tokens.create(note="integration: scoped", policy=fine)
    async with with_token(rb_site, bad_token.token) as client:
        with pytest.raises(ServerBugError):
            await (await client.get_root()).get_users()
    async with with_token(rb_site, good_token.token) as client:
        root = await client.get_root()
        with pytest.raises(PermissionDeniedError):
            await root.get_users()
        assert (await root.get_user(username="alice")).username == "alice"
        with pytest.raises(PermissionDeniedError):
            await root.get_user(username="bob")
