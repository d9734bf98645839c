"""The audit: rules (pure), the walk (against an in-memory server) and remediation."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from recording import is_anonymous

from rbtokens import (
    APIToken,
    LoginFailedError,
    PasswordLoginRequiredError,
    RBClient,
    RetryPolicy,
)
from rbtokens.auditing import (
    DEFAULT_SEVERITIES,
    RULES,
    TOKEN_FIELDS,
    Rules,
    Severity,
    audit,
    audit_stream,
    judge_tokens,
    revoke_findings,
)
from rbtokens.policy import METHODS, POLICY_IDS, READ_ONLY, is_allowed, is_unrestricted
from rbtokens.transport import MockTransport, Request, Response
from tools.standin.testing import BASE, FakeReviewBoard, error, token_payload, user_payload

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
FAST = RetryPolicy(attempts=3, backoff=0.0001, max_backoff=0.0005)
READ_ONLY_DOC = READ_ONLY.to_dict()


# -- rules ----------------------------------------------------------------------------


def token(**fields: Any) -> APIToken:
    """A token that breaks no rule, changed by ``fields``."""
    base: dict[str, Any] = {
        "id": 1,
        "note": "n",
        "policy": READ_ONLY_DOC,
        "expires": NOW + 90 * DAY,
        "expired": False,
        "valid": True,
        "last_used": NOW - DAY,
        "time_added": NOW - 10 * DAY,
        "token_generator_id": "vendor_checksum",
        "deprecated": False,
    }
    base.update(fields)
    return msgspec.convert(base, APIToken)


def rules_of(tokens: list[APIToken], *, active: bool = True, **kw: Any) -> list[str]:
    _records, findings = judge_tokens("u", tokens, active=active, now=NOW, **kw)
    return sorted(f.rule for f in findings)


def test_a_clean_token_has_no_finding() -> None:
    records, findings = judge_tokens("u", [token()], now=NOW)
    assert findings == []
    assert len(records) == 1
    assert records[0].usable and records[0].username == "u"


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"expires": NOW - 3 * DAY, "expired": True, "last_used": NOW - 5 * DAY}, "expired"),
        ({"expires": NOW + 3 * DAY}, "expiring-soon"),
        ({"time_added": NOW - 120 * DAY, "last_used": None}, "never-used"),
        ({"time_added": NOW - 250 * DAY, "last_used": NOW - 200 * DAY}, "stale"),
        ({"expires": None}, "no-expiry"),
        ({"policy": {}}, "unrestricted-policy"),
        ({"policy": {"resources": {"*": {"allow": ["*"]}}}}, "unrestricted-policy"),
        ({"token_generator_id": "legacy_sha1", "deprecated": True}, "deprecated-generator"),
        ({"valid": False, "invalid_reason": "leaked"}, "invalid"),
    ],
)
def test_each_deviation_triggers_exactly_its_rule(fields: dict[str, Any], rule: str) -> None:
    assert rules_of([token(**fields)]) == [rule]


def test_the_servers_expired_flag_or_the_clock_make_a_token_expired() -> None:
    # The server computes ``expired`` per request; a past ``expires`` counts too.
    assert rules_of([token(expires=NOW - DAY, expired=False)]) == ["expired"]
    assert rules_of([token(expired=True)]) == ["expired"]


def test_dead_tokens_only_get_expired_or_invalid() -> None:
    dead = token(
        valid=False,
        expired=True,
        expires=NOW - DAY,
        policy={},
        token_generator_id="legacy_sha1",
        deprecated=True,
        last_used=None,
        time_added=NOW - 400 * DAY,
    )
    assert rules_of([dead], active=False) == ["expired", "invalid"]


def test_inactive_owner_is_reported_for_usable_tokens_only() -> None:
    assert rules_of([token()], active=False) == ["inactive-owner"]
    assert rules_of([token(valid=False)], active=False) == ["invalid"]


def test_inactive_owner_says_the_token_is_refused_until_reactivation() -> None:
    # Review Board refuses an inactive user's tokens (401, code 104): not critical.
    _r, (finding,) = judge_tokens("u", [token()], active=False, now=NOW)
    assert finding.severity is Severity.MEDIUM
    assert "refused now" in finding.message and "reactivated" in finding.message
    assert "works" in finding.message and "the token works" not in finding.message


def test_messages_count_units_and_never_understate_the_threshold() -> None:
    _r, (soon,) = judge_tokens("u", [token(expires=NOW + timedelta(minutes=50))], now=NOW)
    assert soon.message.startswith("expires in 1 hour (")
    _r, (stale,) = judge_tokens("u", [token(last_used=NOW - timedelta(days=90, hours=3))], now=NOW)
    assert stale.message.startswith("last used over 90 days ago (")
    _r, (older,) = judge_tokens("u", [token(last_used=NOW - 120 * DAY)], now=NOW)
    assert older.message.startswith("last used 120 days ago (")
    _r, (never,) = judge_tokens(
        "u", [token(last_used=None, time_added=NOW - timedelta(days=30, hours=1))], now=NOW
    )
    assert never.message == "never used since it was added over 30 days ago"
    assert not hasattr(Rules(), "severity")  # severities live in Rules.severities


def test_too_many_tokens_is_one_finding_per_user() -> None:
    assert rules_of([token(id=i) for i in range(10)]) == []
    _records, findings = judge_tokens("u", [token(id=i) for i in range(11)], now=NOW)
    assert [(f.rule, f.token_id) for f in findings] == [("too-many-tokens", None)]
    assert "11 tokens" in findings[0].message


def test_thresholds_are_configurable() -> None:
    rules = Rules(expiring_soon_days=100, never_used_days=5, stale_days=0.5, max_tokens=1)
    tokens = [token(id=1), token(id=2, last_used=None, time_added=NOW - 6 * DAY)]
    assert rules_of(tokens, rules=rules) == [
        "expiring-soon",
        "expiring-soon",
        "never-used",
        "stale",
        "too-many-tokens",
    ]


def test_disabled_rules_do_not_run_and_severities_can_change() -> None:
    rules = Rules(enabled=("no-expiry",), severities={"no-expiry": "critical"})  # type: ignore[dict-item]
    _r, findings = judge_tokens("u", [token(expires=None, policy={})], rules=rules, now=NOW)
    assert [(f.rule, f.severity) for f in findings] == [("no-expiry", Severity.CRITICAL)]


def test_rules_reject_unknown_names_and_negative_thresholds() -> None:
    with pytest.raises(ValueError, match="unknown rule"):
        Rules(enabled=("expird",))
    with pytest.raises(ValueError, match="negative"):
        Rules(stale_days=-1)


def test_every_rule_has_a_severity_and_the_order_is_info_to_critical() -> None:
    assert set(DEFAULT_SEVERITIES) == set(RULES)
    assert [s.rank for s in Severity] == [0, 1, 2, 3, 4]
    assert Severity("critical").rank > Severity("high").rank


def test_records_hold_no_secret() -> None:
    records, _f = judge_tokens("u", [token(token="rbp_" + "S" * 251)], now=NOW)
    assert "rbp_" not in msgspec.json.encode(records).decode()
    assert "token" not in TOKEN_FIELDS.split(",")


@pytest.mark.parametrize(
    ("policy", "unrestricted"),
    [
        ({}, True),
        ({"resources": {"*": {"allow": ["*"]}}}, True),
        ({"resources": {"*": {"allow": ["GET"]}}}, True),  # the default is allow
        (READ_ONLY_DOC, False),
        ({"resources": {"*": {"block": ["DELETE"]}}}, False),
        ({"resources": {"*": {"block": ["*"], "allow": ["GET", "POST", "PUT", "DELETE"]}}}, True),
        # Blocking one object or one resource does not restrict everything else.
        ({"resources": {"user": {"alice": {"block": ["*"]}}}}, True),
        ({"resources": {"*": {"allow": ["*"]}, "session": {"*": {"block": ["*"]}}}}, True),
        ({"resources": {"*": {"block": ["*"]}, "user": {"*": {"allow": ["*"]}}}}, False),
    ],
)
def test_is_unrestricted(policy: dict[str, Any], unrestricted: bool) -> None:
    assert is_unrestricted(policy) is unrestricted


_names = st.lists(st.sampled_from(METHODS), max_size=3)
_section = st.fixed_dictionaries({}, optional={"allow": _names, "block": _names}).filter(bool)
_objects = st.dictionaries(st.sampled_from(["*", "alice", "7"]), _section, min_size=1, max_size=2)
_policies = st.one_of(
    st.just({}),
    st.builds(
        lambda glob, per: {"resources": {**({"*": glob} if glob else {}), **per}},
        st.one_of(st.none(), _section),
        st.dictionaries(st.sampled_from(["user", "session", "api_token"]), _objects, max_size=2),
    ).filter(lambda p: bool(p["resources"])),
)


@settings(max_examples=300, deadline=None)
@given(_policies)
def test_is_unrestricted_agrees_with_the_servers_evaluation(policy: dict[str, Any]) -> None:
    """Unrestricted means the server lets every method through on resources the policy
    does not name: their requests meet only the global ``*`` section."""
    named = set(policy.get("resources", {}))
    unnamed = [pid for pid in ("review_request", *POLICY_IDS[:3]) if pid not in named]
    every = all(
        is_allowed(policy, pid, method, obj)
        for pid in unnamed
        for method in ("GET", "POST", "PUT", "DELETE")
        for obj in (None, "alice", "7")
    )
    assert is_unrestricted(policy) is every


@settings(max_examples=200, deadline=None)
@given(_policies, st.dictionaries(st.sampled_from(["user", "session"]), _objects, min_size=1))
def test_per_resource_sections_never_make_a_policy_restricted(
    policy: dict[str, Any], extra: dict[str, Any]
) -> None:
    """Adding a block on one resource or object cannot hide a full-access global section."""
    resources = {**policy.get("resources", {}), **extra}
    widened = {"resources": resources}
    assert is_unrestricted(widened) is is_unrestricted(
        {"resources": {"*": resources["*"]}} if "*" in resources else {}
    )


# -- the walk -------------------------------------------------------------------------


class Probe:
    """Wraps the fake server: delays answers and measures requests in flight."""

    def __init__(self, fake: FakeReviewBoard, *, delay: float = 0.002) -> None:
        self.fake = fake
        self.delay = delay
        self.in_flight = 0
        self.max_in_flight = 0
        self.events: list[tuple[str, str]] = []
        self.delays: dict[str, float] = {}
        self.hooks: list[Callable[[Request], Awaitable[Response | None]]] = []
        self.transport = MockTransport(self.handle)

    @property
    def requests(self) -> list[Request]:
        return self.transport.requests

    async def handle(self, request: Request) -> Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        label = str(request.url.relative())
        self.events.append(("start", label))
        try:
            await anyio.sleep(self.delays.get(str(request.url.query.get("start")), self.delay))
            for hook in self.hooks:
                answer = await hook(request)
                if answer is not None:
                    return answer
            return self.fake.handle(request)
        finally:
            self.in_flight -= 1
            self.events.append(("end", label))


def client_for(transport: Any, **kw: Any) -> RBClient:
    kw.setdefault("username", "admin")
    kw.setdefault("password", "pw")
    return RBClient(BASE, transport=transport, retry=FAST, **kw)


def users_requests(requests: list[Request]) -> list[Request]:
    """The walk's users pages (not the anonymous secrets-exposed check)."""
    return [r for r in requests if r.url.path == "/api/users/" and not is_anonymous(r)]


def token_requests(requests: list[Request]) -> list[Request]:
    return [r for r in requests if r.url.path.endswith("/api-tokens/")]


def is_basic(request: Request) -> bool:
    return request.headers.get("Authorization", "").startswith("Basic ")


async def test_audits_every_user_inactive_ones_included_with_one_login() -> None:
    fake = FakeReviewBoard(users=450, tokens_per_user=2)
    async with client_for(fake.transport) as client:
        report = await audit(client, now=NOW)
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
        report = await audit(client, now=NOW)
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
        report = await audit(client, concurrency=5, now=NOW)
    assert report.summary.users_audited == 60
    assert probe.max_in_flight == 5


async def test_users_pages_are_fetched_concurrently_and_token_lists_start_early() -> None:
    probe = Probe(FakeReviewBoard(users=650, tokens_per_user=0))
    probe.delays = {"200": 0.05, "400": 0.05, "600": 0.3}
    async with client_for(probe.transport) as client:
        report = await audit(client, concurrency=8, now=NOW)
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
        report = await audit(client, now=NOW)
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
        report = await audit(client, now=NOW)
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
        report = await audit(client, now=NOW, concurrency=1)
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
        report = await audit(client, now=NOW)
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
        report = await audit(client, now=NOW, concurrency=4)
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
        report = await audit(client, now=NOW)
    assert report.complete
    assert report.summary.retries == 1
    assert 0.05 <= report.summary.rate_limited_seconds < 1


async def test_a_refused_login_raises() -> None:
    fake = FakeReviewBoard(users=3)
    async with client_for(fake.transport, password="wrong") as client:
        with pytest.raises(LoginFailedError):
            await audit(client, now=NOW)
    assert sum(map(is_basic, fake.requests)) == 1


async def test_an_api_token_login_cannot_audit() -> None:
    fake = FakeReviewBoard(users=3)
    async with RBClient(BASE, api_token="rbp_" + "x" * 251, transport=fake.transport) as client:
        with pytest.raises(PasswordLoginRequiredError):
            await audit(client)
    assert fake.requests == []


async def test_only_named_users() -> None:
    fake = FakeReviewBoard(users=6, tokens_per_user=1)
    async with client_for(fake.transport) as client:
        report = await audit(client, users=["u001", "u002", "nobody", "u001"], now=NOW)
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
        report = await audit(client, now=NOW)
    assert report.summary.users_listed == 630
    assert report.summary.users_audited == 630
    owners = {r.url.path.split("/")[3] for r in token_requests(probe.requests)}
    assert {"late0", "late179"} <= owners


async def test_the_stream_yields_each_finding_as_found() -> None:
    fake = FakeReviewBoard(users=30, tokens_per_user=2)
    progress: list[tuple[int, int | None]] = []
    async with client_for(fake.transport) as client:
        stream = audit_stream(client, now=NOW, progress=lambda d, t: progress.append((d, t)))
        async with stream:
            seen = [f async for f in stream]
        report = stream.report
    assert report is not None
    assert seen and sorted(map(msgspec.json.encode, seen)) == sorted(
        map(msgspec.json.encode, report.findings)
    )
    assert progress[-1] == (30, 30)


async def test_leaving_the_stream_early_stops_the_walk() -> None:
    probe = Probe(FakeReviewBoard(users=300, tokens_per_user=1))
    async with client_for(probe.transport) as client:
        stream = audit_stream(client, now=NOW, concurrency=4, buffer=1)
        async with stream:
            async for _finding in stream:
                break
        assert stream.report is None
        sent = len(probe.requests)
        await anyio.sleep(0.05)
        assert len(probe.requests) == sent < 300


async def test_stream_errors_surface() -> None:
    fake = FakeReviewBoard(users=3)
    async with client_for(fake.transport, password="wrong") as client:
        with pytest.raises(LoginFailedError):
            async with audit_stream(client) as stream:
                async for _f in stream:
                    pass


# -- remediation ------------------------------------------------------------------------


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


async def test_a_user_with_more_than_one_page_of_tokens() -> None:
    fake = FakeReviewBoard(users=2, tokens_per_user=0)
    fake.tokens["u001"] = [token_payload("u001", 5000 + i) for i in range(450)]
    async with client_for(fake.transport) as client:
        report = await audit(client, now=NOW)
    assert report.summary.tokens_seen == 450
    assert len({r.id for r in report.tokens}) == 450
    pages = [r for r in token_requests(fake.requests) if "u001" in r.url.path]
    assert sorted(r.url.query.get("start", "0") for r in pages) == ["0", "200", "400"]
    assert ("u001", "too-many-tokens") in {(f.username, f.rule) for f in report.findings}


def test_a_stream_must_be_entered_first() -> None:
    fake = FakeReviewBoard(users=1)
    stream = audit_stream(client_for(fake.transport))
    with pytest.raises(RuntimeError, match="async with"):
        aiter(stream)
