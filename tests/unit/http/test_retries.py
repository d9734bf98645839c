"""What is retried: idempotent requests on transient faults; writes only if nothing happened.

Every test counts requests, never seconds: the retry policy has a tiny backoff
and the sleeps are recorded instead of waited where their length matters.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from scripted import BASE, ITEM_URL, LIST_URL, TINY, Action, Script, client, html, ok_item, rb_error

import rbtokens
from rbtokens import (
    ConnectError,
    DoesNotExistError,
    HTTPStatusError,
    RateLimitedError,
    RBClient,
    RequestTimeout,
    RetryPolicy,
    ServerBugError,
    TokenGenerationError,
)
from rbtokens.transport import MockTransport, Request, Response


def reset() -> ConnectError:
    return ConnectError("ClientOSError: [Errno 104] Connection reset by peer")


def timeout() -> RequestTimeout:
    return RequestTimeout("timed out")


FAULTS: dict[str, Callable[[], Action]] = {
    "reset": reset,
    "timeout": timeout,
    "502": lambda: html(502),
    "503": lambda: html(503),
    "504": lambda: html(504),
    "429": lambda: rb_error(429, 114, "rate limited", {"retry-after": "0"}),
    "429-no-retry-after": lambda: rb_error(429, 114, "rate limited"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_idempotent_read_is_retried(fault: str, method: str) -> None:
    script = Script(FAULTS[fault](), FAULTS[fault](), then=ok_item())
    async with client(script) as c:
        res = await c.request(method, ITEM_URL)
    assert res.id == 7
    assert len(script.requests) == 3
    assert c.stats.retries == 2


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_single_attempt_policy_surfaces_the_fault(fault: str) -> None:
    # The same scenario with retries off must fail: proves the retry does the work.
    script = Script(FAULTS[fault](), then=ok_item())
    with pytest.raises(rbtokens.RBTokensError):
        async with client(script, retry=RetryPolicy(attempts=1)) as c:
            await c.request("GET", ITEM_URL)
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("reset", ConnectError),
        ("timeout", RequestTimeout),
        ("503", HTTPStatusError),
        ("429", RateLimitedError),
    ],
)
async def test_gives_up_after_the_configured_attempts(fault: str, error: type[Exception]) -> None:
    script = Script(then=FAULTS[fault]())
    with pytest.raises(error):
        async with client(script, retry=RetryPolicy(attempts=5, backoff=0.0001)) as c:
            await c.request("GET", ITEM_URL)
    assert len(script.requests) == 5


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (html(500), ServerBugError),
        (rb_error(400, 105, "bad"), rbtokens.InvalidFormDataError),
        (rb_error(403, 101, "no"), rbtokens.PermissionDeniedError),
        (rb_error(404, 100, "gone"), DoesNotExistError),
        (html(404), HTTPStatusError),
        (html(405), HTTPStatusError),
    ],
)
async def test_non_transient_errors_are_not_retried(
    response: Response, error: type[Exception]
) -> None:
    script = Script(then=response)
    with pytest.raises(error):
        async with client(script) as c:
            await c.request("GET", ITEM_URL)
    assert len(script.requests) == 1


@pytest.mark.parametrize("fault", ["reset", "timeout", "502", "503", "504"])
@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_writes_are_not_retried(fault: str, method: str) -> None:
    script = Script(FAULTS[fault](), then=ok_item(status=201))
    with pytest.raises(rbtokens.RBTokensError):
        async with client(script, retry=RetryPolicy(attempts=10, backoff=0.0001)) as c:
            await c.request(method, LIST_URL, data={"note": "x", "policy": {}})
    assert len(script.requests) == 1
    assert c.stats.retries == 0


async def test_post_on_a_proxy_429_is_not_retried() -> None:
    # A 429 that is not Review Board's own (code 114) is no proof that nothing happened.
    script = Script(html(429, {"retry-after": "0"}), then=ok_item(status=201))
    with pytest.raises(HTTPStatusError):
        async with client(script) as c:
            await c.request("POST", LIST_URL, data={"note": "x"})
    assert len(script.requests) == 1


async def test_post_on_review_board_429_is_retried() -> None:
    # Review Board's rate limiter refuses before the view runs: nothing was created.
    script = Script(rb_error(429, 114, "slow down", {"retry-after": "0"}), then=ok_item(status=201))
    async with client(script) as c:
        res = await c.request("POST", LIST_URL, data={"note": "x"})
    assert res.id == 7
    assert len(script.requests) == 2


class TokenServer:
    """A token list whose generator collides ``collisions`` times, then creates."""

    def __init__(self, collisions: int, *, fail_after_create: BaseException | None = None) -> None:
        self.collisions = collisions
        self.created: list[int] = []
        self.fail_after_create = fail_after_create
        self.transport = MockTransport(self.handle)

    def handle(self, request: Request) -> Response:
        if request.method != "POST":
            return html(405)
        if self.collisions:
            self.collisions -= 1
            return rb_error(500, 228, "token generation failed")
        self.created.append(len(self.created) + 1)
        if self.fail_after_create is not None:
            # The token exists now, but the answer is lost on the way back.
            raise self.fail_after_create
        return ok_item(self.created[-1], status=201)


async def test_post_is_retried_on_token_generation_collision() -> None:
    server = TokenServer(collisions=2)
    async with RBClient(BASE, transport=server.transport, retry=TINY) as c:
        res = await c.request("POST", LIST_URL, data={"note": "n", "policy": {}})
    assert res.id == 1
    assert server.created == [1]
    assert len(server.transport.requests) == 3


async def test_collisions_beyond_the_attempts_raise_and_create_nothing() -> None:
    server = TokenServer(collisions=10)
    with pytest.raises(TokenGenerationError):
        async with RBClient(BASE, transport=server.transport, retry=TINY) as c:
            await c.request("POST", LIST_URL, data={"note": "n", "policy": {}})
    assert server.created == []
    assert len(server.transport.requests) == TINY.attempts


@pytest.mark.parametrize("lost", [reset(), timeout()])
async def test_a_lost_answer_never_creates_a_duplicate_token(lost: BaseException) -> None:
    server = TokenServer(collisions=1, fail_after_create=lost)
    with pytest.raises(type(lost)):
        async with RBClient(BASE, transport=server.transport, retry=TINY) as c:
            await c.request("POST", LIST_URL, data={"note": "n", "policy": {}})
    assert server.created == [1]  # exactly one, even though the answer was lost


async def test_a_500_without_code_228_is_not_retried_for_post() -> None:
    script = Script(rb_error(500, 225, "publish error"), then=ok_item(status=201))
    with pytest.raises(rbtokens.APIError):
        async with client(script) as c:
            await c.request("POST", LIST_URL, data={"note": "x"})
    assert len(script.requests) == 1


class Deletable:
    """An item that is really deleted by the first DELETE, whose answer is lost."""

    def __init__(self, first: Action) -> None:
        self.exists = True
        self.first: Action | None = first
        self.transport = MockTransport(self.handle)

    def handle(self, request: Request) -> Response:
        assert request.method == "DELETE"
        if not self.exists:
            return rb_error(404, 100, "Object does not exist")
        self.exists = False
        first, self.first = self.first, None
        if isinstance(first, BaseException):
            raise first
        if isinstance(first, Response):
            return first
        return Response(204, {}, b"")


@pytest.mark.parametrize("first", [reset(), timeout(), html(502), html(504)])
async def test_delete_retry_that_finds_404_means_already_gone(first: Action) -> None:
    item = Deletable(first)
    async with RBClient(BASE, transport=item.transport, retry=TINY) as c:
        assert await c.request("DELETE", ITEM_URL) is None
    assert not item.exists
    assert len(item.transport.requests) == 2


async def test_delete_of_a_missing_item_is_still_an_error() -> None:
    script = Script(then=rb_error(404, 100, "Object does not exist"))
    with pytest.raises(DoesNotExistError):
        async with client(script) as c:
            await c.request("DELETE", ITEM_URL)
    assert len(script.requests) == 1
