# ruff: noqa: F821
"""mypy sample: the token verbs and the Pager are typed without casts."""

from __future__ import annotations

from rbtokens import RBClient


async def sample(client: RBClient) -> None:
    pager = await client.tokens.list("alice", per_page=10)
    reveal_type(pager.items)
    async for token in pager:
        reveal_type(token)
    reveal_type(await pager[0])
    reveal_type(await pager[1:3])
    reveal_type(await client.tokens.find(1))
    rotation = await client.tokens.rotate(1)
    reveal_type(rotation.new_token)
    reveal_type(await client.tokens.invalidate(1, reason="x"))
