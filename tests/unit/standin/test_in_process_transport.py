"""The in-process adapter: the same core behind a MockTransport, faults included."""

from __future__ import annotations

import aiohttp
import pytest
from standinkit import get

from rbtokens import (
    ConnectError,
    HTTPStatusError,
    NotLoggedInError,
    RateLimitedError,
    RBClient,
    RequestTimeout,
    RetryPolicy,
)
from rbtokens.auditing import audit
from tools.standin import Fault, FaultKind, InProcess, StandIn

ONCE = RetryPolicy(attempts=1, backoff=0.0)


def admin(transport: object, url: str = "https://rb.test/") -> RBClient:
    return RBClient(url, username="admin", password="admin", transport=transport, retry=ONCE)  # type: ignore[arg-type]


async def test_answers_match_the_socket_byte_for_byte(
    rb: StandIn, http: aiohttp.ClientSession
) -> None:
    path = "users/?max-results=5&start=2&include-inactive=1"
    wire = await get(http, rb.api_url + path)
    async with admin(rb.as_transport(), rb.url) as client:
        raw = await client.request_json("GET", rb.api_url + path)
    assert wire.json() == raw


async def test_an_audit_runs_in_process_with_one_login() -> None:
    site = InProcess(users=40, seed=2)
    async with admin(site.transport) as client:
        report = await audit(client)
    assert report.complete
    assert report.summary.tokens_seen == site.dataset.token_count
    assert site.stats.logins == 1
    assert len(site.requests) == site.stats.requests


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (FaultKind.BAD_GATEWAY, 502),
        (FaultKind.UNAVAILABLE, 503),
        (FaultKind.SERVER_ERROR, 500),
    ],
)
async def test_status_faults_are_answered(kind: FaultKind, status: int) -> None:
    site = InProcess(users=3, faults=lambda req: kind if "api-tokens" in req.path else None)
    async with admin(site.transport) as client:
        with pytest.raises(HTTPStatusError) as info:
            await client.get_path("users/audit_00000/api-tokens/")
    assert info.value.http_status == status
    assert site.stats.faults == {kind.value: 1}


async def test_a_429_fault_carries_retry_after() -> None:
    fault = Fault(FaultKind.RATE_LIMIT, retry_after=7)
    site = InProcess(users=1, faults=lambda req: fault if req.path == "/api/session/" else None)
    async with admin(site.transport) as client:
        with pytest.raises(RateLimitedError) as info:
            await client.get_session()
    assert (info.value.error_code, info.value.retry_after) == (114, 7)


async def test_wire_faults_raise_what_the_aiohttp_transport_raises() -> None:
    site = InProcess(users=3, seed=1, tokens_per_user=(2, 2))
    owner = site.dataset.users["audit_00000"]
    first, second = (t.id for t in owner.tokens)
    item = "https://rb.test/api/users/audit_00000/api-tokens/{}/"
    async with admin(site.transport) as client:
        await client.get_root()
        site.service.faults = lambda req: FaultKind.RESET if req.method == "DELETE" else None
        with pytest.raises(ConnectError, match="reset"):
            await client.request("DELETE", item.format(first))
        assert first in site.dataset.tokens  # a reset request is not processed
        site.service.faults = lambda req: FaultKind.TRUNCATE if req.method == "DELETE" else None
        with pytest.raises(ConnectError, match="truncated"):
            await client.request("DELETE", item.format(second))
        assert second not in site.dataset.tokens  # a truncated answer was processed
        site.service.faults = lambda req: FaultKind.STALL
        with pytest.raises(RequestTimeout):
            await client.get_session()
    assert site.stats.faults == {"reset": 1, "truncate": 1, "stall": 1}


async def test_knobs_are_shared_with_the_server(rb: StandIn) -> None:
    transport = rb.as_transport()
    rb.sitewide_login = True
    try:
        async with RBClient(rb.url, transport=transport, retry=ONCE) as client:
            with pytest.raises(NotLoggedInError):
                await client.get_root()
    finally:
        rb.sitewide_login = False
