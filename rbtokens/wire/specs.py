"""How each registered mime type decodes: one prebuilt msgspec decoder per type.

Every item Struct declares ``_expanded`` with a type only the decoders'
``dec_hook`` handles; that hook raises a private signal, so a payload without
``_expanded`` decodes exactly as before, at no cost. On the signal the body is
decoded again as builtins and its children are taken out
(:mod:`rbtokens.wire.expanded`) before the rest is converted as usual.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from .expanded import item_from, json_object
from .mime import mime
from .registry import page_type, set_item_type
from .types import Count, ExpandedMark, Link, Page

__all__ = ["ItemSpec", "ListSpec", "register_item", "register_list", "registry", "spec_for"]

_count_decoder = msgspec.json.Decoder(Count)
_links_type = dict[str, Link]


class _HasExpanded(Exception):
    """Raised by the decoders' ``dec_hook`` when an item carries ``_expanded``."""


def _expanded_hook(type_: type, obj: Any) -> Any:
    if type_ is ExpandedMark:
        raise _HasExpanded
    raise NotImplementedError(f"cannot decode {type_!r}")


def _decoder(type_: Any) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(type_, dec_hook=_expanded_hook)


class ItemSpec(msgspec.Struct, frozen=True):
    """How to decode one item mime type; ``key`` is None for an unwrapped body.

    ``inline`` lists ``(field, mime name)`` pairs the server inlines without
    an ``_expanded`` mark (the session's ``user``): a spec with any always
    decodes through the expanding path.
    """

    name: str
    key: str | None
    type: type[Any]
    decoder: msgspec.json.Decoder[Any]
    inline: tuple[tuple[str, str], ...] = ()

    def decode(self, body: bytes) -> Any:
        """``body`` as one item of :attr:`type`."""
        if self.inline:
            return self._decode_expanding(body)
        try:
            env = self.decoder.decode(body)
        except _HasExpanded:
            return self._decode_expanding(body)
        return self._item(env)

    def _item(self, env: Any) -> Any:
        return env if self.key is None else env.item

    def _decode_expanding(self, body: bytes) -> Any:
        data = json_object(body)
        raw = data if self.key is None else data.get(self.key)
        if not isinstance(raw, dict):  # msgspec words the error
            return self._item(msgspec.convert(data, self.decoder.type))
        for field, name in self.inline:
            if field in raw and raw[field] is None:
                del raw[field]  # ``null``: nothing inlined
            info = raw.get("_expanded", {})
            if field in raw and isinstance(info, dict) and field not in info:
                raw["_expanded"] = {**info, field: {"item_mimetype": mime(name)}}
        return item_from(raw, self.type, at="" if self.key is None else f".{self.key}")


class ListSpec(msgspec.Struct, frozen=True):
    """How to decode one list mime type."""

    name: str
    key: str
    item_type: type[Any]
    decoder: msgspec.json.Decoder[Any]

    def decode(self, body: bytes) -> Page | Count:
        """``body`` as a page of :attr:`item_type` (or a count, for ``counts-only``)."""
        try:
            env = self.decoder.decode(body)
        except _HasExpanded:
            return self._decode_expanding(body)
        except msgspec.ValidationError:
            # ``counts-only`` answers carry the list's mime type.
            try:
                return _count_decoder.decode(body)
            except msgspec.DecodeError:
                pass
            raise
        return self._page(env)

    def _page(self, env: Any) -> Page:
        return page_type()(
            items=env.items,
            item_type=self.item_type,
            links=env.links,
            total_results=env.total_results,
            mimetype=self.name,
        )

    def _decode_expanding(self, body: bytes) -> Page:
        data = json_object(body)
        raw = data.get(self.key)
        if not isinstance(raw, list):  # msgspec words the error
            return self._page(msgspec.convert(data, self.decoder.type))
        items = [
            item_from(obj, self.item_type, at=f".{self.key}[{i}]") for i, obj in enumerate(raw)
        ]
        env = msgspec.convert({**data, self.key: []}, self.decoder.type)
        env.items = items
        return self._page(env)


_SPECS: dict[str, ItemSpec | ListSpec] = {}


def register_item(
    name: str,
    key: str | None,
    cls: type[Any],
    *,
    inline: Mapping[str, str] | None = None,
) -> ItemSpec:
    """Register an item Struct for ``application/vnd.reviewboard.org.<name>+json``.

    ``key`` is the payload's envelope key (``"api_token"``), None for an
    unwrapped body. ``inline`` maps fields the server inlines unmarked to
    their item mime names (``{"user": "user"}`` for the session).
    """
    if key is None:
        decoder = _decoder(cls)
    else:
        env = msgspec.defstruct(
            f"{cls.__name__}Envelope",
            [("item", cls, msgspec.field(name=key))],
            kw_only=True,
        )
        decoder = _decoder(env)
    pairs = tuple((inline or {}).items())
    spec = ItemSpec(name=name, key=key, type=cls, decoder=decoder, inline=pairs)
    _SPECS[name] = spec
    set_item_type(name, cls)
    return spec


def register_list(name: str, key: str, item_type: type[Any]) -> ListSpec:
    """Register a list of ``item_type`` under its plural mime name and key."""
    env = msgspec.defstruct(
        f"{item_type.__name__}ListEnvelope",
        [
            ("items", list[item_type], msgspec.field(name=key)),  # type: ignore[valid-type]
            ("total_results", int | None, None),
            ("links", _links_type, msgspec.field(default_factory=dict)),
        ],
        kw_only=True,
    )
    spec = ListSpec(name=name, key=key, item_type=item_type, decoder=_decoder(env))
    _SPECS[name] = spec
    return spec


def registry() -> Mapping[str, ItemSpec | ListSpec]:
    """The registered mime names (read-only view)."""
    return dict(_SPECS)


def spec_for(name: str | None) -> ItemSpec | ListSpec | None:
    """The spec registered for mime name ``name``."""
    return _SPECS.get(name) if name else None
