"""Every script in examples/ runs, as its docstring says, against the stand-in on a socket."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.standin import StandIn, serve_in_thread

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def standin() -> Iterator[StandIn]:
    with serve_in_thread(users=30, seed=4) as rb:
        yield rb


def example(rb: StandIn, name: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RBTOKENS_")}
    env |= {"RBTOKENS_SERVER": rb.url, "RBTOKENS_USERNAME": "admin", "RBTOKENS_PASSWORD": "admin"}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    return proc.stdout


def test_every_example_is_run_here() -> None:
    tested = set(re.findall(r'"(\w+\.py)"', Path(__file__).read_text()))
    assert {p.name for p in EXAMPLES.glob("*.py")} <= tested


def test_walk_tree(standin: StandIn) -> None:
    assert "logged in as admin" in example(standin, "walk_tree.py")


def test_create_then_rotate_then_list(standin: StandIn) -> None:
    out = example(standin, "create_token.py", "from the examples test")
    token_id = re.search(r"id=(\d+)", out)
    assert token_id is not None, out
    assert "secret (shown once" in out
    out = example(standin, "rotate_token.py", token_id[1], "", "1")
    assert token_id[1] in out
    assert "tokens" in example(standin, "list_tokens.py", "--all")


def test_export_tokens(standin: StandIn) -> None:
    out = example(standin, "export_tokens.py", "audit_00001")
    assert out.lstrip().startswith(("[", "{"))


def test_nightly_audit(standin: StandIn, tmp_path: Path) -> None:
    state = tmp_path / "audit.state"
    out = example(standin, "nightly_audit.py", str(state))
    report = tmp_path / "audit.report.json"
    assert "31 users, " in out and str(report) in out
    assert stat.S_IMODE(report.stat().st_mode) == 0o600


def test_compare_audits(standin: StandIn, tmp_path: Path) -> None:
    last, tonight = tmp_path / "last.json", tmp_path / "tonight.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RBTOKENS_")}
    env["RBTOKENS_PASSWORD"] = "admin"
    saved = subprocess.run(
        [sys.executable, "-m", "rbtokens", "audit", "--server", standin.url, "--username",
         "admin", "--save", str(last), "--fail-on", "never", "-q"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert saved.returncode == 0, saved.stderr
    out = example(standin, "compare_audits.py", str(last), str(tonight))
    assert out.startswith("0 new, ") and ", 0 resolved, 0 unknown" in out  # nothing changed
    assert stat.S_IMODE(tonight.stat().st_mode) == 0o600
