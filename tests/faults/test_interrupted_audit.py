"""An audit with ``--state`` stopped (SIGINT, SIGTERM, SIGKILL) goes on to the same report.

The command runs as a process of its own against the stand-in on a socket;
each case stops it somewhere in the walk, runs the same command to the end,
and compares the report with one that nothing stopped. The points are drawn
from a seeded generator, printed on failure.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tools.standin import Dataset, StandIn, serve_in_thread

USERS = 400
NOW = "2026-11-23T12:00:00Z"
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -signal.SIGKILL}
TIMING = ("started_at", "elapsed_seconds", "requests", "logins", "retries", "rate_limited_seconds")


@pytest.fixture(scope="module")
def standin() -> Iterator[StandIn]:
    dataset = Dataset.generate(USERS, seed=11, now=datetime(2026, 11, 20, tzinfo=UTC))
    with serve_in_thread(dataset=dataset, delay=0.01) as rb:  # a walk of two seconds
        yield rb


def command(rb: StandIn, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "rbtokens", "audit", "--server", rb.url, "--username", "admin",
        "--walk", "per-user", "--concurrency", "2", "--now", NOW, "--fail-on", "never",
        "-o", "json", *extra,
    ]  # fmt: skip


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RBTOKENS_")}
    return {**env, "RBTOKENS_PASSWORD": "admin"}


def comparable(out: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(out)
    for name in TIMING:
        doc["summary"].pop(name)
    return doc


@pytest.fixture(scope="module")
def unstopped(standin: StandIn) -> dict[str, Any]:
    proc = subprocess.run(
        command(standin), capture_output=True, text=True, env=environment(), timeout=120,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return comparable(proc.stdout)


def journalled(state: Path) -> int:
    """Users recorded in the journal so far."""
    try:
        return state.read_bytes().count(b'{"user":')
    except FileNotFoundError:
        return 0


def stop_somewhere(argv: list[str], state: Path, sig: signal.Signals, rng: random.Random) -> int:
    """Start the audit, wait until some users are journalled, then a random moment more; kill."""
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment()
    )
    deadline = time.monotonic() + 60
    while journalled(state) == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 1.0))
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    return proc.returncode


@pytest.mark.parametrize("sig", list(EXIT), ids=lambda s: s.name)
@pytest.mark.parametrize("seed", [1, 2])
def test_a_killed_audit_resumes_to_the_same_report(
    standin: StandIn, unstopped: dict[str, Any], tmp_path: Path, sig: signal.Signals, seed: int
) -> None:
    rng = random.Random(seed)
    state = tmp_path / "audit.state"
    argv = command(standin, "--state", str(state))

    stopped_with = stop_somewhere(argv, state, sig, rng)
    if stopped_with == 0:
        pytest.fail(f"the audit finished before the {sig.name} (seed {seed}): make the walk longer")
    assert stopped_with == EXIT[sig]
    before = journalled(state)
    assert 0 < before <= USERS, f"seed {seed}: {before} users journalled"

    proc = subprocess.run(
        argv, capture_output=True, text=True, env=environment(), timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert comparable(proc.stdout) == unstopped, f"seed {seed}, {before} users journalled"
    assert proc.stderr.strip().splitlines()[-1].startswith("rbtokens audit: complete: ")
