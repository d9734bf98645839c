"""Logins, the session cookie and the superuser-or-owner rule, over the socket."""

from __future__ import annotations

import re

import aiohttp
import pytest
from payloads import body as fixture_body
from standinkit import MIME, get

from rbtokens import (
    DoesNotExistError,
    LoginFailedError,
    NotLoggedInError,
    PermissionDeniedError,
)
from tools.standin import (
    StandIn,
)


async def test_token_lists_need_a_login(rb: StandIn, http: aiohttp.ClientSession) -> None:
    ans = await get(http, rb.api_url + "users/audit_00001/api-tokens/", auth=None)
    assert ans.status == 401
    assert ans.headers["content-type"] == MIME.format("error")
    assert ans.headers["www-authenticate"] == 'Basic realm="Web API"'
    assert ans.json() == fixture_body("error-401-not-logged-in.json")
    with pytest.raises(NotLoggedInError):
        ans.decode()
    # Anonymous users may still read the users list, as on Review Board.
    assert (await get(http, rb.api_url + "users/", auth=None)).status == 200


async def test_basic_login_sets_a_cookie_and_is_counted(
    rb: StandIn, http: aiohttp.ClientSession
) -> None:
    before = rb.stats.logins
    first = await get(http, rb.api_url)
    assert rb.stats.logins == before + 1
    cookie = first.headers["set-cookie"]
    assert re.match(
        r"rbsessionid=[0-9a-f]+; HttpOnly; Max-Age=31536000; Path=/; SameSite=Lax", cookie
    )
    sid = cookie.split(";")[0]
    tokens = await get(
        http, rb.api_url + "users/audit_00001/api-tokens/", auth=None, headers={"Cookie": sid}
    )
    assert tokens.status == 200
    # The same user's Basic header with a live cookie is not checked again.
    again = await get(http, rb.api_url, headers={"Cookie": sid})
    assert rb.stats.logins == before + 1
    assert "set-cookie" not in again.headers

    wrong = await get(http, rb.api_url, auth=aiohttp.encode_basic_auth("admin", "nope"))
    assert wrong.status == 401
    assert wrong.json() == fixture_body("error-401-bad-password.json")
    with pytest.raises(LoginFailedError):
        wrong.decode()
    assert rb.stats.failed_logins >= 1


async def test_permissions(rb: StandIn, http: aiohttp.ClientSession) -> None:
    alice = aiohttp.encode_basic_auth("audit_00001", "password")
    own = await get(http, rb.api_url + "users/audit_00001/api-tokens/", auth=alice)
    assert own.status == 200
    other = await get(http, rb.api_url + "users/audit_00002/api-tokens/", auth=alice)
    assert other.status == 403
    with pytest.raises(PermissionDeniedError):
        other.decode()
    missing_admin = await get(http, rb.api_url + "users/nobody/api-tokens/")
    assert missing_admin.json() == fixture_body("error-404-no-user.json")
    with pytest.raises(DoesNotExistError):
        missing_admin.decode()
    missing_user = await get(http, rb.api_url + "users/nobody/api-tokens/", auth=alice)
    assert missing_user.status == 500  # Review Board 8.1 crashes here
    assert missing_user.headers["content-type"].startswith("text/html")
