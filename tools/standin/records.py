"""What the stand-in stores: users and their API tokens, as plain records.

A record holds what Review Board's database holds; everything computed per
request (``expired``, links, hrefs) is left to :mod:`.payloads`. The
``from_payload`` helpers read a record back from an item payload as Review
Board sends it (ISO 8601 timestamps, links ignored), so captured payloads can
seed a dataset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "READ_ONLY_POLICY",
    "TOKEN_FIELDS",
    "TokenKind",
    "TokenRecord",
    "UserRecord",
    "parse_time",
]


class TokenKind(StrEnum):
    """The kinds of tokens the generator mixes (what an audit should flag)."""

    HEALTHY = "healthy"  # restricted policy, expires in the future, used recently
    EXPIRED = "expired"  # expires in the past: ``expired: true``
    NO_EXPIRY = "no-expiry"  # ``expires: null``
    STALE = "stale"  # not used for 100+ days
    LEGACY = "legacy"  # 40-hex ``legacy_sha1`` token, ``deprecated: true``
    INVALID = "invalid"  # ``valid: false`` with a date and reason
    UNRESTRICTED = "unrestricted"  # ``policy: {}`` (full access)


READ_ONLY_POLICY: dict[str, Any] = {"resources": {"*": {"allow": ["GET"], "block": ["*"]}}}

_TIMES = frozenset({"time_added", "last_updated", "last_used", "expires", "invalid_date"})


@dataclass(slots=True)
class TokenRecord:
    """One API token as the server stores it."""

    id: int
    owner: str
    kind: TokenKind
    token: str
    note: str
    policy: dict[str, Any]
    time_added: datetime
    last_updated: datetime
    last_used: datetime | None = None
    expires: datetime | None = None
    valid: bool = True
    invalid_date: datetime | None = None
    invalid_reason: str = ""
    token_generator_id: str = "vendor_checksum"
    deprecated: bool = False
    extra_data: dict[str, Any] = field(default_factory=dict)

    def expired_at(self, now: datetime) -> bool:
        """Review Board's computed ``expired`` field."""
        return self.expires is not None and self.expires <= now

    def set(self, name: str, value: Any) -> None:
        """Set one stored field; ISO 8601 strings are parsed for timestamps."""
        if name not in TOKEN_FIELDS or name in ("id", "owner"):
            raise KeyError(f"{name!r} is not a stored token field")
        if name in _TIMES and isinstance(value, str):
            value = parse_time(value)
        setattr(self, name, value)

    @classmethod
    def from_payload(cls, owner: str, payload: Mapping[str, Any]) -> TokenRecord:
        """A record from an ``api_token`` item payload (``links``/``expired`` ignored)."""
        added = parse_time(payload["time_added"])
        assert added is not None
        rec = cls(
            id=int(payload["id"]),
            owner=owner,
            kind=TokenKind.HEALTHY,
            token=str(payload.get("token", "")),
            note=str(payload.get("note", "")),
            policy=dict(payload.get("policy", {})),
            time_added=added,
            last_updated=parse_time(payload.get("last_updated")) or added,
        )
        for name, value in payload.items():
            if name in TOKEN_FIELDS and name not in ("id", "owner", "kind"):
                rec.set(name, value)
        return rec


TOKEN_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(TokenRecord))
"""The stored fields of a token, in declaration order."""


@dataclass(slots=True)
class UserRecord:
    """One user as the server stores it.

    ``hidden`` keeps a user out of ``/api/users/`` while it can still log in:
    Review Board has no such user, it serves test builders that need a login
    outside the listed users (see :mod:`.testing`).
    """

    id: int
    username: str
    password: str
    is_active: bool = True
    is_superuser: bool = False
    tokens: list[TokenRecord] = field(default_factory=list)
    hidden: bool = False

    @property
    def email(self) -> str:
        """The user's e-mail address."""
        return f"{self.username}@example.com"


def parse_time(value: str | datetime | None) -> datetime | None:
    """An aware datetime from Review Board's ISO 8601 (``Z`` or an offset)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
