"""The ``audit`` verb: run the audit (with a progress bar), revoke, print and save the report."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .. import auditing
from ..auditing import Finding, RevokeResult
from ..client import RBClient
from ..errors import PasswordLoginRequiredError, RBTokensError
from .args import UsageError, parse_time, revoke_arg, rules_arg
from .delivery import Delivery
from .output import Output, to_builtins
from .parser import EXIT_INCOMPLETE

__all__ = ["cmd_audit"]


async def cmd_audit(client: RBClient, args: argparse.Namespace, out: Output) -> int:
    # Usage errors first, before any file is read or locked.
    rules = rules_arg(args)
    revoke_rules = revoke_arg(args, rules)
    now = parse_time(args.now, "--now") if args.now else None
    if args.fail_on_new and not args.baseline:
        raise UsageError("--fail-on-new needs --baseline PREV.json")
    delivery = Delivery(args, command="rbtokens audit")
    with delivery:  # the --save files stay locked until they are written
        return await _audit_and_deliver(
            client, args, out, delivery, rules=rules, revoke_rules=revoke_rules, now=now
        )


async def _audit_and_deliver(
    client: RBClient,
    args: argparse.Namespace,
    out: Output,
    delivery: Delivery,
    *,
    rules: auditing.Rules,
    revoke_rules: list[str],
    now: datetime | None,
) -> int:
    progress = _Progress(out, client, enabled=not args.quiet and out.stderr.isatty())
    options: dict[str, Any] = {
        "concurrency": args.concurrency,
        "rules": rules,
        "now": now,
        "users": args.users,
        "local_sites": args.local_sites,
        "progress": progress.update,
        "walk": args.walk,
        "wait": args.wait,
        "wait_max": args.wait_max,
    }
    started = datetime.now(UTC)
    try:
        with progress:
            report = await _audit(client, out, options, delivery.stream_marker(now))
    except RBTokensError as exc:
        report = auditing.failed_report(
            server=str(client.base_url),
            rules=rules,
            started=started,
            now=now or started,
            error=exc,
        )
        doc = delivery.document(report, [], applied=False)
        delivery.save(doc)  # an incomplete audit is saved too (complete: false)
        if out.fmt == "table" or isinstance(exc, PasswordLoginRequiredError):
            raise  # one line on stderr, as for every other failed request
        # A machine reading the output always gets a document, even now.
        delivery.deliver(out, doc)
        out.note(f"rbtokens audit: error: {exc}")
        return EXIT_INCOMPLETE
    revoked: list[RevokeResult] = []
    if revoke_rules:
        revoked = await auditing.revoke_findings(
            client, report.findings, rules=revoke_rules, apply=args.apply
        )
    doc = delivery.document(report, revoked, applied=args.apply)
    delivery.deliver(out, doc, streamed=out.fmt == "ndjson")
    retry_at = report.summary.retry_at
    if retry_at is not None:
        out.note(f"rbtokens audit: incomplete: rate limited; run it again after {zulu(retry_at)}")
    return delivery.exit_code(doc)


async def _audit(
    client: RBClient, out: Output, options: dict[str, Any], mark: Callable[[Finding], Finding]
) -> auditing.Report:
    if out.fmt != "ndjson":
        return await auditing.audit(client, **options)
    # NDJSON streams each finding as soon as it is found (marked as the report will be).
    stream = auditing.audit_stream(client, **options)
    async with stream:
        async for finding in stream:
            out.ndjson({"record": "finding", **to_builtins(mark(finding))})
    assert stream.report is not None
    return stream.report


def zulu(when: datetime) -> str:
    """``when`` in UTC, ISO 8601 with ``Z``, to the second."""
    return when.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class _Progress:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, out: Output, client: RBClient, *, enabled: bool) -> None:
        self._enabled = enabled
        self._out = out
        self._client = client
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
                _countdown_column(self._client),
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


def _countdown_column(client: RBClient) -> Any:
    """A progress column that counts down while the client waits for a rate limit."""
    from rich.progress import ProgressColumn  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    class Countdown(ProgressColumn):
        def render(self, task: Any) -> Text:
            until = client.stats.waiting_until
            if until is None:
                return Text("")
            left = max(0, int((until - datetime.now(UTC)).total_seconds()))
            return Text(f"rate limited: resuming in {left // 60}:{left % 60:02d}", style="yellow")

    return Countdown()
