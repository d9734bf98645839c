"""A pytest plugin that fails the run when a known secret leaks into test output.

It collects, for every test, the captured stdout, stderr and log text and the
failure report (``report.sections`` and ``longreprtext``), plus every log
record from the ``rbtokens`` loggers at DEBUG level and up, whatever level the
test asked for. At the end of the session it searches all of it for:

* every password and token value in the real site's manifest, once a test
  used the ``rb_site`` fixture;
* every secret registered with :func:`register_secret` (or the
  ``secrets_registry`` fixture);
* every ``rbp_`` token value that went through ``rbtokens.wire`` during
  the run (a test that shows a token on purpose reads it with ``capsys``, which
  consumes it, or is marked ``shows_secrets``).

A hit sets the exit status to "tests failed" and names the test and the
section, never the secret itself. ``tests/conftest.py`` loads this module;
``tests/unit/test_secretscan.py`` runs it on a leaking test to prove it bites.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Generator, Iterable
from typing import Any

import pytest

import rbtokens.http.channel
import rbtokens.wire.decoding

__all__ = ["register_secret", "registered_secrets"]

_MIN_LEN = 6
_TOKEN_RE = re.compile(r"rbp_[A-Za-z0-9]{20,}")
_SHAPES = (_TOKEN_RE, re.compile(r"[0-9a-fA-F]{40,}"))  # rbp_ tokens, legacy SHA-1 tokens
_secrets: set[str] = set()
_texts: list[tuple[str, str, str]] = []  # (nodeid, where, text)
_exempt: set[str] = set()


def register_secret(value: str | None) -> None:
    """Add a value that must never appear in any test's output."""
    if value and len(value) >= _MIN_LEN:
        _secrets.add(value)


def registered_secrets() -> frozenset[str]:
    """The secrets known so far."""
    return frozenset(_secrets)


@pytest.fixture
def secrets_registry() -> Callable[[str | None], None]:
    """``secrets_registry("hunter2")`` registers a secret for the leak scan."""
    return register_secret


class _RecordCollector(logging.Handler):
    """Keeps the formatted text (with tracebacks) of every rbtokens record."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.nodeid = "<session>"
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception as exc:  # noqa: BLE001 - a record that cannot format is itself reported
            text = f"<unformattable record: {exc!r}>"
        _texts.append((self.nodeid, "log record", text))


_collector = _RecordCollector()
_saved_level: dict[str, int] = {}


def _walk_tokens(value: Any) -> None:
    token = getattr(value, "token", None)
    if isinstance(token, str) and token.startswith("rbp_"):
        register_secret(token)
    for item in getattr(value, "items", None) or ():
        _walk_tokens(item)
    for child in getattr(value, "expanded", {}).values():  # expand= children
        for item in child if isinstance(child, list) else (child,):
            _walk_tokens(item)


def _install_decoding_tap() -> None:
    original = rbtokens.wire.decoding.decode_response
    if getattr(original, "_secretscan", False):
        return

    def tapped(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        _walk_tokens(result)
        return result

    tapped._secretscan = True  # type: ignore[attr-defined]
    rbtokens.wire.decoding.decode_response = tapped  # type: ignore[assignment]
    rbtokens.http.channel.decode_response = tapped  # type: ignore[attr-defined]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "shows_secrets: this test prints secrets on purpose; skip it in the leak scan"
    )
    logger = logging.getLogger("rbtokens")
    _saved_level["rbtokens"] = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(_collector)
    _install_decoding_tap()


def pytest_unconfigure(config: pytest.Config) -> None:
    logger = logging.getLogger("rbtokens")
    logger.removeHandler(_collector)
    if "rbtokens" in _saved_level:
        logger.setLevel(_saved_level.pop("rbtokens"))


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any]) -> Generator[None, Any, Any]:
    result = yield
    if fixturedef.argname == "rb_site":
        manifest = getattr(result, "manifest", None) or {}
        register_secret(getattr(result, "admin_password", None))
        register_secret((manifest.get("admin") or {}).get("password"))
        for user in manifest.get("users", ()):
            register_secret(user.get("password"))
        for token in manifest.get("tokens", ()):
            register_secret(token.get("token"))
    return result


def pytest_runtest_setup(item: pytest.Item) -> None:
    _collector.nodeid = item.nodeid
    if item.get_closest_marker("shows_secrets") is not None:
        _exempt.add(item.nodeid)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid in _exempt:
        return
    for title, content in report.sections:
        _texts.append((report.nodeid, f"{report.when}: {title}", content))
    if report.longrepr is not None:
        _texts.append((report.nodeid, f"{report.when}: failure report", report.longreprtext))


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.longrepr is not None:
        _texts.append((report.nodeid, "collection error", report.longreprtext))


def find_leaks(
    texts: Iterable[tuple[str, str, str]], secrets: Iterable[str]
) -> list[tuple[str, str, str]]:
    """``(nodeid, where, masked secret)`` for every secret found in ``texts``.

    Token-shaped secrets are matched through a regex pass over each text (fast
    with thousands of tokens); anything else by substring search.
    """
    remaining = set(secrets)
    classes: list[tuple[re.Pattern[str], set[str]]] = []
    for pattern in _SHAPES:
        shaped = {s for s in remaining if pattern.fullmatch(s)}
        remaining -= shaped
        classes.append((pattern, shaped))
    leaks: list[tuple[str, str, str]] = []
    for nodeid, where, text in texts:
        found = {s for s in remaining if s in text}
        for pattern, shaped in classes:
            if not shaped:
                continue
            candidates = pattern.findall(text)
            if candidates:
                exact = shaped.intersection(candidates)
                found |= exact
                # A secret glued to other characters of its alphabet is still a leak.
                found.update(s for s in shaped - exact if any(s in c for c in candidates))
        leaks.extend((nodeid, where, _mask(s)) for s in sorted(found))
    return leaks


def _mask(secret: str) -> str:
    return f"{secret[:3]}…({len(secret)} chars)"


_leaks: list[tuple[str, str, str]] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leaks = find_leaks([t for t in _texts if t[0] not in _exempt], _secrets)
    _leaks[:] = leaks
    if not leaks:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"SECRET LEAK: {len(leaks)} secret occurrence(s) in captured test output:"]
    lines.extend(f"  {nodeid} [{where}]: {masked}" for nodeid, where, masked in leaks[:50])
    for line in lines:
        if reporter is not None:
            reporter.write_line(line, red=True, bold=True)
        else:
            print(line)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    verdict = f"{len(_leaks)} LEAK(S)" if _leaks else "no leak"
    terminalreporter.write_line(
        f"secret scan: {len(_texts)} captured texts searched for {len(_secrets)} secrets: {verdict}"
    )
