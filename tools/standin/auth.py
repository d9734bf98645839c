"""Who a request is: Review Board 8.1's session cookie, Basic and token logins.

* ``Authorization: Basic b64(user:pass)`` (the username may be the e-mail
  address) and ``Authorization: token <secret>`` (lowercase ``token``) log in;
  any other scheme is ignored. A failed header login answers 401 (104) and
  logs the sent cookie out.
* A successful header login opens a session (``Set-Cookie: rbsessionid``),
  unless the server keeps no sessions (``cookies=False``). A Basic header of
  the session's own user is not checked again; another user's replaces it.
* A token session remembers its token: token management stays refused, and
  deleting the token logs the session out. Invalidation or expiry does not.
* A cookie for a session that does not exist is deleted (Django's
  ``SessionMiddleware``) and the request is served anonymously.
* Using a token writes its ``last_used``; a legacy token's requests carry
  ``X-API-Token-Deprecated``.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from rbtokens import Request

from .dataset import Dataset
from .records import TokenRecord, UserRecord
from .stats import StandInStats
from .wire import CLEARED_COOKIE, COOKIE_ATTRS, SESSION_COOKIE, Refusal, login_failed

__all__ = ["Authenticator", "Identity", "Sessions"]

DEPRECATED_TOKEN = (
    "This token uses a deprecated format. Please generate a new API token, "
    "and update any clients using this token."
)


@dataclass(slots=True)
class Identity:
    """The requester as Review Board sees it."""

    user: UserRecord | None = None
    token: TokenRecord | None = None
    """The API token the session (or this request) logged in with."""
    header_login: bool = False
    """Authenticated by this request's ``Authorization`` header (djblets' "authenticated")."""
    set_cookie: str | None = None
    deprecated_token: bool = False

    @property
    def via_token(self) -> bool:
        """Whether an API token logged this requester in."""
        return self.token is not None


class Sessions:
    """Session key → (username, token id); a set of keys to test builders."""

    def __init__(self) -> None:
        self._store: dict[str, tuple[str, int | None]] = {}

    def open(self, username: str, token_id: int | None = None, key: str | None = None) -> str:
        """A new session for ``username``; returns its key."""
        key = key or secrets.token_hex(16)
        self._store[key] = (username, token_id)
        return key

    def get(self, key: str) -> tuple[str, int | None] | None:
        return self._store.get(key)

    def end(self, key: str) -> None:
        self._store.pop(key, None)

    def clear(self) -> None:
        self._store.clear()

    def __contains__(self, key: object) -> bool:
        return key in self._store

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._store))

    def __len__(self) -> int:
        return len(self._store)


def _when(value: datetime) -> str:
    # Django's "N j, Y, P" (the message is localised: clients must not parse it).
    return value.strftime("%b. %-d, %Y, %-I:%M %p").replace("AM", "a.m.").replace("PM", "p.m.")


def session_key(headers: dict[str, str]) -> str | None:
    """The ``rbsessionid`` value of a ``Cookie`` header (lowercase header names)."""
    raw = headers.get("cookie")
    if not raw or SESSION_COOKIE not in raw:
        return None
    for part in raw.split(";"):
        name, _, value = part.strip().partition("=")
        if name == SESSION_COOKIE:
            return value.strip('"') or None
    return None


class Authenticator:
    """Identifies requests against a dataset; counts logins in ``stats()``."""

    def __init__(
        self,
        dataset: Dataset,
        stats: Callable[[], StandInStats],
        changed: Callable[[str, int | None], None],
    ) -> None:
        self.dataset = dataset
        self.sessions = Sessions()
        self.cookies = True
        """False: a server that keeps no sessions (every request sends its credentials)."""
        self._stats = stats
        self._changed = changed

    def identify(self, request: Request, headers: dict[str, str]) -> Identity:
        """The requester; raises :class:`Refusal` (401) for a failed header login."""
        ident = Identity()
        key = session_key(headers) if self.cookies else None
        if key is not None:
            self._resume(ident, key)
        auth = headers.get("authorization")
        if auth and auth.startswith("Basic "):
            self._basic(ident, auth[6:], key)
        elif auth and auth.startswith("token "):
            self._token(ident, auth[6:].strip(), key)
        return ident

    def _resume(self, ident: Identity, key: str) -> None:
        entry = self.sessions.get(key)
        user = self.dataset.users.get(entry[0]) if entry is not None else None
        token_id = entry[1] if entry is not None else None
        token = self.dataset.tokens.get(token_id) if token_id is not None else None
        if user is None or (token_id is not None and token is None):
            # No such session, or its token was deleted: logged out.
            self.sessions.end(key)
            ident.set_cookie = CLEARED_COOKIE
            return
        ident.user, ident.token = user, token

    def _basic(self, ident: Identity, encoded: str, key: str | None) -> None:
        try:
            raw = base64.b64decode(encoded, validate=True).decode()
            username, _, password = raw.partition(":")
        except (binascii.Error, UnicodeDecodeError):
            username, password = "", ""
        user = self._find_user(username)
        if ident.user is not None and ident.user is user and not ident.via_token:
            ident.header_login = True
            return  # The session's own user: the password is not checked again.
        stats = self._stats()
        stats.logins += 1
        if user is None or not user.is_active or user.password != password:
            self._fail(key)
        assert user is not None
        self._open(ident, user, None)

    def _token(self, ident: Identity, secret: str, key: str | None) -> None:
        stats = self._stats()
        stats.token_logins += 1
        found = self.dataset.find_token(secret)
        owner = self.dataset.users.get(found.owner) if found is not None else None
        now = self.dataset.clock()
        if found is None or owner is None or not owner.is_active:
            self._fail(key, "The API token is not valid")
        assert found is not None and owner is not None
        if not found.valid:
            when = _when(found.invalid_date or now)
            self._fail(key, f"This API token became invalid on {when}: {found.invalid_reason}")
        if found.expires is not None and found.expired_at(now):
            self._fail(key, f"This API token expired on {_when(found.expires)}.")
        found.last_used = now
        self._changed(found.owner, found.id)
        ident.deprecated_token = found.deprecated
        self._open(ident, owner, found)

    def _find_user(self, name: str) -> UserRecord | None:
        user = self.dataset.users.get(name)
        if user is None and "@" in name:
            user = next((u for u in self.dataset.users.values() if u.email == name), None)
        return user

    def _fail(self, key: str | None, msg: str | None = None) -> None:
        self._stats().failed_logins += 1
        if key is not None:
            self.sessions.end(key)
        raise Refusal(login_failed() if msg is None else login_failed(msg))

    def _open(self, ident: Identity, user: UserRecord, token: TokenRecord | None) -> None:
        ident.user, ident.token, ident.header_login = user, token, True
        if not self.cookies:
            ident.set_cookie = None
            return
        key = self.sessions.open(user.username, token.id if token is not None else None)
        self._stats().sessions += 1
        ident.set_cookie = f"{SESSION_COOKIE}={key}; {COOKIE_ATTRS}"
