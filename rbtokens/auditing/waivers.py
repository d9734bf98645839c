"""Accepted risks: waivers that an administrator wrote for findings they accept.

A waiver names a rule and a user, optionally one token (and a Local Site:
without one it covers the global site only), with the reason, who accepted
it and the last day it applies. A waived finding stays in the report,
marked with its waiver (``finding.waiver``), and does not count toward the
command's ``--fail-on`` or ``--fail-on-new``. A waiver past its date stops
working, and the report says so; a waiver that matches nothing is reported
too, so stale ones get cleaned up. The date is compared with the audit's
own clock (``summary.now``, in UTC), so rendering a saved report again gives
the same answer. The server-wide ``secrets-exposed`` finding cannot be
waived.

The file (YAML) is a list of waivers, or a mapping with a ``waivers`` list::

    waivers:
      - rule: no-expiry
        user: svc-deploy
        token: 42                  # optional: every token of the user otherwise
        reason: deploy token, rotated by the vault every week
        accepted_by: alice
        expires: 2027-06-30        # the last day it applies
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date
from pathlib import Path
from typing import Any, Literal

import msgspec

from .marks import AppliedWaiver
from .report import Finding, Report
from .ruleset import RULES, SERVER_RULES, USER_RULES

__all__ = [
    "Waiver",
    "WaiverError",
    "WaiverMarker",
    "WaiverSection",
    "WaiverState",
    "WaiverStatus",
    "apply_waivers",
    "load_waivers",
    "parse_waivers",
]


class WaiverError(ValueError):
    """A waivers file that cannot be read or holds an invalid waiver."""


class Waiver(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One accepted risk."""

    rule: str
    user: str
    reason: str
    accepted_by: str
    expires: date
    """The last day the waiver applies."""
    token: int | None = None
    """One token's id; None: every finding of the rule for the user."""
    local_site: str | None = None
    """The Local Site of the findings; None: the global site."""

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"unknown rule {self.rule!r}")
        if self.rule in SERVER_RULES:
            raise ValueError(f"{self.rule} is about the whole server and cannot be waived")
        if self.token is not None and self.rule in USER_RULES:
            raise ValueError(f"{self.rule} is about a user, not a token: give no token")
        for name in ("user", "reason", "accepted_by"):
            if not getattr(self, name).strip():
                raise ValueError(f"{name} must not be empty")

    def matches(self, finding: Finding) -> bool:
        """Whether this waiver names ``finding`` (whatever its date)."""
        return (
            finding.rule == self.rule
            and finding.username == self.user
            and finding.local_site == self.local_site
            and (self.token is None or finding.token_id == self.token)
        )

    def applied(self) -> AppliedWaiver:
        """What a finding it waives carries."""
        return AppliedWaiver(reason=self.reason, accepted_by=self.accepted_by, expires=self.expires)


WaiverState = Literal["applied", "expired", "unmatched"]


class WaiverStatus(msgspec.Struct, kw_only=True):
    """What became of one waiver in one report."""

    waiver: Waiver
    state: WaiverState
    """``applied`` (it waived findings), ``expired`` (past its date: it waived nothing)
    or ``unmatched`` (in force, but no finding matches it)."""
    findings: int
    """The findings it matches (waived, unless expired)."""


class WaiverSection(msgspec.Struct, kw_only=True):
    """The waivers section of a report."""

    source: str
    """The waivers file as named, or empty."""
    waived: int
    """Findings waived."""
    applied: int
    expired: int
    unmatched: int
    waivers: list[WaiverStatus]


def parse_waivers(data: Any, *, source: str = "waivers") -> list[Waiver]:
    """Waivers from parsed YAML or JSON: a list, or a mapping with a ``waivers`` list."""
    if isinstance(data, dict) and set(data) == {"waivers"}:
        data = data["waivers"]
    if data is None:
        return []
    if not isinstance(data, list):
        raise WaiverError(f"{source}: expected a list of waivers (or a 'waivers' list)")
    waivers = []
    for n, item in enumerate(data, 1):
        try:
            waivers.append(msgspec.convert(item, Waiver, strict=False))
        except (msgspec.ValidationError, ValueError, TypeError) as exc:
            raise WaiverError(f"{source}: waiver {n}: {exc}") from None
    return waivers


def load_waivers(path: str | Path) -> list[Waiver]:
    """The waivers of a YAML file (see the module's docstring for its shape)."""
    import yaml  # noqa: PLC0415 - only waivers files need it

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WaiverError(f"{path}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise WaiverError(f"{path}: not YAML: {exc}") from None
    return parse_waivers(data, source=str(path))


class WaiverMarker:
    """Applies waivers on one day: to findings one at a time, or to a whole report."""

    def __init__(self, waivers: Sequence[Waiver], *, today: date) -> None:
        self.waivers = list(waivers)
        self.today = today

    def _live(self, waiver: Waiver) -> bool:
        return self.today <= waiver.expires

    def mark(self, finding: Finding) -> Finding:
        """``finding`` with the first waiver in force that matches it (or none)."""
        for waiver in self.waivers:
            if self._live(waiver) and waiver.matches(finding):
                return msgspec.structs.replace(finding, waiver=waiver.applied())
        return msgspec.structs.replace(finding, waiver=None)

    def finish(self, report: Report, *, source: str = "") -> tuple[Report, WaiverSection]:
        """``report`` with its findings waived, and the waivers section."""
        findings = [self.mark(f) for f in report.findings]
        statuses = []
        for waiver in self.waivers:
            matched = sum(1 for f in findings if waiver.matches(f))
            state: WaiverState = (
                "expired" if not self._live(waiver) else "applied" if matched else "unmatched"
            )
            statuses.append(WaiverStatus(waiver=waiver, state=state, findings=matched))
        section = WaiverSection(
            source=source,
            waived=sum(1 for f in findings if f.waiver is not None),
            applied=sum(1 for s in statuses if s.state == "applied"),
            expired=sum(1 for s in statuses if s.state == "expired"),
            unmatched=sum(1 for s in statuses if s.state == "unmatched"),
            waivers=statuses,
        )
        return msgspec.structs.replace(report, findings=findings), section


def audit_day(report: Report) -> date:
    """The day a report's waivers are judged on: its clock's date, in UTC."""
    return report.summary.now.astimezone(UTC).date()


def apply_waivers(
    report: Report, waivers: Sequence[Waiver], *, source: str = ""
) -> tuple[Report, WaiverSection]:
    """``report`` with ``waivers`` applied on the audit's own day, and the waivers section."""
    return WaiverMarker(waivers, today=audit_day(report)).finish(report, source=source)
