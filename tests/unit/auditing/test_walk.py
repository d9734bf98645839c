"""The audit's walk on an in-memory server: every user, one login, bounded concurrency, failures."""

from __future__ import annotations

import json

import pytest
from auditkit import (
    DAY,
    NOW,
    READ_ONLY_DOC,
    Probe,
    client_for,
    is_basic,
    token_requests,
    users_requests,
)

from rbtokens import LoginFailedError, PasswordLoginRequiredError, RBClient
from rbtokens.auditing import TOKEN_FIELDS, audit
from rbtokens.transport import MockTransport, Request, Response
from tools.standin.testing import BASE, FakeReviewBoard, error, token_payload, user_payload


async def test_audits_every_user_inactive_ones_included_with_one_login() -> None:
    fake = FakeReviewBoard(users=450, tokens_per_user=2)
    async with client_for(fake.transport) as client:
        report = await audit(client, walk="per-user", now=NOW)
    s = report.summary
    inactive = sum(1 for u in fake.users if not u["is_active"])
    assert inactive > 0
    assert (s.users_listed, s.users_audited, s.users_failed) == (450, 450, 0)
    assert s.inactive_users == inactive
    assert s.tokens_seen == len(report.tokens) == 900
    assert s.complete and report.complete and report.failures == []
    assert {r.username for r in report.tokens} == {u["username"] for u in fake.users}
    # One password check in all: the client's count and the wire agree.
    assert s.logins == 1
    assert sum(map(is_basic, fake.requests)) == 1
    # The root, 3 users pages, 450 token lists and the two anonymous requests of
    # the secrets-exposed check; no page was fetched twice.
    assert s.requests == len(fake.requests) == 456
    starts = sorted(r.url.query.get("start", "0") for r in users_requests(fake.requests))
    assert starts == ["0", "200", "400"]
    for r in users_requests(fake.requests):
        assert r.url.query["include-inactive"] == "1"
        assert r.url.query["max-results"] == "200"
    for r in token_requests(fake.requests):
        assert r.url.query["only-fields"] == TOKEN_FIELDS
        assert r.url.query["max-results"] == "200"
    assert json.loads(report.to_json())["summary"]["tokens_seen"] == 900


async def test_findings_match_the_tokens() -> None:
    fake = FakeReviewBoard(users=3, tokens_per_user=1)
    # u000: fine; u001: no expiry (the fixture default); u002 is inactive.
    fine = {"expires": (NOW + 60 * DAY).isoformat(), "policy": READ_ONLY_DOC}
    fake.tokens["u000"][0].update(fine, last_used=(NOW - DAY).isoformat())
    fake.tokens["u001"][0].update(policy=READ_ONLY_DOC, last_used=(NOW - DAY).isoformat())
    fake.tokens["u002"][0].update(fine, last_used=(NOW - DAY).isoformat())
    async with client_for(fake.transport) as client:
        report = await audit(client, walk="per-user", now=NOW)
    got = {(f.username, f.rule) for f in report.findings}
    assert got == {("u001", "no-expiry"), ("u002", "inactive-owner")}
    assert report.summary.findings["no-expiry"] == 1
    assert report.summary.findings["stale"] == 0
    assert report.summary.severities == {
        "info": 0,
        "low": 0,
        "medium": 2,
        "high": 0,
        "critical": 0,
    }
    assert report.at_least("high") == []
    assert [f.rule for f in report.at_least("medium")] == ["no-expiry", "inactive-owner"]


async def test_concurrency_is_bounded_and_used() -> None:
    probe = Probe(FakeReviewBoard(users=60, tokens_per_user=1))
    async with client_for(probe.transport) as client:
        report = await audit(client, walk="per-user", concurrency=5, now=NOW)
    assert report.summary.users_audited == 60
    assert probe.max_in_flight == 5


async def test_users_pages_are_fetched_concurrently_and_token_lists_start_early() -> None:
    probe = Probe(FakeReviewBoard(users=650, tokens_per_user=0))
    probe.delays = {"200": 0.05, "400": 0.05, "600": 0.3}
    async with client_for(probe.transport) as client:
        report = await audit(client, walk="per-user", concurrency=8, now=NOW)
    assert report.summary.users_audited == 650
    started = [label for kind, label in probe.events if kind == "start"]
    ended = [label for kind, label in probe.events if kind == "end"]
    pages = [label for label in started if label.startswith("/api/users/?")]
    # The three pages after the first were all asked for before any answered.
    first_answer = next(
        i for i, lbl in enumerate(ended) if "start=200" in lbl or "start=400" in lbl
    )
    asked = [i for i, (kind, lbl) in enumerate(probe.events) if kind == "start" and "start=" in lbl]
    answered = probe.events.index(("end", ended[first_answer]))
    assert len(pages) == 4 and len(asked) == 3 and max(asked) < answered
    # Token listings ran while the slow last page was still on its way.
    last_page_end = probe.events.index(
        next(e for e in probe.events if e[0] == "end" and "start=600" in e[1])
    )
    early = [
        i
        for i, (kind, lbl) in enumerate(probe.events)
        if kind == "start" and "api-tokens" in lbl and i < last_page_end
    ]
    assert len(early) > 100


async def test_a_user_whose_tokens_cannot_be_read_is_a_failure() -> None:
    fake = FakeReviewBoard(users=12, tokens_per_user=1)
    fake.overrides[("GET", "/api/users/u005/api-tokens/")] = lambda r: Response(
        500, {"content-type": "text/html"}, b"<html>boom</html>"
    )
    async with client_for(fake.transport) as client:
        report = await audit(client, walk="per-user", now=NOW)
    s = report.summary
    assert not s.complete and not report.complete
    assert [(f.username, f.error_type, f.http_status) for f in report.failures] == [
        ("u005", "ServerBugError", 500)
    ]
    assert (s.users_listed, s.users_audited, s.users_failed) == (12, 11, 1)
    assert "u005" not in {r.username for r in report.tokens}


async def test_a_users_page_that_fails_is_a_failure_too() -> None:
    probe = Probe(FakeReviewBoard(users=450, tokens_per_user=0))

    async def broken(request: Request) -> Response | None:
        if request.url.path == "/api/users/" and request.url.query.get("start") == "200":
            return error(403, 101, "You don't have permission")
        return None

    probe.hooks.append(broken)
    async with client_for(probe.transport) as client:
        report = await audit(client, walk="per-user", now=NOW)
    assert [(f.username, f.http_status) for f in report.failures] == [(None, 403)]
    assert report.failures[0].error.startswith("users 201-400: ")
    assert report.summary.users_audited == 250
    assert report.summary.users_failed == 0  # no user is named, but the audit is incomplete
    assert not report.summary.complete
    # The failure explains the gap; no warning blames deleted users for it.
    assert report.warnings == []


async def test_users_deleted_during_the_walk_are_not_skipped() -> None:
    """Deleting a user on page 1 shifts page 2 by one: the user sliding back onto page 1
    must still be audited (the list is read again) and the report must add up."""
    fake = FakeReviewBoard(users=450, tokens_per_user=1)
    deleted: list[str] = []
    orig = fake.handle

    def handle(request: Request) -> Response:
        if (
            request.url.path == "/api/users/"
            and request.url.query.get("start") == "200"
            and not deleted
        ):
            deleted.append(fake.users.pop(5)["username"])
        return orig(request)

    async with client_for(MockTransport(handle)) as client:
        report = await audit(client, walk="per-user", now=NOW, concurrency=1)
    audited = {t.username for t in report.tokens}
    assert {u["username"] for u in fake.users} <= audited  # u200 included
    assert report.complete and report.failures == []
    assert any("read again" in w for w in report.warnings)


async def test_a_users_list_that_keeps_changing_makes_the_audit_incomplete() -> None:
    fake = FakeReviewBoard(users=450, tokens_per_user=0)
    orig = fake.handle
    count = [0]

    def handle(request: Request) -> Response:
        if request.url.path == "/api/users/" and request.url.query.get("start") == "200":
            # Every read of page 2 happens after one more user on page 1 was deleted.
            count[0] += 1
            fake.users.pop(count[0])
        return orig(request)

    async with client_for(MockTransport(handle)) as client:
        report = await audit(client, walk="per-user", now=NOW)
    assert not report.complete and not report.summary.complete
    (failure,) = report.failures
    assert failure.username is None and failure.error_type == "UsersListChanged"
    assert "run the audit again" in failure.error


async def test_a_non_admin_audit_stops_early_with_one_failure() -> None:
    fake = FakeReviewBoard(users=212, tokens_per_user=1)
    seen: list[str] = []

    def handle(request: Request) -> Response:
        parts = request.url.path.split("/")
        if request.url.path.endswith("/api-tokens/") and parts[3] != "u000":
            seen.append(parts[3])
            return error(403, 101, "You don't have permission for this")
        return fake.handle(request)

    async with client_for(MockTransport(handle)) as client:
        report = await audit(client, walk="per-user", now=NOW, concurrency=4)
    (failure,) = report.failures
    assert failure.username is None and failure.http_status == 403
    assert "administrator" in failure.error
    assert not report.complete
    assert len(seen) < 10  # not 211 identical 403s


async def test_429_retry_after_is_honoured_and_reported() -> None:
    fake = FakeReviewBoard(users=4, tokens_per_user=1)
    hits: list[int] = []

    def limited(request: Request) -> Response:
        hits.append(1)
        if len(hits) == 1:
            limited = error(429, 114, "slow down")
            limited.headers["retry-after"] = "0.05"
            return limited
        fake.overrides.pop(("GET", "/api/users/u002/api-tokens/"))
        return fake.handle(request)

    fake.overrides[("GET", "/api/users/u002/api-tokens/")] = limited
    async with client_for(fake.transport) as client:
        report = await audit(client, walk="per-user", now=NOW)
    assert report.complete
    assert report.summary.retries == 1
    assert 0.05 <= report.summary.rate_limited_seconds < 1


async def test_a_refused_login_raises() -> None:
    fake = FakeReviewBoard(users=3)
    async with client_for(fake.transport, password="wrong") as client:
        with pytest.raises(LoginFailedError):
            await audit(client, walk="per-user", now=NOW)
    assert sum(map(is_basic, fake.requests)) == 1


async def test_an_api_token_login_cannot_audit() -> None:
    fake = FakeReviewBoard(users=3)
    async with RBClient(BASE, api_token="rbp_" + "x" * 251, transport=fake.transport) as client:
        with pytest.raises(PasswordLoginRequiredError):
            await audit(client, walk="per-user")
    assert fake.requests == []


async def test_only_named_users() -> None:
    fake = FakeReviewBoard(users=6, tokens_per_user=1)
    async with client_for(fake.transport) as client:
        report = await audit(
            client, walk="per-user", users=["u001", "u002", "nobody", "u001"], now=NOW
        )
    assert users_requests(fake.requests) == []
    assert {r.username for r in report.tokens} == {"u001", "u002"}
    assert [(f.username, f.error_type) for f in report.failures] == [
        ("nobody", "DoesNotExistError")
    ]
    s = report.summary
    # Every requested user counts as listed: listed == audited + failed.
    assert (s.users_listed, s.users_audited, s.users_failed) == (3, 2, 1)
    assert report.summary.inactive_users == 1  # u002


async def test_users_added_during_the_audit_are_followed() -> None:
    fake = FakeReviewBoard(users=450, tokens_per_user=0)
    probe = Probe(fake)
    grown: list[int] = []

    async def grow(request: Request) -> Response | None:
        if (
            request.url.path == "/api/users/"
            and request.url.query.get("start") == "200"
            and not grown
        ):
            grown.append(1)
            fake.users.extend(user_payload(f"late{i}", 10_000 + i) for i in range(180))
            fake.tokens.update({f"late{i}": [] for i in range(180)})
        return None

    probe.hooks.append(grow)
    async with client_for(probe.transport) as client:
        report = await audit(client, walk="per-user", now=NOW)
    assert report.summary.users_listed == 630
    assert report.summary.users_audited == 630
    owners = {r.url.path.split("/")[3] for r in token_requests(probe.requests)}
    assert {"late0", "late179"} <= owners


async def test_a_user_with_more_than_one_page_of_tokens() -> None:
    fake = FakeReviewBoard(users=2, tokens_per_user=0)
    fake.tokens["u001"] = [token_payload("u001", 5000 + i) for i in range(450)]
    async with client_for(fake.transport) as client:
        report = await audit(client, walk="per-user", now=NOW)
    assert report.summary.tokens_seen == 450
    assert len({r.id for r in report.tokens}) == 450
    pages = [r for r in token_requests(fake.requests) if "u001" in r.url.path]
    assert sorted(r.url.query.get("start", "0") for r in pages) == ["0", "200", "400"]
    assert ("u001", "too-many-tokens") in {(f.username, f.rule) for f in report.findings}
