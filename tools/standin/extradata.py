"""``extra_data`` writes, as Review Board 8.1's ``import_extra_data`` does them.

Three forms, applied in this order: ``extra_data:json`` (an RFC 7386 merge
patch), ``extra_data:json-patch`` (RFC 6902) and ``extra_data.KEY=value``
(``true``/``false`` become booleans, numbers are coerced, ``''`` deletes).
Keys starting with ``__`` are private: never written. A failure raises
:class:`ExtraDataError` with djblets' message; the caller then keeps the
stored ``extra_data`` as it was.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["ExtraDataError", "import_extra_data"]

PRIVATE = "__"


class ExtraDataError(Exception):
    """The message goes to ``fields.extra_data``."""


def import_extra_data(extra: dict[str, Any], form: Mapping[str, str]) -> dict[str, Any]:
    """The new ``extra_data`` after ``form``'s writes (``extra`` is not changed)."""
    out = copy.deepcopy(extra)
    if "extra_data:json" in form:
        patch = _load(form["extra_data:json"])
        merged = _merge(out, patch)
        if not isinstance(merged, dict):
            raise ExtraDataError(
                "extra_data:json cannot replace extra_data with a non-dictionary type"
            )
        out = merged
    if "extra_data:json-patch" in form:
        ops = _load(form["extra_data:json-patch"])
        try:
            out = _json_patch(out, ops)
        except _PatchError as exc:
            raise ExtraDataError(f"Failed to patch JSON data: {exc}") from None
    for key, value in form.items():
        if not key.startswith("extra_data.") or key.startswith("extra_data." + PRIVATE):
            continue
        name = key[len("extra_data.") :]
        if value != "":
            out[name] = _coerce(value)
        else:
            out.pop(name, None)
    return out


def _load(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ExtraDataError(f"Could not parse JSON data: {exc}") from None


def _coerce(value: str) -> Any:
    if value in ("true", "True", "TRUE"):
        return True
    if value in ("false", "False", "FALSE"):
        return False
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def _merge(target: Any, patch: Any, top: bool = True) -> Any:
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if top and key.startswith(PRIVATE):
            continue
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value, top=False)
    return out


class _PatchError(Exception):
    pass


def _pointer(path: Any, n: int) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise _PatchError(f'Syntax error in path "{path}" for patch entry {n}')
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in path.split("/")[1:]]
    if tokens and tokens[0].startswith(PRIVATE):
        raise _PatchError(f'Cannot write to path "{path}" for patch entry {n}')
    return tokens


def _parent(doc: Any, tokens: list[str], path: str, n: int) -> tuple[Any, str]:
    if not tokens:
        raise _PatchError(f'Cannot write to path "{path}" for patch entry {n}')
    node = doc
    for token in tokens[:-1]:
        try:
            node = node[int(token)] if isinstance(node, list) else node[token]
        except (KeyError, IndexError, ValueError, TypeError):
            raise _PatchError(f'Invalid path "{path}" for patch entry {n}') from None
    return node, tokens[-1]


def _get(doc: Any, tokens: list[str], path: str, n: int) -> Any:
    node = doc
    for token in tokens:
        try:
            node = node[int(token)] if isinstance(node, list) else node[token]
        except (KeyError, IndexError, ValueError, TypeError):
            raise _PatchError(f'Invalid path "{path}" for patch entry {n}') from None
    return node


def _add(doc: Any, tokens: list[str], value: Any, path: str, n: int) -> None:
    node, key = _parent(doc, tokens, path, n)
    if isinstance(node, dict):
        node[key] = value
    elif isinstance(node, list):
        index = len(node) if key == "-" else int(key) if key.isdigit() else -1
        if not 0 <= index <= len(node):
            raise _PatchError(
                f'Cannot insert into index {key} in path "{path}" for patch entry {n}'
            )
        node.insert(index, value)
    else:
        raise _PatchError(f'Unable to add key "{key}" to a non-dictionary/list in path "{path}"')


def _remove(doc: Any, tokens: list[str], path: str, n: int) -> Any:
    node, key = _parent(doc, tokens, path, n)
    try:
        return node.pop(int(key)) if isinstance(node, list) else node.pop(key)
    except (KeyError, IndexError, ValueError, AttributeError):
        raise _PatchError(
            f'Cannot remove non-existent key "{key}" in path "{path}" for patch entry {n}'
        ) from None


def _json_patch(doc: dict[str, Any], ops: Any) -> dict[str, Any]:
    if not isinstance(ops, list):
        raise _PatchError("The patch must be a list of operations")
    for n, op in enumerate(ops):
        if not isinstance(op, dict):
            raise _PatchError(f"Patch entry {n} must be a dictionary instead of {type(op)}")
        for key in ("op", "path"):
            if key not in op:
                raise _PatchError(f'Missing key "{key}" for patch entry {n}')
        kind, path = op["op"], op["path"]
        tokens = _pointer(path, n)
        if kind in ("add", "replace", "test") and "value" not in op:
            raise _PatchError(f'Missing key "value" for patch entry {n}')
        if kind == "add":
            _add(doc, tokens, copy.deepcopy(op["value"]), path, n)
        elif kind == "remove":
            _remove(doc, tokens, path, n)
        elif kind == "replace":
            _remove(doc, tokens, path, n)
            _add(doc, tokens, copy.deepcopy(op["value"]), path, n)
        elif kind in ("copy", "move"):
            if "from" not in op:
                raise _PatchError(f'Missing key "from" for patch entry {n}')
            source = _pointer(op["from"], n)
            value = _get(doc, source, op["from"], n)
            if kind == "move":
                _remove(doc, source, op["from"], n)
            _add(doc, tokens, copy.deepcopy(value), path, n)
        elif kind == "test":
            if _get(doc, tokens, path, n) != op["value"]:
                raise _PatchError(f'Test failed for path "{path}" at patch entry {n}')
        else:
            raise _PatchError(f'Unknown operation "{kind}" for patch entry {n}')
    return doc
