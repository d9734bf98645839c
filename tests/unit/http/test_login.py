"""The login: one per client however many requests wait for it; never retried, never repeated."""

from __future__ import annotations

import asyncio

import pytest
from fakeclient import basic_requests, client_for
from httpkit import not_logged_in, root_ok
from scripted import ITEM_URL, Script, client, rb_error

import rbtokens
import rbtokens.http.auth as auth_module
from rbtokens import LoginFailedError, LoginLockedOutError, RBClient, RetryPolicy
from rbtokens.transport import MockTransport, Request, Response
from tools.standin.testing import BASE, FakeReviewBoard, error, token_payload


async def test_one_login_under_concurrency() -> None:
    fake = FakeReviewBoard(users=20)
    async with client_for(fake) as client:
        root = await client.get_root()
        await asyncio.gather(*(root.get_api_tokens(username=u["username"]) for u in fake.users))
        assert client.stats.logins == 1
        assert client.has_session_cookie
    assert len(basic_requests(fake)) == 1
    later = fake.requests[1:]
    assert all("Authorization" not in r.headers for r in later)
    assert all(r.headers["Cookie"].startswith("rbsessionid=") for r in later)


async def test_failed_login_is_sent_once_and_shared() -> None:
    fake = FakeReviewBoard()
    async with client_for(fake, password="wrong") as client:
        results = await asyncio.gather(
            *(client.get_path("users/") for _ in range(5)), return_exceptions=True
        )
    assert all(isinstance(r, rbtokens.LoginFailedError) for r in results)
    assert len(fake.requests) == 1
    assert "wrong" not in str(results[0])


async def test_api_token_auth_header() -> None:
    fake = FakeReviewBoard()
    secret = "rbp_" + "A" * 251
    fake.tokens["u000"].append(token_payload("u000", 99, token=secret))  # a token it knows
    async with RBClient(BASE, api_token=secret, transport=fake.transport) as client:
        await client.get_root()
        await client.get_session()
        assert secret not in repr(client)
    assert fake.requests[0].headers["Authorization"] == f"token {secret}"
    assert "Authorization" not in fake.requests[1].headers


async def test_anonymous_client_sends_no_credentials() -> None:
    fake = FakeReviewBoard()
    async with RBClient(BASE, transport=fake.transport) as client:
        with pytest.raises(rbtokens.NotLoggedInError):
            await client.get_root()
    assert "Authorization" not in fake.requests[0].headers


@pytest.mark.parametrize(
    ("msg", "error"),
    [
        ("The username or password was not correct", LoginFailedError),
        ("Maximum number of login attempts exceeded.", LoginLockedOutError),
    ],
)
async def test_a_failed_login_is_sent_once(msg: str, error: type[Exception]) -> None:
    script = Script(then=rb_error(401, 104, msg, {"www-authenticate": 'Basic realm="Web API"'}))
    policy = RetryPolicy(attempts=10, backoff=0.0001)
    async with client(script, retry=policy, username="admin", password="hunter2-pw") as c:
        with pytest.raises(error) as first:
            await c.request("GET", ITEM_URL)
        # Later requests reuse the answer: the server is not asked again.
        with pytest.raises(error):
            await c.request("GET", ITEM_URL)
    assert len(script.requests) == 1
    assert c.stats.retries == 0
    assert type(first.value) is error


async def test_lockout_message_is_clear() -> None:
    script = Script(then=rb_error(401, 104, "Maximum number of login attempts exceeded."))
    with pytest.raises(LoginLockedOutError) as info:
        async with client(script, username="admin", password="hunter2-pw") as c:
            await c.get_root()
    text = str(info.value)
    assert "locked out" in text
    assert "wait" in text and "minute" in text
    assert "hunter2" not in text


async def test_concurrent_first_requests_share_one_failed_login() -> None:
    script = Script(then=rb_error(401, 104, "The username or password was not correct"))
    async with client(script, username="admin", password="bad-pw-123") as c:
        results = await asyncio.gather(
            *(c.request("GET", ITEM_URL) for _ in range(20)), return_exceptions=True
        )
    assert all(isinstance(r, LoginFailedError) for r in results)
    assert len(script.requests) == 1


async def test_login_lock_is_not_held_through_retries() -> None:
    done: list[str] = []
    logins: list[str] = []
    slow_attempts = 0

    async def handler(req: Request) -> Response:
        nonlocal slow_attempts
        if "Authorization" in req.headers:
            logins.append(req.url.path)
        if req.url.path == "/api/slow/":
            slow_attempts += 1
            if slow_attempts == 1:  # the login's answer is lost to a busy proxy
                return Response(429, {"retry-after": "0.4"}, b"")
        if "Authorization" in req.headers:
            return root_ok({"rbsessionid": "s1"})
        if req.headers.get("Cookie") != "rbsessionid=s1":
            return not_logged_in()
        return root_ok()

    async with RBClient(
        "https://rb.test/", username="u", password="p", transport=MockTransport(handler)
    ) as c:

        async def slow() -> None:
            await c.request("GET", "https://rb.test/api/slow/")
            done.append("slow")

        async def fast() -> None:
            await asyncio.sleep(0.05)
            await c.request("GET", "https://rb.test/api/")
            done.append("fast")

        await asyncio.gather(slow(), fast())
    # fast did not wait out slow's Retry-After inside the lock; slow's retry
    # then used the session fast's login obtained.
    assert done == ["fast", "slow"]
    assert logins == ["/api/slow/", "/api/"]


async def test_a_lockout_is_not_cached_past_its_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    state = {"locked": True, "sent": 0}
    now = [1_000_000.0 * 60 + 10]  # 10 s into a minute
    monkeypatch.setattr(auth_module, "_wall_clock", lambda: now[0])

    def handler(req: Request) -> Response:
        state["sent"] += 1
        if state["locked"]:
            return error(401, 104, "Maximum number of login attempts exceeded.")
        return root_ok({"rbsessionid": "s"})

    async with RBClient(
        "https://rb.test/", username="u", password="p", transport=MockTransport(handler)
    ) as c:
        with pytest.raises(LoginLockedOutError):
            await c.get_root()
        with pytest.raises(LoginLockedOutError):  # same minute: not asked again
            await c.get_root()
        assert state["sent"] == 1
        state["locked"] = False
        now[0] += 50  # the next minute
        await c.get_root()
    assert state["sent"] == 2
