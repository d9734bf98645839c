"""A transport wrapper that records (and can fail) requests and their answers, for tests."""

from __future__ import annotations

from collections.abc import Callable

from rbtokens.transport import Request, Response, Transport


class RecordingTransport:
    """Wrap a real transport; record every request; optionally intercept some."""

    def __init__(
        self, inner: Transport, *, intercept: Callable[[Request], Response | None] | None = None
    ) -> None:
        self.inner = inner
        self.requests: list[Request] = []
        self.exchanges: list[tuple[Request, Response]] = []
        """Every request with the response it got (intercepted or not)."""
        self.intercept = intercept

    async def send(self, request: Request) -> Response:
        self.requests.append(request)
        response = self.intercept(request) if self.intercept is not None else None
        if response is None:
            response = await self.inner.send(request)
        self.exchanges.append((request, response))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()

    def with_header(self, name: str, prefix: str = "") -> list[Request]:
        return [
            r
            for r in self.requests
            if r.headers.get(name, "").startswith(prefix) and name in r.headers
        ]


def is_anonymous(request: Request) -> bool:
    """Whether ``request`` went without credentials (no Authorization, no Cookie)."""
    return not {"Cookie", "Authorization"} & set(request.headers)
