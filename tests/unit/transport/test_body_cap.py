"""The response-size cap on a real socket: memory stays bounded; a body under it is read whole."""

from __future__ import annotations

import asyncio
import json
import tracemalloc
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from hostile import MIME
from payloads import FIXTURES

from rbtokens import ListResource, RBClient, ResponseTooLarge, RetryPolicy
from rbtokens.transport import DEFAULT_MAX_BODY


@pytest.fixture
async def firehose() -> AsyncIterator[str]:
    """``/endless/`` streams JSON-ish bytes for ever; ``/declared/`` claims 10 GB."""

    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": MIME.format("api-tokens")})
        await resp.prepare(request)
        chunk = b"[" * 65536
        try:
            while True:
                await resp.write(chunk)
        except (ConnectionError, RuntimeError):
            pass
        return resp

    async def declared(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": MIME.format("api-tokens")})
        resp.content_length = 10 * 1024**3
        await resp.prepare(request)
        try:
            await resp.write(b"[" * 1024)
            await asyncio.sleep(10)
        except (ConnectionError, RuntimeError):
            pass
        return resp

    app = web.Application()
    app.router.add_get("/endless/", endless)
    app.router.add_get("/declared/", declared)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/"
    await runner.cleanup()


@pytest.mark.parametrize("path", ["endless/", "declared/"])
async def test_response_size_cap_bounds_memory(firehose: str, path: str) -> None:
    cap = 2 * 1024 * 1024
    tracemalloc.start()
    try:
        async with RBClient(firehose, max_body_size=cap, retry=RetryPolicy(attempts=3)) as c:
            with pytest.raises(ResponseTooLarge) as info:
                await c.request("GET", firehose + path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * cap  # the cap, not the stream, bounds memory
    assert c.stats.requests == 1  # too large is final: not retried
    assert str(cap) in str(info.value)


def test_default_size_cap_is_finite() -> None:
    assert 1024 * 1024 <= DEFAULT_MAX_BODY <= 1024**3


async def test_large_body_under_the_cap_is_read_whole(firehose: str) -> None:
    # Regression: the transport once returned only the first buffered chunk.
    item = json.loads((FIXTURES / "api-token.json").read_text())["body"]["api_token"]
    body = json.dumps({"stat": "ok", "total_results": 3000, "api_tokens": [item] * 3000}).encode()
    assert len(body) > 1024 * 1024

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Type": MIME.format("api-tokens")})

    app = web.Application()
    app.router.add_get("/big/", big)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    try:
        async with RBClient(url) as c:
            res = await c.request("GET", url + "big/")
        assert isinstance(res, ListResource) and len(res) == 3000
    finally:
        await runner.cleanup()
