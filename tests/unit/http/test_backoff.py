"""Backoff: exponential, capped and fully jittered; ``Retry-After`` honoured up to a cap.

Every test counts requests, never seconds: the retry policy has a tiny backoff
and the sleeps are recorded instead of waited where their length matters.
"""

from __future__ import annotations

import anyio
import pytest
from scripted import ITEM_URL, Script, client, html, ok_item, rb_error

from rbtokens import HTTPStatusError, RateLimitedError, RetryPolicy


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the client's sleeps instead of waiting them."""
    recorded: list[float] = []

    async def fake_sleep(delay: float) -> None:
        recorded.append(delay)

    monkeypatch.setattr(anyio, "sleep", fake_sleep)
    return recorded


async def test_backoff_is_exponential_and_capped(
    sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Take the top of each jitter range to see the ceilings.
    monkeypatch.setattr("rbtokens.http.retry.random.uniform", lambda lo, hi: hi)
    policy = RetryPolicy(attempts=6, backoff=1.0, max_backoff=5.0)
    script = Script(then=html(503))
    with pytest.raises(HTTPStatusError):
        async with client(script, retry=policy) as c:
            await c.request("GET", ITEM_URL)
    assert sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_backoff_has_full_jitter() -> None:
    policy = RetryPolicy(backoff=1.0, max_backoff=100.0)
    for attempt in (1, 2, 3, 4):
        delays = [policy.delay(attempt) for _ in range(200)]
        ceiling = 2 ** (attempt - 1)
        assert all(0 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 150  # jittered, not a constant
        assert max(delays) > ceiling / 2


async def test_retry_after_is_honoured(sleeps: list[float]) -> None:
    script = Script(
        rb_error(429, 114, "slow down", {"retry-after": "7"}),
        rb_error(429, 114, "slow down", {"retry-after": "3"}),
        then=ok_item(),
    )
    async with client(script) as c:
        await c.request("GET", ITEM_URL)
    assert len(sleeps) == 2
    assert 7 <= sleeps[0] <= 7.2 and 3 <= sleeps[1] <= 3.2
    assert c.stats.rate_limited_seconds == pytest.approx(sum(sleeps))
    assert len(script.requests) == 3


async def test_retry_after_beyond_the_cap_is_not_waited(sleeps: list[float]) -> None:
    script = Script(then=rb_error(429, 114, "slow down", {"retry-after": "3303"}))
    with pytest.raises(RateLimitedError) as info:
        async with client(script) as c:
            await c.request("GET", ITEM_URL)
    assert info.value.retry_after == 3303
    assert sleeps == []
    assert len(script.requests) == 1


async def test_retry_after_cap_is_configurable(sleeps: list[float]) -> None:
    script = Script(rb_error(429, 114, "slow down", {"retry-after": "3303"}), then=ok_item())
    policy = RetryPolicy(attempts=2, backoff=0.0001, max_retry_after=3600)
    async with client(script, retry=policy) as c:
        await c.request("GET", ITEM_URL)
    assert sleeps and sleeps[0] >= 3303
