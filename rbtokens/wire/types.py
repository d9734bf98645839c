"""The plain data the wire layer decodes into, besides the registered item Structs.

A list response becomes a :class:`Page`; the resources layer wraps it in a
navigable ``ListResource``. :class:`ListOf` names the list a caller expects.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

import msgspec

__all__ = [
    "CHILDREN_KEY",
    "Count",
    "Decoded",
    "ExpandedMark",
    "Link",
    "ListOf",
    "Mark",
    "Page",
    "children_of",
]


class Link(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of a resource's ``links``."""

    href: str
    method: str = "GET"
    title: str | None = None


class Count(msgspec.Struct, kw_only=True):
    """The answer to a ``counts_only=True`` list request."""

    count: int


_T = TypeVar("_T")


class Page:
    """One decoded page of a list resource.

    The resources layer registers its navigable subclass, ``ListResource``,
    which the decoders then build instead (:func:`~rbtokens.wire.registry.register_page`).
    """

    __slots__ = ("item_type", "items", "links", "mimetype", "total_results")

    def __init__(
        self,
        *,
        items: list[Any],
        item_type: type[Any],
        links: dict[str, Link],
        total_results: int | None,
        mimetype: str = "",
    ) -> None:
        self.items = items
        self.item_type = item_type
        self.links = links
        self.total_results = total_results
        self.mimetype = mimetype


class ListOf(msgspec.Struct, Generic[_T], frozen=True):
    """What a caller expects: a list whose items are ``item_type`` (or a subclass)."""

    item_type: type[_T]


class ExpandedMark:
    """The declared type of an item's hidden ``_expanded`` member: never instantiated.

    Declaring ``_expanded`` with this type makes msgspec hand it to the
    decoders' ``dec_hook``, which switches to the expanding path
    (:mod:`rbtokens.wire.expanded`); a payload without one costs nothing.
    """

    __slots__ = ()


# ``extra_json_schema`` lets ``msgspec.json.schema()`` describe the member.
_MARK_SCHEMA = {"type": "object", "description": "Read by rbtokens.wire (expand=)."}
Mark = Annotated[ExpandedMark, msgspec.Meta(extra_json_schema=_MARK_SCHEMA)]

#: Where a decoded item keeps its expanded children (in its ``__dict__``).
CHILDREN_KEY = "_rb_expanded"


def children_of(item: Any) -> dict[str, Any] | None:
    """The expanded children the decoder stored on ``item``, by field name."""
    children: dict[str, Any] | None = item.__dict__.get(CHILDREN_KEY)
    return children


#: What decoding returns: a registered item Struct, a page, a count, or None (204).
Decoded = msgspec.Struct | Page | Count | None
