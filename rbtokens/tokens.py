"""Token management verbs: list, get, create, update, invalidate, revoke, rotate.

Use them as ``client.tokens.<verb>(...)``. Every failure is a
:class:`~rbtokens.errors.TokensError` that keeps the server's code, message
and field errors (and the original error as ``__cause__``).

Review Board 8.1 facts these verbs work around (see the project notes):

* only a password login may manage tokens: an API-token login gets 403, which
  becomes :class:`~rbtokens.errors.PasswordLoginRequiredError`;
* an invalid policy on POST crashes the server (HTML 500), so policies are
  validated locally first (:mod:`rbtokens.policy`);
* ``PUT valid=false`` answers 200 but is not saved, so :meth:`Tokens.invalidate`
  checks the result and raises :class:`~rbtokens.errors.InvalidateNotPersistedError`
  (or deletes, if asked to);
* the list resource has no filters, ordering or owner field: ``search``,
  ``valid`` and ``expired`` filter on the client, and the owner is read from
  each token's URL.
"""

from __future__ import annotations

import builtins
import contextlib
import enum
import functools
import logging
import math
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, overload

import anyio

from .errors import (
    AuthenticationError,
    ClientStateError,
    DoesNotExistError,
    HTTPStatusError,
    InvalidateNotPersistedError,
    InvalidFormDataError,
    PasswordLoginRequiredError,
    PermissionDeniedError,
    PolicyError,
    RBTokensError,
    ResponseError,
    RotationError,
    ServerBugError,
    TokenGenerationError,
    TokenNotFoundError,
    TokensError,
    TransportError,
    first_error,
)
from .models import APIToken, Root, User
from .policy import FULL_ACCESS, Policy, policy_warnings, validate_policy

if TYPE_CHECKING:
    from .client import RBClient

__all__ = ["ROTATION_KEY", "UNSET", "ListingFailure", "Pager", "Rotation", "Tokens"]

log = logging.getLogger("rbtokens.tokens")

_USERNAME_RE = re.compile(r"[A-Za-z0-9@._\-'+]+")
_PAGE_CAP = 200  # the server's max-results ceiling
_NOT_COPIED = frozenset({"expired_notification_sent"})  # server-managed extra_data

ROTATION_KEY = "rbtokens_rotation"
"""The ``extra_data`` key :meth:`Tokens.rotate` tags each replacement with.

Its value is a fresh random nonce (``uuid4().hex``) per rotation. If the
answer to the create is lost, the replacement is recovered by this nonce and
nothing else, so another token with the same note is never mistaken for it.
Once the replacement is in hand the key is removed again (one ``PUT``), so
its ``extra_data`` is the old token's; if that ``PUT`` fails the key stays,
which is harmless, and a warning says so.
"""

# What an HTML 500 means, where Review Board 8.1 is known to crash.
_CRASH_POLICY = "Review Board 8.1 does this for a policy it cannot validate"
_CRASH_MISSING_USER = (
    "Review Board 8.1 does this when a non-administrator names a user that does not exist"
)


class _Unset(enum.Enum):
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset.UNSET
""""Leave this field unchanged" for :meth:`Tokens.update`."""

PolicyLike = Policy | Mapping[str, Any]


# -- errors ---------------------------------------------------------------------


def _translate(
    exc: BaseException, action: str, *, token_auth: bool, crash_hint: str | None = None
) -> TokensError:
    """The :class:`TokensError` for a failure of ``action``.

    ``crash_hint`` explains an HTML 500 where Review Board 8.1 is known to
    crash for that request; other 500s are reported as plain crashes.
    """
    if isinstance(exc, TokensError):
        return exc
    if isinstance(exc, PermissionDeniedError):
        if token_auth:
            return PasswordLoginRequiredError(
                f"cannot {action}: Review Board does not let an API-token login manage "
                "API tokens (HTTP 403); log in with a username and password",
                cause=exc,
            )
        return TokensError(
            f"cannot {action}: permission denied (HTTP 403, code {exc.error_code}); only the "
            "tokens' owner or an administrator may manage them",
            cause=exc,
        )
    if isinstance(exc, DoesNotExistError) or (
        isinstance(exc, HTTPStatusError) and exc.http_status == 404
    ):
        return TokenNotFoundError(
            f"cannot {action}: the token or its owner does not exist (HTTP 404)", cause=exc
        )
    if isinstance(exc, InvalidFormDataError) and "policy" in exc.fields:
        return PolicyError(
            f"cannot {action}: the server rejected the policy: {' '.join(exc.fields['policy'])}",
            cause=exc,
        )
    if isinstance(exc, ServerBugError):
        hint = f"; {crash_hint}" if crash_hint else ""
        return TokensError(f"cannot {action}: the server crashed (HTML 500){hint}", cause=exc)
    if isinstance(exc, TokenGenerationError):
        return TokensError(
            f"cannot {action}: the server's token generator collided (code 228) on every "
            "attempt; nothing was created, so it is safe to try again",
            cause=exc,
        )
    return TokensError(f"cannot {action}: {exc}", cause=exc)


# -- results --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rotation:
    """The outcome of :meth:`Tokens.rotate`.

    ``new_token`` holds the new secret (``new_token.token``). ``old_token`` is
    the old token's state after the rotation, or ``None`` when it was deleted
    (``old_deleted``). ``old_expires`` is when the old token stops accepting
    new logins; it is not when it stops working altogether: on Review Board
    8.1 a session opened with a token survives the token's expiry and ends
    only when the token is deleted. Revoke the old token once the grace
    period is over (``await tokens.revoke(rotation.old_token)``) to end them.
    """

    new_token: APIToken
    old_token: APIToken | None
    old_expires: datetime | None
    old_deleted: bool = False


# -- paging ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListingFailure:
    """A user whose tokens an ``all_users`` listing could not read.

    ``vanished`` is True when the user was deleted while the listing ran
    (HTTP 404): such a user has no tokens left, so the listing is still
    complete without them.
    """

    username: str
    error: RBTokensError
    vanished: bool = False

    def __str__(self) -> str:
        what = "was deleted during the listing" if self.vanished else "could not be listed"
        return f"the tokens of {self.username} {what}: {self.error}"


class _Source(Protocol):
    async def fetch(self, start: int, count: int) -> tuple[builtins.list[APIToken], int]:
        """Tokens ``[start, start + count)`` of the listing, and the listing's total."""
        ...


class _ServerSource:
    """One user's tokens, paged by the server (``start``/``max-results``)."""

    def __init__(self, tokens: Tokens, username: str) -> None:
        self._tokens = tokens
        self.username = username

    async def fetch(self, start: int, count: int) -> tuple[builtins.list[APIToken], int]:
        root = await self._tokens._root()
        items: builtins.list[APIToken] = []
        total = 0
        pos, left = start, count
        while left > 0:
            size = min(left, _PAGE_CAP)
            page = await root.get_api_tokens(username=self.username, start=pos, max_results=size)
            total = page.total_results if page.total_results is not None else pos + len(page)
            items.extend(page.items)
            if len(page) < size:
                break
            pos += size
            left -= size
        return items, total


class _LocalSource:
    """An already fetched (and filtered) listing, paged locally."""

    def __init__(self, tokens: builtins.list[APIToken]) -> None:
        self.tokens = tokens

    async def fetch(self, start: int, count: int) -> tuple[builtins.list[APIToken], int]:
        return self.tokens[start : start + count], len(self.tokens)


class Pager:
    """One page of a token listing, TileDB-style but async.

    ``items`` (or ``await page_items()``) is this page; ``page``, ``per_page``,
    ``total_items`` and ``total_pages`` describe the listing. ``async for``
    yields every token from this page to the last. ``await pager[i]`` and
    ``await pager[a:b]`` index the tokens from this page on; negative indices
    count back from the last token, using the total reported with this page.

    An ``all_users`` listing keeps going when one user's tokens cannot be
    read: ``failures`` lists those users (:class:`ListingFailure`) and
    ``complete`` says whether every existing user's tokens are in the listing.
    """

    def __init__(
        self,
        *,
        source: _Source,
        page: int,
        per_page: int,
        items: builtins.list[APIToken],
        total_items: int,
        guard: Callable[[], contextlib.AbstractContextManager[None]],
        failures: Sequence[ListingFailure] = (),
    ) -> None:
        self._source = source
        self._guard = guard
        self.page = page
        self.per_page = per_page
        self.items = items
        self.total_items = total_items
        self.failures: builtins.list[ListingFailure] = builtins.list(failures)

    def __repr__(self) -> str:
        return (
            f"<Pager page {self.page} of {self.total_pages}, {len(self.items)} of "
            f"{self.total_items} tokens>"
        )

    @property
    def complete(self) -> bool:
        """Whether no existing user's tokens are missing (see ``failures``)."""
        return all(f.vanished for f in self.failures)

    @property
    def total_pages(self) -> int:
        """Pages in the listing at ``per_page`` (0 when it is empty)."""
        return math.ceil(self.total_items / self.per_page)

    @property
    def offset(self) -> int:
        """The listing position of this page's first token."""
        return (self.page - 1) * self.per_page

    @property
    def has_next(self) -> bool:
        """Whether a page follows this one."""
        return self.page < self.total_pages

    async def page_items(self) -> builtins.list[APIToken]:
        """This page's tokens."""
        return builtins.list(self.items)

    async def goto(self, page: int) -> Pager:
        """Another page of the same listing."""
        if page < 1:
            raise ValueError(f"pages are numbered from 1, got {page}")
        with self._guard():
            items, total = await self._source.fetch((page - 1) * self.per_page, self.per_page)
        return Pager(
            source=self._source,
            page=page,
            per_page=self.per_page,
            items=items,
            total_items=total,
            guard=self._guard,
            failures=self.failures,
        )

    async def next_page(self) -> Pager | None:
        """The following page, or ``None`` after the last."""
        return await self.goto(self.page + 1) if self.has_next else None

    async def prev_page(self) -> Pager | None:
        """The previous page, or ``None`` on the first."""
        return await self.goto(self.page - 1) if self.page > 1 else None

    async def _iterate(self) -> AsyncIterator[APIToken]:
        seen: set[int] = set()
        for token in self.items:
            seen.add(token.id)
            yield token
        pos = self.offset + len(self.items)
        if len(self.items) < self.per_page:
            return
        chunk = max(self.per_page, 100)
        while True:
            with self._guard():
                items, total = await self._source.fetch(pos, chunk)
            for token in items:
                if token.id not in seen:  # the listing has no ORDER BY: dedupe
                    seen.add(token.id)
                    yield token
            pos += len(items)
            if len(items) < chunk or pos >= total:
                return

    def __aiter__(self) -> AsyncIterator[APIToken]:
        return self._iterate()

    async def all(self) -> builtins.list[APIToken]:
        """Every token from this page to the last."""
        return [token async for token in self]

    @overload
    def __getitem__(self, index: int) -> Awaitable[APIToken]: ...
    @overload
    def __getitem__(self, index: slice) -> Awaitable[builtins.list[APIToken]]: ...
    def __getitem__(self, index: int | slice) -> Awaitable[APIToken | builtins.list[APIToken]]:
        if isinstance(index, slice):
            return self.slice(index.start, index.stop, index.step)
        if isinstance(index, int) and not isinstance(index, bool):
            return self.get(index)
        raise TypeError(f"Pager indices must be integers or slices, not {type(index).__name__}")

    async def get(self, index: int) -> APIToken:
        """The token ``index`` places after this page's start (``pager[index]``)."""
        remaining = self.total_items - self.offset
        pos = index + remaining if index < 0 else index
        if pos < 0 or pos >= remaining:
            raise IndexError(
                f"token index {index} out of range ({remaining} from page {self.page} on)"
            )
        if pos < len(self.items):
            return self.items[pos]
        with self._guard():
            items, _total = await self._source.fetch(self.offset + pos, 1)
        if not items:
            raise IndexError(f"token index {index} out of range (the listing shrank)")
        return items[0]

    async def slice(
        self, start: int | None = None, stop: int | None = None, step: int | None = None
    ) -> builtins.list[APIToken]:
        """``pager[start:stop:step]``, counted from this page's start."""
        remaining = max(0, self.total_items - self.offset)
        wanted = range(*slice(start, stop, step).indices(remaining))
        if not wanted:
            return []
        low, high = min(wanted), max(wanted)
        if high < len(self.items):
            span = self.items[low : high + 1]
        else:
            with self._guard():
                span, _total = await self._source.fetch(self.offset + low, high - low + 1)
        return [span[i - low] for i in wanted if i - low < len(span)]


# -- the verbs ------------------------------------------------------------------


def _check_username(username: str) -> str:
    if not isinstance(username, str) or not _USERNAME_RE.fullmatch(username):
        raise TokenNotFoundError(
            f"no user can be named {username!r}: Review Board usernames use only letters, "
            "digits and @ . _ - ' +"
        )
    return username


def _check_id(token_id: Any) -> int:
    if isinstance(token_id, bool) or not isinstance(token_id, int) or token_id < 0:
        raise TypeError(f"a token id is a non-negative int, got {token_id!r}")
    return token_id


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{name} must be timezone-aware (a naive time would be read in the server's zone)"
        )
    return value


def _future(when: datetime, name: str) -> datetime:
    """``when``, if it is after now: Review Board accepts a past expiry silently."""
    if when <= datetime.now(UTC):
        raise ValueError(
            f"{name} ({when.isoformat()}) is not in the future: the token would be created "
            "already expired"
        )
    return when


def _later(delta: timedelta, name: str) -> datetime:
    """Now + ``delta``, or a ValueError when that is past the last representable date."""
    try:
        return datetime.now(UTC) + delta
    except OverflowError:
        raise ValueError(f"{name} ({delta}) reaches past the year 9999") from None


def _expiry(expires: datetime | None, expires_in: timedelta | None) -> datetime | None:
    if expires is not None and expires_in is not None:
        raise ValueError("give expires or expires_in, not both")
    if expires_in is not None:
        return _future(_later(expires_in, "expires_in"), "now + expires_in")
    if expires is not None:
        return _future(_aware(expires, "expires"), "expires")
    return None


def _replacement_expiry(old: APIToken, expires: datetime | _Unset | None) -> datetime | None:
    """When a rotation's replacement expires: ``expires``, or the old token's lifetime from now."""
    if expires is None:
        return None
    if not isinstance(expires, _Unset):
        return _future(_aware(expires, "expires"), "expires")
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
    return _later(lifetime, f"token {old.id}'s lifetime")


def _policy_doc(policy: PolicyLike, *, allow_unknown_ids: bool) -> dict[str, Any]:
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


def _same_time(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs((a - b).total_seconds()) < 1.0


_SESSIONS_LAST = "sessions opened with it last until it is deleted"


def _state_of(token: APIToken | None) -> str:
    if token is None:
        return "in an unknown state (it could not be read back)"
    if not token.valid:
        return f"invalid since {token.invalid_date} ({_SESSIONS_LAST})"
    if token.expires is None:
        return "unchanged and still usable, with no expiry"
    if token.usable:
        return f"still usable: it accepts new logins until {token.expires.isoformat()}"
    return f"expired at {token.expires.isoformat()} ({_SESSIONS_LAST})"


def _attach(exc: BaseException, note: str, new: APIToken | None = None) -> None:
    """Put what a rotation created on an exception that is not a RotationError.

    The note names ids and nonces only; the token, secret included, goes in
    the exception's ``new_token`` attribute, which tracebacks do not print.
    """
    exc.add_note(note)
    if new is not None:
        with contextlib.suppress(AttributeError, TypeError):
            vars(exc)["new_token"] = new


class _Ref:
    """Where a token lives: owner, id, and its item URL (link or URI template)."""

    __slots__ = ("owner", "token_id", "url")

    def __init__(self, owner: str, token_id: int, url: str) -> None:
        self.owner = owner
        self.token_id = token_id
        self.url = url

    def __str__(self) -> str:
        return f"token {self.token_id} of {self.owner}"


class Tokens:
    """Token management for one client (``client.tokens``).

    The client must log in with a password: Review Board refuses token
    management to API-token logins. ``username=None`` means the logged-in
    user; administrators may name any user. The client keeps one
    :class:`Tokens`, so settings such as ``concurrency`` and the cached
    :meth:`whoami` last as long as the client.
    """

    #: Seconds :meth:`rotate` waits before looking a second time for a
    #: replacement whose creation was not confirmed.
    recovery_delay: float = 2.0

    def __init__(self, client: RBClient, *, concurrency: int = 10) -> None:
        self._client = client
        self.concurrency = max(1, concurrency)
        self._whoami: str | None = None

    def __repr__(self) -> str:
        return f"<Tokens of {self._client!r}>"

    # -- plumbing --

    @contextlib.contextmanager
    def _guard(self, action: str, *, crash_hint: str | None = None) -> Iterator[None]:
        """Turn any failure inside into a :class:`TokensError` about ``action``."""
        try:
            yield
        except TokensError:
            raise
        except BaseExceptionGroup as group:
            inner = first_error(group)
            if isinstance(inner, TokensError):
                raise inner from inner.__cause__
            if isinstance(inner, RBTokensError):
                raise self._translate(inner, action, crash_hint) from inner
            raise
        except RBTokensError as exc:
            raise self._translate(exc, action, crash_hint) from exc

    def _translate(self, exc: RBTokensError, action: str, crash_hint: str | None) -> TokensError:
        return _translate(exc, action, token_auth=self._token_auth, crash_hint=crash_hint)

    @property
    def _token_auth(self) -> bool:
        return bool(getattr(self._client, "uses_api_token", False))

    async def _root(self) -> Root:
        return await self._client.get_root()

    async def _owner(self, username: str | None) -> str:
        return _check_username(username) if username is not None else await self.whoami()

    async def _ref(self, token: APIToken | int, username: str | None) -> _Ref:
        if isinstance(token, APIToken):
            owner = token.username or await self._owner(username)
            if username is not None and username != owner:
                raise ValueError(f"token {token.id} belongs to {owner!r}, not {username!r}")
            link = token.links.get("self")
            if link is not None:
                return _Ref(owner, token.id, link.href)
            token_id = token.id
        else:
            token_id = _check_id(token)
            owner = await self._owner(username)
        url, _rest = (await self._root()).template_url(
            "api_token", username=owner, api_token_id=token_id
        )
        return _Ref(owner, token_id, url)

    async def _request(self, method: str, url: str, data: Mapping[str, Any] | None = None) -> Any:
        return await self._client.request(method, url, data=data)

    async def _item(
        self, method: str, ref: _Ref, data: Mapping[str, Any] | None = None
    ) -> APIToken:
        res = await self._request(method, ref.url, data)
        if not isinstance(res, APIToken):
            raise ResponseError(
                f"expected an API token, got {type(res).__name__}", http_status=200, url=ref.url
            )
        return res

    # -- who --

    async def whoami(self) -> str:
        """The logged-in username, read from the session resource (once per client)."""
        if self._whoami is not None:
            return self._whoami
        with self._guard("read the session"):
            session = await self._client.get_session()
        if not session.authenticated or not session.username:
            raise TokensError("cannot tell whose tokens to manage: the client is not logged in")
        self._whoami = session.username
        return session.username

    # -- reading --

    async def list(
        self,
        username: str | None = None,
        *,
        all_users: bool = False,
        page: int = 1,
        per_page: int = 25,
        search: str | None = None,
        valid: bool | None = None,
        expired: bool | None = None,
    ) -> Pager:
        """One page of tokens, as a :class:`Pager`.

        ``all_users`` lists every user's tokens (inactive users included;
        administrators only), fetching users concurrently; a user whose
        tokens cannot be read is logged, listed in ``pager.failures`` and
        left out (``pager.complete`` is then False), while a refused login or
        permission fails the whole listing. ``search`` matches the note
        (case-insensitive substring); ``valid`` and ``expired`` match the
        server's fields of those names. Filters and ``all_users`` fetch the
        whole listing and page it locally; otherwise the server pages.
        """
        if page < 1:
            raise ValueError(f"pages are numbered from 1, got {page}")
        if per_page < 1:
            raise ValueError(f"per_page must be at least 1, got {per_page}")
        if all_users and username is not None:
            raise ValueError("give a username or all_users=True, not both")
        source: _Source
        failures: builtins.list[ListingFailure] = []
        who = "every user" if all_users else (username or "the logged-in user")
        guard = functools.partial(
            self._guard,
            f"list the tokens of {who}",
            crash_hint=_CRASH_MISSING_USER if username is not None else None,
        )
        with guard():
            if all_users:
                tokens, failures = await self._every_users_tokens()
                source = _LocalSource(_filtered(tokens, search, valid, expired))
            else:
                owner = await self._owner(username)
                server = _ServerSource(self, owner)
                if search is None and valid is None and expired is None:
                    source = server
                else:
                    tokens = await self._user_tokens(owner)
                    source = _LocalSource(_filtered(tokens, search, valid, expired))
            items, total = await source.fetch((page - 1) * per_page, per_page)
        return Pager(
            source=source,
            page=page,
            per_page=per_page,
            items=items,
            total_items=total,
            guard=guard,
            failures=failures,
        )

    async def _user_tokens(self, username: str) -> builtins.list[APIToken]:
        root = await self._root()
        first = await root.get_api_tokens(username=username, max_results=_PAGE_CAP)
        return [t async for t in first.all_items()]

    async def _every_users_tokens(
        self,
    ) -> tuple[builtins.list[APIToken], builtins.list[ListingFailure]]:
        root = await self._root()
        users_page = await root.get_users(include_inactive=True, max_results=_PAGE_CAP)
        users = [u async for u in users_page.all_items(concurrency=min(4, self.concurrency))]
        found: dict[str, builtins.list[APIToken]] = {}
        failures: builtins.list[ListingFailure] = []
        limiter = anyio.CapacityLimiter(self.concurrency)

        async def one(user: User) -> None:
            async with limiter:
                try:
                    first = await user.get_api_tokens(max_results=_PAGE_CAP)
                    found[user.username] = [t async for t in first.all_items()]
                except (AuthenticationError, PermissionDeniedError, ClientStateError):
                    raise  # about this client, not this user: the listing is refused
                except DoesNotExistError as exc:
                    log.info("user %s was deleted while listing tokens", user.username)
                    failures.append(ListingFailure(user.username, exc, vanished=True))
                except RBTokensError as exc:
                    log.warning(
                        "cannot list the tokens of %s; listing the other users': %s",
                        user.username,
                        exc,
                    )
                    failures.append(ListingFailure(user.username, exc))

        async with anyio.create_task_group() as tg:
            for user in users:
                tg.start_soon(one, user)
        failures.sort(key=lambda f: f.username)
        tokens = [t for name in sorted(found) for t in sorted(found[name], key=lambda t: t.id)]
        return tokens, failures

    async def get(self, token_id: int, *, username: str | None = None) -> APIToken:
        """One token; raises :class:`~rbtokens.errors.TokenNotFoundError` if missing."""
        hint = _CRASH_MISSING_USER if username is not None else None
        with self._guard(f"get token {token_id}", crash_hint=hint):
            ref = await self._ref(token_id, username)
            return await self._item("GET", ref)

    async def find(self, token_id: int, *, username: str | None = None) -> APIToken | None:
        """Like :meth:`get`, but ``None`` when the token (or user) does not exist."""
        try:
            return await self.get(token_id, username=username)
        except TokenNotFoundError:
            return None

    # -- writing --

    async def create(
        self,
        username: str | None = None,
        *,
        note: str,
        policy: PolicyLike = FULL_ACCESS,
        expires: datetime | None = None,
        expires_in: timedelta | None = None,
        extra_data: Mapping[str, Any] | None = None,
        allow_unknown_policy_ids: bool = False,
    ) -> APIToken:
        """Create a token and return it, secret included (``token.token``).

        ``policy`` defaults to full access, as in Review Board; it is checked
        locally first (see :mod:`rbtokens.policy`). ``expires`` must be
        timezone-aware and in the future (the server would accept a past one
        and create an expired token); ``expires_in`` is counted from now.
        ``extra_data`` is stored with its JSON types intact. Code 228 (a
        generator collision) is retried by the client.
        """
        if not isinstance(note, str):
            raise TypeError(f"note must be a str, got {type(note).__name__}")
        fields: dict[str, Any] = {
            "note": note,
            "policy": _policy_doc(policy, allow_unknown_ids=allow_unknown_policy_ids),
        }
        when = _expiry(expires, expires_in)
        if when is not None:
            fields["expires"] = when
        if extra_data:
            fields["extra_data_json"] = dict(extra_data)
        owner_hint = username or "the logged-in user"
        with self._guard(f"create a token for {owner_hint}", crash_hint=_CRASH_POLICY):
            owner = await self._owner(username)
            return await self._create(owner, fields)

    async def _create(self, owner: str, fields: Mapping[str, Any]) -> APIToken:
        url, _rest = (await self._root()).template_url("api_tokens", username=owner)
        res = await self._request("POST", url, fields)
        if not isinstance(res, APIToken):
            raise ResponseError(
                f"expected the new API token, got {type(res).__name__}", http_status=201, url=url
            )
        log.info("created token %d for %s", res.id, owner)
        return res

    async def update(
        self,
        token: APIToken | int,
        *,
        username: str | None = None,
        note: str | _Unset = UNSET,
        policy: PolicyLike | _Unset = UNSET,
        expires: datetime | _Unset | None = UNSET,
        extra_data: Mapping[str, Any] | _Unset = UNSET,
        extra_data_patch: Sequence[Mapping[str, Any]] | _Unset = UNSET,
        allow_unknown_policy_ids: bool = False,
    ) -> APIToken:
        """Change a token's fields; returns its new state.

        Only the fields given change (:data:`UNSET`, the default, leaves a
        field alone). ``expires=None`` removes the expiry; ``None`` is refused
        for every other field (``note=""`` clears the note, ``policy={}``
        means full access). ``extra_data`` is merged into the token's
        (RFC 7386: a ``None`` value deletes a key); ``extra_data_patch`` is an
        RFC 6902 JSON Patch, applied after the merge (a failed ``test`` op
        changes nothing).
        """
        fields: dict[str, Any] = {}
        if not isinstance(note, _Unset):
            if not isinstance(note, str):
                raise TypeError(
                    f"note must be a str, got {type(note).__name__} (note='' clears the note)"
                )
            fields["note"] = note
        if not isinstance(policy, _Unset):
            fields["policy"] = _policy_doc(policy, allow_unknown_ids=allow_unknown_policy_ids)
        if not isinstance(expires, _Unset):
            fields["expires"] = None if expires is None else _aware(expires, "expires")
        if not isinstance(extra_data, _Unset):
            if not isinstance(extra_data, Mapping):
                raise TypeError(
                    f"extra_data must be a mapping, got {type(extra_data).__name__} (a None "
                    "value in it deletes that key)"
                )
            fields["extra_data_json"] = dict(extra_data)
        if not isinstance(extra_data_patch, _Unset):
            fields["extra_data_json_patch"] = _check_patch(extra_data_patch)
        if not fields:
            raise ValueError("nothing to update: give at least one field")
        with self._guard(f"update token {_id_of(token)}"):
            ref = await self._ref(token, username)
            return await self._item("PUT", ref, fields)

    async def invalidate(
        self,
        token: APIToken | int,
        *,
        reason: str,
        username: str | None = None,
        delete_if_not_persisted: bool = False,
    ) -> APIToken | None:
        """Mark a token invalid (``PUT valid=false``), keeping its record.

        Review Board 8.1 answers 200 but does not save this. The answer is
        checked (and re-read): if the token is still valid this raises
        :class:`~rbtokens.errors.InvalidateNotPersistedError`, or, with
        ``delete_if_not_persisted``, deletes the token and returns ``None``.
        """
        action = f"invalidate token {_id_of(token)}"
        with self._guard(action):
            ref = await self._ref(token, username)
            answer = await self._item("PUT", ref, {"valid": False, "invalid_reason": reason})
            if not answer.valid:
                return answer
            stored = await self._item("GET", ref)
            if not stored.valid:
                return stored
            if delete_if_not_persisted:
                log.warning(
                    "the server did not persist the invalidation of %s; deleting it instead", ref
                )
                await self._delete(ref)
                return None
        raise InvalidateNotPersistedError(
            f"cannot invalidate {ref}: the server answered HTTP 200 but did not save it, and "
            "the token is still valid and still authenticates (a Review Board 8.1 bug: PUT "
            "valid=false is overwritten by a stale save). Use revoke() to delete the token, or "
            "pass delete_if_not_persisted=True"
        )

    async def revoke(self, token: APIToken | int, *, username: str | None = None) -> None:
        """Delete a token (``DELETE``): the only revocation Review Board 8.1 honours.

        The deletion is confirmed by reading the token back (404), because
        8.1's malformed 204 answer can make a DELETE look done when the server
        never received it (see :meth:`_delete`).
        """
        with self._guard(f"revoke token {_id_of(token)}"):
            ref = await self._ref(token, username)
            await self._delete(ref)
        log.info("deleted %s", ref)

    async def _delete(self, ref: _Ref, attempts: int = 3) -> None:
        """DELETE until a GET says the token is gone.

        Review Board 8.1 answers DELETE with a 204 that carries a body. Its
        14 bytes can stay in a kept-alive connection and break the next
        request on it, which the transport reports as a successful DELETE
        even when the server dropped the request. So check, and repeat.
        """
        for attempt in range(attempts):
            try:
                await self._request("DELETE", ref.url)
            except DoesNotExistError:
                if attempt == 0:
                    raise
                return
            try:
                await self._item("GET", ref)
            except DoesNotExistError:
                return
            log.warning("DELETE of %s was answered but the token still exists; again", ref)
        raise TokensError(
            f"cannot revoke {ref}: the server answered {attempts} DELETE requests but the "
            "token still exists"
        )

    delete = revoke

    async def rotate(
        self,
        token: APIToken | int,
        *,
        grace: timedelta = timedelta(hours=24),
        username: str | None = None,
        expires: datetime | _Unset | None = UNSET,
    ) -> Rotation:
        """Replace a token: a new one with the same note, policy and extra_data.

        The replacement is created first, its ``extra_data`` tagged with a
        fresh nonce under :data:`ROTATION_KEY` while its creation is
        unconfirmed (the tag is removed afterwards). It keeps the old token's
        lifetime (``expires - time_added``, counted from now) unless
        ``expires`` is given (``None``: no expiry); when the old token's
        lifetime is not positive, pass ``expires``.

        Then the old token is retired. With a positive ``grace`` its expiry
        becomes now + ``grace`` (never later than it already was), which is
        when it stops accepting new logins. On Review Board 8.1 the sessions
        already opened with it outlive that expiry and end only when the
        token is deleted, so revoke the old token once the grace period is
        over. With no grace the old token is deleted at once, ending its
        sessions too (8.1 does not persist ``PUT valid=false``).

        Arguments are checked before anything is created. After that, a
        :class:`~rbtokens.errors.RotationError` says what state each token
        is in and carries every token created, secrets included:
        ``new_token`` (or ``candidates`` if the create was answered more than
        once). When the answer to the create is lost, the replacement is
        looked up by its nonce, twice, :attr:`recovery_delay` seconds apart;
        if it is not found, ``possibly_created`` is True and the message
        names the nonce to look for. If the rotation is cancelled after the
        replacement exists, the cancellation goes on with the replacement in
        its ``new_token`` attribute, a note, and its id logged.
        """
        if not isinstance(grace, timedelta):
            raise TypeError(f"grace must be a timedelta, got {type(grace).__name__}")
        _later(grace, "grace")  # a grace too large to add fails now, not after the create
        if isinstance(expires, datetime):
            _future(_aware(expires, "expires"), "expires")
        hint = _CRASH_MISSING_USER if username is not None else None
        with self._guard(f"rotate token {_id_of(token)}", crash_hint=hint):
            ref = await self._ref(token, username)
            old = await self._item("GET", ref)
        nonce = uuid.uuid4().hex
        extra = {k: v for k, v in old.extra_data.items() if k not in _NOT_COPIED}
        extra[ROTATION_KEY] = nonce
        fields: dict[str, Any] = {"note": old.note, "policy": old.policy, "extra_data_json": extra}
        when = _replacement_expiry(old, expires)
        if when is not None:
            fields["expires"] = when

        new = await self._create_for_rotation(ref, old, fields, nonce)
        log.info("created token %d to replace %s (rotation nonce %s)", new.id, ref, nonce)
        return await self._retire(ref, old, new, grace)

    async def _create_for_rotation(
        self, ref: _Ref, old: APIToken, fields: Mapping[str, Any], nonce: str
    ) -> APIToken:
        look_for = (
            f"look for a token of {ref.owner} whose extra_data[{ROTATION_KEY!r}] is {nonce!r}"
        )
        try:
            return await self._create(ref.owner, fields)
        except (TransportError, ResponseError) as exc:
            lost = exc  # no usable answer: the server may have created it, or may still
        except RBTokensError as exc:
            raise RotationError(
                f"cannot rotate {ref}: the server refused to create the replacement, so "
                f"nothing was created; the old token is {_state_of(old)}: {exc}",
                old_token=old,
                cause=exc,
            ) from exc
        except BaseException as exc:
            _attach(
                exc,
                f"rbtokens: rotating {ref} stopped while creating its replacement, which may "
                f"exist: {look_for}",
            )
            raise
        try:
            found = await self._find_replacement(ref.owner, nonce)
            if not found:
                await anyio.sleep(self.recovery_delay)
                found = await self._find_replacement(ref.owner, nonce)
        except RBTokensError as exc:
            raise RotationError(
                f"cannot rotate {ref}: the answer to creating the replacement was lost ({lost}) "
                f"and the token list could not be read to look for it ({exc}). The replacement "
                f"may exist or may still be created: {look_for}. The old token is "
                f"{_state_of(old)}",
                old_token=old,
                possibly_created=True,
                cause=lost,
            ) from lost
        except BaseException as exc:
            _attach(
                exc,
                f"rbtokens: rotating {ref} stopped while looking for its replacement, whose "
                f"creation was not confirmed: {look_for}",
            )
            raise
        if len(found) == 1:
            log.warning(
                "recovered replacement token %d for %s by its rotation nonce after: %s",
                found[0].id,
                ref,
                lost,
            )
            return found[0]
        if found:
            raise RotationError(
                f"cannot rotate {ref}: the answer to creating the replacement was lost ({lost}) "
                f"and {len(found)} tokens carrying this rotation's nonce were created: "
                + ", ".join(str(t.id) for t in found)
                + ". All of them, secrets included, are in RotationError.candidates; keep one "
                f"and revoke the others. The old token is {_state_of(old)}",
                old_token=old,
                candidates=found,
                cause=lost,
            ) from lost
        raise RotationError(
            f"cannot rotate {ref}: the answer to creating the replacement was lost ({lost}) "
            f"and no replacement appeared in two listings {self.recovery_delay:g} s apart. The "
            f"server may still create it: {look_for} (its secret is listed with it) before "
            f"rotating again. The old token is {_state_of(old)}",
            old_token=old,
            possibly_created=True,
            cause=lost,
        ) from lost

    async def _find_replacement(self, owner: str, nonce: str) -> builtins.list[APIToken]:
        """The owner's tokens tagged with this rotation's nonce."""
        return [
            t for t in await self._user_tokens(owner) if t.extra_data.get(ROTATION_KEY) == nonce
        ]

    async def _retire(self, ref: _Ref, old: APIToken, new: APIToken, grace: timedelta) -> Rotation:
        """Untag ``new`` and retire the old token; whatever happens, the caller gets ``new``."""
        try:
            new = await self._untag(ref.owner, new)
            return await self._retire_old(ref, old, new, grace)
        except RotationError:
            raise
        except Exception as exc:
            state = await self._probe(ref)
            raise RotationError(
                f"rotated {ref}: replacement token {new.id} was created (its secret is in "
                f"RotationError.new_token), but the rotation then failed "
                f"({type(exc).__name__}: {exc}); the old token is {_state_of(state)}",
                new_token=new,
                old_token=state,
                cause=exc,
            ) from exc
        except BaseException as exc:  # cancelled or interrupted: keep the secret reachable
            log.warning(
                "rotating %s was interrupted (%s) after its replacement, token %d, was "
                "created; the replacement is the exception's new_token attribute and the old "
                "token's state is unknown",
                ref,
                type(exc).__name__,
                new.id,
            )
            _attach(
                exc,
                f"rbtokens: rotating {ref} created replacement token {new.id} before this "
                "interruption; it is this exception's new_token attribute (secret included). "
                "The old token's state is unknown.",
                new,
            )
            raise

    async def _untag(self, owner: str, new: APIToken) -> APIToken:
        """``new`` without its rotation nonce, which is only needed until it is in hand."""
        if ROTATION_KEY not in new.extra_data:
            return new
        try:
            with self._guard(f"remove the rotation nonce from token {new.id}"):
                ref = await self._ref(new, owner)
                untagged = await self._item("PUT", ref, {"extra_data_json": {ROTATION_KEY: None}})
        except TokensError as exc:
            log.warning("replacement token %d keeps extra_data[%r]: %s", new.id, ROTATION_KEY, exc)
            return new
        # The answer carries the secret too; keep the one in hand if it does not.
        return untagged if untagged.token == new.token else new

    async def _retire_old(
        self, ref: _Ref, old: APIToken, new: APIToken, grace: timedelta
    ) -> Rotation:
        if grace <= timedelta(0):
            # Not PUT valid=false first: 8.1 answers it but does not save it.
            try:
                with self._guard(f"delete {ref}"):
                    await self._delete(ref)
            except TokenNotFoundError:
                log.info("%s was already gone; replaced by token %d", ref, new.id)
            except TokensError as exc:
                raise await self._retire_failed(ref, new, "deleting the old token", exc) from exc
            else:
                log.info("deleted %s, replaced by token %d", ref, new.id)
            return Rotation(new_token=new, old_token=None, old_expires=None, old_deleted=True)
        target = datetime.now(UTC) + grace
        if old.expires is not None and old.expires <= target:
            return Rotation(new_token=new, old_token=old, old_expires=old.expires)
        try:
            with self._guard(f"set the expiry of {ref}"):
                updated = await self._item("PUT", ref, {"expires": target})
                if not _same_time(updated.expires, target):
                    updated = await self._item("GET", ref)
        except TokensError as exc:
            raise await self._retire_failed(
                ref, new, "setting the old token's expiry", exc
            ) from exc
        if not _same_time(updated.expires, target):
            raise RotationError(
                f"rotated {ref}: replacement token {new.id} was created (its secret is in "
                "RotationError.new_token), but the server did not keep the old token's new "
                f"expiry {target.isoformat()}; the old token is {_state_of(updated)}",
                new_token=new,
                old_token=updated,
            )
        log.info(
            "%s accepts new logins until %s; revoke it then to end the sessions opened with it",
            ref,
            target.isoformat(),
        )
        return Rotation(new_token=new, old_token=updated, old_expires=updated.expires)

    async def _retire_failed(
        self, ref: _Ref, new: APIToken, step: str, exc: TokensError
    ) -> RotationError:
        """The error for a failed retire step, with the old token's state read back."""
        state = await self._probe(ref)
        return RotationError(
            f"rotated {ref}: replacement token {new.id} was created (its secret is in "
            f"RotationError.new_token), but {step} failed ({exc}); the old token is "
            f"{_state_of(state)}",
            new_token=new,
            old_token=state,
            cause=exc.__cause__ or exc,
        )

    async def _probe(self, ref: _Ref) -> APIToken | None:
        """The token's current state, or ``None`` if it cannot be read."""
        try:
            return await self._item("GET", ref)
        except RBTokensError:
            return None


def _id_of(token: APIToken | int) -> str:
    return str(token.id if isinstance(token, APIToken) else token)


def _check_patch(ops: Sequence[Mapping[str, Any]]) -> builtins.list[dict[str, Any]]:
    if isinstance(ops, (str, bytes)) or not isinstance(ops, Sequence):
        raise TypeError("extra_data_patch is a list of JSON Patch operations")
    out: builtins.list[dict[str, Any]] = []
    for op in ops:
        if not isinstance(op, Mapping) or "op" not in op or "path" not in op:
            raise TypeError(f"a JSON Patch operation needs 'op' and 'path': {op!r}")
        out.append(dict(op))
    return out


def _filtered(
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
