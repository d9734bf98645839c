"""The page-number view of a token listing: pages, iteration and indexing across pages.

Against an in-memory Review Board 8.1 token resource (``FakeTokenServer``).
"""

from __future__ import annotations

import pytest
from tokenkit import client_for

from rbtokens.transport import Request, Response
from tools.standin.testing import FakeTokenServer


async def test_pager_describes_one_page(fake: FakeTokenServer, seven: list[int]) -> None:
    async with client_for(fake) as client:
        pager = await client.tokens.list("bob", per_page=3)
        assert (pager.page, pager.per_page, pager.total_items, pager.total_pages) == (1, 3, 7, 3)
        assert [t.id for t in pager.items] == seven[:3]
        assert [t.id for t in await pager.page_items()] == seven[:3]
        last = await client.tokens.list("bob", page=3, per_page=3)
        assert [t.id for t in last.items] == seven[6:]
        beyond = await client.tokens.list("bob", page=4, per_page=3)
        assert beyond.items == [] and beyond.total_items == 7
        second = await pager.next_page()
        assert second is not None and [t.id for t in second.items] == seven[3:6]
        assert await last.next_page() is None
        first = await second.prev_page()
        assert first is not None and first.page == 1 and await first.prev_page() is None
    queries = [r.url.query for r in fake.requests if r.url.path.endswith("/api-tokens/")]
    assert {"start": "6", "max-results": "3"} in [dict(q) for q in queries]


async def test_pager_iterates_from_its_page_to_the_last(
    fake: FakeTokenServer, seven: list[int]
) -> None:
    async with client_for(fake) as client:
        pager = await client.tokens.list("bob", page=2, per_page=3)
        assert [t.id async for t in pager] == seven[3:]
        assert [t.id for t in await pager.all()] == seven[3:]
        first = await client.tokens.list("bob", per_page=2)
        assert [t.id async for t in first] == seven


async def test_pager_indexing_across_pages(fake: FakeTokenServer, seven: list[int]) -> None:
    async with client_for(fake) as client:
        pager = await client.tokens.list("bob", per_page=3)
        assert (await pager[0]).id == seven[0]
        assert (await pager[4]).id == seven[4]
        assert (await pager[-1]).id == seven[-1]
        assert (await pager[-7]).id == seven[0]
        assert [t.id for t in await pager[1:5]] == seven[1:5]
        assert [t.id for t in await pager[-2:]] == seven[-2:]
        assert [t.id for t in await pager[::3]] == seven[::3]
        assert [t.id for t in await pager[::-2]] == seven[::-2]
        assert await pager[10:20] == []
        with pytest.raises(IndexError):
            await pager[7]
        with pytest.raises(IndexError):
            await pager[-8]
        with pytest.raises(TypeError):
            pager["x"]  # type: ignore[call-overload]
        # Indices count from the pager's own page; negatives from the last token.
        second = await pager.goto(2)
        assert (await second[0]).id == seven[3]
        assert (await second[-1]).id == seven[-1]
        assert [t.id for t in await second[:]] == seven[3:]
        with pytest.raises(IndexError):
            await second[4]


async def test_per_page_above_the_server_cap_is_fetched_in_chunks() -> None:
    fake = FakeTokenServer()
    ids = [fake.add_token("bob")["id"] for _ in range(205)]
    async with client_for(fake) as client:
        pager = await client.tokens.list("bob", per_page=203)
        assert [t.id for t in pager.items] == ids[:203]
        assert pager.total_pages == 2
        assert [t.id async for t in pager] == ids
    sizes = {int(r.url.query["max-results"]) for r in fake.requests if "max-results" in r.url.query}
    assert max(sizes) <= 200


async def test_pager_iteration_drops_tokens_seen_on_earlier_pages(
    fake: FakeTokenServer, seven: list[int]
) -> None:
    # The listing has no ORDER BY: a later chunk may repeat a token.
    def shifted(request: Request) -> Response:
        url = request.url.update_query(start=str(int(request.url.query["start"]) - 1))
        return fake.route(Request(request.method, url, request.headers, request.body))

    async with client_for(fake) as client:
        pager = await client.tokens.list("bob", per_page=2)
        fake.inject("GET", "/users/bob/api-tokens/", shifted)
        assert [t.id async for t in pager] == seven
