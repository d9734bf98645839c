"""The in-process adapter: the stand-in behind an :class:`rbtokens.MockTransport`.

No socket: requests go straight to :meth:`Service.respond`. Status-level
faults are answered as on the wire; wire-level faults raise what
:class:`rbtokens.AiohttpTransport` raises for them (``reset`` and
``truncate``: :class:`~rbtokens.ConnectError`, ``stall``:
:class:`~rbtokens.RequestTimeout`, at once). A reset request is not
processed; a truncated one is (as on the wire); a stalled one is not.
"""

from __future__ import annotations

from typing import Any

from rbtokens import ConnectError, MockTransport, Request, RequestTimeout, Response

from .core import ReviewBoard
from .dataset import Dataset
from .faults import Fault, FaultKind
from .service import Service, build_service

__all__ = ["InProcess", "as_transport"]


def as_transport(service: Service, *, remote: str = "127.0.0.1") -> MockTransport:
    """A transport answering from ``service`` (``remote`` is the client's address)."""

    async def stall(fault: Fault) -> None:
        raise RequestTimeout(f"no answer for {fault.stall_seconds} s (injected stall)")

    async def handler(request: Request) -> Response:
        outcome = await service.respond(request, remote=remote, on_stall=stall)
        where = {"method": request.method, "url": str(request.url)}
        wire = outcome.wire
        if wire is not None and wire.kind is FaultKind.RESET:
            raise ConnectError("ClientOSError: connection reset by peer (injected)", **where)
        if wire is not None and wire.kind is FaultKind.TRUNCATE:
            raise ConnectError("truncated body (ClientPayloadError) (injected)", **where)
        assert outcome.response is not None
        return outcome.response

    return MockTransport(handler)


class InProcess:
    """A stand-in with no server: ``.transport`` for an :class:`rbtokens.RBClient`.

    ``InProcess(users=50, seed=1)`` generates a dataset (or takes ``dataset``);
    the other keywords are :class:`~.context.Behaviour` knobs, ``rate_limits``,
    ``delay``, ``faults`` and ``cost``.
    """

    def __init__(
        self,
        *,
        users: int = 0,
        seed: int = 0,
        tokens_per_user: tuple[int, int] = (0, 3),
        inactive_fraction: float = 0.1,
        dataset: Dataset | None = None,
        remote: str = "127.0.0.1",
        **options: Any,
    ) -> None:
        if dataset is None:
            dataset = Dataset.generate(
                users, seed=seed, tokens_per_user=tokens_per_user,
                inactive_fraction=inactive_fraction,
            )  # fmt: skip
        self.service = build_service(dataset, **options)
        self.core: ReviewBoard = self.service.core
        self.dataset = dataset
        self.transport = as_transport(self.service, remote=remote)

    @property
    def stats(self) -> Any:
        return self.service.stats

    @property
    def requests(self) -> list[Request]:
        """Every request sent through ``transport``."""
        return self.transport.requests
