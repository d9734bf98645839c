"""The ``audit`` verb: run the audit (with a progress bar), revoke, print the report."""

from __future__ import annotations

import argparse
from typing import Any

from .. import auditing
from ..auditing import RevokeResult
from ..client import RBClient
from .args import parse_time, revoke_arg, rules_arg
from .output import Output, to_builtins
from .parser import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK
from .report import print_report

__all__ = ["cmd_audit"]


async def cmd_audit(client: RBClient, args: argparse.Namespace, out: Output) -> int:
    rules = rules_arg(args)
    revoke_rules = revoke_arg(args, rules)
    now = parse_time(args.now, "--now") if args.now else None
    progress = _Progress(out, enabled=not args.quiet and out.stderr.isatty())
    options: dict[str, Any] = {
        "concurrency": args.concurrency,
        "rules": rules,
        "now": now,
        "users": args.users,
        "progress": progress.update,
    }
    with progress:
        if out.fmt == "ndjson":
            # NDJSON streams each finding as soon as it is found.
            stream = auditing.audit_stream(client, **options)
            async with stream:
                async for finding in stream:
                    out.ndjson({"record": "finding", **to_builtins(finding)})
            report = stream.report
            assert report is not None
        else:
            report = await auditing.audit(client, **options)
    revoked: list[RevokeResult] = []
    if revoke_rules:
        revoked = await auditing.revoke_findings(
            client, report.findings, rules=revoke_rules, apply=args.apply
        )
    print_report(out, report, revoked, show_tokens=args.show_tokens, dry_run=not args.apply)
    if not report.complete or any(r.action == "failed" for r in revoked):
        return EXIT_INCOMPLETE
    if args.fail_on != "never" and report.at_least(args.fail_on):
        return EXIT_FINDINGS
    return EXIT_OK


class _Progress:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, out: Output, *, enabled: bool) -> None:
        self._enabled = enabled
        self._out = out
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self._enabled:
            from rich.console import Console  # noqa: PLC0415
            from rich.progress import (  # noqa: PLC0415
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("auditing users"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(file=self._out.stderr),
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("audit", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)

    def update(self, done: int, total: int | None) -> None:
        """The audit's progress callback."""
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total)
