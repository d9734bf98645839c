"""``get_root`` and ``get_path``: paths, queries, counts, and answers of the wrong kind."""

from __future__ import annotations

import pytest
from fakeclient import FAST, client_for
from yarl import URL

import rbtokens
from rbtokens import RBClient
from rbtokens.errors import UnexpectedContentType
from rbtokens.transport import MockTransport, Request, Response
from tools.standin.testing import BASE, FakeReviewBoard, error, ok


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


async def test_get_path_adds_trailing_slash() -> None:
    fake = FakeReviewBoard()
    async with client_for(fake) as client:
        await client.get_path("users/u001")
    assert fake.requests[-1].url == URL(f"{BASE}/api/users/u001/")


async def test_error_status_from_server() -> None:
    fake = FakeReviewBoard()
    fake.overrides[("GET", "/api/users/nobody/")] = lambda r: error(
        404, 100, "Object does not exist"
    )
    async with client_for(fake) as client:
        with pytest.raises(rbtokens.DoesNotExistError) as info:
            await client.get_path("users/nobody")
    assert info.value.http_status == 404


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


async def test_get_root_of_the_wrong_type_is_unexpected_content() -> None:
    def handler(req: Request) -> Response:
        return ok("session", {"session": {"authenticated": False, "links": {}}})

    async with RBClient("https://rb.test/", transport=MockTransport(handler)) as c:
        with pytest.raises(UnexpectedContentType, match="not a Review Board API root"):
            await c.get_root()
