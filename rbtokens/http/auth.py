"""One identity's login: the credentials, the session cookie, and the login guard.

The first request carries the ``Authorization`` header (Basic or ``token``);
the ``rbsessionid`` cookie it returns is reused by every later request, so a
whole audit costs the server one password check. Only the login itself holds
the login lock: concurrent first requests wait for it instead of each sending
the password. A refused login is never sent again; a lockout is not retried
before the next minute. When the server sets no cookie on a successful
login, the credentials go with every request (header mode).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Callable

from yarl import URL

from ..errors import APIError, HTTPStatusError, LoginFailedError, LoginLockedOutError
from ..transport import Response
from ..wire import error_from_response, is_json_content_type, mime_name
from .stats import ClientStats

__all__ = ["SESSION_COOKIE", "Auth"]

log = logging.getLogger("rbtokens")

SESSION_COOKIE = "rbsessionid"
_wall_clock = time.time  # the server's login window is aligned to wall-clock minutes

#: Sends one request (following redirects): ``(method, url, headers, body)``
#: → the response and the URL that answered it.
Send = Callable[[str, URL, dict[str, str], bytes | None], Awaitable[tuple[Response, URL]]]


class Auth:
    """The credentials of one identity and the session they opened."""

    def __init__(
        self,
        *,
        username: str | None,
        password: str | None,
        api_token: str | None,
        same_origin: Callable[[URL], bool],
        stats: ClientStats,
    ) -> None:
        self.username = username
        self._password = password
        self._api_token = api_token
        self._same_origin = same_origin
        self.cookie: str | None = None
        self.header_mode = False
        self.stats = stats
        self._lock = asyncio.Lock()
        self._refused: APIError | None = None
        self._lockout: tuple[APIError, float] | None = None
        self._header = self._build_header()

    @property
    def uses_api_token(self) -> bool:
        """Whether this identity is an API token."""
        return self._api_token is not None

    @property
    def kind(self) -> str:
        """``password``, ``api_token`` or ``anonymous``."""
        return "password" if self._password else "api_token" if self._api_token else "anonymous"

    @property
    def header(self) -> str | None:
        """The ``Authorization`` value, or None for an anonymous client."""
        return self._header

    def _build_header(self) -> str | None:
        if self._api_token is not None:
            return f"token {self._api_token}"
        if self.username is not None and self._password is not None:
            raw = f"{self.username}:{self._password}".encode()
            return "Basic " + base64.b64encode(raw).decode("ascii")
        return None

    async def attempt(
        self, send: Send, method: str, url: URL, headers: dict[str, str], body: bytes | None
    ) -> tuple[Response, str | None]:
        """One authenticated attempt; returns the response and the cookie it carried."""
        auth = self._header
        assert auth is not None
        self.check_guard()
        if self.header_mode:
            response, _ = await send(method, url, {**headers, "Authorization": auth}, body)
            if response.status == 401:
                raise self._login_failed(response, url)
            return response, None
        cookie = self.cookie
        if cookie is None:
            async with self._lock:
                self.check_guard()
                cookie = self.cookie
                if cookie is None:
                    # Only the login itself holds the lock: one attempt, no
                    # retry sleeps. Waiters then send with the new cookie.
                    return await self._login(send, method, url, headers, body), None
        response, final = await send(
            method, url, {**headers, "Cookie": f"{SESSION_COOKIE}={cookie}"}, body
        )
        self.take_cookie(response, final, cookie)
        return response, cookie

    async def _login(
        self, send: Send, method: str, url: URL, headers: dict[str, str], body: bytes | None
    ) -> Response:
        auth = self._header
        assert auth is not None
        response, final = await send(method, url, {**headers, "Authorization": auth}, body)
        self.stats.logins += 1  # counted once answered: a lost login is retried
        if response.status == 401:
            # Never retried: each failure counts towards the server's lockout.
            raise self._login_failed(response, url)
        self.take_cookie(response, final, None)
        if not self.cookie and _is_rb_success(response):
            log.debug("the server set no session cookie; sending credentials every time")
            self.header_mode = True
        return response

    def _login_failed(self, response: Response, url: URL) -> APIError | HTTPStatusError:
        err = error_from_response(response.status, response.headers, response.body, url=str(url))
        if isinstance(err, LoginLockedOutError):
            # The server's window is aligned to the minute: the lockout lifts
            # at the next one, so this answer is reused only until then.
            self._lockout = (err, (_wall_clock() // 60 + 1) * 60)
        elif isinstance(err, LoginFailedError):
            self._refused = err  # a refused password is final
        return err

    def check_guard(self) -> None:
        """Raise the remembered refusal or lockout instead of sending credentials again."""
        if self._refused is not None:
            raise self._refused
        if self._lockout is not None:
            err, until = self._lockout
            if _wall_clock() < until:
                raise err
            self._lockout = None

    def take_cookie(self, response: Response, final: URL, sent: str | None) -> None:
        """Keep (or clear) the session cookie the server's own origin set."""
        # A redirect to another origin must not plant one.
        value = response.cookies.get(SESSION_COOKIE)
        if value is None or not self._same_origin(response.url or final):
            return
        if value:
            self.cookie = value
        elif sent is not None:
            self.forget(sent)

    def forget(self, cookie: str) -> None:
        """Drop ``cookie`` if it is still the current one."""
        # A late answer to a request that carried an older cookie must not
        # wipe the fresh one another request just obtained.
        if self.cookie == cookie:
            self.cookie = None


def _is_rb_success(response: Response) -> bool:
    """A 2xx Review Board JSON answer (not an HTML page, not an empty 204)."""
    if not 200 <= response.status < 300 or not response.body:
        return False
    content_type = response.headers.get("content-type")
    return mime_name(content_type) is not None or is_json_content_type(content_type)
