"""The bulk walk: chosen for administrators, verified, and abandoned when it cannot be trusted."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from rbtokens import RBClient, Report, RetryPolicy
from rbtokens.auditing import audit, audit_stream
from rbtokens.transport import MockTransport, Request, Response
from tools.standin import Dataset, InProcess, RateLimits

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ONCE = RetryPolicy(attempts=1, backoff=0.0)
TOKEN_LISTS = "/api-tokens/"


def client(transport: MockTransport, user: str = "admin", password: str = "admin") -> RBClient:
    return RBClient("https://rb.test/", username=user, password=password, transport=transport)


def comparable(report: Report, *, server: bool = True) -> dict[str, Any]:
    """What two walks of the same site must agree on (``server``: the server-wide check too)."""
    s = report.summary
    findings = [f for f in report.findings if server or f.username is not None]
    return {
        "tokens": msgspec.to_builtins(report.tokens),
        "findings": msgspec.to_builtins(findings),
        "failures": msgspec.to_builtins(report.failures),
        "counts": (s.users_listed, s.users_audited, s.users_failed, s.inactive_users),
        "usable": s.usable_tokens,
        "exposure": s.exposure_check if server else None,
    }


def expands(request: Request) -> bool:
    return request.url.query.get("expand") == "api_tokens"


def authenticated(request: Request) -> bool:
    return "Authorization" in request.headers or "Cookie" in request.headers


def token_list(request: Request) -> bool:
    return request.url.path.endswith(TOKEN_LISTS)


def site_of(users: int, seed: int, **knobs: Any) -> InProcess:
    """A stand-in whose dataset is fixed in time (two walks of it can be compared)."""
    return InProcess(dataset=Dataset.generate(users, seed=seed, now=NOW), **knobs)


def rewriting(site: InProcess, rewrite: Callable[[Request, Response], Response]) -> MockTransport:
    """The site's transport, each answer passed through ``rewrite``."""

    async def handler(request: Request) -> Response:
        return rewrite(request, await site.transport.send(request))

    return MockTransport(handler)


async def test_an_administrator_gets_the_bulk_walk_and_the_per_user_report() -> None:
    site = site_of(450, 11)
    async with client(site.transport) as c:
        bulk = await audit(c, now=NOW, walk="auto")
    requests = list(site.requests)
    async with client(InProcess(dataset=site.dataset).transport) as c:
        per_user = await audit(c, now=NOW, walk="per-user")
    assert bulk.summary.walk == "bulk"
    assert "administrator" in bulk.summary.walk_reason
    assert "checked against 6 users' own token lists" in bulk.summary.walk_reason
    assert per_user.summary.walk == "per-user"
    assert comparable(bulk) == comparable(per_user)
    assert bulk.complete and bulk.summary.tokens_seen > 0
    assert len(requests) <= math.ceil(451 / 200) + 12
    assert bulk.summary.requests == len(requests)
    assert sum(map(expands, filter(authenticated, requests))) == 3  # the three users pages


async def test_the_bulk_listing_never_asks_for_a_secret_and_none_is_read() -> None:
    site = InProcess(users=120, seed=3)
    bodies: list[bytes] = []

    def keep(request: Request, response: Response) -> Response:
        if authenticated(request):
            bodies.append(response.body)
        return response

    async with client(rewriting(site, keep)) as c:
        report = await audit(c, now=NOW, walk="bulk")
    assert report.summary.walk == "bulk"
    for request in site.requests:
        fields = request.url.query.get("only-fields", "")
        assert "token" not in fields.split(","), request.url
    secrets = [t.token for t in site.dataset.tokens.values()]
    assert secrets and not any(s.encode() in body for s in secrets for body in bodies)


async def test_a_non_administrator_never_takes_the_bulk_walk() -> None:
    site = InProcess(users=30, seed=4)
    user = next(u for u in site.dataset.users if u != "admin")
    async with client(site.transport, user, "password") as c:
        report = await audit(c, now=NOW, walk="bulk")
    assert report.summary.walk == "per-user"
    assert "never used" in report.summary.walk_reason
    assert "403" in report.summary.walk_reason
    # Only the anonymous secrets-exposed probe asks for the expansion.
    assert not any(expands(r) for r in site.requests if authenticated(r))


async def test_asked_for_per_user_the_audit_does_not_probe_for_rights() -> None:
    site = InProcess(users=5, seed=5)
    async with client(site.transport) as c:
        report = await audit(c, now=NOW, walk="per-user")
    assert report.summary.walk_reason == "the per-user walk was asked for"
    assert not any("expand" in r.url.query for r in site.requests if authenticated(r))


async def test_named_users_take_the_per_user_walk() -> None:
    site = InProcess(users=5, seed=6)
    name = sorted(u for u in site.dataset.users if u != "admin")[0]
    async with client(site.transport) as c:
        report = await audit(c, now=NOW, walk="auto", users=[name])
    assert report.summary.walk == "per-user"
    assert report.summary.walk_reason == "only the named users were audited"


@pytest.mark.parametrize(
    ("expansion", "why"),
    [("removed", "did not expand api_tokens"), ("empty", "disagrees with the users' own")],
)
async def test_an_untrustworthy_expansion_falls_back_to_the_per_user_walk(
    expansion: str, why: str
) -> None:
    site = site_of(240, 7, expansion=expansion)
    async with client(site.transport) as c:
        report = await audit(c, now=NOW, walk="auto")
    async with client(InProcess(dataset=site.dataset).transport) as c:
        clean = await audit(c, now=NOW, walk="per-user")
    assert report.summary.walk == "per-user"
    assert "could not be trusted" in report.summary.walk_reason
    assert why in report.summary.walk_reason
    # Every token is judged alike; only the server-wide check differs (the knob
    # changes what anonymous requests see too).
    assert comparable(report, server=False) == comparable(clean, server=False)


async def test_a_stream_yields_each_finding_once_even_after_a_fallback() -> None:
    site = InProcess(users=240, seed=7, expansion="empty")
    async with client(site.transport) as c, audit_stream(c, now=NOW, walk="auto") as stream:
        streamed = [finding async for finding in stream]
    assert stream.report is not None and stream.report.summary.walk == "per-user"
    assert sorted(map(msgspec.to_builtins, streamed), key=str) == sorted(
        map(msgspec.to_builtins, stream.report.findings), key=str
    )


async def test_a_page_carrying_secrets_is_dropped_unread_and_the_walk_falls_back() -> None:
    site = InProcess(users=60, seed=8)
    planted = "rbp_" + "S" * 245 + "000000"

    def leak(request: Request, response: Response) -> Response:
        if not (expands(request) and authenticated(request)):
            return response
        doc = json.loads(response.body)
        for user in doc.get("users", []):
            for token in user.get("api_tokens", []):
                token["token"] = planted
        return Response(response.status, response.headers, json.dumps(doc).encode())

    async with client(rewriting(site, leak)) as c:
        report = await audit(c, now=NOW, walk="auto")
    assert report.summary.walk == "per-user"
    assert "token secrets" in report.summary.walk_reason
    assert any("dropped unread" in w for w in report.warnings)
    assert planted not in json.dumps(msgspec.to_builtins(report))


async def test_the_sample_is_half_users_with_tokens_and_half_without() -> None:
    site = InProcess(users=200, seed=9)
    async with client(site.transport) as c:
        report = await audit(c, now=NOW, walk="auto")
    assert report.summary.walk == "bulk"
    owners = {name: bool(user.tokens) for name, user in site.dataset.users.items()}
    checked = [r.url.path.split("/")[-3] for r in site.requests if token_list(r)][1:]
    assert len(checked) == 6  # the first list is the administrator probe
    assert sum(owners[u] for u in checked) == 3


async def test_a_refused_verification_falls_back() -> None:
    site = InProcess(users=60, seed=10)
    lists = 0

    def refuse(request: Request, response: Response) -> Response:
        nonlocal lists
        if token_list(request) and "only-fields" in request.url.query:
            lists += 1
            if lists > 1:  # the administrator probe passes, the verification does not
                body = b'{"stat":"fail","err":{"code":101,"msg":"denied","type":"x"}}'
                ctype = {"content-type": "application/vnd.reviewboard.org.error+json"}
                return Response(403, ctype, body)
        return response

    async with client(rewriting(site, refuse)) as c:
        report = await audit(c, now=NOW, walk="auto")
    assert report.summary.walk == "per-user"
    assert "could not be read" in report.summary.walk_reason


async def test_a_rate_limit_on_the_bulk_pages_ends_incomplete_with_a_retry_time() -> None:
    site = InProcess(users=450, seed=12, rate_limits=RateLimits(anonymous="5/h"))
    async with client(site.transport) as c:
        c.retry = ONCE
        report = await audit(c, now=NOW, walk="auto")
    s = report.summary
    assert not s.complete
    assert s.retry_at is not None and s.retry_at > datetime.now(UTC)
    assert report.failures and report.failures[-1].error_type == "RateLimitedError"
    refused = site.stats.status.get(429, 0)
    assert refused <= 4  # at most the pages already in flight
