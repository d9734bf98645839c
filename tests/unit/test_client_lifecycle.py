"""The client's lifecycle: closed means closed, even mid-retry; resources do not keep it alive."""

from __future__ import annotations

import asyncio
import gc

import pytest
from fakeclient import client_for

import rbtokens
from rbtokens import RBClient
from rbtokens.errors import ClientStateError
from rbtokens.transport import MockTransport, Request, Response
from tools.standin.testing import FakeReviewBoard


async def test_closed_client_refuses_and_cannot_reopen() -> None:
    fake = FakeReviewBoard()
    client = client_for(fake)
    async with client:
        await client.get_root()
    assert fake.transport.closed
    with pytest.raises(rbtokens.ClientStateError):
        await client.get_root(refresh=True)
    with pytest.raises(rbtokens.ClientStateError):
        async with client:
            pass


async def test_resources_hold_the_client_weakly() -> None:
    fake = FakeReviewBoard()
    client = client_for(fake)
    root = await client.get_root()
    await client.aclose()
    del client
    gc.collect()
    with pytest.raises(rbtokens.ClientStateError):
        await root.get_session()


async def test_aclose_during_a_retry_sleep_stops_the_request() -> None:
    def handler(req: Request) -> Response:
        return Response(429, {"retry-after": "0.3"}, b"")

    transport = MockTransport(handler)
    c = RBClient("https://rb.test/", transport=transport)
    task = asyncio.create_task(c.get_root())
    await asyncio.sleep(0.05)
    await c.aclose()
    with pytest.raises(ClientStateError):
        await task
    assert len(transport.requests) == 1
