"""Export a user's tokens as JSON or YAML (secrets masked unless asked for).

    RBTOKENS_SERVER=... RBTOKENS_USERNAME=... RBTOKENS_PASSWORD=... \
    python examples/export_tokens.py [--yaml] [--include-secrets] [OWNER]

YAML needs PyYAML: pip install 'rbtokens[cli]'.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from rbtokens import RBClient


async def main() -> None:
    args = sys.argv[1:]
    as_yaml = "--yaml" in args
    include_secret = "--include-secrets" in args
    owners = [a for a in args if not a.startswith("--")]
    async with RBClient(
        os.environ["RBTOKENS_SERVER"],
        username=os.environ["RBTOKENS_USERNAME"],
        password=os.environ["RBTOKENS_PASSWORD"],
    ) as client:
        pager = await client.tokens.list(owners[0] if owners else None, per_page=100)
        tokens = await pager.all()
    if as_yaml:
        print("---\n".join(t.to_yaml(include_secret=include_secret) for t in tokens), end="")
    else:
        docs = [t.to_dict(include_secret=include_secret) for t in tokens]
        print(json.dumps(docs, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
