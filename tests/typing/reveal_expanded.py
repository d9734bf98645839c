# ruff: noqa: F821
"""Checked by mypy in tests/unit/test_typing.py: expanded children are typed on request."""

from rbtokens import APIToken, RBClient, User


async def main(client: RBClient) -> None:
    root = await client.get_root()
    users = await root.get_users(expand="api_tokens")
    for user in users:
        reveal_type(user.expanded_list("api_tokens", APIToken))
    session = await root.get_session(expand="user")
    reveal_type(session.user)
    reveal_type(session.expanded_item("user", User))
