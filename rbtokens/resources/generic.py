"""Items of a type rbtokens has no Struct for: links plus a dict of fields."""

from __future__ import annotations

from typing import Any

import msgspec

from .._redact import masked_for_rich, redact
from ..wire import register_generic
from .base import ItemResource

__all__ = ["GenericItem"]


class GenericItem(ItemResource, kw_only=True, dict=True):
    """An item of a type rbtokens has no Struct for; fields stay a dict.

    Expanded children are not in ``fields``: ``item.<name>`` and
    ``item["<name>"]`` return them as resources, as RBTools does.
    """

    fields: dict[str, Any] = msgspec.field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        # Typed: an unknown resource's fields are only known at run time.
        fields = object.__getattribute__(self, "fields")
        if name in fields:
            return fields[name]
        return self._run_time_attr(name)  # ItemResource's: expanded children, links

    def __getitem__(self, name: str) -> Any:
        if name not in self.fields and name in self.expanded:
            return self.expanded[name]
        return self.fields[name]

    def __repr__(self) -> str:
        # An unknown type may still carry a token (e.g. behind a proxy that
        # rewrites the mime type to application/json): mask anything secret.
        return redact(super().__repr__())

    __str__ = __repr__

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        # rich prints the values itself, not repr(): mask them the same way.
        return [(name, masked_for_rich(value)) for name, value in super().__rich_repr__()]


register_generic(GenericItem)
