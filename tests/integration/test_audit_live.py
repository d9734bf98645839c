"""The audit against the real Review Board 8.1 site the suite starts.

The seed holds one example of each rule (tools/rbsite.py ``AUDIT_FIXTURES``);
the audit must find exactly those. Tokens created here belong to alice and are
deleted after each test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from recording import RecordingTransport, is_anonymous

from rbtokens import RBClient
from rbtokens.auditing import RULES, audit, audit_stream, revoke_findings
from rbtokens.transport import AiohttpTransport, Request, Response

pytestmark = pytest.mark.integration


def admin(site: Any, **kw: Any) -> RBClient:
    return RBClient(site.url, username=site.admin_username, password=site.admin_password, **kw)


def expected_findings(site: Any) -> set[tuple[str | None, str]]:
    """(username, rule) per seeded risk, and (None, rule) for the site's own."""
    users = site.manifest["users"]
    return {(u["username"], rule) for u in users for rule in u["expect_rules"]} | {
        (None, rule) for rule in site.manifest["server_rules"]
    }


def every_username(site: Any) -> set[str]:
    return {u["username"] for u in site.manifest["users"]} | {
        u["username"] for u in site.manifest["other_users"]
    }


@pytest.fixture(autouse=True)
async def no_leftover_tokens(rb_site: Any) -> AsyncIterator[None]:
    """Delete alice's tokens after each test, so the seed stays as the manifest says."""
    yield
    async with admin(rb_site) as client:
        for token in await (await client.tokens.list("alice", per_page=200)).all():
            await client.tokens.revoke(token)


def test_the_seed_has_an_example_of_every_rule(rb_site: Any) -> None:
    assert set(rb_site.manifest["rules"]) | set(rb_site.manifest["server_rules"]) == set(RULES)
    assert {rule for _user, rule in expected_findings(rb_site)} == set(RULES)


async def test_the_audit_finds_exactly_the_seeded_risks(rb_site: Any) -> None:
    async with admin(rb_site) as client:
        report = await audit(client)
    assert {(f.username, f.rule) for f in report.findings} == expected_findings(rb_site)
    s = report.summary
    assert report.failures == [] and s.complete
    users = every_username(rb_site)
    assert (s.users_listed, s.users_audited) == (len(users), len(users))
    assert s.inactive_users == sum(
        1
        for u in [*rb_site.manifest["users"], *rb_site.manifest["other_users"]]
        if not u["is_active"]
    )
    seeded = {(t["username"], t["id"]) for t in rb_site.manifest["tokens"]}
    others = sum(u["token_count"] for u in rb_site.manifest["other_users"])
    assert seeded <= {(r.username, r.id) for r in report.tokens}
    assert s.tokens_seen == len(seeded) + others
    # Each token-level finding names the seeded token that carries it.
    by_id = {t["id"]: t for t in rb_site.manifest["tokens"]}
    for f in report.findings:
        if f.token_id is not None:
            assert f.rule in by_id[f.token_id]["expect_rules"], f
    # The records agree with the manifest.
    for record in report.tokens:
        spec = by_id.get(record.id)
        if spec is not None:
            assert record.valid is spec["valid"]
            assert record.deprecated is (spec["token_generator_id"] == "legacy_sha1")
            assert (record.expires is None) is (spec["expires"] is None)
    assert s.findings == {
        rule: sum(1 for _u, r in expected_findings(rb_site) if r == rule) for rule in RULES
    }


async def test_one_password_check_per_audit(rb_site: Any) -> None:
    recorder = RecordingTransport(AiohttpTransport())
    async with admin(rb_site, transport=recorder) as client:
        report = await audit(client, concurrency=16, walk="per-user")
        assert client.stats.logins == 1
    basic = recorder.with_header("Authorization", "Basic ")
    assert len(basic) == 1
    assert report.summary.logins == 1
    assert report.summary.requests == len(recorder.requests)
    # Every other request rode on the session cookie, but for the two sent
    # without credentials on purpose (the secrets-exposed check).
    cookie = recorder.with_header("Cookie", "rbsessionid=")
    anonymous = [r for r in recorder.requests if is_anonymous(r)]
    assert len(cookie) == len(recorder.requests) - 3 and len(anonymous) == 2
    # Users pages: inactive users included, 200 a page; token lists: no secrets asked for.
    users_pages = [r for r in recorder.requests if r.url.path == "/api/users/"]
    assert users_pages and all(r.url.query["include-inactive"] == "1" for r in users_pages)
    token_lists = [r for r in recorder.requests if r.url.path.endswith("/api-tokens/")]
    assert len(token_lists) == report.summary.users_audited
    assert all("token," not in r.url.query["only-fields"] + "," for r in token_lists)


async def test_the_audit_never_receives_a_secret(rb_site: Any) -> None:
    tap = RecordingTransport(AiohttpTransport())
    async with admin(rb_site, transport=tap) as client:
        await audit(client)
    secrets = [t["token"] for t in rb_site.manifest["tokens"]]
    body = b"".join(response.body for _request, response in tap.exchanges)
    assert b"api_tokens" in body
    assert not any(s.encode() in body for s in secrets)


async def test_a_user_whose_token_list_fails_is_listed_under_failures(rb_site: Any) -> None:
    victim = rb_site.manifest["rule_examples"]["stale"]

    def fail_one(request: Request) -> Response | None:
        if request.url.path.endswith(f"/users/{victim}/api-tokens/"):
            return Response(500, {"content-type": "text/html"}, b"<h1>Server Error (500)</h1>")
        return None

    recorder = RecordingTransport(AiohttpTransport(), intercept=fail_one)
    async with admin(rb_site, transport=recorder) as client:
        report = await audit(client, walk="per-user")
    assert [(f.username, f.error_type, f.http_status) for f in report.failures] == [
        (victim, "ServerBugError", 500)
    ]
    assert not report.complete
    expected = {pair for pair in expected_findings(rb_site) if pair[0] != victim}
    assert {(f.username, f.rule) for f in report.findings} == expected
    users = every_username(rb_site)
    assert report.summary.users_audited == len(users) - 1
    assert report.summary.users_failed == 1


async def test_the_stream_yields_the_same_findings(rb_site: Any) -> None:
    async with admin(rb_site) as client:
        stream = audit_stream(client, concurrency=4)
        async with stream:
            streamed = {(f.username, f.rule) async for f in stream}
    assert streamed == expected_findings(rb_site)
    assert stream.report is not None and stream.report.complete


async def test_only_named_users_and_remediation(rb_site: Any) -> None:
    now = datetime.now(UTC)
    async with admin(rb_site) as client:
        # tokens.create refuses a past expiry; the raw list resource does not.
        tokens_list = await (await client.get_root()).get_api_tokens(username="alice")
        old = await tokens_list.create(
            note="integration: expired",
            policy={},
            expires=(now - timedelta(days=2)).isoformat(),
        )
        keep = await client.tokens.create(
            "alice",
            note="integration: fine",
            expires=now + timedelta(days=60),
            policy={"resources": {"*": {"allow": ["GET"], "block": ["*"]}}},
        )
        report = await audit(client, users=["alice"])
        assert report.summary.users_audited == 1
        assert {(f.token_id, f.rule) for f in report.findings} == {
            (old.id, "expired"),
            (None, "secrets-exposed"),  # checked with alice's tokens
        }
        # keep was created just now: unused, but not for 30 days, so no finding.
        dry = await revoke_findings(client, report.findings, rules=["expired"])
        assert [(r.token_id, r.action) for r in dry] == [(old.id, "would-revoke")]
        assert await client.tokens.find(old.id, username="alice") is not None
        done = await revoke_findings(client, report.findings, rules=["expired"], apply=True)
        assert [(r.token_id, r.action) for r in done] == [(old.id, "revoked")]
        assert await client.tokens.find(old.id, username="alice") is None
        assert await client.tokens.find(keep.id, username="alice") is not None


SITEWIDE_LOGIN = """
from djblets.siteconfig.models import SiteConfiguration
siteconfig = SiteConfiguration.objects.get_current()
siteconfig.set("auth_require_sitewide_login", {value})
siteconfig.save()
"""


async def test_secrets_exposed_is_checked_without_credentials(rb_site: Any) -> None:
    # Review Board 8.1 as installed serves every token to anonymous requests
    # (the seed's server rule); "require login to view anything" refuses them.
    tap = RecordingTransport(AiohttpTransport())
    async with admin(rb_site, transport=tap) as client:
        report = await audit(client)
    [finding] = [f for f in report.findings if f.rule == "secrets-exposed"]
    assert (finding.username, finding.token_id, finding.severity) == (None, None, "critical")
    assert report.summary.exposure_check == "exposed"
    checks = [(q, r) for q, r in tap.exchanges if is_anonymous(q)]
    assert [q.url.path.count("/") for q, _r in checks] == [4, 3]  # /api/users/<u>/, /api/users/
    # The server listed tokens to nobody in particular, but only their ids.
    secrets = [t["token"].encode() for t in rb_site.manifest["tokens"]]
    for _q, response in checks:
        assert response.status == 200 and b'"api_tokens": [{"id": ' in response.body
        assert not any(secret in response.body for secret in secrets)

    rb_site.manage(SITEWIDE_LOGIN.format(value=True))
    tap = RecordingTransport(AiohttpTransport())
    try:
        async with admin(rb_site, transport=tap) as client:
            report = await audit(client)
    finally:
        rb_site.manage(SITEWIDE_LOGIN.format(value=False))
    assert [f for f in report.findings if f.rule == "secrets-exposed"] == []
    assert report.summary.exposure_check == "anonymous-refused" and report.complete
    [warning] = report.warnings
    assert "logged-in users" in warning
    checks = [(q, r) for q, r in tap.exchanges if is_anonymous(q)]
    assert [r.status for _q, r in checks] == [401, 401]
    assert {(f.username, f.rule) for f in report.findings} == {
        pair for pair in expected_findings(rb_site) if pair[0] is not None
    }
