"""Create a read-only API token that expires in 30 days.

    RBTOKENS_SERVER=... RBTOKENS_USERNAME=... RBTOKENS_PASSWORD=... \
    python examples/create_token.py "CI read-only" [OWNER]
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta

from rbtokens import Policy, RBClient, TokensError


async def main() -> None:
    note = sys.argv[1] if len(sys.argv) > 1 else "created by examples/create_token.py"
    owner = sys.argv[2] if len(sys.argv) > 2 else None  # None: the logged-in user
    policy = Policy.read_only()
    for warning in policy.warnings():
        print("warning:", warning, file=sys.stderr)
    async with RBClient(
        os.environ["RBTOKENS_SERVER"],
        username=os.environ["RBTOKENS_USERNAME"],
        password=os.environ["RBTOKENS_PASSWORD"],
    ) as client:
        try:
            token = await client.tokens.create(
                owner, note=note, policy=policy, expires_in=timedelta(days=30)
            )
        except TokensError as exc:
            sys.exit(f"error: {exc}")
    print(f"created {token!r}")  # the repr masks the secret
    print(f"secret (shown once, store it now): {token.token}")


if __name__ == "__main__":
    asyncio.run(main())
