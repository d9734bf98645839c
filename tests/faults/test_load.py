"""An audit of 5,000 users at concurrency 64: no errors, no leaks.

``leak_check`` fails the test on a leaked file descriptor, a task left
running, a ``ResourceWarning`` or an "Unclosed client session"; the suite
already runs with warnings as errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from faultkit import LeakCheck, admin_client, register_tokens

from rbtokens.auditing import audit
from tools.standin import FaultPlan, StandIn, start_standin

USERS = 5000
CONCURRENCY = 64


@pytest.fixture(scope="module")
async def big_standin() -> AsyncIterator[StandIn]:
    # A small delay keeps requests in flight at once (the handler would not yield).
    rb = await start_standin(users=USERS, seed=5000, tokens_per_user=(0, 3), delay=0.002)
    register_tokens(rb)
    yield rb
    await rb.aclose()


async def test_audit_of_5000_users_at_concurrency_64(
    big_standin: StandIn, leak_check: LeakCheck
) -> None:
    big_standin.reset_stats()
    async with admin_client(big_standin.url) as client:
        report = await audit(
            client, concurrency=CONCURRENCY, now=datetime.now(UTC), walk="per-user"
        )
    s = report.summary
    assert report.complete and report.failures == [] and report.warnings == []
    assert s.users_listed == s.users_audited == USERS + 1
    assert s.tokens_seen == big_standin.dataset.token_count
    assert s.retries == 0
    assert s.logins == 1 and big_standin.stats.logins == 1  # one password check
    assert big_standin.stats.max_in_flight <= CONCURRENCY
    assert big_standin.stats.max_in_flight > CONCURRENCY // 2  # it really ran concurrently
    assert set(big_standin.stats.status) == {200}


async def test_audit_of_5000_users_under_faults_has_no_leaks(
    big_standin: StandIn, leak_check: LeakCheck
) -> None:
    plan = FaultPlan(reset=0.02, truncate=0.02, unavailable=0.02, seed=9, max_consecutive=3)
    big_standin.reset_stats()
    big_standin.faults = plan
    try:
        async with admin_client(big_standin.url) as client:
            report = await audit(
                client, concurrency=CONCURRENCY, now=datetime.now(UTC), walk="per-user"
            )
    finally:
        big_standin.faults = None
    assert report.complete
    assert report.summary.users_audited == USERS + 1
    assert sum(big_standin.stats.faults.values()) > 100
