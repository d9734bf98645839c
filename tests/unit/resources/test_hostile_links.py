"""Hostile ``next``, ``prev`` and ``self`` links: following them raises only rbtokens' errors."""

from __future__ import annotations

import contextlib
import json

import pytest
from hostile import HOSTILE_URLS, MIME, exercise, hostile_client, walk
from payloads import FIXTURES

from rbtokens import ListResource, RBTokensError
from rbtokens.transport import Response


@pytest.mark.parametrize("href", HOSTILE_URLS)
@pytest.mark.parametrize("link", ["next", "prev", "self"])
async def test_hostile_list_links(href: str, link: str) -> None:
    page = json.loads((FIXTURES / "users-page.json").read_text())["body"]
    page["links"][link] = {"href": href, "method": "GET"}
    for user in page["users"]:
        user["links"]["self"]["href"] = href
    body = json.dumps(page).encode()
    client, _ = hostile_client(Response(200, {"content-type": MIME.format("users")}, body))
    async with client:
        result = await client.request("GET", "https://rb.test/api/users/")
        assert isinstance(result, ListResource)
        exercise(result)
        await walk(client, result)
        with contextlib.suppress(RBTokensError):
            await result.get_self()
        with contextlib.suppress(RBTokensError):
            await result.get_next()
