"""Lists: one page of a list resource, typed by its items, and how answers become resources."""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, Generic, TypeVar, get_args, get_origin, overload
from urllib.parse import quote

from yarl import URL

from ..errors import NavigationError
from ..wire import Count, Decoded, Link, ListOf, Page, encoded, register_page
from .base import ClientRef, ItemResource, Navigable
from .paging import Paginator

__all__ = ["ListResource", "Resource", "adopt", "expectation"]

T = TypeVar("T", bound=ItemResource)
_I = TypeVar("_I", bound=ItemResource)


def _same_href(a: str, b: str) -> bool:
    """Whether two hrefs name the same page (parameters in any order, ``start`` 0 by default)."""
    if a == b:
        return True
    try:
        ua, ub = URL(a), URL(b)
        return ua.with_query(None) == ub.with_query(None) and _page_query(ua) == _page_query(ub)
    except (ValueError, TypeError):
        return False


def _page_query(url: URL) -> dict[str, str]:
    query = dict(url.query)
    query.setdefault("start", "0")
    return query


class ListResource(Navigable, Page, Generic[T]):
    """One page of a list resource, typed by its items."""

    __slots__ = ("_rb_client",)
    items: list[T]
    item_type: type[T]

    def __init__(
        self,
        *,
        items: list[T],
        item_type: type[T],
        links: dict[str, Link],
        total_results: int | None,
        mimetype: str = "",
    ) -> None:
        super().__init__(
            items=items,
            item_type=item_type,
            links=links,
            total_results=total_results,
            mimetype=mimetype,
        )
        self._rb_client: ClientRef | None = None

    @classmethod
    def of(cls, item_type: type[_I]) -> type[ListResource[_I]]:
        """``ListResource[item_type]``, for ``request(..., expect=...)`` with a runtime type."""
        alias = _ALIASES.get(item_type)
        if alias is None:
            alias = _ALIASES[item_type] = cls[item_type]  # type: ignore[index]
        return alias  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return (
            f"<ListResource[{self.item_type.__name__}] {len(self.items)} items"
            f" of {self.total_results}>"
        )

    def __len__(self) -> int:
        return len(self.items)

    @property
    def num_items(self) -> int:
        """Items on this page (RBTools' name)."""
        return len(self.items)

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        return self.items[index]

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    @property
    def href(self) -> str:
        """This page's own API URL (its ``self`` link)."""
        return self._link("self").href

    async def fetch_page(self, url: str | URL, **query: Any) -> ListResource[T]:
        """GET another page of this list (same item type) by URL."""
        return await self.client.request(
            "GET", url, expect=ListResource.of(self.item_type), query=encoded(query)
        )

    async def get_self(self) -> ListResource[T]:
        """Fetch this page again."""
        return await self.fetch_page(self.href)

    async def get_next(self, **query: Any) -> ListResource[T] | None:
        """The next page, or ``None`` after the last one."""
        return await self._step("next", query)

    async def get_prev(self, **query: Any) -> ListResource[T] | None:
        """The previous page, or ``None`` before the first one."""
        return await self._step("prev", query)

    async def _step(self, name: str, query: Mapping[str, Any]) -> ListResource[T] | None:
        link = self.links.get(name)
        if link is None:
            return None
        own = self.links.get("self")
        if own is not None and _same_href(link.href, own.href):
            # A ``max-results=0`` page links to itself as ``next``: the end.
            return None
        return await self.fetch_page(link.href, **query)

    async def get_item(self, pk: int | str, **query: Any) -> T:
        """Fetch one item of this list by its id (RBTools' ``get_item``)."""
        try:
            base = URL(self.href).with_query(None)
            url = base.join(URL(quote(str(pk), safe="") + "/"))
        except ValueError as exc:
            raise NavigationError(f"cannot build an item URL from {self.href!r}: {exc}") from None
        return await self.client.request("GET", url, expect=self.item_type, query=encoded(query))

    async def create(self, **fields: Any) -> T:
        """POST ``fields`` to the list's ``create`` link; returns the new item."""
        link = self._link("create")
        return await self.client.request(link.method, link.href, expect=self.item_type, data=fields)

    def pager(self, *, concurrency: int = 1) -> Paginator[ListResource[T]]:
        """The pager over this list from this page (see :class:`~.paging.Paginator`)."""
        return Paginator(self, self.fetch_page, concurrency=concurrency)

    async def pages(self, *, concurrency: int = 1) -> AsyncIterator[ListResource[T]]:
        """Yield this page and every following one, in order.

        With ``concurrency > 1`` and a known ``total_results``, the remaining
        pages are fetched that many at a time at computed offsets, then any
        ``next`` link left (the list grew meanwhile) is followed. A ``next``
        link that repeats, or one after an empty page (``max-results=0``),
        ends the walk instead of looping for ever.
        """
        async for page in self.pager(concurrency=concurrency).pages():
            yield page

    async def all_items(self, *, concurrency: int = 1) -> AsyncIterator[T]:
        """Yield every item from this page to the last, each id once."""
        pager = self.pager(concurrency=concurrency)
        async for page in pager.pages():
            for item in pager.unseen(page.items):
                yield item


#: What a request answers, once adopted: an item, a page, a count, or nothing.
Resource = ItemResource | ListResource[Any] | Count | None

_ALIASES: dict[type[Any], Any] = {}
# By identity: hashing a generic alias costs more than the lookup saves. The
# entry keeps ``expect`` alive, so its id is not reused.
_EXPECTATIONS: dict[int, tuple[Any, type[Any] | ListOf[Any]]] = {}


def expectation(expect: Any) -> type[Any] | ListOf[Any]:
    """What the wire layer checks for ``expect`` (``ListResource[X]`` → ``ListOf(X)``)."""
    hit = _EXPECTATIONS.get(id(expect))
    if hit is not None and hit[0] is expect:
        return hit[1]
    wanted: type[Any] | ListOf[Any] = expect
    if get_origin(expect) is ListResource:
        wanted = ListOf(get_args(expect)[0])
    elif expect is ListResource:
        wanted = ListOf(ItemResource)
    if len(_EXPECTATIONS) < 256:
        _EXPECTATIONS[id(expect)] = (expect, wanted)
    return wanted


def adopt(decoded: Decoded, ref: ClientRef, etag: str | None = None) -> Resource:
    """A decoded answer as a resource bound to the client behind ``ref``."""
    if isinstance(decoded, ItemResource):
        decoded._bind(ref)
        if etag:
            decoded._set_etag(etag)
        return decoded
    if isinstance(decoded, ListResource):
        decoded._rb_client = ref
        for item in decoded.items:
            item._bind(ref)
        return decoded
    if decoded is None or isinstance(decoded, Count):
        return decoded
    raise TypeError(f"cannot adopt {type(decoded).__name__}")  # pragma: no cover


register_page(ListResource)


def weak(client: Any) -> ClientRef:
    """A weak reference to ``client`` (resources never keep a client alive)."""
    return weakref.ref(client)
