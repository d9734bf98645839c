"""The API root: links, URI templates, capabilities, and typed ways into the tree."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from ..errors import NavigationError
from ..wire import Count, encoded, expand_template, register_item
from .base import ItemResource, link_getter
from .lists import ListResource
from .refs import ItemRef, ListRef
from .site import Capabilities, Product, ServerInfo, Session, SiteInfo, User
from .token import APIToken

__all__ = ["Root"]

_I = TypeVar("_I", bound=ItemResource)


class Root(Capabilities, ItemResource, kw_only=True, dict=True):
    """The API root: links, URI templates, capabilities and product version."""

    uri_templates: dict[str, str] = msgspec.field(default_factory=dict)
    capabilities: dict[str, Any] = msgspec.field(default_factory=dict)
    product: Product = msgspec.field(default_factory=Product)
    site: SiteInfo = msgspec.field(default_factory=SiteInfo)

    def template_url(self, name: str, **values: Any) -> tuple[str, dict[str, Any]]:
        """Fill the URI template ``name``; returns the URL and the unused values."""
        try:
            template = self.uri_templates[name]
        except KeyError:
            raise NavigationError(f"the root has no URI template {name!r}") from None
        return expand_template(template, values)

    async def get_template(self, name: str, **values: Any) -> Any:
        """GET the URI template ``name``; leftover values become the query."""
        url, rest = self.template_url(name, **values)
        return await self.client.request("GET", url, query=encoded(rest))

    if not TYPE_CHECKING:
        # ``root.get_<template>(**values)`` for any URI template, and
        # ``root.get_<link>()`` for any link: run time only, so that mypy
        # flags a typo; typed code uses the methods below or get_template().
        def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
            if name.startswith("get_"):
                templates = object.__getattribute__(self, "uri_templates")
                if name[4:] in templates:
                    template = name[4:]

                    async def getter(**values: Any) -> Any:
                        return await self.get_template(template, **values)

                    getter.__name__ = name
                    return getter
            return link_getter(self, name)

    # -- handles (no request) ---------------------------------------------------

    def template_item(self, name: str, cls: type[_I], **values: Any) -> ItemRef[_I]:
        """The item the URI template ``name`` names, as a handle (no request yet)."""
        return ItemRef(self.client, self.template_url(name, **values)[0], cls)

    def template_list(self, name: str, cls: type[_I], **values: Any) -> ListRef[_I]:
        """The list the URI template ``name`` names, as a handle (no request yet)."""
        return ListRef(self.client, self.template_url(name, **values)[0], cls)

    def link_list(self, name: str, cls: type[_I]) -> ListRef[_I]:
        """The list behind the root's link ``name``, as a handle."""
        return ListRef(self.client, self._link(name).href, cls)

    def user_at(self, username: str) -> ItemRef[User]:
        """One user, by name."""
        return self.template_item("user", User, username=username)

    def api_tokens_at(self, username: str) -> ListRef[APIToken]:
        """A user's API tokens."""
        return self.template_list("api_tokens", APIToken, username=username)

    def api_token_at(self, username: str, api_token_id: int | str) -> ItemRef[APIToken]:
        """One API token, by owner and id."""
        return self.template_item(
            "api_token", APIToken, username=username, api_token_id=api_token_id
        )

    # -- fetched ------------------------------------------------------------------

    async def get_count(self, name: str, **values: Any) -> int:
        """Count the items of the list link or URI template ``name``.

        Sends ``counts-only=1``; the other values fill the template or become
        the query, e.g. ``await root.get_count("users", include_inactive=True)``.
        """
        values["counts_only"] = True
        if name in self.links:
            url, rest = self.links[name].href, values
        else:
            url, rest = self.template_url(name, **values)
        res = await self.client.request("GET", url, expect=Count, query=encoded(rest))
        return res.count

    async def get_session(self, **query: Any) -> Session:
        """The session resource: who is logged in (``expand="user"`` inlines the user)."""
        return await self._follow_as("session", Session, query)

    async def get_info(self, **query: Any) -> ServerInfo:
        """The server-info resource."""
        return await self._follow_as("info", ServerInfo, query)

    async def get_users(self, **query: Any) -> ListResource[User]:
        """The users list (``q``, ``include_inactive``, ``max_results``, ...)."""
        return await self._follow_as("users", ListResource.of(User), query)

    async def get_user(self, *, username: str, **query: Any) -> User:
        """One user by name."""
        return await self.user_at(username).get(**query)

    async def get_api_tokens(self, *, username: str, **query: Any) -> ListResource[APIToken]:
        """A user's API tokens."""
        return await self.api_tokens_at(username).get(**query)

    async def get_api_token(
        self, *, username: str, api_token_id: int | str, **query: Any
    ) -> APIToken:
        """One API token by owner and id."""
        return await self.api_token_at(username, api_token_id).get(**query)


register_item("root", None, Root)
