"""The aiohttp adapter: the stand-in on a socket, with the wire-level faults.

Use it three ways::

    # in-process server, async (tests)
    async with serve(users=50, seed=1) as rb:
        rb.url, rb.stats.logins

    # in a background thread (synchronous clients such as RBTools)
    with serve_in_thread(users=50) as rb: ...

    # a separate process (benchmarks): prints its URL, serves until SIGTERM
    python -m tools.standin --users 1000 --delay 0.02 --port 0

Only this adapter resets connections (RST via ``SO_LINGER 0``), truncates
bodies, stalls, and sends Review Board 8.1's ``204`` with a body
(``delete_quirk``). Knobs (``delay``, ``faults``, ``sitewide_login``...)
may be changed while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from aiohttp import web

from rbtokens import MockTransport, Request, Response

from .context import Behaviour
from .core import ReviewBoard
from .dataset import Dataset
from .faults import Fault, FaultKind, FaultPolicy
from .inprocess import as_transport
from .records import UserRecord
from .service import ServerCost, Service, build_service
from .stats import StandInStats

__all__ = ["StandIn", "serve", "serve_in_thread", "start_standin"]


class _Knob:
    """A :class:`Behaviour` field, readable and settable on the :class:`StandIn`."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: StandIn | None, owner: type) -> Any:
        return self if obj is None else getattr(obj.core.behaviour, self.name)

    def __set__(self, obj: StandIn, value: Any) -> None:
        setattr(obj.core.behaviour, self.name, value)


class StandIn:
    """A running stand-in; build it with :func:`start_standin` or :func:`serve`.

    ``url`` is the site root (``http://127.0.0.1:PORT/``), ``api_url`` the API
    root. ``stats`` counts requests, logins (Basic password checks), faults
    and rate-limit buckets. :meth:`as_transport` talks to the same core
    without the socket.
    """

    etags = _Knob()
    delete_quirk = _Knob()
    fix_invalidate_bug = _Knob()
    sitewide_login = _Knob()
    fix_expand_leak = _Knob()
    expansion = _Knob()

    def __init__(self, dataset: Dataset, **options: Any) -> None:
        self.service: Service = build_service(dataset, **options)
        self.core: ReviewBoard = self.service.core
        self.dataset = dataset
        self.url = ""
        self.api_url = ""
        self.origin = ""
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()

    # -- knobs and state ----------------------------------------------------

    @property
    def behaviour(self) -> Behaviour:
        return self.core.behaviour

    @property
    def delay(self) -> float:
        return self.service.delay

    @delay.setter
    def delay(self, value: float) -> None:
        self.service.delay = value

    @property
    def faults(self) -> FaultPolicy | None:
        return self.service.faults

    @faults.setter
    def faults(self, policy: FaultPolicy | None) -> None:
        self.service.faults = policy

    @property
    def cost(self) -> ServerCost:
        return self.service.cost

    @cost.setter
    def cost(self, value: ServerCost) -> None:
        self.service.cost = value

    @property
    def stats(self) -> StandInStats:
        return self.service.stats

    def reset_stats(self) -> None:
        """Zero the counters (and the per-request attempt history of faults)."""
        self.service.reset_stats()

    def user(self, username: str) -> UserRecord:
        """A user's record (tests may read or change it)."""
        return self.dataset.users[username]

    def changed(self, username: str, token_id: int | None = None) -> None:
        """Tell the stand-in that a record was changed directly (drops cached payloads)."""
        self.core.changed(username, token_id)

    def as_transport(self, *, remote: str = "127.0.0.1") -> MockTransport:
        """An in-process transport to the same core (no socket)."""
        return as_transport(self.service, remote=remote)

    # -- lifecycle ------------------------------------------------------------

    async def start(self, *, host: str = "127.0.0.1", port: int = 0, warm: bool = True) -> None:
        """Bind, pre-encode the payloads for the bound origin, and serve."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        site = web.SockSite(self._runner, sock, backlog=1024)
        await site.start()
        bound = sock.getsockname()[1]
        self.origin = f"http://{host}:{bound}"
        self.url = self.origin + "/"
        self.api_url = self.origin + "/api/"
        if warm:
            self.core.payloads_for(self.origin).warm()

    async def aclose(self) -> None:
        """Stop serving (stalled responses end at once)."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> StandIn:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- the socket side --------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read() if request.body_exists else None
        req = Request(request.method, request.url, dict(request.headers), body)

        async def stall(fault: Fault) -> None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), fault.stall_seconds)

        outcome = await self.service.respond(req, remote=request.remote or "", on_stall=stall)
        if outcome.response is None:
            return _reset(request)
        answer = outcome.response
        if outcome.wire is not None and outcome.wire.kind is FaultKind.TRUNCATE:
            return await _truncated(request, answer)
        if answer.status == 204 and answer.body:
            return _delete_with_body(request, answer.body)
        return web.Response(status=answer.status, headers=answer.headers, body=answer.body or None)


def _reset(request: web.Request) -> web.Response:
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=500)


async def _truncated(request: web.Request, answer: Response) -> web.StreamResponse:
    # The real answer's status and headers, half its body, then close.
    body = answer.body or b'{"stat": "ok"}'
    resp = web.StreamResponse(status=answer.status, headers=answer.headers)
    resp.content_length = len(body)
    await resp.prepare(request)
    await resp.write(body[: len(body) // 2])
    if request.transport is not None:
        request.transport.close()
    return resp


def _delete_with_body(request: web.Request, body: bytes) -> web.Response:
    # Review Board 8.1 sends "204 No Content" *with* a body.
    transport = request.transport
    if transport is not None:
        transport.write(
            b"HTTP/1.1 204 No Content\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        transport.close()
    return web.Response(status=204)


async def start_standin(
    *,
    users: int = 0,
    seed: int = 0,
    tokens_per_user: tuple[int, int] = (0, 3),
    inactive_fraction: float = 0.1,
    dataset: Dataset | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    warm: bool = True,
    **options: Any,
) -> StandIn:
    """Generate a dataset (or use ``dataset``), start serving, return the :class:`StandIn`.

    ``options``: ``delay`` (seconds added to every response), ``faults`` (a
    :data:`~.faults.FaultPolicy`, e.g. a :class:`~.faults.FaultPlan`),
    ``cost`` (:class:`~.service.ServerCost`), ``rate_limits``
    (:class:`~.ratelimit.RateLimits`, off by default), ``cookies`` and the
    :class:`~.context.Behaviour` knobs (``etags``, ``delete_quirk``,
    ``fix_invalidate_bug``, ``sitewide_login``, ``fix_expand_leak``,
    ``expansion``).
    """
    if dataset is None:
        dataset = Dataset.generate(
            users,
            seed=seed,
            tokens_per_user=tokens_per_user,
            inactive_fraction=inactive_fraction,
        )
    standin = StandIn(dataset, **options)
    await standin.start(host=host, port=port, warm=warm)
    return standin


@contextlib.asynccontextmanager
async def serve(**kwargs: Any) -> AsyncIterator[StandIn]:
    """``async with serve(users=10) as rb:`` — :func:`start_standin`, closed on exit."""
    standin = await start_standin(**kwargs)
    try:
        yield standin
    finally:
        await standin.aclose()


@contextlib.contextmanager
def serve_in_thread(**kwargs: Any) -> Iterator[StandIn]:
    """Run the stand-in on its own event loop in a daemon thread (for sync clients)."""
    loop = asyncio.new_event_loop()
    ready: list[StandIn] = []
    failed: list[BaseException] = []
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            ready.append(loop.run_until_complete(start_standin(**kwargs)))
        except BaseException as exc:  # noqa: BLE001 - reported to the caller's thread
            failed.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="standin", daemon=True)
    thread.start()
    started.wait()
    if failed:
        raise failed[0]
    standin = ready[0]
    try:
        yield standin
    finally:
        asyncio.run_coroutine_threadsafe(standin.aclose(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
