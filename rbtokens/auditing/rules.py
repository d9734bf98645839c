"""The audit's rules: a table of small functions, each judging one token (or one user).

A token rule takes the run's :class:`Thresholds`, the token's
:class:`~rbtokens.auditing.report.TokenRecord` (expiry already checked
against the run's clock) and the token itself (for its policy), and returns
the finding's message, or ``None``. A token is *usable* when it is valid and
not expired: :data:`UNUSABLE_RULES` judge the others (only ``expired`` and
``invalid``), :data:`USABLE_RULES` the usable ones.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

import msgspec

from ..policy import is_unrestricted
from .report import TokenRecord
from .ruleset import Rules

__all__ = [
    "UNUSABLE_RULES",
    "USABLE_RULES",
    "USER_RULES_TABLE",
    "Thresholds",
    "TokenFacts",
    "TokenRule",
    "UserRule",
]


class TokenFacts(Protocol):
    """What the rules read of a token: an :class:`~rbtokens.APIToken` or the bulk walk's."""

    @property
    def id(self) -> int:
        """The token's id."""
        ...

    @property
    def note(self) -> str:
        """Its note."""
        ...

    @property
    def policy(self) -> dict[str, Any]:
        """Its access policy."""
        ...

    @property
    def expires(self) -> datetime | None:
        """When it expires (aware)."""
        ...

    @property
    def expired(self) -> bool:
        """The server's ``expired``."""
        ...

    @property
    def valid(self) -> bool:
        """The server's ``valid`` (it ignores expiry)."""
        ...

    @property
    def invalid_reason(self) -> str:
        """Why it was invalidated."""
        ...

    @property
    def last_used(self) -> datetime | None:
        """When it was last used (aware)."""
        ...

    @property
    def time_added(self) -> datetime | None:
        """When it was added (aware)."""
        ...

    @property
    def token_generator_id(self) -> str:
        """``vendor_checksum`` or ``legacy_sha1``."""
        ...

    @property
    def deprecated(self) -> bool:
        """Whether its format is deprecated."""
        ...


class Thresholds(msgspec.Struct, frozen=True):
    """One run's clock and limits, computed once from its :class:`Rules`."""

    now: datetime
    expiring_before: datetime
    never_used_before: datetime
    stale_before: datetime
    never_used_days: float
    stale_days: float
    max_tokens: int

    @classmethod
    def of(cls, rules: Rules, now: datetime) -> Thresholds:
        """The thresholds of ``rules`` at ``now``."""
        return cls(
            now=now,
            expiring_before=now + timedelta(days=rules.expiring_soon_days),
            never_used_before=now - timedelta(days=rules.never_used_days),
            stale_before=now - timedelta(days=rules.stale_days),
            never_used_days=rules.never_used_days,
            stale_days=rules.stale_days,
            max_tokens=rules.max_tokens,
        )


TokenRule = Callable[[Thresholds, TokenRecord, TokenFacts], str | None]
UserRule = Callable[[Thresholds, int], str | None]


# -- wording -------------------------------------------------------------------------


def _plural(n: float, unit: str) -> str:
    return f"{n:g} {unit}" if n == 1 else f"{n:g} {unit}s"


def _age(delta: timedelta, threshold: float) -> str:
    """How long ago, in whole days, for a rule that fires above ``threshold`` days.

    Whole days round down, so an age just over the threshold would read as the
    threshold itself ("90 days" under "more than 90 days"): it then says "over".
    """
    days = int(delta.total_seconds() // 86400)
    if days > threshold:
        return f"{_plural(days, 'day')} ago"
    return f"over {_plural(threshold, 'day')} ago"


def _span(delta: timedelta) -> str:
    """A time left, to the nearest day (hours when under a day)."""
    seconds = delta.total_seconds()
    if seconds < 86400:
        return _plural(max(1, round(seconds / 3600)), "hour")
    return _plural(round(seconds / 86400), "day")


def _date(value: datetime) -> str:
    return value.date().isoformat()


# -- token rules -----------------------------------------------------------------------


def expired(th: Thresholds, rec: TokenRecord, token: TokenFacts) -> str | None:
    """An expired token still on record."""
    if not rec.expired:
        return None
    when = f" on {_date(rec.expires)}" if rec.expires is not None else ""
    return f"expired{when}; the record can go"


def invalid(th: Thresholds, rec: TokenRecord, token: TokenFacts) -> str | None:
    """An invalidated token still on record."""
    if rec.valid:
        return None
    reason = f": {rec.invalid_reason}" if rec.invalid_reason else ""
    return f"invalidated{reason}; the record can go"


def no_expiry(th: Thresholds, rec: TokenRecord, token: TokenFacts) -> str | None:
    """A usable token that never expires."""
    return "never expires" if rec.expires is None else None


def expiring_soon(th: Thresholds, rec: TokenRecord, token: TokenFacts) -> str | None:
    """A usable token that expires within the window."""
    expires = rec.expires
    if expires is None or expires > th.expiring_before:
        return None
    return f"expires in {_span(expires - th.now)} ({_date(expires)})"


def never_used(th: Thresholds, rec: TokenRecord, token: TokenFacts) -> str | None:
    """A usable token added long ago and never used."""
    added = rec.time_added
    if rec.last_used is not None or added is None:
        return None
    if added >= th.never_used_before:
        return None
    return "never used since it was added " + _age(th.now - added, th.never_used_days)


def stale(th: Thresholds, rec: TokenRecord, token: TokenFacts) -> str | None:
    """A usable token last used long ago."""
    last_used = rec.last_used
    if last_used is None or last_used >= th.stale_before:
        return None
    return f"last used {_age(th.now - last_used, th.stale_days)} ({_date(last_used)})"


def unrestricted_policy(th: Thresholds, rec: TokenRecord, token: TokenFacts) -> str | None:
    """A usable token whose global policy section denies nothing."""
    if not is_unrestricted(token.policy):
        return None
    what = (
        "an empty policy ({})"
        if not token.policy
        else "a policy whose global section denies nothing"
    )
    return f"full access: {what}"


def deprecated_generator(th: Thresholds, rec: TokenRecord, token: TokenFacts) -> str | None:
    """A usable token in the legacy SHA-1 format."""
    legacy = rec.token_generator_id == "legacy_sha1"  # noqa: S105
    if not (rec.deprecated or legacy):
        return None
    return f"deprecated token format ({rec.token_generator_id or 'deprecated'}); rotate it"


def inactive_owner(th: Thresholds, rec: TokenRecord, token: TokenFacts) -> str | None:
    """A usable token whose owner is inactive."""
    if rec.owner_active:
        return None
    return "the owner is inactive: refused now, works again if the account is reactivated"


def too_many_tokens(th: Thresholds, count: int) -> str | None:
    """A user with more tokens than the limit."""
    if count <= th.max_tokens:
        return None
    return f"{count} tokens (more than {th.max_tokens})"


#: Rules for tokens that cannot be used, in the order their findings are reported.
UNUSABLE_RULES: tuple[tuple[str, TokenRule], ...] = (
    ("expired", expired),
    ("invalid", invalid),
)

#: Rules for usable tokens (valid and not expired), in report order.
USABLE_RULES: tuple[tuple[str, TokenRule], ...] = (
    ("no-expiry", no_expiry),
    ("expiring-soon", expiring_soon),
    ("never-used", never_used),
    ("stale", stale),
    ("unrestricted-policy", unrestricted_policy),
    ("deprecated-generator", deprecated_generator),
    ("inactive-owner", inactive_owner),
)

#: Rules that judge one user's tokens as a whole (their findings carry no token id).
USER_RULES_TABLE: tuple[tuple[str, UserRule], ...] = (("too-many-tokens", too_many_tokens),)
