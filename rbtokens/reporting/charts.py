"""The numbers behind the HTML report's charts: counts per severity and rule, and histograms.

Pure functions of a :class:`~.document.Document`; the template draws them as
inline SVG bars (:data:`BAR_WIDTH` wide at the largest value).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import msgspec

from ..auditing import Severity, TokenRecord
from .document import Document

__all__ = ["BAR_WIDTH", "Bar", "Chart", "age_chart", "charts", "expiry_chart"]

BAR_WIDTH = 300.0
_DAY = timedelta(days=1)

#: (label, upper bound in days): a token falls in the first bucket whose bound it is under.
AGE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("under 7 days", 7),
    ("7-30 days", 30),
    ("30-90 days", 90),
    ("90-180 days", 180),
    ("180 days-1 year", 365),
    ("1-2 years", 730),
    ("over 2 years", float("inf")),
)
EXPIRY_BUCKETS: tuple[tuple[str, float], ...] = (
    ("within 7 days", 7),
    ("7-14 days", 14),
    ("14-30 days", 30),
    ("30-90 days", 90),
    ("90 days-1 year", 365),
    ("over 1 year", float("inf")),
)


class Bar(msgspec.Struct, frozen=True):
    """One bar: its label, its value, its CSS class and its length in the SVG."""

    label: str
    value: int
    css: str
    length: float = 0.0


class Chart(msgspec.Struct, frozen=True):
    """One bar chart: an id (for the page and its tests), a title, its bars."""

    id: str
    title: str
    bars: list[Bar]
    total: int


def _chart(id_: str, title: str, bars: Sequence[Bar]) -> Chart:
    top = max((b.value for b in bars), default=0)
    scaled = [
        msgspec.structs.replace(b, length=round(BAR_WIDTH * b.value / top, 1) if top else 0.0)
        for b in bars
    ]
    return Chart(id=id_, title=title, bars=scaled, total=sum(b.value for b in bars))


def _bucket(days: float, buckets: Sequence[tuple[str, float]]) -> str:
    return next(label for label, bound in buckets if days < bound)


def _histogram(labels: Iterable[str], order: Sequence[str], css: str) -> list[Bar]:
    counts = dict.fromkeys(order, 0)
    for label in labels:
        counts[label] += 1
    return [Bar(label, n, css) for label, n in counts.items()]


def age_chart(tokens: Sequence[TokenRecord], now: datetime) -> Chart:
    """Tokens by age (since added); ``unknown`` when the server did not say."""

    def label(t: TokenRecord) -> str:
        if t.time_added is None:
            return "unknown"
        return _bucket(max(0.0, (now - t.time_added) / _DAY), AGE_BUCKETS)

    order = [b for b, _ in AGE_BUCKETS] + ["unknown"]
    return _chart("chart-age", "Token age", _histogram(map(label, tokens), order, "hist"))


def expiry_chart(tokens: Sequence[TokenRecord], now: datetime) -> Chart:
    """Tokens by time to expiry: expired, buckets, never."""

    def label(t: TokenRecord) -> str:
        if t.expires is None:
            return "never"
        if t.expired or t.expires <= now:
            return "expired"
        return _bucket((t.expires - now) / _DAY, EXPIRY_BUCKETS)

    order = ["expired"] + [b for b, _ in EXPIRY_BUCKETS] + ["never"]
    return _chart("chart-expiry", "Time to expiry", _histogram(map(label, tokens), order, "hist"))


def charts(doc: Document) -> list[Chart]:
    """The report's four charts: findings by severity and by rule, token age and expiry."""
    now = doc.summary.now
    by_severity = [
        Bar(s.value, doc.summary.severities.get(s.value, 0), f"sev-{s.value}")
        for s in reversed(Severity)
    ]
    severity_of = doc.rules.severities
    by_rule = sorted(
        (
            Bar(rule, n, f"sev-{severity_of[rule].value}")
            for rule, n in doc.summary.findings.items()
        ),
        key=lambda b: (-Severity(b.css[4:]).rank, -b.value, b.label),
    )
    return [
        _chart("chart-severity", "Findings by severity", by_severity),
        _chart("chart-rule", "Findings by rule", by_rule),
        age_chart(doc.tokens, now),
        expiry_chart(doc.tokens, now),
    ]
