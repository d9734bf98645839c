"""Real clients against the served stand-in: rbtokens, and RBTools in a thread."""

from __future__ import annotations

import pytest

from rbtokens import (
    RBClient,
)
from tools.standin import (
    StandIn,
    serve_in_thread,
)


async def test_rbtokens_client_logs_in_once(rb: StandIn) -> None:
    before = rb.stats.logins
    async with RBClient(rb.url, username="admin", password="admin") as client:
        root = await client.get_root()
        users = await root.get_users(include_inactive=True, max_results=200)
        seen = 0
        for user in users:
            tokens = await user.get_api_tokens()
            seen += len(tokens)
    assert seen == rb.dataset.token_count
    assert rb.stats.logins == before + 1


def test_serve_in_thread_for_synchronous_clients() -> None:
    rbtools_client = pytest.importorskip("rbtools.api.client")
    with serve_in_thread(users=5, seed=2) as rb:
        client = rbtools_client.RBClient(
            rb.url, username="admin", password="admin", allow_caching=False, save_cookies=False
        )
        users = client.get_root().get_users(include_inactive=1, max_results=200)
        assert users.total_results == 6
        tokens = [len(u.get_api_tokens()) for u in users]
        assert sum(tokens) == rb.dataset.token_count
        assert rb.stats.logins == 1
