"""Cancellation closes every connection and leaves no task behind.

The stand-in runs on its own loop in a thread here, so every task and every
client-side socket in the test's loop belongs to rbtokens: after a cancelled
audit there must be none left, and the stand-in must see no request in flight.
A Ctrl-C in the CLI is a real SIGINT to a real ``rbtokens audit`` process.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from faultkit import LeakCheck, admin_client, register_tokens, settle

from rbtokens.auditing import audit, audit_stream
from tools.standin import Fault, FaultKind, FaultRequest, StandIn, serve_in_thread

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 23, tzinfo=UTC)


@pytest.fixture(scope="module")
def threaded() -> Iterator[StandIn]:
    with serve_in_thread(users=3000, seed=7, delay=0.01) as rb:
        register_tokens(rb)
        yield rb


def reset(rb: StandIn) -> None:
    rb.faults = None
    rb.reset_stats()


async def until(condition: Any) -> None:
    assert await settle(condition, timeout=30), "the condition never came true"


async def start_audit(rb: StandIn, **kw: Any) -> asyncio.Task[Any]:
    async def run() -> Any:
        async with admin_client(rb.url) as client:
            return await audit(client, concurrency=32, now=NOW, walk="per-user", **kw)

    task = asyncio.create_task(run())
    await until(lambda: rb.stats.requests >= 200 or task.done())
    assert not task.done()
    return task


async def test_cancel_mid_audit(threaded: StandIn, leak_check: LeakCheck) -> None:
    reset(threaded)
    task = await start_audit(threaded)
    await until(lambda: threaded.stats.in_flight > 0)  # requests are really in flight
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # leak_check: no task, no fd, no unclosed session; the server sees them all end.
    await until(lambda: threaded.stats.in_flight == 0)


def client_connections(server_url: str) -> int:
    """ESTABLISHED TCP connections from this process's side to the server's port."""
    port = int(server_url.rsplit(":", 1)[1].strip("/"))
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote_port = int(fields[2].split(":")[1], 16)
        if remote_port == port and fields[3] == "01":
            count += 1
    return count


async def test_cancel_while_requests_stall(threaded: StandIn, leak_check: LeakCheck) -> None:
    reset(threaded)

    def stall_late(req: FaultRequest) -> Fault | None:
        return Fault(FaultKind.STALL, stall_seconds=3) if req.index > 150 else None

    threaded.faults = stall_late
    try:
        task = await start_audit(threaded)
        await until(lambda: threaded.stats.faults["stall"] >= 20)
        assert client_connections(threaded.url) >= 20
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The stalled answers never came, yet every client connection is closed now.
        await until(lambda: client_connections(threaded.url) == 0)
    finally:
        threaded.faults = None
    # leak_check then waits for the stand-in's stalled handlers (3 s) to let go too.


async def test_timeout_around_an_audit(threaded: StandIn, leak_check: LeakCheck) -> None:
    reset(threaded)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3), admin_client(threaded.url) as client:
            await audit(client, concurrency=32, now=NOW, walk="per-user")
    assert threaded.stats.requests > 0
    await until(lambda: threaded.stats.in_flight == 0)


async def test_leaving_an_audit_stream_early(threaded: StandIn, leak_check: LeakCheck) -> None:
    reset(threaded)
    async with admin_client(threaded.url) as client:
        stream = audit_stream(client, concurrency=32, now=NOW, walk="per-user")
        async with stream:
            async for _finding in stream:
                break
    assert stream.report is None
    await until(lambda: threaded.stats.in_flight == 0)


# -- Ctrl-C in the CLI -----------------------------------------------------------------


def _stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "__standin__/stats", timeout=10) as resp:
        data: dict[str, Any] = json.load(resp)
        return data


def _wait(condition: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def standin_process() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.standin", "--users", "4000", "--delay", "0.02"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://"), url
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_ctrl_c_in_the_cli(standin_process: str) -> None:
    url = standin_process
    urllib.request.urlopen(
        urllib.request.Request(url + "__standin__/reset-stats", method="POST"), timeout=10
    ).close()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "PYTHONDEVMODE": "1",  # shows ResourceWarnings and asyncio's leak reports
        "PYTHONWARNINGS": "always",
    }
    cli = subprocess.Popen(
        [sys.executable, "-m", "rbtokens.cli", "--server", url, "--username", "admin",
         "--password", "admin", "audit", "--walk", "per-user", "--concurrency", "32", "-o", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )  # fmt: skip
    try:
        _wait(lambda: _stats(url)["requests"] >= 150 or cli.poll() is not None)
        assert cli.poll() is None, "the audit ended before it could be interrupted"
        cli.send_signal(signal.SIGINT)
        out, err = cli.communicate(timeout=30)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.communicate()
    assert cli.returncode == 130, err
    assert "interrupted" in err
    for bad in ("Traceback", "Unclosed", "ResourceWarning", "Task was destroyed",
                "Exception ignored", "never awaited"):  # fmt: skip
        assert bad not in err, err
    assert out.strip() == ""  # no half report
