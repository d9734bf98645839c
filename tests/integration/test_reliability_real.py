"""Conditional requests and the login lockout, against a real Review Board 8.1.

The lockout test sends its logins with a spoofed ``X-Real-IP`` (Review Board
keys its login rate limit on it), so 127.0.0.1 is never locked out.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from rbtokens import APIToken, LoginFailedError, LoginLockedOutError, RBClient, RetryPolicy
from rbtokens.transport import AiohttpTransport, Request, Response

pytestmark = pytest.mark.integration


class Wire:
    """A transport that records each request with the status it got."""

    def __init__(self) -> None:
        self.inner = AiohttpTransport()
        self.exchanges: list[tuple[Request, int]] = []

    async def send(self, request: Request) -> Response:
        response = await self.inner.send(request)
        self.exchanges.append((request, response.status))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def admin(rb_site: Any) -> AsyncIterator[tuple[RBClient, Wire]]:
    wire = Wire()
    async with RBClient(
        rb_site.url,
        username=rb_site.admin_username,
        password=rb_site.admin_password,
        transport=wire,
    ) as client:
        yield client, wire


@pytest.fixture
async def own_token(admin: tuple[RBClient, Wire]) -> AsyncIterator[APIToken]:
    """A token made for this test (never a seeded one), deleted afterwards."""
    client, _ = admin
    token = await client.tokens.create(
        "admin", note="reliability etag probe", expires_in=dt.timedelta(days=1)
    )
    yield token
    await client.tokens.revoke(token)


async def fetch(client: RBClient, token: APIToken) -> APIToken:
    root = await client.get_root()
    assert token.username is not None
    return await root.get_api_token(username=token.username, api_token_id=token.id)


async def test_get_self_revalidates_with_the_raw_etag(
    admin: tuple[RBClient, Wire], own_token: APIToken
) -> None:
    client, wire = admin
    token = await fetch(client, own_token)
    assert token.etag is not None
    assert re.fullmatch(r"[0-9a-f]{64}", token.etag)  # Review Board's ETags are unquoted
    again = await token.get_self()
    request, status = wire.exchanges[-1]
    assert status == 304
    assert request.headers["If-None-Match"] == token.etag
    assert "If-Modified-Since" not in request.headers
    assert again is token  # the cached body, reused


async def test_a_change_in_the_same_second_is_seen(
    admin: tuple[RBClient, Wire], own_token: APIToken
) -> None:
    # Review Board answers If-Modified-Since at one-second resolution, so a
    # GET, a PUT and a conditional GET in the same second give a stale 304
    # to a client that sends it. rbtokens sends only If-None-Match.
    client, wire = admin
    token = await fetch(client, own_token)
    await token.update(note="changed in the same second")
    fresh = await token.get_self()
    request, status = wire.exchanges[-1]
    assert status == 200
    assert fresh is not token and fresh.note == "changed in the same second"
    assert "If-Modified-Since" not in request.headers
    assert all("If-Modified-Since" not in r.headers for r, _ in wire.exchanges)


async def _login(rb_site: Any, username: str, password: str, ip: str) -> tuple[Exception, int]:
    wire = Wire()
    client = RBClient(
        rb_site.url,
        username=username,
        password=password,
        transport=wire,
        headers={"X-Real-IP": ip},
        retry=RetryPolicy(attempts=10, backoff=0.001),
    )
    async with client:
        try:
            await client.get_root()
        except LoginFailedError as exc:
            return exc, len(wire.exchanges)
    raise AssertionError(f"the login of {username} from {ip} succeeded")


async def _start_of_a_window() -> None:
    """The limit counts per calendar minute: don't start in its last seconds."""
    second = dt.datetime.now(dt.UTC).second
    if second >= 45:
        await asyncio.sleep(61 - second)


async def test_login_lockout_is_detected_and_never_retried(rb_site: Any) -> None:
    ip = f"10.66.0.{random.randint(1, 254)}"
    user = next(u for u in rb_site.manifest["users"] if not u["is_superuser"] and u["is_active"])
    await _start_of_a_window()
    failures: list[Exception] = []
    for _ in range(6):
        exc, sent = await _login(rb_site, user["username"], "wrong-password", ip)
        assert sent == 1  # one request per login attempt: never retried
        failures.append(exc)
    assert not any(isinstance(e, LoginLockedOutError) for e in failures[:5])
    assert isinstance(failures[5], LoginLockedOutError)

    # The right password, from the locked-out address, is refused too...
    exc, sent = await _login(rb_site, user["username"], user["password"], ip)
    assert sent == 1
    assert isinstance(exc, LoginLockedOutError)
    message = str(exc)
    assert "locked out" in message and "minute" in message
    assert user["password"] not in message

    # ...while the same user from another address logs in fine.
    async with RBClient(
        rb_site.url,
        username=user["username"],
        password=user["password"],
        headers={"X-Real-IP": f"10.67.0.{random.randint(1, 254)}"},
    ) as client:
        session = await client.get_session()
    assert session.authenticated
