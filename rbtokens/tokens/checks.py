"""Argument checks and small helpers shared by the token verbs (no I/O)."""

from __future__ import annotations

import builtins
import contextlib
import enum
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import PolicyError, TokenNotFoundError
from ..policy import Policy, policy_warnings, validate_policy
from ..resources import APIToken, ItemRef

__all__ = [
    "NOT_COPIED",
    "PAGE_CAP",
    "UNSET",
    "PolicyLike",
    "TokenRef",
    "aware",
    "check_id",
    "check_patch",
    "check_username",
    "expiry",
    "filtered",
    "future",
    "id_of",
    "later",
    "policy_doc",
    "replacement_expiry",
    "same_time",
    "state_of",
]

log = logging.getLogger("rbtokens.tokens")

USERNAME_RE = re.compile(r"[A-Za-z0-9@._\-'+]+")
PAGE_CAP = 200  # the server's max-results ceiling
NOT_COPIED = frozenset({"expired_notification_sent"})  # server-managed extra_data


class Unset(enum.Enum):
    """The type of :data:`UNSET`."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET = Unset.UNSET
""""Leave this field unchanged" for :meth:`Tokens.update`."""

PolicyLike = Policy | Mapping[str, Any]


class TokenRef:
    """Where a token lives: its owner, its id, and a handle on its item."""

    __slots__ = ("item", "owner", "token_id")

    def __init__(self, owner: str, token_id: int, item: ItemRef[APIToken]) -> None:
        self.owner = owner
        self.token_id = token_id
        self.item = item

    def __str__(self) -> str:
        return f"token {self.token_id} of {self.owner}"


def check_username(username: str) -> str:
    if not isinstance(username, str) or not USERNAME_RE.fullmatch(username):
        raise TokenNotFoundError(
            f"no user can be named {username!r}: Review Board usernames use only letters, "
            "digits and @ . _ - ' +"
        )
    return username


def check_id(token_id: Any) -> int:
    if isinstance(token_id, bool) or not isinstance(token_id, int) or token_id < 0:
        raise TypeError(f"a token id is a non-negative int, got {token_id!r}")
    return token_id


def aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{name} must be timezone-aware (a naive time would be read in the server's zone)"
        )
    return value


def future(when: datetime, name: str) -> datetime:
    """``when``, if it is after now: Review Board accepts a past expiry silently."""
    if when <= datetime.now(UTC):
        raise ValueError(
            f"{name} ({when.isoformat()}) is not in the future: the token would be created "
            "already expired"
        )
    return when


def later(delta: timedelta, name: str) -> datetime:
    """Now + ``delta``, or a ValueError when that is past the last representable date."""
    try:
        return datetime.now(UTC) + delta
    except OverflowError:
        raise ValueError(f"{name} ({delta}) reaches past the year 9999") from None


def expiry(expires: datetime | None, expires_in: timedelta | None) -> datetime | None:
    if expires is not None and expires_in is not None:
        raise ValueError("give expires or expires_in, not both")
    if expires_in is not None:
        return future(later(expires_in, "expires_in"), "now + expires_in")
    if expires is not None:
        return future(aware(expires, "expires"), "expires")
    return None


def replacement_expiry(old: APIToken, expires: datetime | Unset | None) -> datetime | None:
    """When a rotation's replacement expires: ``expires``, or the old token's lifetime from now."""
    if expires is None:
        return None
    if not isinstance(expires, Unset):
        return future(aware(expires, "expires"), "expires")
    if old.expires is None:
        return None
    if old.time_added is None:
        raise ValueError(
            f"token {old.id} has no time_added, so its lifetime cannot be copied to the "
            "replacement; pass expires= (a future time, or None for no expiry)"
        )
    lifetime = old.expires - old.time_added
    if lifetime <= timedelta(0):
        raise ValueError(
            f"token {old.id} expires ({old.expires.isoformat()}) no later than it was added "
            f"({old.time_added.isoformat()}), so its lifetime cannot be copied to the "
            "replacement; pass expires= (a future time, or None for no expiry)"
        )
    return later(lifetime, f"token {old.id}'s lifetime")


def policy_doc(policy: PolicyLike, *, allow_unknown_ids: bool) -> dict[str, Any]:
    if isinstance(policy, Policy):
        doc = policy.to_dict()
        allow_unknown_ids = allow_unknown_ids or policy.allow_unknown_ids
    elif isinstance(policy, Mapping):
        doc = dict(policy)
    elif policy is None:
        raise TypeError("policy cannot be None: pass {} (or Policy.full_access()) for full access")
    else:
        raise PolicyError("The policy must be a JSON object.")
    validate_policy(doc, allow_unknown_ids=allow_unknown_ids)
    for warning in policy_warnings(doc):
        log.warning("policy: %s", warning)
    return doc


def same_time(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs((a - b).total_seconds()) < 1.0


_SESSIONS_LAST = "sessions opened with it last until it is deleted"


def state_of(token: APIToken | None) -> str:
    if token is None:
        return "in an unknown state (it could not be read back)"
    if not token.valid:
        return f"invalid since {token.invalid_date} ({_SESSIONS_LAST})"
    if token.expires is None:
        return "unchanged and still usable, with no expiry"
    if token.usable:
        return f"still usable: it accepts new logins until {token.expires.isoformat()}"
    return f"expired at {token.expires.isoformat()} ({_SESSIONS_LAST})"


def attach(exc: BaseException, note: str, new: APIToken | None = None) -> None:
    """Put what a rotation created on an exception that is not a RotationError.

    The note names ids and nonces only; the token, secret included, goes in
    the exception's ``new_token`` attribute, which tracebacks do not print.
    """
    exc.add_note(note)
    if new is not None:
        with contextlib.suppress(AttributeError, TypeError):
            vars(exc)["new_token"] = new


def id_of(token: APIToken | int) -> str:
    return str(token.id if isinstance(token, APIToken) else token)


def check_patch(ops: Sequence[Mapping[str, Any]]) -> builtins.list[dict[str, Any]]:
    if isinstance(ops, (str, bytes)) or not isinstance(ops, Sequence):
        raise TypeError("extra_data_patch is a list of JSON Patch operations")
    out: builtins.list[dict[str, Any]] = []
    for op in ops:
        if not isinstance(op, Mapping) or "op" not in op or "path" not in op:
            raise TypeError(f"a JSON Patch operation needs 'op' and 'path': {op!r}")
        out.append(dict(op))
    return out


def filtered(
    tokens: builtins.list[APIToken],
    search: str | None,
    valid: bool | None,
    expired: bool | None,
) -> builtins.list[APIToken]:
    needle = search.casefold() if search else None
    return [
        t
        for t in tokens
        if (needle is None or needle in t.note.casefold())
        and (valid is None or t.valid is valid)
        and (expired is None or t.expired is expired)
    ]
