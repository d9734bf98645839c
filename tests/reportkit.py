"""Audit reports built by hand, for the tests of comparisons, waivers and renderings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from rbtokens.auditing import (
    DEFAULT_SEVERITIES,
    RULES,
    Failure,
    Finding,
    Report,
    Rules,
    Severity,
    Summary,
    TokenRecord,
)
from rbtokens.auditing.report import SiteSummary

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def record(
    username: str, token_id: int, *, local_site: str | None = None, **kw: Any
) -> TokenRecord:
    fields: dict[str, Any] = {
        "note": f"{username} token {token_id}",
        "expires": NOW + 60 * DAY,
        "expired": False,
        "valid": True,
        "usable": True,
        "last_used": NOW - DAY,
        "deprecated": False,
        "time_added": NOW - 20 * DAY,
    }
    fields.update(kw)
    return TokenRecord(username=username, id=token_id, local_site=local_site, **fields)


def finding(
    rule: str, username: str | None, token_id: int | None, *, local_site: str | None = None
) -> Finding:
    return Finding(
        username=username,
        token_id=token_id,
        rule=rule,
        severity=DEFAULT_SEVERITIES[rule],
        message=f"{rule} message",
        local_site=local_site,
    )


def user_failure(
    username: str | None, error: str = "boom", *, local_site: str | None = None
) -> Failure:
    return Failure(
        username=username,
        error=error,
        error_type="ServerError",
        http_status=500,
        local_site=local_site,
    )


def report(
    findings: Sequence[Finding] = (),
    *,
    tokens: Iterable[TokenRecord] | None = None,
    failures: Sequence[Failure] = (),
    now: datetime = NOW,
    exposure: str = "not-exposed",
    sites: Sequence[str | None] = (None,),
    enabled: Sequence[str] = RULES,
    warnings: Sequence[str] = (),
    server: str = "https://rb.example.com/",
) -> Report:
    """A report of ``findings``; the tokens default to one record per token finding."""
    if tokens is None:
        seen = {(f.local_site, f.username, f.token_id) for f in findings if f.token_id is not None}
        tokens = [record(u, t, local_site=s) for s, u, t in sorted(seen, key=str) if u is not None]
    tokens = list(tokens)
    per_rule = {rule: 0 for rule in RULES if rule in enabled}
    per_sev = {s.value: 0 for s in Severity}
    for f in findings:
        per_rule[f.rule] += 1
        per_sev[f.severity.value] += 1
    users = len({t.username for t in tokens}) + len({f.username for f in failures if f.username})
    summary = Summary(
        server=server,
        started_at=now,
        now=now,
        elapsed_seconds=1.5,
        complete=not failures,
        users_listed=users,
        users_audited=users - len([f for f in failures if f.username]),
        users_failed=len([f for f in failures if f.username]),
        inactive_users=0,
        tokens_seen=len(tokens),
        usable_tokens=sum(t.usable for t in tokens),
        findings=per_rule,
        severities=per_sev,
        requests=10,
        logins=1,
        retries=0,
        rate_limited_seconds=0.0,
        exposure_check=exposure,  # type: ignore[arg-type]
        walk="bulk",
        walk_reason="an administrator's login",
        sites=[
            SiteSummary(
                local_site=site,
                walk="bulk",
                walk_reason="",
                users_listed=users,
                users_audited=users,
                tokens_seen=len(tokens),
            )
            for site in sites
        ],
    )
    return Report(
        summary=summary,
        tokens=tokens,
        findings=list(findings),
        failures=list(failures),
        warnings=list(warnings),
        rules=Rules(enabled=tuple(enabled)),
    )
