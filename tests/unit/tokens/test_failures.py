"""How server refusals and crashes become ``TokensError``s that say what happened.

Against an in-memory Review Board 8.1 token resource (``FakeTokenServer``).
"""

from __future__ import annotations

import pytest
from tokenkit import client_for

import rbtokens
from rbtokens import PasswordLoginRequiredError, RBClient, TokensError
from rbtokens.errors import ConnectError
from tools.standin.testing import BASE, FakeTokenServer, html


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
