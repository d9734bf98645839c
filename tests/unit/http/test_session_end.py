"""When the server ends the session: one new login, the GET replayed, a POST never replayed."""

from __future__ import annotations

import asyncio

import pytest
from fakeclient import FAST, basic_requests, client_for
from httpkit import MIME, not_logged_in, root_ok

from rbtokens import RBClient
from rbtokens.errors import AuthenticationError
from rbtokens.transport import MockTransport, Request, Response
from tools.standin.testing import BASE, FakeReviewBoard


async def test_expired_session_logs_in_again_once() -> None:
    fake = FakeReviewBoard()
    async with client_for(fake) as client:
        await client.get_root()
        fake.sessions.clear()
        session = await client.get_session()
        assert session.authenticated
        assert client.stats.logins == 2
    assert len(basic_requests(fake)) == 2


class ExpiringServer:
    def __init__(self) -> None:
        self.valid: set[str] = set()
        self.logins = 0
        self.n = 0

    async def __call__(self, req: Request) -> Response:
        if "Authorization" in req.headers:
            await asyncio.sleep(0.01)
            self.logins += 1
            self.n += 1
            cookie = f"c{self.n}"
            self.valid.add(cookie)
            return root_ok({"rbsessionid": cookie})
        cookie = req.headers.get("Cookie", "").partition("=")[2]
        # Answers to in-flight requests arrive over 0.3 s, some after the re-login.
        await asyncio.sleep(0.3 * ((hash(id(req)) % 97) / 97))
        if cookie in self.valid:
            return root_ok()
        return not_logged_in()


async def test_session_expiry_with_30_in_flight_logs_in_once() -> None:
    server = ExpiringServer()
    async with RBClient(
        "https://rb.test/", username="u", password="p", transport=MockTransport(server)
    ) as c:
        await c.request("GET", "https://rb.test/api/")
        server.logins = 0
        server.valid.clear()  # the session expires with 30 requests about to be sent
        results = await asyncio.gather(
            *(c.request("GET", "https://rb.test/api/") for _ in range(30)), return_exceptions=True
        )
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert server.logins == 1
    assert c.stats.logins == 2


def _ending_server() -> tuple[FakeReviewBoard, dict[str, int]]:
    fake = FakeReviewBoard()
    counts = {"cleared": 0}
    handle = fake.handle

    def handler(req: Request) -> Response:
        cookie = req.headers.get("Cookie", "").partition("=")[2]
        if cookie and cookie not in fake.sessions and "Authorization" not in req.headers:
            # Django: a cookie for a session that no longer exists is deleted,
            # and the request is served anonymously.
            counts["cleared"] += 1
            resp = fake.route(req)
            resp.cookies["rbsessionid"] = ""
            return resp
        return handle(req)

    fake.transport._handler = handler
    return fake, counts


async def test_a_cleared_session_is_renewed_and_the_get_replayed() -> None:
    fake, counts = _ending_server()
    async with RBClient(
        BASE, username="admin", password=fake.password, transport=fake.transport, retry=FAST
    ) as c:
        await c.get_root()
        fake.sessions.clear()  # logged out elsewhere
        users = await c.get_path("users/")
        assert users.total_results is not None
        assert c.has_session_cookie
    assert counts["cleared"] == 1
    assert c.stats.logins == 2
    assert fake.requests[-1].headers.get("Authorization", "").startswith("Basic ")


async def test_a_cleared_session_on_a_post_raises() -> None:
    fake, _ = _ending_server()
    fake.overrides[("POST", "/api/users/")] = lambda req: Response(
        201, {"content-type": MIME.format("user")}, b'{"stat":"ok","user":{}}', {"rbsessionid": ""}
    )
    async with RBClient(
        BASE, username="admin", password=fake.password, transport=fake.transport, retry=FAST
    ) as c:
        await c.get_root()
        with pytest.raises(AuthenticationError, match="not replayed"):
            await c.request("POST", BASE + "/api/users/", data={"username": "x"})
        assert not c.has_session_cookie


async def test_logout_does_not_log_in_again() -> None:
    fake = FakeReviewBoard()
    fake.overrides[("DELETE", "/api/session/")] = lambda req: Response(
        204, {}, b"", {"rbsessionid": ""}
    )
    async with RBClient(
        BASE, username="admin", password=fake.password, transport=fake.transport, retry=FAST
    ) as c:
        await c.get_root()
        await c.logout()
        assert not c.has_session_cookie
    assert c.stats.logins == 1
    assert fake.requests[-1].method == "DELETE"
