# ruff: noqa: F821
"""Checked by mypy in tests/unit/test_typing.py: iteration is typed by the item Struct."""

from rbtokens import APIToken, ListResource, RBClient


async def main(client: RBClient) -> None:
    root = await client.get_root()
    tokens = await root.get_api_tokens(username="alice")
    reveal_type(tokens)
    for token in tokens:
        reveal_type(token)
    reveal_type(tokens[0])
    async for item in tokens.all_items():
        reveal_type(item)
    page = await tokens.get_next()
    reveal_type(page)
    again = await tokens[0].get_self()
    reveal_type(again)
    users = await root.get_users()
    async for user in users.all_items():
        reveal_type(await user.get_api_tokens())
    generic: ListResource[APIToken] = tokens
    reveal_type(generic.items)
