"""A fixed pool of workers over a queue of jobs, fed while it runs.

A deque plus one wake-up event: cheaper per job than a memory stream, which
yields to the event loop on every receive, or than a task per job
(``benchmarks/RESULTS.md`` compares them).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import anyio

__all__ = ["Pool"]

J = TypeVar("J")


class Pool(Generic[J]):
    """Runs ``handle(job)`` for every job submitted, ``size`` at a time."""

    def __init__(self, handle: Callable[[J], Awaitable[None]]) -> None:
        self._handle = handle
        self._jobs: deque[J] = deque()
        self._pending = 0
        self._idle: anyio.Event | None = None
        self.stopped = False

    @property
    def pending(self) -> int:
        """Jobs queued or running, plus producers still running."""
        return self._pending

    def submit(self, job: J) -> None:
        """Queue ``job`` (ignored once the pool is stopped)."""
        if self.stopped:
            return
        self._pending += 1
        self._jobs.append(job)
        self._wake()

    def stop(self) -> None:
        """Drop every queued job and accept no more (running jobs finish)."""
        self.stopped = True
        self._pending -= len(self._jobs)
        self._jobs.clear()
        if self._pending == 0:
            self._wake()

    async def run(self, size: int, producer: Callable[[], Awaitable[None]] | None = None) -> None:
        """Run ``size`` workers until ``producer`` is done and the queue is empty."""
        if producer is not None:
            self._pending += 1
        async with anyio.create_task_group() as tg:
            for _ in range(max(1, size)):
                tg.start_soon(self._worker)
            if producer is not None:
                try:
                    await producer()
                finally:
                    self._done()

    def _done(self) -> None:
        self._pending -= 1
        if self._pending == 0:
            self._wake()

    def _wake(self) -> None:
        if self._idle is not None:
            self._idle.set()
            self._idle = None

    async def _worker(self) -> None:
        jobs = self._jobs
        while True:
            if not jobs:
                if self._pending == 0:
                    return
                if self._idle is None:
                    self._idle = anyio.Event()
                await self._idle.wait()
                continue
            job = jobs.popleft()
            try:
                await self._handle(job)
            finally:
                self._done()
