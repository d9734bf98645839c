"""tools/standin.py answers like Review Board 8.1 (tests/fixtures/ are the reference).

Every answer is decoded with rbtokens' own decoder, so the stand-in and the
client are checked against the same captured payloads.
"""

from __future__ import annotations

import asyncio
import json
import re
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec
import pytest
from payloads import body as fixture_body
from yarl import URL

from rbtokens import (
    APIToken,
    Count,
    DoesNotExistError,
    InvalidFormDataError,
    ListResource,
    LoginFailedError,
    NotLoggedInError,
    PermissionDeniedError,
    RateLimitedError,
    RBClient,
    Root,
    ServerBugError,
    Session,
    User,
)
from rbtokens.errors import HTTPStatusError
from rbtokens.wire import decode_response
from tools.standin import (
    Dataset,
    Fault,
    FaultKind,
    FaultPlan,
    FaultRequest,
    StandIn,
    TokenKind,
    serve,
    serve_in_thread,
    unit_hash,
)

ADMIN = aiohttp.encode_basic_auth("admin", "admin")
MIME = "application/vnd.reviewboard.org.{}+json"
USERS = 60


@pytest.fixture(scope="module")
async def rb() -> AsyncIterator[StandIn]:
    async with serve(users=USERS, seed=3) as standin:
        yield standin


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


class Answer(msgspec.Struct):
    status: int
    headers: dict[str, str]
    body: bytes

    def decode(self) -> Any:
        return decode_response(self.status, self.headers, self.body)

    def json(self) -> Any:
        return json.loads(self.body)


async def get(
    http: aiohttp.ClientSession,
    url: str | URL,
    *,
    auth: str | None = ADMIN,
    method: str = "GET",
    **kw: Any,
) -> Answer:
    headers = dict(kw.pop("headers", {}))
    if auth is not None:
        headers["Authorization"] = auth
    async with http.request(method, url, headers=headers, allow_redirects=False, **kw) as resp:
        raw = await resp.read()
        return Answer(resp.status, {k.lower(): v for k, v in resp.headers.items()}, raw)


def shape(obj: Any) -> Any:
    """The keys of a payload, recursively (values, and free-form dicts, dropped)."""
    if isinstance(obj, dict):
        return {
            k: sorted(v) if k == "links" else None if k in FREE_FORM else shape(v)
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [shape(obj[0])] if obj else []
    return None


FREE_FORM = frozenset({"policy", "extra_data", "avatar_urls"})


# -- the root, session and item shapes ---------------------------------------


async def test_root_is_the_captured_root_on_the_standins_origin(
    rb: StandIn, http: aiohttp.ClientSession
) -> None:
    ans = await get(http, rb.api_url, auth=None)
    assert ans.status == 200
    assert ans.headers["content-type"] == MIME.format("root")
    root = ans.decode()
    assert isinstance(root, Root)
    captured = fixture_body("root.json")
    assert set(root.uri_templates) == set(captured["uri_templates"])
    assert root.uri_templates["api_tokens"] == rb.api_url + "users/{username}/api-tokens/"
    assert root.links["users"].href == rb.api_url + "users/"
    assert "127.0.0.1:8080" not in ans.body.decode()
    assert root.product.version == "8.1"


async def test_hrefs_follow_the_host_header(rb: StandIn, http: aiohttp.ClientSession) -> None:
    port = URL(rb.url).port
    ans = await get(http, f"http://localhost:{port}/api/users/?max-results=1", auth=None)
    assert (
        ans.json()["links"]["self"]["href"] == f"http://localhost:{port}/api/users/?max-results=1"
    )
    assert ans.json()["users"][0]["links"]["self"]["href"].startswith(f"http://localhost:{port}/")


async def test_item_payloads_have_the_captured_shape(
    rb: StandIn, http: aiohttp.ClientSession
) -> None:
    user = await get(http, rb.api_url + "users/audit_00003/")
    assert shape(user.json()) == shape(fixture_body("user.json"))
    assert isinstance(user.decode(), User)

    owner = next(u for u in rb.dataset.users.values() if len(u.tokens) >= 1)
    tokens = await get(http, f"{rb.api_url}users/{owner.username}/api-tokens/")
    captured = fixture_body("api-tokens.json")
    assert shape(tokens.json()) == shape(captured)
    tid = owner.tokens[0].id
    item = await get(http, f"{rb.api_url}users/{owner.username}/api-tokens/{tid}/")
    assert shape(item.json()) == shape(fixture_body("api-token.json"))
    token = item.decode()
    assert isinstance(token, APIToken)
    assert token.username == owner.username

    session = await get(http, rb.api_url + "session/")
    assert shape(session.json()) == shape(fixture_body("session.json"))
    decoded = session.decode()
    assert isinstance(decoded, Session)
    assert decoded.username == "admin"


async def test_users_page_as_section_2_describes(rb: StandIn, http: aiohttp.ClientSession) -> None:
    query = "max-results=2&start=3&q=audit_0"
    ans = await get(http, f"{rb.api_url}users/?{query}")
    assert ans.status == 200
    assert ans.headers["content-type"] == MIME.format("users")
    assert ans.headers["item-content-type"] == MIME.format("user")
    page = ans.decode()
    assert isinstance(page, ListResource)
    assert page.item_type is User
    base = rb.api_url + "users/"
    active = [
        u for u in rb.dataset.users.values() if u.is_active and u.username.startswith("audit_0")
    ]
    assert page.total_results == len(active)
    assert [u.username for u in page] == [u.username for u in active[3:5]]
    assert page.links["self"].href == f"{base}?{query}"  # verbatim
    assert page.links["next"].href == f"{base}?start=5&max-results=2&q=audit_0"
    assert page.links["prev"].href == f"{base}?start=1&max-results=2&q=audit_0"
    assert page.links["create"].method == "POST"
    assert list(ans.json()) == ["links", "stat", "total_results", "users"]


async def test_first_page_matches_the_captured_first_page(
    rb: StandIn, http: aiohttp.ClientSession
) -> None:
    ans = (await get(http, rb.api_url + "users/?max-results=3")).json()
    captured = fixture_body("users-page.json")
    assert sorted(ans["links"]) == sorted(captured["links"])  # no prev on the first page
    assert ans["links"]["next"]["href"].endswith("/api/users/?start=3&max-results=3")
    second = (await get(http, ans["links"]["next"]["href"])).json()
    assert sorted(second["links"]) == sorted(fixture_body("users-page-2.json")["links"])
    assert second["links"]["prev"]["href"].endswith("/api/users/?start=0&max-results=3")


async def test_paging_defaults_caps_and_edges(rb: StandIn, http: aiohttp.ClientSession) -> None:
    everyone = len(rb.dataset.users)
    active = sum(u.is_active for u in rb.dataset.users.values())
    assert active < everyone  # some generated users are inactive

    default = (await get(http, rb.api_url + "users/")).decode()
    assert len(default) == 25
    assert default.total_results == active
    assert "max-results=25" in default.links["next"].href

    capped = (await get(http, rb.api_url + "users/?max-results=500&include-inactive=1")).json()
    assert len(capped["users"]) == everyone  # fewer than 200 here
    assert capped["total_results"] == everyone
    assert "next" not in capped["links"]

    small = (
        await get(http, rb.api_url + "users/?max-results=500&include-inactive=1&start=1")
    ).json()
    assert small["links"]["prev"]["href"].endswith("?start=0&max-results=200&include-inactive=1")

    past = (await get(http, rb.api_url + f"users/?start={everyone + 10}")).json()
    assert past["users"] == []
    assert sorted(past["links"]) == ["create", "prev", "self"]

    zero = (await get(http, rb.api_url + "users/?max-results=0&start=4")).json()
    assert zero["users"] == []
    assert zero["links"]["next"]["href"].endswith("?start=4&max-results=0")  # loops on itself

    negative_start = (await get(http, rb.api_url + "users/?start=-5&max-results=1")).json()
    assert "prev" not in negative_start["links"]


async def test_paging_errors(rb: StandIn, http: aiohttp.ClientSession) -> None:
    bad = await get(http, rb.api_url + "users/?max-results=abc")
    assert bad.status == 400
    assert bad.json() == fixture_body("error-400-max-results.json")
    with pytest.raises(InvalidFormDataError):
        bad.decode()
    negative = await get(http, rb.api_url + "users/?max-results=-1")
    assert negative.status == 500
    assert negative.headers["content-type"].startswith("text/html")
    with pytest.raises(ServerBugError):
        negative.decode()


async def test_counts_only_with_any_value(rb: StandIn, http: aiohttp.ClientSession) -> None:
    for value in ("1", "0", "true"):
        ans = await get(http, f"{rb.api_url}users/?counts-only={value}&include-inactive=1")
        assert ans.headers["content-type"] == MIME.format("users")
        count = ans.decode()
        assert isinstance(count, Count)
        assert count.count == len(rb.dataset.users)


async def test_only_fields_and_only_links(rb: StandIn, http: aiohttp.ClientSession) -> None:
    ans = await get(http, rb.api_url + "users/?only-fields=id,username&only-links=&max-results=2")
    data = ans.json()
    assert [sorted(u) for u in data["users"]] == [["id", "username"]] * 2
    assert "next" in data["links"]  # the list's own links stay
    some = await get(http, rb.api_url + "users/?only-links=self,api_tokens&max-results=1")
    assert sorted(some.json()["users"][0]["links"]) == ["api_tokens", "self"]


async def test_missing_trailing_slash_redirects(rb: StandIn, http: aiohttp.ClientSession) -> None:
    ans = await get(http, rb.api_url + "users?q=a")
    assert ans.status == 301
    assert ans.headers["location"] == "/api/users/?q=a"


async def test_unknown_paths_are_html_404(rb: StandIn, http: aiohttp.ClientSession) -> None:
    for path in ("nope/", "users/bad%20name/", "users/audit_00001/api-tokens/x/"):
        ans = await get(http, rb.api_url + path)
        assert ans.status == 404
        assert ans.headers["content-type"].startswith("text/html")


# -- authentication ------------------------------------------------------------


async def test_token_lists_need_a_login(rb: StandIn, http: aiohttp.ClientSession) -> None:
    ans = await get(http, rb.api_url + "users/audit_00001/api-tokens/", auth=None)
    assert ans.status == 401
    assert ans.headers["content-type"] == MIME.format("error")
    assert ans.headers["www-authenticate"] == 'Basic realm="Web API"'
    assert ans.json() == fixture_body("error-401-not-logged-in.json")
    with pytest.raises(NotLoggedInError):
        ans.decode()
    # Anonymous users may still read the users list, as on Review Board.
    assert (await get(http, rb.api_url + "users/", auth=None)).status == 200


async def test_basic_login_sets_a_cookie_and_is_counted(
    rb: StandIn, http: aiohttp.ClientSession
) -> None:
    before = rb.stats.logins
    first = await get(http, rb.api_url)
    assert rb.stats.logins == before + 1
    cookie = first.headers["set-cookie"]
    assert re.match(
        r"rbsessionid=[0-9a-f]+; HttpOnly; Max-Age=31536000; Path=/; SameSite=Lax", cookie
    )
    sid = cookie.split(";")[0]
    tokens = await get(
        http, rb.api_url + "users/audit_00001/api-tokens/", auth=None, headers={"Cookie": sid}
    )
    assert tokens.status == 200
    # The same user's Basic header with a live cookie is not checked again.
    again = await get(http, rb.api_url, headers={"Cookie": sid})
    assert rb.stats.logins == before + 1
    assert "set-cookie" not in again.headers

    wrong = await get(http, rb.api_url, auth=aiohttp.encode_basic_auth("admin", "nope"))
    assert wrong.status == 401
    assert wrong.json() == fixture_body("error-401-bad-password.json")
    with pytest.raises(LoginFailedError):
        wrong.decode()
    assert rb.stats.failed_logins >= 1


async def test_permissions(rb: StandIn, http: aiohttp.ClientSession) -> None:
    alice = aiohttp.encode_basic_auth("audit_00001", "password")
    own = await get(http, rb.api_url + "users/audit_00001/api-tokens/", auth=alice)
    assert own.status == 200
    other = await get(http, rb.api_url + "users/audit_00002/api-tokens/", auth=alice)
    assert other.status == 403
    with pytest.raises(PermissionDeniedError):
        other.decode()
    missing_admin = await get(http, rb.api_url + "users/nobody/api-tokens/")
    assert missing_admin.json() == fixture_body("error-404-no-user.json")
    with pytest.raises(DoesNotExistError):
        missing_admin.decode()
    missing_user = await get(http, rb.api_url + "users/nobody/api-tokens/", auth=alice)
    assert missing_user.status == 500  # Review Board 8.1 crashes here
    assert missing_user.headers["content-type"].startswith("text/html")


# -- tokens ----------------------------------------------------------------------


def _checksum_ok(token: str) -> bool:
    charset = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    entropy, check = token[4:-6], token[-6:]
    num = zlib.crc32(entropy.encode()) & 0xFFFFFFFF
    digits = ""
    while num:
        num, rem = divmod(num, 62)
        digits = charset[rem] + digits
    return len(token) == 255 and check == digits.rjust(6, "0")


async def test_token_list_paging_and_kinds(rb: StandIn, http: aiohttp.ClientSession) -> None:
    owner = max(rb.dataset.users.values(), key=lambda u: len(u.tokens))
    url = f"{rb.api_url}users/{owner.username}/api-tokens/"
    ans = await get(http, url + "?max-results=1")
    assert ans.headers["content-type"] == MIME.format("api-tokens")
    assert ans.headers["item-content-type"] == MIME.format("api-token")
    page = ans.decode()
    assert page.item_type is APIToken
    assert page.total_results == len(owner.tokens)
    if len(owner.tokens) > 1:
        assert page.links["next"].href == f"{url}?start=1&max-results=1"

    # Every kind the generator makes decodes, and looks like its kind.
    seen: set[TokenKind] = set()
    for user in rb.dataset.users.values():
        if not user.tokens:
            continue
        got = (await get(http, f"{rb.api_url}users/{user.username}/api-tokens/")).decode()
        for token, rec in zip(got, user.tokens, strict=True):
            seen.add(rec.kind)
            assert token.id == rec.id
            if rec.kind is TokenKind.LEGACY:
                assert token.deprecated and re.fullmatch(r"[0-9a-f]{40}", token.token)
                assert token.token_generator_id == "legacy_sha1"
            else:
                assert _checksum_ok(token.token)
            if rec.kind is TokenKind.EXPIRED:
                assert token.expired and not token.usable
            if rec.kind is TokenKind.INVALID:
                assert not token.valid and token.invalid_reason
            if rec.kind is TokenKind.NO_EXPIRY:
                assert token.expires is None
            if rec.kind is TokenKind.UNRESTRICTED:
                assert token.policy == {}
    assert seen == set(TokenKind)


async def test_etag_and_conditional_get(rb: StandIn, http: aiohttp.ClientSession) -> None:
    owner = next(u for u in rb.dataset.users.values() if u.tokens)
    url = f"{rb.api_url}users/{owner.username}/api-tokens/{owner.tokens[0].id}/"
    first = await get(http, url)
    etag = first.headers["etag"]
    assert re.fullmatch(r"[0-9a-f]{64}", etag)  # unquoted
    assert "last-modified" in first.headers
    same = await get(http, url, headers={"If-None-Match": etag})
    assert same.status == 304
    assert "content-type" not in same.headers
    quoted = await get(http, url, headers={"If-None-Match": f'"{etag}"'})
    assert quoted.status == 200


async def test_create_update_delete(http: aiohttp.ClientSession) -> None:
    async with serve(users=2, seed=1, tokens_per_user=(1, 1)) as rb:
        url = rb.api_url + "users/audit_00000/api-tokens/"
        missing = await get(http, url, method="POST", data={"note": "x"})
        assert missing.status == 400
        assert missing.json() == fixture_body("error-105-missing-policy.json")
        with pytest.raises(InvalidFormDataError) as info:
            missing.decode()
        assert info.value.fields == {"policy": ["This field is required"]}

        as_json = await get(http, url, method="POST", json={"note": "x", "policy": "{}"})
        assert as_json.status == 400  # a JSON body is not read

        invalid_policy = await get(http, url, method="POST", data={"note": "x", "policy": "[1]"})
        assert invalid_policy.status == 500
        with pytest.raises(ServerBugError):
            invalid_policy.decode()

        created = await get(http, url, method="POST", data={"note": "new", "policy": "{}"})
        assert created.status == 201
        assert "etag" not in created.headers
        token = created.decode()
        assert isinstance(token, APIToken) and token.note == "new" and _checksum_ok(token.token)
        item = f"{url}{token.id}/"

        updated = await get(http, item, method="PUT", data={"note": "renamed"})
        assert updated.decode().note == "renamed"
        # Review Board 8.1's bug: the invalidation does not stick.
        invalidated = await get(http, item, method="PUT", data={"valid": "0"})
        assert invalidated.decode().valid is True
        refused = await get(http, item, method="PUT", data={"valid": "true"})
        assert refused.status == 400

        deleted = await get(http, item, method="DELETE")
        assert deleted.status == 204
        assert decode_response(deleted.status, deleted.headers, deleted.body) is None
        gone = await get(http, item)
        assert gone.status == 404
        assert gone.json() == fixture_body("error-404-does-not-exist.json")
        listing = (await get(http, url)).decode()
        assert token.id not in [t.id for t in listing]


async def test_rbtokens_client_logs_in_once(rb: StandIn) -> None:
    before = rb.stats.logins
    async with RBClient(rb.url, username="admin", password="admin") as client:
        root = await client.get_root()
        users = await root.get_users(include_inactive=True, max_results=200)
        seen = 0
        for user in users:
            tokens = await user.get_api_tokens()
            seen += len(tokens)
    assert seen == rb.dataset.token_count
    assert rb.stats.logins == before + 1


def test_serve_in_thread_for_synchronous_clients() -> None:
    rbtools_client = pytest.importorskip("rbtools.api.client")
    with serve_in_thread(users=5, seed=2) as rb:
        client = rbtools_client.RBClient(
            rb.url, username="admin", password="admin", allow_caching=False, save_cookies=False
        )
        users = client.get_root().get_users(include_inactive=1, max_results=200)
        assert users.total_results == 6
        tokens = [len(u.get_api_tokens()) for u in users]
        assert sum(tokens) == rb.dataset.token_count
        assert rb.stats.logins == 1


# -- the dataset -------------------------------------------------------------------


def test_dataset_is_deterministic() -> None:
    a = Dataset.generate(40, seed=9)
    b = Dataset.generate(40, seed=9)
    assert [(t.id, t.owner, t.kind, t.token) for t in a.tokens.values()] == [
        (t.id, t.owner, t.kind, t.token) for t in b.tokens.values()
    ]
    assert all(0 <= len(u.tokens) <= 3 for u in a.users.values())
    c = Dataset.generate(40, seed=10)
    assert [t.token for t in a.tokens.values()] != [t.token for t in c.tokens.values()]


# -- fault injection ---------------------------------------------------------------


def _req(path: str = "/api/users/u1/api-tokens/", **kw: Any) -> FaultRequest:
    base: dict[str, Any] = {
        "method": "GET",
        "path": path,
        "query_string": "",
        "username": "u1" if path.startswith("/api/users/u1/") else None,
        "attempt": 1,
        "consecutive_faults": 0,
        "index": 1,
        "has_authorization": False,
    }
    base.update(kw)
    return FaultRequest(**base)


def test_fault_plan_is_deterministic_and_bounded() -> None:
    plan = FaultPlan(unavailable=0.5, seed=4)
    paths = [f"/api/users/u{i}/api-tokens/" for i in range(400)]
    first = [plan(_req(p, username=None)) for p in paths]
    assert first == [plan(_req(p, username=None)) for p in paths]
    rate = sum(f is not None for f in first) / len(first)
    assert 0.4 < rate < 0.6
    assert all(f is None or f.kind is FaultKind.UNAVAILABLE for f in first)
    capped = FaultPlan(reset=1.0, max_consecutive=2)
    assert capped(_req(consecutive_faults=1)) is not None
    assert capped(_req(consecutive_faults=2)) is None
    assert FaultPlan(reset=1.0, spare_logins=True)(_req(has_authorization=True)) is None
    assert FaultPlan(reset=1.0, paths="^/api/$")(_req()) is None
    assert FaultPlan(reset=1.0, methods=frozenset({"POST"}))(_req()) is None
    with pytest.raises(ValueError):
        FaultPlan(reset=0.7, truncate=0.7)
    assert 0 <= unit_hash(1, "x") < 1


def test_sticky_faults_never_clear() -> None:
    plan = FaultPlan(sticky={"u1": FaultKind.RATE_LIMIT}, retry_after=7, max_consecutive=1)
    fault = plan(_req(attempt=50, consecutive_faults=49))
    assert fault == Fault(FaultKind.RATE_LIMIT, retry_after=7, stall_seconds=30.0)
    assert plan(_req("/api/users/u2/api-tokens/", username="u2")) is None
    assert FaultPlan.from_json('{"sticky": {"u1": "503"}, "reset": 0.1}').sticky == {
        "u1": FaultKind.UNAVAILABLE
    }


@pytest.fixture
async def faulty() -> AsyncIterator[StandIn]:
    async with serve(users=3, seed=5, tokens_per_user=(2, 2)) as standin:
        yield standin


async def _fault_answer(rb: StandIn, kind: FaultKind, **fault: Any) -> Answer | Exception:
    rb.faults = lambda req: Fault(kind, **fault) if "api-tokens" in req.path else None
    timeout = aiohttp.ClientTimeout(total=2, sock_read=0.3)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), timeout=timeout) as s:
        try:
            return await get(s, rb.api_url + "users/audit_00000/api-tokens/")
        except (TimeoutError, aiohttp.ClientError) as exc:
            return exc
        finally:
            rb.faults = None


async def test_each_fault_on_the_wire(faulty: StandIn) -> None:
    rb = faulty
    reset = await _fault_answer(rb, FaultKind.RESET)
    assert isinstance(reset, aiohttp.ClientOSError | aiohttp.ServerDisconnectedError)

    for kind, status in (
        (FaultKind.BAD_GATEWAY, 502),
        (FaultKind.UNAVAILABLE, 503),
        (FaultKind.SERVER_ERROR, 500),
    ):
        ans = await _fault_answer(rb, kind)
        assert isinstance(ans, Answer) and ans.status == status
        assert ans.headers["content-type"].startswith("text/html")
        with pytest.raises(HTTPStatusError):
            ans.decode()

    truncated = await _fault_answer(rb, FaultKind.TRUNCATE)
    assert isinstance(truncated, aiohttp.ClientPayloadError)

    stalled = await _fault_answer(rb, FaultKind.STALL, stall_seconds=5)
    assert isinstance(stalled, asyncio.TimeoutError)

    limited = await _fault_answer(rb, FaultKind.RATE_LIMIT, retry_after=9)
    assert isinstance(limited, Answer) and limited.status == 429
    assert limited.headers["retry-after"] == "9"
    with pytest.raises(RateLimitedError) as info:
        limited.decode()
    assert info.value.error_code == 114 and info.value.retry_after == 9

    # aiohttp's client silently resends a GET once after a reset: 1 or 2 resets.
    assert rb.stats.faults.pop("reset") in (1, 2)
    assert rb.stats.faults == {
        "502": 1,
        "503": 1,
        "500": 1,
        "truncate": 1,
        "stall": 1,
        "429": 1,
    }


async def test_plan_with_a_client_that_retries(faulty: StandIn) -> None:
    rb = faulty
    rb.reset_stats()
    rb.faults = FaultPlan(unavailable=1.0, max_consecutive=2, paths="api-tokens")
    try:
        async with RBClient(rb.url, username="admin", password="admin") as client:
            root = await client.get_root()
            tokens = await root.get_api_tokens(username="audit_00001")
    finally:
        rb.faults = None
    assert len(tokens) == 2
    assert rb.stats.faults["503"] == 2  # two faults, then the third attempt got through
    assert rb.stats.logins == 1
