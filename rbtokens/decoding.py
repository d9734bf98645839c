"""Pure decoding: (status, headers, body) → a typed resource or a typed error.

No I/O happens here. The response's mime type
(``application/vnd.reviewboard.org.<name>+json``) picks a decoder from the
registry; decoders are built once. A mime type missing from the registry
still decodes, into :class:`~rbtokens.models.GenericItem` items, so the whole
tree can be walked.

Expanded children (``expand=``): Review Board marks them with an
``_expanded`` object per item, naming each inlined field and its
``item_mimetype``. Every item Struct declares ``_expanded`` with a type only
the decoders' ``dec_hook`` handles; that hook raises a private signal, so a
payload without ``_expanded`` decodes exactly as before, at no cost. On the
signal the body is decoded again as builtins: each named field is popped from
its item and turned into registry-typed items (stored for
:attr:`~rbtokens.resources.ItemResource.expanded`), then the rest is
converted as usual. A child that does not fit its registry type (trimmed by
``only-fields``) becomes a :class:`~rbtokens.models.GenericItem`; only a
malformed ``_expanded`` (not an object of objects, naming a missing field,
``links`` or a field of the item's own type, an entry for a list whose field
is not an array, a child that is not an object) is a
:class:`~rbtokens.errors.DecodeError`. The session's ``user``
(``expand=user``) carries no ``_expanded``: the session's spec lists it as
an inline field, so a session always takes the expanding path (it is fetched
once per client).

Raw payloads (``msgspec.json.decode(body, type=User)``, ``msgspec.convert``)
go through this module: without its ``dec_hook`` an expanded payload is a
``ValidationError``, not an item with children.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import msgspec

from .errors import (
    APIError,
    DecodeError,
    HTTPStatusError,
    RateLimitedError,
    ServerBugError,
    UnexpectedContentType,
    api_error_class,
    excerpt,
)
from .models import APIToken, GenericItem, Root, ServerInfo, Session, User
from .resources import Count, ItemResource, Link, ListResource, _ExpandedMark

__all__ = [
    "MIME_PREFIX",
    "ItemSpec",
    "ListSpec",
    "decode_json",
    "decode_response",
    "mime_name",
    "register_item",
    "register_list",
    "registry",
]

MIME_PREFIX = "application/vnd.reviewboard.org."
_LIST_META = frozenset({"stat", "links", "total_results"})


class _ErrBody(msgspec.Struct, kw_only=True):
    code: int
    # Review Board 8.1 sends some messages (code 227) as a list: a format
    # string and its arguments.
    msg: str | list[Any] = ""
    type: str = ""


class _ErrorEnvelope(msgspec.Struct, kw_only=True):
    stat: str = "fail"
    err: _ErrBody
    # Usually {"field": ["message", ...]}, but any shape is accepted: an odd
    # ``fields`` must not hide a valid error code.
    fields: Any = msgspec.field(default_factory=dict)


def _message_text(msg: str | list[Any]) -> str:
    if isinstance(msg, str):
        return msg
    parts = [p if isinstance(p, str) else msgspec.json.encode(p).decode() for p in msg]
    if parts and "%s" in parts[0]:
        try:
            return parts[0] % tuple(parts[1:])
        except (TypeError, ValueError):
            pass
    return " ".join(parts)


def _field_messages(fields: Any) -> dict[str, list[str]]:
    if not isinstance(fields, dict):
        return {} if not fields else {"": [_as_text(fields)]}
    out: dict[str, list[str]] = {}
    for name, value in fields.items():
        if isinstance(value, list):
            out[str(name)] = [_as_text(v) for v in value]
        else:
            out[str(name)] = [_as_text(value)]
    return out


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


class _Stat(msgspec.Struct, kw_only=True):
    stat: str = "ok"


_error_decoder = msgspec.json.Decoder(_ErrorEnvelope)
_count_decoder = msgspec.json.Decoder(Count)
_links_type = dict[str, Link]
_Children = dict[str, ItemResource | list[ItemResource]]


class _HasExpanded(Exception):
    """Raised by the decoders' ``dec_hook`` when an item carries ``_expanded``."""


def _expanded_hook(type_: type, obj: Any) -> Any:
    if type_ is _ExpandedMark:
        raise _HasExpanded
    raise NotImplementedError(f"cannot decode {type_!r}")


def _decoder(type_: Any) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(type_, dec_hook=_expanded_hook)


def _mime(name: str) -> str:
    return f"{MIME_PREFIX}{name}+json"


@dataclass(frozen=True, slots=True)
class ItemSpec:
    """How to decode one item mime type; ``key`` is None for an unwrapped body.

    ``inline`` lists ``(field, mime name)`` pairs the server inlines without
    an ``_expanded`` mark (the session's ``user``): a spec with any always
    decodes through the expanding path.
    """

    name: str
    key: str | None
    type: type[ItemResource]
    decoder: msgspec.json.Decoder[Any]
    inline: tuple[tuple[str, str], ...] = ()

    def decode(self, body: bytes) -> ItemResource:
        if self.inline:
            return self._decode_expanding(body)
        try:
            env = self.decoder.decode(body)
        except _HasExpanded:
            return self._decode_expanding(body)
        return self._item(env)

    def _item(self, env: Any) -> ItemResource:
        item: ItemResource = env if self.key is None else env.item
        return item

    def _decode_expanding(self, body: bytes) -> ItemResource:
        data = _json_object(body)
        raw = data if self.key is None else data.get(self.key)
        if not isinstance(raw, dict):  # msgspec words the error
            return self._item(msgspec.convert(data, self.decoder.type))
        for field, name in self.inline:
            if field in raw and raw[field] is None:
                del raw[field]  # ``null``: nothing inlined
            info = raw.get("_expanded", {})
            if field in raw and isinstance(info, dict) and field not in info:
                raw["_expanded"] = {**info, field: {"item_mimetype": _mime(name)}}
        return _item_from(raw, self.type, at="" if self.key is None else f".{self.key}")


@dataclass(frozen=True, slots=True)
class ListSpec:
    """How to decode one list mime type."""

    name: str
    key: str
    item_type: type[ItemResource]
    decoder: msgspec.json.Decoder[Any]

    def decode(self, body: bytes) -> ListResource[Any] | Count:
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
        return self._list(env)

    def _list(self, env: Any) -> ListResource[Any]:
        return ListResource(
            items=env.items,
            item_type=self.item_type,
            links=env.links,
            total_results=env.total_results,
            mimetype=self.name,
        )

    def _decode_expanding(self, body: bytes) -> ListResource[Any]:
        data = _json_object(body)
        raw = data.get(self.key)
        if not isinstance(raw, list):  # msgspec words the error
            return self._list(msgspec.convert(data, self.decoder.type))
        items = [
            _item_from(obj, self.item_type, at=f".{self.key}[{i}]") for i, obj in enumerate(raw)
        ]
        env = msgspec.convert({**data, self.key: []}, self.decoder.type)
        env.items = items
        return self._list(env)


_REGISTRY: dict[str, ItemSpec | ListSpec] = {}


def register_item(
    name: str,
    key: str | None,
    cls: type[ItemResource],
    *,
    inline: Mapping[str, str] | None = None,
) -> ItemSpec:
    """Register an item Struct for ``application/vnd.reviewboard.org.<name>+json``.

    ``inline`` maps fields the server inlines unmarked to their item mime
    names (``{"user": "user"}`` for the session).
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
    _REGISTRY[name] = spec
    return spec


def register_list(name: str, key: str, item_type: type[ItemResource]) -> ListSpec:
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
    _REGISTRY[name] = spec
    return spec


def registry() -> Mapping[str, ItemSpec | ListSpec]:
    """The registered mime names (read-only view)."""
    return dict(_REGISTRY)


register_item("root", None, Root)
register_item("server-info", "info", ServerInfo)
register_item("session", "session", Session, inline={"user": "user"})
register_item("user", "user", User)
register_list("users", "users", User)
register_item("api-token", "api_token", APIToken)
register_list("api-tokens", "api_tokens", APIToken)


def mime_name(content_type: str | None) -> str | None:
    """``application/vnd.reviewboard.org.<name>+json`` → ``<name>``, else None."""
    if not content_type:
        return None
    try:  # a server sends a handful of distinct types: parse each once
        return _MIME_NAMES[content_type]
    except KeyError:
        pass
    name = None
    base = content_type.split(";", 1)[0].strip().lower()
    if base.startswith(MIME_PREFIX) and base.endswith("+json"):
        name = base[len(MIME_PREFIX) : -len("+json")]
    if len(_MIME_NAMES) < 256:
        _MIME_NAMES[content_type] = name
    return name


_MIME_NAMES: dict[str, str | None] = {}


def is_json_content_type(content_type: str | None) -> bool:
    """Whether ``content_type`` is JSON (``application/json`` or any ``+json``)."""
    if not content_type:
        return False
    base = content_type.split(";", 1)[0].strip().lower()
    return base == "application/json" or base.endswith("+json")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.title())
    return value


def decode_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    url: str = "",
) -> Any:
    """Decode one response.

    Returns an :class:`ItemResource`, a :class:`ListResource`, a
    :class:`Count`, or ``None`` for an empty success (204). Raises an
    :class:`~rbtokens.errors.APIError` subclass for a Review Board error
    payload, and a :class:`~rbtokens.errors.ResponseError` subclass for
    anything else that cannot be used.
    """
    checked = _check(status, headers, body, url)
    if checked is None:
        return None
    content_type, name = checked
    spec = _REGISTRY.get(name) if name else None
    try:
        if spec is not None:
            return spec.decode(body)
        return _decode_generic(body, item_mime=_header(headers, "item-content-type"))
    except (msgspec.DecodeError, RecursionError) as exc:
        # RecursionError: msgspec's answer to absurdly deep nesting.
        raise _decode_error(exc, status, content_type, body, url) from exc


def decode_json(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    url: str = "",
) -> Any:
    """Check a response like :func:`decode_response`, but return its JSON as sent.

    For generic tools (``rbtokens api-get``): no Struct fills in defaults for
    fields the server did not send. ``None`` for an empty success.
    """
    checked = _check(status, headers, body, url)
    if checked is None:
        return None
    try:
        data = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise _decode_error(exc, status, checked[0], body, url) from exc
    if isinstance(data, dict) and data.get("stat") == "fail":
        raise _decode_error(ValueError("stat is fail"), status, checked[0], body, url)
    return data


def _check(
    status: int, headers: Mapping[str, str], body: bytes, url: str
) -> tuple[str | None, str | None] | None:
    """Raise for anything but a usable JSON success.

    Returns ``None`` for an empty success, else ``(content type, mime name)``.
    """
    content_type = _header(headers, "content-type")
    if status >= 400:
        raise error_from_response(status, headers, body, url=url)
    if status == 204 or (not body and 200 <= status < 300 and content_type is None):
        return None
    if status >= 300 or status < 200:
        raise HTTPStatusError(
            "unexpected status",
            http_status=status,
            content_type=content_type,
            body_excerpt=excerpt(body),
            url=url,
        )
    name = mime_name(content_type)
    if name is None and not is_json_content_type(content_type):
        raise UnexpectedContentType(
            "expected a Review Board JSON response",
            http_status=status,
            content_type=content_type,
            body_excerpt=excerpt(body),
            url=url,
        )
    if name == "error":
        raise error_from_response(status, headers, body, url=url)
    return content_type, name


def _decode_error(
    exc: Exception, status: int, content_type: str | None, body: bytes, url: str
) -> DecodeError:
    stat = _stat_of(body)
    if stat == "fail":
        return DecodeError(
            "an error payload arrived with a success status",
            http_status=status,
            content_type=content_type,
            body_excerpt=excerpt(body),
            url=url,
        )
    return DecodeError(
        f"could not decode the response ({exc})",
        http_status=status,
        content_type=content_type,
        body_excerpt=excerpt(body),
        url=url,
    )


def _stat_of(body: bytes) -> str | None:
    try:
        return msgspec.json.decode(body, type=_Stat).stat
    except (msgspec.DecodeError, RecursionError):
        return None


def error_from_response(
    status: int, headers: Mapping[str, str], body: bytes, *, url: str = ""
) -> APIError | HTTPStatusError:
    """The typed error for an error response (without raising it)."""
    content_type = _header(headers, "content-type")
    if is_json_content_type(content_type):
        try:
            env = _error_decoder.decode(body)
            rsp = msgspec.json.decode(body)
        except (msgspec.DecodeError, RecursionError):
            pass
        else:
            fields = _field_messages(env.fields)
            message = _message_text(env.err.msg)
            cls = api_error_class(status, env.err.code, message)
            err = cls(
                http_status=status,
                error_code=env.err.code,
                message=message,
                error_type=env.err.type,
                fields=fields,
                rsp=rsp,
                url=url,
            )
            if isinstance(err, RateLimitedError):
                err.retry_after = parse_retry_after(_header(headers, "retry-after"))
            return err
    html = content_type is not None and "html" in content_type.lower()
    cls2 = ServerBugError if status == 500 and html else HTTPStatusError
    reason = "the server crashed (Review Board bug)" if cls2 is ServerBugError else "HTTP error"
    return cls2(
        reason,
        http_status=status,
        content_type=content_type,
        body_excerpt=excerpt(body),
        url=url,
    )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


def _decode_generic(body: bytes, *, item_mime: str | None) -> Any:
    data = msgspec.json.decode(body)
    if not isinstance(data, dict):
        raise msgspec.ValidationError("expected a JSON object")
    if set(data) <= {"count", "stat"} and isinstance(data.get("count"), int):
        return Count(count=data["count"])
    keys = [k for k in data if k not in _LIST_META]
    if len(keys) == 1 and isinstance(data[keys[0]], list):
        item_spec = _REGISTRY.get(mime_name(item_mime) or "")
        item_type: type[ItemResource] = (
            item_spec.type if isinstance(item_spec, ItemSpec) else GenericItem
        )
        items = [_item_from(obj, item_type) for obj in data[keys[0]]]
        total = data.get("total_results")
        if total is not None and (isinstance(total, bool) or not isinstance(total, int)):
            raise msgspec.ValidationError("total_results must be an integer")
        return ListResource(
            items=items,
            item_type=item_type,
            links=msgspec.convert(data.get("links", {}), _links_type),
            total_results=total,
            mimetype=mime_name(item_mime) or "",
        )
    if len(keys) == 1 and isinstance(data[keys[0]], dict) and "links" not in data:
        return _item_from(data[keys[0]], GenericItem)
    return _item_from(data, GenericItem)


def _item_from(
    obj: Any, cls: type[ItemResource], *, fallback: bool = False, at: str = ""
) -> ItemResource:
    """``obj`` as a ``cls``, holding its expanded children.

    With ``fallback``, a GenericItem if it does not fit. ``at`` is ``obj``'s
    path in the body (``.users[3]``), for msgspec's messages.
    """
    if not isinstance(obj, dict):
        raise _located(msgspec.ValidationError("expected a JSON object for an item"), at)
    children = _take_expanded(obj, cls)
    item: ItemResource | None = None
    if cls is not GenericItem:
        try:
            item = msgspec.convert(obj, cls)
        except msgspec.ValidationError as exc:
            if not fallback:
                raise _located(exc, at) from None
    if item is None:
        fields = {k: v for k, v in obj.items() if k not in ("links", "stat")}
        item = GenericItem(links=msgspec.convert(obj.get("links", {}), _links_type), fields=fields)
    if children:
        item.__dict__["_rb_expanded"] = children
    return item


def _located(exc: msgspec.ValidationError, at: str) -> msgspec.ValidationError:
    """``exc`` as msgspec words it for the whole body, ``at`` being the item's path."""
    if not at:
        return exc
    text, sep, path = str(exc).partition(" - at `$")
    return msgspec.ValidationError(f"{text} - at `${at}{path}" if sep else f"{text} - at `${at}`")


def _json_object(body: bytes) -> dict[str, Any]:
    data = msgspec.json.decode(body)
    if not isinstance(data, dict):
        raise msgspec.ValidationError("expected a JSON object")
    return data


_OWN_NAMES: dict[type[ItemResource], frozenset[str]] = {}


def _own_names(cls: type[ItemResource]) -> frozenset[str]:
    """Wire names an ``_expanded`` may not claim: ``links`` and ``cls``'s own fields."""
    names = _OWN_NAMES.get(cls)
    if names is None:
        if cls is GenericItem:  # its ``fields`` holds the payload: only links is its own
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


def _take_expanded(obj: dict[str, Any], cls: type[ItemResource]) -> _Children | None:
    """Pop ``_expanded`` and the fields it names out of ``obj``, as resources.

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
        spec = _REGISTRY.get(mime_name(meta.item_mimetype) or "")
        child_cls = spec.type if isinstance(spec, ItemSpec) else GenericItem
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


def _child(value: Any, cls: type[ItemResource], where: str) -> ItemResource:
    try:
        return _item_from(value, cls, fallback=True)
    except msgspec.ValidationError as exc:
        raise msgspec.ValidationError(f"expanded {where}: {exc}") from None
