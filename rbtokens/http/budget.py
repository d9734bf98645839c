"""Review Board's API rate limits as a budget: nothing is sent while a window is closed.

djblets counts requests per identity in fixed windows and answers 429 (code
114) with ``Retry-After: <seconds to the end of the window>``. A request that
carries an ``Authorization`` header counts against the authenticated limit;
one authenticated by the session cookie alone counts against the
*anonymous* limit, keyed by the user; an anonymous request against the
per-address one. So the client keeps one window per bucket: ``authorization``,
``session`` and ``anonymous``.

After a 429 with ``Retry-After``, every request on that bucket first waits
for the window to reopen, if the wait is within the allowance (the retry
policy's ``max_retry_after``, or what :func:`waiting_allowed` sets);
otherwise it raises :class:`~rbtokens.errors.RateLimitedError` at once,
without sending, with ``retry_at`` set. Only requests already in flight when
the window closed are refused by the server.
"""

from __future__ import annotations

import contextlib
import contextvars
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import anyio

from ..errors import RateLimitedError
from ..transport import Response
from ..wire import error_code, parse_retry_after
from .stats import ClientStats

__all__ = ["Budget", "waiting_allowed"]

_ALLOWANCE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "rbtokens_rate_limit_allowance", default=None
)


@contextlib.contextmanager
def waiting_allowed(seconds: float) -> Iterator[None]:
    """Inside this block (and the tasks it starts), wait out windows of up to ``seconds``.

    It replaces the retry policy's ``max_retry_after``: 0 means never wait.
    """
    token = _ALLOWANCE.set(seconds)
    try:
        yield
    finally:
        _ALLOWANCE.reset(token)


def allowance(default: float) -> float:
    """The longest wait allowed here: ``default``, or what :func:`waiting_allowed` set."""
    chosen = _ALLOWANCE.get()
    return default if chosen is None else chosen


class Budget:
    """The rate-limit windows the server has announced, one per bucket."""

    def __init__(self, stats: ClientStats) -> None:
        self._reopens: dict[str, float] = {}  # bucket → time.monotonic() it reopens
        self.limits: dict[str, int] = {}  # bucket → X-RateLimit-Limit
        self._stats = stats
        # Waiting is counted once however many requests wait at the same time.
        self._waiters = 0
        self._waiting_ends = 0.0

    def note(self, bucket: str, response: Response) -> float | None:
        """Record Review Board's 429 (code 114): close ``bucket`` for its ``Retry-After``.

        Returns the wait; None when the answer is not the server's limiter (a
        proxy's 429 is waited by that request alone) or names no wait.
        """
        if error_code(response.status, response.headers, response.body) != 114:
            return None
        after = parse_retry_after(response.headers.get("retry-after"))
        limit = response.headers.get("x-ratelimit-limit", "").strip()
        if limit.isdigit():
            self.limits[bucket] = int(limit)
        if after is not None:  # the latest answer is the server's latest word
            self._reopens[bucket] = time.monotonic() + after
        return after

    def reopens_in(self, bucket: str) -> float:
        """Seconds until ``bucket``'s window reopens (0 when open)."""
        return max(0.0, self._reopens.get(bucket, 0.0) - time.monotonic())

    async def admit(self, bucket: str, *, max_wait: float, url: str) -> None:
        """Wait for ``bucket``'s window to reopen, or refuse at once if that is too long."""
        wait = self.reopens_in(bucket)
        if wait <= 0.0:
            return
        if wait > max_wait:
            raise self.refusal(bucket, wait, url)
        await self.sleep(wait + random.uniform(0, 0.1))  # noqa: S311 - jitter, not crypto

    async def sleep(self, wait: float) -> None:
        """Wait ``wait`` seconds for a rate limit, counted in ``rate_limited_seconds``."""
        end = time.monotonic() + wait
        # Wall-clock time spent waiting: a wait that overlaps others adds only
        # what it lasts beyond them.
        overlap = self._waiting_ends if self._waiters else end - wait
        self._stats.rate_limited_seconds += max(0.0, end - overlap)
        self._waiting_ends = max(end, self._waiting_ends if self._waiters else end)
        self._waiters += 1
        self._stats.waiting_until = datetime.now(UTC) + timedelta(seconds=wait)
        try:
            await anyio.sleep(wait)
        finally:
            self._waiters -= 1
            if not self._waiters:
                self._stats.waiting_until = None

    def refusal(self, bucket: str, wait: float, url: str) -> RateLimitedError:
        """The error for a request not sent because ``bucket``'s window is closed."""
        retry_at = (datetime.now(UTC) + timedelta(seconds=wait)).replace(microsecond=0)
        limit = self.limits.get(bucket)
        per = f" ({limit} requests per window)" if limit else ""
        err = RateLimitedError(
            http_status=429,
            error_code=114,
            message=(
                f"the server's API rate limit{per} is used up for this login's "
                f"{bucket} requests: nothing is sent before "
                f"{retry_at.isoformat().replace('+00:00', 'Z')} (in {wait:.0f} s)"
            ),
            url=url,
        )
        err.retry_after = wait
        err.retry_at = retry_at
        return err
