"""What the client did: requests, retries, logins, time spent rate-limited."""

from __future__ import annotations

from datetime import datetime

import msgspec

__all__ = ["ClientStats"]


class ClientStats(msgspec.Struct):
    """Counters of what the client did: requests, retries, logins, waiting."""

    requests: int = 0
    retries: int = 0
    logins: int = 0
    rate_limited_seconds: float = 0.0
    """Wall-clock seconds spent waiting for a rate-limit window to reopen."""
    waiting_until: datetime | None = None
    """While requests wait for a window: when it reopens (UTC)."""
