"""The baseline marks and waivers in the command's table and CSV outputs.

The machine formats (JSON, YAML, NDJSON) carry them as the document's own
keys; here they become a column, summary lines and tables for the human.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..auditing import Baseline, Finding, WaiverSection
from ..reporting import Document
from .output import Output, to_builtins

__all__ = [
    "CSV_MARK_COLUMNS",
    "baseline_line",
    "csv_rows",
    "mark",
    "print_sections",
    "section_notes",
    "summary_pairs",
    "waivers_line",
]

CSV_MARK_COLUMNS = ("baseline", "waived", "waiver_reason", "waiver_accepted_by", "waiver_expires")
WAIVER_COLUMNS = (
    "state",
    "rule",
    "user",
    "token",
    "local_site",
    "findings",
    "accepted_by",
    "expires",
    "reason",
)
BASELINE_COLUMNS = ("severity", "username", "token_id", "rule", "message")


def mark(finding: Mapping[str, Any]) -> str:
    """A finding's marks in a word or two: ``new``, ``persisting, waived``..."""
    words = [finding["baseline"]] if finding.get("baseline") else []
    if finding.get("waiver"):
        words.append("waived")
    return ", ".join(words)


def baseline_line(baseline: Baseline) -> str:
    """The baseline's counts on one line."""
    source = f"{baseline.source}: " if baseline.source else ""
    return (
        f"{source}{baseline.new} new, {baseline.persisting} persisting, "
        f"{baseline.resolved} resolved, {baseline.unknown} unknown"
    )


def waivers_line(waivers: WaiverSection) -> str:
    """The waivers' outcome on one line."""
    return (
        f"{waivers.waived} finding(s) waived by {waivers.applied} waiver(s); "
        f"{waivers.expired} expired, {waivers.unmatched} matching nothing"
    )


def summary_pairs(doc: Document) -> dict[str, str]:
    """Lines for the table's summary."""
    pairs = {}
    if doc.baseline is not None:
        pairs["baseline"] = baseline_line(doc.baseline)
    if doc.waivers is not None:
        pairs["waivers"] = waivers_line(doc.waivers)
    return pairs


def _csv_row(finding: Finding) -> dict[str, Any]:
    row: dict[str, Any] = to_builtins(finding)
    waiver = finding.waiver
    row["waived"] = waiver is not None
    if waiver is not None:
        row["waiver_reason"] = waiver.reason
        row["waiver_accepted_by"] = waiver.accepted_by
        row["waiver_expires"] = waiver.expires.isoformat()
    return row


def csv_rows(doc: Document) -> list[dict[str, Any]]:
    """The CSV findings table: this run's findings, then the baseline's resolved and unknown."""
    findings = list(doc.findings)
    if doc.baseline is not None:
        findings += doc.baseline.resolved_findings + doc.baseline.unchecked_findings
    return [_csv_row(f) for f in findings]


def section_notes(out: Output, doc: Document) -> None:
    """The counts on stderr (for CSV, whose stdout is one table)."""
    if doc.baseline is not None:
        out.note(f"rbtokens: baseline: {baseline_line(doc.baseline)}")
    if doc.waivers is not None:
        out.note(f"rbtokens: waivers: {waivers_line(doc.waivers)}")
        for status in doc.waivers.waivers:
            if status.state != "applied":
                w = status.waiver
                out.note(f"rbtokens: waiver {status.state}: {w.rule} for {w.user} ({w.reason})")


def _waiver_rows(waivers: WaiverSection) -> list[dict[str, Any]]:
    return [
        {"state": s.state, "findings": s.findings, **to_builtins(s.waiver)} for s in waivers.waivers
    ]


def print_sections(out: Output, doc: Document) -> None:
    """The table output's baseline and waivers tables."""
    baseline = doc.baseline
    if baseline is not None and baseline.resolved_findings:
        rows = [to_builtins(f) for f in baseline.resolved_findings]
        out.table(rows, BASELINE_COLUMNS, title="Resolved since the baseline")
    if baseline is not None and baseline.unchecked_findings:
        rows = [to_builtins(f) for f in baseline.unchecked_findings]
        out.table(rows, BASELINE_COLUMNS, title="In the baseline, not checked this time (unknown)")
    if doc.waivers is not None and doc.waivers.waivers:
        out.table(
            _waiver_rows(doc.waivers),
            WAIVER_COLUMNS,
            title="Waivers",
            styles=lambda row: None if row["state"] == "applied" else "yellow",
        )
