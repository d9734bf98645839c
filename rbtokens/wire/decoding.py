"""Pure decoding: (status, headers, body) → a typed item, page or count, or a typed error.

No I/O happens here. The response's mime type picks a decoder from the
registry (:mod:`rbtokens.wire.specs`). A mime type missing from the registry
still decodes, into the generic item type, so the whole tree can be walked.

Raw payloads (``msgspec.json.decode(body, type=User)``, ``msgspec.convert``)
go through this module: without its ``dec_hook`` an expanded payload is a
``ValidationError``, not an item with children.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, overload

import msgspec

from .._redact import excerpt
from ..errors import DecodeError, HTTPStatusError, UnexpectedContentType
from .errorbody import error_from_response
from .expanded import item_from
from .mime import header, is_json_content_type, mime_name
from .registry import generic_type, item_type, page_type
from .specs import spec_for
from .types import Count, Decoded, Link, ListOf, Page

__all__ = ["check_type", "decode_as", "decode_json", "decode_response"]

_LIST_META = frozenset({"stat", "links", "total_results"})
_links_type = dict[str, Link]
_T = TypeVar("_T")


class _Stat(msgspec.Struct, kw_only=True):
    stat: str = "ok"


def decode_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    url: str = "",
) -> Decoded:
    """Decode one response.

    Returns a registered item Struct, a :class:`Page`, a :class:`Count`, or
    ``None`` for an empty success (204). Raises an
    :class:`~rbtokens.errors.APIError` subclass for a Review Board error
    payload, and a :class:`~rbtokens.errors.ResponseError` subclass for
    anything else that cannot be used.
    """
    checked = _check(status, headers, body, url)
    if checked is None:
        return None
    content_type, name = checked
    spec = spec_for(name)
    try:
        if spec is not None:
            decoded: Decoded = spec.decode(body)
            return decoded
        return _decode_generic(body, item_mime=header(headers, "item-content-type"))
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


_SHAPES: dict[Any, msgspec.json.Decoder[Any]] = {}


def decode_as(
    status: int, headers: Mapping[str, str], body: bytes, shape: type[_T], *, url: str = ""
) -> _T:
    """Check a response like :func:`decode_response`, then decode it into ``shape``.

    ``shape`` is any type msgspec decodes (a Struct of just the fields a
    caller reads, say): the registry is not consulted, so this is the fast
    path for a payload trimmed with ``only-fields``. An empty answer is a
    :class:`~rbtokens.errors.DecodeError`.
    """
    checked = _check(status, headers, body, url)
    content_type = checked[0] if checked is not None else header(headers, "content-type")
    decoder = _SHAPES.get(shape)
    if decoder is None:
        decoder = _SHAPES[shape] = msgspec.json.Decoder(shape)
    try:
        result: _T = decoder.decode(body)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise _decode_error(exc, status, content_type, body, url) from exc
    return result


@overload
def check_type(decoded: Decoded, expect: ListOf[Any], *, status: int, url: str) -> Page: ...


@overload
def check_type(decoded: Decoded, expect: type[_T], *, status: int, url: str) -> _T: ...
def check_type(decoded: Decoded, expect: type[Any] | ListOf[Any], *, status: int, url: str) -> Any:
    """``decoded`` if it is what the caller ``expect``\\ s, else :class:`UnexpectedContentType`.

    ``expect`` is an item Struct, :class:`Count`, or :class:`ListOf` an item
    type (a page whose items are of it, or of a subclass).
    """
    if isinstance(expect, ListOf):
        if isinstance(decoded, Page) and issubclass(decoded.item_type, expect.item_type):
            return decoded
        wanted = f"a list of {expect.item_type.__name__}"
    elif isinstance(decoded, expect):
        return decoded
    else:
        wanted = expect.__name__
    got = (
        f"a list of {decoded.item_type.__name__}"
        if isinstance(decoded, Page)
        else type(decoded).__name__
    )
    raise UnexpectedContentType(f"expected {wanted}, got {got}", http_status=status, url=url)


def _check(
    status: int, headers: Mapping[str, str], body: bytes, url: str
) -> tuple[str | None, str | None] | None:
    """Raise for anything but a usable JSON success.

    Returns ``None`` for an empty success, else ``(content type, mime name)``.
    """
    content_type = header(headers, "content-type")
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
    what = (
        "an error payload arrived with a success status"
        if _stat_of(body) == "fail"
        else f"could not decode the response ({exc})"
    )
    return DecodeError(
        what,
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


def _decode_generic(body: bytes, *, item_mime: str | None) -> Decoded:
    data = msgspec.json.decode(body)
    if not isinstance(data, dict):
        raise msgspec.ValidationError("expected a JSON object")
    if set(data) <= {"count", "stat"} and isinstance(data.get("count"), int):
        return Count(count=data["count"])
    keys = [k for k in data if k not in _LIST_META]
    generic = generic_type()
    if len(keys) == 1 and isinstance(data[keys[0]], list):
        cls = item_type(mime_name(item_mime))
        items = [item_from(obj, cls) for obj in data[keys[0]]]
        total = data.get("total_results")
        if total is not None and (isinstance(total, bool) or not isinstance(total, int)):
            raise msgspec.ValidationError("total_results must be an integer")
        links = msgspec.convert(data.get("links", {}), _links_type)
        return page_type()(
            items=items,
            item_type=cls,
            links=links,
            total_results=total,
            mimetype=mime_name(item_mime) or "",
        )
    if len(keys) == 1 and isinstance(data[keys[0]], dict) and "links" not in data:
        item: msgspec.Struct = item_from(data[keys[0]], generic)
        return item
    whole: msgspec.Struct = item_from(data, generic)
    return whole
