"""Printing an audit :class:`~rbtokens.auditing.Report` in every output format."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..auditing import Report, RevokeResult
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


def _report_fields(
    report: Report, revoked: Sequence[RevokeResult], dry_run: bool
) -> list[tuple[str, Any]]:
    """The report document's keys in order (``remediation`` when asked for)."""
    fields: list[tuple[str, Any]] = [
        ("summary", report.summary),
        ("tokens", report.tokens),
        ("findings", report.findings),
        ("failures", report.failures),
        ("warnings", report.warnings),
        ("rules", report.rules),
    ]
    if revoked:
        fields.append(("remediation", {"applied": not dry_run, "results": list(revoked)}))
    return fields


def print_report(
    out: Output,
    report: Report,
    revoked: Sequence[RevokeResult],
    *,
    show_tokens: bool,
    dry_run: bool,
) -> None:
    fmt = out.fmt
    if fmt in ("json", "yaml"):
        fields = _report_fields(report, revoked, dry_run)
        out.json_mapping(fields) if fmt == "json" else out.yaml_mapping(fields)
        return
    if fmt == "ndjson":
        for token in report.tokens:
            out.ndjson({"record": "token", **to_builtins(token)}, flush=False)
        for failure in report.failures:
            out.ndjson({"record": "failure", **to_builtins(failure)})
        for warning in report.warnings:
            out.ndjson({"record": "warning", "message": warning})
        for result in revoked:
            out.ndjson({"record": "revoke", "applied": not dry_run, **to_builtins(result)})
        out.ndjson({"record": "summary", **to_builtins(report.summary)})
        return
    findings = [to_builtins(f) for f in report.findings]
    if fmt == "csv":
        # stdout keeps one CSV table (the findings); remediation goes to stderr.
        out.csv(findings, FINDING_COLUMNS)
        _notes(out, report)
        for result in revoked:
            rules = ",".join(result.rules)
            line = f"rbtokens: {result.action}: {result.username} token {result.token_id} ({rules})"
            out.note(line + (f": {result.error}" if result.error else ""))
        if revoked and dry_run:
            out.note("rbtokens: dry run: add --apply to revoke")
        return
    _print_report_table(out, report, findings, revoked, show_tokens=show_tokens, dry_run=dry_run)


def _notes(out: Output, report: Report) -> None:
    for failure in report.failures:
        if failure.username is None:  # a users page, the list, or a server check
            out.note(f"rbtokens: incomplete: {failure.error}")
        else:
            out.note(f"rbtokens: could not audit {failure.username}: {failure.error}")
    for warning in report.warnings:
        out.note(f"rbtokens: warning: {warning}")


def _print_report_table(
    out: Output,
    report: Report,
    findings: list[dict[str, Any]],
    revoked: Sequence[RevokeResult],
    *,
    show_tokens: bool,
    dry_run: bool,
) -> None:
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
        out.table(rows, FINDING_COLUMNS, title="Findings", styles=_finding_style)
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
