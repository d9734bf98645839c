"""The shapes the bulk listing decodes into: plain Structs of just the fields asked for.

Decoding straight into these (``request_as``) skips the registry's resource
types and their expansion machinery: a 200-user page decodes at msgspec's
speed. Each token shape carries a ``token`` member only to notice a secret
that was not asked for (it is never kept).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar, cast

import msgspec
from msgspec import UNSET, UnsetType

from ..resources import APIToken
from ..wire import Link

__all__ = [
    "AUDIT_FIELDS",
    "LISTED_FIELDS",
    "AuditToken",
    "BulkPage",
    "BulkUser",
    "ListedToken",
    "Shape",
    "TokenLike",
    "TokenPage",
]

#: The token fields an audit reads (and the verification compares).
AUDIT_FIELDS = (
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
#: Every token field but the secret: what ``tokens.list(all_users=True)`` reads.
LISTED_FIELDS = (*AUDIT_FIELDS, "last_updated", "extra_data")
_TIMES = ("expires", "invalid_date", "last_used", "time_added", "last_updated")


class TokenLike(Protocol):
    """What the bulk listing needs of a token shape."""

    @property
    def id(self) -> int:
        """The token's id."""
        ...

    def has_secret(self) -> bool:
        """Whether the server sent the secret."""
        ...

    def drop_secret(self) -> None:
        """Forget the secret, unread."""
        ...


class _Token(msgspec.Struct, kw_only=True, gc=False):
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
    token: str | UnsetType = UNSET  # never asked for: its presence stops the listing

    def __post_init__(self) -> None:
        # As APIToken: a naive timestamp is read as UTC.
        for name in _TIMES:
            value = getattr(self, name, None)
            if value is not None and value.tzinfo is None:
                setattr(self, name, value.replace(tzinfo=UTC))

    def has_secret(self) -> bool:
        """Whether the server sent the secret."""
        return not isinstance(self.token, UnsetType)

    def drop_secret(self) -> None:
        """Forget the secret, unread."""
        self.token = UNSET


class AuditToken(_Token, kw_only=True, gc=False):
    """A token as the audit reads it: metadata only."""


class ListedToken(_Token, kw_only=True, gc=False):
    """A token as ``tokens.list(all_users=True)`` reads it: every field but the secret."""

    last_updated: datetime | None = None
    extra_data: dict[str, Any] = msgspec.field(default_factory=dict)

    def to_api_token(self, owner: str, href: str) -> APIToken:
        """The :class:`~rbtokens.APIToken`, with its owner and its own URL."""
        fields = msgspec.structs.asdict(self)
        del fields["token"]
        token = APIToken(**fields, links={"self": Link(href=href)})
        token.__dict__["_rb_owner"] = owner
        return token


T = TypeVar("T", bound=TokenLike)


class BulkUser(msgspec.Struct, Generic[T], kw_only=True, gc=False):
    """One user of a bulk page; ``api_tokens`` is UNSET when the server did not expand it."""

    id: int
    username: str
    is_active: bool = True
    api_tokens: list[T] | UnsetType = UNSET


class BulkPage(msgspec.Struct, Generic[T], kw_only=True):
    """One page of the bulk listing."""

    users: list[BulkUser[T]]
    total_results: int | None = None
    links: dict[str, Link] = msgspec.field(default_factory=dict)

    @property
    def items(self) -> list[BulkUser[T]]:
        """The users (what the pager reads)."""
        return self.users


class TokenPage(msgspec.Struct, Generic[T], kw_only=True):
    """One page of a user's own token list, with the same fields (for the verification)."""

    api_tokens: list[T]
    total_results: int | None = None
    links: dict[str, Link] = msgspec.field(default_factory=dict)

    @property
    def items(self) -> list[T]:
        """The tokens (what the pager reads)."""
        return self.api_tokens


class Shape(Generic[T]):
    """How one kind of token is asked for, decoded and compared."""

    def __init__(self, token_type: type[T], fields: tuple[str, ...]) -> None:
        self.token_type = token_type
        self.fields = fields
        self.page = cast("type[BulkPage[T]]", BulkPage[token_type])  # type: ignore[valid-type]
        self.token_page = cast("type[TokenPage[T]]", TokenPage[token_type])  # type: ignore[valid-type]

    def facts(self, token: T) -> tuple[Any, ...]:
        """The compared fields, in :attr:`fields` order."""
        return tuple(getattr(token, name) for name in self.fields)
