"""What the stand-in saw, for tests and benchmarks (``/__standin__/stats``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["StandInStats"]


@dataclass(slots=True)
class StandInStats:
    """Counters; ``logins`` counts Basic password checks.

    ``rate_limit`` counts the requests each rate-limit bucket took
    (``authenticated``, ``anonymous-user``, ``anonymous-ip``) and
    ``rate_limited`` the 429s each one answered.
    """

    requests: int = 0
    logins: int = 0
    failed_logins: int = 0
    token_logins: int = 0
    sessions: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    not_modified: int = 0
    bytes_sent: int = 0
    expanded_users: int = 0
    busy_seconds: float = 0.0
    status: Counter[int] = field(default_factory=Counter)
    routes: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    rate_limit: Counter[str] = field(default_factory=Counter)
    rate_limited: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "requests": self.requests,
            "logins": self.logins,
            "failed_logins": self.failed_logins,
            "token_logins": self.token_logins,
            "sessions": self.sessions,
            "max_in_flight": self.max_in_flight,
            "not_modified": self.not_modified,
            "bytes_sent": self.bytes_sent,
            "expanded_users": self.expanded_users,
            "busy_seconds": round(self.busy_seconds, 6),
            "status": {str(k): v for k, v in sorted(self.status.items())},
            "routes": dict(self.routes),
            "faults": dict(self.faults),
            "rate_limit": dict(self.rate_limit),
            "rate_limited": dict(self.rate_limited),
        }
