"""Every exception rbtokens raises, under one root.

::

    RBTokensError
    ├── ClientStateError            the client (or its transport) is used after it was closed
    ├── NavigationError             no such link or URI template, or a missing value
    ├── ForeignOriginError          a link or redirect leaves the server's origin
    ├── TransportError              the request did not get an answer
    │   ├── ConnectError
    │   ├── RequestTimeout
    │   └── ResponseTooLarge
    ├── ResponseError               the server answered something unusable
    │   ├── DecodeError             malformed or truncated JSON, or the wrong shape
    │   ├── UnexpectedContentType   HTML or another type where JSON was expected
    │   └── HTTPStatusError         an error status without a Review Board payload
    │       └── ServerBugError      an HTML 500 page: a server-side crash
    ├── APIError                    a Review Board error payload (code, message, fields)
    │   ├── BadRequestError         400
    │   │   └── InvalidFormDataError    105, with ``fields``
    │   ├── AuthenticationError     401
    │   │   ├── NotLoggedInError        103
    │   │   └── LoginFailedError        104
    │   │       └── LoginLockedOutError the server's per-IP login lockout
    │   ├── PermissionDeniedError   403 (101)
    │   ├── DoesNotExistError       404 (100)
    │   ├── RateLimitedError        429 (114), with ``retry_after``
    │   └── TokenGenerationError    228: a collision, safe to retry
    ├── TokensError                 a token operation failed (see ``rbtokens.tokens``)
    │   ├── TokenNotFoundError
    │   ├── PasswordLoginRequiredError
    │   ├── InvalidateNotPersistedError
    │   ├── PolicyError
    │   └── RotationError
    └── JournalError                an audit's journal (``--state``) cannot be used
        └── JournalLockedError      another audit is writing it

Messages never include credentials or token secrets: response excerpts pass
through :func:`rbtokens._redact.redact` first. This module imports nothing of
rbtokens but that helper: every layer may raise these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ._redact import redact

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ClientStateError",
    "ConnectError",
    "DecodeError",
    "DoesNotExistError",
    "ForeignOriginError",
    "HTTPStatusError",
    "InvalidFormDataError",
    "InvalidateNotPersistedError",
    "JournalError",
    "JournalLockedError",
    "LoginFailedError",
    "LoginLockedOutError",
    "NavigationError",
    "NotLoggedInError",
    "PasswordLoginRequiredError",
    "PermissionDeniedError",
    "PolicyError",
    "RBTokensError",
    "RateLimitedError",
    "RequestTimeout",
    "ResponseError",
    "ResponseTooLarge",
    "RotationError",
    "ServerBugError",
    "TokenGenerationError",
    "TokenNotFoundError",
    "TokensError",
    "TransportError",
    "UnexpectedContentType",
    "api_error_class",
    "first_error",
]


class RBTokensError(Exception):
    """The root of every error rbtokens raises."""


class ClientStateError(RBTokensError):
    """The client or its transport was used after it was closed.

    Using an :class:`~rbtokens.RBClient` without ``async with`` is allowed (as
    with httpx): it opens lazily, and :meth:`~rbtokens.RBClient.aclose` then
    releases it. Once closed it cannot be used or reopened. A resource whose
    client has been garbage-collected raises it too.
    """


class NavigationError(RBTokensError):
    """A link or URI template is missing, or a template value is missing."""


class ForeignOriginError(RBTokensError):
    """A URL points outside the configured server's origin."""

    def __init__(self, url: str, origin: str) -> None:
        super().__init__(
            f"refusing to send credentials to {redact(url)}: it is outside the "
            f"server's origin {origin} (pass allow_foreign_origins=True to follow "
            "such links without credentials)"
        )
        self.url = url
        self.origin = origin


class TransportError(RBTokensError):
    """The request failed before a complete response arrived."""

    def __init__(self, message: str, *, method: str = "", url: str = "") -> None:
        where = f"{method} {url}: " if method else ""
        super().__init__(where + redact(message))
        self.method = method
        self.url = url


class ConnectError(TransportError):
    """The connection failed, was reset, or closed early."""


class RequestTimeout(TransportError):
    """The request took longer than its timeout."""


class ResponseTooLarge(TransportError):
    """The response body exceeded the client's size cap."""


class ResponseError(RBTokensError):
    """The server's answer could not be used."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int,
        content_type: str | None = None,
        body_excerpt: str = "",
        url: str = "",
    ) -> None:
        detail = f"HTTP {http_status}"
        if content_type:
            detail += f", {content_type}"
        text = f"{message} ({detail})"
        if url:
            text += f" from {url}"
        if body_excerpt:
            text += f": {body_excerpt}"
        super().__init__(text)
        self.http_status = http_status
        self.content_type = content_type
        self.body_excerpt = body_excerpt
        self.url = url


class DecodeError(ResponseError):
    """The body is not valid JSON, is truncated, or has the wrong shape."""


class UnexpectedContentType(ResponseError):
    """The body is not a Review Board JSON type."""


class HTTPStatusError(ResponseError):
    """An error status that carries no Review Board error payload."""


class ServerBugError(HTTPStatusError):
    """The server crashed (an HTML 500 page): usually a Review Board bug."""


class APIError(RBTokensError):
    """Review Board answered with an error payload.

    Carries ``http_status``, ``error_code``, ``message``, ``fields`` (for code
    105) and the raw payload as ``rsp``, as RBTools' ``APIError`` does.
    """

    def __init__(
        self,
        *,
        http_status: int,
        error_code: int,
        message: str,
        error_type: str = "",
        fields: Mapping[str, list[str]] | None = None,
        rsp: Mapping[str, Any] | None = None,
        url: str = "",
    ) -> None:
        self.http_status = http_status
        self.error_code = error_code
        self.message = message
        self.error_type = error_type
        self.fields: dict[str, list[str]] = dict(fields or {})
        self.rsp: dict[str, Any] = dict(rsp or {})
        self.url = url
        super().__init__(self._describe())

    def _describe(self) -> str:
        text = f"HTTP {self.http_status}, API error {self.error_code}: {self.message}"
        if self.fields:
            parts = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in self.fields.items())
            text += f" ({parts})"
        return redact(text)


class BadRequestError(APIError):
    """HTTP 400."""


class InvalidFormDataError(BadRequestError):
    """Code 105: one or more fields were rejected; see ``fields``."""


class AuthenticationError(APIError):
    """HTTP 401."""


class NotLoggedInError(AuthenticationError):
    """Code 103: the request carried no usable credentials."""


class LoginFailedError(AuthenticationError):
    """Code 104: the credentials were refused."""


class LoginLockedOutError(LoginFailedError):
    """Too many failed logins from this address: the server refuses every login.

    Review Board counts failures per minute (``LOGIN_LIMIT_RATE``, 5/m by
    default) and then refuses even correct passwords. Wait for the next minute.
    rbtokens never retries a login.
    """

    def _describe(self) -> str:
        return super()._describe() + (
            " -- login locked out: the server saw too many failed logins from this "
            "address and now refuses every login, even a correct password; wait for "
            "the next minute before trying again (rbtokens does not retry logins)"
        )


class PermissionDeniedError(APIError):
    """Code 101 (HTTP 403)."""


class DoesNotExistError(APIError):
    """Code 100 (HTTP 404)."""


class RateLimitedError(APIError):
    """Code 114 (HTTP 429).

    ``retry_after`` is the wait in seconds the server asked for, when given;
    ``retry_at`` the absolute time (UTC) at which to try again.
    """

    retry_after: float | None = None
    retry_at: datetime | None = None


class TokenGenerationError(APIError):
    """Code 228: the server's token generator collided. Nothing was created."""


class TokensError(RBTokensError):
    """A token operation failed.

    When the failure came from the server, ``__cause__`` is the underlying
    error and ``http_status``, ``error_code``, ``message`` and ``fields``
    mirror it.
    """

    def __init__(self, message: str, *, cause: BaseException | None = None) -> None:
        super().__init__(redact(message))
        api = cause if isinstance(cause, APIError) else None
        self.http_status: int | None = getattr(cause, "http_status", None)
        self.error_code: int | None = api.error_code if api else None
        self.message: str = api.message if api else redact(message)
        self.fields: dict[str, list[str]] = dict(api.fields) if api else {}
        if cause is not None:
            self.__cause__ = cause


class TokenNotFoundError(TokensError):
    """The token (or its owner) does not exist."""


class PasswordLoginRequiredError(TokensError):
    """The server refuses token management to API-token sessions."""


class InvalidateNotPersistedError(TokensError):
    """The server answered the invalidation but the token is still valid."""


class PolicyError(TokensError, ValueError):
    """An API token policy breaks the server's validation rules."""


class RotationError(TokensError):
    """A rotation stopped part-way; the attributes tell each token's state.

    ``new_token`` is the replacement (secret included) if one was created,
    ``candidates`` every token that may be it when that is ambiguous,
    ``old_token`` the old token as last read, and ``possibly_created`` is
    False only when no replacement exists for certain.
    """

    # The tokens are :class:`~rbtokens.APIToken` objects. They are typed
    # ``Any`` here because this module sits below the resources layer and
    # imports no model.
    def __init__(
        self,
        message: str,
        *,
        new_token: Any = None,
        old_token: Any = None,
        candidates: Sequence[Any] = (),
        possibly_created: bool = False,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message, cause=cause)
        self.new_token: Any = new_token
        self.old_token: Any = old_token
        self.candidates: list[Any] = list(candidates)
        self.possibly_created = possibly_created or new_token is not None or bool(candidates)


_BY_CODE: dict[int, type[APIError]] = {
    100: DoesNotExistError,
    101: PermissionDeniedError,
    103: NotLoggedInError,
    104: LoginFailedError,
    105: InvalidFormDataError,
    114: RateLimitedError,
    228: TokenGenerationError,
}
_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: DoesNotExistError,
    429: RateLimitedError,
}
_LOCKOUT_TEXT = "maximum number of login attempts"


def first_error(group: BaseExceptionGroup[Any]) -> BaseException:
    """The error to raise for a failed task group: its first rbtokens error.

    Callers catch :class:`RBTokensError`, not an exception group; concurrent
    workers fail one at a time, so the first rbtokens error is the cause.
    """
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        exc = pending.pop(0)
        if isinstance(exc, BaseExceptionGroup):
            pending[:0] = exc.exceptions
        else:
            leaves.append(exc)
    return next((e for e in leaves if isinstance(e, RBTokensError)), leaves[0] if leaves else group)


def api_error_class(http_status: int, error_code: int, message: str) -> type[APIError]:
    """Pick the most specific :class:`APIError` subclass for a payload."""
    cls = _BY_CODE.get(error_code) or _BY_STATUS.get(http_status, APIError)
    if cls is LoginFailedError and _LOCKOUT_TEXT in message.lower():
        return LoginLockedOutError
    return cls


class JournalError(RBTokensError):
    """An audit's journal (``--state``) cannot be used: stale, from another audit, or unreadable.

    Nothing is merged silently: the message says what differs and how to
    start afresh (``--fresh``).
    """


class JournalLockedError(JournalError):
    """Another audit holds the journal (the message says who)."""
