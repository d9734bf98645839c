"""A busy server: a few workers, and time per request and per expanded user."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from standinkit import get

from rbtokens import RBClient
from tools.standin import BUSY_81, InProcess, ServerCost, serve


def client(site: InProcess) -> RBClient:
    return RBClient(
        "https://rb.test/", username="admin", password="admin", transport=site.transport
    )


async def test_workers_queue_the_requests() -> None:
    site = InProcess(users=5, cost=ServerCost(workers=2, per_request=0.05))
    async with client(site) as c:
        await c.get_root()
        started = time.perf_counter()
        await asyncio.gather(*(c.get_session() for _ in range(6)))
        elapsed = time.perf_counter() - started
    assert elapsed >= 0.14  # 6 requests, 2 at a time, 50 ms each
    assert site.stats.busy_seconds == pytest.approx(7 * 0.05)
    assert site.stats.max_in_flight >= 6  # they were all in, queued


async def test_expanded_users_cost_time() -> None:
    cost = ServerCost(per_request=0.001, per_expanded_user=0.01)
    site = InProcess(users=30, cost=cost, inactive_fraction=0)
    async with client(site) as c:
        await c.get_root()
        before = site.stats.busy_seconds
        started = time.perf_counter()
        await c.get_path("users/", max_results=20, expand="api_tokens")
        elapsed = time.perf_counter() - started
    assert site.stats.expanded_users == 20
    assert site.stats.busy_seconds - before == pytest.approx(0.001 + 20 * 0.01)
    assert elapsed >= 0.2


async def test_the_cost_can_change_while_serving() -> None:
    async with serve(users=3, cost=BUSY_81) as rb:
        assert rb.cost.workers == 8
        rb.cost = ServerCost()
        async with aiohttp.ClientSession() as http:
            assert (await get(http, rb.api_url)).status == 200
        assert rb.stats.busy_seconds == 0
