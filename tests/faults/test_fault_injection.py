"""Audits under injected faults end with the same report as a clean run; faults
that never clear put every affected user in ``failures``.

The stand-in decides faults deterministically per request and attempt, and
``max_consecutive`` bounds random faults below the client's retry attempts, so
the retrying client always gets through transient ones.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from faultkit import LeakCheck, admin_client, comparable, register_tokens

from rbtokens import RBTokensError, RetryPolicy
from rbtokens.auditing import Report, audit
from tools.standin import Fault, FaultKind, FaultPlan, FaultRequest, StandIn, start_standin

USERS = 300
CONCURRENCY = 16
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

# 10% of requests, spread over every transient fault kind.
TEN_PERCENT = {
    "reset": 0.02,
    "bad_gateway": 0.02,
    "unavailable": 0.02,
    "truncate": 0.015,
    "stall": 0.01,
    "rate_limit": 0.015,
}

# What each never-clearing fault becomes in ``failures``.
STICKY_ERRORS = {
    FaultKind.RESET: "ConnectError",
    FaultKind.BAD_GATEWAY: "HTTPStatusError",
    FaultKind.UNAVAILABLE: "HTTPStatusError",
    FaultKind.SERVER_ERROR: "ServerBugError",
    FaultKind.TRUNCATE: "ConnectError",
    FaultKind.STALL: "RequestTimeout",
    FaultKind.RATE_LIMIT: "RateLimitedError",
}


@pytest.fixture(scope="module")
async def standin() -> AsyncIterator[StandIn]:
    rb = await start_standin(users=USERS, seed=6, tokens_per_user=(0, 4))
    register_tokens(rb)
    yield rb
    await rb.aclose()


@pytest.fixture(scope="module")
async def clean_report(standin: StandIn) -> Report:
    standin.faults = None
    async with admin_client(standin.url) as client:
        report = await audit(client, concurrency=CONCURRENCY, now=NOW, walk="per-user")
    assert report.complete and not report.failures
    assert report.summary.users_audited == USERS + 1
    assert report.summary.tokens_seen == standin.dataset.token_count
    assert report.summary.retries == 0
    return report


async def faulted_audit(standin: StandIn, faults: Any, **client_kw: Any) -> Report:
    standin.reset_stats()
    standin.faults = faults
    try:
        async with admin_client(standin.url, **client_kw) as client:
            return await audit(client, concurrency=CONCURRENCY, now=NOW, walk="per-user")
    finally:
        standin.faults = None


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_ten_percent_faults_give_the_clean_report(
    standin: StandIn, clean_report: Report, leak_check: LeakCheck, seed: int
) -> None:
    plan = FaultPlan(**TEN_PERCENT, seed=seed, max_consecutive=3, stall_seconds=1.0, retry_after=0)
    report = await faulted_audit(standin, plan)
    injected = sum(standin.stats.faults.values())
    assert injected >= 0.05 * standin.stats.requests  # the faults really happened...
    assert len(standin.stats.faults) >= 5  # ...of most kinds
    assert report.summary.retries >= injected - standin.stats.faults.get("stall", 0)
    assert comparable(report) == comparable(clean_report)


@pytest.mark.parametrize("kind", sorted(TEN_PERCENT))
async def test_each_transient_fault_alone_is_absorbed(
    standin: StandIn, clean_report: Report, kind: str
) -> None:
    plan = FaultPlan(**{kind: 0.25}, seed=11, max_consecutive=2, stall_seconds=1.0, retry_after=0)
    report = await faulted_audit(standin, plan)
    assert sum(standin.stats.faults.values()) > 10
    assert comparable(report) == comparable(clean_report)


async def test_without_retries_faults_are_failures_not_silence(
    standin: StandIn, clean_report: Report
) -> None:
    # The same faults with retries off: they must show up, never vanish.
    plan = FaultPlan(**TEN_PERCENT, seed=1, max_consecutive=3, stall_seconds=1.0, retry_after=0)
    report = await faulted_audit(standin, plan, retry=RetryPolicy(attempts=1))
    assert report.failures
    s = report.summary
    assert s.users_audited + s.users_failed == s.users_listed == USERS + 1
    failed = {f.username for f in report.failures}
    assert {t.username for t in report.tokens}.isdisjoint(failed)
    clean_tokens = {(t.username, t.id) for t in clean_report.tokens if t.username not in failed}
    assert {(t.username, t.id) for t in report.tokens} == clean_tokens


async def test_faults_that_never_clear_are_all_in_failures(
    standin: StandIn, clean_report: Report, leak_check: LeakCheck
) -> None:
    names = sorted(u for u in standin.dataset.users if u != "admin")
    victims = {names[i * 7 + 3]: kind for i, kind in enumerate(STICKY_ERRORS)}
    plan = FaultPlan(
        **TEN_PERCENT,
        sticky=victims,
        seed=4,
        max_consecutive=3,
        stall_seconds=1.0,
        retry_after=0,
    )
    report = await faulted_audit(standin, plan)
    by_user = {f.username: f for f in report.failures}
    assert set(by_user) == set(victims)
    for username, kind in victims.items():
        failure = by_user[username]
        assert failure.error_type == STICKY_ERRORS[kind], (username, kind, failure)
        assert failure.error
    s = report.summary
    assert not report.complete and not s.complete
    assert s.users_failed == len(victims)
    assert s.users_audited + s.users_failed == s.users_listed == USERS + 1
    # Everyone else is exactly as in the clean run.
    clean = comparable(clean_report)
    got = comparable(report)
    keep = [t for t in clean["tokens"] if t["username"] not in victims]
    assert got["tokens"] == keep
    assert got["findings"] == [f for f in clean["findings"] if f["username"] not in victims]


async def test_a_users_page_that_never_loads_is_reported(
    standin: StandIn, clean_report: Report
) -> None:
    # Users pages are 200 long: the second page (users 201-301) never loads.
    def policy(req: FaultRequest) -> Fault | None:
        if req.path == "/api/users/" and "start=200" in req.query_string:
            return Fault(FaultKind.UNAVAILABLE)
        return None

    report = await faulted_audit(standin, policy)
    assert not report.complete
    page_failures = [f for f in report.failures if f.username is None]
    assert len(page_failures) == 1
    assert "201" in page_failures[0].error
    assert report.summary.users_listed == 200
    assert report.summary.users_audited == 200


async def test_a_sticky_500_is_not_retried(standin: StandIn, clean_report: Report) -> None:
    victim = sorted(u for u in standin.dataset.users if u != "admin")[5]
    plan = FaultPlan(sticky={victim: FaultKind.SERVER_ERROR})
    report = await faulted_audit(standin, plan)
    assert [f.username for f in report.failures] == [victim]
    assert standin.stats.faults["500"] == 1  # one request: an HTML 500 is not transient


class RateWindow:
    """Review Board's fixed-window limiter for the audit's login: after ``after``
    requests, every request is refused until the window ends, with ``Retry-After`` =
    the seconds left (rounded up). The anonymous secrets-exposed probe draws on the
    address's window, not the login's: it passes."""

    def __init__(self, *, after: int, seconds: float) -> None:
        self.after = after
        self.seconds = seconds
        self.ends: float | None = None
        self.refused = 0

    def __call__(self, req: FaultRequest) -> Fault | None:
        if "expand=api_tokens" in req.query_string:  # the anonymous probe
            return None
        now = time.monotonic()
        if self.ends is None:
            if req.index <= self.after:
                return None
            self.ends = now + self.seconds
        if now >= self.ends:
            return None
        self.refused += 1
        return Fault(FaultKind.RATE_LIMIT, retry_after=max(1, math.ceil(self.ends - now)))


async def test_a_429_window_is_waited_out_and_reported(
    standin: StandIn, clean_report: Report
) -> None:
    window = RateWindow(after=50, seconds=1.0)
    report = await faulted_audit(standin, window)
    assert window.refused >= CONCURRENCY - 1  # every worker in flight hit the limit...
    assert window.refused <= CONCURRENCY  # ...and, once told, nothing more was sent
    assert comparable(report) == comparable(clean_report)  # ...waited, and finished
    # The report shows the waiting as wall-clock time: one window, however many waited.
    s = report.summary
    assert 1.0 <= s.rate_limited_seconds <= s.elapsed_seconds
    assert s.retries >= window.refused


async def test_a_retry_after_beyond_the_cap_fails_fast(
    standin: StandIn, clean_report: Report
) -> None:
    victim = sorted(u for u in standin.dataset.users if u != "admin")[9]
    plan = FaultPlan(sticky={victim: FaultKind.RATE_LIMIT}, retry_after=3600)
    report = await faulted_audit(standin, plan)
    assert standin.stats.faults["429"] == 1  # not waited, not retried
    assert report.summary.rate_limited_seconds == 0
    # The window is the login's, not the URL's: every user not audited yet fails at
    # once, without a request, and says when to come back.
    failed = {f.username: f for f in report.failures}
    assert failed[victim].error_type == "RateLimitedError"
    assert all(f.error_type == "RateLimitedError" for f in report.failures)
    assert all("nothing is sent before" in f.error for f in report.failures if f.username != victim)
    s = report.summary
    assert s.users_audited + s.users_failed == s.users_listed
    assert s.users_failed == len(report.failures)


async def test_logins_are_never_retried_under_faults(standin: StandIn) -> None:
    # Every request that carries a password fails with a reset, once.
    def policy(req: FaultRequest) -> Fault | None:
        return Fault(FaultKind.RESET) if req.has_authorization and req.attempt == 1 else None

    standin.reset_stats()
    standin.faults = policy
    try:
        async with admin_client(standin.url) as client:
            report = await audit(client, concurrency=CONCURRENCY, now=NOW, walk="per-user")
    finally:
        standin.faults = None
    assert report.complete
    assert report.summary.logins == 1  # one login, retried only because it never arrived
    assert standin.stats.logins == 1
    assert standin.stats.failed_logins == 0


@pytest.mark.parametrize("kind", [FaultKind.TRUNCATE, FaultKind.STALL, FaultKind.RESET,
                                  FaultKind.BAD_GATEWAY, FaultKind.UNAVAILABLE])  # fmt: skip
async def test_a_faulted_post_is_sent_once(standin: StandIn, kind: FaultKind) -> None:
    """TRUNCATE creates the token and loses the answer; the others may or may not
    have created it. Either way the POST reaches the server exactly once."""
    owner = sorted(u for u in standin.dataset.users if u != "admin")[2]
    note = f"lost answer {kind}"

    def policy(req: FaultRequest) -> Fault | None:
        return Fault(kind, stall_seconds=1.0) if req.method == "POST" else None

    standin.reset_stats()
    standin.faults = policy
    try:
        async with admin_client(standin.url) as client:
            with pytest.raises(RBTokensError):
                await client.tokens.create(owner, note=note, expires_in=timedelta(days=1))
            assert client.stats.retries == 0
    finally:
        standin.faults = None
    assert standin.stats.faults[kind.value] == 1  # one POST arrived: no retry
    created = [t for t in standin.user(owner).tokens if t.note == note]
    if kind is FaultKind.TRUNCATE:
        assert len(created) == 1  # created, answer lost, and not created again
    elif kind is FaultKind.STALL:
        assert len(created) <= 1  # the server may finish after the client gave up
    else:
        assert created == []  # refused before it reached Review Board


@pytest.mark.parametrize("kind", [FaultKind.RESET, FaultKind.TRUNCATE, FaultKind.UNAVAILABLE])
async def test_a_faulted_put_is_sent_once(standin: StandIn, kind: FaultKind) -> None:
    # aiohttp would quietly resend a PUT after a reset; rbtokens turns that off.
    owner = sorted(u for u in standin.dataset.users if u != "admin")[4]
    token = standin.user(owner).tokens[0] if standin.user(owner).tokens else None
    if token is None:
        token = standin.dataset.add_token(owner)
    seen: list[str] = []

    def policy(req: FaultRequest) -> Fault | None:
        if req.method == "PUT":
            seen.append(req.path)
            return Fault(kind)
        return None

    async with admin_client(standin.url) as client:
        await client.get_root()  # log in (and pool a connection) first
        standin.reset_stats()
        standin.faults = policy
        try:
            with pytest.raises(RBTokensError):
                await client.tokens.update(token.id, username=owner, note="put once")
        finally:
            standin.faults = None
        assert client.stats.retries == 0
    assert len(seen) == 1
