"""Printing an audit document (:class:`~rbtokens.reporting.Document`) in every output format."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..auditing import Report
from ..reporting import Document
from . import sections
from .output import TOKEN_COLUMNS, Output, struct_row, to_builtins

__all__ = ["print_report"]

FINDING_COLUMNS = ("severity", "username", "token_id", "rule", "message")
FAILURE_COLUMNS = ("username", "error_type", "http_status", "error")
REVOKE_COLUMNS = ("username", "token_id", "rules", "action", "error")

_SEVERITY_STYLES = {
    "critical": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}


def _finding_style(row: Mapping[str, Any]) -> str | None:
    return _SEVERITY_STYLES.get(str(row.get("severity")))


def _document_fields(doc: Document) -> list[tuple[str, Any]]:
    """The document's keys in order."""
    return [(name, getattr(doc, name)) for name in doc.__struct_fields__]


def print_report(out: Output, doc: Document, *, show_tokens: bool, streamed: bool = False) -> None:
    """``doc`` in ``out``'s format; ``streamed``: NDJSON findings already printed."""
    fmt = out.fmt
    revoked, dry_run = doc.revoked, doc.dry_run
    if fmt in ("json", "yaml"):
        fields = _document_fields(doc)
        out.json_mapping(fields) if fmt == "json" else out.yaml_mapping(fields)
        return
    if fmt == "html":
        from ..reporting.html import render_html  # noqa: PLC0415 - lazy: Jinja2

        out.stdout.write(render_html(doc))
        return
    if fmt == "ndjson":
        _print_ndjson(out, doc, streamed=streamed)
        return
    findings = [to_builtins(f) for f in doc.findings]
    if fmt == "csv":
        # stdout keeps one CSV table (the findings); remediation goes to stderr.
        marked = doc.baseline is not None or doc.waivers is not None
        columns = FINDING_COLUMNS + (sections.CSV_MARK_COLUMNS if marked else ())
        out.csv(sections.csv_rows(doc) if marked else findings, columns)
        _notes(out, doc.report)
        sections.section_notes(out, doc)
        for result in revoked:
            rules = ",".join(result.rules)
            line = f"rbtokens: {result.action}: {result.username} token {result.token_id} ({rules})"
            out.note(line + (f": {result.error}" if result.error else ""))
        if revoked and dry_run:
            out.note("rbtokens: dry run: add --apply to revoke")
        return
    _print_report_table(out, doc, findings, show_tokens=show_tokens)


def _print_ndjson(out: Output, doc: Document, *, streamed: bool) -> None:
    """One record a line: findings, tokens, failures, warnings, baseline, waivers, summary."""
    if not streamed:
        for finding in doc.findings:
            out.ndjson({"record": "finding", **to_builtins(finding)}, flush=False)
    for token in doc.tokens:
        out.ndjson({"record": "token", **to_builtins(token)}, flush=False)
    for failure in doc.failures:
        out.ndjson({"record": "failure", **to_builtins(failure)})
    for warning in doc.warnings:
        out.ndjson({"record": "warning", "message": warning})
    baseline = doc.baseline
    if baseline is not None:
        for finding in baseline.resolved_findings + baseline.unchecked_findings:
            out.ndjson({"record": "baseline-finding", **to_builtins(finding)})
    if doc.waivers is not None:
        for status in doc.waivers.waivers:
            out.ndjson({"record": "waiver", **to_builtins(status)})
    for result in doc.revoked:
        out.ndjson({"record": "revoke", "applied": not doc.dry_run, **to_builtins(result)})
    out.ndjson({"record": "summary", **to_builtins(doc.summary)})
    if baseline is not None:
        counts = {k: v for k, v in to_builtins(baseline).items() if not k.endswith("_findings")}
        out.ndjson({"record": "baseline", **counts})
    if doc.waivers is not None:
        counts = {k: v for k, v in to_builtins(doc.waivers).items() if k != "waivers"}
        out.ndjson({"record": "waivers", **counts})


def _notes(out: Output, report: Report) -> None:
    for failure in report.failures:
        if failure.username is None:  # a users page, the list, or a server check
            out.note(f"rbtokens: incomplete: {failure.error}")
        else:
            out.note(f"rbtokens: could not audit {failure.username}: {failure.error}")
    for warning in report.warnings:
        out.note(f"rbtokens: warning: {warning}")


def _print_report_table(
    out: Output, doc: Document, findings: list[dict[str, Any]], *, show_tokens: bool
) -> None:
    report, revoked, dry_run = doc.report, doc.revoked, doc.dry_run
    s = report.summary
    status = "complete" if s.complete else f"INCOMPLETE: {len(report.failures)} failure(s)"
    out.pairs(
        {
            "server": s.server,
            "status": status,
            "users audited": f"{s.users_audited} of {s.users_listed} ({s.inactive_users} inactive)",
            "tokens seen": f"{s.tokens_seen} ({s.usable_tokens} usable)",
            "findings": ", ".join(f"{n} {sev}" for sev, n in reversed(s.severities.items()) if n)
            or "none",
            "requests": f"{s.requests} in {s.elapsed_seconds:.2f}s, {s.logins} login(s), "
            f"{s.retries} retries",
            "rate limited": f"{s.rate_limited_seconds:.1f}s waiting (429 Retry-After)",
            "secrets-exposed check": s.exposure_check,
            **sections.summary_pairs(doc),
        },
        title="Audit summary",
    )
    out.table(
        [
            {"rule": rule, "severity": report.rules.severities[rule].value, "findings": n}
            for rule, n in s.findings.items()
        ],
        ("rule", "severity", "findings"),
        title="Findings per rule",
        styles=lambda row: _finding_style(row) if row["findings"] else "dim",
    )
    if findings:
        rows = [f if f["username"] is not None else {**f, "username": "(server)"} for f in findings]
        columns: tuple[str, ...] = FINDING_COLUMNS
        if doc.baseline is not None or doc.waivers is not None:
            rows = [{**f, "mark": sections.mark(f)} for f in rows]
            columns = (*FINDING_COLUMNS, "mark")
        out.table(rows, columns, title="Findings", styles=_finding_style)
    sections.print_sections(out, doc)
    if show_tokens:
        out.table([struct_row(t) for t in report.tokens], TOKEN_COLUMNS, title="Tokens")
    if report.failures:
        out.table(
            [to_builtins(f) for f in report.failures],
            FAILURE_COLUMNS,
            title="Could not audit",
            styles=lambda row: "red",
        )
    for warning in report.warnings:
        out.note(f"rbtokens: warning: {warning}")
    if revoked:
        title = "Revocation (dry run: add --apply to revoke)" if dry_run else "Revocation"
        out.table([to_builtins(r) for r in revoked], REVOKE_COLUMNS, title=title)
