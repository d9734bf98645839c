"""List API tokens, one page at a time or all of them.

    RBTOKENS_SERVER=https://rb.example.com RBTOKENS_USERNAME=admin \
    RBTOKENS_PASSWORD=... python examples/list_tokens.py [USERNAME | --all]
"""

from __future__ import annotations

import asyncio
import os
import sys

from rbtokens import RBClient


async def main() -> None:
    arg = sys.argv[1] if len(sys.argv) > 1 else None
    async with RBClient(
        os.environ["RBTOKENS_SERVER"],
        username=os.environ["RBTOKENS_USERNAME"],
        password=os.environ["RBTOKENS_PASSWORD"],
    ) as client:
        if arg == "--all":
            pager = await client.tokens.list(all_users=True, per_page=50)
        else:
            pager = await client.tokens.list(arg, per_page=10)
        print(f"{pager.total_items} tokens, {pager.total_pages} pages of {pager.per_page}")
        async for token in pager:  # every page, from the first to the last
            state = "usable" if token.usable else "unusable"
            expires = token.expires.isoformat() if token.expires else "never"
            print(f"{token.username:>16} #{token.id:<5} {state:8} expires {expires}  {token.note}")


if __name__ == "__main__":
    asyncio.run(main())
