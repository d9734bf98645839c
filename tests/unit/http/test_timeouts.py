"""Timeouts on a real socket: a server that stalls or trickles, and a black hole."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from rbtokens import RBClient, RequestTimeout, RetryPolicy, Timeouts


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
