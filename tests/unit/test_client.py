"""The client and navigation, against an in-memory Review Board (MockTransport)."""

from __future__ import annotations

import asyncio
import gc
import json

import pytest
from yarl import URL

import rbtokens
from rbtokens import APIToken, ListResource, RBClient, User
from rbtokens.transport import Request, Response
from tools.standin.testing import BASE, FakeReviewBoard, error, ok, token_payload

FAST = rbtokens.RetryPolicy(attempts=3, backoff=0.0)


def client_for(fake: FakeReviewBoard, **kw: object) -> RBClient:
    kw.setdefault("username", "admin")
    kw.setdefault("password", fake.password)
    return RBClient(BASE, transport=fake.transport, retry=FAST, **kw)  # type: ignore[arg-type]


def basic_requests(fake: FakeReviewBoard) -> list[Request]:
    return [r for r in fake.requests if r.headers.get("Authorization", "").startswith("Basic ")]


async def test_walk_the_tree() -> None:
    fake = FakeReviewBoard(users=7)
    async with client_for(fake) as client:
        root = await client.get_root()
        users = await root.get_users(max_results=3, include_inactive=True)
        assert users.total_results == 7 and len(users) == 3
        assert isinstance(users[0], User)
        tokens = await users[0].get_api_tokens()
        assert isinstance(tokens, ListResource) and tokens.item_type is APIToken
        again = await tokens[0].get_self()
        assert again.id == tokens[0].id
        by_template = await root.get_api_tokens(username="u001")
        assert [t.id for t in by_template] == [1000, 1001]
        one = await root.get_api_token(username="u001", api_token_id=1001)
        assert one.username == "u001"


async def test_query_names_reach_the_wire() -> None:
    fake = FakeReviewBoard()
    async with client_for(fake) as client:
        root = await client.get_root()
        await root.get_users(max_results=500, include_inactive=True, q="u0")
    query = fake.requests[-1].url.query
    assert query["max-results"] == "200"
    assert query["include-inactive"] == "1"
    assert query["q"] == "u0"


async def test_next_prev_and_end() -> None:
    fake = FakeReviewBoard(users=5)
    async with client_for(fake) as client:
        first = await (await client.get_root()).get_users(max_results=2, include_inactive=1)
        assert await first.get_prev() is None
        second = await first.get_next()
        assert second is not None and [u.id for u in second] == [3, 4]
        back = await second.get_prev()
        assert back is not None and [u.id for u in back] == [1, 2]
        third = await second.get_next()
        assert third is not None and len(third) == 1
        assert await third.get_next() is None


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_all_items_across_pages(concurrency: int) -> None:
    fake = FakeReviewBoard(users=11)
    async with client_for(fake) as client:
        users = await (await client.get_root()).get_users(max_results=2, include_inactive=True)
        names = [u.username async for u in users.all_items(concurrency=concurrency)]
    assert names == [u["username"] for u in fake.users]
    starts = sorted(
        int(r.url.query.get("start", "0")) for r in fake.requests if r.url.path == "/api/users/"
    )
    assert starts == [0, 2, 4, 6, 8, 10]


async def test_max_results_zero_self_loop_ends() -> None:
    fake = FakeReviewBoard(users=3)
    async with client_for(fake) as client:
        page = await client.get_url(f"{BASE}/api/users/?max-results=0")
        assert isinstance(page, ListResource)
        assert page.links["next"].href.endswith("max-results=0")
        items = [u async for u in page.all_items()]
    assert items == []
    assert sum(r.url.path == "/api/users/" for r in fake.requests) == 1


async def test_repeating_next_link_ends() -> None:
    fake = FakeReviewBoard(users=4)
    loop_href = f"{BASE}/api/users/?start=2&max-results=2"

    def looping(request: Request) -> Response:
        resp = fake.route(request)
        data = resp.body.replace(b'"next"', b'"nxt"')
        payload = json.loads(data)
        payload["links"]["next"] = {"href": loop_href, "method": "GET"}
        return Response(200, resp.headers, json.dumps(payload).encode(), {"rbsessionid": "s"})

    fake.overrides[("GET", "/api/users/")] = looping
    fake.sessions.add("s")
    async with client_for(fake) as client:
        page = await client.get_url(f"{BASE}/api/users/?max-results=2")
        pages = [p async for p in page.pages()]
    assert len(pages) == 2


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


async def test_expired_session_logs_in_again_once() -> None:
    fake = FakeReviewBoard()
    async with client_for(fake) as client:
        await client.get_root()
        fake.sessions.clear()
        session = await client.get_session()
        assert session.authenticated
        assert client.stats.logins == 2
    assert len(basic_requests(fake)) == 2


async def test_anonymous_client_sends_no_credentials() -> None:
    fake = FakeReviewBoard()
    async with RBClient(BASE, transport=fake.transport) as client:
        with pytest.raises(rbtokens.NotLoggedInError):
            await client.get_root()
    assert "Authorization" not in fake.requests[0].headers


async def test_conditional_get_self() -> None:
    fake = FakeReviewBoard()
    async with client_for(fake) as client:
        token = await (await client.get_root()).get_api_token(username="u000", api_token_id=0)
        assert token.etag == "etag-0"

        def not_modified(request: Request) -> Response:
            assert request.headers["If-None-Match"] == "etag-0"
            assert "If-Modified-Since" not in request.headers
            return Response(304, {}, b"")

        fake.overrides[("GET", "/api/users/u000/api-tokens/0/")] = not_modified
        assert await token.get_self() is token


async def test_list_items_have_no_etag_and_get_self_refetches() -> None:
    fake = FakeReviewBoard()
    async with client_for(fake) as client:
        tokens = await (await client.get_root()).get_api_tokens(username="u000")
        fresh = await tokens[0].get_self()
        assert "If-None-Match" not in fake.requests[-1].headers
        assert fresh.etag == "etag-0"


async def test_foreign_origin_links_are_refused() -> None:
    fake = FakeReviewBoard()
    async with client_for(fake) as client:
        root = await client.get_root()
        root.links["users"] = rbtokens.Link(href="http://evil.test/api/users/")
        with pytest.raises(rbtokens.ForeignOriginError, match=r"evil\.test"):
            await root.get_users()
    assert all(r.url.host == "rb.test" for r in fake.requests)


async def test_foreign_origin_allowed_goes_without_credentials() -> None:
    fake = FakeReviewBoard()
    async with client_for(fake, allow_foreign_origins=True) as client:
        await client.get_root()
        with pytest.raises(rbtokens.NotLoggedInError):
            await client.get_url("http://other.test/api/session/")
    foreign = fake.requests[-1]
    assert foreign.url.host == "other.test"
    assert "Authorization" not in foreign.headers and "Cookie" not in foreign.headers


async def test_delete_through_link() -> None:
    fake = FakeReviewBoard()
    async with client_for(fake) as client:
        tokens = await (await client.get_root()).get_api_tokens(username="u000")
        await tokens[0].delete()
        assert fake.requests[-1].method == "DELETE"
        with pytest.raises(rbtokens.DoesNotExistError):
            await tokens[0].get_self()


async def test_update_sends_a_form() -> None:
    fake = FakeReviewBoard()
    seen: list[Request] = []

    def put(request: Request) -> Response:
        seen.append(request)
        return ok("api-token", {"api_token": fake.tokens["u000"][0] | {"note": "new"}})

    fake.overrides[("PUT", "/api/users/u000/api-tokens/0/")] = put
    async with client_for(fake) as client:
        tokens = await (await client.get_root()).get_api_tokens(username="u000")
        fake.sessions.add("keep")
        updated = await tokens[0].update(note="new", extra_data__team="infra")
    assert updated.note == "new" and isinstance(updated, APIToken)
    assert seen[0].headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert seen[0].body == b"extra_data.team=infra&note=new"


async def test_missing_link_is_a_navigation_error() -> None:
    fake = FakeReviewBoard()

    def without_create(request: Request) -> Response:
        # Review Board always links ``create`` on a list: serve one without it.
        resp = fake.route(request)
        payload = json.loads(resp.body)
        del payload["links"]["create"]
        return Response(200, resp.headers, json.dumps(payload).encode())

    fake.overrides[("GET", "/api/users/u000/api-tokens/")] = without_create
    async with client_for(fake) as client:
        tokens = await (await client.get_root()).get_api_tokens(username="u000")
        with pytest.raises(rbtokens.NavigationError, match="create"):
            await tokens.create(note="x")
        with pytest.raises(AttributeError):
            tokens.get_nothing_here  # noqa: B018


async def test_generic_link_getters() -> None:
    fake = FakeReviewBoard()
    fake.overrides[("GET", "/api/users/u001/watched/")] = lambda r: ok(
        "watched", {"watched": {"note": "generic"}}
    )
    async with client_for(fake) as client:
        root = await client.get_root()
        session = await root.get_session()
        assert session.username == "admin"
        user = await root.get_user(username="u001")
        assert isinstance(user, User) and user.username == "u001"
        watched = await user.get_watched()  # no Struct for this type: generic
        assert isinstance(watched, rbtokens.GenericItem)
        assert watched.fields == {"note": "generic"}
        got = await root.follow("users", max_results=1)
        assert isinstance(got, ListResource)
        assert callable(root.get_webhooks)
        assert callable(root.get_review_requests)  # a URI template


async def test_counts_only() -> None:
    fake = FakeReviewBoard()

    def counts(request: Request) -> Response:
        assert request.url.query["counts-only"] == "1"
        return ok("users", {"count": 42})

    fake.overrides[("GET", "/api/users/")] = counts
    fake.sessions.add("x")
    async with client_for(fake) as client:
        await client.get_root()
        count = await client.get_path("users", counts_only=True)
    assert count == rbtokens.Count(count=42)


async def test_closed_client_refuses_and_cannot_reopen() -> None:
    fake = FakeReviewBoard()
    client = client_for(fake)
    async with client:
        await client.get_root()
    assert fake.transport.closed
    with pytest.raises(rbtokens.ClientStateError):
        await client.get_root(refresh=True)
    with pytest.raises(rbtokens.ClientStateError):
        async with client:
            pass


async def test_resources_hold_the_client_weakly() -> None:
    fake = FakeReviewBoard()
    client = client_for(fake)
    root = await client.get_root()
    await client.aclose()
    del client
    gc.collect()
    with pytest.raises(rbtokens.ClientStateError):
        await root.get_session()


async def test_post_redirect_is_an_error_not_a_silent_get() -> None:
    fake = FakeReviewBoard()

    def redirect(request: Request) -> Response:
        return Response(301, {"location": "/api/users/u000/api-tokens/"}, b"")

    fake.overrides[("POST", "/api/users/u000/api-tokens")] = redirect
    async with client_for(fake) as client:
        await client.get_root()
        with pytest.raises(rbtokens.HTTPStatusError, match="trailing slash"):
            await client.request("POST", f"{BASE}/api/users/u000/api-tokens", data={"note": "x"})


async def test_get_redirect_to_foreign_origin_is_refused() -> None:
    fake = FakeReviewBoard()
    fake.overrides[("GET", "/api/moved/")] = lambda r: Response(
        302, {"location": "https://evil.test/steal/"}, b""
    )
    async with client_for(fake) as client:
        await client.get_root()
        with pytest.raises(rbtokens.ForeignOriginError):
            await client.get_path("moved")
    assert all(r.url.host == "rb.test" for r in fake.requests)


async def test_get_path_adds_trailing_slash() -> None:
    fake = FakeReviewBoard()
    async with client_for(fake) as client:
        await client.get_path("users/u001")
    assert fake.requests[-1].url == URL(f"{BASE}/api/users/u001/")


def test_bad_server_url() -> None:
    with pytest.raises(ValueError, match="absolute"):
        RBClient("reviews.example.com")


def test_password_over_plain_http_warns() -> None:
    with pytest.warns(rbtokens.RBTokensWarning, match="plain http"):
        RBClient("http://reviews.example.com/", username="a", password="b")


def test_verify_false_warns() -> None:
    with pytest.warns(rbtokens.RBTokensWarning, match="TLS"):
        RBClient("https://reviews.example.com/", verify=False)


async def test_error_status_from_server() -> None:
    fake = FakeReviewBoard()
    fake.overrides[("GET", "/api/users/nobody/")] = lambda r: error(
        404, 100, "Object does not exist"
    )
    async with client_for(fake) as client:
        with pytest.raises(rbtokens.DoesNotExistError) as info:
            await client.get_path("users/nobody")
    assert info.value.http_status == 404


def test_api_token_over_plain_http_warns() -> None:
    with pytest.warns(rbtokens.RBTokensWarning, match="API token over plain http"):
        RBClient("http://reviews.example.com/", api_token="rbp_x")


async def test_hand_made_credential_headers_stay_home() -> None:
    fake = FakeReviewBoard()
    headers = {"Authorization": "Basic c2VjcmV0", "X-Real-IP": "10.1.2.3"}
    async with RBClient(
        BASE, transport=fake.transport, headers=headers, allow_foreign_origins=True
    ) as client:
        with pytest.raises(rbtokens.NotLoggedInError):
            await client.get_url("https://other.test/api/session/")
    foreign = fake.requests[-1]
    assert "Authorization" not in foreign.headers
    assert foreign.headers["X-Real-IP"] == "10.1.2.3"
