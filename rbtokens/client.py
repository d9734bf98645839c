"""``RBClient``: the facade over the request choke point and the resource tree.

:class:`RBClient` holds the configuration and the lifecycle (UNOPENED →
OPENED → CLOSED), sends every request through one
:class:`~rbtokens.http.Channel`, and turns what it decodes into resources
bound to this client. ``client.tokens`` holds the token verbs.
"""

from __future__ import annotations

import enum
import re
import ssl
import warnings
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self, TypeVar, overload

from yarl import URL

from ._redact import redact
from .errors import ClientStateError, NavigationError, UnexpectedContentType
from .http import Auth, Channel, ClientStats, Origin, RetryPolicy, is_loopback
from .resources import Resource, Root, Session, adopt, expectation, weak
from .tokens import Tokens
from .transport import AiohttpTransport, Response, Timeouts, Transport
from .wire import encode_query

__all__ = ["ClientStats", "RBClient", "RBTokensWarning", "RetryPolicy"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_R = TypeVar("_R")
DEFAULT_RETRY = RetryPolicy()
DEFAULT_TIMEOUTS = Timeouts()


class RBTokensWarning(UserWarning):
    """A configuration that works but weakens security."""


class _State(enum.Enum):
    UNOPENED = "unopened"
    OPENED = "opened"
    CLOSED = "closed"


def _base_url(url: str | URL) -> URL:
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
    return base.with_query(None).with_fragment(None)


def _warn_if_insecure(
    base: URL, *, verify: bool | str | ssl.SSLContext, password: str | None, api_token: str | None
) -> None:
    if verify is False:
        warnings.warn(
            "TLS verification is disabled: the server's identity is not checked",
            RBTokensWarning,
            stacklevel=3,
        )
    secret = "a password" if password is not None else "an API token" if api_token else None
    if secret and base.scheme == "http" and not is_loopback(base.host):
        warnings.warn(
            f"sending {secret} over plain http:// to {base.host}", RBTokensWarning, stacklevel=3
        )


_LOCAL_SITE_NAME = re.compile(r"[A-Za-z0-9_-]+")


def _local_site_api(base: URL, name: str) -> URL:
    """``<server>/s/<name>/api/``: a Local Site's API root."""
    if not _LOCAL_SITE_NAME.fullmatch(name):
        raise NavigationError(f"not a Local Site name: {redact(name)!r}")
    return base.join(URL(f"s/{name}/api/"))


def _api_path(api_url: URL, path: str) -> URL:
    # Review Board needs the trailing slash on the path, never after a query.
    path, sep, rest = path.lstrip("/").partition("?")
    if path and not path.endswith("/"):
        path += "/"
    try:
        return api_url.join(URL(path + sep + rest))
    except ValueError as exc:
        raise NavigationError(f"invalid path {redact(path)!r}: {exc}") from None


class RBClient:
    """An async client for one Review Board server and one identity.

    Use it as ``async with RBClient(url, username=..., password=...) as c``,
    or without ``async with`` (as with httpx) and then ``await c.aclose()``.
    After ``aclose()`` every request, including one sleeping between retries,
    raises :class:`~rbtokens.errors.ClientStateError`.

    Given an ``aiohttp.ClientSession``, the client borrows only its connector
    (connection pool, limits, TLS settings) and its ``trace_configs``, and
    leaves it open; it never uses that session's cookie jar, default headers
    or ``auth``, so several clients (identities) may share one session. A
    ``transport`` replaces the network entirely (see
    :class:`~rbtokens.transport.MockTransport`). Logins, cookies and replays
    are described in :mod:`rbtokens.http`.
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
        base = _base_url(url)
        self.base_url = base
        self.api_url = base.join(URL("api/"))
        if password is not None and username is None:
            raise ValueError("password given without username")
        if api_token is not None and password is not None:
            raise ValueError("give either a password or an api_token, not both")
        self.username = username
        if transport is None:
            kwargs: dict[str, Any] = {"session": session, "timeouts": timeouts, "verify": verify}
            if max_body_size is not None:
                kwargs["max_body_size"] = max_body_size
            transport = AiohttpTransport(**kwargs)
        origin = Origin(base, allow_foreign=allow_foreign_origins)
        self._channel = Channel(
            transport=transport,
            origin=origin,
            auth=Auth(
                username=username,
                password=password,
                api_token=api_token,
                same_origin=origin.same,
                stats=ClientStats(),
            ),
            retry=retry,
            headers={"Accept": "application/json", "User-Agent": user_agent, **(headers or {})},
        )
        self._roots: dict[str | None, Root] = {}
        self._state = _State.UNOPENED
        self._ref = weak(self)
        self._tokens: Tokens | None = None
        _warn_if_insecure(base, verify=verify, password=password, api_token=api_token)

    def __repr__(self) -> str:
        kind = self._channel.auth.kind
        return f"<RBClient {self.base_url} user={self.username!r} auth={kind} {self._state.value}>"

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
            await self._channel.aclose()

    # -- settings and state ----------------------------------------------

    @property
    def tokens(self) -> Tokens:
        """Token management verbs for this client (see :mod:`rbtokens.tokens`).

        Made on first use and kept, so its settings (``concurrency``,
        ``recovery_delay``) and its cached :meth:`~rbtokens.tokens.Tokens.whoami`
        last as long as the client.
        """
        if self._tokens is None:
            self._tokens = Tokens(self)
        return self._tokens

    @property
    def stats(self) -> ClientStats:
        """Counters: requests, retries, logins, seconds waited on 429s."""
        return self._channel.stats

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy (settable)."""
        return self._channel.retry

    @retry.setter
    def retry(self, policy: RetryPolicy) -> None:
        self._channel.retry = policy

    @property
    def allow_foreign_origins(self) -> bool:
        """Whether links to other origins are followed (without credentials)."""
        return self._channel.origin.allow_foreign

    @allow_foreign_origins.setter
    def allow_foreign_origins(self, allow: bool) -> None:
        self._channel.origin.allow_foreign = allow

    @property
    def uses_api_token(self) -> bool:
        """Whether this client authenticates with an API token."""
        return self._channel.auth.uses_api_token

    @property
    def has_session_cookie(self) -> bool:
        """Whether a login has happened and its cookie is held."""
        return bool(self._channel.auth.cookie)

    # -- navigation entry points ----------------------------------------

    async def get_root(self, *, local_site: str | None = None, refresh: bool = False) -> Root:
        """The API root (cached after the first fetch), or a Local Site's (``/s/<name>/api/``).

        Every link and URI template of a Local Site's root stays under it.
        """
        root = self._roots.get(local_site)
        if root is None or refresh:
            url = self.api_url if local_site is None else _local_site_api(self.base_url, local_site)
            res = await self.request("GET", url)
            if not isinstance(res, Root):
                raise UnexpectedContentType(
                    f"{url} is not a Review Board API root ({type(res).__name__})",
                    http_status=200,
                    url=str(url),
                )
            root = self._roots[local_site] = res
        return root

    async def get_path(self, path: str, **query: Any) -> Any:
        """GET a path relative to the API root, e.g. ``"users/alice/"``."""
        return await self.request("GET", _api_path(self.api_url, path), query=encode_query(query))

    async def get_json(self, path_or_url: str | URL, **query: Any) -> Any:
        """GET a path (relative to the API root) or URL; return its JSON as sent.

        The same checks and errors as :meth:`get_path`, but no Struct: fields
        the server left out (``only_fields=...``) stay out. For generic tools.
        """
        target = URL(str(path_or_url))
        if not target.is_absolute():
            target = _api_path(self.api_url, str(path_or_url))
        return await self.request_json("GET", target, query=encode_query(query))

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
        auth = self._channel.auth
        if auth.cookie:
            try:
                await self.request("DELETE", self.api_url.join(URL("session/")))
            finally:
                auth.cookie = None

    # -- requests --------------------------------------------------------

    @overload
    async def request(
        self,
        method: str,
        url: str | URL,
        *,
        expect: type[_R],
        query: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        cached: Any = None,
        anonymous: bool = False,
    ) -> _R: ...
    @overload
    async def request(
        self,
        method: str,
        url: str | URL,
        *,
        expect: None = None,
        query: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        cached: Any = None,
        anonymous: bool = False,
    ) -> Resource: ...
    async def request(
        self,
        method: str,
        url: str | URL,
        *,
        expect: Any = None,
        query: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        cached: Any = None,
        anonymous: bool = False,
    ) -> Any:
        """Send one request and return the decoded resource.

        ``expect`` is the type the answer must have: an item Struct
        (``APIToken``), ``Count``, or ``ListResource[APIToken]``; anything
        else raises :class:`~rbtokens.errors.UnexpectedContentType`.
        ``query`` is merged into the URL; ``data`` is form-encoded. With
        ``cached`` (an item holding an ETag) the request sends
        ``If-None-Match`` and a 304 returns ``cached``. ``anonymous`` sends no
        ``Authorization`` and no cookie (a login's, or one in ``headers=``)
        and keeps none it gets back. Other identifying headers in
        ``headers=``, a client certificate in ``verify=`` or a custom
        transport still go along.
        """
        if self._state is _State.CLOSED:
            raise ClientStateError("this RBClient is closed")
        channel = self._channel
        response, target = await channel.send(
            method,
            url,
            query=query,
            data=data,
            etag=getattr(cached, "etag", None),
            anonymous=anonymous,
        )
        if response.status == 304 and cached is not None:
            return cached
        wanted = expectation(expect) if expect is not None else None
        decoded = channel.decode(response, target, wanted)
        return adopt(decoded, self._ref, response.headers.get("etag"))

    async def request_as(
        self,
        method: str,
        url: str | URL,
        shape: type[_R],
        *,
        query: Mapping[str, Any] | None = None,
        anonymous: bool = False,
    ) -> _R:
        """Send one request; decode its checked answer into ``shape`` (any msgspec type).

        For payloads trimmed with ``only_fields``: a Struct of just the fields
        read decodes faster than the full resource, and is not a resource.
        """
        response, target = await self._send(method, url, query, anonymous)
        return self._channel.decode_as(response, target, shape)

    async def request_json(
        self,
        method: str,
        url: str | URL,
        *,
        query: Mapping[str, Any] | None = None,
        anonymous: bool = False,
    ) -> Any:
        """Send one request; return its checked JSON payload as sent (no Struct)."""
        response, target = await self._send(method, url, query, anonymous)
        return self._channel.decode_json(response, target)

    async def _send(
        self, method: str, url: str | URL, query: Mapping[str, Any] | None, anonymous: bool
    ) -> tuple[Response, URL]:
        if self._state is _State.CLOSED:
            raise ClientStateError("this RBClient is closed")
        return await self._channel.send(method, url, query=query, anonymous=anonymous)
