"""djblets' API rate limits: three buckets in fixed windows (§3).

``djblets.webapi.resources.base`` counts every request that reaches a
resource (after authentication, before the view), 304s and 401s included:

* a request whose ``Authorization`` header logged it in draws on the
  *authenticated* limit (``API_AUTHENTICATED_LIMIT_RATE``, 10000/h), keyed by
  the user's id;
* a request authenticated only by its session cookie is *anonymous* to
  djblets (``check_login()`` returns None without a header): it draws on the
  anonymous limit (``API_ANONYMOUS_LIMIT_RATE``, 1000/h) keyed by the user's id;
* an anonymous request draws on the anonymous limit keyed by the client's
  address (``X-Real-IP``, else the first ``X-Forwarded-For``, else the peer).

Windows are fixed and aligned to the epoch (``djblets.protect.ratelimit``):
``now - now % period + period``. Past the limit: 429, code 114,
``Retry-After: <seconds to the window's end>`` and ``X-RateLimit-Limit``.
Rates use djblets' syntax, ``"<count>/<n><s|m|h|d>"`` (``"30/m"``,
``"5/10s"``): a short window for tests is just a rate.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from rbtokens import Response

from .context import Call
from .stats import StandInStats
from .wire import rate_limited

__all__ = ["Rate", "RateLimiter", "RateLimits", "client_ip"]

_RATE = re.compile(r"(\d+)/(\d*)([smhd])?$")
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, slots=True)
class Rate:
    """``count`` requests per ``period`` seconds."""

    count: int
    period: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        match = _RATE.match(text.strip())
        if match is None:
            raise ValueError(f"Could not parse given rate limit: {text}.")
        count, multiplier, unit = match.groups()
        period = _PERIODS[unit or "s"] * (int(multiplier) if multiplier else 1)
        return cls(int(count), period)

    def window_end(self, now: int) -> int:
        """The timestamp at which the window holding ``now`` resets."""
        if self.period == 1:
            return now
        return now - now % self.period + self.period


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Review Board's settings; ``None`` turns a limit off."""

    authenticated: str | None = "10000/h"
    anonymous: str | None = "1000/h"
    clock: Callable[[], float] = field(default=time.time, compare=False)


def client_ip(headers: dict[str, str], remote: str) -> str:
    """djblets' ``get_http_request_ip``: ``X-Real-IP``, ``X-Forwarded-For``, the peer."""
    real = headers.get("x-real-ip")
    if real is not None:
        return real
    forwarded = headers.get("x-forwarded-for")
    if forwarded is not None:
        return forwarded.split(",")[0].strip()
    return remote


class RateLimiter:
    """Counts requests per bucket and window; answers 429 past the limit."""

    def __init__(self, limits: RateLimits | None) -> None:
        self.limits = limits
        self._rates: dict[str, Rate | None] = {}
        self._counts: Counter[tuple[str, str, int]] = Counter()
        self._pruned = 0
        if limits is not None:
            for name in ("authenticated", "anonymous"):
                text = getattr(limits, name)
                self._rates[name] = None if text is None else Rate.parse(text)

    def check(self, call: Call, remote: str, stats: StandInStats) -> Response | None:
        """Count ``call`` in its bucket; a 429 if that bucket is over its limit."""
        if self.limits is None:
            return None
        ident = call.ident
        if ident.header_login and ident.user is not None:
            bucket, kind, key = "authenticated", "authenticated", str(ident.user.id)
        elif ident.user is not None:
            bucket, kind, key = "anonymous-user", "anonymous", str(ident.user.id)
        else:
            bucket, kind, key = "anonymous-ip", "anonymous", client_ip(call.headers, remote)
        stats.rate_limit[bucket] += 1
        rate = self._rates[kind]
        if rate is None:
            return None
        now = int(self.limits.clock())
        end = rate.window_end(now)
        self._prune(now)
        slot = (kind, key, end)
        self._counts[slot] += 1
        if self._counts[slot] <= rate.count:
            return None
        stats.rate_limited[bucket] += 1
        return rate_limited(end - now, rate.count)

    def usage(self, kind: str, key: str) -> int:
        """Requests counted in the current window of one bucket (for tests)."""
        rate = self._rates.get(kind)
        if rate is None or self.limits is None:
            return 0
        return self._counts[(kind, key, rate.window_end(int(self.limits.clock())))]

    def _prune(self, now: int) -> None:
        if now - self._pruned < 60:
            return
        self._pruned = now
        for slot in [s for s in self._counts if s[2] < now]:
            del self._counts[slot]
