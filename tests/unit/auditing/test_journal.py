"""The audit's journal (``checkpoint=``): resuming across rate-limit windows, and refusals."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

from rbtokens import JournalError, JournalLockedError, RBClient, Report, RetryPolicy, Rules
from rbtokens.auditing import audit
from rbtokens.auditing.journal import new_header, open_journal
from tools.standin import Dataset, InProcess, RateLimits

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ONCE = RetryPolicy(attempts=1, backoff=0.0)
USERS = 1_150  # more token lists than one window of 1,000 session requests allows


class Clock:
    """The stand-in's clock: the tests move it to the next rate-limit window."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def site(clock: Clock | None = None, *, users: int = USERS) -> InProcess:
    """The same generated site every time; Review Board's default limits when ``clock``."""
    limits = RateLimits(clock=clock) if clock is not None else None
    dataset = Dataset.generate(users, seed=7, now=NOW - timedelta(days=1))
    return InProcess(dataset=dataset, rate_limits=limits)


async def run(server: InProcess, path: Path | None, **options: Any) -> Report:
    options.setdefault("now", NOW)
    async with RBClient(
        "https://rb.test/", username="admin", password="admin", transport=server.transport
    ) as client:
        client.retry = ONCE
        return await audit(client, walk="per-user", checkpoint=path, **options)


def comparable(report: Report) -> dict[str, Any]:
    """Everything but request counts and timings."""
    summary = msgspec.to_builtins(report.summary)
    for name in ("started_at", "elapsed_seconds", "requests", "logins", "retries"):
        summary.pop(name)
    summary.pop("rate_limited_seconds")
    return {
        "summary": summary,
        "tokens": msgspec.to_builtins(report.tokens),
        "findings": msgspec.to_builtins(report.findings),
        "failures": msgspec.to_builtins(report.failures),
        "warnings": report.warnings,
    }


@pytest.fixture(scope="module")
def unlimited() -> dict[str, Any]:
    """The report of an audit that nothing stopped."""
    return comparable(anyio.run(run, site(), None))


async def test_a_rate_limited_walk_goes_on_in_the_next_window_and_equals_an_unstopped_one(
    tmp_path: Path, unlimited: dict[str, Any]
) -> None:
    clock = Clock()
    server = site(clock)
    state = tmp_path / "audit.state"

    first = await run(server, state)
    assert not first.complete
    assert first.summary.retry_at is not None
    assert 900 <= first.summary.users_audited < USERS  # stopped by the window

    clock.now += 3600  # the next window
    second = await run(server, state, now=NOW + timedelta(days=2))
    assert second.complete, second.failures
    assert second.summary.now == NOW  # every rule judged with the first run's clock
    assert comparable(second) == unlimited
    # the users done in the first run were not asked for again
    assert second.summary.requests < USERS - first.summary.users_audited + 50


async def test_the_journal_is_private_and_holds_no_secret(tmp_path: Path) -> None:
    server = site(users=40)
    state = tmp_path / "audit.state"
    await run(server, state)
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(f"{state}.lock").stat().st_mode) == 0o600
    text = state.read_text()
    secrets = [t.token for t in server.dataset.tokens.values()]
    assert secrets and not any(secret in text for secret in secrets)
    header = json.loads(text.splitlines()[0])
    assert header["server"] == "https://rb.test/" and header["login"] == "admin"


async def test_a_finished_journal_starts_afresh(tmp_path: Path) -> None:
    server = site(users=30)
    state = tmp_path / "audit.state"
    first = await run(server, state)
    assert first.complete
    later = NOW + timedelta(days=1)
    second = await run(server, state, now=later)
    assert second.summary.now == later  # not the finished run's clock
    assert second.summary.users_audited == first.summary.users_audited
    assert json.loads(state.read_text().splitlines()[0])["now"].startswith("2026-11-24")


async def test_a_torn_last_line_is_read_again(tmp_path: Path) -> None:
    clock = Clock()
    server = site(clock)
    state = tmp_path / "audit.state"
    first = await run(server, state)
    assert not first.complete
    with state.open("ab") as fp:
        fp.write(b'{"user": "audit_0')  # killed halfway through a write
    clock.now += 3600
    assert (await run(server, state)).complete
    assert all(json.loads(line) for line in state.read_text().splitlines())


async def test_fresh_starts_over(tmp_path: Path) -> None:
    clock = Clock()
    server = site(clock)
    state = tmp_path / "audit.state"
    assert not (await run(server, state)).complete
    clock.now += 3600
    again = await run(server, state, fresh=True, now=NOW + timedelta(hours=1))
    assert again.summary.now == NOW + timedelta(hours=1)
    assert not again.complete  # all users again: more than one window


def header(**changes: Any) -> Any:
    fields: dict[str, Any] = {
        "server": "https://rb.test/",
        "login": "admin",
        "rules": Rules(),
        "local_sites": [],
        "users": None,
        "now": NOW,
    }
    return new_header(**{**fields, **changes})


def started(path: Path, **changes: Any) -> None:
    """A journal of an unfinished audit, as a stopped run leaves it."""
    with open_journal(path, header(**changes), max_age=timedelta(days=1)):
        pass


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"server": "https://other.test/"}, "server"),
        ({"login": "alice"}, "login"),
        ({"rules": Rules(stale_days=7)}, "rules"),
        ({"local_sites": ["tenant-a"]}, "local sites"),
        ({"users": ["alice"]}, "users"),
    ],
)
def test_a_journal_of_another_audit_is_refused(
    tmp_path: Path, change: dict[str, Any], named: str
) -> None:
    state = tmp_path / "audit.state"
    started(state)
    with (
        pytest.raises(JournalError, match=f"belongs to another audit \\(its {named} is") as caught,
        open_journal(state, header(**change), max_age=timedelta(days=1)),
    ):
        pass
    assert "--fresh" in str(caught.value)


def test_a_journal_of_another_rbtokens_version_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "audit.state"
    started(state)
    lines = state.read_bytes().split(b"\n", 1)
    first = json.loads(lines[0])
    first["rbtokens"] = "0.0.1"
    state.write_bytes(json.dumps(first).encode() + b"\n" + lines[1])
    with (
        pytest.raises(JournalError, match=r"its rbtokens is '0\.0\.1'") as caught,
        open_journal(state, header(), max_age=timedelta(days=1)),
    ):
        pass
    assert "--fresh" in str(caught.value)


def test_a_stale_journal_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "audit.state"
    started(state)
    with (
        pytest.raises(JournalError, match=r"more than the 0\.0 hours") as caught,
        open_journal(state, header(), max_age=timedelta(seconds=0)),
    ):
        pass
    assert "stale" in str(caught.value) and "--fresh" in str(caught.value)


def test_a_file_that_is_no_journal_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "audit.state"
    state.write_text("user,token\n")
    with (
        pytest.raises(JournalError, match="not an rbtokens journal"),
        open_journal(state, header(), max_age=timedelta(days=1)),
    ):
        pass
    assert state.read_text() == "user,token\n"  # not overwritten


def test_two_runs_on_one_journal_are_refused_and_told_who_holds_it(tmp_path: Path) -> None:
    state = tmp_path / "audit.state"
    with (
        open_journal(state, header(), max_age=timedelta(days=1)),
        pytest.raises(JournalLockedError, match=f"in use by another audit \\(pid {os.getpid()}"),
        open_journal(state, header(), max_age=timedelta(days=1)),
    ):
        pass
    with open_journal(state, header(), max_age=timedelta(days=1)) as journal:
        assert journal.resumed  # let go of: the next run takes it
