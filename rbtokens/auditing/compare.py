"""Comparing an audit with an earlier one: which findings are new, persisting or resolved.

A finding's identity is its rule, its user, its token and its Local Site, so a
rotated token (a new id) is a new token, and a change of severity is not a new
finding. Only a user audited in *both* reports can have a ``new`` or a
``resolved`` finding: when either report failed to read the user (a failure
for that user, or for a users page of that site while the user shows no
token there), the finding is ``unknown``. A failed night does not make the
next night's findings look new, nor the last night's look resolved. The same
holds for a rule that did not run in both, a Local Site audited in one of
them only, and the server-wide ``secrets-exposed`` finding when either
check did not answer.

:func:`compare` returns a :class:`Comparison`: the new report with every
finding marked (``finding.baseline``) and the :class:`Baseline` section with
the counts, the ``resolved`` findings and those of the baseline that this run
could not check (marked ``unknown``). :class:`BaselineMarker` marks findings
one at a time, as an audit stream finds them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import msgspec

from .marks import BaselineMark
from .report import Finding, Report
from .ruleset import RULES

__all__ = ["Baseline", "BaselineMarker", "Comparison", "Coverage", "compare", "identity"]

Identity = tuple[str, str | None, int | None, str | None]

#: Answers of the secrets-exposed check that settle whether the server leaks.
_CHECKED = frozenset({"exposed", "not-exposed", "anonymous-refused", "no-tokens"})
_EXPOSURE_PREFIX = "secrets-exposed check"
_RULE_ORDER = {rule: i for i, rule in enumerate(RULES)}


def identity(finding: Finding) -> Identity:
    """What makes two findings the same one: rule, user, token and Local Site."""
    return (finding.rule, finding.username, finding.token_id, finding.local_site)


def _order(finding: Finding) -> tuple[int, int, str, str, int]:
    return (
        -finding.severity.rank,
        _RULE_ORDER.get(finding.rule, len(_RULE_ORDER)),
        finding.local_site or "",
        finding.username or "",
        finding.token_id or 0,
    )


class Coverage:
    """Whom a report audited: its sites, the users that failed, the listings that failed."""

    def __init__(self, report: Report) -> None:
        summary = report.summary
        self.sites = {s.local_site for s in summary.sites} or {None}
        self.failed = {(f.username, f.local_site) for f in report.failures if f.username}
        # A users page (or a Local Site's root) that failed hides an unknown set of users.
        self.blind = {
            f.local_site
            for f in report.failures
            if f.username is None and not f.error.startswith(_EXPOSURE_PREFIX)
        }
        self.seen = {(r.username, r.local_site) for r in report.tokens}
        self.enabled = set(report.rules.enabled)
        self.server_checked = summary.exposure_check in _CHECKED

    def audited(self, username: str | None, local_site: str | None) -> bool:
        """Whether the report read this user's tokens on this site (None: the server)."""
        if username is None:
            return self.server_checked
        key = (username, local_site)
        if local_site not in self.sites or key in self.failed:
            return False
        return local_site not in self.blind or key in self.seen

    def judged(self, finding: Finding) -> bool:
        """Whether the report could have found ``finding``: its rule ran on its user."""
        return finding.rule in self.enabled and self.audited(finding.username, finding.local_site)


class Baseline(msgspec.Struct, kw_only=True):
    """The baseline section of a report: the counts, and the findings gone since."""

    source: str
    """The baseline document as named (a file name), or empty."""
    audited_at: datetime
    """The baseline audit's clock (its ``summary.now``)."""
    complete: bool
    """Whether the baseline audit was complete."""
    new: int
    persisting: int
    unknown: int
    """This run's findings marked unknown, plus :attr:`unchecked_findings`."""
    resolved: int
    resolved_findings: list[Finding]
    """The baseline's findings that this run checked and did not find."""
    unchecked_findings: list[Finding]
    """The baseline's findings for users (or rules) this run did not check: ``unknown``."""


class Comparison(msgspec.Struct, kw_only=True):
    """What :func:`compare` returns: the new report, marked, and the baseline section."""

    report: Report
    baseline: Baseline

    def _marked(self, mark: BaselineMark) -> list[Finding]:
        return [f for f in self.report.findings if f.baseline == mark]

    @property
    def new(self) -> list[Finding]:
        """Findings that the baseline did not have."""
        return self._marked("new")

    @property
    def persisting(self) -> list[Finding]:
        """Findings in both reports."""
        return self._marked("persisting")

    @property
    def unknown(self) -> list[Finding]:
        """This run's findings whose users the baseline did not audit."""
        return self._marked("unknown")

    @property
    def resolved(self) -> list[Finding]:
        """The baseline's findings that are gone."""
        return self.baseline.resolved_findings


class BaselineMarker:
    """Marks findings against one baseline report, one at a time or a whole report."""

    def __init__(self, baseline: Report, *, source: str = "") -> None:
        self.old = baseline
        self.source = source
        self._coverage = Coverage(baseline)
        self._ids = {identity(f) for f in baseline.findings}

    def mark(self, finding: Finding) -> Finding:
        """``finding`` (of the new run) marked new, persisting or unknown."""
        if not self._coverage.judged(finding):
            mark: BaselineMark = "unknown"
        elif identity(finding) in self._ids:
            mark = "persisting"
        else:
            mark = "new"
        return msgspec.structs.replace(finding, baseline=mark)

    def finish(self, report: Report) -> Comparison:
        """``report`` with every finding marked, and the baseline section."""
        findings = [self.mark(f) for f in report.findings]
        now = {identity(f) for f in findings}
        coverage = Coverage(report)
        gone = [f for f in self.old.findings if identity(f) not in now]
        resolved = _sorted(f for f in gone if coverage.judged(f))
        unchecked = _sorted(f for f in gone if not coverage.judged(f))
        counts = {mark: sum(1 for f in findings if f.baseline == mark) for mark in _COUNTED}
        baseline = Baseline(
            source=self.source,
            audited_at=self.old.summary.now,
            complete=self.old.summary.complete,
            new=counts["new"],
            persisting=counts["persisting"],
            unknown=counts["unknown"] + len(unchecked),
            resolved=len(resolved),
            resolved_findings=[msgspec.structs.replace(f, baseline="resolved") for f in resolved],
            unchecked_findings=[msgspec.structs.replace(f, baseline="unknown") for f in unchecked],
        )
        return Comparison(
            report=msgspec.structs.replace(report, findings=findings), baseline=baseline
        )


_COUNTED: tuple[BaselineMark, ...] = ("new", "persisting", "unknown")


def _sorted(findings: Iterable[Finding]) -> list[Finding]:
    # Marks and waivers belong to the run that set them, not to this one.
    return sorted(
        (msgspec.structs.replace(f, baseline=None, waiver=None) for f in findings), key=_order
    )


def compare(old_report: Report, new_report: Report, *, source: str = "") -> Comparison:
    """Compare ``new_report`` with the baseline ``old_report``.

    Every finding of the new report is marked ``new``, ``persisting`` or
    ``unknown`` (its user was not audited in both); the baseline's findings
    that are gone are ``resolved`` when this run checked their user, and
    listed as ``unknown`` (unchecked) otherwise. ``source`` names the
    baseline in the section (a file name).
    """
    return BaselineMarker(old_report, source=source).finish(new_report)
