"""Clients over the in-memory ``FakeReviewBoard`` (``tools.standin.testing``), for the unit tests
of several layers (http, resources, the client itself).
"""

from __future__ import annotations

import rbtokens
from rbtokens import RBClient
from rbtokens.transport import Request
from tools.standin.testing import BASE, FakeReviewBoard

FAST = rbtokens.RetryPolicy(attempts=3, backoff=0.0)


def client_for(fake: FakeReviewBoard, **kw: object) -> RBClient:
    kw.setdefault("username", "admin")
    kw.setdefault("password", fake.password)
    return RBClient(BASE, transport=fake.transport, retry=FAST, **kw)  # type: ignore[arg-type]


def basic_requests(fake: FakeReviewBoard) -> list[Request]:
    return [r for r in fake.requests if r.headers.get("Authorization", "").startswith("Basic ")]
