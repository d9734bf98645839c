"""What an audit returns: records, findings, failures, the summary and the :class:`Report`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from .marks import AppliedWaiver, BaselineMark
from .ruleset import RULES, Rules, Severity

__all__ = [
    "ExposureCheck",
    "Failure",
    "Finding",
    "Report",
    "SiteSummary",
    "Summary",
    "Tally",
    "TokenRecord",
    "WalkKind",
    "failed_report",
    "failure",
]

WalkKind = Literal["bulk", "per-user"]
"""How an audit read the users' tokens (see :mod:`rbtokens.auditing.choose`)."""

ExposureCheck = Literal[
    "exposed", "not-exposed", "anonymous-refused", "rate-limited", "no-tokens", "failed", "off"
]
"""What the secrets-exposed check found (see :mod:`rbtokens.auditing.exposure`)."""


class TokenRecord(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """What an audit keeps of one token: no secret, no policy, no links."""

    username: str
    id: int
    note: str
    expires: datetime | None
    expired: bool
    valid: bool
    usable: bool
    last_used: datetime | None
    deprecated: bool
    time_added: datetime | None = None
    token_generator_id: str = ""
    invalid_reason: str = ""
    owner_active: bool = True
    local_site: str | None = None
    """The Local Site the token belongs to (None: the global site)."""


class Finding(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """One rule that one token breaks (or one user, or the server).

    Per-user rules give no ``token_id``; server rules give no ``username`` either.
    """

    username: str | None
    token_id: int | None
    rule: str
    severity: Severity
    message: str
    local_site: str | None = None
    """The Local Site of the token or user (None: the global site)."""
    baseline: BaselineMark | None = None
    """Against a baseline report (:func:`~rbtokens.auditing.compare`); None: none given."""
    waiver: AppliedWaiver | None = None
    """The accepted risk that waives it (:func:`~rbtokens.auditing.apply_waivers`)."""


class Failure(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """Something the audit could not read.

    ``username`` is None for a users page, the users list or the secrets-exposed check.
    """

    username: str | None
    error: str
    error_type: str = ""
    http_status: int | None = None
    retry_at: datetime | None = None
    """For a rate limit: when the server takes requests again (UTC)."""
    local_site: str | None = None
    """The Local Site where it happened (None: the global site)."""


class SiteSummary(msgspec.Struct, kw_only=True):
    """How one site (the global one, or a Local Site) was audited."""

    local_site: str | None
    walk: WalkKind
    walk_reason: str
    users_listed: int
    users_audited: int
    tokens_seen: int


class Summary(msgspec.Struct, kw_only=True):
    """Totals of one audit run."""

    server: str
    started_at: datetime
    now: datetime
    elapsed_seconds: float
    complete: bool
    users_listed: int
    users_audited: int
    users_failed: int
    inactive_users: int
    tokens_seen: int
    usable_tokens: int
    findings: dict[str, int]
    severities: dict[str, int]
    requests: int
    logins: int
    retries: int
    rate_limited_seconds: float
    exposure_check: ExposureCheck = "off"
    walk: WalkKind = "per-user"
    """How the users' tokens were read: ``bulk`` or ``per-user``."""
    walk_reason: str = ""
    """Why that walk ran."""
    retry_at: datetime | None = None
    """When the audit was stopped by a rate limit: when to run it again (UTC)."""
    sites: list[SiteSummary] = msgspec.field(default_factory=list)
    """Each site audited: the global one, then every Local Site named."""


class Report(msgspec.Struct, kw_only=True):
    """The result of :func:`audit`; ``msgspec.json.encode(report)`` exports it."""

    summary: Summary
    tokens: list[TokenRecord]
    findings: list[Finding]
    failures: list[Failure]
    warnings: list[str] = msgspec.field(default_factory=list)
    rules: Rules = msgspec.field(default_factory=Rules)

    @property
    def complete(self) -> bool:
        """True when every user was audited (the same as ``summary.complete``)."""
        return self.summary.complete

    def at_least(self, severity: Severity | str, *, waived: bool = True) -> list[Finding]:
        """The findings of ``severity`` or worse (without the waived ones unless ``waived``)."""
        floor = Severity(severity).rank
        return [
            f for f in self.findings if f.severity.rank >= floor and (waived or f.waiver is None)
        ]

    def to_json(self) -> bytes:
        """The report as one JSON document."""
        return msgspec.json.encode(self)


def failure(username: str | None, exc: BaseException, *, prefix: str = "") -> Failure:
    """The :class:`Failure` for ``exc`` (``username`` None: not about one user)."""
    return Failure(
        username=username,
        error=prefix + str(exc),
        error_type=type(exc).__name__,
        http_status=getattr(exc, "http_status", None),
        retry_at=getattr(exc, "retry_at", None),
    )


class Tally(msgspec.Struct):
    """What an audit has found so far; :meth:`report` builds the :class:`Report`."""

    records: list[TokenRecord] = msgspec.field(default_factory=list)
    findings: list[Finding] = msgspec.field(default_factory=list)
    failures: list[Failure] = msgspec.field(default_factory=list)
    warnings: list[str] = msgspec.field(default_factory=list)
    users_listed: int = 0
    users_audited: int = 0
    inactive: int = 0
    usable: int = 0
    exposure: ExposureCheck = "off"
    walk: WalkKind = "per-user"
    walk_reason: str = ""

    def site_summary(self, local_site: str | None) -> SiteSummary:
        """How this tally's site was walked."""
        return SiteSummary(
            local_site=local_site,
            walk=self.walk,
            walk_reason=self.walk_reason,
            users_listed=self.users_listed,
            users_audited=self.users_audited,
            tokens_seen=len(self.records),
        )

    def absorb(self, other: Tally, local_site: str) -> None:
        """Add a Local Site's tally, each record, finding and failure labelled with it."""
        label = {"local_site": local_site}
        self.records.extend(msgspec.structs.replace(r, **label) for r in other.records)
        self.findings.extend(msgspec.structs.replace(f, **label) for f in other.findings)
        self.failures.extend(msgspec.structs.replace(f, **label) for f in other.failures)
        self.warnings.extend(f"Local Site {local_site}: {w}" for w in other.warnings)
        self.users_listed += other.users_listed
        self.users_audited += other.users_audited
        self.inactive += other.inactive
        self.usable += other.usable

    def report(
        self,
        *,
        server: str,
        rules: Rules,
        started: datetime,
        now: datetime,
        elapsed: float,
        stats: tuple[int, int, int, float],
        sites: list[SiteSummary] | None = None,
    ) -> Report:
        """The report, sorted; ``stats`` are the run's requests, logins, retries and 429 wait."""
        per_rule = {rule: 0 for rule in RULES if rule in rules.enabled}
        per_sev = {s.value: 0 for s in Severity}
        for f in self.findings:
            per_rule[f.rule] += 1
            per_sev[f.severity.value] += 1
        order = {rule: i for i, rule in enumerate(RULES)}
        self.findings.sort(
            key=lambda f: (
                -f.severity.rank,
                order[f.rule],
                f.local_site or "",
                f.username or "",
                f.token_id or 0,
            )
        )
        self.records.sort(key=lambda r: (r.local_site or "", r.username, r.id))
        self.failures.sort(key=lambda f: (f.local_site or "", f.username or "", f.error))
        requests, logins, retries, waited = stats
        summary = Summary(
            server=server,
            started_at=started,
            now=now,
            elapsed_seconds=round(elapsed, 3),
            complete=not self.failures,
            users_listed=self.users_listed,
            users_audited=self.users_audited,
            users_failed=sum(1 for f in self.failures if f.username is not None),
            inactive_users=self.inactive,
            tokens_seen=len(self.records),
            usable_tokens=self.usable,
            findings=per_rule,
            severities=per_sev,
            requests=requests,
            logins=logins,
            retries=retries,
            rate_limited_seconds=round(waited, 3),
            exposure_check=self.exposure,
            walk=self.walk,
            walk_reason=self.walk_reason,
            retry_at=max((f.retry_at for f in self.failures if f.retry_at), default=None),
            sites=sites if sites is not None else [self.site_summary(None)],
        )
        return Report(
            summary=summary,
            tokens=self.records,
            findings=self.findings,
            failures=self.failures,
            warnings=self.warnings,
            rules=rules,
        )


def failed_report(
    *, server: str, rules: Rules, started: datetime, now: datetime, error: BaseException
) -> Report:
    """The report of an audit that could not start (the root or the first page failed)."""
    tally = Tally()
    tally.failures.append(failure(None, error))
    tally.walk_reason = "the audit stopped before it could walk the users"
    elapsed = (datetime.now(started.tzinfo) - started).total_seconds()
    return tally.report(
        server=server, rules=rules, started=started, now=now, elapsed=elapsed, stats=(0, 0, 0, 0)
    )
