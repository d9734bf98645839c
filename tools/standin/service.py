"""The stand-in as a service: the core plus time, faults, server cost and control.

Both adapters run every request through :meth:`Service.respond`; what only a
socket can do (reset, truncate, stall) is left to them, as an
:class:`Outcome`'s ``wire`` fault and the ``on_stall`` hook.

Server cost models a busy Review Board: ``workers`` requests are served at a
time (the rest queue), and each holds its worker for ``per_request`` seconds
plus ``per_expanded_user`` seconds for every user serialized with
``expand=api_tokens`` (8.1 measured: about 3.3 ms per user).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rbtokens import Request, Response

from .context import Behaviour, Expansion
from .core import ReviewBoard
from .dataset import Dataset
from .faults import STATUS_FAULTS, Fault, FaultInjector, FaultKind, FaultPolicy
from .ratelimit import RateLimits
from .stats import StandInStats
from .wire import RB_500, encode, html, proxy_page, rate_limited

__all__ = [
    "BUSY_81",
    "CONTROL_PREFIX",
    "Outcome",
    "ServerCost",
    "Service",
    "build_service",
    "fault_response",
]

CONTROL_PREFIX = "/__standin__/"


@dataclass(frozen=True, slots=True)
class ServerCost:
    """How long answers take on a busy server (see the module docstring)."""

    workers: int | None = None
    per_request: float = 0.0
    per_expanded_user: float = 0.0

    @property
    def free(self) -> bool:
        """No queue and no work: answers are immediate."""
        return self.workers is None and not self.per_request and not self.per_expanded_user


BUSY_81 = ServerCost(workers=8, per_request=0.005, per_expanded_user=0.0033)
"""Review Board 8.1 under gunicorn, roughly: 3.3 ms per user with
``expand=api_tokens`` (0.65 s per 200-user page, measured), 5 ms per request."""


@dataclass(slots=True)
class Outcome:
    """An answer, and a wire fault for the adapter to apply (``reset``: no answer)."""

    response: Response | None
    wire: Fault | None = None


def fault_response(fault: Fault) -> Response:
    """The answer of a status-level fault."""
    kind = fault.kind
    if kind is FaultKind.BAD_GATEWAY:
        return proxy_page(502, "502 Bad Gateway")
    if kind is FaultKind.UNAVAILABLE:
        return proxy_page(503, "503 Service Temporarily Unavailable")
    if kind is FaultKind.SERVER_ERROR:
        return html(500, RB_500)
    if kind is FaultKind.RATE_LIMIT:
        return rate_limited(fault.retry_after, 10000)
    raise ValueError(f"{kind} is not a status-level fault")


class Service:
    """A :class:`ReviewBoard` with ``delay``, ``faults`` and ``cost`` (all changeable)."""

    def __init__(
        self,
        core: ReviewBoard,
        *,
        delay: float = 0.0,
        faults: FaultPolicy | None = None,
        cost: ServerCost | None = None,
    ) -> None:
        self.core = core
        self.delay = delay
        self.injector = FaultInjector(faults)
        self.cost = cost or ServerCost()
        self._workers: asyncio.Semaphore | None = None
        self._workers_for: int | None = None

    @property
    def faults(self) -> FaultPolicy | None:
        return self.injector.policy

    @faults.setter
    def faults(self, policy: FaultPolicy | None) -> None:
        self.injector.policy = policy

    @property
    def stats(self) -> StandInStats:
        return self.core.stats

    def reset_stats(self) -> None:
        """Zero the counters and forget the attempt history of faults."""
        self.core.reset_stats()
        self.injector.forget()

    async def respond(
        self,
        request: Request,
        *,
        remote: str,
        on_stall: Callable[[Fault], Awaitable[None]],
    ) -> Outcome:
        """Delay, control endpoints, faults, then the core (at its cost)."""
        stats = self.core.stats
        stats.requests += 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            url = request.url
            if url.path.startswith(CONTROL_PREFIX):
                return Outcome(self.control(request))
            fault = None
            if self.injector.policy is not None:
                fault = self.injector.decide(
                    method=request.method,
                    path=url.path,
                    query_string=url.raw_query_string,
                    index=stats.requests,
                    has_authorization=any(k.lower() == "authorization" for k in request.headers),
                    counts=stats.faults,
                )
            if fault is None:
                return Outcome(await self.work(request, remote=remote))
            if fault.kind in STATUS_FAULTS:
                return Outcome(fault_response(fault))
            if fault.kind is FaultKind.RESET:
                return Outcome(None, fault)
            if fault.kind is FaultKind.STALL:
                await on_stall(fault)
                return Outcome(await self.work(request, remote=remote))
            return Outcome(await self.work(request, remote=remote), fault)  # truncated
        finally:
            stats.in_flight -= 1

    async def work(self, request: Request, *, remote: str) -> Response:
        """The core's answer, holding a worker for its cost."""
        cost = self.cost
        if cost.free:
            return self.core.handle(request, remote=remote)
        workers = self._semaphore(cost.workers)
        if workers is not None:
            await workers.acquire()
        try:
            answer = self.core.answer(request, remote=remote)
            busy = cost.per_request + cost.per_expanded_user * answer.expanded_users
            if busy > 0:
                self.core.stats.busy_seconds += busy
                await asyncio.sleep(busy)
            return answer.response
        finally:
            if workers is not None:
                workers.release()

    def _semaphore(self, workers: int | None) -> asyncio.Semaphore | None:
        if workers is None:
            return None
        if self._workers is None or self._workers_for != workers:
            self._workers, self._workers_for = asyncio.Semaphore(workers), workers
        return self._workers

    def control(self, request: Request) -> Response:
        """``GET /__standin__/stats`` and ``POST /__standin__/reset-stats``."""
        path = request.url.path
        headers = {"content-type": "application/json"}
        if path == CONTROL_PREFIX + "stats":
            data = self.core.stats.as_dict()
            data["dataset"] = self.core.dataset.summary()
            return Response(200, headers, encode(data))
        if path == CONTROL_PREFIX + "reset-stats" and request.method == "POST":
            self.reset_stats()
            return Response(200, headers, b'{"stat": "ok"}')
        return html(404, "no such control endpoint")


def build_service(
    dataset: Dataset,
    *,
    delay: float = 0.0,
    faults: FaultPolicy | None = None,
    cost: ServerCost | None = None,
    rate_limits: RateLimits | None = None,
    cookies: bool = True,
    etags: bool = True,
    delete_quirk: bool = False,
    fix_invalidate_bug: bool = False,
    sitewide_login: bool = False,
    fix_expand_leak: bool = False,
    expansion: Expansion = "inline",
) -> Service:
    """A :class:`Service` over ``dataset`` with these knobs (see :class:`Behaviour`).

    ``cookies=False`` is a server that keeps no sessions: no ``Set-Cookie``,
    and every request must carry its credentials.
    """
    behaviour = Behaviour(
        etags=etags,
        delete_quirk=delete_quirk,
        fix_invalidate_bug=fix_invalidate_bug,
        sitewide_login=sitewide_login,
        fix_expand_leak=fix_expand_leak,
        expansion=expansion,
    )
    core = ReviewBoard(dataset, behaviour=behaviour, rate_limits=rate_limits)
    core.auth.cookies = cookies
    return Service(core, delay=delay, faults=faults, cost=cost)
