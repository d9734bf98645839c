"""``python -m tools.standin``: serve until SIGTERM or SIGINT; the first line printed is the URL."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Sequence
from typing import Any

from .faults import FaultPlan
from .ratelimit import RateLimits
from .server import start_standin
from .service import ServerCost

__all__ = ["main"]


def _range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    return int(low), int(high or low)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.standin", description="A Review Board 8.1-shaped stand-in server."
    )
    add = parser.add_argument
    add("--users", type=int, default=100, help="generated users (plus admin)")
    add("--delay", type=float, default=0.0, help="seconds added to every response")
    add("--host", default="127.0.0.1")
    add("--port", type=int, default=0, help="0 picks a free port")
    add("--seed", type=int, default=0)
    add("--tokens", default="0-3", help="tokens per user, MIN-MAX (default 0-3)")
    add("--inactive", type=float, default=0.1, help="inactive users fraction")
    add("--faults", help="a FaultPlan as JSON, e.g. '{\"reset\": 0.01}'")
    add("--delete-quirk", action="store_true")
    add("--no-etags", action="store_true")
    add("--rate-limits", nargs="?", const="10000/h,1000/h", metavar="AUTH,ANON",
        help="Review Board's API rate limits (default when given: 10000/h,1000/h; "
        "'off' for one of them)")  # fmt: skip
    add("--workers", type=int, help="requests served at a time (a busy server)")
    add("--per-request", type=float, default=0.0, help="seconds of work per request")
    add("--per-expanded-user", type=float, default=0.0,
        help="seconds of work per user serialized with expand=api_tokens")  # fmt: skip
    add("--expansion", choices=("inline", "removed", "empty"), default="inline")
    add("--stats", action="store_true", help="print stats as JSON on exit")
    return parser


def _limits(text: str | None) -> RateLimits | None:
    if text is None:
        return None
    auth, _, anon = text.partition(",")
    return RateLimits(
        authenticated=None if auth in ("", "off") else auth,
        anonymous=None if anon in ("", "off") else anon,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the stand-in in the foreground."""
    args = _parser().parse_args(argv)
    options: dict[str, Any] = {
        "users": args.users,
        "delay": args.delay,
        "host": args.host,
        "port": args.port,
        "seed": args.seed,
        "tokens_per_user": _range(args.tokens),
        "inactive_fraction": args.inactive,
        "faults": FaultPlan.from_json(args.faults) if args.faults else None,
        "delete_quirk": args.delete_quirk,
        "etags": not args.no_etags,
        "rate_limits": _limits(args.rate_limits),
        "cost": ServerCost(args.workers, args.per_request, args.per_expanded_user),
        "expansion": args.expansion,
    }

    async def run() -> None:
        standin = await start_standin(**options)
        print(standin.url, flush=True)
        print(
            f"users={len(standin.dataset.users)} tokens={standin.dataset.token_count} "
            "admin password: admin; other users: password",
            file=sys.stderr,
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        if args.stats:
            print(json.dumps(standin.stats.as_dict()), file=sys.stderr, flush=True)
        await standin.aclose()

    asyncio.run(run())
    return 0
