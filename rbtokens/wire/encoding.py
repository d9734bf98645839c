"""Pure request encoding: query strings, form bodies and URI templates.

Names follow RBTools: Python keyword names become Review Board's wire names
(``max_results`` → ``max-results``, ``extra_data__k`` → ``extra_data.k``,
``extra_data_json`` → ``extra_data:json``, ``extra_data_json_patch`` →
``extra_data:json-patch``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from yarl import URL

from ..errors import NavigationError

__all__ = [
    "MAX_RESULTS",
    "encode_form",
    "encode_query",
    "encoded",
    "expand_template",
    "merge_query",
]

MAX_RESULTS = 200
"""Review Board silently caps ``max-results`` at 200; 0 loops and negatives crash."""

_PLACEHOLDER = re.compile(r"{([A-Za-z0-9_]+)}")


def _scalar(value: Any, *, bool_true: str = "1", bool_false: str = "0") -> str:
    if isinstance(value, bool):
        return bool_true if value else bool_false
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def encode_query(params: Mapping[str, Any]) -> dict[str, str]:
    """Encode Python keyword arguments as Review Board query parameters.

    ``None`` drops a parameter, booleans go as ``1``/``0``, sequences are
    comma-joined, and ``max-results`` is clamped to 1 to 200.
    """
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        name = key.replace("_", "-")
        if name == "counts-only" and value is False:
            continue  # the server counts on any value, "0" included
        if name == "max-results":
            out[name] = str(min(MAX_RESULTS, max(1, _max_results(key, value))))
            continue
        if isinstance(value, (list, tuple, set, frozenset)):
            text = ",".join(_scalar(v) for v in value)
        else:
            text = _scalar(value)
        out[name] = text
    return out


_ENCODED: dict[tuple[tuple[tuple[str, Any], ...], tuple[type, ...]], Mapping[str, str]] = {}


def encoded(params: Mapping[str, Any]) -> Mapping[str, str]:
    """:func:`encode_query`, read-only and cached: the same query is sent over and over."""
    if not params:
        return _EMPTY
    try:
        # The types too: True == 1 == 1.0, but they are sent differently.
        key = (tuple(params.items()), tuple(map(type, params.values())))
        hit = _ENCODED.get(key)
    except TypeError:  # an unhashable value
        return encode_query(params)
    if hit is None:
        hit = MappingProxyType(encode_query(params))
        if len(_ENCODED) >= 256:
            _ENCODED.clear()
        _ENCODED[key] = hit
    return hit


_EMPTY: Mapping[str, str] = MappingProxyType({})


def _max_results(key: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    raise ValueError(f"{key} must be an integer, got {value!r}")


def encode_form(fields: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Encode fields for a POST or PUT body, sorted like RBTools.

    Dicts and lists become JSON (``policy``), datetimes ISO 8601, ``None`` the
    empty string (which Review Board reads as null), booleans ``1``/``0``
    (``true``/``false`` for ``extra_data.*``, which the server coerces).
    ``extra_data={"k": v}`` expands to ``extra_data.k=v`` for scalar values;
    nested dicts and lists (which ``extra_data.k`` would store as a string)
    go as one ``extra_data:json`` merge patch instead, merged with any
    ``extra_data_json`` mapping given.
    """
    out: list[tuple[str, str]] = []
    nested: dict[str, Any] = {}
    merge_patch: Any = None
    for key, value in fields.items():
        if key == "extra_data" and isinstance(value, Mapping):
            for sub, subval in value.items():
                if isinstance(subval, (Mapping, list, tuple)):
                    nested[str(sub)] = subval
                else:
                    out.append((f"extra_data.{sub}", _extra_scalar(subval)))
        elif key.startswith("extra_data__"):
            sub = key[len("extra_data__") :]
            if isinstance(value, (Mapping, list, tuple)):
                nested[sub] = value
            else:
                out.append(("extra_data." + sub, _extra_scalar(value)))
        elif key == "extra_data_json":
            merge_patch = value
        elif key == "extra_data_json_patch":
            out.append(("extra_data:json-patch", _scalar(value)))
        else:
            out.append((key, "" if value is None else _scalar(value)))
    if nested:
        if merge_patch is None:
            merge_patch = {}
        if not isinstance(merge_patch, Mapping):
            raise ValueError(
                "nested extra_data values are sent as an extra_data:json merge patch; "
                "give extra_data_json as a mapping to combine them"
            )
        merge_patch = {**merge_patch, **nested}
    if merge_patch is not None:
        out.append(("extra_data:json", _scalar(merge_patch)))
    out.sort()
    return out


def _extra_scalar(value: Any) -> str:
    if value is None:
        return ""
    return _scalar(value, bool_true="true", bool_false="false")


def template_names(template: str) -> list[str]:
    """The placeholder names in a URI template, in order."""
    return _PLACEHOLDER.findall(template)


def expand_template(template: str, values: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Fill a Review Board URI template.

    Values are URL-encoded as one path segment each. Returns the URL and the
    arguments the template did not use, which become the query string.
    """
    names = template_names(template)
    missing = [n for n in names if values.get(n) is None]
    if missing:
        raise NavigationError(f"URI template {template!r} needs {', '.join(missing)}")

    def fill(match: re.Match[str]) -> str:
        return quote(str(values[match.group(1)]), safe="")

    rest = {k: v for k, v in values.items() if k not in names}
    return _PLACEHOLDER.sub(fill, template), rest


def merge_query(url: URL, params: Mapping[str, Any] | Iterable[tuple[str, str]]) -> URL:
    """Return ``url`` with ``params`` added, replacing keys it already has."""
    extra = dict(params)
    if not extra:
        return url
    merged = [(k, v) for k, v in url.query.items() if k not in extra]
    merged.extend(extra.items())
    return url.with_query(merged)
