"""The secrets-exposed check: a server that hands token secrets to anyone.

Review Board 8.1 checks no permission when it serializes a user with
``expand=api_tokens``: anonymous requests get every user's tokens, secrets
included. The stand-in does the same (``fix_expand_leak`` and
``sitewide_login`` turn it off). The real server is checked in
``tests/integration/test_audit_live.py``; the anonymous requests themselves in
``tests/unit/http/test_anonymous_requests.py``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from recording import RecordingTransport, is_anonymous

from rbtokens import RBClient, RetryPolicy
from rbtokens.auditing import RULES, Finding, Report, Rules, Severity, audit, audit_stream
from rbtokens.transport import AiohttpTransport, Request, Response
from tools.standin import Fault, FaultKind, FaultRequest, StandIn, serve

FAST = RetryPolicy(attempts=2, backoff=0.0001, max_backoff=0.0005)
ERROR_MIME = {"content-type": "application/vnd.reviewboard.org.error+json"}


@pytest.fixture
async def standin() -> AsyncIterator[StandIn]:
    async with serve(users=30, seed=3) as rb:
        yield rb


def anonymous(requests: list[Request]) -> list[Request]:
    return [r for r in requests if is_anonymous(r)]


async def run_audit(
    rb: StandIn,
    *,
    username: str = "admin",
    password: str = "admin",
    intercept: Callable[[Request], Response | None] | None = None,
    **kw: Any,
) -> tuple[Report, list[Request]]:
    recorder = RecordingTransport(AiohttpTransport(), intercept=intercept)
    client = RBClient(rb.url, username=username, password=password, transport=recorder, retry=FAST)
    kw.setdefault("walk", "per-user")  # these tests watch the per-user walk's requests
    async with client:
        report = await audit(client, **kw)
    return report, recorder.requests


def exposed(report: Report) -> list[Finding]:
    return [f for f in report.findings if f.rule == "secrets-exposed"]


def refuse_anonymous(path: str, *, html: bool = False) -> Callable[[Request], Response | None]:
    """Answer 403 to anonymous requests for ``path`` (a proxy rule, or Review Board)."""

    def intercept(request: Request) -> Response | None:
        if request.url.path != path or anonymous([request]) == []:
            return None
        if html:
            return Response(403, {"content-type": "text/html"}, b"<h1>Forbidden</h1>")
        body = b'{"err":{"code":101,"msg":"You don\'t have permission for this"},"stat":"fail"}'
        return Response(403, ERROR_MIME, body)

    return intercept


async def test_a_leaking_server_gets_one_critical_server_finding(standin: StandIn) -> None:
    report, requests = await run_audit(standin)
    [finding] = exposed(report)
    assert (finding.username, finding.token_id) == (None, None)
    assert finding.severity is Severity.CRITICAL
    assert report.findings[0] == finding  # the worst finding comes first
    assert report.summary.findings["secrets-exposed"] == 1
    assert report.summary.severities["critical"] == 1
    assert report.summary.exposure_check == "exposed"
    assert report.complete and report.warnings == []
    # Two requests without credentials (the user, the users list), asking for
    # token ids only: no secret.
    item, listing = anonymous(requests)
    owner = item.url.path.split("/")[3]
    assert standin.dataset.users[owner].tokens
    assert (item.url.path, listing.url.path) == (f"/api/users/{owner}/", "/api/users/")
    assert listing.url.query["q"] == owner
    for check in (item, listing):
        assert check.url.query["expand"] == "api_tokens"
        assert check.url.query["only-fields"] == "id,username,api_tokens"
        assert check.url.query["only-links"] == "api_tokens"
    # The same words whichever user was asked for: two runs give the same finding.
    assert "the user resource and the users list" in finding.message
    assert owner not in finding.message


async def test_the_check_never_receives_a_secret(standin: StandIn) -> None:
    tap = RecordingTransport(AiohttpTransport())
    async with RBClient(standin.url, username="admin", password="admin", transport=tap) as c:
        report = await audit(c, walk="per-user")
    assert exposed(report)
    body = b"".join(response.body for _request, response in tap.exchanges)
    secrets = [t.token for u in standin.dataset.users.values() for t in u.tokens]
    assert secrets and not any(s.encode() in body for s in secrets)


async def test_a_fixed_server_is_not_exposed(standin: StandIn) -> None:
    standin.fix_expand_leak = True
    report, requests = await run_audit(standin)
    assert exposed(report) == []
    assert report.summary.exposure_check == "not-exposed"
    assert report.warnings == [] and report.complete
    assert len(anonymous(requests)) == 2


async def test_refused_anonymous_requests_leave_a_warning(standin: StandIn) -> None:
    standin.sitewide_login = True
    report, requests = await run_audit(standin)
    assert exposed(report) == [] and report.complete
    assert report.summary.exposure_check == "anonymous-refused"
    [warning] = report.warnings
    assert "logged-in users" in warning and "expand=api_tokens" in warning
    assert len(anonymous(requests)) == 2


async def test_a_proxys_html_403_counts_as_refused(standin: StandIn) -> None:
    def both(request: Request) -> Response | None:
        return refuse_anonymous(request.url.path, html=True)(request)

    report, _ = await run_audit(standin, intercept=both)
    assert report.summary.exposure_check == "anonymous-refused" and report.complete


async def test_one_leaking_path_is_enough(standin: StandIn) -> None:
    # A proxy that blocks expand on the users list only: the user item still leaks.
    report, _ = await run_audit(standin, intercept=refuse_anonymous("/api/users/"))
    [finding] = exposed(report)
    assert "and the users list" not in finding.message
    assert finding.message.startswith(
        "API tokens are readable without logging in: the user resource, asked for"
    )


async def test_the_rule_turned_off_sends_nothing_anonymous(standin: StandIn) -> None:
    rules = Rules(enabled=tuple(r for r in RULES if r != "secrets-exposed"))
    report, requests = await run_audit(standin, rules=rules)
    assert anonymous(requests) == []
    assert "secrets-exposed" not in report.summary.findings
    assert report.summary.exposure_check == "off"


async def test_no_token_means_nothing_to_check() -> None:
    async with serve(users=5, seed=1, tokens_per_user=(0, 0)) as rb:
        report, requests = await run_audit(rb)
    assert anonymous(requests) == [] and exposed(report) == []
    assert report.summary.exposure_check == "no-tokens"


async def test_inactive_owners_tokens_are_checked_too() -> None:
    async with serve(users=4, seed=1, tokens_per_user=(1, 1), inactive_fraction=1.0) as rb:
        assert not any(u.is_active for u in rb.dataset.users.values() if u.username != "admin")
        report, _ = await run_audit(rb)
    assert report.summary.exposure_check == "exposed"


async def test_a_failed_check_makes_the_report_incomplete(standin: StandIn) -> None:
    def fail_anonymous(request: FaultRequest) -> Fault | None:
        if "expand=" in request.query_string:
            return Fault(FaultKind.UNAVAILABLE)
        return None

    standin.faults = fail_anonymous
    report, requests = await run_audit(standin)
    assert exposed(report) == []
    assert len(anonymous(requests)) == 2 * FAST.attempts  # each retried like any GET
    assert [f.username for f in report.failures] == [None, None]
    where = sorted(f.error.split(":")[0] for f in report.failures)
    owner = anonymous(requests)[0].url.path
    assert where == [f"secrets-exposed check (GET {p})" for p in ("/api/users/", owner)]
    assert not report.complete and report.summary.exposure_check == "failed"
    assert report.summary.users_failed == 0  # every user was audited


async def test_a_non_administrator_checks_the_server_too(standin: StandIn) -> None:
    me = next(u for u in standin.dataset.users.values() if u.username != "admin" and u.tokens)
    report, _ = await run_audit(
        standin, username=me.username, password="password", users=[me.username]
    )
    assert report.summary.exposure_check == "exposed" and report.complete


async def test_the_probe_survives_the_walk_stopping(standin: StandIn) -> None:
    # With one worker, users are read in list order: admin (403), the login
    # itself (read: the check is queued), then 403s until the walk stops.
    users = list(standin.dataset.users.values())
    me = users[1]
    assert me.tokens and users[0].username == "admin"
    report, _ = await run_audit(standin, username=me.username, password="password", concurrency=1)
    assert report.summary.tokens_seen == len(me.tokens)
    assert report.summary.exposure_check == "exposed"


async def test_the_stream_yields_the_server_finding(standin: StandIn) -> None:
    client = RBClient(standin.url, username="admin", password="admin")
    async with client, audit_stream(client, walk="per-user") as stream:
        rules = [f.rule async for f in stream]
    assert rules.count("secrets-exposed") == 1


async def test_the_standin_expands_tokens_like_review_board(standin: StandIn) -> None:
    async def get(path: str) -> Any:
        async with aiohttp.ClientSession() as session, session.get(standin.url + path) as rsp:
            return await rsp.json(content_type=None)

    doc = await get("api/users/?max-results=5&expand=api_tokens")
    user = next(u for u in doc["users"] if u["api_tokens"])
    assert "api_tokens" not in user["links"]  # the expanded link gives way
    assert user["_expanded"]["api_tokens"]["item_mimetype"].endswith(".api-token+json")
    assert user["api_tokens"][0]["token"].startswith("rbp_")  # to anyone, as 8.1 does
    # The user item expands too; only-fields and only-links apply to the tokens.
    item = await get(
        f"api/users/{user['username']}/?expand=api_tokens"
        "&only-fields=id,username,api_tokens&only-links=api_tokens"
    )
    assert [set(t) for t in item["user"]["api_tokens"]] == [{"id", "links"}] * len(
        user["api_tokens"]
    )
    # Without the field in only-fields, or its link in only-links, nothing expands.
    for trim in ("&only-fields=id,username", "&only-fields=id,username,api_tokens&only-links="):
        doc = await get("api/users/?max-results=5&expand=api_tokens" + trim)
        assert all("api_tokens" not in u for u in doc["users"])


def answer_anonymous(body: bytes) -> Callable[[Request], Response | None]:
    """Answer every anonymous request with ``body`` (a user item)."""

    def intercept(request: Request) -> Response | None:
        if anonymous([request]) == []:
            return None
        mime = "application/vnd.reviewboard.org.user+json"
        return Response(200, {"content-type": mime}, body)

    return intercept


async def test_tokens_inlined_without_the_mark_still_count(standin: StandIn) -> None:
    owner = next(u.username for u in standin.dataset.users.values() if u.tokens)
    body = json.dumps(
        {"stat": "ok", "user": {"id": 9, "username": owner, "api_tokens": [{"id": 1}]}}
    )
    # The users list answer is the same item: it lists no users, the item leaks.
    report, _ = await run_audit(standin, intercept=answer_anonymous(body.encode()))
    assert report.summary.exposure_check == "exposed"


@pytest.mark.parametrize(
    "body",
    [
        b'{"stat": "ok", "user": {"id": 9, "username": "x", "api_tokens": "all"}}',
        b'{"stat": "ok"}',  # no user at all: not a sign of safety
    ],
)
async def test_an_answer_of_another_shape_is_a_failure(standin: StandIn, body: bytes) -> None:
    report, _ = await run_audit(standin, intercept=answer_anonymous(body))
    assert len(report.failures) == 2  # the user item and the users list
    assert all(f.error.startswith("secrets-exposed check (GET ") for f in report.failures)
    assert report.summary.exposure_check == "failed" and not report.complete


async def test_a_leak_is_reported_even_when_the_other_request_fails(standin: StandIn) -> None:
    def fail_the_list(request: FaultRequest) -> Fault | None:
        if request.path == "/api/users/" and "expand=" in request.query_string:
            return Fault(FaultKind.BAD_GATEWAY)
        return None

    standin.faults = fail_the_list
    report, _ = await run_audit(standin)
    assert len(exposed(report)) == 1 and report.summary.exposure_check == "exposed"
    [failure] = report.failures  # and the failed request is not lost
    assert failure.error.startswith("secrets-exposed check (GET /api/users/): ")


async def test_a_rate_limited_probe_is_reported_as_not_run_and_the_walk_goes_on(
    standin: StandIn,
) -> None:
    def limit_anonymous(request: FaultRequest) -> Fault | None:
        if "expand=" in request.query_string:  # the anonymous probe: its address's window
            return Fault(FaultKind.RATE_LIMIT, retry_after=3000)
        return None

    standin.faults = limit_anonymous
    report, requests = await run_audit(standin)
    s = report.summary
    assert s.exposure_check == "rate-limited"
    assert report.complete and report.failures == []
    assert s.users_audited == s.users_listed > 0
    assert len(anonymous(requests)) == 1  # refused once: the second probe is not sent
    assert any("secrets-exposed did not run" in w for w in report.warnings)
