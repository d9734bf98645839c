"""A transport that answers from a function, shipped so users can test without a network."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping

from .base import Request, Response

__all__ = ["Handler", "MockTransport", "json_response"]

Handler = Callable[[Request], Response | Awaitable[Response]]


class MockTransport:
    """A transport that answers from a function, for tests without a network."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[Request] = []
        self.closed = False

    async def send(self, request: Request) -> Response:
        """Record ``request`` and return the handler's response."""
        self.requests.append(request)
        result = self._handler(request)
        if inspect.isawaitable(result):
            result = await result
        if not isinstance(result, Response):
            raise TypeError(f"MockTransport handler returned {type(result).__name__}")
        return result

    async def aclose(self) -> None:
        """Mark the transport closed."""
        self.closed = True


def json_response(
    status: int,
    body: bytes,
    *,
    content_type: str = "application/json",
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A convenience :class:`Response` for :class:`MockTransport` handlers."""
    hdrs = {"content-type": content_type}
    hdrs.update({k.lower(): v for k, v in (headers or {}).items()})
    return Response(status, hdrs, body)
