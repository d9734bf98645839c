"""The audit's rule set: rule names, severities, and the :class:`Rules` that configure a run."""

from __future__ import annotations

import enum
from collections.abc import Mapping

import msgspec

__all__ = [
    "DEFAULT_SEVERITIES",
    "RULES",
    "SERVER_RULES",
    "USER_RULES",
    "Rules",
    "Severity",
]


class Severity(enum.StrEnum):
    """How much a finding matters, from ``info`` to ``critical``."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for ``info`` up to 4 for ``critical``."""
        return _RANK[self]


_RANK = {s: i for i, s in enumerate(Severity)}

#: Every rule, in report order.
RULES: tuple[str, ...] = (
    "expired",
    "expiring-soon",
    "never-used",
    "stale",
    "no-expiry",
    "unrestricted-policy",
    "deprecated-generator",
    "invalid",
    "inactive-owner",
    "too-many-tokens",
    "secrets-exposed",
)

#: Rules that judge one user rather than one token (their findings carry no token id).
USER_RULES = frozenset({"too-many-tokens"})

#: Rules that judge the server (their findings carry no username and no token id).
SERVER_RULES = frozenset({"secrets-exposed"})

DEFAULT_SEVERITIES: Mapping[str, Severity] = {
    "expired": Severity.INFO,
    "expiring-soon": Severity.INFO,
    "never-used": Severity.LOW,
    "stale": Severity.LOW,
    "no-expiry": Severity.MEDIUM,
    "unrestricted-policy": Severity.HIGH,
    "deprecated-generator": Severity.MEDIUM,
    "invalid": Severity.INFO,
    "inactive-owner": Severity.MEDIUM,
    "too-many-tokens": Severity.LOW,
    "secrets-exposed": Severity.CRITICAL,
}


class Rules(msgspec.Struct, kw_only=True):
    """Which rules run, their thresholds (in days) and their severities."""

    enabled: tuple[str, ...] = RULES
    expiring_soon_days: float = 14.0
    never_used_days: float = 30.0
    stale_days: float = 90.0
    max_tokens: int = 10
    severities: dict[str, Severity] = msgspec.field(
        default_factory=lambda: dict(DEFAULT_SEVERITIES)
    )

    def __post_init__(self) -> None:
        unknown = (set(self.enabled) | set(self.severities)) - set(RULES)
        if unknown:
            raise ValueError(f"unknown rule(s): {', '.join(sorted(unknown))}")
        if min(self.expiring_soon_days, self.never_used_days, self.stale_days) < 0:
            raise ValueError("rule thresholds must not be negative")
        if self.max_tokens < 0:
            raise ValueError("max_tokens must not be negative")
        full = {**DEFAULT_SEVERITIES, **self.severities}
        self.severities = {rule: Severity(full[rule]) for rule in RULES}
        enabled = set(self.enabled)
        self.enabled = tuple(rule for rule in RULES if rule in enabled)
