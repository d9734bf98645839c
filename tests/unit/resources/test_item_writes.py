"""Writes through an item's links: ``update()`` sends a form, ``delete()`` a DELETE."""

from __future__ import annotations

import pytest
from fakeclient import client_for

import rbtokens
from rbtokens import APIToken
from rbtokens.transport import Request, Response
from tools.standin.testing import FakeReviewBoard, ok


async def test_delete_through_link() -> None:
    fake = FakeReviewBoard()
    async with client_for(fake) as client:
        tokens = await (await client.get_root()).get_api_tokens(username="u000")
        await tokens[0].delete()
        assert fake.requests[-1].method == "DELETE"
        with pytest.raises(rbtokens.DoesNotExistError):
            await tokens[0].get_self()


async def test_update_sends_a_form() -> None:
    fake = FakeReviewBoard()
    seen: list[Request] = []

    def put(request: Request) -> Response:
        seen.append(request)
        return ok("api-token", {"api_token": fake.tokens["u000"][0] | {"note": "new"}})

    fake.overrides[("PUT", "/api/users/u000/api-tokens/0/")] = put
    async with client_for(fake) as client:
        tokens = await (await client.get_root()).get_api_tokens(username="u000")
        fake.sessions.add("keep")
        updated = await tokens[0].update(note="new", extra_data__team="infra")
    assert updated.note == "new" and isinstance(updated, APIToken)
    assert seen[0].headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert seen[0].body == b"extra_data.team=infra&note=new"
