"""Running an audit: :func:`audit` for the report, :func:`audit_stream` for findings as found."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Self

import anyio
from anyio.abc import TaskGroup

from ..errors import first_error
from .choose import WalkChoice
from .protocols import AuditClient, ProgressCallback
from .report import Failure, Finding, Report
from .ruleset import Rules
from .runner import WAIT_MAX, Auditor

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectReceiveStream

__all__ = ["AuditStream", "audit", "audit_stream"]


async def audit(
    client: AuditClient,
    *,
    concurrency: int | None = None,
    rules: Rules | None = None,
    now: datetime | None = None,
    users: Iterable[str] | None = None,
    local_sites: Iterable[str] = (),
    progress: ProgressCallback | None = None,
    walk: WalkChoice = "auto",
    wait: bool = False,
    wait_max: float = WAIT_MAX,
) -> Report:
    """Audit every API token on the server (or those of ``users``).

    ``client`` must log in with a password, as an administrator to see every
    user's tokens. ``walk`` is ``auto`` (the bulk listing for a login shown
    to be an administrator's, verified; else one token list per user),
    ``bulk`` or ``per-user``; ``report.summary.walk`` and ``walk_reason``
    say which ran and why. At most ``concurrency`` requests are in flight
    (default: 4 users pages for the bulk walk, 32 token lists per user).
    ``now`` (aware) fixes the clock the rules use. With ``wait``, a closed
    rate-limit window of up to ``wait_max`` seconds is waited out; a longer
    one ends the audit incomplete, with ``summary.retry_at``. Each of
    ``local_sites`` (Review Board's ``/s/<name>/`` sites, whose tokens the
    global root does not list) is audited the same way, and its tokens,
    findings and failures carry its name. Users whose tokens cannot be read
    are listed in ``report.failures``. A refused login raises
    :class:`~rbtokens.errors.AuthenticationError`.
    """
    auditor = Auditor(
        client,
        concurrency=concurrency,
        rules=rules,
        now=now,
        users=users,
        local_sites=local_sites,
        progress=progress,
        walk=walk,
        wait=wait,
        wait_max=wait_max,
    )
    try:
        return await auditor.run()
    except ExceptionGroup as group:
        raise first_error(group) from None


class AuditStream:
    """Findings as they are found; see :func:`audit_stream`.

    Iterate it inside its ``async with`` block; afterwards ``report`` holds
    the full :class:`Report`. ``failures`` grows while the audit runs.
    """

    def __init__(self, auditor: Auditor, buffer: int) -> None:
        self._auditor = auditor
        self._buffer = buffer
        self.report: Report | None = None
        self._tg: TaskGroup | None = None
        self._recv: MemoryObjectReceiveStream[Finding] | None = None
        self._error: BaseException | None = None

    @property
    def failures(self) -> Sequence[Failure]:
        """Users (or users pages) that could not be read so far."""
        return self._auditor.failures

    async def __aenter__(self) -> Self:
        send, recv = anyio.create_memory_object_stream[Finding](self._buffer)
        self._recv = recv

        async def sink(found: list[Finding]) -> None:
            for finding in found:
                await send.send(finding)

        self._auditor.sink = sink

        async def run() -> None:
            with send:
                try:
                    self.report = await self._auditor.run()
                except anyio.get_cancelled_exc_class():
                    raise
                except BaseException as exc:  # noqa: BLE001 - re-raised at iteration end
                    self._error = exc

        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(run)
        return self

    def __aiter__(self) -> AsyncIterator[Finding]:
        if self._recv is None:
            raise RuntimeError("iterate an AuditStream inside its `async with` block")
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Finding]:
        assert self._recv is not None
        async for finding in self._recv:
            yield finding
        if self._error is not None:
            error, self._error = self._error, None
            raise first_error(error) if isinstance(error, BaseExceptionGroup) else error

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._tg is not None and self._recv is not None
        if exc is not None or self.report is None:
            # Left early (break or error): stop the walk.
            self._tg.cancel_scope.cancel()
        self._recv.close()
        # The body's own exception (if any) propagates untouched after this.
        await self._tg.__aexit__(None, None, None)
        if exc is None and self._error is not None:
            error = self._error
            raise first_error(error) if isinstance(error, BaseExceptionGroup) else error


def audit_stream(
    client: AuditClient,
    *,
    concurrency: int | None = None,
    rules: Rules | None = None,
    now: datetime | None = None,
    users: Iterable[str] | None = None,
    local_sites: Iterable[str] = (),
    progress: ProgressCallback | None = None,
    walk: WalkChoice = "auto",
    wait: bool = False,
    wait_max: float = WAIT_MAX,
    buffer: int = 256,
) -> AuditStream:
    """Like :func:`audit`, but yield each :class:`Finding` as soon as it is found.

    The bulk walk hands its findings on once it is verified, all at once.

    ::

        async with audit_stream(client) as stream:
            async for finding in stream:
                print(finding.username or "(server)", finding.rule)
        report = stream.report
    """
    auditor = Auditor(
        client,
        concurrency=concurrency,
        rules=rules,
        now=now,
        users=users,
        local_sites=local_sites,
        progress=progress,
        walk=walk,
        wait=wait,
        wait_max=wait_max,
    )
    return AuditStream(auditor, buffer)
