"""The server, session and user Structs."""

from __future__ import annotations

from typing import Any

import msgspec

from ..wire import register_item, register_list
from .base import ItemResource
from .lists import ListResource
from .token import APIToken

__all__ = ["Capabilities", "Product", "ServerInfo", "Session", "SiteInfo", "User"]


class Product(msgspec.Struct, kw_only=True, frozen=True):
    """The server's product information."""

    name: str = "Review Board"
    version: str = ""
    package_version: str = ""
    is_release: bool = True


class SiteInfo(msgspec.Struct, kw_only=True, frozen=True):
    """The site block of the root and server-info resources."""

    url: str = ""
    time_zone: str = "UTC"
    administrators: list[dict[str, str]] = msgspec.field(default_factory=list)


class Capabilities:
    """``has_capability()`` for the root and server-info resources."""

    __slots__ = ()
    capabilities: dict[str, Any]

    def has_capability(self, *path: str) -> bool:
        """Whether ``capabilities[path[0]][path[1]]...`` is true (RBTools' helper)."""
        node: Any = self.capabilities
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return False
            node = node[key]
        return bool(node)


class ServerInfo(Capabilities, ItemResource, kw_only=True, dict=True):
    """``/api/info/``."""

    capabilities: dict[str, Any] = msgspec.field(default_factory=dict)
    product: Product = msgspec.field(default_factory=Product)
    site: SiteInfo = msgspec.field(default_factory=SiteInfo)


class User(ItemResource, kw_only=True, dict=True):
    """A Review Board user."""

    id: int
    username: str
    email: str | None = None
    first_name: str = ""
    last_name: str = ""
    fullname: str = ""
    is_active: bool = True
    url: str = ""  # the site-relative page URL, not the API URL (see ``href``)
    avatar_url: str | None = None

    async def get_api_tokens(self, **query: Any) -> ListResource[APIToken]:
        """This user's API tokens (the ``api_tokens`` link)."""
        return await self._follow_as("api_tokens", ListResource.of(APIToken), query)


class Session(ItemResource, kw_only=True, dict=True):
    """``/api/session/``."""

    authenticated: bool = False

    @property
    def user(self) -> User | None:
        """The logged-in user, inlined by ``get_session(expand="user")``; else None.

        None too when the inlined user is not a whole ``User`` (trimmed by
        ``only_fields``): ``expanded["user"]`` then holds it as a
        :class:`~rbtokens.GenericItem`.
        """
        child = self.expanded.get("user")
        return child if isinstance(child, User) else None

    @property
    def username(self) -> str | None:
        """The logged-in username, from the ``user`` link's title or the expanded user."""
        link = self.links.get("user")
        if link is not None:
            return link.title
        user = self.user  # expanding drops the link
        return user.username if user is not None else None

    async def get_user(self, **query: Any) -> User:
        """Fetch the logged-in user."""
        child = self.expanded.get("user")
        if isinstance(child, ItemResource) and "user" not in self.links:
            # Expanding drops the link; the inlined user (typed or not) has its own.
            return await child._follow_as("self", User, query)
        return await self._follow_as("user", User, query)


register_item("server-info", "info", ServerInfo)
register_item("session", "session", Session, inline={"user": "user"})
register_item("user", "user", User)
register_list("users", "users", User)
