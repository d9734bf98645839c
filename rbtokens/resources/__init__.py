"""Navigation of the resource tree, written once for every resource type.

Items are msgspec Structs that subclass :class:`ItemResource`: their fields
are typed (``token.note`` is a ``str``) and they carry their links. Lists are
:class:`ListResource` objects, generic in the item type, so iterating a
``ListResource[APIToken]`` yields ``APIToken``. :class:`Paginator` is the one
pager every walk uses. Each model registers its mime type with the wire layer
where it is defined.
"""

from ..wire import Count, Link
from .base import ItemResource, Navigable, Requester, expect_item
from .generic import GenericItem
from .lists import ListResource, Resource, adopt, expectation, weak
from .paging import Drift, PageFailure, Paginator
from .refs import ItemRef, ListRef
from .root import Root
from .site import Product, ServerInfo, Session, SiteInfo, User
from .token import APIToken

__all__ = [
    "APIToken",
    "Count",
    "Drift",
    "GenericItem",
    "ItemRef",
    "ItemResource",
    "Link",
    "ListRef",
    "ListResource",
    "Navigable",
    "PageFailure",
    "Paginator",
    "Product",
    "Requester",
    "Resource",
    "Root",
    "ServerInfo",
    "Session",
    "SiteInfo",
    "User",
    "adopt",
    "expect_item",
    "expectation",
    "weak",
]
