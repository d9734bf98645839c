"""Hostile responses to the decoder: only rbtokens' own errors come out.

* arbitrary bytes, arbitrary JSON and arbitrary statuses and content types;
* every field of every captured Review Board payload replaced by a value of
  the wrong type, and the same for payloads with expanded children
  (``_expanded``, the session's inlined user);
* absurdly deep nesting and huge bodies.

The same hostile answers through the whole client are in
``tests/unit/http/test_hostile_answers.py`` and
``tests/unit/resources/test_hostile_links.py``; the response-size cap in
``tests/unit/transport/test_body_cap.py``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hostile import (
    CONTENT_TYPES,
    FUZZ,
    MIME,
    content_types,
    exercise,
    headers_for,
    json_values,
    statuses,
)
from hypothesis import given
from hypothesis import strategies as st
from payloads import FIXTURES

from rbtokens import ListResource, RBTokensError
from rbtokens.wire import decode_response, error_from_response


def decode_ok(status: int, content_type: str | None, body: bytes, **extra: str) -> Any:
    """Decode, allowing only rbtokens' errors; then poke at whatever came out."""
    try:
        result = decode_response(status, headers_for(content_type, extra), body, url="http://x/")
    except RBTokensError as exc:
        str(exc), repr(exc)
        return exc
    exercise(result)
    return result


@FUZZ
@given(status=statuses, content_type=content_types, body=st.binary(max_size=2048))
def test_arbitrary_bytes(status: int, content_type: str | None, body: bytes) -> None:
    decode_ok(status, content_type, body)


@FUZZ
@given(status=statuses, content_type=content_types, value=json_values)
def test_arbitrary_json(status: int, content_type: str | None, value: Any) -> None:
    decode_ok(status, content_type, json.dumps(value).encode())


@FUZZ
@given(
    status=st.sampled_from([400, 401, 403, 404, 429, 500, 503]),
    value=json_values,
    retry_after=st.text(max_size=12),
)
def test_arbitrary_error_payloads(status: int, value: Any, retry_after: str) -> None:
    body = json.dumps(value).encode()
    err = error_from_response(
        status, {"content-type": MIME.format("error"), "retry-after": retry_after}, body
    )
    assert isinstance(err, RBTokensError)
    str(err), repr(err)


WRONG_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**70,
    1.5,
    "",
    "x",
    "2026-13-45T99:99:99",
    "2026-01-01T00:00:00",  # naive: must not break comparisons with now()
    "http://[::1",
    [],
    [1, "a"],
    {},
    {"k": []},
]


def paths(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield (*prefix, key)
            yield from paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj[:3]):
            yield (*prefix, i)
            yield from paths(value, (*prefix, i))


def replaced(obj: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(obj)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def fixtures() -> list[str]:
    """The captured payloads whose body is JSON (not an HTML page)."""
    names = sorted(p.name for p in FIXTURES.glob("*.json"))
    return [n for n in names if isinstance(json.loads((FIXTURES / n).read_text())["body"], dict)]


@pytest.mark.parametrize("name", fixtures())
def test_wrong_type_in_every_field(name: str) -> None:
    data = json.loads((FIXTURES / name).read_text())
    body, status, ctype = data["body"], data["status"], data["content_type"]
    count = 0
    for path in paths(body):
        for value in WRONG_VALUES:
            decode_ok(status, ctype, json.dumps(replaced(body, path, value)).encode())
            count += 1
    assert count >= len(WRONG_VALUES)


def expanded_payloads() -> dict[str, tuple[str, Any]]:
    """Captured payloads arranged as ``?expand=`` answers: ``{name: (content type, body)}``."""

    def load(name: str) -> Any:
        return json.loads((FIXTURES / name).read_text())["body"]

    tokens = load("api-tokens.json")["api_tokens"][:2]
    page = load("users-page.json")
    page["users"] = page["users"][:2]
    first = page["users"][0]
    first["links"].pop("api_tokens", None)
    first["api_tokens"] = tokens
    first["_expanded"] = {
        "api_tokens": {
            "item_mimetype": MIME.format("api-token"),
            "list_mimetype": MIME.format("api-tokens"),
            "list_url": "http://127.0.0.1:8080/api/users/x/api-tokens/",
        }
    }
    session = load("session.json")
    session["session"]["links"].pop("user", None)
    session["session"]["user"] = load("user.json")["user"]
    thing = {
        "stat": "ok",
        "thing": {
            "links": {},
            "_expanded": {"owner": {"item_mimetype": MIME.format("user")}},
            "owner": copy.deepcopy(first),
        },
    }
    return {
        "users": (MIME.format("users"), page),
        "user": (MIME.format("user"), {"stat": "ok", "user": first}),
        "session": (MIME.format("session"), session),
        "thing": (MIME.format("thing"), thing),
    }


EXPANDED = expanded_payloads()


@pytest.mark.parametrize("name", sorted(EXPANDED))
def test_wrong_type_in_every_field_of_expanded_payloads(name: str) -> None:
    ctype, body = EXPANDED[name]
    result = decode_ok(200, ctype, json.dumps(body).encode())
    items = list(result) if isinstance(result, ListResource) else [result]
    assert items[0].expanded  # the payload as built does expand
    for path in paths(body):
        for value in WRONG_VALUES:
            decode_ok(200, ctype, json.dumps(replaced(body, path, value)).encode())


def mutated(data: st.DataObject, body: Any) -> Any:
    """``body`` with one to four of its values replaced by random JSON."""
    all_paths = list(paths(body))
    for _ in range(data.draw(st.integers(1, 4))):
        path = data.draw(st.sampled_from(all_paths))
        try:
            body = replaced(body, path, data.draw(json_values))
        except (KeyError, IndexError, TypeError):
            continue
    return body


@FUZZ
@given(data=st.data())
def test_random_values_in_expanded_payloads(data: st.DataObject) -> None:
    ctype, body = EXPANDED[data.draw(st.sampled_from(sorted(EXPANDED)))]
    decode_ok(200, ctype, json.dumps(mutated(data, body)).encode())


@FUZZ
@given(data=st.data())
def test_random_values_in_random_fields(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(fixtures()))
    fixture = json.loads((FIXTURES / name).read_text())
    body = mutated(data, fixture["body"])
    decode_ok(fixture["status"], fixture["content_type"], json.dumps(body).encode())


DEPTH = 200_000
DEEP_ARRAY = b"[" * DEPTH + b"]" * DEPTH
DEEP_OBJECT = b'{"a":' * DEPTH + b"1" + b"}" * DEPTH


def wrap(template: str, inner: bytes) -> bytes:
    left, right = template.split("@")
    return left.encode() + inner + right.encode()


DEEP_BODIES = {
    "array": DEEP_ARRAY,
    "object": DEEP_OBJECT,
    "in-extra-data": wrap('{"stat":"ok","api_token":{"id":1,"extra_data":{"x":@}}}', DEEP_ARRAY),
    "in-policy": wrap('{"stat":"ok","api_token":{"id":1,"policy":@}}', DEEP_OBJECT),
    "in-list": wrap('{"stat":"ok","api_tokens":@}', DEEP_ARRAY),
    "in-capabilities": wrap('{"stat":"ok","capabilities":@}', DEEP_OBJECT),
    "in-error": wrap('{"stat":"fail","err":{"code":104,"msg":"x"},"z":@}', DEEP_ARRAY),
    "unclosed": b"[" * DEPTH,
}


@pytest.mark.parametrize("content_type", CONTENT_TYPES[:12])
@pytest.mark.parametrize("status", [200, 401])
@pytest.mark.parametrize("name", sorted(DEEP_BODIES))
def test_deeply_nested_bodies(name: str, status: int, content_type: str | None) -> None:
    result = decode_ok(status, content_type, DEEP_BODIES[name])
    if content_type is not None and "json" in content_type:
        assert isinstance(result, RBTokensError)


def test_many_items_decode() -> None:
    item = json.loads((FIXTURES / "api-token.json").read_text())["body"]["api_token"]
    body = json.dumps({"stat": "ok", "total_results": 20000, "api_tokens": [item] * 20000})
    result = decode_ok(200, MIME.format("api-tokens"), body.encode())
    assert isinstance(result, ListResource) and len(result) == 20000
