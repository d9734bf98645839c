"""``revoke_findings``: a dry run unless applied; failures reported; what cannot be revoked."""

from __future__ import annotations

import pytest
from auditkit import NOW, client_for

from rbtokens import RBClient
from rbtokens.auditing import Finding, Severity, audit, revoke_findings, validate_revoke_rules
from rbtokens.transport import MockTransport
from tools.standin.testing import FakeReviewBoard


async def test_revoke_is_a_dry_run_unless_applied() -> None:
    fake = FakeReviewBoard(users=4, tokens_per_user=2)
    async with client_for(fake.transport) as client:
        report = await audit(client, now=NOW)
        dry = await revoke_findings(client, report.findings, rules=["no-expiry"])
        assert {r.action for r in dry} == {"would-revoke"}
        assert len(dry) == 8
        assert not any(r.method == "DELETE" for r in fake.requests)
        done = await revoke_findings(
            client, report.findings, rules=["no-expiry", "unrestricted-policy"], apply=True
        )
    assert {r.action for r in done} == {"revoked"}
    assert all(sorted(r.rules) == ["no-expiry", "unrestricted-policy"] for r in done)
    assert sum(r.method == "DELETE" for r in fake.requests) == 8
    assert all(tokens == [] for tokens in fake.tokens.values())


async def test_revoke_reports_each_failure() -> None:
    fake = FakeReviewBoard(users=2, tokens_per_user=1)
    async with client_for(fake.transport) as client:
        report = await audit(client, now=NOW)
        fake.tokens["u000"].clear()  # already gone
        done = await revoke_findings(client, report.findings, rules=["no-expiry"], apply=True)
    assert [(r.username, r.action) for r in done] == [("u000", "failed"), ("u001", "revoked")]
    assert "does not exist" in (done[0].error or "")


async def test_revoke_refuses_per_user_rules() -> None:
    fake = FakeReviewBoard(users=1)
    async with client_for(fake.transport) as client:
        with pytest.raises(ValueError, match="too-many-tokens"):
            await revoke_findings(client, [], rules=["too-many-tokens"])
        with pytest.raises(ValueError, match="unknown"):
            await revoke_findings(client, [], rules=["nope"])


def test_server_findings_cannot_be_revoked() -> None:
    with pytest.raises(ValueError, match="secrets-exposed names no single token"):
        validate_revoke_rules({"secrets-exposed"})


async def test_revoking_skips_server_findings() -> None:
    server = Finding(
        username=None, token_id=None, rule="secrets-exposed", severity=Severity.CRITICAL, message=""
    )
    token = Finding(
        username="u", token_id=7, rule="no-expiry", severity=Severity.MEDIUM, message=""
    )
    async with RBClient("https://rb.test/", transport=MockTransport(lambda r: None)) as client:
        results = await revoke_findings(client, [server, token], rules={"no-expiry"})
    assert [(r.username, r.token_id) for r in results] == [("u", 7)]
