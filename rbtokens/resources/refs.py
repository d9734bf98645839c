"""Handles on resources not fetched yet: a URL, the type it holds, and the client.

The token verbs and the audit reach items through these (for example
``root.api_token_at("alice", 42).update(note="x")``), never by building URLs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from yarl import URL

from ..wire import encoded
from .base import ItemResource, Requester
from .lists import ListResource

__all__ = ["ItemRef", "ListRef"]

T = TypeVar("T", bound=ItemResource)
S = TypeVar("S")


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
            "GET", self.url, expect=self.item_type, query=encoded(query)
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
            "GET", self.url, query=encoded(query), anonymous=anonymous
        )

    async def get_as(self, shape: type[S], *, anonymous: bool = False, **query: Any) -> S:
        """The item's payload decoded into ``shape`` (see :meth:`RBClient.request_as`)."""
        return await self._client.request_as(
            "GET", self.url, shape, query=encoded(query), anonymous=anonymous
        )


class ListRef(Generic[T]):
    """A list at a known URL: its first page, or a new item.

    ``params`` are query parameters already in Review Board's spelling
    (:func:`~rbtokens.wire.encoded`), sent with every :meth:`get`: a walk
    that asks thousands of lists the same question encodes it once.
    """

    __slots__ = ("_client", "_expect", "item_type", "params", "url")

    def __init__(
        self,
        client: Requester,
        url: str | URL,
        item_type: type[T],
        *,
        params: Mapping[str, str] | None = None,
    ) -> None:
        self._client = client
        self.url = str(url)
        self.item_type = item_type
        self.params = params
        self._expect = ListResource.of(item_type)

    def __repr__(self) -> str:
        return f"<ListRef[{self.item_type.__name__}] {self.url}>"

    async def get(self, **query: Any) -> ListResource[T]:
        """GET the list's first page (``query``: ``max_results=``, ``start=``...)."""
        params = encoded(query) if query else None
        if self.params:
            params = {**self.params, **params} if params else self.params
        return await self._client.request("GET", self.url, expect=self._expect, query=params)

    async def create(self, **fields: Any) -> T:
        """POST ``fields`` and return the new item."""
        return await self._client.request("POST", self.url, expect=self.item_type, data=fields)

    async def get_json(self, *, anonymous: bool = False, **query: Any) -> Any:
        """The list's payload as sent (``anonymous``: asked for without credentials)."""
        return await self._client.request_json(
            "GET", self.url, query=encoded(query), anonymous=anonymous
        )

    async def get_as(self, shape: type[S], *, anonymous: bool = False, **query: Any) -> S:
        """A page of the list decoded into ``shape``, with :attr:`params` and ``query``."""
        params = encoded(query) if query else None
        if self.params:
            params = {**self.params, **params} if params else self.params
        return await self._client.request_as(
            "GET", self.url, shape, query=params, anonymous=anonymous
        )
