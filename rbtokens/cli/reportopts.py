"""The options of the report's outputs (``--save``, ``--baseline``, ``--waivers``,
``--fail-on-new``), shared by ``audit`` and ``report``, and the ``report`` verb's parser."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from ..auditing import Severity

__all__ = ["add_report_options", "add_report_verb"]

_SEVERITIES = tuple(s.value for s in Severity)


def add_report_options(p: argparse.ArgumentParser) -> None:
    """Where the report goes, and what it is compared with."""
    group = p.add_argument_group("report files, baselines and waivers")
    group.add_argument(
        "--save",
        action="append",
        default=[],
        metavar="FILE",
        help="also write the report to FILE, in the format its extension names (.json, "
        ".ndjson, .csv, .yaml, .html; repeatable); written atomically (mode 0600) once the "
        "audit ends, locked against another run writing it",
    )
    group.add_argument(
        "--baseline",
        metavar="PREV.json",
        help="an earlier audit document (--save X.json, -o json): mark each finding new, "
        "persisting or unknown (its user was not audited in both), and list the resolved ones",
    )
    group.add_argument(
        "--waivers",
        metavar="FILE",
        help="accepted risks (YAML: rule, user, optional token, reason, accepted_by, expires): "
        "their findings are reported as waived and do not count toward --fail-on",
    )
    group.add_argument(
        "--fail-on-new",
        choices=_SEVERITIES,
        metavar="SEVERITY",
        help="exit 1 when a new finding (against --baseline) is at least this severe; "
        f"then --fail-on defaults to never ({', '.join(_SEVERITIES)})",
    )


def add_report_verb(verbs: Any, *, formats: Sequence[str], epilog: str) -> None:
    """``rbtokens report DOCUMENT``: render a saved audit, with no server contact."""
    help_text = "Render a saved audit document (no server contact)."
    p: argparse.ArgumentParser = verbs.add_parser(
        "report",
        help=help_text,
        description=help_text + " Exit codes as for audit.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    p.add_argument("document", metavar="AUDIT.json", help="a saved audit (--save X.json, -o json)")
    out = p.add_argument_group("output")
    out.add_argument(
        "-o",
        "--output",
        choices=formats,
        default=argparse.SUPPRESS,
        help="output format (default: table)",
    )
    out.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS)
    out.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no notes on stderr"
    )
    out.add_argument("--show-tokens", action="store_true", help="table output: also every token")
    p.add_argument(
        "--fail-on",
        choices=(*_SEVERITIES, "never"),
        default=None,
        help="exit 1 when a finding is at least this severe (default: low)",
    )
    add_report_options(p)
