"""Item payloads as Review Board 8.1 serializes them, encoded once per origin.

hrefs are absolute and built from the request's ``Host``, so the encoded
items are cached per origin, then per view (``only-fields``/``only-links``),
then per record. ``expired`` is computed against the dataset's clock; a token
whose expiry is less than an hour away is encoded afresh on every request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from .dataset import Dataset
from .records import TokenRecord, UserRecord
from .wire import CAPTURED_ORIGIN, MIME, encode

__all__ = ["FULL_VIEW", "Payloads", "View", "apply_view", "link", "request_view"]

View = tuple[tuple[str, ...] | None, tuple[str, ...] | None]
"""``(only_fields, only_links)``: None keeps everything, ``()`` keeps nothing."""
FULL_VIEW: View = (None, None)
_FRESH = timedelta(hours=1)
PRIVATE_USER_FIELDS = ("email", "first_name", "last_name", "fullname")
"""Hidden from anonymous requests (``UserResource.hidden_fields``)."""


def link(href: str, method: str = "GET", title: str | None = None) -> dict[str, str]:
    """One entry of ``links``."""
    out = {"href": href, "method": method}
    if title is not None:
        out["title"] = title
    return out


def _only(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(name for name in value.split(",") if name)


def request_view(query: Mapping[str, str]) -> View:
    """The item view a request asks for with ``only-fields`` and ``only-links``."""
    if "only-fields" not in query and "only-links" not in query:
        return FULL_VIEW
    return (_only(query.get("only-fields")), _only(query.get("only-links")))


def apply_view(obj: dict[str, Any], view: View) -> dict[str, Any]:
    """djblets' ``serialize_object``: ``only-fields`` filters the fields and
    ``only-links`` the links; an empty ``only-links`` drops the ``links`` key."""
    fields, links = view
    if view == FULL_VIEW:
        return obj
    out = {k: v for k, v in obj.items() if k != "links" and (fields is None or k in fields)}
    if links is None:
        out["links"] = obj["links"]
    elif links:
        out["links"] = {k: v for k, v in obj["links"].items() if k in links}
    return out


def _encoded(
    caches: dict[View, dict[Any, bytes]],
    view: View,
    key: Any,
    build: Callable[[], dict[str, Any]],
) -> bytes:
    """The JSON of ``build()`` in ``view``, encoded once per (view, key)."""
    cache = caches.setdefault(view, {})
    cached = cache.get(key)
    if cached is None:
        cached = cache[key] = encode(apply_view(build(), view))
    return cached


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


class Payloads:
    """Encoded JSON for one origin (``http://host:port``)."""

    def __init__(self, origin: str, dataset: Dataset, root: bytes, info: bytes) -> None:
        self.origin = origin
        self.api = origin + "/api/"
        self.dataset = dataset
        self.root = root.replace(CAPTURED_ORIGIN.encode(), origin.encode())
        self.info = info.replace(CAPTURED_ORIGIN.encode(), origin.encode())
        self._users: dict[View, dict[str, bytes]] = {FULL_VIEW: {}}
        self._anonymous: dict[View, dict[str, bytes]] = {}
        self._tokens: dict[View, dict[int, bytes]] = {FULL_VIEW: {}}

    def warm(self) -> None:
        """Encode every user and token once."""
        for user in self.dataset.users.values():
            self.user(user)
            for token in user.tokens:
                self.token(token)

    def forget_user(self, username: str) -> None:
        for cache in (*self._users.values(), *self._anonymous.values()):
            cache.pop(username, None)

    def forget_token(self, token_id: int) -> None:
        for cache in self._tokens.values():
            cache.pop(token_id, None)

    def forget_all(self) -> None:
        self._users = {FULL_VIEW: {}}
        self._anonymous = {}
        self._tokens = {FULL_VIEW: {}}

    # -- users -------------------------------------------------------------

    def user(self, user: UserRecord, view: View = FULL_VIEW, *, anonymous: bool = False) -> bytes:
        if anonymous:
            return _encoded(
                self._anonymous, view, user.username, lambda: self.user_obj(user, anonymous=True)
            )
        return _encoded(self._users, view, user.username, lambda: self.user_obj(user))

    def user_obj(self, user: UserRecord, *, anonymous: bool = False) -> dict[str, Any]:
        """A user item; an anonymous requester does not see the private fields."""
        obj = self._user_obj(user)
        if anonymous:
            for name in PRIVATE_USER_FIELDS:
                obj.pop(name, None)
        return obj

    def _user_obj(self, user: UserRecord) -> dict[str, Any]:
        base = f"{self.api}users/{user.username}/"
        digest = hashlib.md5(user.email.encode(), usedforsecurity=False).hexdigest()
        avatar = f"https://secure.gravatar.com/avatar/{digest}?s={{}}&d=mm"
        return {
            "avatar_html": None,
            "avatar_url": avatar.format(48),
            "avatar_urls": {
                "1x": avatar.format(48),
                "2x": avatar.format(96),
                "3x": avatar.format(144),
            },
            "email": user.email,
            "first_name": "",
            "fullname": "",
            "id": user.id,
            "is_active": user.is_active,
            "last_name": "",
            "links": {
                "api_tokens": link(base + "api-tokens/"),
                "archived_review_requests": link(base + "archived-review-requests/"),
                "muted_review_requests": link(base + "muted-review-requests/"),
                "self": link(base),
                "update": link(base, "PUT"),
                "user_file_attachments": link(base + "user-file-attachments/"),
                "watched": link(base + "watched/"),
            },
            "url": f"/users/{user.username}/",
            "username": user.username,
        }

    def user_with_tokens(
        self,
        user: UserRecord,
        tokens: list[TokenRecord] | None,
        view: View,
        *,
        anonymous: bool = False,
    ) -> bytes:
        """A user with ``expand=api_tokens``, as djblets serializes it.

        The ``api_tokens`` link gives way to an ``_expanded`` entry and the
        tokens are inlined, in the same view (``only-fields``/``only-links``
        apply to them too). ``tokens=None`` inlines the user's own tokens.
        """
        obj = self.user_obj(user, anonymous=anonymous)
        href = obj["links"].pop("api_tokens")["href"]
        obj = apply_view(obj, view)
        obj["_expanded"] = {
            "api_tokens": {
                "item_mimetype": MIME.format("api-token"),
                "list_mimetype": MIME.format("api-tokens"),
                "list_url": href,
            }
        }
        inlined = user.tokens if tokens is None else tokens
        obj["api_tokens"] = [apply_view(self.token_obj(t), view) for t in inlined]
        return encode(obj)

    # -- tokens ------------------------------------------------------------

    def token(self, token: TokenRecord, view: View = FULL_VIEW) -> bytes:
        expires = token.expires
        if expires is not None and abs(expires - self.dataset.clock()) < _FRESH:
            return encode(apply_view(self.token_obj(token), view))
        return _encoded(self._tokens, view, token.id, lambda: self.token_obj(token))

    def token_obj(self, t: TokenRecord) -> dict[str, Any]:
        href = f"{self.api}users/{t.owner}/api-tokens/{t.id}/"
        return {
            "deprecated": t.deprecated,
            "expired": t.expired_at(self.dataset.clock()),
            "expires": _iso(t.expires),
            "extra_data": {k: v for k, v in t.extra_data.items() if not k.startswith("__")},
            "id": t.id,
            "invalid_date": _iso(t.invalid_date),
            "invalid_reason": t.invalid_reason,
            "last_updated": _iso(t.last_updated),
            "last_used": _iso(t.last_used),
            "links": {
                "delete": link(href, "DELETE"),
                "self": link(href),
                "update": link(href, "PUT"),
            },
            "note": t.note,
            "policy": t.policy,
            "time_added": _iso(t.time_added),
            "token": t.token,
            "token_generator_id": t.token_generator_id,
            "valid": t.valid,
        }

    # -- the session -------------------------------------------------------

    def session(self, user: UserRecord | None, *, expand_user: bool = False) -> bytes:
        """The session; ``expand_user`` inlines the user in place of its link, as 8.1 does."""
        href = f"{self.api}session/"
        if user is None:
            body: dict[str, Any] = {"authenticated": False, "links": {"self": link(href)}}
        else:
            body = {
                "authenticated": True,
                "links": {
                    "delete": link(href, "DELETE"),
                    "self": link(href),
                    "user": link(f"{self.api}users/{user.username}/", title=user.username),
                },
            }
            if expand_user:
                del body["links"]["user"]
                body["user"] = self.user_obj(user)
        return encode({"session": body, "stat": "ok"})
