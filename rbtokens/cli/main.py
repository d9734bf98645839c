"""The ``rbtokens`` command: argument parsing and output formatting only.

Every verb calls the library (:mod:`rbtokens.audit`, ``client.tokens``) and
prints what it returns. ``rich`` (tables, progress) and ``yaml`` are imported
only when an output needs them.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import getpass
import json
import logging
import math
import re
import sys
import warnings
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TextIO

import msgspec

from .. import __version__
from .._redact import mask_payload, redact
from ..auditing import (
    RULES,
    Report,
    RevokeResult,
    Rules,
    Severity,
    audit,
    audit_stream,
    revoke_findings,
    validate_revoke_rules,
)
from ..client import RBClient
from ..config import ConfigError, Settings, resolve
from ..errors import PasswordLoginRequiredError, RBTokensError, RotationError, TokensError
from ..policy import FULL_ACCESS, READ_ONLY
from ..resources import APIToken
from ..tokens import UNSET
from ..transport import Timeouts

if TYPE_CHECKING:
    from ..transport import Transport

__all__ = ["EXIT_FINDINGS", "EXIT_INCOMPLETE", "EXIT_OK", "build_parser", "main"]

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_INCOMPLETE = 2

FORMATS = ("table", "json", "ndjson", "csv", "yaml")
SEVERITY_NAMES = tuple(s.value for s in Severity)
DEFAULT_EXPIRES_DAYS = 90.0
DEFAULT_TIMEOUT = 60.0

EPILOG = """\
exit codes:
  0    success; for audit: complete, and no finding at or above --fail-on
  1    audit: some finding is at or above --fail-on
  2    incomplete audit (users that could not be read, or revocations that
       failed), a usage error, a failed request, or any other error
  130  interrupted (Ctrl-C)

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

TOKEN_COLUMNS = (
    "username",
    "id",
    "note",
    "expires",
    "usable",
    "valid",
    "expired",
    "last_used",
    "deprecated",
)
FINDING_COLUMNS = ("severity", "username", "token_id", "rule", "message")
FAILURE_COLUMNS = ("username", "error_type", "http_status", "error")
REVOKE_COLUMNS = ("username", "token_id", "rules", "action", "error")

# Verbs that manage tokens, and so need a password login.
_PASSWORD_VERBS = frozenset(
    {"audit", "list", "get", "create", "update", "rotate", "invalidate", "revoke"}
)


class UsageError(Exception):
    """Bad arguments found after parsing (exit code 2)."""


# -- parsing -----------------------------------------------------------------------


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
        type=_seconds,
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


def _int_at_least(low: int, high: int = 10**9) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def _number(*, high: float, positive: bool = False) -> Callable[[str], float]:
    """A finite float, at least 0 (above 0 when ``positive``) and at most ``high``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if value < 0 or (positive and value == 0):
            raise argparse.ArgumentTypeError(
                f"must be {'above' if positive else 'at least'} 0, got {text}"
            )
        if value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:g}, got {text}")
        return value

    parse.__name__ = "number"
    return parse


_positive_int = _int_at_least(1)
_count = _int_at_least(0)
_token_id_type = _int_at_least(1, 2**63 - 1)
#: Day counts (thresholds, expiries): up to 100 years, so dates never overflow.
_days = _number(high=36500.0)
_hours = _number(high=36500.0 * 24)
_seconds = _number(high=86400.0, positive=True)


def _owner(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--owner", metavar="USERNAME", help="the tokens' owner (default: you)")


def _token_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("token_id", type=_token_id_type, metavar="TOKEN_ID", help="the token's id")


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
        "--expires-in", type=_days, metavar="DAYS", help=f"{what} expires DAYS from now"
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
    p.add_argument(
        "--concurrency", type=_positive_int, default=32, help="requests in flight (default: 32)"
    )
    p.add_argument(
        "--user",
        dest="users",
        action="append",
        metavar="USERNAME",
        help="audit only this user (repeatable)",
    )
    p.add_argument(
        "--rules",
        metavar="RULE,...",
        help=f"run only these rules (default: all): {', '.join(RULES)}",
    )
    p.add_argument(
        "--expiring-days", type=_days, default=14.0, help="expiring-soon window (default: 14)"
    )
    p.add_argument(
        "--never-used-days", type=_days, default=30.0, help="never-used age (default: 30)"
    )
    p.add_argument("--stale-days", type=_days, default=90.0, help="stale age (default: 90)")
    p.add_argument(
        "--max-tokens", type=_count, default=10, help="too-many-tokens above this (default: 10)"
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
        default="low",
        help="exit 1 when a finding is at least this severe (default: low)",
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
    p.add_argument("--search", metavar="TEXT", help="only tokens whose note contains TEXT")
    valid = p.add_mutually_exclusive_group()
    valid.add_argument("--valid", dest="valid", action="store_true", default=None)
    valid.add_argument("--invalid", dest="valid", action="store_false")
    exp = p.add_mutually_exclusive_group()
    exp.add_argument("--expired", dest="expired", action="store_true", default=None)
    exp.add_argument("--unexpired", dest="expired", action="store_false")
    p.add_argument("--page", type=_positive_int, help="show only this page (default: all)")
    p.add_argument("--per-page", type=_positive_int, default=25, help="page size (default: 25)")


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
        type=_hours,
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
    p.add_argument("token_ids", type=_token_id_type, nargs="+", metavar="TOKEN_ID")
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

    p = verb("api-get", "GET any API resource, like `rbt api-get` (extra --key=value: query).")
    p.add_argument("path", metavar="PATH", help="a path under /api/ (users/alice/) or a full URL")
    return parser


def _query_args(extra: Sequence[str]) -> dict[str, str]:
    """``--key=value`` (or bare ``--flag``) arguments after the path → a query."""
    query: dict[str, str] = {}
    for arg in extra:
        if not arg.startswith("--") or len(arg) < 3:
            raise UsageError(f"unexpected argument {arg!r} (query parameters are --key=value)")
        key, sep, value = arg[2:].partition("=")
        query[key] = value if sep else "1"
    return query


# -- output ------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _builtins(obj: Any) -> Any:
    return msgspec.to_builtins(obj)


def _row(obj: Any) -> dict[str, Any]:
    """A struct as a dict for table/CSV rows; datetimes stay datetimes (see :func:`_cell`)."""
    row: dict[str, Any] = msgspec.to_builtins(obj, builtin_types=(datetime,))
    return row


# C0 and C1 controls, DEL, and the Unicode bidirectional overrides: none of them
# may reach a terminal from server data (a token note is anyone's text).
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile("[\t\n\r\v\f]")
# OWASP CSV injection: a spreadsheet runs cells that start with one of these.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _printable(text: str) -> str:
    """``text`` without terminal control characters (line breaks and tabs become spaces)."""
    return _CONTROLS.sub("", _SPACES.sub(" ", text))


def _cell(value: Any, *, table: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return ("yes" if value else "no") if table else ("true" if value else "false")
    if isinstance(value, datetime):
        if table:
            return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
        return value.isoformat()
    if isinstance(value, str):
        text = value
    elif isinstance(value, (dict, list, tuple)):
        text = json.dumps(value, sort_keys=True, default=_json_default)
    else:
        return str(value)
    if table:
        return _printable(text)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


_ENCODER = msgspec.json.Encoder()
_CHUNK = 1000
_MAX_CELL = 60

_SEVERITY_STYLES = {
    "critical": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}


class Output:
    """Writes results to stdout in one of :data:`FORMATS`; notes go to stderr."""

    def __init__(
        self, fmt: str, *, stdout: TextIO | None = None, stderr: TextIO | None = None
    ) -> None:
        self.fmt = fmt
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr
        self._console: Any = None

    # -- rich --

    def console(self) -> Any:
        """The rich console for table output (created on first use)."""
        if self._console is None:
            from rich.console import Console  # noqa: PLC0415 - lazy: rich is slow to import

            tty = self.stdout.isatty()
            self._console = Console(
                file=self.stdout,
                width=None if tty else 160,
                highlight=False,
                soft_wrap=False,
                emoji=False,
            )
        return self._console

    def table(
        self,
        rows: Sequence[Mapping[str, Any]],
        columns: Sequence[str],
        *,
        title: str | None = None,
        styles: Callable[[Mapping[str, Any]], str | None] | None = None,
    ) -> None:
        """A rich table of ``rows``.

        Long tables are printed in blocks of :data:`_CHUNK` rows with the same
        column widths, so memory stays flat however many rows there are.
        """
        from rich.table import Table  # noqa: PLC0415
        from rich.text import Text  # noqa: PLC0415

        widths: list[int | None] = [None] * len(columns)
        if len(rows) > _CHUNK:
            widths = [
                min(_MAX_CELL, max(len(c), *(len(_cell(r.get(c), table=True)) for r in rows)))
                for c in columns
            ]
        for start in range(0, max(1, len(rows)), _CHUNK):
            table = Table(
                title=title if start == 0 else None,
                title_justify="left",
                header_style="bold",
                show_header=start == 0,
            )
            for name, width in zip(columns, widths, strict=True):
                table.add_column(name.replace("_", " "), overflow="fold", width=width)
            for row in rows[start : start + _CHUNK]:
                style = styles(row) if styles is not None else None
                cells = (Text(_cell(row.get(c), table=True)) for c in columns)
                table.add_row(*cells, style=style)
            self.console().print(table)

    def pairs(self, data: Mapping[str, Any], *, title: str | None = None) -> None:
        """A two-column key/value table."""
        from rich.table import Table  # noqa: PLC0415
        from rich.text import Text  # noqa: PLC0415

        table = Table(title=title, title_justify="left", show_header=False)
        table.add_column("field", style="bold")
        table.add_column("value", overflow="fold")
        for key, value in data.items():
            table.add_row(Text(_printable(key)), Text(_cell(value, table=True)))
        self.console().print(table)

    def text(self, line: str) -> None:
        """A plain line on stdout."""
        self.stdout.write(_printable(line) + "\n")

    def note(self, message: str) -> None:
        """A line on stderr for the human (control characters removed)."""
        self.stderr.write(_printable(message) + "\n")
        self.stderr.flush()

    # -- machine formats --
    # Large lists (an audit of 100,000 tokens) are written in chunks, so that
    # no full copy of the document is ever built in memory.

    def json(self, doc: Any) -> None:
        """One indented JSON document."""
        raw = msgspec.json.encode(doc)
        self.stdout.write(msgspec.json.format(raw, indent=2).decode() + "\n")

    def json_mapping(self, fields: Sequence[tuple[str, Any]]) -> None:
        """One JSON object, key by key; list values get one compact item a line."""
        write = self.stdout.write
        write("{")
        for n, (key, value) in enumerate(fields):
            write(",\n  " if n else "\n  ")
            write(_ENCODER.encode(key).decode() + ": ")
            if isinstance(value, list):
                self._json_items(value, indent="    ")
                write("]" if not value else "\n  ]")
            else:
                text = msgspec.json.format(_ENCODER.encode(value), indent=2).decode()
                write(text.replace("\n", "\n  "))
        write("\n}\n")

    def json_array(self, items: Sequence[Any]) -> None:
        """One JSON array, one compact item a line."""
        self._json_items(items, indent="  ")
        self.stdout.write("]\n" if not items else "\n]\n")

    def _json_items(self, items: Sequence[Any], *, indent: str) -> None:
        encode = _ENCODER.encode
        sep = ",\n" + indent
        self.stdout.write("[")
        for start in range(0, len(items), _CHUNK):
            chunk = items[start : start + _CHUNK]
            lead = "\n" + indent if start == 0 else sep
            self.stdout.write(lead + sep.join(encode(item).decode() for item in chunk))

    def ndjson(self, doc: Any, *, flush: bool = True) -> None:
        """One compact JSON line (flushed, for streaming, unless told not to)."""
        self.stdout.write(_ENCODER.encode(doc).decode() + "\n")
        if flush:
            self.stdout.flush()

    def yaml(self, doc: Any) -> None:
        """One YAML document."""
        self._yaml_dump(_builtins(doc))

    def yaml_mapping(self, fields: Sequence[tuple[str, Any]]) -> None:
        """One YAML mapping, key by key; list values are written in chunks."""
        for key, value in fields:
            if isinstance(value, list) and value:
                self.stdout.write(f"{key}:\n")
                self.yaml_sequence(value)
            else:
                self._yaml_dump({key: _builtins(value)})

    def yaml_sequence(self, items: Sequence[Any]) -> None:
        """A YAML block sequence, dumped a chunk at a time."""
        if not items:
            self._yaml_dump([])
        for start in range(0, len(items), _CHUNK):
            self._yaml_dump(_builtins(items[start : start + _CHUNK]))

    def _yaml_dump(self, data: Any) -> None:
        import yaml  # noqa: PLC0415 - lazy: only -o yaml needs it

        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when built with it
        yaml.dump(
            data,
            self.stdout,
            Dumper=dumper,
            sort_keys=False,
            allow_unicode=True,
            default_flow_style=False,
        )

    def csv(self, rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> None:
        """A CSV table with a header row.

        Text cells starting with ``=``, ``+``, ``-``, ``@``, tab or CR get a
        leading ``'`` so that spreadsheets show them instead of running them.
        """
        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c), table=False) for c in columns])

    # -- shapes --

    def rows(
        self,
        rows: Sequence[Mapping[str, Any]],
        columns: Sequence[str],
        *,
        title: str | None = None,
        full: Sequence[Any] | None = None,
    ) -> None:
        """A list of records; ``full`` (when given) is what JSON/YAML/NDJSON print."""
        docs = full if full is not None else rows
        if self.fmt == "table":
            self.table(rows, columns, title=title)
        elif self.fmt == "csv":
            self.csv(rows, columns)
        elif self.fmt == "json":
            self.json_array(docs)
        elif self.fmt == "yaml":
            self.yaml_sequence(docs)
        else:
            for doc in docs:
                self.ndjson(doc)

    def item(self, data: Mapping[str, Any], *, title: str | None = None) -> None:
        """One record."""
        if self.fmt == "table":
            self.pairs(data, title=title)
        elif self.fmt == "csv":
            self.csv([data], list(data))
        elif self.fmt == "json":
            self.json(data)
        elif self.fmt == "yaml":
            self.yaml(data)
        else:
            self.ndjson(data)


def token_row(token: APIToken) -> dict[str, Any]:
    """The printable, secret-free fields of a token."""
    return {
        "username": token.username,
        "id": token.id,
        "note": token.note,
        "expires": token.expires,
        "usable": token.usable,
        "valid": token.valid,
        "expired": token.expired,
        "last_used": token.last_used,
        "deprecated": token.deprecated,
        "invalid_reason": token.invalid_reason,
        "policy": token.policy,
    }


# -- running -----------------------------------------------------------------------


def _prompt_ok() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _credentials(settings: Settings, verb: str) -> tuple[str | None, str | None, str | None]:
    """``(username, password, api_token)`` for the client; prompts when allowed."""
    need_password = verb in _PASSWORD_VERBS
    username, password, token = settings.username, settings.password, settings.api_token
    if password and token:
        # Both found: the stronger source wins; a tie goes to what the verb needs.
        p_rank, t_rank = settings.rank("password"), settings.rank("api_token")
        if p_rank < t_rank or (p_rank == t_rank and need_password):
            token = None
        else:
            password = None
    if token and need_password and settings.rank("api_token") > 0 and _prompt_ok():
        # A token from the environment or .reviewboardrc cannot manage tokens.
        token = None
    if token:
        return None, None, token
    if not password and (username or need_password) and _prompt_ok():
        if not username:
            username = input("Username: ").strip() or None
        if username:
            password = getpass.getpass(f"Password for {username}: ")
    if password and not username:
        raise UsageError("a password needs a username (--username)")
    if username and not password:
        # No terminal to ask on: fail before any request rather than go anonymous.
        raise UsageError(
            f"no password for {username} (use --password or RBTOKENS_PASSWORD, "
            "or run on a terminal to be asked)"
        )
    return username, password or None, None


def _make_client(
    args: argparse.Namespace, transport: Transport | None, out: Output | None = None
) -> RBClient:
    settings = resolve(
        {
            "server": args.server,
            "username": args.username,
            "password": args.password,
            "api_token": args.api_token,
        },
        config=args.config,
    )
    if not settings.server:
        raise UsageError(
            "no server: give --server, set RBTOKENS_SERVER, or set REVIEWBOARD_URL "
            "in .reviewboardrc"
        )
    if out is not None and not args.quiet:
        for note in settings.notes:
            out.note(f"rbtokens: note: {note}")
    username, password, token = _credentials(settings, args.verb)
    # One deadline per request. No separate read timeout: aiohttp re-arms that
    # timer on every chunk received, which costs CPU across a whole audit.
    total = args.timeout if args.timeout is not None else DEFAULT_TIMEOUT
    kwargs: dict[str, Any] = {
        "timeouts": Timeouts(total=total, connect=min(total, 10.0), read=None)
    }
    if args.insecure:
        kwargs["verify"] = False
    elif args.ca_bundle:
        kwargs["verify"] = args.ca_bundle
    try:
        return RBClient(
            settings.server,
            username=username,
            password=password,
            api_token=token,
            transport=transport,
            **kwargs,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:  # ssl.SSLError included: an unreadable or invalid --ca-bundle
        what = f"--ca-bundle {args.ca_bundle}" if args.ca_bundle else "TLS setup"
        raise UsageError(f"{what}: {exc}") from None


def _parse_time(text: str, what: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{what}: not an ISO 8601 time: {text!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _policy_arg(args: argparse.Namespace, *, default: Any) -> Any:
    if args.read_only:
        return READ_ONLY
    if args.full_access:
        return FULL_ACCESS
    if args.policy is None:
        return default
    text = args.policy
    if text.startswith("@"):
        try:
            with open(text[1:], encoding="utf-8") as fp:
                text = fp.read()
        except OSError as exc:
            raise UsageError(f"--policy: {exc}") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--policy: not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise UsageError("--policy: the policy must be a JSON object")
    return doc


def _extra_arg(pairs: Sequence[str]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--extra takes KEY=VALUE, got {pair!r}")
        try:
            extra[key] = json.loads(raw)
        except ValueError:
            extra[key] = raw
    return extra


def _expiry_arg(args: argparse.Namespace) -> tuple[str, datetime | None]:
    """``("unset" | "set", value)`` from --expires-in / --expires / --no-expiry."""
    if args.no_expiry:
        return "set", None
    if args.expires_in is not None:
        return "set", datetime.now(UTC) + timedelta(days=args.expires_in)
    if args.expires is not None:
        return "set", _parse_time(args.expires, "--expires")
    return "unset", None


# -- verbs -------------------------------------------------------------------------

Verb = Callable[["RBClient", argparse.Namespace, Output], Coroutine[Any, Any, int]]


def _rule_list(text: str, option: str) -> list[str]:
    rules = [r.strip() for r in text.split(",") if r.strip()]
    if not rules:
        raise UsageError(f"{option}: no rule given (choose from {', '.join(RULES)})")
    return rules


def _rules_arg(args: argparse.Namespace) -> Any:
    enabled: Sequence[str] = RULES
    if args.rules is not None:
        enabled = _rule_list(args.rules, "--rules")
    severities: dict[str, str] = {}
    for pair in args.severity:
        rule, sep, level = pair.partition("=")
        if not sep or level not in SEVERITY_NAMES:
            raise UsageError(f"--severity takes RULE=LEVEL (LEVEL: {', '.join(SEVERITY_NAMES)})")
        severities[rule] = level
    try:
        return msgspec.convert(
            {
                "enabled": list(enabled),
                "expiring_soon_days": args.expiring_days,
                "never_used_days": args.never_used_days,
                "stale_days": args.stale_days,
                "max_tokens": args.max_tokens,
                "severities": severities,
            },
            Rules,
        )
    except (ValueError, msgspec.ValidationError) as exc:
        raise UsageError(str(exc)) from None


def _finding_style(row: Mapping[str, Any]) -> str | None:
    return _SEVERITY_STYLES.get(str(row.get("severity")))


def _revoke_arg(args: argparse.Namespace, rules: Rules) -> list[str]:
    """The --revoke rules, checked before any request is made."""
    if args.revoke is None:
        if args.apply:
            raise UsageError("--apply needs --revoke RULE,...")
        return []
    revoke_rules = _rule_list(args.revoke, "--revoke")
    try:
        validate_revoke_rules(revoke_rules)
    except ValueError as exc:
        raise UsageError(f"--revoke: {exc}") from None
    disabled = [r for r in revoke_rules if r not in rules.enabled]
    if disabled:
        raise UsageError(f"--revoke: {', '.join(disabled)} not run (see --rules)")
    return revoke_rules


async def _cmd_audit(client: RBClient, args: argparse.Namespace, out: Output) -> int:
    rules = _rules_arg(args)
    revoke_rules = _revoke_arg(args, rules)
    now = _parse_time(args.now, "--now") if args.now else None
    progress = _Progress(out, enabled=not args.quiet and out.stderr.isatty())
    options: dict[str, Any] = {
        "concurrency": args.concurrency,
        "rules": rules,
        "now": now,
        "users": args.users,
        "progress": progress.update,
    }
    with progress:
        if out.fmt == "ndjson":
            # NDJSON streams each finding as soon as it is found.
            stream = audit_stream(client, **options)
            async with stream:
                async for finding in stream:
                    out.ndjson({"record": "finding", **_builtins(finding)})
            report = stream.report
            assert report is not None
        else:
            report = await audit(client, **options)
    revoked: list[RevokeResult] = []
    if revoke_rules:
        revoked = await revoke_findings(
            client, report.findings, rules=revoke_rules, apply=args.apply
        )
    _print_report(out, report, revoked, show_tokens=args.show_tokens, dry_run=not args.apply)
    if not report.complete or any(r.action == "failed" for r in revoked):
        return EXIT_INCOMPLETE
    if args.fail_on != "never" and report.at_least(args.fail_on):
        return EXIT_FINDINGS
    return EXIT_OK


class _Progress:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, out: Output, *, enabled: bool) -> None:
        self._enabled = enabled
        self._out = out
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self._enabled:
            from rich.console import Console  # noqa: PLC0415
            from rich.progress import (  # noqa: PLC0415
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("auditing users"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(file=self._out.stderr),
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("audit", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)

    def update(self, done: int, total: int | None) -> None:
        """The audit's progress callback."""
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total)


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


def _print_report(
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
            out.ndjson({"record": "token", **_builtins(token)}, flush=False)
        for failure in report.failures:
            out.ndjson({"record": "failure", **_builtins(failure)})
        for warning in report.warnings:
            out.ndjson({"record": "warning", "message": warning})
        for result in revoked:
            out.ndjson({"record": "revoke", "applied": not dry_run, **_builtins(result)})
        out.ndjson({"record": "summary", **_builtins(report.summary)})
        return
    findings = [_builtins(f) for f in report.findings]
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
        out.table([_row(t) for t in report.tokens], TOKEN_COLUMNS, title="Tokens")
    if report.failures:
        out.table(
            [_builtins(f) for f in report.failures],
            FAILURE_COLUMNS,
            title="Could not audit",
            styles=lambda row: "red",
        )
    for warning in report.warnings:
        out.note(f"rbtokens: warning: {warning}")
    if revoked:
        title = "Revocation (dry run: add --apply to revoke)" if dry_run else "Revocation"
        out.table([_builtins(r) for r in revoked], REVOKE_COLUMNS, title=title)


async def _cmd_list(client: RBClient, args: argparse.Namespace, out: Output) -> int:
    per_page = args.per_page if args.page else 200
    pager = await client.tokens.list(
        args.owner,
        all_users=args.all_users,
        page=args.page or 1,
        per_page=per_page,
        search=args.search,
        valid=args.valid,
        expired=args.expired,
    )
    tokens = pager.items if args.page else await pager.all()
    title = None
    if args.page:
        title = f"page {pager.page} of {pager.total_pages} ({pager.total_items} tokens)"
    out.rows(
        [token_row(t) for t in tokens],
        TOKEN_COLUMNS,
        title=title,
        full=[t.to_dict() for t in tokens],
    )
    return EXIT_OK


async def _cmd_get(client: RBClient, args: argparse.Namespace, out: Output) -> int:
    token = await client.tokens.get(args.token_id, username=args.owner)
    _print_token(out, token, title=f"Token {token.id}")
    return EXIT_OK


def _print_token(out: Output, token: APIToken, *, title: str, secret: bool = False) -> None:
    if out.fmt == "table":
        out.pairs(token_row(token), title=title)
        if secret:
            # On a line of its own, never folded inside a table cell: easy to copy.
            out.text(f"token: {token.token}")
    else:
        out.item(token.to_dict(include_secret=secret))


async def _cmd_create(client: RBClient, args: argparse.Namespace, out: Output) -> int:
    policy = _policy_arg(args, default=READ_ONLY)
    mode, when = _expiry_arg(args)
    expires_in = timedelta(days=DEFAULT_EXPIRES_DAYS) if mode == "unset" else None
    token = await client.tokens.create(
        args.owner,
        note=args.note,
        policy=policy,
        expires=when,
        expires_in=expires_in,
        extra_data=_extra_arg(args.extra) or None,
    )
    _print_token(out, token, title=f"Created token {token.id}", secret=True)
    if not args.quiet:
        out.note("rbtokens: store the secret now: it is shown only this once")
    return EXIT_OK


async def _cmd_update(client: RBClient, args: argparse.Namespace, out: Output) -> int:
    fields: dict[str, Any] = {}
    if args.note is not None:
        fields["note"] = args.note
    policy = _policy_arg(args, default=UNSET)
    if policy is not UNSET:
        fields["policy"] = policy
    mode, when = _expiry_arg(args)
    if mode == "set":
        fields["expires"] = when
    if args.extra:
        fields["extra_data"] = _extra_arg(args.extra)
    if not fields:
        raise UsageError("nothing to update: give --note, a policy, an expiry or --extra")
    token = await client.tokens.update(args.token_id, username=args.owner, **fields)
    _print_token(out, token, title=f"Updated token {token.id}")
    return EXIT_OK


async def _cmd_rotate(client: RBClient, args: argparse.Namespace, out: Output) -> int:
    mode, when = _expiry_arg(args)
    try:
        rotation = await client.tokens.rotate(
            args.token_id,
            username=args.owner,
            grace=timedelta(hours=args.grace),
            expires=when if mode == "set" else UNSET,
        )
    except RotationError as exc:
        # A part-way failure: every secret that was created is shown, then the error.
        created = [exc.new_token] if exc.new_token is not None else []
        created += [t for t in exc.candidates if t not in created]
        for token in created:
            _print_token(out, token, title=f"Created token {token.id}", secret=True)
        raise
    new, old = rotation.new_token, rotation.old_token
    if out.fmt == "table":
        out.pairs(token_row(new), title=f"New token {new.id} (replaces {args.token_id})")
        out.text(f"token: {new.token}")
        if rotation.old_deleted:
            out.text(f"old token {args.token_id}: deleted")
        else:
            out.text(
                f"old token {args.token_id}: new logins stop at "
                f"{_cell(rotation.old_expires, table=True)}; revoke it to end its sessions"
            )
    else:
        out.item(
            {
                "new_token": new.to_dict(include_secret=True),
                "old_token": old.to_dict() if old is not None else None,
                "old_expires": rotation.old_expires,
                "old_deleted": rotation.old_deleted,
            }
        )
    if not args.quiet:
        out.note("rbtokens: store the new secret now: it is shown only this once")
    return EXIT_OK


async def _cmd_invalidate(client: RBClient, args: argparse.Namespace, out: Output) -> int:
    token = await client.tokens.invalidate(
        args.token_id,
        reason=args.reason,
        username=args.owner,
        delete_if_not_persisted=args.delete_if_not_persisted,
    )
    if token is None:
        out.item({"id": args.token_id, "result": "deleted (the server did not persist it)"})
    else:
        _print_token(out, token, title=f"Invalidated token {token.id}")
    return EXIT_OK


async def _cmd_revoke(client: RBClient, args: argparse.Namespace, out: Output) -> int:
    rows: list[dict[str, Any]] = []
    status = EXIT_OK
    for token_id in dict.fromkeys(args.token_ids):
        try:
            await client.tokens.revoke(token_id, username=args.owner)
        except TokensError as exc:
            rows.append({"id": token_id, "result": "failed", "error": str(exc)})
            status = EXIT_INCOMPLETE
        else:
            rows.append({"id": token_id, "result": "revoked", "error": None})
    out.rows(rows, ("id", "result", "error"))
    return status


async def _cmd_whoami(client: RBClient, args: argparse.Namespace, out: Output) -> int:
    session = await client.get_session()
    if not session.authenticated or not session.username:
        raise _NotLoggedIn()
    if out.fmt == "table":
        out.text(session.username)
    else:
        out.item({"username": session.username, "server": str(client.base_url)})
    return EXIT_OK


class _NotLoggedIn(Exception):
    pass


async def _cmd_api_get(client: RBClient, args: argparse.Namespace, out: Output) -> int:
    path: str = args.path
    if not path.startswith(("http://", "https://")):
        path = path.removeprefix("/api/")
    # The payload exactly as the server sent it (secrets masked): no Struct
    # fills in defaults for fields it left out.
    payload = await client.get_json(path, **args.query)
    doc: Any = mask_payload(payload) if payload is not None else {"stat": "ok"}
    lists = [k for k, v in doc.items() if isinstance(v, list) and k != "links"]
    if out.fmt in ("table", "csv", "ndjson") and len(lists) == 1:
        key = lists[0]
        items = [i for i in doc[key] if isinstance(i, dict)]
        columns = list(dict.fromkeys(k for i in items for k in i if k != "links"))
        out.rows(items, columns, title=f"{key} ({doc.get('total_results', len(items))} in all)")
        return EXIT_OK
    out.item(doc)
    return EXIT_OK


VERBS: Mapping[str, Verb] = {
    "audit": _cmd_audit,
    "list": _cmd_list,
    "get": _cmd_get,
    "create": _cmd_create,
    "update": _cmd_update,
    "rotate": _cmd_rotate,
    "invalidate": _cmd_invalidate,
    "revoke": _cmd_revoke,
    "whoami": _cmd_whoami,
    "api-get": _cmd_api_get,
}


async def _run(args: argparse.Namespace, out: Output, transport: Transport | None) -> int:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = _make_client(args, transport, out)
    for warning in caught:
        out.note(f"rbtokens: warning: {warning.message}")
    async with client:
        return await VERBS[args.verb](client, args, out)


def _configure_logging(verbosity: int, quiet: bool, stream: TextIO) -> Callable[[], None]:
    """Log rbtokens to ``stream``: warnings by default, none with -q, requests with -v.

    The request log is at DEBUG, so -v shows it; -vv adds aiohttp's own log.
    Returns a function that undoes all this (``main`` may run more than once).
    """
    level = logging.ERROR if quiet else logging.WARNING if verbosity <= 0 else logging.DEBUG
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("rbtokens: %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(level)
    names = ["rbtokens", *(["aiohttp"] if verbosity >= 2 else [])]
    saved = []
    for name in names:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.addHandler(handler)
        logger.setLevel(level)

    def undo() -> None:
        for logger, old in saved:
            logger.removeHandler(handler)
            logger.setLevel(old)

    return undo


def main(
    argv: Sequence[str] | None = None,
    *,
    transport: Transport | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the command; returns the exit code.

    ``transport`` replaces the network (see :class:`~rbtokens.transport.MockTransport`).
    """
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    err = stderr if stderr is not None else sys.stderr
    if args.verb is None:
        parser.print_help(err)
        return EXIT_INCOMPLETE
    try:
        args.query = _query_args(extra) if args.verb == "api-get" else {}
        if extra and args.verb != "api-get":
            raise UsageError(f"unrecognized arguments: {' '.join(extra)}")
    except UsageError as exc:
        parser.error(str(exc))
    out = Output(
        args.output or ("json" if args.verb == "api-get" else "table"), stdout=stdout, stderr=stderr
    )
    undo_logging = _configure_logging(args.verbose, args.quiet, out.stderr)
    try:
        return asyncio.run(_run(args, out, transport))
    except UsageError as exc:
        out.note(f"rbtokens {args.verb}: error: {exc}")
        return EXIT_INCOMPLETE
    except _NotLoggedIn:
        out.note(f"rbtokens {args.verb}: not logged in (give --username or --api-token)")
        return EXIT_INCOMPLETE
    except PasswordLoginRequiredError as exc:
        out.note(f"rbtokens {args.verb}: error: {exc}")
        out.note("rbtokens: log in with --username and --password to manage tokens")
        return EXIT_INCOMPLETE
    except (RBTokensError, ConfigError) as exc:
        out.note(f"rbtokens {args.verb}: error: {exc}")
        return EXIT_INCOMPLETE
    except KeyboardInterrupt:
        out.note("rbtokens: interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_INCOMPLETE
    except Exception as exc:  # noqa: BLE001 - the last resort: one line, exit 2, no traceback
        text = redact(str(exc)) or "(no message)"
        out.note(f"rbtokens {args.verb}: unexpected error: {type(exc).__name__}: {text}")
        out.note("rbtokens: this is a bug in rbtokens; -vv logs more")
        return EXIT_INCOMPLETE
    finally:
        undo_logging()


if __name__ == "__main__":
    sys.exit(main())
