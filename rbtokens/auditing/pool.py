"""A fixed pool of workers over a queue of jobs, fed while it runs.

A deque plus one wake-up event: cheaper per job than a memory stream, which
yields to the event loop on every receive, or than a task per job, and
cheaper per request than a semaphore (``benchmarks/RESULTS.md`` compares
them). The workers are the bound on requests in flight; work that is not a
job (a users page, the exposure check) runs in a :meth:`Pool.lease`, in the
place of one worker, so the bound holds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

import anyio
from anyio.abc import TaskGroup

__all__ = ["Pool"]

J = TypeVar("J")


class Pool(Generic[J]):
    """Runs ``handle(job)`` for every job submitted, ``size`` at a time."""

    def __init__(self, handle: Callable[[J], Awaitable[None]]) -> None:
        self._handle = handle
        self._jobs: deque[J] = deque()
        self._pending = 0
        self._idle: anyio.Event | None = None
        self._tg: TaskGroup | None = None
        self._workers = 0
        self._leases: deque[anyio.Event] = deque()  # waiting for a worker to step aside
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
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                for _ in range(max(1, size)):
                    self._spawn()
                if producer is not None:
                    try:
                        await producer()
                    finally:
                        self._done()
        finally:
            self._tg = None

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[None]:
        """Run the body in the place of one worker: it steps aside, and is replaced after."""
        if self._tg is not None and self._workers > 0:
            stepped_aside = anyio.Event()
            self._leases.append(stepped_aside)
            self._wake()
            await stepped_aside.wait()
        try:
            yield
        finally:
            if self._tg is not None:
                self._spawn()

    def _spawn(self) -> None:
        assert self._tg is not None
        self._workers += 1
        self._tg.start_soon(self._worker)

    def _done(self) -> None:
        self._pending -= 1
        if self._pending == 0:
            self._wake()

    def _wake(self) -> None:
        if self._idle is not None:
            self._idle.set()
            self._idle = None

    def _leave(self) -> None:
        """This worker ends: hand its place to a lease that waits for one."""
        self._workers -= 1
        if self._leases:
            self._leases.popleft().set()

    async def _worker(self) -> None:
        jobs = self._jobs
        while True:
            if self._leases or (not jobs and self._pending == 0):
                self._leave()
                return
            if not jobs:
                if self._idle is None:
                    self._idle = anyio.Event()
                await self._idle.wait()
                continue
            job = jobs.popleft()
            try:
                await self._handle(job)
            finally:
                self._done()
