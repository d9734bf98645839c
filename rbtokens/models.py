"""Typed Structs for the resources rbtokens knows by name.

Every field a newer or older server may omit has a default, unknown fields
are ignored, and timestamps decode as aware ``datetime``.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec
from yarl import URL

from .encoding import encode_query, expand_template
from .errors import NavigationError, UnexpectedContentType, redact
from .resources import Count, ItemResource, ListResource, _link_getter, expect_item

__all__ = [
    "APIToken",
    "GenericItem",
    "Product",
    "Root",
    "ServerInfo",
    "Session",
    "SiteInfo",
    "User",
]


def _expect_list(res: Any, item_type: type[Any]) -> Any:
    if not (isinstance(res, ListResource) and issubclass(res.item_type, item_type)):
        raise UnexpectedContentType(
            f"expected a list of {item_type.__name__}, got {res!r}", http_status=200
        )
    return res


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


class _Capabilities:
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


class Root(_Capabilities, ItemResource, kw_only=True, dict=True):
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
        return await self.client.request("GET", url, query=encode_query(rest))

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
            return _link_getter(self, name)

    async def get_count(self, name: str, **values: Any) -> int:
        """Count the items of the list link or URI template ``name``.

        Sends ``counts-only=1``; the other values fill the template or become
        the query, e.g. ``await root.get_count("users", include_inactive=True)``.
        """
        values["counts_only"] = True
        if name in self.links:
            res = await self.follow(name, **values)
        else:
            res = await self.get_template(name, **values)
        if not isinstance(res, Count):
            raise UnexpectedContentType(
                f"expected a count for {name!r}, got {type(res).__name__}", http_status=200
            )
        return res.count

    async def get_session(self, **query: Any) -> Session:
        """The session resource: who is logged in (``expand="user"`` inlines the user)."""
        return expect_item(await self.follow("session", **query), Session)

    async def get_info(self, **query: Any) -> ServerInfo:
        """The server-info resource."""
        return expect_item(await self.follow("info", **query), ServerInfo)

    async def get_users(self, **query: Any) -> ListResource[User]:
        """The users list (``q``, ``include_inactive``, ``max_results``, ...)."""
        return _expect_list(await self.follow("users", **query), User)  # type: ignore[no-any-return]

    async def get_user(self, *, username: str, **query: Any) -> User:
        """One user by name."""
        res = await self.get_template("user", username=username, **query)
        return expect_item(res, User)

    async def get_api_tokens(self, *, username: str, **query: Any) -> ListResource[APIToken]:
        """A user's API tokens."""
        res = await self.get_template("api_tokens", username=username, **query)
        return _expect_list(res, APIToken)  # type: ignore[no-any-return]

    async def get_api_token(
        self, *, username: str, api_token_id: int | str, **query: Any
    ) -> APIToken:
        """One API token by owner and id."""
        res = await self.get_template(
            "api_token", username=username, api_token_id=api_token_id, **query
        )
        return expect_item(res, APIToken)


class ServerInfo(_Capabilities, ItemResource, kw_only=True, dict=True):
    """``/api/info/``."""

    capabilities: dict[str, Any] = msgspec.field(default_factory=dict)
    product: Product = msgspec.field(default_factory=Product)
    site: SiteInfo = msgspec.field(default_factory=SiteInfo)


class Session(ItemResource, kw_only=True, dict=True):
    """``/api/session/``."""

    authenticated: bool = False

    @property
    def user(self) -> User | None:
        """The logged-in user, inlined by ``get_session(expand="user")``; else None.

        None too when the inlined user is not a whole ``User`` (trimmed by
        ``only_fields``): ``expanded["user"]`` then holds it as a
        :class:`GenericItem`.
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
            return expect_item(await child.follow("self", **query), User)
        return expect_item(await self.follow("user", **query), User)


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
        res = await self.follow("api_tokens", **query)
        return _expect_list(res, APIToken)  # type: ignore[no-any-return]


_MASK = "rbp_****"


def mask_secret(secret: str) -> str:
    """A token secret reduced to a non-secret hint."""
    if not secret:
        return ""
    if secret.startswith("rbp_"):
        return _MASK
    return "****"


class APIToken(ItemResource, kw_only=True, dict=True):
    """A Review Board API token.

    ``repr()`` and ``str()`` mask the secret; read it explicitly as
    ``token.token``. The server's ``valid`` ignores expiry: use ``usable``.
    """

    id: int
    token: str = ""
    note: str = ""
    policy: dict[str, Any] = msgspec.field(default_factory=dict)
    expires: datetime | None = None
    expired: bool = False
    valid: bool = True
    invalid_date: datetime | None = None
    invalid_reason: str = ""
    last_used: datetime | None = None
    last_updated: datetime | None = None
    time_added: datetime | None = None
    token_generator_id: str = ""
    deprecated: bool = False
    extra_data: dict[str, Any] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        # Review Board sends offsets, but a naive timestamp (a server without
        # USE_TZ, a proxy) would make every comparison with now() a TypeError.
        for name in ("expires", "invalid_date", "last_used", "last_updated", "time_added"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                setattr(self, name, value.replace(tzinfo=UTC))

    def __repr__(self) -> str:
        return (
            f"APIToken(id={self.id}, username={self.username!r}, note={self.note!r}, "
            f"token={mask_secret(self.token)!r}, valid={self.valid}, "
            f"expired={self.expired}, expires={self.expires!r})"
        )

    __str__ = __repr__

    def __rich_repr__(self) -> Any:
        yield "id", self.id
        yield "username", self.username
        yield "note", self.note
        yield "token", mask_secret(self.token)

    @property
    def username(self) -> str | None:
        """The owner's username, read from the token's own URL."""
        owner = self.__dict__.get("_rb_owner")
        if owner is not None:
            return str(owner)
        link = self.links.get("self")
        if link is None:
            return None
        try:  # a malformed href (a ValueError from yarl) means no owner
            parts = URL(link.href).parts
            return parts[parts.index("api-tokens") - 1]
        except (ValueError, IndexError):
            return None

    @property
    def usable(self) -> bool:
        """Valid and not expired (the server's ``valid`` ignores expiry)."""
        if not self.valid or self.expired:
            return False
        return self.expires is None or self.expires > datetime.now(UTC)

    # -- export (rbtokens.tokens) --------------------------------------------

    def to_dict(self, *, include_secret: bool = False) -> dict[str, Any]:
        """Every field as JSON-ready builtins, plus ``username`` and ``usable``.

        The secret is masked (``rbp_****``) unless ``include_secret`` is set.
        :meth:`from_dict` reads the result back.
        """
        data: dict[str, Any] = {"username": self.username}
        data.update(msgspec.to_builtins(self))
        links = data.pop("links")
        if not include_secret:
            data["token"] = mask_secret(self.token)
        data["usable"] = self.usable
        data["links"] = links
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> APIToken:
        """Rebuild a token from :meth:`to_dict` output (or a server payload).

        A masked secret stays masked: only an exported secret can be read back.
        """
        fields = {k: v for k, v in data.items() if k not in ("username", "usable", "_expanded")}
        try:
            token = msgspec.convert(fields, cls)
        except msgspec.ValidationError as exc:
            raise ValueError(f"not an API token: {exc}") from None
        owner = data.get("username")
        if owner is not None and owner != token.username:
            token.__dict__["_rb_owner"] = str(owner)
        return token

    def to_json(self, *, include_secret: bool = False, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(include_secret=include_secret), indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> APIToken:
        """Read :meth:`to_json` output back."""
        return cls.from_dict(json.loads(text))

    def to_yaml(self, *, include_secret: bool = False) -> str:
        """:meth:`to_dict` as YAML (needs PyYAML: ``pip install 'rbtokens[cli]'``)."""
        yaml = _require_yaml()
        text: str = yaml.safe_dump(
            self.to_dict(include_secret=include_secret), sort_keys=False, allow_unicode=True
        )
        return text

    @classmethod
    def from_yaml(cls, text: str | bytes) -> APIToken:
        """Read :meth:`to_yaml` output back (needs PyYAML)."""
        return cls.from_dict(_require_yaml().safe_load(text))


def _require_yaml() -> Any:
    try:
        # An optional dependency (the ``cli`` extra), imported on first use.
        yaml = importlib.import_module("yaml")
    except ImportError as exc:
        raise ImportError(
            "YAML export needs PyYAML, an optional dependency: pip install 'rbtokens[cli]'"
        ) from exc
    return yaml


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
        return [(name, _masked(value)) for name, value in super().__rich_repr__()]


class _MaskedRepr:
    """Shows rich an object's redacted ``repr()``."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _masked(value: Any) -> Any:
    """``value`` for rich: every string in it (keys too) passed through :func:`redact`."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {_masked(k): _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return _MaskedRepr(redact(repr(value)))  # a Link, a tuple, anything else
