"""The ``secrets-exposed`` check: can anyone read every user's tokens?

Review Board 8.1 checks no permission when it serializes users with
``expand=api_tokens``: anyone who may see users, anonymous requests included
on a default install, gets every user's tokens, secrets and all. Once the
walk has seen a user with tokens, the audit asks for that user, *without
credentials*, through the user resource and the users list with
``expand=api_tokens`` and only the ``id`` field (so no secret is fetched).
Any token listed is a finding. The outcome is one of :data:`ExposureCheck`:
``exposed``, ``not-exposed``, ``anonymous-refused`` (a warning adds that
logged-in users were not checked), ``rate-limited`` (anonymous requests from
this address are over their limit: the check did not run, a warning says
until when; it never waits, and never stops the walk), ``no-tokens``
(nothing to look for), ``failed`` (also a failure: the report is
incomplete) or ``off``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from yarl import URL

from ..errors import (
    AuthenticationError,
    PermissionDeniedError,
    RateLimitedError,
    RBTokensError,
)
from ..http import waiting_allowed
from ..resources import ItemRef, ListRef, Root, User
from .report import ExposureCheck, Failure, Finding, failure
from .ruleset import Severity

__all__ = ["Exposure", "check_exposure"]

# Token ids only, never a secret. The link must be in only-links: Review Board
# expands only the links it would show.
_QUERY = {
    "expand": "api_tokens",
    "only_fields": "id,username,api_tokens",
    "only_links": "api_tokens",
}
_LIMITED_WARNING = (
    "secrets-exposed did not run: anonymous requests from this address are over Review "
    "Board's rate limit until {when}"
)
_REFUSED_WARNING = (
    "anonymous requests are refused, so secrets-exposed could not check whether "
    "logged-in users can read other users' tokens with expand=api_tokens "
    "(on Review Board 8.1 they can)"
)


_Ref = ItemRef[User] | ListRef[User]


class _SeenUser(msgspec.Struct):
    """A user as an anonymous request sees it: whatever tokens are inlined."""

    username: str
    api_tokens: list[dict[str, Any]] = msgspec.field(default_factory=list)


class _SeenList(msgspec.Struct):
    users: list[_SeenUser]


class _SeenItem(msgspec.Struct):
    user: _SeenUser


_Seen = _SeenItem | _SeenList


class Exposure(msgspec.Struct):
    """What the check found."""

    outcome: ExposureCheck
    finding: Finding | None = None
    failures: list[Failure] = msgspec.field(default_factory=list)
    warnings: list[str] = msgspec.field(default_factory=list)


async def check_exposure(root: Root, username: str, *, severity: Severity) -> Exposure:
    """Ask for ``username``'s tokens the way anyone could (never waiting for a rate limit)."""
    with waiting_allowed(0):
        return await _check(root, username, severity)


async def _check(root: Root, username: str, severity: Severity) -> Exposure:
    # The raw payload, not resources: any tokens inlined count, with or
    # without Review Board's ``_expanded`` mark.
    probes: tuple[tuple[str, Callable[[], _Ref], dict[str, Any], type[_Seen]], ...] = (
        ("the user resource", lambda: root.user_at(username), {}, _SeenItem),
        (
            "the users list",
            lambda: root.template_list("users", User),
            {"q": username, "include_inactive": True},
            _SeenList,
        ),
    )
    leaked: list[str] = []
    failures: list[Failure] = []
    limited: RateLimitedError | None = None
    answered = False
    for what, make_ref, query, shape in probes:
        if limited is not None:
            break
        path = ""
        try:
            ref = make_ref()
            path = URL(ref.url).path
            seen: _Seen = await ref.get_as(shape, anonymous=True, **_QUERY, **query)
        except (AuthenticationError, PermissionDeniedError):
            continue  # refused
        except RateLimitedError as exc:
            limited = exc  # the address's anonymous window: not this audit's problem
            continue
        except RBTokensError as exc:
            if getattr(exc, "http_status", None) in (401, 403):  # a proxy's page
                continue
            prefix = f"secrets-exposed check (GET {path}): "
            failures.append(failure(None, exc, prefix=prefix))
            continue
        answered = True
        # Any user's inlined tokens are a leak (``q`` is a prefix search).
        users = seen.users if isinstance(seen, _SeenList) else [seen.user]
        if any(u.api_tokens for u in users):
            leaked.append(what)
    if leaked:  # whatever else failed: the leak is shown
        return Exposure("exposed", _finding(leaked, severity), failures)
    if failures:
        return Exposure("failed", failures=failures)
    if limited is not None:
        when = limited.retry_at.isoformat() if limited.retry_at else "the window ends"
        return Exposure("rate-limited", warnings=[_LIMITED_WARNING.format(when=when)])
    if answered:
        return Exposure("not-exposed")
    return Exposure("anonymous-refused", warnings=[_REFUSED_WARNING])


def _finding(leaked: list[str], severity: Severity) -> Finding:
    # The same words whichever user was asked for: two runs give the same finding.
    where = " and ".join(leaked)
    return Finding(
        username=None,
        token_id=None,
        rule="secrets-exposed",
        severity=severity,
        message=(
            f"API tokens are readable without logging in: {where}, asked for without "
            "credentials with expand=api_tokens, listed a user's tokens (Review Board 8.1 "
            "includes their secrets). Refuse every API request whose expand names api_tokens, "
            "on any path, then rotate every token"
        ),
    )
