"""Walk the resource tree: root, users, each user's tokens, and paging.

Run against any Review Board::

    RBTOKENS_SERVER=http://127.0.0.1:8080/ RBTOKENS_USERNAME=admin \
    RBTOKENS_PASSWORD=... python examples/walk_tree.py
"""

from __future__ import annotations

import asyncio
import os

import rbtokens


async def main() -> None:
    async with rbtokens.RBClient(
        os.environ["RBTOKENS_SERVER"],
        username=os.environ["RBTOKENS_USERNAME"],
        password=os.environ["RBTOKENS_PASSWORD"],
    ) as client:
        root = await client.get_root()
        print(
            f"{root.product.name} {root.product.version}, {len(root.uri_templates)} URI templates"
        )
        session = await root.get_session()
        print(f"logged in as {session.username}")

        users = await root.get_users(max_results=200, include_inactive=True)
        print(f"{users.total_results} users")
        async for user in users.all_items(concurrency=4):
            tokens = await user.get_api_tokens(max_results=200)
            for token in tokens:
                state = "usable" if token.usable else "unusable"
                print(f"  {user.username:20} #{token.id:<5} {state:9} {token.note!r}")

        # URI templates of the root work the same way, with URL-encoded values.
        admin_tokens = await root.get_api_tokens(username=session.username or "admin")
        nxt = await admin_tokens.get_next()
        print(f"admin has {admin_tokens.total_results} tokens; next page: {nxt}")
        print(f"{client.stats.requests} requests, {client.stats.logins} password check(s)")


if __name__ == "__main__":
    asyncio.run(main())
