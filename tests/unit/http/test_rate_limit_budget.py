"""Rate limits as a budget: once Review Board says a window is closed, nothing is sent.

djblets keeps one window per identity kind: ``Authorization`` requests,
session-cookie requests (the anonymous limit, keyed by user) and anonymous
ones (keyed by address). The client keeps the same three.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from scripted import BASE, ITEM_URL, Script, client, ok_item, rb_error

from rbtokens import RateLimitedError, RBClient, RetryPolicy
from rbtokens.http import waiting_allowed
from rbtokens.transport import MockTransport, Request, Response

NO_WAIT = RetryPolicy(attempts=3, backoff=0.0001, max_retry_after=0)


def limited(seconds: str = "2400", limit: str = "1000") -> Response:
    response = rb_error(429, 114, "API rate limit has been exceeded.", {"retry-after": seconds})
    response.headers["x-ratelimit-limit"] = limit
    return response


def with_cookie(response: Response) -> Response:
    response.cookies["rbsessionid"] = "s"
    return response


async def test_a_closed_window_refuses_later_requests_without_sending() -> None:
    script = Script(ok_item(), limited(), then=ok_item())  # login, then the window closes
    async with client(script, retry=NO_WAIT) as c:
        await c.request("GET", ITEM_URL)
        with pytest.raises(RateLimitedError):
            await c.request("GET", ITEM_URL)
        sent = len(script.requests)
        with pytest.raises(RateLimitedError) as info:
            await c.request("GET", ITEM_URL)
    assert len(script.requests) == sent  # refused here, not by the server
    err = info.value
    assert err.retry_after is not None and 2390 < err.retry_after <= 2400
    assert err.retry_at is not None
    expected = datetime.now(UTC) + timedelta(seconds=2400)
    assert abs((err.retry_at - expected).total_seconds()) < 5
    assert "1000 requests per window" in str(err)
    assert "nothing is sent before" in str(err)


async def test_the_servers_429_carries_the_retry_time_too() -> None:
    script = Script(ok_item(), then=limited("60"))
    async with client(script, retry=NO_WAIT) as c:
        await c.request("GET", ITEM_URL)
        with pytest.raises(RateLimitedError) as info:
            await c.request("GET", ITEM_URL)
    assert info.value.retry_at is not None
    assert info.value.retry_at > datetime.now(UTC) + timedelta(seconds=50)


async def test_concurrent_requests_wait_for_one_window_and_count_it_once() -> None:
    state = {"closed_until": 0.0, "refused": 0}
    loop = asyncio.get_running_loop()

    async def handler(request: Request) -> Response:
        await asyncio.sleep(0.01)
        if "Authorization" in request.headers:
            return with_cookie(ok_item())
        if loop.time() < state["closed_until"]:
            state["refused"] += 1
            return limited("0.3")
        if state["closed_until"] == 0.0:
            state["closed_until"] = loop.time() + 0.3
            state["refused"] += 1
            return limited("0.3")
        return ok_item()

    policy = RetryPolicy(attempts=4, backoff=0.0001, max_retry_after=5)
    async with RBClient(
        BASE, username="u", password="p", transport=MockTransport(handler), retry=policy
    ) as c:
        await c.request("GET", ITEM_URL)  # the login
        await asyncio.gather(*(c.request("GET", ITEM_URL) for _ in range(8)))
        waited = c.stats.rate_limited_seconds
    assert state["refused"] <= 8  # only requests already in flight were refused
    assert 0.3 <= waited < 0.3 * 3  # one window of wall-clock time, not one per request


async def test_waiting_allowed_waits_out_a_longer_window(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []

    async def fake_sleep(delay: float) -> None:
        sleeps.append(delay)

    monkeypatch.setattr("rbtokens.http.budget.anyio.sleep", fake_sleep)
    script = Script(ok_item(), limited("600"), then=ok_item())
    async with client(script, retry=NO_WAIT) as c:
        await c.request("GET", ITEM_URL)
        with waiting_allowed(900):
            res = await c.request("GET", ITEM_URL)
    assert res.id == 7
    assert sleeps and 600 <= sleeps[0] <= 600.2
    assert c.stats.rate_limited_seconds == pytest.approx(sleeps[0])


async def test_windows_are_kept_per_bucket() -> None:
    # The login's window closes: an anonymous request is still sent.
    answers = iter([with_cookie(ok_item()), limited(), ok_item()])

    def handler(request: Request) -> Response:
        return next(answers)

    transport = MockTransport(handler)
    async with RBClient(BASE, username="u", password="p", transport=transport, retry=NO_WAIT) as c:
        await c.request("GET", ITEM_URL)
        with pytest.raises(RateLimitedError):
            await c.request("GET", ITEM_URL)
        await c.request_json("GET", ITEM_URL, anonymous=True)
    assert len(transport.requests) == 3


async def test_a_proxys_429_closes_no_window() -> None:
    proxy = Response(429, {"content-type": "text/html", "retry-after": "0"}, b"<h1>slow</h1>")
    script = Script(ok_item(), proxy, then=ok_item())
    async with client(script) as c:
        await c.request("GET", ITEM_URL)
        await c.request("GET", ITEM_URL)
        await c.request("GET", ITEM_URL)
    assert len(script.requests) == 4
