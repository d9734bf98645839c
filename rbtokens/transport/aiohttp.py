"""The aiohttp transport: the only module of rbtokens that imports aiohttp."""

from __future__ import annotations

import logging
import ssl

import aiohttp

from ..errors import (
    ClientStateError,
    ConnectError,
    RequestTimeout,
    ResponseTooLarge,
    TransportError,
)
from .base import DEFAULT_MAX_BODY, Request, Response, Timeouts, parse_set_cookies

__all__ = ["AiohttpTransport"]

log = logging.getLogger("rbtokens.transport")


def _is_delete_204_quirk(exc: aiohttp.ClientResponseError, method: str) -> bool:
    # Review Board 8.1 answers DELETE with "204 No Content" *and* a 14-byte
    # body; aiohttp's C parser then reads the body as the next status line.
    text = str(exc.message)
    return method == "DELETE" and "status line" in text.lower() and "stat" in text


class AiohttpTransport:
    """Send requests with an ``aiohttp.ClientSession``.

    Without ``session`` it owns a session (closed by :meth:`aclose`). With a
    borrowed ``session`` it uses only that session's **connector** (its
    connection pool, limits, TLS and local-address settings, and
    ``trace_configs``), through a private session of its own: the borrowed
    session's cookie jar, default headers, ``auth``, base URL and timeouts are
    never used, and it is left open. Neither kind keeps cookies: the client
    scopes the session cookie itself, per identity and per origin, so two
    clients sharing one borrowed session never act as each other.

    DELETEs go over a small private session whose connections are never
    reused, because Review Board 8.1 sends a body with its 204 (see ``send``).
    After :meth:`aclose` every ``send`` raises
    :class:`~rbtokens.errors.ClientStateError`.
    """

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession | None = None,
        timeouts: Timeouts | None = None,
        verify: bool | str | ssl.SSLContext = True,
        max_body_size: int = DEFAULT_MAX_BODY,
        limit: int = 100,
    ) -> None:
        self._borrowed = session
        self._session: aiohttp.ClientSession | None = None
        self._delete_session: aiohttp.ClientSession | None = None
        self._closed = False
        self._timeouts = timeouts or Timeouts()
        # Built once: a ClientTimeout per request costs measurable CPU in an audit.
        self._client_timeout = aiohttp.ClientTimeout(
            total=self._timeouts.total,
            sock_connect=self._timeouts.connect,
            sock_read=self._timeouts.read,
        )
        self._ssl = _ssl_arg(verify)
        self._max_body = max_body_size
        self._limit = limit

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has run."""
        return self._closed

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientStateError("this transport is closed")
        if self._session is None:
            if self._borrowed is not None:
                if self._borrowed.closed or self._borrowed.connector is None:
                    raise ClientStateError("the borrowed aiohttp session is closed")
                # A private session over the borrowed connector: the borrowed
                # session's cookie jar must never store or send rbtokens'
                # session cookies (a shared jar mixes identities).
                self._session = aiohttp.ClientSession(
                    connector=self._borrowed.connector,
                    connector_owner=False,
                    cookie_jar=aiohttp.DummyCookieJar(),
                    trace_configs=list(getattr(self._borrowed, "trace_configs", None) or []),
                    auto_decompress=True,
                )
            else:
                self._session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=self._limit),
                    cookie_jar=aiohttp.DummyCookieJar(),
                    auto_decompress=True,
                )
            # aiohttp silently resends GET/PUT/DELETE once after a reset; the
            # client's RetryPolicy decides retries (and never retries a PUT).
            if hasattr(self._session, "_retry_connection"):
                self._session._retry_connection = False
        return self._session

    async def send(self, request: Request) -> Response:
        """Send one request and read its body within the size cap."""
        session = self._get_session()
        timeout = self._client_timeout
        method, url = request.method, str(request.url)
        if method == "DELETE":
            # Review Board 8.1 answers DELETE with "204 No Content" plus a body.
            # When the body arrives after the headers, aiohttp has already put
            # the connection back in the pool, and the stray bytes break the
            # *next* request on it (possibly another DELETE that never ran).
            # So DELETEs go over connections that are never pooled.
            session = self._get_delete_session()
        error: TransportError
        try:
            async with session.request(
                request.method,
                request.url,
                headers=request.headers,
                data=request.body,
                allow_redirects=False,
                timeout=timeout,
                ssl=self._ssl,
            ) as resp:
                body = await _read_capped(resp, self._max_body, method=method, url=url)
                headers = {k.lower(): v for k, v in resp.headers.items()}
                cookies = parse_set_cookies(resp.headers.getall("Set-Cookie", []))
                return Response(resp.status, headers, body, cookies, resp.url)
        except aiohttp.ClientResponseError as exc:
            if _is_delete_204_quirk(exc, method):
                log.debug("DELETE %s: 204 with a body (Review Board 8.1); deleted", url)
                return Response(204, {}, b"", {}, request.url)
            error = ConnectError(
                f"bad response ({type(exc).__name__}): {exc.message}", method=method, url=url
            )
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            error = RequestTimeout(f"timed out ({type(exc).__name__})", method=method, url=url)
        except aiohttp.ClientPayloadError as exc:
            error = ConnectError(
                f"truncated body ({type(exc).__name__}): {exc}", method=method, url=url
            )
        except aiohttp.InvalidURL as exc:
            error = TransportError(
                f"invalid URL ({type(exc).__name__}): {exc}", method=method, url=url
            )
        except aiohttp.ClientConnectorCertificateError as exc:
            # Not a ConnectError: retrying cannot fix an untrusted certificate.
            error = TransportError(
                f"TLS certificate verification failed ({exc.certificate_error}); "
                "pass verify='/path/to/ca-bundle.pem' to trust a private CA",
                method=method,
                url=url,
            )
        except (aiohttp.ClientError, OSError) as exc:
            error = ConnectError(f"{type(exc).__name__}: {exc}", method=method, url=url)
        # Raised outside the ``except`` blocks, so neither ``__cause__`` nor
        # ``__context__`` holds the aiohttp error: its ``request_info``
        # carries the request headers (``Authorization``, ``Cookie``).
        raise error

    def _get_delete_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientStateError("this transport is closed")
        if self._delete_session is None:
            self._delete_session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit, force_close=True),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._delete_session

    async def aclose(self) -> None:
        """Close this transport's sessions; a borrowed session stays open."""
        self._closed = True
        sessions = [s for s in (self._session, self._delete_session) if s is not None]
        self._session = None
        self._delete_session = None
        for session in sessions:
            # The private session over a borrowed connector does not own it:
            # closing it leaves the borrowed session's pool alone.
            await session.close()


async def _read_capped(resp: aiohttp.ClientResponse, limit: int, *, method: str, url: str) -> bytes:
    # ``StreamReader.read(n)`` returns only what is buffered, not n bytes:
    # read to EOF, chunk by chunk, and stop as soon as the cap is passed.
    declared = resp.content_length
    if declared is not None and declared > limit:
        raise ResponseTooLarge(f"response body exceeds {limit} bytes", method=method, url=url)
    if declared is not None and "Content-Encoding" not in resp.headers:
        # Uncompressed, and the parser stops at Content-Length, which is within
        # the cap: read it in one go (cheaper than chunk by chunk).
        return await resp.read()
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise ResponseTooLarge(f"response body exceeds {limit} bytes", method=method, url=url)
        chunks.append(chunk)
    return b"".join(chunks)


def _ssl_arg(verify: bool | str | ssl.SSLContext) -> bool | ssl.SSLContext:
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return verify
