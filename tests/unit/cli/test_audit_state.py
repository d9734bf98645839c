"""``audit --state``: the exit code and last line a scheduler reads, and the journal's refusals."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rbtokens.auditing import Rules
from rbtokens.auditing.journal import new_header, open_journal
from rbtokens.cli import main
from tools.standin import Dataset, InProcess, RateLimits

NOW = "2026-11-23T12:00:00Z"
LOGIN = ["--server", "https://rb.test/", "--username", "admin", "--password", "admin"]


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def limited_site(clock: Clock, users: int = 1_100) -> InProcess:
    """Review Board's default rate limits: 1,000 session requests an hour."""
    dataset = Dataset.generate(users, seed=3, now=datetime(2026, 11, 22, tzinfo=UTC))
    return InProcess(dataset=dataset, rate_limits=RateLimits(clock=clock))


def audit(site: InProcess, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    argv = ["audit", "--walk", "per-user", "--now", NOW, "--fail-on", "never", *args, *LOGIN]
    code = main(argv, transport=site.transport, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def last_line(err: str) -> str:
    return err.strip().splitlines()[-1]


def test_a_rate_limited_audit_exits_75_naming_when_and_the_same_command_finishes(
    tmp_path: Path,
) -> None:
    clock = Clock()
    site = limited_site(clock)
    state = str(tmp_path / "audit.state")

    code, out, err = audit(site, "--state", state, "-o", "json")
    assert code == 75
    line = last_line(err)
    assert line.startswith("rbtokens audit: incomplete: rate limited after ")
    assert f"run it again after {json.loads(out)['summary']['retry_at'][:19]}" in line
    assert line.endswith(f"(it goes on from {state})")

    clock.now += 3600
    code, out, err = audit(site, "--state", state, "-o", "json")
    assert code == 0, err
    assert json.loads(out)["summary"]["users_audited"] == 1_101  # and admin
    assert last_line(err).startswith("rbtokens audit: complete: 1,101 users, ")


def test_without_state_the_rate_limited_audit_still_exits_75(tmp_path: Path) -> None:
    code, _out, err = audit(limited_site(Clock()), "-o", "csv")
    assert code == 75
    assert "run it again after " in last_line(err) and "goes on from" not in err


def test_findings_and_failures_have_their_own_last_lines() -> None:
    clock = Clock()
    site = limited_site(clock, users=20)
    code, _out, err = audit(site, "--fail-on", "low")
    assert code == 1
    assert last_line(err).endswith(", at or above low")
    site.core.dataset.remove_user("audit_00003")  # gone between the listing and its tokens?
    code, _out, err = audit(site, "--user", "audit_00003")
    assert code == 2
    assert last_line(err).startswith("rbtokens audit: incomplete: 1 user could not be read")


def test_fresh_needs_state() -> None:
    code, out, err = audit(limited_site(Clock(), users=1), "--fresh")
    assert code == 2 and out == ""
    assert last_line(err) == "rbtokens audit: error: --fresh needs --state FILE"


def test_a_journal_of_another_audit_is_one_line_and_exit_2(tmp_path: Path) -> None:
    site = limited_site(Clock(), users=5)
    state = tmp_path / "audit.state"
    code, _out, _err = audit(site, "--state", str(state), "--stale-days", "7")
    assert code == 0
    state.write_text(state.read_text().rsplit("\n", 2)[0] + "\n")  # as if unfinished
    code, out, err = audit(site, "--state", str(state))
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert "belongs to another audit (its rules is another rule set" in err
    assert "--fresh" in err
    code, _out, err = audit(site, "--state", str(state), "--fresh")
    assert code == 0, err


def test_a_second_run_on_the_same_state_is_refused(tmp_path: Path) -> None:
    site = limited_site(Clock(), users=5)
    state = tmp_path / "audit.state"
    header = new_header(
        server="https://rb.test/", login="admin", rules=Rules(), local_sites=[], users=None,
        now=datetime(2026, 11, 23, 12, tzinfo=UTC),
    )  # fmt: skip
    with open_journal(state, header, max_age=timedelta(days=1)):
        code, _out, err = audit(site, "--state", str(state))
    assert code == 2
    assert "is in use by another audit (pid " in err and "two runs may not share" in err


def test_a_stale_journal_is_refused_with_its_age(tmp_path: Path) -> None:
    clock = Clock()
    site = limited_site(clock)
    state = tmp_path / "audit.state"
    assert audit(site, "--state", str(state))[0] == 75
    code, _out, err = audit(site, "--state", str(state), "--state-max-age", "0.0001")
    assert code == 2
    assert "more than the 0.0 hours a journal may be resumed after" in err


def test_the_last_line_names_the_default_fail_on() -> None:
    out, err_io = io.StringIO(), io.StringIO()
    argv = ["audit", "--walk", "per-user", "--now", NOW, *LOGIN]  # no --fail-on: low
    assert main(argv, transport=limited_site(Clock(), users=20).transport, stdout=out,
                stderr=err_io) == 1  # fmt: skip
    assert last_line(err_io.getvalue()).endswith(", at or above low")
