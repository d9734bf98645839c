"""Retries, backoff, Retry-After, login failures and timeouts.

Every test counts requests, never seconds: the retry policy has a tiny backoff
and the sleeps are recorded instead of waited where their length matters.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web
from yarl import URL

import rbtokens
import tools.standin.testing as fakerb
from rbtokens import (
    ConnectError,
    DoesNotExistError,
    HTTPStatusError,
    LoginFailedError,
    LoginLockedOutError,
    RateLimitedError,
    RBClient,
    RequestTimeout,
    RetryPolicy,
    ServerBugError,
    Timeouts,
    TokenGenerationError,
)
from rbtokens.transport import MockTransport, Request, Response
from tools.standin.testing import FakeReviewBoard

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


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the client's sleeps instead of waiting them."""
    recorded: list[float] = []

    async def fake_sleep(delay: float) -> None:
        recorded.append(delay)

    monkeypatch.setattr(anyio, "sleep", fake_sleep)
    return recorded


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


# -- idempotent requests are retried -------------------------------------------


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


# -- writes are never retried blindly --------------------------------------------


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


# -- DELETE ------------------------------------------------------------------------


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


# -- backoff and Retry-After --------------------------------------------------------


async def test_backoff_is_exponential_and_capped(
    sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Take the top of each jitter range to see the ceilings.
    monkeypatch.setattr("rbtokens.http.retry.random.uniform", lambda lo, hi: hi)
    policy = RetryPolicy(attempts=6, backoff=1.0, max_backoff=5.0)
    script = Script(then=html(503))
    with pytest.raises(HTTPStatusError):
        async with client(script, retry=policy) as c:
            await c.request("GET", ITEM_URL)
    assert sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_backoff_has_full_jitter() -> None:
    policy = RetryPolicy(backoff=1.0, max_backoff=100.0)
    for attempt in (1, 2, 3, 4):
        delays = [policy.delay(attempt) for _ in range(200)]
        ceiling = 2 ** (attempt - 1)
        assert all(0 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 150  # jittered, not a constant
        assert max(delays) > ceiling / 2


async def test_retry_after_is_honoured(sleeps: list[float]) -> None:
    script = Script(
        rb_error(429, 114, "slow down", {"retry-after": "7"}),
        rb_error(429, 114, "slow down", {"retry-after": "3"}),
        then=ok_item(),
    )
    async with client(script) as c:
        await c.request("GET", ITEM_URL)
    assert len(sleeps) == 2
    assert 7 <= sleeps[0] <= 7.2 and 3 <= sleeps[1] <= 3.2
    assert c.stats.rate_limited_seconds == pytest.approx(sum(sleeps))
    assert len(script.requests) == 3


async def test_retry_after_beyond_the_cap_is_not_waited(sleeps: list[float]) -> None:
    script = Script(then=rb_error(429, 114, "slow down", {"retry-after": "3303"}))
    with pytest.raises(RateLimitedError) as info:
        async with client(script) as c:
            await c.request("GET", ITEM_URL)
    assert info.value.retry_after == 3303
    assert sleeps == []
    assert len(script.requests) == 1


async def test_retry_after_cap_is_configurable(sleeps: list[float]) -> None:
    script = Script(rb_error(429, 114, "slow down", {"retry-after": "3303"}), then=ok_item())
    policy = RetryPolicy(attempts=2, backoff=0.0001, max_retry_after=3600)
    async with client(script, retry=policy) as c:
        await c.request("GET", ITEM_URL)
    assert sleeps and sleeps[0] >= 3303


# -- logins are never retried -------------------------------------------------------


@pytest.mark.parametrize(
    ("msg", "error"),
    [
        ("The username or password was not correct", LoginFailedError),
        ("Maximum number of login attempts exceeded.", LoginLockedOutError),
    ],
)
async def test_a_failed_login_is_sent_once(msg: str, error: type[Exception]) -> None:
    script = Script(then=rb_error(401, 104, msg, {"www-authenticate": 'Basic realm="Web API"'}))
    policy = RetryPolicy(attempts=10, backoff=0.0001)
    async with client(script, retry=policy, username="admin", password="hunter2-pw") as c:
        with pytest.raises(error) as first:
            await c.request("GET", ITEM_URL)
        # Later requests reuse the answer: the server is not asked again.
        with pytest.raises(error):
            await c.request("GET", ITEM_URL)
    assert len(script.requests) == 1
    assert c.stats.retries == 0
    assert type(first.value) is error


async def test_lockout_message_is_clear() -> None:
    script = Script(then=rb_error(401, 104, "Maximum number of login attempts exceeded."))
    with pytest.raises(LoginLockedOutError) as info:
        async with client(script, username="admin", password="hunter2-pw") as c:
            await c.get_root()
    text = str(info.value)
    assert "locked out" in text
    assert "wait" in text and "minute" in text
    assert "hunter2" not in text


async def test_concurrent_first_requests_share_one_failed_login() -> None:
    script = Script(then=rb_error(401, 104, "The username or password was not correct"))
    async with client(script, username="admin", password="bad-pw-123") as c:
        results = await asyncio.gather(
            *(c.request("GET", ITEM_URL) for _ in range(20)), return_exceptions=True
        )
    assert all(isinstance(r, LoginFailedError) for r in results)
    assert len(script.requests) == 1


# -- timeouts (a real socket, a server that stalls) -------------------------------------


def test_timeouts_have_sane_defaults() -> None:
    t = Timeouts()
    for value in (t.connect, t.read, t.total):
        assert value is not None and 0 < value <= 300
    assert t.connect is not None and t.read is not None and t.total is not None
    assert t.connect <= t.read <= t.total


@pytest.fixture
async def stalling_server() -> AsyncIterator[tuple[str, dict[str, int]]]:
    """``/stall`` never answers; ``/trickle`` sends a byte every 50 ms for ever."""
    hits = {"stall": 0, "trickle": 0}
    release = asyncio.Event()

    async def stall(request: web.Request) -> web.Response:
        hits["stall"] += 1
        await release.wait()
        return web.Response(text="late")

    async def trickle(request: web.Request) -> web.StreamResponse:
        hits["trickle"] += 1
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        while not release.is_set():
            await resp.write(b" ")
            await asyncio.sleep(0.05)
        return resp

    app = web.Application()
    app.router.add_get("/stall/", stall)
    app.router.add_get("/trickle/", trickle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/", hits
    release.set()
    await runner.cleanup()


async def test_read_timeout(stalling_server: tuple[str, dict[str, int]]) -> None:
    url, hits = stalling_server
    policy = RetryPolicy(attempts=2, backoff=0.0001)
    async with RBClient(url, retry=policy, timeouts=Timeouts(read=0.2, total=30)) as c:
        with pytest.raises(RequestTimeout):
            await c.request("GET", url + "stall/")
    assert hits["stall"] == 2  # a GET that timed out is retried, up to the attempts


async def test_total_timeout_catches_a_trickling_body(
    stalling_server: tuple[str, dict[str, int]],
) -> None:
    url, hits = stalling_server
    policy = RetryPolicy(attempts=1)
    async with RBClient(url, retry=policy, timeouts=Timeouts(read=5, total=0.4)) as c:
        with pytest.raises(RequestTimeout):
            await c.request("GET", url + "trickle/")
    assert hits["trickle"] == 1


@contextlib.contextmanager
def black_hole() -> Iterator[str]:
    """A listening socket whose connections the kernel accepts and nobody answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        sock.close()


async def test_post_that_times_out_is_sent_once() -> None:
    with black_hole() as hole:
        policy = RetryPolicy(attempts=5, backoff=0.0001)
        async with RBClient(hole, retry=policy, timeouts=Timeouts(read=0.2, total=5)) as c:
            with pytest.raises(RequestTimeout):
                await c.request("POST", hole + "api/", data={"note": "x"})
            assert c.stats.requests == 1
            with pytest.raises(RequestTimeout):
                await c.request("GET", hole + "api/")
            assert c.stats.requests == 1 + 5


async def test_timeouts_reach_the_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    original = aiohttp.ClientSession.request

    def spy(self: aiohttp.ClientSession, method: str, url: Any, **kw: Any) -> Any:
        seen.append(kw["timeout"])
        return original(self, method, url, **kw)

    monkeypatch.setattr(aiohttp.ClientSession, "request", spy)
    with black_hole() as hole:
        timeouts = Timeouts(connect=1.5, read=0.1, total=7.0)
        async with RBClient(hole, retry=RetryPolicy(attempts=1), timeouts=timeouts) as c:
            with pytest.raises(RequestTimeout):
                await c.request("GET", URL(hole) / "api/")
    assert seen[0].sock_connect == 1.5
    assert seen[0].sock_read == 0.1
    assert seen[0].total == 7.0


# -- concurrent page fetches fail with rbtokens' errors, not exception groups -----------


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_a_failing_page_in_a_concurrent_walk_raises_an_rbtokens_error(
    concurrency: int,
) -> None:
    fake = FakeReviewBoard(users=9)

    def handle(request: Request) -> Response:
        if request.url.path == "/api/users/" and request.url.query.get("start") == "3":
            return html(503)
        return fake.handle(request)

    transport = MockTransport(handle)
    kw = {"username": "admin", "password": fake.password}
    async with RBClient(fakerb.BASE, transport=transport, retry=TINY, **kw) as c:
        first = await (await c.get_root()).get_users(max_results=3, include_inactive=True)
        with pytest.raises(HTTPStatusError) as info:
            [u async for u in first.all_items(concurrency=concurrency)]
    assert info.value.http_status == 503
    failing = [r for r in transport.requests if r.url.query.get("start") == "3"]
    assert len(failing) == TINY.attempts
