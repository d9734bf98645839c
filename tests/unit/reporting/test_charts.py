"""The HTML report's charts: counts by severity and rule, token age and time to expiry."""

from __future__ import annotations

from reportdocs import full_document
from reportkit import DAY, NOW, record

from rbtokens.reporting.charts import BAR_WIDTH, age_chart, charts, expiry_chart


def values(chart: object) -> dict[str, int]:
    return {b.label: b.value for b in chart.bars}  # type: ignore[attr-defined]


def test_findings_by_severity_and_rule_are_the_summarys() -> None:
    doc = full_document()
    severity, rule, _, _ = charts(doc)
    assert values(severity) == {s: doc.summary.severities[s] for s in values(severity)}
    assert values(rule) == doc.summary.findings
    assert list(values(severity)) == ["critical", "high", "medium", "low", "info"]
    assert max(b.length for b in rule.bars) == BAR_WIDTH


def test_token_age_buckets() -> None:
    tokens = [
        record("a", 1, time_added=NOW - 2 * DAY),
        record("a", 2, time_added=NOW - 45 * DAY),
        record("a", 3, time_added=NOW - 800 * DAY),
        record("a", 4, time_added=None),
    ]
    got = values(age_chart(tokens, NOW))
    assert got["under 7 days"] == 1 and got["30-90 days"] == 1
    assert got["over 2 years"] == 1 and got["unknown"] == 1
    assert sum(got.values()) == 4


def test_time_to_expiry_buckets() -> None:
    tokens = [
        record("a", 1, expires=NOW - DAY, expired=True, usable=False),
        record("a", 2, expires=NOW + 3 * DAY),
        record("a", 3, expires=NOW + 400 * DAY),
        record("a", 4, expires=None),
    ]
    got = values(expiry_chart(tokens, NOW))
    assert (got["expired"], got["within 7 days"], got["over 1 year"], got["never"]) == (1, 1, 1, 1)
    assert age_chart([], NOW).total == 0
