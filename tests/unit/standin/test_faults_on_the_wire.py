"""Each fault as a client sees it over the socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from standinkit import Answer, get

from rbtokens import (
    RateLimitedError,
    RBClient,
)
from rbtokens.errors import HTTPStatusError
from tools.standin import (
    Fault,
    FaultKind,
    FaultPlan,
    StandIn,
    serve,
)


@pytest.fixture
async def faulty() -> AsyncIterator[StandIn]:
    async with serve(users=3, seed=5, tokens_per_user=(2, 2)) as standin:
        yield standin


async def _fault_answer(rb: StandIn, kind: FaultKind, **fault: Any) -> Answer | Exception:
    rb.faults = lambda req: Fault(kind, **fault) if "api-tokens" in req.path else None
    timeout = aiohttp.ClientTimeout(total=2, sock_read=0.3)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), timeout=timeout) as s:
        try:
            return await get(s, rb.api_url + "users/audit_00000/api-tokens/")
        except (TimeoutError, aiohttp.ClientError) as exc:
            return exc
        finally:
            rb.faults = None


async def test_each_fault_on_the_wire(faulty: StandIn) -> None:
    rb = faulty
    reset = await _fault_answer(rb, FaultKind.RESET)
    assert isinstance(reset, aiohttp.ClientOSError | aiohttp.ServerDisconnectedError)

    for kind, status in (
        (FaultKind.BAD_GATEWAY, 502),
        (FaultKind.UNAVAILABLE, 503),
        (FaultKind.SERVER_ERROR, 500),
    ):
        ans = await _fault_answer(rb, kind)
        assert isinstance(ans, Answer) and ans.status == status
        assert ans.headers["content-type"].startswith("text/html")
        with pytest.raises(HTTPStatusError):
            ans.decode()

    truncated = await _fault_answer(rb, FaultKind.TRUNCATE)
    assert isinstance(truncated, aiohttp.ClientPayloadError)

    stalled = await _fault_answer(rb, FaultKind.STALL, stall_seconds=5)
    assert isinstance(stalled, asyncio.TimeoutError)

    limited = await _fault_answer(rb, FaultKind.RATE_LIMIT, retry_after=9)
    assert isinstance(limited, Answer) and limited.status == 429
    assert limited.headers["retry-after"] == "9"
    with pytest.raises(RateLimitedError) as info:
        limited.decode()
    assert info.value.error_code == 114 and info.value.retry_after == 9

    # aiohttp's client silently resends a GET once after a reset: 1 or 2 resets.
    assert rb.stats.faults.pop("reset") in (1, 2)
    assert rb.stats.faults == {
        "502": 1,
        "503": 1,
        "500": 1,
        "truncate": 1,
        "stall": 1,
        "429": 1,
    }


async def test_plan_with_a_client_that_retries(faulty: StandIn) -> None:
    rb = faulty
    rb.reset_stats()
    rb.faults = FaultPlan(unavailable=1.0, max_consecutive=2, paths="api-tokens")
    try:
        async with RBClient(rb.url, username="admin", password="admin") as client:
            root = await client.get_root()
            tokens = await root.get_api_tokens(username="audit_00001")
    finally:
        rb.faults = None
    assert len(tokens) == 2
    assert rb.stats.faults["503"] == 2  # two faults, then the third attempt got through
    assert rb.stats.logins == 1
