"""Rotate a token: a replacement now, the old one expiring after a grace period.

    RBTOKENS_SERVER=... RBTOKENS_USERNAME=... RBTOKENS_PASSWORD=... \
    python examples/rotate_token.py TOKEN_ID [OWNER] [GRACE_HOURS]
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta

from rbtokens import RBClient, RotationError, TokensError


async def main() -> None:
    token_id = int(sys.argv[1])
    owner = (sys.argv[2] if len(sys.argv) > 2 else "") or None  # None: the logged-in user
    grace = timedelta(hours=float(sys.argv[3]) if len(sys.argv) > 3 else 24)
    async with RBClient(
        os.environ["RBTOKENS_SERVER"],
        username=os.environ["RBTOKENS_USERNAME"],
        password=os.environ["RBTOKENS_PASSWORD"],
    ) as client:
        try:
            rotation = await client.tokens.rotate(token_id, username=owner, grace=grace)
        except RotationError as exc:
            # Part-way failure: every secret that was created is still here.
            print(f"error: {exc}", file=sys.stderr)
            if exc.new_token is not None:
                print(f"new secret: {exc.new_token.token}")
            sys.exit(1)
        except TokensError as exc:
            sys.exit(f"error: {exc}")
    new = rotation.new_token
    print(f"new token #{new.id}: {new.token}")
    if rotation.old_deleted:
        print(f"old token #{token_id} was deleted")
    else:
        print(f"old token #{token_id} stops working at {rotation.old_expires}")


if __name__ == "__main__":
    asyncio.run(main())
