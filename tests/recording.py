"""A transport wrapper that records (and can fail) requests, for tests."""

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
        self.intercept = intercept

    async def send(self, request: Request) -> Response:
        self.requests.append(request)
        if self.intercept is not None:
            response = self.intercept(request)
            if response is not None:
                return response
        return await self.inner.send(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def with_header(self, name: str, prefix: str = "") -> list[Request]:
        return [
            r
            for r in self.requests
            if r.headers.get(name, "").startswith(prefix) and name in r.headers
        ]
