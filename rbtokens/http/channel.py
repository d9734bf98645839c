"""The request choke point: every request to the server goes through :class:`Channel`.

It applies the origin check, the session cookie (:mod:`.auth`), retries
(:mod:`.retry`), redirects and timeouts, then decodes the answer by its mime
type and checks it is what the caller expected. It knows nothing of
resources: it returns what the wire layer decodes.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from typing import Any, TypeVar, overload
from urllib.parse import urlencode

import anyio
from yarl import URL

from ..errors import (
    AuthenticationError,
    ClientStateError,
    ConnectError,
    HTTPStatusError,
    RequestTimeout,
)
from ..transport import Request, Response, Transport
from ..wire import (
    Decoded,
    ListOf,
    Page,
    check_type,
    decode_as,
    decode_json,
    decode_response,
    encode_form,
    merge_query,
)
from .auth import SESSION_COOKIE, Auth
from .budget import Budget, allowance
from .origin import CREDENTIAL_HEADERS, SERVER_CREDENTIALS, Origin, without
from .retry import IDEMPOTENT, RetryPolicy, may_retry, retry_delay
from .stats import ClientStats

__all__ = ["Channel", "ClientStats"]

log = logging.getLogger("rbtokens")

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_T = TypeVar("_T")


class Channel:
    """One server, one identity: send, retry, authenticate, decode."""

    def __init__(
        self,
        *,
        transport: Transport,
        origin: Origin,
        auth: Auth,
        retry: RetryPolicy,
        headers: Mapping[str, str],
    ) -> None:
        self.transport = transport
        self.origin = origin
        self.auth = auth
        self.retry = retry
        self.headers = dict(headers)
        self.stats = auth.stats
        self.budget = Budget(self.stats)
        self.closed = False
        self._query_cache: dict[tuple[tuple[str, Any], ...], str] = {}

    async def aclose(self) -> None:
        """Refuse every later request and close the transport."""
        if not self.closed:
            self.closed = True
            await self.transport.aclose()

    def check_open(self) -> None:
        """Raise :class:`ClientStateError` once the channel is closed."""
        if self.closed:
            raise ClientStateError("this RBClient is closed")

    # -- requests ------------------------------------------------------------------

    @overload
    async def request(
        self, method: str, url: str | URL, *, expect: ListOf[Any], **kw: Any
    ) -> Page: ...
    @overload
    async def request(self, method: str, url: str | URL, *, expect: type[_T], **kw: Any) -> _T: ...
    @overload
    async def request(
        self, method: str, url: str | URL, *, expect: None = None, **kw: Any
    ) -> Decoded: ...
    async def request(self, method: str, url: str | URL, *, expect: Any = None, **kw: Any) -> Any:
        """Send one request; return the decoded answer, checked to be ``expect``.

        The keywords are :meth:`send`'s.
        """
        response, target = await self.send(method, url, **kw)
        return self.decode(response, target, expect)

    def decode(self, response: Response, url: URL, expect: Any = None) -> Decoded:
        """Decode ``response`` and check it is ``expect`` (an item type or a ListOf)."""
        decoded = decode_response(response.status, response.headers, response.body, url=str(url))
        if expect is not None:
            check_type(decoded, expect, status=response.status, url=str(url))
        return decoded

    def decode_as(self, response: Response, url: URL, shape: type[_T]) -> _T:
        """Check ``response`` like :meth:`decode`, then decode it into ``shape``."""
        return decode_as(response.status, response.headers, response.body, shape, url=str(url))

    def decode_json(self, response: Response, url: URL) -> Any:
        """Check ``response`` like :meth:`decode` and return its JSON as sent."""
        return decode_json(response.status, response.headers, response.body, url=str(url))

    async def send(
        self,
        method: str,
        url: str | URL,
        *,
        query: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        etag: str | None = None,
        anonymous: bool = False,
    ) -> tuple[Response, URL]:
        """Send one request (authenticated, retried); return the answer and its URL.

        ``query`` is merged into the URL; ``data`` is form-encoded. ``etag``
        sends ``If-None-Match``. ``anonymous`` sends no ``Authorization`` and
        no cookie (a login's, or one in ``headers=``) and keeps none it gets
        back; other identifying headers still go along.
        """
        self.check_open()
        target = self.origin.resolve(url)
        if query:
            target = self._with_query(target, query)
        same_origin = self.origin.check(target)
        body = urlencode(encode_form(data)).encode() if data is not None else None
        headers = self.headers
        if not same_origin:
            # Nothing that authenticates leaves the server's origin, even when
            # put in ``headers=`` by hand.
            headers = without(headers, CREDENTIAL_HEADERS)
        elif anonymous:  # a proxy's credentials are not the server's: they stay
            headers = without(headers, SERVER_CREDENTIALS)
        else:
            headers = dict(headers)
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if etag:
            headers["If-None-Match"] = etag
        credentials = same_origin and not anonymous
        response = await self._send_authenticated(
            method.upper(), target, headers, body, credentials
        )
        return response, target

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

    async def _send_authenticated(
        self, method: str, url: URL, headers: dict[str, str], body: bytes | None, credentials: bool
    ) -> Response:
        auth = self.auth
        if not credentials or auth.header is None:
            return (await self._send_with_retries(method, url, headers, body, False))[0]
        relogged = False
        while True:
            response, sent = await self._send_with_retries(method, url, headers, body, True)
            if sent is None:  # the login itself, or header authentication
                return response
            if response.status != 401 and response.cookies.get(SESSION_COOKIE) != "":
                return response
            # The server ended the session this request carried (a 401, or an
            # answer that deletes the cookie): log in again, once.
            auth.forget(sent)
            if self._is_logout(method, url):
                return response
            if response.status != 401 and (relogged or method not in IDEMPOTENT):
                # Served anonymously: not replayed, and not passed off as ours.
                raise _session_ended(method, url)
            if relogged:
                return response  # decoded into the 401 error
            log.info("the session ended; logging in again")
            relogged = True

    def _is_logout(self, method: str, url: URL) -> bool:
        session = self.origin.base_url.join(URL("api/session/"))
        return method == "DELETE" and url.with_query(None) == session

    def _bucket(self, auth: bool) -> str:
        """Which rate-limit window a request draws on (see :mod:`.budget`)."""
        if not auth:
            return "anonymous"
        if self.auth.header_mode or self.auth.cookie is None:
            return "authorization"
        return "session"

    async def _send_with_retries(
        self, method: str, url: URL, headers: dict[str, str], body: bytes | None, auth: bool
    ) -> tuple[Response, str | None]:
        """Send with retries; returns the response and the session cookie it carried."""
        policy = self.retry
        max_wait = allowance(policy.max_retry_after)
        attempt = 0
        while True:
            attempt += 1
            self.check_open()
            bucket = self._bucket(auth)
            await self.budget.admit(bucket, max_wait=max_wait, url=str(url))
            try:
                if auth:
                    response, sent_cookie = await self.auth.attempt(
                        self._send_following, method, url, headers, body
                    )
                else:
                    response, _ = await self._send_following(method, url, headers, body)
                    sent_cookie = None
            except (ConnectError, RequestTimeout) as exc:
                if not may_retry(method, attempt, policy):
                    raise
                delay = policy.delay(attempt)
                log.warning(
                    "%s %s failed (%s); retry %d in %.2fs", method, url, exc, attempt, delay
                )
                self.stats.retries += 1
                await anyio.sleep(delay)
                continue
            wait = retry_delay(method, response, attempt, policy, max_wait=max_wait)
            closed = response.status == 429 and self.budget.note(bucket, response) is not None
            if closed and wait is not None:
                log.info("%s %s answered 429; waiting for the rate-limit window", method, url)
                self.stats.retries += 1
                continue  # admit() waits for the window, with every other request
            if wait is None:
                if attempt > 1 and method == "DELETE" and response.status == 404:
                    # The first attempt deleted it and its answer was lost.
                    return Response(204, {}, b"", {}, url), sent_cookie
                return response, sent_cookie
            log.warning(
                "%s %s answered %d; retry %d in %.2fs", method, url, response.status, attempt, wait
            )
            self.stats.retries += 1
            if response.status == 429:
                # A proxy's 429: this request alone waits.
                await self.budget.sleep(wait + random.uniform(0, 0.1))  # noqa: S311 - jitter
            else:
                await anyio.sleep(wait)

    async def _send_following(
        self, method: str, url: URL, headers: dict[str, str], body: bytes | None
    ) -> tuple[Response, URL]:
        """Send, following GET/HEAD redirects; returns the response and its URL."""
        for _ in range(_MAX_REDIRECTS + 1):
            self.check_open()
            self.stats.requests += 1
            response = await self.transport.send(Request(method, url, headers, body))
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s %s -> %d", method, url.with_query(None), response.status)
            if response.status not in _REDIRECTS or "location" not in response.headers:
                return response, url
            target = self.origin.resolve(response.headers["location"], base=url)
            if method not in ("GET", "HEAD"):
                raise HTTPStatusError(
                    f"the server redirected a {method} to {target}; "
                    "Review Board URLs need a trailing slash",
                    http_status=response.status,
                    url=str(url),
                )
            if not self.origin.check(target):
                headers = without(headers, CREDENTIAL_HEADERS)
            url = target
        raise HTTPStatusError("too many redirects", http_status=response.status, url=str(url))


def _session_ended(method: str, url: URL) -> AuthenticationError:
    return AuthenticationError(
        http_status=401,
        error_code=103,
        message=(
            f"the server ended the session during {method} {url.with_query(None)}; "
            "it was answered anonymously and was not replayed"
        ),
        url=str(url),
    )
