"""Output formatting: tables (rich, imported on first use), JSON, NDJSON, CSV and YAML.

Nothing from the server reaches a terminal with its control characters, nor a
spreadsheet as a formula.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

import msgspec

from ..resources import APIToken

__all__ = ["TOKEN_COLUMNS", "Output", "cell", "struct_row", "to_builtins", "token_row"]

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


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def to_builtins(obj: Any) -> Any:
    """A struct (or anything msgspec encodes) as plain dicts, lists and strings."""
    return msgspec.to_builtins(obj)


def struct_row(obj: Any) -> dict[str, Any]:
    """A struct as a dict for table/CSV rows; datetimes stay datetimes (see :func:`cell`)."""
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


def cell(value: Any, *, table: bool) -> str:
    """One value as table text (printable) or CSV text (formula-safe)."""
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
                min(_MAX_CELL, max(len(c), *(len(cell(r.get(c), table=True)) for r in rows)))
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
                cells = (Text(cell(row.get(c), table=True)) for c in columns)
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
            table.add_row(Text(_printable(key)), Text(cell(value, table=True)))
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
        self._yaml_dump(to_builtins(doc))

    def yaml_mapping(self, fields: Sequence[tuple[str, Any]]) -> None:
        """One YAML mapping, key by key; list values are written in chunks."""
        for key, value in fields:
            if isinstance(value, list) and value:
                self.stdout.write(f"{key}:\n")
                self.yaml_sequence(value)
            else:
                self._yaml_dump({key: to_builtins(value)})

    def yaml_sequence(self, items: Sequence[Any]) -> None:
        """A YAML block sequence, dumped a chunk at a time."""
        if not items:
            self._yaml_dump([])
        for start in range(0, len(items), _CHUNK):
            self._yaml_dump(to_builtins(items[start : start + _CHUNK]))

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
            writer.writerow([cell(row.get(c), table=False) for c in columns])

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
