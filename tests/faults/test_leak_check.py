"""The ``leak_check`` fixture bites: run it on tests that leak."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

LEAKY = """
import asyncio
import socket

import aiohttp

from rbtokens import RBClient

kept = []


async def test_unclosed_session(leak_check):
    kept.append(aiohttp.ClientSession())
    kept.clear()


async def test_task_left_running(leak_check):
    kept.append(asyncio.get_running_loop().create_task(asyncio.sleep(3600)))


async def test_socket_left_open(leak_check):
    kept.append(socket.socket())


async def test_clean(leak_check):
    async with RBClient("http://127.0.0.1:9/") as client:
        assert client is not None
"""


def test_leak_check_fails_leaky_tests(tmp_path: Path) -> None:
    shutil.copy(HERE / "conftest.py", tmp_path / "conftest.py")
    shutil.copy(HERE / "faultkit.py", tmp_path / "faultkit.py")
    (tmp_path / "test_leaky.py").write_text(LEAKY)
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "markers =\n    faults: x\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]),
        "RBTOKENS_LEAK_SETTLE_SECONDS": "1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rE", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    out = result.stdout + result.stderr
    errors = {line.split("::")[1].split(" ")[0] for line in out.splitlines()
              if line.startswith("ERROR ")}  # fmt: skip
    assert errors == {"test_unclosed_session", "test_task_left_running", "test_socket_left_open"}, (
        out
    )
    assert "4 passed" in out, out
