"""Error responses: a Review Board error payload or an HTML page → a typed error."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import msgspec

from .._redact import excerpt
from ..errors import APIError, HTTPStatusError, RateLimitedError, ServerBugError, api_error_class
from .mime import header, is_json_content_type

__all__ = ["error_code", "error_from_response", "parse_retry_after"]


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


_error_decoder = msgspec.json.Decoder(_ErrorEnvelope)


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


def error_from_response(
    status: int, headers: Mapping[str, str], body: bytes, *, url: str = ""
) -> APIError | HTTPStatusError:
    """The typed error for an error response (without raising it)."""
    content_type = header(headers, "content-type")
    if is_json_content_type(content_type):
        try:
            env = _error_decoder.decode(body)
            rsp = msgspec.json.decode(body)
        except (msgspec.DecodeError, RecursionError):
            pass
        else:
            message = _message_text(env.err.msg)
            cls = api_error_class(status, env.err.code, message)
            err = cls(
                http_status=status,
                error_code=env.err.code,
                message=message,
                error_type=env.err.type,
                fields=_field_messages(env.fields),
                rsp=rsp,
                url=url,
            )
            if isinstance(err, RateLimitedError):
                after = parse_retry_after(header(headers, "retry-after"))
                err.retry_after = after
                if after is not None:
                    when = datetime.now(UTC) + timedelta(seconds=after)
                    err.retry_at = when.replace(microsecond=0)
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


def error_code(status: int, headers: Mapping[str, str], body: bytes) -> int | None:
    """The Review Board error code of an error response, if it carries one."""
    err = error_from_response(status, headers, body)
    return err.error_code if isinstance(err, APIError) else None


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
