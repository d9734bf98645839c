"""The one pager: ``get_next``, ``get_prev``, ``all_items``; walks end on loops and fail cleanly."""

from __future__ import annotations

import json

import pytest
from fakeclient import FAST, client_for
from scripted import TINY, html

import tools.standin.testing as fakerb
from rbtokens import HTTPStatusError, ListResource, RBClient
from rbtokens.transport import MockTransport, Request, Response
from tools.standin.testing import BASE, FakeReviewBoard


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


async def test_next_link_to_the_page_itself_ends_the_walk() -> None:
    fake = FakeReviewBoard(users=5)
    async with RBClient(
        BASE, username="admin", password=fake.password, transport=fake.transport, retry=FAST
    ) as c:
        page = await c.get_url(BASE + "/api/users/?max-results=0")
        assert page.links["next"].href  # the server links to the same page
        assert await page.get_next() is None


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_a_failing_page_in_a_concurrent_walk_raises_an_rbtokens_error(
    concurrency: int,
) -> None:
    fake = FakeReviewBoard(users=9)

    def handle(request: Request) -> Response:
        if request.url.path == "/api/users/" and request.url.query.get("start") == "3":
            return html(503)
        return fake.handle(request)

    transport = MockTransport(handle)
    kw = {"username": "admin", "password": fake.password}
    async with RBClient(fakerb.BASE, transport=transport, retry=TINY, **kw) as c:
        first = await (await c.get_root()).get_users(max_results=3, include_inactive=True)
        with pytest.raises(HTTPStatusError) as info:
            [u async for u in first.all_items(concurrency=concurrency)]
    assert info.value.http_status == 503
    failing = [r for r in transport.requests if r.url.query.get("start") == "3"]
    assert len(failing) == TINY.attempts
