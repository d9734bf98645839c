"""The bulk walk and the rate-limit budget against a real Review Board 8.1.

``big_site`` (3,000+ users, served by gunicorn) for the bulk walk, ``rb_site``
for a non-administrator, ``rate_limited_site`` (anonymous limit 30/m: cookie
requests count against it) for the budget.
"""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from recording import RecordingTransport, is_anonymous

from rbtokens import RBClient, Report, RetryPolicy
from rbtokens.auditing import audit
from rbtokens.cli import main
from rbtokens.transport import AiohttpTransport

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


def admin(site: Any, **kw: Any) -> RBClient:
    return RBClient(site.url, username=site.admin_username, password=site.admin_password, **kw)


def comparable(report: Report) -> dict[str, Any]:
    s = report.summary
    return {
        "tokens": msgspec.to_builtins(report.tokens),
        "findings": msgspec.to_builtins(report.findings),
        "failures": msgspec.to_builtins(report.failures),
        "counts": (s.users_listed, s.users_audited, s.users_failed, s.inactive_users),
        "usable": s.usable_tokens,
        "exposure": s.exposure_check,
    }


async def test_the_bulk_walk_gives_the_per_user_report(big_site: Any) -> None:
    recorder = RecordingTransport(AiohttpTransport())
    async with admin(big_site, transport=recorder) as client:
        bulk = await audit(client, now=NOW)
    async with admin(big_site) as client:
        per_user = await audit(client, now=NOW, walk="per-user")
    assert bulk.summary.walk == "bulk" and per_user.summary.walk == "per-user"
    assert bulk.complete and per_user.complete
    assert comparable(bulk) == comparable(per_user)
    users = len(big_site.manifest["users"]) + len(big_site.manifest["other_users"])
    assert bulk.summary.users_audited == users
    assert bulk.summary.tokens_seen == len(big_site.manifest["tokens"])
    assert bulk.summary.requests <= math.ceil(users / 200) + 12
    # No answer the audit read carried a token secret.
    secrets = [t["token"].encode() for t in big_site.manifest["tokens"]]
    bodies = [response.body for _request, response in recorder.exchanges]
    assert not any(secret in body for body in bodies for secret in secrets)


async def test_a_non_administrator_never_takes_the_bulk_walk(rb_site: Any) -> None:
    user = next(u for u in rb_site.manifest["users"] if u["is_active"] and not u["is_superuser"])
    recorder = RecordingTransport(AiohttpTransport())
    async with RBClient(
        rb_site.url, username=user["username"], password=user["password"], transport=recorder
    ) as client:
        report = await audit(client, now=NOW, walk="bulk")
    assert report.summary.walk == "per-user"
    assert "not an administrator" in report.summary.walk_reason
    signed_in = [r for r in recorder.requests if not is_anonymous(r)]
    assert not any(r.url.query.get("expand") == "api_tokens" for r in signed_in)


async def test_the_budget_stops_sending_after_the_first_429(rate_limited_site: Any) -> None:
    recorder = RecordingTransport(AiohttpTransport())
    no_waiting = RetryPolicy(attempts=3, backoff=0.01, max_retry_after=0)
    async with admin(rate_limited_site, transport=recorder, retry=no_waiting) as client:
        report = await audit(client, now=NOW, walk="per-user", concurrency=4)
    statuses = [response.status for _request, response in recorder.exchanges]
    first = statuses.index(429)
    refused_after = statuses[first:].count(429)
    assert refused_after <= 4  # at most the requests already in flight
    assert len(statuses) - first <= 4 + 2  # and then nothing, but the anonymous probe
    s = report.summary
    assert not s.complete and s.retry_at is not None
    assert s.retry_at > datetime.now(UTC)
    assert any("nothing is sent before" in f.error for f in report.failures)


def test_with_wait_the_audit_waits_out_the_window_and_completes(
    rate_limited_site: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RBTOKENS_PASSWORD", rate_limited_site.admin_password)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    code = main(
        ["audit", "--server", rate_limited_site.url, "--username",
         rate_limited_site.admin_username, "--walk", "per-user", "--concurrency", "4",
         "--wait", "--wait-max", "120", "-o", "json", "--fail-on", "never"]
    )  # fmt: skip
    out = capsys.readouterr().out
    summary = msgspec.json.decode(out)["summary"]
    assert code == 0 and summary["complete"] is True
    assert summary["rate_limited_seconds"] > 0  # it did wait
    assert summary["retry_at"] is None
