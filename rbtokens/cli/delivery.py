"""Where one audit goes: marks (``--baseline``, ``--waivers``), ``--save`` files, the exit code.

:class:`Delivery` is made from the parsed options before any request: it
reads the baseline document and the waivers file and takes the locks of the
``--save`` files, so that a bad file or a held lock stops the run before it
starts. ``audit`` and ``report`` both hand it the finished report:
:meth:`Delivery.document` marks it, :meth:`Delivery.deliver` prints it in
``-o`` and writes every ``--save`` file, :meth:`Delivery.exit_code` judges it.
"""

from __future__ import annotations

import argparse
import io
from datetime import UTC, date, datetime
from types import TracebackType
from typing import TextIO

from ..auditing import (
    BaselineMarker,
    Finding,
    Report,
    RevokeResult,
    Severity,
    Waiver,
    WaiverError,
    WaiverMarker,
    apply_waivers,
    load_waivers,
)
from ..reporting import Document, DocumentError, build_document, read_baseline
from .args import UsageError
from .output import Output
from .parser import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK, EXIT_RETRY
from .report import print_report
from .save import SaveLocks, save_targets, write_atomic

__all__ = ["Delivery", "exit_code"]


class Delivery:
    """The report's marks, its files and its exit code, as the options ask."""

    def __init__(self, args: argparse.Namespace, *, command: str) -> None:
        self.targets = save_targets(args.save or [])
        self.baseline_source: str | None = args.baseline
        self.baseline: Report | None = None
        if args.baseline is not None:
            try:
                self.baseline = read_baseline(args.baseline)
            except DocumentError as exc:
                raise UsageError(f"--baseline: {exc}") from None
        self.waivers_source: str | None = args.waivers
        self.waivers: list[Waiver] | None = None
        if args.waivers is not None:
            try:
                self.waivers = load_waivers(args.waivers)
            except WaiverError as exc:
                raise UsageError(f"--waivers: {exc}") from None
        self.fail_on_new: str | None = args.fail_on_new
        self.fail_on: str = args.fail_on or ("never" if args.fail_on_new else "low")
        self.show_tokens: bool = getattr(args, "show_tokens", False)
        self._locks = SaveLocks(self.targets, command=command)

    def __enter__(self) -> Delivery:
        self._locks.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._locks.__exit__(exc_type, exc, tb)

    def stream_marker(self, now: datetime | None) -> StreamMarker:
        """Marks for findings printed as they are found (``-o ndjson``)."""
        return StreamMarker(self, (now or datetime.now(UTC)).astimezone(UTC).date())

    def document(
        self,
        report: Report,
        revoked: list[RevokeResult],
        *,
        applied: bool,
        kept: Document | None = None,
    ) -> Document:
        """``report`` marked against the baseline and the waivers given.

        ``kept`` (``rbtokens report``): the saved document, whose baseline and
        waivers sections stay unless the options give new ones.
        """
        baseline = kept.baseline if kept is not None else None
        waivers = kept.waivers if kept is not None else None
        if self.baseline is not None:
            comparison = BaselineMarker(self.baseline, source=self.baseline_source or "")
            marked = comparison.finish(report)
            report, baseline = marked.report, marked.baseline
        if self.waivers is not None:
            report, waivers = apply_waivers(report, self.waivers, source=self.waivers_source or "")
        return build_document(
            report, baseline=baseline, waivers=waivers, revoked=revoked, applied=applied
        )

    def deliver(self, out: Output, doc: Document, *, streamed: bool = False) -> None:
        """``doc`` on stdout in ``-o``, then in every ``--save`` file."""
        print_report(out, doc, show_tokens=self.show_tokens, streamed=streamed)
        self.save(doc)

    def save(self, doc: Document) -> None:
        """Every ``--save`` file, each replaced atomically."""
        for target in self.targets:

            def write(fp: TextIO, fmt: str = target.fmt) -> None:
                print_report(Output(fmt, stdout=fp, stderr=io.StringIO()), doc, show_tokens=False)

            try:
                write_atomic(target.path, write)
            except OSError as exc:
                raise UsageError(f"--save {target.path}: {exc.strerror or exc}") from None

    def exit_code(self, doc: Document) -> int:
        """0, 1 (findings at or above ``--fail-on``, or new ones at ``--fail-on-new``), 2 or 75."""
        return exit_code(doc, fail_on=self.fail_on, fail_on_new=self.fail_on_new)


class StreamMarker:
    """Marks one finding at a time, as the final report will be marked."""

    def __init__(self, delivery: Delivery, today: date) -> None:
        self._baseline = (
            BaselineMarker(delivery.baseline) if delivery.baseline is not None else None
        )
        self._waivers = (
            WaiverMarker(delivery.waivers, today=today) if delivery.waivers is not None else None
        )

    def __call__(self, finding: Finding) -> Finding:
        if self._baseline is not None:
            finding = self._baseline.mark(finding)
        if self._waivers is not None:
            finding = self._waivers.mark(finding)
        return finding


def exit_code(doc: Document, *, fail_on: str, fail_on_new: str | None) -> int:
    """The command's verdict on ``doc``; waived findings never count."""
    if doc.summary.retry_at is not None:
        return EXIT_RETRY  # stopped by a rate limit: run it again after retry_at
    if not doc.summary.complete or any(r.action == "failed" for r in doc.revoked):
        return EXIT_INCOMPLETE
    report = doc.report
    if fail_on != "never" and report.at_least(fail_on, waived=False):
        return EXIT_FINDINGS
    if fail_on_new is not None:
        new = [
            f for f in report.at_least(Severity(fail_on_new), waived=False) if f.baseline == "new"
        ]
        if new:
            return EXIT_FINDINGS
    return EXIT_OK
