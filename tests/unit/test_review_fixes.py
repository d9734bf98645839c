"""Regression tests for the reviewed defects in the client core.

Each test names the defect it pins down; all of them failed before the fix.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from mypy import api as mypy_api
from yarl import URL

import rbtokens
import rbtokens.http.auth as auth_module
from rbtokens import RBClient
from rbtokens._redact import excerpt
from rbtokens.errors import (
    APIError,
    AuthenticationError,
    ClientStateError,
    ConnectError,
    InvalidFormDataError,
    LoginFailedError,
    LoginLockedOutError,
    UnexpectedContentType,
)
from rbtokens.transport import AiohttpTransport, MockTransport, Request, Response
from rbtokens.wire import encode_form, encode_query, error_from_response
from tools.standin.testing import BASE, FakeReviewBoard, error, ok

FAST = rbtokens.RetryPolicy(attempts=3, backoff=0.0)
MIME = "application/vnd.reviewboard.org.{}+json"
ROOT_BODY = b'{"stat":"ok","links":{"self":{"href":"https://rb.test/api/","method":"GET"}}}'
ROOT_CT = {"content-type": MIME.format("root")}


def root_ok(cookies: dict[str, str] | None = None) -> Response:
    return Response(200, dict(ROOT_CT), ROOT_BODY, dict(cookies or {}))


def not_logged_in() -> Response:
    return error(401, 103, "You are not logged in")


# -- 1. a borrowed session never stores or sends rbtokens' cookies ---------------


@pytest.fixture
async def identity_server() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """/api/session/ answers who the request is: by Authorization, else by cookie."""
    seen: list[dict[str, str]] = []

    async def session(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        auth = request.headers.get("Authorization", "")
        user = None
        if auth.startswith("Basic "):
            user = base64.b64decode(auth[6:]).decode().partition(":")[0]
        else:
            user = request.cookies.get("rbsessionid", "").removeprefix("sess-") or None
        links: dict[str, Any] = {"self": {"href": str(request.url), "method": "GET"}}
        if user:
            links["user"] = {"href": f"{request.url}users/{user}/", "title": user}
        body = {"stat": "ok", "session": {"authenticated": bool(user), "links": links}}
        resp = web.json_response(body, content_type=MIME.format("session"))
        if auth and user:
            resp.set_cookie("rbsessionid", f"sess-{user}", path="/", httponly=True)
        return resp

    app = web.Application()
    app.router.add_get("/api/session/", session)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/", seen
    finally:
        await runner.cleanup()


async def test_borrowed_session_never_mixes_identities(
    identity_server: tuple[str, list[dict[str, str]]],
) -> None:
    url, seen = identity_server
    session_url = url + "api/session/"
    # An ordinary session whose jar would keep cookies even from an IP host.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with (
            RBClient(url, username="alice", password="a-pw", session=http) as a,
            RBClient(url, username="bob", password="b-pw", session=http) as b,
        ):
            for _ in range(2):
                assert (await a.request("GET", session_url)).username == "alice"
                assert (await b.request("GET", session_url)).username == "bob"
        assert len(http.cookie_jar) == 0  # nothing stored in the borrowed jar
        assert not http.closed  # borrowed: left open
        async with http.get(session_url) as resp:  # and still usable
            assert resp.status == 200
    cookies = [h.get("Cookie") for h in seen[:-1]]
    assert cookies == [None, None, "rbsessionid=sess-alice", "rbsessionid=sess-bob"]


async def test_transport_refuses_use_after_aclose() -> None:
    transport = AiohttpTransport()
    await transport.aclose()
    with pytest.raises(ClientStateError):
        await transport.send(Request("GET", URL("http://127.0.0.1:9/api/")))
    assert transport._session is None  # not recreated


# -- 2. the login lock covers the login only ----------------------------------------


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


# -- 3. a late 401 for an old cookie does not wipe the new one ------------------------


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


# -- 4. header authentication only after a real answer without a cookie -------------


async def test_an_html_404_does_not_switch_to_header_auth() -> None:
    state = {"revoked": False, "auth_attempts": 0}

    def handler(req: Request) -> Response:
        if req.url.path == "/api/nope/":
            return Response(404, {"content-type": "text/html"}, b"<h1>Not Found</h1>")
        if "Authorization" in req.headers:
            state["auth_attempts"] += 1
            if state["revoked"]:
                return error(401, 104, "Login failed")
            return root_ok({"rbsessionid": "s"})
        return not_logged_in()

    async with RBClient(
        "https://rb.test/", api_token="rbp_x", transport=MockTransport(handler)
    ) as c:
        with pytest.raises(rbtokens.RBTokensError):
            await c.get_path("nope/")
        await c.get_root()
        assert c.has_session_cookie
        assert not c._channel.auth.header_mode
        state["revoked"] = True
        state["auth_attempts"] = 0
        results = await asyncio.gather(
            *(c.get_root(refresh=True) for _ in range(20)), return_exceptions=True
        )
    # The cookie was accepted (the fake keeps no sessions, so 103), then one
    # refused re-login: never 20 failed header logins.
    assert state["auth_attempts"] == 1
    assert {type(r) for r in results} == {LoginFailedError}


async def test_a_401_in_header_mode_goes_through_the_failed_login_guard() -> None:
    state = {"revoked": False, "sent": 0}

    def handler(req: Request) -> Response:
        state["sent"] += 1
        if state["revoked"]:
            return error(401, 104, "Login failed")
        return root_ok()  # a server that never sets a cookie

    async with RBClient(
        "https://rb.test/", api_token="rbp_x", transport=MockTransport(handler)
    ) as c:
        await c.get_root()
        assert c._channel.auth.header_mode
        state["revoked"] = True
        with pytest.raises(LoginFailedError):
            await c.get_root(refresh=True)
        state["sent"] = 0
        with pytest.raises(LoginFailedError):
            await c.get_root(refresh=True)
    assert state["sent"] == 0  # the refused credentials are not sent again


# -- 5. a session the server ends is not silently continued anonymously -------------


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


# -- 6. foreign redirects: no credentials, no planted cookie ------------------------


async def test_foreign_redirect_strips_lowercase_credentials_and_plants_no_cookie() -> None:
    received: dict[str, str] = {}

    def handler(req: Request) -> Response:
        if req.url.host == "rb.test" and req.url.path == "/api/x/":
            return Response(302, {"location": "https://evil.test/steal/"}, b"")
        if req.url.host == "evil.test":
            received.update(req.headers)
            return Response(
                200,
                dict(ROOT_CT),
                ROOT_BODY,
                {"rbsessionid": "attacker"},
                URL("https://evil.test/steal/"),
            )
        return root_ok({"rbsessionid": "real"} if "Authorization" in req.headers else {})

    async with RBClient(
        "https://rb.test/",
        api_token="rbp_x",
        transport=MockTransport(handler),
        allow_foreign_origins=True,
        headers={"proxy-authorization": "Basic cHJveHk6c2VjcmV0", "cookie": "sso=abc"},
    ) as c:
        await c.get_root()
        await c.get_url("https://rb.test/api/x/")
        assert c._channel.auth.cookie == "real"
    credentials = {"authorization", "cookie", "proxy-authorization"}
    assert {k.lower() for k in received} & credentials == set()


# -- 7. use after close --------------------------------------------------------------


async def test_aclose_during_a_retry_sleep_stops_the_request() -> None:
    def handler(req: Request) -> Response:
        return Response(429, {"retry-after": "0.3"}, b"")

    transport = MockTransport(handler)
    c = RBClient("https://rb.test/", transport=transport)
    task = asyncio.create_task(c.get_root())
    await asyncio.sleep(0.05)
    await c.aclose()
    with pytest.raises(ClientStateError):
        await task
    assert len(transport.requests) == 1


# -- 8. default ports ---------------------------------------------------------------


async def test_explicit_default_port_is_the_same_origin() -> None:
    root = b'{"stat":"ok","links":{"session":{"href":"https://rb.example.com/api/session/"}}}'

    def handler(req: Request) -> Response:
        if req.url.path == "/api/":
            return Response(200, dict(ROOT_CT), root)
        return Response(
            200,
            {"content-type": MIME.format("session")},
            b'{"stat":"ok","session":{"authenticated":true,"links":{}}}',
        )

    async with RBClient(
        "https://rb.example.com:443/", api_token="rbp_x", transport=MockTransport(handler)
    ) as c:
        assert str(c.base_url) == "https://rb.example.com/"
        session = await (await c.get_root()).get_session()
        assert session.authenticated


# -- 9. credentials in the URL --------------------------------------------------------


def test_a_url_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(ValueError, match="must not contain credentials") as info:
        RBClient("http://admin:hunter2@127.0.0.1:8080/", api_token="rbp_x")
    assert "hunter2" not in str(info.value)


# -- 10. pagination and paths ---------------------------------------------------------


async def test_next_link_to_the_page_itself_ends_the_walk() -> None:
    fake = FakeReviewBoard(users=5)
    async with RBClient(
        BASE, username="admin", password=fake.password, transport=fake.transport, retry=FAST
    ) as c:
        page = await c.get_url(BASE + "/api/users/?max-results=0")
        assert page.links["next"].href  # the server links to the same page
        assert await page.get_next() is None


async def test_get_path_keeps_the_query_out_of_the_path() -> None:
    fake = FakeReviewBoard(users=5)
    async with RBClient(
        BASE, username="admin", password=fake.password, transport=fake.transport, retry=FAST
    ) as c:
        await c.get_path("users/?q=u00")
        await c.get_path("users?q=u00", max_results=2)
    first, second = fake.requests[-2:]
    assert first.url.path == "/api/users/" and dict(first.url.query) == {"q": "u00"}
    assert second.url.path == "/api/users/"
    assert dict(second.url.query) == {"q": "u00", "max-results": "2"}


# -- 11. a lockout lifts -------------------------------------------------------------


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


# -- 12. error payload shapes --------------------------------------------------------

ERR_CT = {"content-type": MIME.format("error")}


def test_error_message_as_a_list_is_joined() -> None:
    body = json.dumps(
        {"stat": "fail", "err": {"code": 227, "msg": ["Commit ID %s is in use", "abc"]}}
    ).encode()
    err = error_from_response(409, ERR_CT, body)
    assert isinstance(err, APIError) and err.error_code == 227
    assert err.message == "Commit ID abc is in use"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"extra_data": {"op": "test"}}, {"extra_data": ['{"op":"test"}']}),
        ({"n": [1, "x"]}, {"n": ["1", "x"]}),
        ({"note": "bad"}, {"note": ["bad"]}),
    ],
)
def test_odd_fields_keep_the_typed_error(fields: Any, expected: dict[str, list[str]]) -> None:
    body = json.dumps({"stat": "fail", "err": {"code": 105, "msg": "x"}, "fields": fields})
    err = error_from_response(400, ERR_CT, body.encode())
    assert isinstance(err, InvalidFormDataError)
    assert err.fields == expected


# -- 13. query encoding --------------------------------------------------------------


def test_counts_only_false_is_not_sent() -> None:
    assert encode_query({"counts_only": False, "q": "a"}) == {"q": "a"}
    assert encode_query({"counts_only": True}) == {"counts-only": "1"}


@pytest.mark.parametrize("value", ["ten", 2.5, [1]])
def test_max_results_must_be_an_integer(value: Any) -> None:
    with pytest.raises(ValueError, match="max_results must be an integer"):
        encode_query({"max_results": value})
    assert encode_query({"max_results": "7"}) == {"max-results": "7"}


# -- 14. nested extra_data -----------------------------------------------------------


def test_nested_extra_data_goes_as_a_json_merge_patch() -> None:
    form = encode_form(
        {"extra_data": {"team": {"name": "infra"}, "n": 3, "flag": False, "lst": [1, 2]}}
    )
    assert form == [
        ("extra_data.flag", "false"),
        ("extra_data.n", "3"),
        ("extra_data:json", '{"lst":[1,2],"team":{"name":"infra"}}'),
    ]
    combined = encode_form({"extra_data__team": {"a": 1}, "extra_data_json": {"b": 2}})
    assert combined == [("extra_data:json", '{"b":2,"team":{"a":1}}')]
    with pytest.raises(ValueError, match="merge patch"):
        encode_form({"extra_data": {"t": {}}, "extra_data_json": "[1]"})


# -- 15. no secrets through exception causes -----------------------------------------


async def test_transport_errors_carry_no_aiohttp_cause() -> None:
    async def bad(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(bad, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with RBClient(
            f"http://127.0.0.1:{port}/",
            api_token="rbp_SECRETSECRETSECRET",
            retry=rbtokens.RetryPolicy(attempts=1),
        ) as c:
            with pytest.raises(ConnectError) as info:
                await c.get_root()
    finally:
        server.close()
        await server.wait_closed()
    err = info.value
    assert err.__cause__ is None and err.__context__ is None
    assert "ClientResponseError" in str(err) or "Error" in str(err)


# -- 16. excerpts --------------------------------------------------------------------


def test_excerpt_redacts_a_hex_token_cut_at_the_boundary() -> None:
    token = "0123456789abcdef" * 2 + "01234567"
    text = excerpt(b"x" * 190 + b" " + token.encode() + b" tail")
    assert token[:9] not in text
    body = b"y" * 795 + b" " + b"rbp_" + b"A" * 100
    assert "AAAA" not in excerpt(body, limit=1000)


# -- 17. typing ----------------------------------------------------------------------

TYPO_SAMPLE = """
from rbtokens import RBClient
from rbtokens._redact import excerpt

async def main(client: RBClient) -> None:
    root = await client.get_root()
    await root.get_sesion()
    session = await root.get_session(expand="user")
    reveal_type(session)
    info = await root.get_info(only_fields="site")
    reveal_type(info)
"""


def test_a_getter_typo_is_a_type_error(tmp_path: Path) -> None:
    sample = tmp_path / "typo.py"
    sample.write_text(TYPO_SAMPLE)
    stdout, _stderr, _status = mypy_api.run(
        ["--strict", "--no-incremental", "--cache-dir=/dev/null", str(sample)]
    )
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1 and '"get_sesion"' in errors[0], stdout
    assert "rbtokens.resources.site.Session" in stdout
    assert "rbtokens.resources.site.ServerInfo" in stdout


async def test_dynamic_getters_still_work_at_run_time() -> None:
    fake = FakeReviewBoard(users=3)
    async with RBClient(
        BASE, username="admin", password=fake.password, transport=fake.transport, retry=FAST
    ) as c:
        root = await c.get_root()
        users = await root.get_users()
        via_link = await root.follow("users")
        assert len(users) == len(via_link)
        assert callable(root.get_user)
        with pytest.raises(AttributeError):
            root.get_no_such_link  # noqa: B018


# -- if time remained: the root of the wrong type ------------------------------------


async def test_get_root_of_the_wrong_type_is_unexpected_content() -> None:
    def handler(req: Request) -> Response:
        return ok("session", {"session": {"authenticated": False, "links": {}}})

    async with RBClient("https://rb.test/", transport=MockTransport(handler)) as c:
        with pytest.raises(UnexpectedContentType, match="not a Review Board API root"):
            await c.get_root()
