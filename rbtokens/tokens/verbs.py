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
import functools
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from ..errors import InvalidateNotPersistedError, TokenNotFoundError
from ..policy import FULL_ACCESS
from ..resources import APIToken
from .checks import (
    UNSET,
    PolicyLike,
    Unset,
    aware,
    check_patch,
    expiry,
    filtered,
    future,
    id_of,
    later,
    policy_doc,
    replacement_expiry,
)
from .failures import CRASH_MISSING_USER, CRASH_POLICY
from .listing import ListingWalk, every_users_tokens
from .ops import TokenOps, TokensClient
from .pager import ListingFailure, LocalSource, Pager, ServerSource, Source
from .rotation import Rotation, Rotator

__all__ = ["Tokens"]

log = logging.getLogger("rbtokens.tokens")


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

    def __init__(self, client: TokensClient, *, concurrency: int = 10) -> None:
        self._client = client
        self._ops = TokenOps(client)
        self.concurrency = max(1, concurrency)

    def __repr__(self) -> str:
        return f"<Tokens of {self._client!r}>"

    async def whoami(self) -> str:
        """The logged-in username, read from the session resource (once per client)."""
        return await self._ops.whoami()

    async def list(
        self,
        username: str | None = None,
        *,
        all_users: bool = False,
        walk: ListingWalk = "auto",
        page: int = 1,
        per_page: int = 25,
        search: str | None = None,
        valid: bool | None = None,
        expired: bool | None = None,
    ) -> Pager:
        """One page of tokens, as a :class:`Pager`.

        ``all_users`` lists every user's tokens (inactive users included;
        administrators only). With ``walk="auto"`` an administrator's login
        reads them through the verified bulk listing, 200 users a request and
        no secret asked for (see :mod:`rbtokens.tokens.everyone`); otherwise,
        or with ``walk="per-user"``, one list per user, concurrently: a user
        whose tokens cannot be read is logged, listed in ``pager.failures``
        and left out (``pager.complete`` is then False), while a refused
        login or permission fails the whole listing. ``search`` matches the note
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
        source: Source
        failures: builtins.list[ListingFailure] = []
        who = "every user" if all_users else (username or "the logged-in user")
        guard = functools.partial(
            self._ops.guard,
            f"list the tokens of {who}",
            crash_hint=CRASH_MISSING_USER if username is not None else None,
        )
        with guard():
            if all_users:
                tokens, failures = await every_users_tokens(
                    await self._ops.root(), concurrency=self.concurrency, walk=walk
                )
                source = LocalSource(filtered(tokens, search, valid, expired))
            else:
                owner = await self._ops.owner(username)
                server = ServerSource((await self._ops.root()).api_tokens_at(owner))
                if search is None and valid is None and expired is None:
                    source = server
                else:
                    tokens = await self._ops.tokens_of(owner)
                    source = LocalSource(filtered(tokens, search, valid, expired))
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

    async def get(self, token_id: int, *, username: str | None = None) -> APIToken:
        """One token; raises :class:`~rbtokens.errors.TokenNotFoundError` if missing."""
        hint = CRASH_MISSING_USER if username is not None else None
        with self._ops.guard(f"get token {token_id}", crash_hint=hint):
            ref = await self._ops.ref(token_id, username)
            return await ref.item.get()

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
            "policy": policy_doc(policy, allow_unknown_ids=allow_unknown_policy_ids),
        }
        when = expiry(expires, expires_in)
        if when is not None:
            fields["expires"] = when
        if extra_data:
            fields["extra_data_json"] = dict(extra_data)
        owner_hint = username or "the logged-in user"
        with self._ops.guard(f"create a token for {owner_hint}", crash_hint=CRASH_POLICY):
            owner = await self._ops.owner(username)
            return await self._ops.create_for(owner, fields)

    async def update(
        self,
        token: APIToken | int,
        *,
        username: str | None = None,
        note: str | Unset = UNSET,
        policy: PolicyLike | Unset = UNSET,
        expires: datetime | Unset | None = UNSET,
        extra_data: Mapping[str, Any] | Unset = UNSET,
        extra_data_patch: Sequence[Mapping[str, Any]] | Unset = UNSET,
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
        if not isinstance(note, Unset):
            if not isinstance(note, str):
                raise TypeError(
                    f"note must be a str, got {type(note).__name__} (note='' clears the note)"
                )
            fields["note"] = note
        if not isinstance(policy, Unset):
            fields["policy"] = policy_doc(policy, allow_unknown_ids=allow_unknown_policy_ids)
        if not isinstance(expires, Unset):
            fields["expires"] = None if expires is None else aware(expires, "expires")
        if not isinstance(extra_data, Unset):
            if not isinstance(extra_data, Mapping):
                raise TypeError(
                    f"extra_data must be a mapping, got {type(extra_data).__name__} (a None "
                    "value in it deletes that key)"
                )
            fields["extra_data_json"] = dict(extra_data)
        if not isinstance(extra_data_patch, Unset):
            fields["extra_data_json_patch"] = check_patch(extra_data_patch)
        if not fields:
            raise ValueError("nothing to update: give at least one field")
        with self._ops.guard(f"update token {id_of(token)}"):
            ref = await self._ops.ref(token, username)
            return await ref.item.update(**fields)

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
        action = f"invalidate token {id_of(token)}"
        with self._ops.guard(action):
            ref = await self._ops.ref(token, username)
            answer = await ref.item.update(valid=False, invalid_reason=reason)
            if not answer.valid:
                return answer
            stored = await ref.item.get()
            if not stored.valid:
                return stored
            if delete_if_not_persisted:
                log.warning(
                    "the server did not persist the invalidation of %s; deleting it instead", ref
                )
                await self._ops.delete_ref(ref)
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
        with self._ops.guard(f"revoke token {id_of(token)}"):
            ref = await self._ops.ref(token, username)
            await self._ops.delete_ref(ref)
        log.info("deleted %s", ref)

    delete = revoke

    async def rotate(
        self,
        token: APIToken | int,
        *,
        grace: timedelta = timedelta(hours=24),
        username: str | None = None,
        expires: datetime | Unset | None = UNSET,
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
        later(grace, "grace")  # a grace too large to add fails now, not after the create
        if isinstance(expires, datetime):
            future(aware(expires, "expires"), "expires")
        hint = CRASH_MISSING_USER if username is not None else None
        with self._ops.guard(f"rotate token {id_of(token)}", crash_hint=hint):
            ref = await self._ops.ref(token, username)
            old = await ref.item.get()
        when = replacement_expiry(old, expires)
        rotator = Rotator(
            self._ops, ref, old, grace=grace, expires=when, recovery_delay=self.recovery_delay
        )
        return await rotator.run()
