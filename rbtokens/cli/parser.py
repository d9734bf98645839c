"""The ``rbtokens`` argument parser: options, their value types, and the help's epilog."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from .._version import __version__
from ..auditing import RULES, Severity
from . import values
from .reportopts import add_report_options, add_report_verb

__all__ = [
    "EPILOG",
    "EXIT_FINDINGS",
    "EXIT_INCOMPLETE",
    "EXIT_OK",
    "EXIT_RETRY",
    "FORMATS",
    "SEVERITY_NAMES",
    "build_parser",
]

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_INCOMPLETE = 2
EXIT_RETRY = 75  # EX_TEMPFAIL: incomplete because of a rate limit; run again later

FORMATS = ("table", "json", "ndjson", "csv", "yaml", "html")  # html: audit and report only
SEVERITY_NAMES = tuple(s.value for s in Severity)

EPILOG = """\
exit codes:
  0    success; for audit: complete, and no finding at or above --fail-on
  1    audit: some finding is at or above --fail-on (or a new one at or above
       --fail-on-new); waived findings do not count
  2    incomplete audit (users that could not be read, or revocations that
       failed), a usage error, a failed request, or any other error
  75   audit: incomplete because of a rate limit; the last line says when to
       run it again (with --state, the same command goes on where it stopped)
  130  interrupted (Ctrl-C)

audit's last line on stderr says how it ended, for a scheduler:
  rbtokens audit: complete: ...
  rbtokens audit: incomplete: ...; run it again after TIME
  rbtokens audit: error: ...

settings come from options, then the environment (RBTOKENS_SERVER,
RBTOKENS_USERNAME, RBTOKENS_PASSWORD, RBTOKENS_API_TOKEN), then RBTools'
.reviewboardrc (REVIEWBOARD_URL, USERNAME, PASSWORD, API_TOKEN). A
.reviewboardrc gives USERNAME, PASSWORD and API_TOKEN only when its
REVIEWBOARD_URL is the server in use; options and RBTOKENS_* variables are
always used. A missing password is prompted for when stdin is a terminal;
otherwise it is an error. Managing tokens needs a password login: Review
Board refuses it to API-token logins.

Token secrets are never printed, except once by create and rotate.
"""


def _connection_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """Options every verb takes; given before the verb they stay unless repeated after."""
    default = None if top else argparse.SUPPRESS
    group = parser.add_argument_group("connection")
    group.add_argument("--server", metavar="URL", default=default, help="Review Board URL")
    group.add_argument("--username", default=default, help="log in as this user")
    group.add_argument(
        "--password", default=default, help="password (prompted for when missing on a terminal)"
    )
    group.add_argument("--api-token", default=default, help="log in with an API token")
    group.add_argument(
        "--config", metavar="FILE", default=default, help="a .reviewboardrc file to read first"
    )
    group.add_argument(
        "--timeout",
        type=values.seconds,
        metavar="SECONDS",
        default=default,
        help="per-request timeout (default: 60)",
    )
    group.add_argument(
        "--ca-bundle", metavar="FILE", default=default, help="CA certificates to trust"
    )
    group.add_argument(
        "--insecure",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="do not verify the server's TLS certificate",
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "-o",
        "--output",
        choices=FORMATS,
        default=default,
        help="output format (default: table; json for api-get)",
    )
    out.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0 if top else argparse.SUPPRESS,
        help="log each request to stderr (-vv: also aiohttp)",
    )
    out.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="no progress bar, notes or warnings on stderr",
    )


def _owner(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--owner", metavar="USERNAME", help="the tokens' owner (default: you)")


def _token_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("token_id", type=values.token_id, metavar="TOKEN_ID", help="the token's id")


def _policy_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--policy", metavar="JSON|@FILE", help="an access policy document, or @file holding one"
    )
    group.add_argument("--read-only", action="store_true", help="GET on everything, nothing else")
    group.add_argument(
        "--full-access", action="store_true", help="the empty policy {}: anything you can do"
    )


def _expiry_options(parser: argparse.ArgumentParser, *, what: str) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--expires-in", type=values.days, metavar="DAYS", help=f"{what} expires DAYS from now"
    )
    group.add_argument(
        "--expires", metavar="TIME", help=f"{what} expires then (ISO 8601; UTC if no offset)"
    )
    group.add_argument("--no-expiry", action="store_true", help=f"{what} never expires")


def _extra_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set extra_data KEY (VALUE is read as JSON when it parses, else a string)",
    )


def _audit_options(p: argparse.ArgumentParser) -> None:
    _audit_scope_options(p)
    _audit_rule_options(p)
    add_report_options(p)


def _audit_scope_options(p: argparse.ArgumentParser) -> None:
    """Which users and sites, and how they are read."""
    p.add_argument(
        "--walk",
        choices=("auto", "bulk", "per-user"),
        default="auto",
        help="how to read every user's tokens: the bulk listing (administrators only, "
        "verified) or one list per user (default: auto, the bulk listing when the login "
        "is shown to be an administrator's)",
    )
    p.add_argument(
        "--concurrency",
        type=values.positive_int,
        default=None,
        help="requests in flight (default: 4 users pages for the bulk walk, 32 for per-user)",
    )
    p.add_argument(
        "--wait",
        action="store_true",
        help="wait out Review Board's rate-limit window (with a countdown) instead of "
        "ending incomplete",
    )
    p.add_argument(
        "--wait-max",
        type=values.wait_seconds,
        default=3660.0,
        metavar="SECONDS",
        help="with --wait: the longest window to wait out (default: 3660, an hour and a "
        "minute); past it the audit ends incomplete, saying when to run it again",
    )
    p.add_argument(
        "--user",
        dest="users",
        action="append",
        metavar="USERNAME",
        help="audit only this user (repeatable)",
    )
    p.add_argument(
        "--local-site",
        dest="local_sites",
        action="append",
        default=[],
        metavar="NAME",
        help="also audit this Local Site (/s/NAME/; repeatable): its tokens are not listed "
        "at the global root, and Review Board's API does not say which Local Sites exist",
    )
    p.add_argument(
        "--state",
        metavar="FILE",
        help="keep a journal of the audit in FILE (mode 0600, locked, no secrets): run the "
        "same command again after a rate limit, Ctrl-C or a crash and it goes on where it "
        "stopped; the journal of a finished audit is started afresh",
    )
    p.add_argument(
        "--fresh", action="store_true", help="with --state: start over, whatever FILE holds"
    )
    p.add_argument(
        "--state-max-age",
        type=values.positive_hours,
        default=24.0,
        metavar="HOURS",
        help="with --state: refuse to resume a journal started longer ago than this, as its "
        "findings would be stale (default: 24)",
    )


def _audit_rule_options(p: argparse.ArgumentParser) -> None:
    """Which rules run, their thresholds, and what follows from the findings."""
    p.add_argument(
        "--rules",
        metavar="RULE,...",
        help=f"run only these rules (default: all): {', '.join(RULES)}",
    )
    p.add_argument(
        "--expiring-days", type=values.days, default=14.0, help="expiring-soon window (default: 14)"
    )
    p.add_argument(
        "--never-used-days", type=values.days, default=30.0, help="never-used age (default: 30)"
    )
    p.add_argument("--stale-days", type=values.days, default=90.0, help="stale age (default: 90)")
    p.add_argument(
        "--max-tokens",
        type=values.count,
        default=10,
        help="too-many-tokens above this (default: 10)",
    )
    p.add_argument(
        "--severity",
        action="append",
        default=[],
        metavar="RULE=LEVEL",
        help="change a rule's severity (repeatable)",
    )
    p.add_argument(
        "--fail-on",
        choices=(*SEVERITY_NAMES, "never"),
        default=None,
        help="exit 1 when a finding is at least this severe (default: low; never with "
        "--fail-on-new); waived findings do not count",
    )
    p.add_argument(
        "--revoke",
        metavar="RULE,...",
        help="revoke (delete) the tokens with findings of these rules; a dry run without --apply",
    )
    p.add_argument("--apply", action="store_true", help="really revoke (with --revoke)")
    p.add_argument("--show-tokens", action="store_true", help="table output: also list every token")
    p.add_argument("--now", metavar="TIME", help=argparse.SUPPRESS)


def _list_options(p: argparse.ArgumentParser) -> None:
    who = p.add_mutually_exclusive_group()
    who.add_argument("--owner", metavar="USERNAME", help="whose tokens (default: yours)")
    who.add_argument("--all-users", action="store_true", help="every user's tokens (admins)")
    p.add_argument(
        "--walk",
        choices=("auto", "per-user"),
        default="auto",
        help="with --all-users: the verified bulk listing for an administrator (auto, the "
        "default), or one list per user",
    )
    p.add_argument("--search", metavar="TEXT", help="only tokens whose note contains TEXT")
    valid = p.add_mutually_exclusive_group()
    valid.add_argument("--valid", dest="valid", action="store_true", default=None)
    valid.add_argument("--invalid", dest="valid", action="store_false")
    exp = p.add_mutually_exclusive_group()
    exp.add_argument("--expired", dest="expired", action="store_true", default=None)
    exp.add_argument("--unexpired", dest="expired", action="store_false")
    p.add_argument("--page", type=values.positive_int, help="show only this page (default: all)")
    p.add_argument(
        "--per-page", type=values.positive_int, default=25, help="page size (default: 25)"
    )


def _token_verbs(verb: Callable[[str, str], argparse.ArgumentParser]) -> None:
    p = verb("get", "Show one API token (never its secret).")
    _token_id(p)
    _owner(p)

    p = verb("create", "Create an API token; its secret is shown once.")
    _owner(p)
    p.add_argument("--note", required=True, help="what the token is for")
    _policy_options(p)
    _expiry_options(p, what="the token")
    _extra_option(p)

    p = verb("update", "Change an API token's note, policy, expiry or extra_data.")
    _token_id(p)
    _owner(p)
    p.add_argument("--note", help="a new note")
    _policy_options(p)
    _expiry_options(p, what="the token")
    _extra_option(p)

    p = verb("rotate", "Replace a token with a new one; the old one expires after a grace.")
    _token_id(p)
    _owner(p)
    p.add_argument(
        "--grace",
        type=values.hours,
        default=24.0,
        metavar="HOURS",
        help="the old token keeps working this long (default: 24; 0 retires it now)",
    )
    _expiry_options(p, what="the new token")

    p = verb("invalidate", "Mark a token invalid, keeping its record.")
    _token_id(p)
    _owner(p)
    p.add_argument("--reason", required=True, help="why (stored with the token)")
    p.add_argument(
        "--delete-if-not-persisted",
        action="store_true",
        help="delete the token when the server does not save the invalidation (8.1 bug)",
    )

    p = verb("revoke", "Delete API tokens: the only revocation Review Board honours.")
    p.add_argument("token_ids", type=values.token_id, nargs="+", metavar="TOKEN_ID")
    _owner(p)


def build_parser() -> argparse.ArgumentParser:
    """The ``rbtokens`` argument parser."""
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="rbtokens",
        description="Audit and manage Review Board API tokens.",
        epilog=EPILOG,
        formatter_class=fmt,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"rbtokens {__version__}")
    _connection_options(parser, top=True)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")

    def verb(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = verbs.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EPILOG,
            formatter_class=fmt,
            allow_abbrev=False,
        )
        _connection_options(sub, top=False)
        return sub

    _audit_options(verb("audit", "Find risky API tokens on the whole server."))
    _list_options(verb("list", "List API tokens (yours, one user's, or everyone's)."))
    _token_verbs(verb)
    verb("whoami", "Show who the credentials log in as.")
    add_report_verb(verbs, formats=FORMATS, epilog=EPILOG)

    p = verb("api-get", "GET any API resource, like `rbt api-get` (extra --key=value: query).")
    p.add_argument("path", metavar="PATH", help="a path under /api/ (users/alice/) or a full URL")
    return parser
