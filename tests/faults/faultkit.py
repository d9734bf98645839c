"""Helpers for the fault-injection, load and cancellation tests (``tests/faults``).

They run against ``tools/standin/`` (``tools.standin``), a Review Board-shaped aiohttp server
with a fault-injection hook. ``leak_check`` wraps a test and fails it if the
test left a connection, a file descriptor, a task, a ``ResourceWarning`` or an
"Unclosed client session" behind.
"""

from __future__ import annotations

import asyncio
import gc
import os
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from secretscan import register_secret

from rbtokens import RBClient, RetryPolicy, Timeouts
from rbtokens.auditing import Report

ADMIN = ("admin", "admin")  # the stand-in's admin account

# Retries that always outlast the stand-in's ``max_consecutive`` bound, with tiny backoff.
FAULT_RETRY = RetryPolicy(attempts=6, backoff=0.001, max_backoff=0.01, max_retry_after=5)
# A stall (30 s by default on the stand-in) must end in a read timeout, quickly.
FAULT_TIMEOUTS = Timeouts(connect=5, read=0.5, total=20)

# Summary fields that measure the run rather than describe the server.
VOLATILE = {"started_at", "elapsed_seconds", "requests", "retries", "rate_limited_seconds"}


def admin_client(url: str, **kw: Any) -> RBClient:
    kw.setdefault("retry", FAULT_RETRY)
    kw.setdefault("timeouts", FAULT_TIMEOUTS)
    return RBClient(url, username=ADMIN[0], password=ADMIN[1], **kw)


def comparable(report: Report) -> dict[str, Any]:
    """The report without what measures the run (time, requests, retries)."""
    data: dict[str, Any] = msgspec.to_builtins(report)
    for key in VOLATILE:
        data["summary"].pop(key, None)
    return data


def register_tokens(standin: Any) -> None:
    """Add every token the stand-in holds to the suite's secret scan."""
    for token in standin.dataset.tokens.values():
        register_secret(token.token)


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


SETTLE_SECONDS = float(os.environ.get("RBTOKENS_LEAK_SETTLE_SECONDS", "15"))


async def settle(condition: Any, *, timeout: float = SETTLE_SECONDS) -> bool:
    """Poll ``condition()`` until true (the server side closes asynchronously)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            return bool(condition())
        gc.collect()
        await asyncio.sleep(0.02)
    return True


@dataclass
class LeakCheck:
    """What a test left behind; see the ``leak_check`` fixture."""

    fds_before: set[str]
    tasks_before: set[asyncio.Task[Any]]
    loop_errors: list[dict[str, Any]] = field(default_factory=list)
    caught: list[warnings.WarningMessage] = field(default_factory=list)


@pytest.fixture
async def leak_check() -> AsyncIterator[LeakCheck]:
    """Fail the test if it leaks fds, tasks, sessions or ResourceWarnings.

    Start any server *before* requesting this fixture's checks to matter:
    servers started inside the test must be closed inside it too.
    """
    loop = asyncio.get_running_loop()
    gc.collect()
    check = LeakCheck(fds_before=open_fds(), tasks_before=set(asyncio.all_tasks()))
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: check.loop_errors.append(context))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield check
            gc.collect()
            await asyncio.sleep(0)
            gc.collect()
        finally:
            loop.set_exception_handler(previous)
    check.caught = list(caught)

    def leftover() -> set[asyncio.Task[Any]]:
        current = asyncio.current_task()
        return {t for t in asyncio.all_tasks() - check.tasks_before if t is not current}

    # A server in this loop ends its connection tasks once it sees the close.
    await settle(lambda: not leftover())
    assert not leftover(), f"background tasks left running: {leftover()}"
    bad = [w for w in caught if issubclass(w.category, ResourceWarning) or "nclosed" in str(w)]
    assert not bad, [str(w.message) for w in bad]
    assert not check.loop_errors, [c.get("message") for c in check.loop_errors]
    assert await settle(lambda: open_fds() <= check.fds_before), (
        f"file descriptors leaked: {sorted(open_fds() - check.fds_before)}"
    )
