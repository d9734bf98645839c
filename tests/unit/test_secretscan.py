"""The leak-scanning plugin (tests/secretscan.py) bites: run it on leaking tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import secretscan

TESTS_DIR = Path(__file__).resolve().parents[1]
REPO = TESTS_DIR.parent

LEAKY = """
import logging
import types

import pytest
from secretscan import register_secret

import rbtokens.wire.decoding

register_secret("hunter2-registered")
TOKEN_BODY = (
    b'{"stat": "ok", "api_token": {"id": 1, "token": "rbp_'
    + b"Q" * 245 + b'000000", "links": {}}}'
)


@pytest.fixture(scope="session")
def rb_site():
    manifest = {
        "admin": {"username": "admin", "password": "admin-manifest-pw"},
        "users": [{"username": "u1", "password": "u1-manifest-pw"}],
        "tokens": [{"token": "rbp_" + "M" * 251}],
    }
    return types.SimpleNamespace(manifest=manifest, admin_password="admin-manifest-pw")


def test_prints_registered(capfd):
    print("oops hunter2-registered")


def test_logs_manifest_password(rb_site):
    logging.getLogger("rbtokens.x").debug("password is %s", "u1-manifest-pw")


def test_fails_with_manifest_token(rb_site):
    secret = "rbp_" + "M" * 251
    assert secret == "nope"


def test_prints_decoded_token():
    tok = rbtokens.wire.decoding.decode_response(
        200, {"content-type": "application/vnd.reviewboard.org.api-token+json"}, TOKEN_BODY
    )
    print(tok.token)


@pytest.mark.shows_secrets
def test_exempt():
    print("hunter2-registered")


def test_consumed_by_capsys(capsys):
    print("hunter2-registered")
    assert "hunter2" in capsys.readouterr().out


def test_clean():
    print("nothing to see")
"""


def run_pytest(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_leaky.py").write_text(textwrap.dedent(source))
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), str(REPO)]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "secretscan",
            "-p",
            "no:cacheprovider",
            "-q",
            "-W",
            "error",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_leaks_fail_the_run_and_name_the_test(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, LEAKY)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    leak_lines = [line for line in out.splitlines() if line.startswith("  test_leaky.py::")]
    leaked = {line.split(" [")[0].strip().split("::")[1] for line in leak_lines}
    assert leaked == {
        "test_prints_registered",
        "test_logs_manifest_password",
        "test_fails_with_manifest_token",
        "test_prints_decoded_token",
    }, out
    # The report names where, never the secret itself.
    assert "hunter2-registered" not in "\n".join(leak_lines)
    assert "SECRET LEAK" in out


def test_clean_run_passes(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "def test_ok():\n    print('fine')\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SECRET LEAK" not in result.stdout


def test_find_leaks_matches_tokens_and_passwords() -> None:
    token = "rbp_" + "a1" * 100
    legacy = "0123456789abcdef0123456789abcdef01234567"
    texts = [
        ("t1", "out", f"x{token}y"),
        ("t2", "log", "pw=s3cret-pw;"),
        ("t3", "out", "clean"),
        ("t4", "out", f"etag {legacy}ff"),
        ("t5", "out", f"token {legacy}."),
    ]
    leaks = secretscan.find_leaks(texts, {token, "s3cret-pw", legacy})
    assert [(n, w) for n, w, _ in leaks] == [("t1", "out"), ("t2", "log"), ("t4", "out"),
                                             ("t5", "out")]  # fmt: skip
    assert all(token not in m and "s3cret" not in m and legacy not in m for _, _, m in leaks)
