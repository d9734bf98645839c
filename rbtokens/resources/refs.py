"""Handles on resources not fetched yet: a URL, the type it holds, and the client.

The token verbs and the audit reach items through these (for example
``root.api_token_at("alice", 42).update(note="x")``), never by building URLs.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from yarl import URL

from ..wire import encode_query
from .base import ItemResource, Requester
from .lists import ListResource

__all__ = ["ItemRef", "ListRef"]

T = TypeVar("T", bound=ItemResource)


class ItemRef(Generic[T]):
    """One item at a known URL: ``get``, ``update`` and ``delete`` without fetching it first."""

    __slots__ = ("_client", "item_type", "url")

    def __init__(self, client: Requester, url: str | URL, item_type: type[T]) -> None:
        self._client = client
        self.url = str(url)
        self.item_type = item_type

    def __repr__(self) -> str:
        return f"<ItemRef[{self.item_type.__name__}] {self.url}>"

    async def get(self, **query: Any) -> T:
        """GET the item (``query``: ``only_fields=``, ``expand=``...)."""
        return await self._client.request(
            "GET", self.url, expect=self.item_type, query=encode_query(query)
        )

    async def update(self, **fields: Any) -> T:
        """PUT ``fields`` (form-encoded like RBTools) and return the new state."""
        return await self._client.request("PUT", self.url, expect=self.item_type, data=fields)

    async def delete(self) -> None:
        """DELETE the item."""
        await self._client.request("DELETE", self.url)

    async def get_json(self, *, anonymous: bool = False, **query: Any) -> Any:
        """The item's payload as sent (``anonymous``: asked for without credentials)."""
        return await self._client.request_json(
            "GET", self.url, query=encode_query(query), anonymous=anonymous
        )


class ListRef(Generic[T]):
    """A list at a known URL: its first page, a new item, or one item by id."""

    __slots__ = ("_client", "item_type", "url")

    def __init__(self, client: Requester, url: str | URL, item_type: type[T]) -> None:
        self._client = client
        self.url = str(url)
        self.item_type = item_type

    def __repr__(self) -> str:
        return f"<ListRef[{self.item_type.__name__}] {self.url}>"

    async def get(self, **query: Any) -> ListResource[T]:
        """GET the list's first page (``query``: ``max_results=``, ``start=``...)."""
        return await self._client.request(
            "GET", self.url, expect=ListResource.of(self.item_type), query=encode_query(query)
        )

    async def create(self, **fields: Any) -> T:
        """POST ``fields`` and return the new item."""
        return await self._client.request("POST", self.url, expect=self.item_type, data=fields)

    async def get_json(self, *, anonymous: bool = False, **query: Any) -> Any:
        """The list's payload as sent (``anonymous``: asked for without credentials)."""
        return await self._client.request_json(
            "GET", self.url, query=encode_query(query), anonymous=anonymous
        )
