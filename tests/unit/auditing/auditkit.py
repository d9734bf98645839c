"""Helpers for the audit tests: tokens that break one rule, a probing transport, clients."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import msgspec
from recording import is_anonymous

from rbtokens import APIToken, RBClient, RetryPolicy
from rbtokens.auditing import judge_tokens
from rbtokens.policy import READ_ONLY
from rbtokens.transport import MockTransport, Request, Response
from tools.standin.testing import BASE, FakeReviewBoard

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
FAST = RetryPolicy(attempts=3, backoff=0.0001, max_backoff=0.0005)
READ_ONLY_DOC = READ_ONLY.to_dict()


def token(**fields: Any) -> APIToken:
    """A token that breaks no rule, changed by ``fields``."""
    base: dict[str, Any] = {
        "id": 1,
        "note": "n",
        "policy": READ_ONLY_DOC,
        "expires": NOW + 90 * DAY,
        "expired": False,
        "valid": True,
        "last_used": NOW - DAY,
        "time_added": NOW - 10 * DAY,
        "token_generator_id": "vendor_checksum",
        "deprecated": False,
    }
    base.update(fields)
    return msgspec.convert(base, APIToken)


def rules_of(tokens: list[APIToken], *, active: bool = True, **kw: Any) -> list[str]:
    _records, findings = judge_tokens("u", tokens, active=active, now=NOW, **kw)
    return sorted(f.rule for f in findings)


class Probe:
    """Wraps the fake server: delays answers and measures requests in flight."""

    def __init__(self, fake: FakeReviewBoard, *, delay: float = 0.002) -> None:
        self.fake = fake
        self.delay = delay
        self.in_flight = 0
        self.max_in_flight = 0
        self.events: list[tuple[str, str]] = []
        self.delays: dict[str, float] = {}
        self.hooks: list[Callable[[Request], Awaitable[Response | None]]] = []
        self.transport = MockTransport(self.handle)

    @property
    def requests(self) -> list[Request]:
        return self.transport.requests

    async def handle(self, request: Request) -> Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        label = str(request.url.relative())
        self.events.append(("start", label))
        try:
            await anyio.sleep(self.delays.get(str(request.url.query.get("start")), self.delay))
            for hook in self.hooks:
                answer = await hook(request)
                if answer is not None:
                    return answer
            return self.fake.handle(request)
        finally:
            self.in_flight -= 1
            self.events.append(("end", label))


def client_for(transport: Any, **kw: Any) -> RBClient:
    kw.setdefault("username", "admin")
    kw.setdefault("password", "pw")
    return RBClient(BASE, transport=transport, retry=FAST, **kw)


def users_requests(requests: list[Request]) -> list[Request]:
    """The walk's users pages (not the anonymous secrets-exposed check)."""
    return [r for r in requests if r.url.path == "/api/users/" and not is_anonymous(r)]


def token_requests(requests: list[Request]) -> list[Request]:
    return [r for r in requests if r.url.path.endswith("/api-tokens/")]


def is_basic(request: Request) -> bool:
    return request.headers.get("Authorization", "").startswith("Basic ")
