"""The HTML report: one self-contained page, rendered with Jinja2 (autoescaping on).

The page loads nothing: its style and script are inline, allowed by their
sha256 hashes in a Content-Security-Policy (``default-src 'none'``), and the
charts are inline SVG drawn by the template (:mod:`.charts` computes them).
Everything that came from the server (notes, usernames, messages, the
server's own URL) is escaped by the template engine; the data the filter
script reads sits in a ``<script type="application/json">`` block written by
Jinja's ``tojson`` (``<``, ``>``, ``&`` and ``'`` escaped), and the script
writes only with ``textContent``. The findings table is rendered in full, so
the page reads (and prints) with scripts off; groups larger than
:data:`COLLAPSE_AT` rows start collapsed.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from .._version import __version__
from ..auditing import Finding, Severity
from .charts import charts
from .document import SCHEMA_VERSION, Document

__all__ = ["COLLAPSE_AT", "content_security_policy", "render_html"]

#: A severity group of more findings than this starts collapsed (``<details>``).
COLLAPSE_AT = 500
_STATIC = ("report.css", "report.js")


@cache
def _static(name: str) -> str:
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def content_security_policy() -> str:
    """The page's policy: nothing from anywhere, but its own style and script (by hash)."""
    css, js = (_static(name) for name in _STATIC)
    return (
        f"default-src 'none'; style-src {_sha256(css)}; script-src {_sha256(js)}; "
        "img-src 'none'; base-uri 'none'; form-action 'none'"
    )


@cache
def _environment() -> Any:
    import jinja2  # noqa: PLC0415 - lazy: only the HTML output needs it

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("rbtokens.reporting", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["count"] = lambda n: f"{n:,}"
    env.globals["safe_href"] = _safe_href
    return env


def _when(value: datetime | None) -> str:
    """A time as ``2026-12-01 02:00 UTC`` (empty for None)."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _safe_href(url: str) -> str | None:
    """``url`` when it is http(s), for an ``href``; None otherwise (``javascript:``...)."""
    return url if url.lower().startswith(("https://", "http://")) else None


Notes = Mapping[tuple[str | None, str, int], str]
"""Token notes by (Local Site, owner, id)."""


def _token_notes(doc: Document) -> Notes:
    return {(t.local_site, t.username, t.id): t.note for t in doc.tokens}


def _row(finding: Finding, notes: Notes) -> dict[str, Any]:
    note = ""
    if finding.username is not None and finding.token_id is not None:
        note = notes.get((finding.local_site, finding.username, finding.token_id), "")
    marks: list[str] = [finding.baseline] if finding.baseline else []
    if finding.waiver is not None:
        marks.append("waived")
    return {
        "f": finding,
        "user": finding.username if finding.username is not None else "(server)",
        "note": note,
        "mark": " ".join(marks),
    }


def _groups(doc: Document, notes: Notes) -> list[dict[str, Any]]:
    """The findings, one group per severity (worst first), each row with its token's note."""
    groups = []
    for severity in reversed(Severity):
        rows = [_row(f, notes) for f in doc.findings if f.severity == severity]
        if rows:
            groups.append(
                {"severity": severity.value, "rows": rows, "open": len(rows) <= COLLAPSE_AT}
            )
    return groups


def _script_data(doc: Document) -> dict[str, Any]:
    """What the filter script reads: the choices for its filters."""
    marks: list[str] = sorted({f.baseline for f in doc.findings if f.baseline})
    if any(f.waiver is not None for f in doc.findings):
        marks.append("waived")
    return {
        "severities": [s.value for s in reversed(Severity) if doc.summary.severities.get(s.value)],
        "rules": sorted({f.rule for f in doc.findings}),
        "users": sorted({f.username for f in doc.findings if f.username is not None}),
        "marks": marks,
        "findings": len(doc.findings),
    }


def render_html(doc: Document) -> str:
    """The HTML report of ``doc``: one page, nothing loaded from anywhere."""
    template = _environment().get_template("report.html.j2")
    notes, baseline = _token_notes(doc), doc.baseline
    from markupsafe import Markup  # noqa: PLC0415 - comes with Jinja2

    page: str = template.render(
        doc=doc,
        summary=doc.summary,
        charts=charts(doc),
        groups=_groups(doc, notes),
        resolved=[_row(f, notes) for f in baseline.resolved_findings] if baseline else [],
        unchecked=[_row(f, notes) for f in baseline.unchecked_findings] if baseline else [],
        data=_script_data(doc),
        csp=content_security_policy(),
        css=Markup(_static("report.css")),  # noqa: S704 - our own file, hashed in the CSP
        js=Markup(_static("report.js")),  # noqa: S704 - our own file, hashed in the CSP
        version=__version__,
        schema_version=SCHEMA_VERSION,
    )
    return page
