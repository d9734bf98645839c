"""Navigation of the resource tree, written once for every resource type.

Items are msgspec Structs that subclass :class:`ItemResource`: their fields
are typed (``token.note`` is a ``str``) and they carry their links. Lists are
:class:`ListResource` objects, generic in the item type, so iterating a
``ListResource[APIToken]`` yields ``APIToken``.

Every link is a method: ``await res.get_<link>(**query)`` or
``await res.follow("<link>", **query)``. This module builds no URL from
scratch: it follows hrefs and fills the server's URI templates.

Children the server inlined (``expand=``) are resources too, reached through
:attr:`ItemResource.expanded`, :meth:`~ItemResource.expanded_item` and
:meth:`~ItemResource.expanded_list`; they share their parent's client.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any, Generic, Protocol, Self, TypeVar, overload
from urllib.parse import quote

import anyio
import msgspec
from msgspec import UNSET, UnsetType
from yarl import URL

from .encoding import encode_query, merge_query
from .errors import ClientStateError, NavigationError, UnexpectedContentType, first_error

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Count", "ItemResource", "Link", "ListResource", "Requester"]


class Link(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of a resource's ``links``."""

    href: str
    method: str = "GET"
    title: str | None = None


class Requester(Protocol):
    """What resources need from the client: one request method."""

    async def request(
        self,
        method: str,
        url: str | URL,
        *,
        query: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        cached: Any = None,
    ) -> Any:
        """Send a request and return the decoded resource (``cached`` on 304)."""
        ...


_SPECIAL_LINKS = frozenset({"self", "create", "update", "delete", "next", "prev"})


class _Navigable:
    """Link following shared by items and lists."""

    __slots__ = ()

    links: dict[str, Link]
    _rb_client: weakref.ReferenceType[Requester] | None

    def _bind(self, client: Requester | weakref.ReferenceType[Any]) -> None:
        ref = client if isinstance(client, weakref.ReferenceType) else weakref.ref(client)
        # Items keep it in their __dict__ (dict=True), lists in a slot.
        self._rb_client = ref  # type: ignore[misc]

    @property
    def client(self) -> Requester:
        """The client this resource was fetched with."""
        ref = getattr(self, "_rb_client", None)
        client: Requester | None = ref() if ref is not None else None
        if client is None:
            raise ClientStateError("this resource is not bound to a live client")
        return client

    def _link(self, name: str) -> Link:
        try:
            return self.links[name]
        except KeyError:
            offered = ", ".join(sorted(self.links)) or "none"
            raise NavigationError(
                f"{type(self).__name__} has no {name!r} link (links: {offered})"
            ) from None

    def has_link(self, name: str) -> bool:
        """Whether the server offered the link ``name``."""
        return name in self.links

    async def follow(self, name: str, **query: Any) -> Any:
        """GET the link ``name`` (``-`` or ``_`` spelling), with ``query`` added."""
        link = self._link(name.replace("-", "_"))
        return await self.client.request("GET", link.href, query=encode_query(query))

    if not TYPE_CHECKING:
        # ``res.get_<link>()`` for any link the server offers. Defined only at
        # run time: for mypy, a typo is an error, not an awaitable of Any.
        # Typed code calls the explicit methods or ``follow("<link>")``.
        def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
            return _link_getter(self, name)


def _link_getter(obj: _Navigable, name: str) -> Callable[..., Awaitable[Any]]:
    if name.startswith("get_") and not name.startswith("get__"):
        link_name = name[4:]
        if link_name in _links_of(obj) and link_name not in _SPECIAL_LINKS:

            async def getter(**query: Any) -> Any:
                return await obj.follow(link_name, **query)

            getter.__name__ = name
            return getter
    raise AttributeError(f"{type(obj).__name__!r} object has no attribute {name!r}")


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


def _links_of(obj: object) -> dict[str, Link]:
    try:
        links = object.__getattribute__(obj, "links")
    except AttributeError:
        return {}
    return links if isinstance(links, dict) else {}


class _ExpandedMark:
    """The declared type of the hidden ``_expanded`` member: never instantiated.

    Declaring ``_expanded`` with this type makes msgspec hand it to the
    decoders' ``dec_hook``, which switches to the expanding path
    (:mod:`rbtokens.decoding`); a payload without one costs nothing.
    """

    __slots__ = ()


# ``extra_json_schema`` lets ``msgspec.json.schema()`` describe the member.
_MARK_SCHEMA = {"type": "object", "description": "Read by rbtokens.decoding (expand=)."}
_Mark = Annotated[_ExpandedMark, msgspec.Meta(extra_json_schema=_MARK_SCHEMA)]


_I = TypeVar("_I", bound="ItemResource")
_NO_CHILDREN: Mapping[str, Any] = MappingProxyType({})


class ItemResource(_Navigable, msgspec.Struct, kw_only=True, dict=True):
    """Base of every item Struct: typed fields plus link navigation.

    The private ``_expanded`` member only steers decoding: it is UNSET on a
    decoded item and left out of ``repr()``.
    """

    links: dict[str, Link] = msgspec.field(default_factory=dict)
    # Always UNSET on a decoded item: the children live in ``expanded``.
    _expanded: _Mark | UnsetType = UNSET

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={getattr(self, name)!r}"
            for name in self.__struct_fields__
            if not name.startswith("_")
        )
        return f"{type(self).__name__}({fields})"

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        return [(n, getattr(self, n)) for n in self.__struct_fields__ if not n.startswith("_")]

    @property
    def expanded(self) -> Mapping[str, ItemResource | list[ItemResource]]:
        """Children the server inlined (``expand=``), by field name (read-only).

        Each is an item (or a list of items) of the type its mime type names
        (:class:`~rbtokens.models.GenericItem` when unknown, or when it lacks
        what its type requires, e.g. trimmed by ``only_fields``), bound to
        this item's client.

        Children belong to the decoded object, not to its Struct fields:
        ``==``, ``copy``, ``pickle``, ``msgspec.to_builtins()`` and encoding
        ignore them. An item's ``self`` link carries no ``expand=`` (the
        session's does), so :meth:`get_self` returns it without children,
        and with another ETag, unless asked again:
        ``get_self(expand="api_tokens")``. A list page's links keep the
        query, so its ``get_self()`` and ``get_next()`` keep them.
        """
        children: dict[str, ItemResource | list[ItemResource]] | None = self.__dict__.get(
            "_rb_expanded"
        )
        if not children:
            return _NO_CHILDREN
        ref = self.__dict__.get("_rb_client")
        if ref is not None:  # bound on access: decoding and binding stay free
            for child in children.values():
                for item in child if isinstance(child, list) else (child,):
                    item._bind(ref)
        return MappingProxyType(children)

    def expanded_item(self, name: str, cls: type[_I]) -> _I:
        """The expanded child ``name``, checked to be one ``cls``.

        ``session.expanded_item("user", User)``. Raises
        :class:`~rbtokens.errors.NavigationError` if ``name`` was not expanded
        or is a list, :class:`~rbtokens.errors.UnexpectedContentType` if the
        server sent another type.
        """
        child = self._expanded_child(name)
        if isinstance(child, list):
            raise NavigationError(
                f"{type(self).__name__}.{name} is an expanded list: use expanded_list()"
            )
        return expect_item(child, cls)

    def expanded_list(self, name: str, cls: type[_I]) -> list[_I]:
        """The expanded list ``name``, each item checked to be a ``cls``.

        ``user.expanded_list("api_tokens", APIToken)``. Raises like
        :meth:`expanded_item`.
        """
        child = self._expanded_child(name)
        if not isinstance(child, list):
            raise NavigationError(
                f"{type(self).__name__}.{name} is one expanded item: use expanded_item()"
            )
        return [expect_item(item, cls) for item in child]

    def _expanded_child(self, name: str) -> ItemResource | list[ItemResource]:
        children = self.expanded
        try:
            return children[name]
        except KeyError:
            offered = ", ".join(sorted(children)) or "none"
            raise NavigationError(
                f"{type(self).__name__} has no expanded {name!r} (expanded: {offered}; "
                f"fetch it with expand={name!r})"
            ) from None

    def _run_time_attr(self, name: str) -> Any:
        """``item.<name>`` when no field has that name: an expanded child or a link getter."""
        children = self.__dict__.get("_rb_expanded")
        if children is not None and name in children:
            return self.expanded[name]
        return _link_getter(self, name)

    if not TYPE_CHECKING:
        # RBTools' spelling: ``user.api_tokens`` for an expanded child. Run
        # time only, like the link getters; typed code uses expanded_*().
        __getattr__ = _run_time_attr

    @property
    def etag(self) -> str | None:
        """The ETag the server sent with this item, exactly as sent."""
        return self.__dict__.get("_rb_etag")

    @property
    def href(self) -> str:
        """The item's own API URL (its ``self`` link)."""
        return self._link("self").href

    async def get_self(self, **query: Any) -> Self:
        """Fetch the item again, with ``query`` added (``expand=``, ``only_fields=``).

        Without a query the request revalidates with ``If-None-Match`` and a
        304 returns this item. A query makes it another URL, so it is never
        conditional: this item's ETag is not that URL's.
        """
        if query:
            res = await self.client.request("GET", self.href, query=encode_query(query))
        else:
            res = await self.client.request("GET", self.href, cached=self)
        return expect_item(res, type(self))

    async def update(self, **fields: Any) -> Self:
        """PUT ``fields`` to the item's ``update`` link and return the new state."""
        link = self._link("update")
        res = await self.client.request(link.method, link.href, data=fields)
        return expect_item(res, type(self))

    async def delete(self) -> None:
        """DELETE the item through its ``delete`` link."""
        link = self._link("delete")
        await self.client.request(link.method, link.href)


class Count(msgspec.Struct, kw_only=True):
    """The answer to a ``counts_only=True`` list request."""

    count: int


T = TypeVar("T", bound=ItemResource)


def expect_item(res: Any, cls: type[T]) -> T:
    """``res`` if it is a ``cls``; otherwise the server sent the wrong type."""
    if not isinstance(res, cls):
        raise UnexpectedContentType(
            f"expected {cls.__name__}, got {type(res).__name__}", http_status=200
        )
    return res


class ListResource(_Navigable, Generic[T]):
    """One page of a list resource, typed by its items."""

    __slots__ = ("_rb_client", "item_type", "items", "links", "mimetype", "total_results")

    def __init__(
        self,
        *,
        items: list[T],
        item_type: type[T],
        links: dict[str, Link],
        total_results: int | None,
        mimetype: str = "",
    ) -> None:
        self.items = items
        self.item_type = item_type
        self.links = links
        self.total_results = total_results
        self.mimetype = mimetype
        self._rb_client = None

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

    async def get_self(self) -> ListResource[T]:
        """Fetch this page again."""
        return self._typed(await self.client.request("GET", self.href))

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
        return self._typed(await self.client.request("GET", link.href, query=encode_query(query)))

    def _typed(self, res: Any) -> ListResource[T]:
        if not isinstance(res, ListResource):
            raise UnexpectedContentType(
                f"expected a list of {self.item_type.__name__}, got {type(res).__name__}",
                http_status=200,
            )
        return res

    async def get_item(self, pk: int | str, **query: Any) -> T:
        """Fetch one item of this list by its id (RBTools' ``get_item``)."""
        try:
            base = URL(self.href).with_query(None)
            url = base.join(URL(quote(str(pk), safe="") + "/"))
        except ValueError as exc:
            raise NavigationError(f"cannot build an item URL from {self.href!r}: {exc}") from None
        res = await self.client.request("GET", url, query=encode_query(query))
        return expect_item(res, self.item_type)

    async def create(self, **fields: Any) -> T:
        """POST ``fields`` to the list's ``create`` link; returns the new item."""
        link = self._link("create")
        res = await self.client.request(link.method, link.href, data=fields)
        return expect_item(res, self.item_type)

    async def pages(self, *, concurrency: int = 1) -> AsyncIterator[ListResource[T]]:
        """Yield this page and every following one, in order.

        With ``concurrency > 1`` and a known ``total_results``, the remaining
        pages are fetched that many at a time at computed offsets, then any
        ``next`` link left (the list grew meanwhile) is followed. A ``next``
        link that repeats, or one after an empty page (``max-results=0``),
        ends the walk instead of looping for ever.
        """
        yield self
        page: ListResource[T] = self
        seen = {self.links["self"].href} if "self" in self.links else set()
        if concurrency > 1 and self.total_results is not None and self.items:
            offsets = self._remaining_offsets()
            if offsets:
                async for page in self._fetch_offsets(offsets, concurrency):
                    seen.add(page.links["self"].href if "self" in page.links else "")
                    yield page
        while page.items:
            link = page.links.get("next")
            if link is None or link.href in seen:
                return
            seen.add(link.href)
            page = self._typed(await self.client.request("GET", link.href))
            yield page

    def _remaining_offsets(self) -> list[tuple[int, int]]:
        nxt = self.links.get("next")
        if nxt is None or self.total_results is None:
            return []
        try:  # a malformed href (ValueError) leaves the serial walk to report it
            query = URL(nxt.href).query
            start = int(query.get("start", "0"))
            size = int(query.get("max-results", str(len(self.items))))
        except ValueError:
            return []
        if size <= 0:
            return []
        return [(off, size) for off in range(start, self.total_results, size)]

    async def _fetch_offsets(
        self, offsets: Sequence[tuple[int, int]], concurrency: int
    ) -> AsyncIterator[ListResource[T]]:
        template = URL(self.links["next"].href)
        for i in range(0, len(offsets), concurrency):
            batch = offsets[i : i + concurrency]
            results: list[ListResource[T] | None] = [None] * len(batch)

            try:
                async with anyio.create_task_group() as tg:
                    for slot, (start, size) in enumerate(batch):
                        tg.start_soon(self._fetch_into, results, slot, template, start, size)
            except ExceptionGroup as group:
                # Callers catch RBTokensError, not a group: raise the first failure.
                raise first_error(group) from None
            for res in results:
                if res is not None:
                    yield res

    async def _fetch_into(
        self,
        results: list[ListResource[T] | None],
        slot: int,
        template: URL,
        start: int,
        size: int,
    ) -> None:
        url = merge_query(template, {"start": str(start), "max-results": str(size)})
        results[slot] = self._typed(await self.client.request("GET", url))

    async def all_items(self, *, concurrency: int = 1) -> AsyncIterator[T]:
        """Yield every item from this page to the last, each id once."""
        seen: set[Any] = set()
        async for page in self.pages(concurrency=concurrency):
            for item in page.items:
                key = getattr(item, "id", None)
                if key is not None:
                    if key in seen:
                        continue
                    seen.add(key)
                yield item
