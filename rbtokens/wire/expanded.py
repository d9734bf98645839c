"""Expanded children (``expand=``): items the server inlined into another item.

Review Board marks them with an ``_expanded`` object per item, naming each
inlined field and its ``item_mimetype``. Each named field is popped from its
item and turned into registry-typed items, stored in the item's
``__dict__[CHILDREN_KEY]``. A child that does not fit its registry type
(trimmed by ``only-fields``) becomes the generic item; only a malformed
``_expanded`` (not an object of objects, naming a missing field, ``links`` or
a field of the item's own type, an entry for a list whose field is not an
array, a child that is not an object) is an error.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .mime import mime_name
from .registry import generic_type, item_type
from .types import CHILDREN_KEY, Link

__all__ = ["item_from", "json_object", "located"]

_links_type = dict[str, Link]
_Children = dict[str, Any]


def item_from(obj: Any, cls: type[Any], *, fallback: bool = False, at: str = "") -> Any:
    """``obj`` as a ``cls``, holding its expanded children.

    With ``fallback``, a generic item if it does not fit. ``at`` is ``obj``'s
    path in the body (``.users[3]``), for msgspec's messages.
    """
    if not isinstance(obj, dict):
        raise located(msgspec.ValidationError("expected a JSON object for an item"), at)
    children = _take_expanded(obj, cls)
    generic = generic_type()
    item: Any = None
    if cls is not generic:
        try:
            item = msgspec.convert(obj, cls)
        except msgspec.ValidationError as exc:
            if not fallback:
                raise located(exc, at) from None
    if item is None:
        fields = {k: v for k, v in obj.items() if k not in ("links", "stat")}
        item = generic(links=msgspec.convert(obj.get("links", {}), _links_type), fields=fields)
    if children:
        item.__dict__[CHILDREN_KEY] = children
    return item


def located(exc: msgspec.ValidationError, at: str) -> msgspec.ValidationError:
    """``exc`` as msgspec words it for the whole body, ``at`` being the item's path."""
    if not at:
        return exc
    text, sep, path = str(exc).partition(" - at `$")
    return msgspec.ValidationError(f"{text} - at `${at}{path}" if sep else f"{text} - at `${at}`")


def json_object(body: bytes) -> dict[str, Any]:
    """``body`` as a JSON object, or a ValidationError."""
    data = msgspec.json.decode(body)
    if not isinstance(data, dict):
        raise msgspec.ValidationError("expected a JSON object")
    return data


_OWN_NAMES: dict[type[Any], frozenset[str]] = {}


def _own_names(cls: type[Any]) -> frozenset[str]:
    """Wire names an ``_expanded`` may not claim: ``links`` and ``cls``'s own fields."""
    names = _OWN_NAMES.get(cls)
    if names is None:
        if cls is generic_type():  # its ``fields`` holds the payload: only links is its own
            names = frozenset({"links"})
        else:
            fields = msgspec.structs.fields(cls)
            names = frozenset(f.encode_name for f in fields if f.name != "_expanded")
        _OWN_NAMES[cls] = names
    return names


class _ExpandInfo(msgspec.Struct, kw_only=True):
    """One entry of an item's ``_expanded``."""

    item_mimetype: str | None = None
    list_mimetype: str | None = None
    list_url: str | None = None


class _WithExpanded(msgspec.Struct, kw_only=True):
    """An item's ``_expanded`` alone: a Struct, so msgspec caches the type (4x faster)."""

    entries: dict[str, _ExpandInfo] = msgspec.field(name="_expanded")


def _take_expanded(obj: dict[str, Any], cls: type[Any]) -> _Children | None:
    """Pop ``_expanded`` and the fields it names out of ``obj``, as items.

    ``cls`` is the type ``obj`` is decoded into. A list expansion's link,
    which the server drops, is put back from its ``list_url``, so
    ``user.get_api_tokens()`` still works.
    """
    if "_expanded" not in obj:
        return None
    try:
        info = msgspec.convert({"_expanded": obj.pop("_expanded")}, _WithExpanded).entries
    except msgspec.ValidationError as exc:
        raise msgspec.ValidationError(f"bad `_expanded`: {exc}") from None
    own = _own_names(cls)
    links = obj.get("links")
    children: _Children = {}
    for name, meta in info.items():
        if name in own:
            raise msgspec.ValidationError(
                f"`_expanded` names {name!r}, a field of {cls.__name__} itself"
            )
        if name not in obj:
            raise msgspec.ValidationError(
                f"`_expanded` names {name!r}, but the item has no such field"
            )
        value = obj.pop(name)
        child_cls = item_type(mime_name(meta.item_mimetype))
        if isinstance(value, list):
            children[name] = [_child(v, child_cls, f"{name}[{i}]") for i, v in enumerate(value)]
        elif meta.list_mimetype is not None or meta.list_url is not None:
            raise msgspec.ValidationError(
                f"expanded {name!r} must be an array (its `_expanded` entry names a list)"
            )
        else:
            children[name] = _child(value, child_cls, name)
        if meta.list_url is not None and isinstance(links, dict) and name not in links:
            links[name] = {"href": meta.list_url, "method": "GET"}
    return children


def _child(value: Any, cls: type[Any], where: str) -> Any:
    try:
        return item_from(value, cls, fallback=True)
    except msgspec.ValidationError as exc:
        raise msgspec.ValidationError(f"expanded {where}: {exc}") from None
