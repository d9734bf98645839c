"""The ``audit`` verb: run the audit (with a progress bar), revoke, print and save the report."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from .. import auditing
from ..auditing import Finding, RevokeResult
from ..client import RBClient
from ..errors import PasswordLoginRequiredError, RateLimitedError, RBTokensError
from .args import UsageError, parse_time, revoke_arg, rules_arg
from .delivery import Delivery
from .output import Output, to_builtins
from .parser import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_RETRY

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
        **_state_options(args),
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
        retry_at = exc.retry_at if isinstance(exc, RateLimitedError) else None
        if out.fmt == "table" or isinstance(exc, PasswordLoginRequiredError):
            if retry_at is None:
                raise  # one line on stderr, as for every other failed request
        else:  # a machine reading the output always gets a document, even now
            delivery.deliver(out, doc)
        if retry_at is None:
            out.note(f"rbtokens audit: error: {exc}")
            return EXIT_INCOMPLETE
        out.note(f"rbtokens audit: incomplete: {exc}; run it again after {zulu(retry_at)}")
        return EXIT_RETRY
    revoked: list[RevokeResult] = []
    if revoke_rules:
        revoked = await auditing.revoke_findings(
            client, report.findings, rules=revoke_rules, apply=args.apply
        )
    doc = delivery.document(report, revoked, applied=args.apply)
    delivery.deliver(out, doc, streamed=out.fmt == "ndjson")
    code = delivery.exit_code(doc)
    out.note(f"rbtokens audit: {_last_line(doc.report, revoked, code, delivery, args.state)}")
    return code


def _unread(report: auditing.Report) -> str:
    users = report.summary.users_failed
    other = len(report.failures) - users
    parts = [f"{users:,} user{'s' if users != 1 else ''}"] if users else []
    if other:
        parts.append(f"{other:,} other read{'s' if other != 1 else ''}")
    return " and ".join(parts) + " could not be read"


def _state_options(args: argparse.Namespace) -> dict[str, Any]:
    if args.state is None:
        if args.fresh:
            raise UsageError("--fresh needs --state FILE")
        return {}
    return {
        "checkpoint": args.state,
        "checkpoint_max_age": timedelta(hours=args.state_max_age),
        "fresh": args.fresh,
    }


def _last_line(
    report: auditing.Report,
    revoked: list[RevokeResult],
    code: int,
    delivery: Delivery,
    state: str | None,
) -> str:
    """How the audit ended, for a scheduler: complete, incomplete (and when to retry), or failed."""
    summary = report.summary
    again = f" (it goes on from {state})" if state else ""
    if summary.retry_at is not None:
        return (
            f"incomplete: rate limited after {summary.users_audited:,} of "
            f"{summary.users_listed:,} users; run it again after {zulu(summary.retry_at)}{again}"
        )
    if not report.complete:
        return f"incomplete: {_unread(report)} (see the report's failures); run it again{again}"
    failed_revocations = sum(r.action == "failed" for r in revoked)
    if failed_revocations:
        return f"complete, but {failed_revocations:,} revocations failed"
    findings = len(report.findings)
    line = (
        f"complete: {summary.users_audited:,} users, {summary.tokens_seen:,} tokens, "
        f"{findings:,} finding{'s' if findings != 1 else ''}"
    )
    if code != EXIT_FINDINGS:
        return line
    if delivery.fail_on != "never" and report.at_least(delivery.fail_on, waived=False):
        return f"{line}, at or above {delivery.fail_on}"
    return f"{line}, new ones at or above {delivery.fail_on_new}"


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
