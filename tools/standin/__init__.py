"""A Review Board 8.1 stand-in: one dataset, one core, two adapters.

It answers what rbtokens touches the way Review Board 8.1 does, from
payloads shaped like the captured ones in ``tests/fixtures/``; the layers:

``records``, ``dataset``
    Users and tokens as plain data (:class:`Dataset`), generated from a seed
    or built by hand.
``core`` (with ``auth``, ``ratelimit``, ``users``, ``apitokens``, ``paging``,
``payloads``, ``forms``, ``extradata``, ``wire``)
    :class:`ReviewBoard`: ``rbtokens.Request`` → ``rbtokens.Response``, no
    I/O: authentication, cookies, paging, ``expand``, errors, token writes,
    rate limits, and 8.1's bugs as knobs (:class:`Behaviour`).
``service``, ``faults``
    Delay, fault injection (:class:`FaultPlan`), server cost
    (:class:`ServerCost`) and the control endpoints, shared by the adapters.
``inprocess``
    :func:`as_transport` / :class:`InProcess`: an ``rbtokens.MockTransport``,
    no socket (unit tests).
``server``, ``cli``
    :class:`StandIn` on an aiohttp socket (:func:`serve`,
    :func:`serve_in_thread`, ``python -m tools.standin``), which also does
    the wire-level faults.
``testing``
    Builders for unit tests (``FakeReviewBoard``, ``FakeTokenServer``) on the
    same dataset and core.

Control endpoints (not Review Board's): ``GET /__standin__/stats`` (the
counters plus a summary of the dataset, as JSON) and ``POST
/__standin__/reset-stats``. Accounts: ``admin``/``admin`` (superuser);
generated users ``audit_00000``... with password ``password``.
"""

from __future__ import annotations

from .cli import main
from .context import Behaviour
from .core import ReviewBoard
from .dataset import Dataset
from .faults import Fault, FaultKind, FaultPlan, FaultPolicy, FaultRequest, unit_hash
from .inprocess import InProcess, as_transport
from .ratelimit import RateLimits
from .records import TokenKind, TokenRecord, UserRecord
from .server import StandIn, serve, serve_in_thread, start_standin
from .service import BUSY_81, ServerCost, Service
from .stats import StandInStats

__all__ = [
    "BUSY_81",
    "Behaviour",
    "Dataset",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "FaultPolicy",
    "FaultRequest",
    "InProcess",
    "RateLimits",
    "ReviewBoard",
    "ServerCost",
    "Service",
    "StandIn",
    "StandInStats",
    "TokenKind",
    "TokenRecord",
    "UserRecord",
    "as_transport",
    "main",
    "serve",
    "serve_in_thread",
    "start_standin",
    "unit_hash",
]
