"""The transport seam: :class:`Request`, :class:`Response` and :class:`Transport`.

A transport is one ``send`` method plus ``aclose``. Nothing here does I/O.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Protocol

import msgspec
from yarl import URL

from .._redact import mask_headers

__all__ = ["Request", "Response", "Timeouts", "Transport", "parse_set_cookies"]

DEFAULT_MAX_BODY = 64 * 1024 * 1024


class Timeouts(msgspec.Struct, frozen=True):
    """Per-request timeouts in seconds (``None`` disables one)."""

    total: float | None = 60.0
    connect: float | None = 10.0
    read: float | None = 30.0


class Request(msgspec.Struct):
    """One HTTP request, fully built by the client."""

    method: str
    url: URL
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    body: bytes | None = None

    def __repr__(self) -> str:
        size = "None" if self.body is None else f"<{len(self.body)} bytes>"
        return (
            f"Request(method={self.method!r}, url={str(self.url)!r}, "
            f"headers={mask_headers(self.headers)!r}, body={size})"
        )


class Response(msgspec.Struct):
    """One HTTP response; ``headers`` keys are lowercase."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    cookies: dict[str, str] = msgspec.field(default_factory=dict)
    url: URL | None = None

    def __repr__(self) -> str:
        # Bodies may hold token secrets and cookies are sessions: never shown.
        cookies = dict.fromkeys(self.cookies, "***")
        return (
            f"Response(status={self.status}, headers={mask_headers(self.headers)!r}, "
            f"body=<{len(self.body)} bytes>, cookies={cookies!r}, url={str(self.url)!r})"
        )


class Transport(Protocol):
    """Anything that turns a :class:`Request` into a :class:`Response`."""

    async def send(self, request: Request) -> Response:
        """Send ``request``; raise a :class:`~rbtokens.errors.TransportError` on failure."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def parse_set_cookies(values: list[str]) -> dict[str, str]:
    """``Set-Cookie`` header values → ``{name: value}``; a deletion maps to ``""``."""
    out: dict[str, str] = {}
    for raw in values:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(raw)
        except Exception:  # noqa: BLE001, S112 - a malformed cookie is ignored, as browsers do
            continue
        for name, morsel in jar.items():
            expired = morsel["max-age"] in ("0", "-1")
            out[name] = "" if expired else morsel.value
    return out
