#!/usr/bin/env python3
"""Peak memory of an audit over 100,000 tokens.

The stand-in (its own process, no delay) serves 500 users with 200 tokens
each, so every user's tokens arrive as one full 200-token page. The
``rbtokens audit -o json`` process is measured for its peak RSS
(``ru_maxrss``), with the bare aiohttp + msgspec floor for reference.

    python benchmarks/memory.py [--users 500] [--tokens 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from harness import floor_cmd, measure, rbtokens_cmd, standin


def run(users: int = 500, tokens: int = 200) -> dict[str, Any]:
    t0 = time.perf_counter()
    with standin(users=users, tokens=f"{tokens}-{tokens}", delay=0, seed=7) as server:
        startup = time.perf_counter() - t0
        expected = server.stats()["dataset"]["tokens"]
        runs = measure(
            {"rbtokens": (rbtokens_cmd(server.url), None), "floor": (floor_cmd(server.url), None)},
            server,
        )
        rbt, floor = runs["rbtokens"], runs["floor"]
    for m in (rbt, floor):
        if m.tokens_seen != expected:
            raise RuntimeError(f"{m.name} saw {m.tokens_seen} tokens, expected {expected}")
    return {
        "users": users,
        "tokens": expected,
        "standin_startup_s": startup,
        "rbtokens": rbt.as_dict(),
        "floor": floor.as_dict(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--tokens", type=int, default=200, help="tokens per user")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    res = run(args.users, args.tokens)
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"{res['tokens']} tokens over {res['users']} users")
    for key in ("rbtokens", "floor"):
        m = res[key]
        print(
            f"{key:9} peak RSS {m['maxrss_mb']:6.1f} MB  wall {m['wall']:.2f} s  "
            f"cpu {m['cpu']:.2f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
