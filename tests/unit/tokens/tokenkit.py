"""Helpers for the token verb tests: a client on the fake token server and its requests."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import rbtokens
from rbtokens import RBClient
from rbtokens.transport import Request
from tools.standin.testing import BASE, FakeTokenServer

FAST = rbtokens.RetryPolicy(attempts=3, backoff=0.0)


def client_for(fake: FakeTokenServer, user: str = "admin", **kw: Any) -> RBClient:
    if "api_token" not in kw:
        kw.setdefault("username", user)
        kw.setdefault("password", f"{user}-pw")
    client = RBClient(BASE, transport=fake.transport, retry=FAST, **kw)
    client.tokens.recovery_delay = 0.0
    return client


def form_of(request: Request) -> dict[str, str]:
    return dict(parse_qsl((request.body or b"").decode(), keep_blank_values=True))


def writes(fake: FakeTokenServer, method: str) -> list[Request]:
    return [r for r in fake.requests if r.method == method]
