"""Fail the run when the real-server tests did not run.

With ``RBTOKENS_REQUIRE_INTEGRATION=1`` (set by ``scripts/test``, hence by CI), a
session in which no ``integration`` test passed, or in which one was skipped,
exits non-zero: "the suite passed" always includes the real Review Board.
"""

from __future__ import annotations

import os

import pytest

_passed = 0
_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    global _passed  # noqa: PLW0603 - a per-session counter in a plugin module
    if "integration" not in report.keywords:
        return
    if report.when == "call" and report.passed:
        _passed += 1
    elif report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("RBTOKENS_REQUIRE_INTEGRATION") != "1" or exitstatus != 0:
        return
    problem = ""
    if _passed == 0:
        problem = "no integration test ran against the real Review Board"
    elif _skipped:
        problem = f"{len(_skipped)} integration test(s) skipped: {', '.join(_skipped[:5])}"
    if problem:
        session.config.pluginmanager.get_plugin("terminalreporter").write_line(  # type: ignore[union-attr]
            f"ERROR: {problem} (RBTOKENS_REQUIRE_INTEGRATION=1)", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
