"""The shapes the bulk walk decodes: just the fields it asks for, as plain Structs.

Decoding straight into these (``request_as``) skips the registry's resource
types and their expansion machinery: a 200-user page decodes at msgspec's
speed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from ..wire import Link

__all__ = ["BULK_TOKEN_FIELDS", "BulkPage", "BulkToken", "BulkUser", "TokenPage"]

#: The token fields the bulk walk asks for (and the verification compares).
BULK_TOKEN_FIELDS = (
    "expires",
    "expired",
    "valid",
    "last_used",
    "time_added",
    "policy",
    "deprecated",
    "token_generator_id",
    "invalid_date",
    "invalid_reason",
    "note",
)
_TIMES = ("expires", "invalid_date", "last_used", "time_added")


class BulkToken(msgspec.Struct, kw_only=True, gc=False):
    """One token as the bulk listing inlines it: metadata only."""

    id: int
    note: str = ""
    policy: dict[str, Any] = msgspec.field(default_factory=dict)
    expires: datetime | None = None
    expired: bool = False
    valid: bool = True
    invalid_date: datetime | None = None
    invalid_reason: str = ""
    last_used: datetime | None = None
    time_added: datetime | None = None
    token_generator_id: str = ""
    deprecated: bool = False
    token: str | UnsetType = UNSET  # never asked for: its presence stops the walk

    def __post_init__(self) -> None:
        # As APIToken: a naive timestamp is read as UTC.
        for name in _TIMES:
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                setattr(self, name, value.replace(tzinfo=UTC))

    def facts(self) -> tuple[Any, ...]:
        """The compared fields, in :data:`BULK_TOKEN_FIELDS` order."""
        return tuple(getattr(self, name) for name in BULK_TOKEN_FIELDS)


class BulkUser(msgspec.Struct, kw_only=True, gc=False):
    """One user of a bulk page; ``api_tokens`` is UNSET when the server did not expand it."""

    id: int
    username: str
    is_active: bool = True
    api_tokens: list[BulkToken] | UnsetType = UNSET


class BulkPage(msgspec.Struct, kw_only=True):
    """One page of the bulk listing."""

    users: list[BulkUser]
    total_results: int | None = None
    links: dict[str, Link] = msgspec.field(default_factory=dict)

    @property
    def items(self) -> list[BulkUser]:
        """The users (what the pager reads)."""
        return self.users


class TokenPage(msgspec.Struct, kw_only=True):
    """One page of a user's own token list, with the same fields (for the verification)."""

    api_tokens: list[BulkToken]
    total_results: int | None = None
    links: dict[str, Link] = msgspec.field(default_factory=dict)

    @property
    def items(self) -> list[BulkToken]:
        """The tokens (what the pager reads)."""
        return self.api_tokens
