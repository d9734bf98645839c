"""When to retry a request, and how long to wait first."""

from __future__ import annotations

import random

import msgspec

from ..transport import Response
from ..wire import error_code, parse_retry_after

__all__ = ["IDEMPOTENT", "RetryPolicy", "retry_delay"]

IDEMPOTENT = frozenset({"GET", "HEAD", "DELETE"})
_RETRY_STATUSES = frozenset({429, 502, 503, 504})


class RetryPolicy(msgspec.Struct, frozen=True):
    """Retries with exponential backoff and full jitter.

    Only idempotent requests (GET, HEAD, DELETE) are retried, on connection
    errors, timeouts, 502/503/504 and 429 (waiting ``Retry-After``, up to
    ``max_retry_after``). POST is retried only on code 228, when the server
    created nothing. A failed login is never retried.
    """

    attempts: int = 4
    backoff: float = 0.25
    max_backoff: float = 8.0
    max_retry_after: float = 120.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        ceiling = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not crypto


def may_retry(method: str, attempt: int, policy: RetryPolicy) -> bool:
    """Whether a request that got no answer may be sent again."""
    return method in IDEMPOTENT and attempt < policy.attempts


def _code(response: Response) -> int | None:
    return error_code(response.status, response.headers, response.body)


def retry_delay(
    method: str, response: Response, attempt: int, policy: RetryPolicy, *, max_wait: float
) -> float | None:
    """Seconds to wait before sending again, or None to return ``response``.

    A 429's ``Retry-After`` is waited when it is at most ``max_wait``.
    """
    if attempt >= policy.attempts:
        return None
    status = response.status
    # A POST or PUT is retried on 429 only when Review Board itself refused
    # it (code 114, before the view ran); a 429 from anything else is not
    # proof that nothing happened.
    if status == 429 and (method in IDEMPOTENT or _code(response) == 114):
        after = parse_retry_after(response.headers.get("retry-after"))
        if after is None:
            return policy.delay(attempt)
        return None if after > max_wait else after
    if method == "POST" and status >= 500 and _code(response) == 228:
        return policy.delay(attempt)
    if method in IDEMPOTENT and status in _RETRY_STATUSES:
        return policy.delay(attempt)
    return None
