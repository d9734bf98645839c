"""djblets' three API rate-limit buckets, in fixed windows (§3)."""

from __future__ import annotations

import pytest
from standinkit import ask, basic, payload

from rbtokens import RateLimitedError, RBClient, RetryPolicy
from tools.standin import Dataset, RateLimits, ReviewBoard, serve
from tools.standin.cli import _limits
from tools.standin.ratelimit import Rate

START = 1_800_000_015.0  # 15 s into a minute (windows are aligned to the epoch)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def core(clock: Clock) -> ReviewBoard:
    limits = RateLimits(authenticated="5/m", anonymous="3/m", clock=clock)
    return ReviewBoard(Dataset.generate(3, seed=2, inactive_fraction=0), rate_limits=limits)


def test_anonymous_requests_are_limited_per_address(core: ReviewBoard, clock: Clock) -> None:
    for _ in range(3):
        assert ask(core, "/api/", auth=None).status == 200
    over = ask(core, "/api/", auth=None)
    assert over.status == 429
    assert payload(over)["err"] == {
        "code": 114,
        "msg": "API rate limit has been exceeded.",
        "type": "request-rate-limit-exceeded",
    }
    assert over.headers["retry-after"] == "45"  # seconds to the end of the minute
    assert over.headers["x-ratelimit-limit"] == "3"
    assert ask(core, "/api/", auth=None, remote="10.0.0.2").status == 200
    # djblets' address: X-Real-IP, else the first X-Forwarded-For, else the peer.
    for _ in range(3):
        assert ask(core, "/api/", auth=None, headers={"X-Real-IP": "10.0.0.3"}).status == 200
    forwarded = {"X-Forwarded-For": "10.0.0.3, 10.9.9.9"}
    assert ask(core, "/api/", auth=None, headers=forwarded).status == 429
    clock.now += 45  # the next window
    assert ask(core, "/api/", auth=None).status == 200
    assert core.stats.rate_limit["anonymous-ip"] == 10
    assert core.stats.rate_limited["anonymous-ip"] == 2


def test_a_cookie_session_draws_on_the_anonymous_limit_by_user(core: ReviewBoard) -> None:
    login = ask(core, "/api/session/", auth=basic("audit_00000", "password"))
    cookie = {"Cookie": "rbsessionid=" + login.cookies["rbsessionid"]}
    for _ in range(3):
        assert ask(core, "/api/session/", auth=None, headers=cookie).status == 200
    over = ask(core, "/api/session/", auth=None, headers=cookie)
    assert over.status == 429 and over.headers["x-ratelimit-limit"] == "3"
    # The same user's header requests use the authenticated bucket, and an
    # anonymous request from the same address its own.
    again = ask(core, "/api/session/", auth=basic("audit_00000", "password"), headers=cookie)
    assert again.status == 200
    assert ask(core, "/api/", auth=None).status == 200
    assert dict(core.stats.rate_limit) == {
        "authenticated": 2,
        "anonymous-user": 4,
        "anonymous-ip": 1,
    }
    assert dict(core.stats.rate_limited) == {"anonymous-user": 1}
    user_id = str(core.dataset.users["audit_00000"].id)
    assert core.limiter.usage("anonymous", user_id) == 4


def test_header_logins_draw_on_the_authenticated_limit(core: ReviewBoard) -> None:
    for _ in range(5):
        assert ask(core, "/api/users/").status == 200
    over = ask(core, "/api/users/")
    assert over.status == 429 and over.headers["x-ratelimit-limit"] == "5"
    assert ask(core, "/api/users/", auth=basic("audit_00001", "password")).status == 200


def test_what_counts(core: ReviewBoard) -> None:
    first = ask(core, "/api/", auth=None)
    etag = first.headers["etag"]
    assert ask(core, "/api/", auth=None, headers={"If-None-Match": etag}).status == 304
    assert ask(core, "/api/nowhere/", auth=None).status == 404  # unrouted: not counted
    assert ask(core, "/api/users", auth=None).status == 301  # redirected: not counted
    assert ask(core, "/api/", auth=basic("admin", "wrong")).status == 401  # failed login
    assert ask(core, "/api/", auth=None).status == 200
    assert ask(core, "/api/", auth=None).status == 429  # the 304 counted
    assert core.stats.rate_limit == {"anonymous-ip": 4}


def test_limits_can_be_off() -> None:
    core = ReviewBoard(Dataset.generate(1), rate_limits=RateLimits(anonymous=None))
    for _ in range(50):
        assert ask(core, "/api/", auth=None).status == 200
    assert core.stats.rate_limit["anonymous-ip"] == 50
    unlimited = ReviewBoard(Dataset.generate(1))
    assert ask(unlimited, "/api/", auth=None).status == 200
    assert unlimited.stats.rate_limit == {}


def test_rates_parse_like_djblets() -> None:
    assert Rate.parse("1000/h") == Rate(1000, 3600)
    assert Rate.parse("30/m") == Rate(30, 60)
    assert Rate.parse("5/10s") == Rate(5, 10)
    assert Rate(30, 60).window_end(1_800_000_015) == 1_800_000_060
    for bad in ("many/h", "7"):
        with pytest.raises(ValueError):
            Rate.parse(bad)
    assert RateLimits() == RateLimits(authenticated="10000/h", anonymous="1000/h")
    assert _limits("off,30/m") == RateLimits(authenticated=None, anonymous="30/m")
    assert _limits(None) is None


async def test_a_client_sees_retry_after_over_the_socket() -> None:
    limits = RateLimits(authenticated="2/h", anonymous="2/h")
    async with serve(users=2, rate_limits=limits) as rb:
        client = RBClient(rb.url, username="admin", password="admin", retry=RetryPolicy(attempts=1))
        async with client:
            await client.get_root()
            await client.get_session()  # the cookie: the anonymous bucket, by user
            await client.get_path("users/")
            with pytest.raises(RateLimitedError) as info:
                await client.get_path("users/")
    assert info.value.error_code == 114
    assert info.value.retry_after is not None and 0 <= info.value.retry_after <= 3600
    assert rb.stats.rate_limited == {"anonymous-user": 1}
