"""Output formatting: long tables, and server text that cannot inject escapes or formulas.

The ``rbtokens`` command against an in-memory Review Board (``FakeTokenServer``).
"""

from __future__ import annotations

import csv
import io

from clikit import run

from rbtokens.cli import Output
from tools.standin.testing import FakeTokenServer


def test_long_tables_are_printed_in_blocks_with_every_row() -> None:
    out = io.StringIO()
    rows = [{"username": f"user{i:05d}", "id": i} for i in range(2500)]
    Output("table", stdout=out).table(rows, ("username", "id"), title="Many")
    text = out.getvalue()
    assert text.count("Many") == 1 and text.count("username") == 1  # one title, one header
    assert all(f"user{i:05d}" in text for i in range(2500))
    widths = {len(line) for line in text.splitlines() if "user0" in line}
    assert len(widths) == 1  # the blocks line up


def test_notes_cannot_inject_escapes_or_formulas() -> None:
    fake = FakeTokenServer()
    evil = '=HYPERLINK("http://x")\x1b[2J\x1b]52;c;cGF5bG9hZA==\x07\x9b31m\u202e'
    fake.add_token("alice", note=evil, expires=None)
    _code, out, _ = run(fake, "audit", "--show-tokens")
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out
    assert "\u202e" not in out
    assert "=HYPERLINK" in out  # the text itself stays visible
    _code, out, _ = run(fake, "list", "--owner", "alice", "-o", "csv")
    (row,) = csv.DictReader(io.StringIO(out))
    assert row["note"].startswith("'=HYPERLINK")
    for start in ("+1", "-1", "@SUM(A1)"):
        fake = FakeTokenServer()
        fake.add_token("alice", note=start)
        _code, out, _ = run(fake, "list", "--owner", "alice", "-o", "csv")
        assert next(csv.DictReader(io.StringIO(out)))["note"] == "'" + start


def test_table_output_keeps_notes_that_look_like_timestamps() -> None:
    fake = FakeTokenServer()
    note = "2024-01-01T00:00:00 deploy key for prod"
    fake.add_token("alice", note=note, expires=None)
    _code, out, _ = run(fake, "audit", "--show-tokens")
    assert note in out
    _code, out, _ = run(fake, "list", "--owner", "alice")
    assert note in out
