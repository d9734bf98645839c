"""The aiohttp transport's errors: after ``aclose``, and with no aiohttp exception as cause."""

from __future__ import annotations

import asyncio

import pytest
from yarl import URL

import rbtokens
from rbtokens import RBClient
from rbtokens.errors import ClientStateError, ConnectError
from rbtokens.transport import AiohttpTransport, Request


async def test_transport_refuses_use_after_aclose() -> None:
    transport = AiohttpTransport()
    await transport.aclose()
    with pytest.raises(ClientStateError):
        await transport.send(Request("GET", URL("http://127.0.0.1:9/api/")))
    assert transport._session is None  # not recreated


async def test_transport_errors_carry_no_aiohttp_cause() -> None:
    async def bad(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(bad, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with RBClient(
            f"http://127.0.0.1:{port}/",
            api_token="rbp_SECRETSECRETSECRET",
            retry=rbtokens.RetryPolicy(attempts=1),
        ) as c:
            with pytest.raises(ConnectError) as info:
                await c.get_root()
    finally:
        server.close()
        await server.wait_closed()
    err = info.value
    assert err.__cause__ is None and err.__context__ is None
    assert "ClientResponseError" in str(err) or "Error" in str(err)
