"""The API token Struct, with its secret masked everywhere but ``token.token``."""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec
from yarl import URL

from .._redact import mask_secret
from ..wire import register_item, register_list
from .base import ItemResource

__all__ = ["APIToken"]


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

        The secret is masked (``rbp_****``, ``****`` for a legacy token) unless
        ``include_secret`` is set; a token read without its secret (the bulk
        listing never asks for it) shows the same mask. :meth:`from_dict`
        reads the result back.
        """
        data: dict[str, Any] = {"username": self.username}
        data.update(msgspec.to_builtins(self))
        links = data.pop("links")
        if not include_secret:
            legacy = self.token_generator_id == "legacy_sha1"  # noqa: S105
            data["token"] = mask_secret(self.token or ("****" if legacy else "rbp_"))
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


register_item("api-token", "api_token", APIToken)
register_list("api-tokens", "api_tokens", APIToken)
