"""Items: msgspec Structs that carry their links, and the client they came from.

Every link is a method: ``await res.get_<link>(**query)`` or
``await res.follow("<link>", **query)``. This layer builds no URL from
scratch: it follows hrefs and fills the server's URI templates.

Children the server inlined (``expand=``) are resources too, reached through
:attr:`ItemResource.expanded`, :meth:`~ItemResource.expanded_item` and
:meth:`~ItemResource.expanded_list`; they share their parent's client.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar, overload

import msgspec
from msgspec import UNSET, UnsetType
from yarl import URL

from ..errors import ClientStateError, NavigationError, UnexpectedContentType
from ..wire import Link, Mark, encoded
from ..wire.types import children_of

__all__ = ["ItemResource", "Navigable", "Requester", "expect_item"]

_R = TypeVar("_R")
_I = TypeVar("_I", bound="ItemResource")


class Requester(Protocol):
    """What resources need from the client: the typed request choke point.

    ``expect`` names the type the answer must have (an item Struct,
    :class:`~rbtokens.wire.Count`, or ``ListResource[Item]``); anything else
    is :class:`~rbtokens.errors.UnexpectedContentType`.
    """

    @overload
    async def request(
        self,
        method: str,
        url: str | URL,
        *,
        expect: type[_R],
        query: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        cached: Any = None,
    ) -> _R: ...
    @overload
    async def request(
        self,
        method: str,
        url: str | URL,
        *,
        expect: None = None,
        query: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        cached: Any = None,
    ) -> Any: ...

    async def request_as(
        self,
        method: str,
        url: str | URL,
        shape: type[_R],
        *,
        query: Mapping[str, Any] | None = None,
        anonymous: bool = False,
    ) -> _R:
        """The checked answer decoded into ``shape`` (any msgspec type), not a resource."""
        ...

    async def request_json(
        self,
        method: str,
        url: str | URL,
        *,
        query: Mapping[str, Any] | None = None,
        anonymous: bool = False,
    ) -> Any:
        """The checked JSON payload, as sent (``anonymous``: without credentials)."""
        ...


ClientRef = weakref.ReferenceType[Requester]
_SPECIAL_LINKS = frozenset({"self", "create", "update", "delete", "next", "prev"})


class Navigable:
    """Link following shared by items and lists."""

    __slots__ = ()

    links: dict[str, Link]
    _rb_client: ClientRef | None

    def _bind(self, ref: ClientRef) -> None:
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
        return await self.client.request("GET", link.href, query=encoded(query))

    async def _follow_as(self, name: str, expect: type[_R], query: Mapping[str, Any]) -> _R:
        link = self._link(name)
        return await self.client.request("GET", link.href, expect=expect, query=encoded(query))

    if not TYPE_CHECKING:
        # ``res.get_<link>()`` for any link the server offers. Defined only at
        # run time: for mypy, a typo is an error, not an awaitable of Any.
        # Typed code calls the explicit methods or ``follow("<link>")``.
        def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
            return link_getter(self, name)


def link_getter(obj: Navigable, name: str) -> Callable[..., Awaitable[Any]]:
    """``obj.get_<link>`` for a link the server offered, else AttributeError."""
    if name.startswith("get_") and not name.startswith("get__"):
        link_name = name[4:]
        if link_name in _links_of(obj) and link_name not in _SPECIAL_LINKS:

            async def getter(**query: Any) -> Any:
                return await obj.follow(link_name, **query)

            getter.__name__ = name
            return getter
    raise AttributeError(f"{type(obj).__name__!r} object has no attribute {name!r}")


def _links_of(obj: object) -> dict[str, Link]:
    try:
        links = object.__getattribute__(obj, "links")
    except AttributeError:
        return {}
    return links if isinstance(links, dict) else {}


_NO_CHILDREN: Mapping[str, Any] = MappingProxyType({})
_ETAG_KEY = "_rb_etag"


class ItemResource(Navigable, msgspec.Struct, kw_only=True, dict=True):
    """Base of every item Struct: typed fields plus link navigation.

    The private ``_expanded`` member only steers decoding: it is UNSET on a
    decoded item and left out of ``repr()``.
    """

    links: dict[str, Link] = msgspec.field(default_factory=dict)
    # Always UNSET on a decoded item: the children live in ``expanded``.
    _expanded: Mark | UnsetType = UNSET

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
        (:class:`~rbtokens.GenericItem` when unknown, or when it lacks what
        its type requires, e.g. trimmed by ``only_fields``), bound to this
        item's client.

        Children belong to the decoded object, not to its Struct fields:
        ``==``, ``copy``, ``pickle``, ``msgspec.to_builtins()`` and encoding
        ignore them. An item's ``self`` link carries no ``expand=`` (the
        session's does), so :meth:`get_self` returns it without children,
        and with another ETag, unless asked again:
        ``get_self(expand="api_tokens")``. A list page's links keep the
        query, so its ``get_self()`` and ``get_next()`` keep them.
        """
        children: dict[str, ItemResource | list[ItemResource]] | None = children_of(self)
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
        children = children_of(self)
        if children is not None and name in children:
            return self.expanded[name]
        return link_getter(self, name)

    if not TYPE_CHECKING:
        # RBTools' spelling: ``user.api_tokens`` for an expanded child. Run
        # time only, like the link getters; typed code uses expanded_*().
        __getattr__ = _run_time_attr

    @property
    def etag(self) -> str | None:
        """The ETag the server sent with this item, exactly as sent."""
        return self.__dict__.get(_ETAG_KEY)

    def _set_etag(self, etag: str) -> None:
        self.__dict__[_ETAG_KEY] = etag

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
        cls = type(self)
        if query:
            return await self.client.request("GET", self.href, expect=cls, query=encoded(query))
        return await self.client.request("GET", self.href, expect=cls, cached=self)

    async def update(self, **fields: Any) -> Self:
        """PUT ``fields`` to the item's ``update`` link and return the new state."""
        link = self._link("update")
        return await self.client.request(link.method, link.href, expect=type(self), data=fields)

    async def delete(self) -> None:
        """DELETE the item through its ``delete`` link."""
        link = self._link("delete")
        await self.client.request(link.method, link.href)


def expect_item(res: Any, cls: type[_I]) -> _I:
    """``res`` if it is a ``cls``; otherwise the server sent the wrong type."""
    if not isinstance(res, cls):
        raise UnexpectedContentType(
            f"expected {cls.__name__}, got {type(res).__name__}", http_status=200
        )
    return res
