"""Which Struct decodes which item mime type; filled by the models where they are defined."""

from __future__ import annotations

from typing import Any, Protocol

from .types import Page

__all__ = [
    "GenericType",
    "generic_type",
    "item_type",
    "page_type",
    "register_generic",
    "register_page",
    "set_item_type",
]


class GenericType(Protocol):
    """The Struct for items of a type nobody registered: links plus a dict of fields."""

    def __call__(self, *, links: Any, fields: dict[str, Any]) -> Any:
        """Build one from a payload's links and remaining fields."""
        ...


_ITEM_TYPES: dict[str, type[Any]] = {}
_GENERIC: list[type[Any]] = []
_PAGE: list[type[Page]] = [Page]


def set_item_type(name: str, cls: type[Any]) -> None:
    """Record ``cls`` as the Struct of item mime name ``name``."""
    _ITEM_TYPES[name] = cls


def register_generic(cls: type[Any]) -> None:
    """Set the Struct for unknown item types (the resources layer's ``GenericItem``)."""
    _GENERIC[:] = [cls]


def generic_type() -> type[Any]:
    """The Struct for unknown item types."""
    if not _GENERIC:
        raise RuntimeError("no generic item type is registered (import rbtokens.resources)")
    return _GENERIC[0]


def item_type(name: str | None) -> type[Any]:
    """The Struct registered for item mime name ``name``, else the generic one."""
    cls = _ITEM_TYPES.get(name or "")
    return cls if cls is not None else generic_type()


def register_page(cls: type[Page]) -> None:
    """Set the class decoded pages are built as (the resources layer's ``ListResource``)."""
    _PAGE[:] = [cls]


def page_type() -> type[Page]:
    """The class decoded pages are built as."""
    return _PAGE[0]
