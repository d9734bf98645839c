"""Fault injection: which requests fail, and how.

``faults`` (on the stand-in) is any callable ``(FaultRequest) -> Fault |
FaultKind | None``; it is asked once per request (after ``delay``, before
authentication and routing) and may be replaced at run time.
:class:`FaultPlan` is the ready-made one: fractions of requests per fault
kind, decided deterministically from ``seed`` and the request (so the same
requests fault whatever the arrival order), "sticky" faults that never clear
for chosen users, and ``max_consecutive`` so that transient faults clear
after a bounded number of retries.

Status-level faults (``502``, ``503``, ``500``, ``429``) are answers, so every
adapter serves them; wire-level faults (``reset``, ``truncate``, ``stall``)
need a socket: the aiohttp server does them on the wire, the in-process
transport raises what :class:`rbtokens.AiohttpTransport` would raise.
:class:`FaultInjector` keeps the attempt history that
``FaultRequest.attempt`` and ``consecutive_faults`` are computed from.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "STATUS_FAULTS",
    "WIRE_FAULTS",
    "Fault",
    "FaultInjector",
    "FaultKind",
    "FaultPlan",
    "FaultPolicy",
    "FaultRequest",
    "unit_hash",
]


class FaultKind(StrEnum):
    """What an injected fault does on the wire."""

    RESET = "reset"
    """The connection is reset (RST, via ``SO_LINGER 0``) before any byte of a response."""
    BAD_GATEWAY = "502"
    """``502 Bad Gateway`` with a proxy's ``text/html`` page."""
    UNAVAILABLE = "503"
    """``503 Service Unavailable`` with a proxy's ``text/html`` page."""
    SERVER_ERROR = "500"
    """Review Board's own HTML 500 page (its "Something broke!" crash page)."""
    TRUNCATE = "truncate"
    """The real status and headers, a ``Content-Length`` larger than what is sent,
    about half the body, then the connection is closed."""
    STALL = "stall"
    """Nothing is sent for ``Fault.stall_seconds`` (past the client's timeout);
    then the normal answer, if the client is still there."""
    RATE_LIMIT = "429"
    """``429`` with Review Board's code-114 error payload, ``Retry-After:
    <Fault.retry_after>`` and ``X-RateLimit-Limit``."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault to inject, with its parameters."""

    kind: FaultKind
    retry_after: int = 1
    """The ``Retry-After`` seconds of a ``RATE_LIMIT`` fault."""
    stall_seconds: float = 30.0
    """How long a ``STALL`` fault holds the response."""


@dataclass(frozen=True, slots=True)
class FaultRequest:
    """What a fault policy is told about a request."""

    method: str
    path: str
    """The decoded path, e.g. ``/api/users/alice/api-tokens/``."""
    query_string: str
    username: str | None
    """The user whose URL this is (``/api/users/<username>/...``), else None."""
    attempt: int
    """1 the first time this method + path + query arrives, 2 the next, ..."""
    consecutive_faults: int
    """How many of the immediately preceding attempts of the same request were faulted."""
    index: int
    """The request's number in arrival order (1-based)."""
    has_authorization: bool
    """Whether the request carries an ``Authorization`` header (a login)."""


FaultPolicy = Callable[[FaultRequest], "Fault | FaultKind | None"]
"""The ``faults`` hook: any callable from a request to a fault, or None for none."""


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """A deterministic mix of random and sticky faults (a :data:`FaultPolicy`).

    Each rate is the fraction of eligible requests that get that fault (their
    sum must be at most 1). Whether a request is faulted is a pure function
    of ``seed``, its method, path, query and attempt number, so it does not
    depend on the order in which concurrent requests arrive.

    ``sticky`` maps usernames to a fault that every request under
    ``/api/users/<username>/`` gets, always (it ignores ``max_consecutive``
    and the rates). ``max_consecutive`` bounds random faults: once that many
    attempts of the same request in a row were faulted, the next one is
    answered normally, so a client retrying ``max_consecutive + 1`` times
    always gets through. ``paths`` (a regex searched in the path) and
    ``methods`` restrict which requests random faults may hit;
    ``spare_logins`` exempts requests that carry ``Authorization``.
    """

    reset: float = 0.0
    bad_gateway: float = 0.0
    unavailable: float = 0.0
    server_error: float = 0.0
    truncate: float = 0.0
    stall: float = 0.0
    rate_limit: float = 0.0
    sticky: Mapping[str, FaultKind] = field(default_factory=dict)
    seed: int = 0
    retry_after: int = 1
    stall_seconds: float = 30.0
    max_consecutive: int | None = None
    paths: str | None = None
    methods: frozenset[str] = frozenset({"GET", "POST", "PUT", "DELETE"})
    spare_logins: bool = False

    def __post_init__(self) -> None:
        total = sum(rate for _, rate in self._rates())
        if any(rate < 0 for _, rate in self._rates()) or total > 1.0 + 1e-9:
            raise ValueError(f"fault rates must be >= 0 and sum to at most 1 (got {total})")
        object.__setattr__(
            self, "sticky", {user: FaultKind(kind) for user, kind in self.sticky.items()}
        )
        object.__setattr__(self, "methods", frozenset(m.upper() for m in self.methods))

    def _rates(self) -> list[tuple[FaultKind, float]]:
        return [
            (FaultKind.RESET, self.reset),
            (FaultKind.BAD_GATEWAY, self.bad_gateway),
            (FaultKind.UNAVAILABLE, self.unavailable),
            (FaultKind.SERVER_ERROR, self.server_error),
            (FaultKind.TRUNCATE, self.truncate),
            (FaultKind.STALL, self.stall),
            (FaultKind.RATE_LIMIT, self.rate_limit),
        ]

    def _fault(self, kind: FaultKind) -> Fault:
        return Fault(kind, retry_after=self.retry_after, stall_seconds=self.stall_seconds)

    def __call__(self, req: FaultRequest) -> Fault | None:
        """The fault for ``req``, or None."""
        if req.username is not None and req.username in self.sticky:
            return self._fault(self.sticky[req.username])
        if req.method not in self.methods or (self.spare_logins and req.has_authorization):
            return None
        if self.paths is not None and re.search(self.paths, req.path) is None:
            return None
        if self.max_consecutive is not None and req.consecutive_faults >= self.max_consecutive:
            return None
        roll = unit_hash(self.seed, req.method, req.path, req.query_string, req.attempt)
        edge = 0.0
        for kind, rate in self._rates():
            edge += rate
            if roll < edge:
                return self._fault(kind)
        return None

    @classmethod
    def from_json(cls, text: str) -> FaultPlan:
        """Build a plan from a JSON object of its fields (used by the CLI's ``--faults``)."""
        data = json.loads(text)
        if "methods" in data:
            data["methods"] = frozenset(data["methods"])
        return cls(**data)


def unit_hash(*parts: object) -> float:
    """A deterministic number in [0, 1) from ``parts``."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


STATUS_FAULTS = frozenset(
    {FaultKind.BAD_GATEWAY, FaultKind.UNAVAILABLE, FaultKind.SERVER_ERROR, FaultKind.RATE_LIMIT}
)
"""Faults that are an answer (any adapter serves them)."""
WIRE_FAULTS = frozenset({FaultKind.RESET, FaultKind.TRUNCATE, FaultKind.STALL})
"""Faults that need a socket (the in-process transport raises instead)."""


class FaultInjector:
    """Asks the ``policy`` about each request and remembers the attempts."""

    def __init__(self, policy: FaultPolicy | None = None) -> None:
        self.policy = policy
        self._attempts: dict[tuple[str, str], tuple[int, int]] = {}

    def forget(self) -> None:
        """Forget the attempt history (``reset_stats`` does)."""
        self._attempts.clear()

    def decide(
        self,
        *,
        method: str,
        path: str,
        query_string: str,
        index: int,
        has_authorization: bool,
        counts: Counter[str],
    ) -> Fault | None:
        """The fault for this request (counted in ``counts``), or None."""
        policy = self.policy
        if policy is None:
            return None
        key = (method, f"{path}?{query_string}" if query_string else path)
        attempt, streak = self._attempts.get(key, (0, 0))
        username = None
        if path.startswith("/api/users/"):
            rest = path[len("/api/users/") :].split("/", 1)
            if len(rest) == 2 and rest[0]:
                username = rest[0]
        req = FaultRequest(
            method=method,
            path=path,
            query_string=query_string,
            username=username,
            attempt=attempt + 1,
            consecutive_faults=streak,
            index=index,
            has_authorization=has_authorization,
        )
        decided = policy(req)
        fault = Fault(decided) if isinstance(decided, FaultKind) else decided
        self._attempts[key] = (attempt + 1, streak + 1 if fault is not None else 0)
        if fault is not None:
            counts[fault.kind.value] += 1
        return fault
