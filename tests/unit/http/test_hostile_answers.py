"""A hostile server through the whole client (MockTransport): only rbtokens' own errors come out,
including while following the links of whatever decoded.
"""

from __future__ import annotations

import json
from typing import Any

from hostile import (
    FUZZ,
    HOSTILE_URLS,
    content_types,
    exercise,
    headers_for,
    hostile_client,
    json_values,
    statuses,
    walk,
)
from hypothesis import given
from hypothesis import strategies as st

from rbtokens import RBTokensError
from rbtokens.transport import Response


@FUZZ
@given(
    status=statuses,
    content_type=content_types,
    value=json_values | st.binary(max_size=300),
    set_cookie=st.none() | st.text(max_size=20),
    location=st.none() | st.sampled_from(HOSTILE_URLS) | st.text(max_size=40),
)
async def test_hostile_server_through_the_client(
    status: int, content_type: str | None, value: Any, set_cookie: str | None, location: str | None
) -> None:
    body = value if isinstance(value, bytes) else json.dumps(value).encode()
    headers = headers_for(content_type)
    if location is not None:
        headers["location"] = location
    cookies = {"rbsessionid": set_cookie} if set_cookie is not None else {}
    client, transport = hostile_client(Response(status, headers, body, cookies))
    async with client:
        for method in ("GET", "DELETE", "POST"):
            try:
                result = await client.request(method, "https://rb.test/api/", data=None)
            except RBTokensError:
                continue
            exercise(result)
            await walk(client, result)
    assert len(transport.requests) <= 100
