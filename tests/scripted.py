"""A scripted server: each request gets the next scripted answer (a response, an exception or a
function), and canned answers (an API token item, Review Board errors, HTML pages).

Used by the retry, backoff and login tests (``tests/unit/http``) and the pager's
(``tests/unit/resources``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from rbtokens import RBClient, RetryPolicy
from rbtokens.transport import MockTransport, Request, Response

BASE = "https://rb.test/"
ITEM_URL = "https://rb.test/api/users/alice/api-tokens/7/"
LIST_URL = "https://rb.test/api/users/alice/api-tokens/"
TINY = RetryPolicy(attempts=4, backoff=0.0001, max_backoff=0.0005, max_retry_after=30)
MIME = "application/vnd.reviewboard.org.{}+json"

Action = Response | BaseException | Callable[[Request], Response]


def token_body(token_id: int = 7) -> bytes:
    return json.dumps(
        {
            "stat": "ok",
            "api_token": {
                "id": token_id,
                "token": "rbp_" + "R" * 251,
                "note": "n",
                "policy": {},
                "links": {"self": {"href": ITEM_URL, "method": "GET"}},
            },
        }
    ).encode()


def ok_item(token_id: int = 7, *, status: int = 200) -> Response:
    return Response(status, {"content-type": MIME.format("api-token")}, token_body(token_id))


def rb_error(status: int, code: int, msg: str, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps({"stat": "fail", "err": {"code": code, "msg": msg, "type": "x"}}).encode()
    return Response(status, {"content-type": MIME.format("error"), **(headers or {})}, body)


def html(status: int, headers: dict[str, str] | None = None) -> Response:
    page = f"<html><body><h1>{status}</h1>proxy says no</body></html>".encode()
    return Response(status, {"content-type": "text/html", **(headers or {})}, page)


class Script:
    """Answer each request with the next scripted action; then the default."""

    def __init__(self, *actions: Action, then: Action | None = None) -> None:
        self.actions = list(actions)
        self.then = then if then is not None else ok_item()
        self.transport = MockTransport(self.handle)

    @property
    def requests(self) -> list[Request]:
        return self.transport.requests

    def handle(self, request: Request) -> Response:
        action = self.actions.pop(0) if self.actions else self.then
        if isinstance(action, BaseException):
            raise action
        if callable(action) and not isinstance(action, Response):
            return action(request)
        return action


def client(script: Script, *, retry: RetryPolicy = TINY, **kw: Any) -> RBClient:
    return RBClient(BASE, transport=script.transport, retry=retry, **kw)
