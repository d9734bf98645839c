"""The secrets-exposed check: a server that hands token secrets to anyone.

Review Board 8.1 checks no permission on ``/api/users/?expand=api_tokens``:
anonymous requests get every user's tokens, secrets included. The stand-in
does the same (``fix_expand_leak`` and ``sitewide_login`` turn it off). The
real server is checked in ``tests/integration/test_audit_live.py``.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from recording import RecordingTransport

from rbtokens import RBClient, RetryPolicy
from rbtokens.audit import (
    RULES,
    Finding,
    Rules,
    Severity,
    audit,
    audit_stream,
    revoke_findings,
    validate_revoke_rules,
)
from rbtokens.cli import main
from rbtokens.transport import AiohttpTransport, Request
from tools.standin import Fault, FaultKind, FaultRequest, StandIn, serve, serve_in_thread

FAST = RetryPolicy(attempts=2, backoff=0.0001, max_backoff=0.0005)


@pytest.fixture
async def standin() -> AsyncIterator[StandIn]:
    async with serve(users=30, seed=3) as rb:
        yield rb


def admin(rb: StandIn, recorder: RecordingTransport) -> RBClient:
    return RBClient(rb.url, username="admin", password="admin", transport=recorder, retry=FAST)


def anonymous(requests: list[Request]) -> list[Request]:
    return [r for r in requests if not ({"Cookie", "Authorization"} & set(r.headers))]


async def run_audit(rb: StandIn, **kw: Any) -> tuple[Any, list[Request]]:
    recorder = RecordingTransport(AiohttpTransport())
    async with admin(rb, recorder) as client:
        report = await audit(client, **kw)
    return report, recorder.requests


def exposed(report: Any) -> list[Finding]:
    return [f for f in report.findings if f.rule == "secrets-exposed"]


async def test_a_leaking_server_gets_one_critical_server_finding(standin: StandIn) -> None:
    report, requests = await run_audit(standin)
    [finding] = exposed(report)
    assert (finding.username, finding.token_id) == (None, None)
    assert finding.severity is Severity.CRITICAL
    assert report.findings[0] == finding  # the worst finding comes first
    assert report.summary.findings["secrets-exposed"] == 1
    assert report.summary.severities["critical"] == 1
    assert report.complete and report.warnings == []
    # One request without credentials, asking for token ids only: no secret.
    [check] = anonymous(requests)
    assert check.url.path == "/api/users/"
    query = check.url.query
    assert query["expand"] == "api_tokens"
    assert query["only-fields"] == "id,username,api_tokens"
    assert query["only-links"] == "api_tokens"
    # The message names the user and token the server listed.
    owner, token_id = query["q"], standin.dataset.users[query["q"]].tokens[0].id
    assert f"{owner}'s token {token_id}" in finding.message


async def test_the_check_never_receives_a_secret(standin: StandIn) -> None:
    bodies: list[bytes] = []

    class Tap(AiohttpTransport):
        async def send(self, request: Request) -> Any:
            response = await super().send(request)
            bodies.append(response.body)
            return response

    async with RBClient(standin.url, username="admin", password="admin", transport=Tap()) as c:
        report = await audit(c)
    assert exposed(report)
    body = b"".join(bodies)
    secrets = [t.token for u in standin.dataset.users.values() for t in u.tokens]
    assert secrets and not any(s.encode() in body for s in secrets)


@pytest.mark.parametrize("setting", ["sitewide_login", "fix_expand_leak"])
async def test_a_server_that_does_not_leak_gets_no_finding(standin: StandIn, setting: str) -> None:
    setattr(standin, setting, True)
    report, requests = await run_audit(standin)
    assert exposed(report) == []
    assert report.warnings == [] and report.complete
    assert len(anonymous(requests)) == 1  # it was checked


async def test_the_rule_turned_off_sends_nothing_anonymous(standin: StandIn) -> None:
    rules = Rules(enabled=tuple(r for r in RULES if r != "secrets-exposed"))
    report, requests = await run_audit(standin, rules=rules)
    assert anonymous(requests) == []
    assert "secrets-exposed" not in report.summary.findings


async def test_no_usable_token_means_nothing_to_check() -> None:
    async with serve(users=5, seed=1, tokens_per_user=(0, 0)) as rb:
        report, requests = await run_audit(rb)
    assert anonymous(requests) == [] and exposed(report) == []


async def test_a_failed_check_is_a_warning_not_a_failure(standin: StandIn) -> None:
    def fail_anonymous(request: FaultRequest) -> Fault | None:
        if request.path == "/api/users/" and "expand=" in request.query_string:
            return Fault(FaultKind.UNAVAILABLE)
        return None

    standin.faults = fail_anonymous
    report, requests = await run_audit(standin)
    assert exposed(report) == []
    assert len(anonymous(requests)) == FAST.attempts  # retried like any GET
    [warning] = report.warnings
    assert warning.startswith("could not check whether token secrets are exposed:")
    # Every user was still audited: the report is complete.
    assert report.complete and report.failures == []


async def test_the_stream_yields_the_server_finding(standin: StandIn) -> None:
    client = RBClient(standin.url, username="admin", password="admin")
    async with client, audit_stream(client) as stream:
        rules = [f.rule async for f in stream]
    assert rules.count("secrets-exposed") == 1


async def test_server_findings_cannot_be_revoked(standin: StandIn) -> None:
    with pytest.raises(ValueError, match="secrets-exposed names no single token"):
        validate_revoke_rules({"secrets-exposed"})
    report, _ = await run_audit(standin)
    async with RBClient(standin.url, username="admin", password="admin") as client:
        # A server finding among the findings is skipped, not sent as a DELETE.
        results = await revoke_findings(client, report.findings, rules={"no-expiry"})
    assert results and all(r.username is not None for r in results)


def test_the_command_reports_it_and_exits_1() -> None:
    with serve_in_thread(users=10, seed=3) as rb:
        args = ["audit", "--server", rb.url, "--username", "admin", "--password", "admin"]
        out, err = io.StringIO(), io.StringIO()
        code = main([*args, "-o", "json", "--fail-on", "critical"], stdout=out, stderr=err)
        assert code == 1
        doc = json.loads(out.getvalue())
        [finding] = [f for f in doc["findings"] if f["rule"] == "secrets-exposed"]
        assert finding["username"] is None and finding["token_id"] is None
        assert finding["severity"] == "critical"
        out = io.StringIO()
        code = main([*args, "-o", "table", "--fail-on", "critical"], stdout=out, stderr=err)
        assert code == 1
        assert "(server)" in out.getvalue() and "secrets-exposed" in out.getvalue()


async def test_the_standin_expands_tokens_like_review_board(standin: StandIn) -> None:
    url = standin.url + "api/users/?max-results=5&expand=api_tokens"
    async with aiohttp.ClientSession() as session, session.get(url) as rsp:
        doc = await rsp.json(content_type=None)
    user = next(u for u in doc["users"] if u["api_tokens"])
    assert "api_tokens" not in user["links"]  # the expanded link gives way
    assert user["_expanded"]["api_tokens"]["item_mimetype"].endswith(".api-token+json")
    assert user["api_tokens"][0]["token"].startswith("rbp_")  # to anyone, as 8.1 does
    # only-fields applies to the inlined tokens; without api_tokens, no expansion.
    trimmed = url + "&only-fields=id,username&only-links="
    async with aiohttp.ClientSession() as session, session.get(trimmed) as rsp:
        doc = await rsp.json(content_type=None)
    assert all(set(u) == {"id", "username"} for u in doc["users"])
