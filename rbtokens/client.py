"""``RBClient``: the single request choke point.

Every request goes through :meth:`RBClient.request`, which applies the
origin check, the session cookie, retries and timeouts, then decodes the
response by its mime type.

Authentication: the first request carries the ``Authorization`` header (Basic
or ``token``); the ``rbsessionid`` cookie it returns is reused by every later
request, so a whole audit costs the server one password check. Concurrent
first requests wait for that login instead of each sending the password.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import ipaddress
import logging
import random
import ssl
import time
import warnings
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlencode

import anyio
from yarl import URL

from .decoding import (
    decode_json,
    decode_response,
    error_from_response,
    is_json_content_type,
    mime_name,
    parse_retry_after,
)
from .encoding import encode_form, encode_query, merge_query
from .errors import (
    APIError,
    AuthenticationError,
    ClientStateError,
    ConnectError,
    ForeignOriginError,
    HTTPStatusError,
    LoginFailedError,
    LoginLockedOutError,
    NavigationError,
    RequestTimeout,
    UnexpectedContentType,
    redact,
)
from .models import Root, Session
from .resources import ItemResource, ListResource
from .transport import AiohttpTransport, Request, Response, Timeouts, Transport

if TYPE_CHECKING:
    from .tokens import Tokens

__all__ = ["ClientStats", "RBClient", "RBTokensWarning", "RetryPolicy"]

log = logging.getLogger("rbtokens")

SESSION_COOKIE = "rbsessionid"
_IDEMPOTENT = frozenset({"GET", "HEAD", "DELETE"})
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
_SERVER_CREDENTIALS = frozenset({"authorization", "cookie"})
_MAX_REDIRECTS = 5
_DEFAULT_PORTS = {"http": 80, "https": 443}
_wall_clock = time.time  # the server's login window is aligned to wall-clock minutes


class RBTokensWarning(UserWarning):
    """A configuration that works but weakens security."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries with exponential backoff and full jitter.

    Only idempotent requests (GET, HEAD, DELETE) are retried, on connection
    errors, timeouts, 502/503/504 and 429 (waiting ``Retry-After``, up to
    ``max_retry_after``). POST is retried only on code 228, when the server
    created nothing. A failed login is never retried.
    """

    attempts: int = 4
    backoff: float = 0.25
    max_backoff: float = 8.0
    max_retry_after: float = 120.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        ceiling = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not crypto


DEFAULT_RETRY = RetryPolicy()
DEFAULT_TIMEOUTS = Timeouts()


@dataclass(slots=True)
class ClientStats:
    """Counters of what the client did: requests, retries, logins, waiting."""

    requests: int = 0
    retries: int = 0
    logins: int = 0
    rate_limited_seconds: float = 0.0


class _State(enum.Enum):
    UNOPENED = "unopened"
    OPENED = "opened"
    CLOSED = "closed"


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class RBClient:
    """An async client for one Review Board server and one identity.

    Use it as ``async with RBClient(url, username=..., password=...) as c``,
    or without ``async with`` (as with httpx) and then ``await c.aclose()``.
    After ``aclose()`` every request, including one sleeping between retries,
    raises :class:`~rbtokens.errors.ClientStateError`.

    Given an ``aiohttp.ClientSession``, the client borrows only its connector
    (connection pool, limits, TLS settings) and its ``trace_configs``, and
    leaves it open; it never uses that session's cookie jar, default headers
    or ``auth``, so several clients (identities) may share one session. Without
    one it owns a session. A ``transport`` replaces the network entirely (see
    :class:`~rbtokens.transport.MockTransport`).

    Authentication: one login (the first request, sent with the credentials)
    gives a session cookie that later requests carry. Only the login itself
    holds the login lock. When the server ends the session (a 401, or an
    answer deleting the cookie), the client logs in once more and replays the
    request if it is a GET, HEAD or DELETE (a 401 is always replayed, as the
    server refused it); a POST or PUT served anonymously raises
    :class:`~rbtokens.errors.AuthenticationError`. Credentials go with every
    request only when the server answers a successful login without a cookie.
    A refused login is never sent again; a lockout is not retried before the
    next minute.
    """

    def __init__(
        self,
        url: str | URL,
        *,
        username: str | None = None,
        password: str | None = None,
        api_token: str | None = None,
        session: Any = None,
        transport: Transport | None = None,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        retry: RetryPolicy = DEFAULT_RETRY,
        verify: bool | str | ssl.SSLContext = True,
        allow_foreign_origins: bool = False,
        headers: Mapping[str, str] | None = None,
        max_body_size: int | None = None,
        user_agent: str = "rbtokens",
    ) -> None:
        base = URL(str(url))
        if base.raw_user is not None or base.raw_password is not None:
            # The message must not echo the URL: it holds a secret.
            raise ValueError(
                "the server URL must not contain credentials (user:password@host); "
                "pass username= and password= (or api_token=) instead"
            )
        if not base.is_absolute() or base.scheme not in ("http", "https"):
            raise ValueError(f"server URL must be absolute http(s), got {url!r}")
        if not base.path.endswith("/"):
            base = base.with_path(base.path + "/")
        if base.explicit_port is not None and base.explicit_port == _DEFAULT_PORTS[base.scheme]:
            base = base.with_port(None)  # https://h:443/ and https://h/ are one origin
        self.base_url = base.with_query(None).with_fragment(None)
        self.api_url = self.base_url.join(URL("api/"))
        if password is not None and username is None:
            raise ValueError("password given without username")
        if api_token is not None and password is not None:
            raise ValueError("give either a password or an api_token, not both")
        self.username = username
        self._password = password
        self._api_token = api_token
        if transport is None:
            kwargs: dict[str, Any] = {"session": session, "timeouts": timeouts, "verify": verify}
            if max_body_size is not None:
                kwargs["max_body_size"] = max_body_size
            transport = AiohttpTransport(**kwargs)
        self._transport = transport
        self.retry = retry
        self.allow_foreign_origins = allow_foreign_origins
        self._headers = {"Accept": "application/json", "User-Agent": user_agent}
        self._headers.update(headers or {})
        self._cookie: str | None = None
        self._login_lock = asyncio.Lock()
        self._login_error: APIError | None = None
        self._lockout: tuple[APIError, float] | None = None
        self._header_auth = False
        self._root: Root | None = None
        self._state = _State.UNOPENED
        self._self_ref = weakref.ref(self)
        self._auth_cache: tuple[tuple[str | None, ...] | None, str | None] = (None, None)
        self._origin: tuple[URL | None, tuple[str, str, int | None] | None] = (None, None)
        self._query_cache: dict[tuple[tuple[str, Any], ...], str] = {}
        self.stats = ClientStats()
        if verify is False:
            warnings.warn(
                "TLS verification is disabled: the server's identity is not checked",
                RBTokensWarning,
                stacklevel=2,
            )
        secret = "a password" if password is not None else "an API token" if api_token else None
        if secret and base.scheme == "http" and not _is_loopback(base.host):
            warnings.warn(
                f"sending {secret} over plain http:// to {base.host}",
                RBTokensWarning,
                stacklevel=2,
            )

    def __repr__(self) -> str:
        auth = "password" if self._password else "api_token" if self._api_token else "anonymous"
        return f"<RBClient {self.base_url} user={self.username!r} auth={auth} {self._state.value}>"

    # -- lifecycle -------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._state is _State.CLOSED:
            raise ClientStateError("an RBClient cannot be reopened after it was closed")
        self._state = _State.OPENED
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the transport (and the aiohttp session, if owned)."""
        if self._state is not _State.CLOSED:
            self._state = _State.CLOSED
            await self._transport.aclose()

    @property
    def tokens(self) -> Tokens:
        """Token management verbs for this client (see :mod:`rbtokens.tokens`).

        Made on first use and kept, so its settings (``concurrency``,
        ``recovery_delay``) and its cached :meth:`~rbtokens.tokens.Tokens.whoami`
        last as long as the client.
        """
        verbs: Tokens | None = self.__dict__.get("_tokens")
        if verbs is None:
            from .tokens import Tokens  # noqa: PLC0415 - tokens imports this module

            verbs = self.__dict__["_tokens"] = Tokens(self)
        return verbs

    @property
    def uses_api_token(self) -> bool:
        """Whether this client authenticates with an API token."""
        return self._api_token is not None

    @property
    def has_session_cookie(self) -> bool:
        """Whether a login has happened and its cookie is held."""
        return bool(self._cookie)

    # -- navigation entry points ----------------------------------------

    async def get_root(self, *, refresh: bool = False) -> Root:
        """The root resource (cached after the first fetch)."""
        if self._root is None or refresh:
            res = await self.request("GET", self.api_url)
            if not isinstance(res, Root):
                raise UnexpectedContentType(
                    f"{self.api_url} is not a Review Board API root ({type(res).__name__})",
                    http_status=200,
                    url=str(self.api_url),
                )
            self._root = res
        return self._root

    async def get_path(self, path: str, **query: Any) -> Any:
        """GET a path relative to the API root, e.g. ``"users/alice/"``."""
        return await self.request("GET", self._api_path(path), query=encode_query(query))

    async def get_json(self, path_or_url: str | URL, **query: Any) -> Any:
        """GET a path (relative to the API root) or URL; return its JSON as sent.

        The same checks and errors as :meth:`get_path`, but no Struct: fields
        the server left out (``only_fields=...``) stay out. For generic tools.
        """
        target = URL(str(path_or_url))
        if not target.is_absolute():
            target = self._api_path(str(path_or_url))
        return await self.request("GET", target, query=encode_query(query), raw=True)

    def _api_path(self, path: str) -> URL:
        # Review Board needs the trailing slash on the path, never after a query.
        path, sep, rest = path.lstrip("/").partition("?")
        if path and not path.endswith("/"):
            path += "/"
        try:
            return self.api_url.join(URL(path + sep + rest))
        except ValueError as exc:
            raise NavigationError(f"invalid path {redact(path)!r}: {exc}") from None

    async def get_url(self, url: str | URL, **query: Any) -> Any:
        """GET an absolute URL on this server."""
        return await self.request("GET", url, query=encode_query(query))

    async def get_session(self) -> Session:
        """The session resource (who is logged in)."""
        root = await self.get_root()
        return await root.get_session()

    async def login(self) -> Session:
        """Log in now (normally this happens on the first request)."""
        return await self.get_session()

    async def logout(self) -> None:
        """End the server session and forget the cookie."""
        if self._cookie:
            try:
                await self.request("DELETE", self.api_url.join(URL("session/")))
            finally:
                self._cookie = None

    # -- the choke point -------------------------------------------------

    def _resolve(self, url: str | URL, *, base: URL | None = None) -> URL:
        # Hrefs and Location headers come from the server: a malformed or
        # non-HTTP one is a NavigationError, never a ValueError.
        try:
            target = url if isinstance(url, URL) else URL(str(url))
            if not target.scheme or not target.is_absolute():  # "//host/x" has no scheme
                target = (base or self.base_url).join(target)
        except ValueError as exc:
            raise NavigationError(f"invalid URL {redact(str(url))!r}: {exc}") from None
        if target.scheme not in ("http", "https") or not target.host:
            raise NavigationError(f"refusing to follow a non-HTTP URL {redact(str(target))!r}")
        return target

    def _same_origin(self, url: URL) -> bool:
        # (scheme, host, port), with the scheme's default port filled in:
        # https://h:443/x and https://h/x are the same origin.
        if self._origin[0] is not self.base_url:  # computed once per base URL
            self._origin = (self.base_url, _origin_key(self.base_url))
        return _origin_key(url) == self._origin[1]

    async def request(
        self,
        method: str,
        url: str | URL,
        *,
        query: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        cached: Any = None,
        raw: bool = False,
        anonymous: bool = False,
    ) -> Any:
        """Send one request and return the decoded resource.

        ``query`` is merged into the URL; ``data`` is form-encoded. With
        ``cached`` (an item holding an ETag) the request sends
        ``If-None-Match`` and a 304 returns ``cached``. With ``raw`` the
        checked JSON payload is returned as sent, not decoded into Structs.
        ``anonymous`` sends no ``Authorization`` and no cookie (a login's, or
        one in ``headers=``) and keeps none it gets back. Other identifying
        headers in ``headers=``, a client certificate in ``verify=`` or a
        custom transport still go along.
        """
        if self._state is _State.CLOSED:
            raise ClientStateError("this RBClient is closed")
        target = self._resolve(url)
        if query:
            target = self._with_query(target, query)
        same_origin = self._same_origin(target)
        if not same_origin and not self.allow_foreign_origins:
            raise ForeignOriginError(str(target), str(self.base_url.origin()))
        credentials = same_origin and not anonymous
        body = urlencode(encode_form(data)).encode() if data is not None else None
        headers = dict(self._headers)
        if not same_origin:
            # Nothing that authenticates leaves the server's origin, even when
            # put in ``headers=`` by hand.
            headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIAL_HEADERS}
        elif anonymous:  # a proxy's credentials are not the server's: they stay
            headers = {k: v for k, v in headers.items() if k.lower() not in _SERVER_CREDENTIALS}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        etag = getattr(cached, "etag", None)
        if etag:
            headers["If-None-Match"] = etag
        response = await self._send_authenticated(
            method.upper(), target, headers, body, credentials
        )
        if response.status == 304 and cached is not None:
            return cached
        if raw:
            return decode_json(response.status, response.headers, response.body, url=str(target))
        return self._decode(response, str(target))

    def _with_query(self, target: URL, query: Mapping[str, Any]) -> URL:
        # merge_query() on a URL without a query costs ~7 µs (yarl parses the
        # empty query and encodes every pair); an audit sends the same query
        # to every user's list, so its encoded form is cached and the URL is
        # built from already-encoded parts (~1 µs).
        if target.raw_query_string or target.raw_fragment:
            return merge_query(target, query)
        try:
            key = tuple(query.items())
            encoded = self._query_cache.get(key)
        except TypeError:  # an unhashable value
            return merge_query(target, query)
        if encoded is None:
            encoded = merge_query(target, query).raw_query_string
            if len(self._query_cache) >= 64:
                self._query_cache.clear()
            self._query_cache[key] = encoded
        return URL.build(
            scheme=target.scheme,
            authority=target.raw_authority,
            path=target.raw_path,
            query_string=encoded,
            encoded=True,
        )

    def _decode(self, response: Response, url: str) -> Any:
        res = decode_response(response.status, response.headers, response.body, url=url)
        ref = self._self_ref
        if isinstance(res, ItemResource):
            res._bind(ref)
            etag = response.headers.get("etag")
            if etag:
                res.__dict__["_rb_etag"] = etag
        elif isinstance(res, ListResource):
            res._bind(ref)
            for item in res.items:
                item._bind(ref)
        return res

    def _auth_header(self) -> str | None:
        # Built once per set of credentials: this runs for every request.
        key = (self.username, self._password, self._api_token)
        if self._auth_cache[0] == key:
            return self._auth_cache[1]
        value: str | None = None
        if self._api_token is not None:
            value = f"token {self._api_token}"
        elif self.username is not None and self._password is not None:
            raw = f"{self.username}:{self._password}".encode()
            value = "Basic " + base64.b64encode(raw).decode("ascii")
        self._auth_cache = (key, value)
        return value

    async def _send_authenticated(
        self,
        method: str,
        url: URL,
        headers: dict[str, str],
        body: bytes | None,
        credentials: bool,
    ) -> Response:
        auth = self._auth_header() if credentials else None
        if auth is None:
            return (await self._send_with_retries(method, url, headers, body, None))[0]
        relogged = False
        while True:
            response, sent = await self._send_with_retries(method, url, headers, body, auth)
            if sent is None:  # the login itself, or header authentication
                return response
            if response.status != 401 and response.cookies.get(SESSION_COOKIE) != "":
                return response
            # The server ended the session this request carried (a 401, or an
            # answer that deletes the cookie): log in again, once.
            self._forget_cookie(sent)
            if self._is_logout(method, url):
                return response
            if response.status != 401 and (relogged or method not in _IDEMPOTENT):
                # Served anonymously: not replayed, and not passed off as ours.
                raise self._session_ended(method, url)
            if relogged:
                return response  # decoded into the 401 error
            log.info("the session ended; logging in again")
            relogged = True

    def _session_ended(self, method: str, url: URL) -> AuthenticationError:
        return AuthenticationError(
            http_status=401,
            error_code=103,
            message=(
                f"the server ended the session during {method} {url.with_query(None)}; "
                "it was answered anonymously and was not replayed"
            ),
            url=str(url),
        )

    def _is_logout(self, method: str, url: URL) -> bool:
        return method == "DELETE" and url.with_query(None) == self.api_url.join(URL("session/"))

    def _forget_cookie(self, cookie: str) -> None:
        # A late answer to a request that carried an older cookie must not
        # wipe the fresh one another request just obtained.
        if self._cookie == cookie:
            self._cookie = None

    async def _attempt(
        self, method: str, url: URL, headers: dict[str, str], body: bytes | None, auth: str
    ) -> tuple[Response, str | None]:
        """One authenticated attempt; returns the response and the cookie it carried."""
        self._check_login_guard()
        if self._header_auth:
            response, _ = await self._send_following(
                method, url, {**headers, "Authorization": auth}, body
            )
            if response.status == 401:
                raise self._login_failed(response, url)
            return response, None
        cookie = self._cookie
        if cookie is None:
            async with self._login_lock:
                self._check_login_guard()
                cookie = self._cookie
                if cookie is None:
                    # Only the login itself holds the lock: one attempt, no
                    # retry sleeps. Waiters then send with the new cookie.
                    return await self._login(method, url, headers, body, auth), None
        response, final = await self._send_following(
            method, url, self._with_cookie(headers, cookie), body
        )
        self._take_cookie(response, final, cookie)
        return response, cookie

    async def _login(
        self, method: str, url: URL, headers: dict[str, str], body: bytes | None, auth: str
    ) -> Response:
        response, final = await self._send_following(
            method, url, {**headers, "Authorization": auth}, body
        )
        self.stats.logins += 1  # counted once answered: a lost login is retried
        if response.status == 401:
            # Never retried: each failure counts towards the server's lockout.
            raise self._login_failed(response, url)
        self._take_cookie(response, final, None)
        if not self._cookie and _is_rb_success(response):
            log.debug("the server set no session cookie; sending credentials every time")
            self._header_auth = True
        return response

    def _login_failed(self, response: Response, url: URL) -> APIError | HTTPStatusError:
        err = error_from_response(response.status, response.headers, response.body, url=str(url))
        if isinstance(err, LoginLockedOutError):
            # The server's window is aligned to the minute: the lockout lifts
            # at the next one, so this answer is reused only until then.
            self._lockout = (err, (_wall_clock() // 60 + 1) * 60)
        elif isinstance(err, LoginFailedError):
            self._login_error = err  # a refused password is final
        return err

    def _check_login_guard(self) -> None:
        if self._login_error is not None:
            raise self._login_error
        if self._lockout is not None:
            err, until = self._lockout
            if _wall_clock() < until:
                raise err
            self._lockout = None

    def _with_cookie(self, headers: dict[str, str], cookie: str) -> dict[str, str]:
        return {**headers, "Cookie": f"{SESSION_COOKIE}={cookie}"}

    def _check_open(self) -> None:
        if self._state is _State.CLOSED:
            raise ClientStateError("this RBClient is closed")

    async def _send_with_retries(
        self,
        method: str,
        url: URL,
        headers: dict[str, str],
        body: bytes | None,
        auth: str | None,
    ) -> tuple[Response, str | None]:
        """Send with retries; returns the response and the session cookie it carried."""
        policy = self.retry
        attempt = 0
        while True:
            attempt += 1
            self._check_open()
            try:
                if auth is None:
                    response, _ = await self._send_following(method, url, headers, body)
                    sent_cookie = None
                else:
                    response, sent_cookie = await self._attempt(method, url, headers, body, auth)
            except (ConnectError, RequestTimeout) as exc:
                if not self._may_retry(method, attempt, policy):
                    raise
                delay = policy.delay(attempt)
                log.warning(
                    "%s %s failed (%s); retry %d in %.2fs", method, url, exc, attempt, delay
                )
                self.stats.retries += 1
                await anyio.sleep(delay)
                continue
            retry_delay = self._retry_delay(method, response, attempt, policy)
            if retry_delay is None:
                if attempt > 1 and method == "DELETE" and response.status == 404:
                    # The first attempt deleted it and its answer was lost.
                    return Response(204, {}, b"", {}, url), sent_cookie
                return response, sent_cookie
            log.warning(
                "%s %s answered %d; retry %d in %.2fs",
                method,
                url,
                response.status,
                attempt,
                retry_delay,
            )
            self.stats.retries += 1
            if response.status == 429:
                self.stats.rate_limited_seconds += retry_delay
            await anyio.sleep(retry_delay)

    def _may_retry(self, method: str, attempt: int, policy: RetryPolicy) -> bool:
        return method in _IDEMPOTENT and attempt < policy.attempts

    def _retry_delay(
        self, method: str, response: Response, attempt: int, policy: RetryPolicy
    ) -> float | None:
        if attempt >= policy.attempts:
            return None
        status = response.status
        # A POST or PUT is retried on 429 only when Review Board itself refused
        # it (code 114, before the view ran); a 429 from anything else is not
        # proof that nothing happened.
        if status == 429 and (method in _IDEMPOTENT or _error_code(response) == 114):
            after = parse_retry_after(response.headers.get("retry-after"))
            if after is None:
                return policy.delay(attempt)
            if after > policy.max_retry_after:
                return None
            return after + random.uniform(0, 0.1)  # noqa: S311
        if method == "POST" and status >= 500 and _error_code(response) == 228:
            return policy.delay(attempt)
        if method in _IDEMPOTENT and status in _RETRY_STATUSES:
            return policy.delay(attempt)
        return None

    def _take_cookie(self, response: Response, final: URL, sent: str | None) -> None:
        # Only the server's own origin may set (or clear) the session cookie:
        # a redirect to another origin must not plant one.
        value = response.cookies.get(SESSION_COOKIE)
        if value is None or not self._same_origin(response.url or final):
            return
        if value:
            self._cookie = value
        elif sent is not None:
            self._forget_cookie(sent)

    async def _send_following(
        self, method: str, url: URL, headers: dict[str, str], body: bytes | None
    ) -> tuple[Response, URL]:
        """Send, following GET/HEAD redirects; returns the response and its URL."""
        for _ in range(_MAX_REDIRECTS + 1):
            self._check_open()
            self.stats.requests += 1
            response = await self._transport.send(Request(method, url, headers, body))
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s %s -> %d", method, url.with_query(None), response.status)
            if response.status not in _REDIRECTS or "location" not in response.headers:
                return response, url
            target = self._resolve(response.headers["location"], base=url)
            if method not in ("GET", "HEAD"):
                raise HTTPStatusError(
                    f"the server redirected a {method} to {target}; "
                    "Review Board URLs need a trailing slash",
                    http_status=response.status,
                    url=str(url),
                )
            if not self._same_origin(target):
                if not self.allow_foreign_origins:
                    raise ForeignOriginError(str(target), str(self.base_url.origin()))
                headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIAL_HEADERS}
            url = target
        raise HTTPStatusError("too many redirects", http_status=response.status, url=str(url))


def _origin_key(url: URL) -> tuple[str, str, int | None] | None:
    try:
        scheme, host = url.scheme.lower(), url.host
    except ValueError:
        return None
    if not scheme or not host:
        return None
    port = url.explicit_port or _DEFAULT_PORTS.get(scheme)
    return scheme, host.lower().rstrip("."), port


def _is_rb_success(response: Response) -> bool:
    """A 2xx Review Board JSON answer (not an HTML page, not an empty 204)."""
    if not 200 <= response.status < 300 or not response.body:
        return False
    content_type = response.headers.get("content-type")
    return mime_name(content_type) is not None or is_json_content_type(content_type)


def _error_code(response: Response) -> int | None:
    err = error_from_response(response.status, response.headers, response.body)
    return err.error_code if isinstance(err, APIError) else None
