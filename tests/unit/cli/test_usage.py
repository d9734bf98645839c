"""Usage: options, help, exit codes, logging verbosity, and unexpected errors.

The ``rbtokens`` command against an in-memory Review Board (``FakeTokenServer``).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from clikit import LOGIN, run, seeded

from rbtokens.cli import EPILOG, VERBS, main
from tools.standin.testing import BASE, FakeTokenServer


def test_options_may_come_before_the_verb() -> None:
    fake = seeded()
    out = io.StringIO()
    code = main([*LOGIN, "-o", "json", "whoami"], transport=fake.transport, stdout=out)
    assert code == 0 and json.loads(out.getvalue())["username"] == "admin"


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    fake = seeded()
    code, _out, err = run(fake, "whoami", login=False)
    assert code == 2 and "no server" in err
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
    assert main([]) == 2
    capsys.readouterr()


def test_a_refused_password_exits_2() -> None:
    fake = seeded()
    out, err = io.StringIO(), io.StringIO()
    argv = ["audit", "--server", BASE, "--username", "admin", "--password", "wrong"]
    assert main(argv, transport=fake.transport, stdout=out, stderr=err) == 2
    assert "password was not correct" in err.getvalue() and "wrong" not in err.getvalue()


def test_help_documents_the_exit_codes() -> None:
    assert "0    success" in EPILOG and "1    audit" in EPILOG and "2    incomplete" in EPILOG
    assert "130  interrupted" in EPILOG
    proc = subprocess.run(
        [sys.executable, "-m", "rbtokens", "audit", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "exit codes:" in proc.stdout and "--fail-on" in proc.stdout


def test_help_does_not_import_rich_or_yaml() -> None:
    code = (
        "import sys, rbtokens.cli\n"
        "try:\n    rbtokens.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('rich', 'yaml') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    "argv",
    [
        ["whoami", "--timeout", "0"],
        ["whoami", "--timeout", "nan"],
        ["whoami", "--timeout", "-5"],
        ["rotate", "1", "--grace", "-1"],
        ["rotate", "1", "--grace", "inf"],
        ["create", "--note", "x", "--expires-in", "nan"],
        ["create", "--note", "x", "--expires-in", "1e300"],
        ["audit", "--stale-days", "inf"],
        ["audit", "--max-tokens", "-1"],
        ["get", "-3"],
        ["revoke", "0"],
    ],
)
def test_numeric_options_are_checked(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    fake = seeded()
    with pytest.raises(SystemExit) as exc:
        run(fake, *argv)
    assert exc.value.code == 2
    assert fake.requests == []
    assert "Traceback" not in capsys.readouterr().err


def test_an_unexpected_error_exits_2_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    async def boom(client: object, args: object, out: object) -> int:
        raise RuntimeError("kaboom rbp_" + "A" * 40)

    monkeypatch.setitem(VERBS, "whoami", boom)
    code, _out, err = run(seeded(), "whoami")
    assert code == 2
    assert "unexpected error: RuntimeError: kaboom" in err
    assert "Traceback" not in err and "A" * 40 not in err


def test_verbose_logs_requests_and_quiet_silences_warnings() -> None:
    _code, _out, err = run(seeded(), "whoami", "-v")
    assert "GET " in err and "/api/" in err
    _code, _out, err = run(seeded(), "whoami")
    assert "GET " not in err
    policy = '{"resources": {"*": {"allow": ["*"]}, "user": {"bob": {"block": ["*"]}}}}'
    argv = ["create", "--owner", "alice", "--note", "x", "--policy", policy]
    _code, _out, err = run(FakeTokenServer(), *argv)
    assert "WARNING" in err and "policy" in err
    _code, _out, err = run(FakeTokenServer(), *argv, "-q")
    assert "WARNING" not in err
