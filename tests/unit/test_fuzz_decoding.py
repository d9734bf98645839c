"""Hostile responses: only rbtokens' own errors come out, and memory stays bounded.

* arbitrary bytes, arbitrary JSON and arbitrary statuses and content types;
* every field of every captured Review Board payload replaced by a value of
  the wrong type, and the same for payloads with expanded children
  (``_expanded``, the session's inlined user);
* absurdly deep nesting and huge bodies;
* the same through the whole client (MockTransport), including following the
  links of whatever decoded;
* the response-size cap on a real socket, with a server that never stops
  sending, while tracemalloc watches the peak.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.pretty import pretty_repr
from yarl import URL

from rbtokens import (
    APIToken,
    GenericItem,
    ItemResource,
    ListResource,
    RBClient,
    RBTokensError,
    ResponseTooLarge,
    RetryPolicy,
    Root,
)
from rbtokens.transport import DEFAULT_MAX_BODY, MockTransport, Request, Response
from rbtokens.wire import decode_response, error_from_response, registry

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MIME = "application/vnd.reviewboard.org.{}+json"
CONTENT_TYPES = [
    *(MIME.format(name) for name in sorted(registry())),
    MIME.format("error"),
    MIME.format("unknown-thing"),
    MIME.format("api-token") + "; charset=utf-8",
    "application/json",
    "text/html; charset=utf-8",
    "text/plain",
    "application/vnd.reviewboard.org.api-token+xml",
    "",
    None,
]
STATUSES = [200, 201, 204, 206, 301, 304, 400, 401, 403, 404, 405, 409, 429, 500, 502, 503]
FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

HOSTILE_URLS = [
    "http://[::1",
    "file:///etc/passwd",
    "//evil.test/api/",
    "https://evil.test/api/",
    "javascript:alert(1)",
    "/api/users/",
    "https://rb.test/api/users/",
    "http://rb.test:99999/",
    "",
]
json_values = st.recursive(
    st.none()
    | st.sampled_from(HOSTILE_URLS)
    | st.sampled_from([MIME.format("api-token"), MIME.format("user"), MIME.format("x")])
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(
                [
                    "stat",
                    "links",
                    "href",
                    "id",
                    "token",
                    "api_token",
                    "api_tokens",
                    "users",
                    "err",
                    "code",
                    "msg",
                    "fields",
                    "total_results",
                    "count",
                    "expires",
                    "next",
                    "self",
                    "_expanded",
                    "item_mimetype",
                    "list_mimetype",
                    "list_url",
                    "user",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=6,
        )
    ),
    max_leaves=30,
)
content_types = st.sampled_from(CONTENT_TYPES) | st.text(max_size=40)
statuses = st.sampled_from(STATUSES) | st.integers(min_value=100, max_value=599)


def headers_for(content_type: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    headers = dict(extra or {})
    if content_type is not None:
        headers["content-type"] = content_type
    return headers


def decode_ok(status: int, content_type: str | None, body: bytes, **extra: str) -> Any:
    """Decode, allowing only rbtokens' errors; then poke at whatever came out."""
    try:
        result = decode_response(status, headers_for(content_type, extra), body, url="http://x/")
    except RBTokensError as exc:
        str(exc), repr(exc)
        return exc
    exercise(result)
    return result


def exercise(result: Any) -> None:
    """Use a decoded value the way callers do; only rbtokens' errors may come out."""
    try:
        repr(result), str(result)
        items = list(result) if isinstance(result, ListResource) else [result]
        if isinstance(result, ListResource):
            len(result), result.total_results, result.has_link("next")
        for item in items:
            if isinstance(item, ItemResource):
                item.etag, item.has_link("self")
                repr(item), str(item)
                for child in item.expanded.values():
                    repr(child), str(child)
            if isinstance(item, GenericItem):
                pretty_repr(item)  # its masked __rich_repr__
            if isinstance(item, APIToken):
                item.usable, item.username  # noqa: B018
            if isinstance(item, Root):
                item.has_capability("authentication", "client_web_login")
    except RBTokensError:
        pass


# -- arbitrary input ------------------------------------------------------------------


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


# -- wrong types in every field of real payloads ------------------------------------


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


# -- deep and huge ------------------------------------------------------------------


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


# -- through the whole client ---------------------------------------------------------


def hostile_client(response: Response) -> tuple[RBClient, MockTransport]:
    transport = MockTransport(lambda request: copy.copy(response))
    client = RBClient(
        "https://rb.test/",
        username="admin",
        password="fuzz-secret-pw",
        transport=transport,
        retry=RetryPolicy(attempts=2, backoff=0.0, max_retry_after=0),
    )
    return client, transport


async def walk(client: RBClient, result: Any) -> None:
    """Follow every link of a decoded result (each is another hostile answer)."""
    items = list(result) if isinstance(result, ListResource) else [result]
    if isinstance(result, ListResource):
        items.append(result)
    if isinstance(result, ListResource):
        for concurrency in (1, 3):
            with contextlib.suppress(RBTokensError):
                async for _page in result.pages(concurrency=concurrency):
                    pass
        with contextlib.suppress(RBTokensError):
            await result.get_item(1)
    for item in items[:3]:
        for name in list(getattr(item, "links", {}) or {})[:4]:
            with contextlib.suppress(RBTokensError):
                await item.follow(name)
        if isinstance(item, ItemResource) and item.has_link("self"):
            with contextlib.suppress(RBTokensError):
                await item.get_self()


@FUZZ
@given(
    status=statuses,
    content_type=content_types,
    value=json_values | st.binary(max_size=300),
    set_cookie=st.none() | st.text(max_size=20),
    location=st.none() | st.sampled_from(HOSTILE_URLS) | st.text(max_size=40),
)
async def test_hostile_server_through_the_client(
    status: int, content_type: str | None, value: Any, set_cookie: str | None, location: str | None
) -> None:
    body = value if isinstance(value, bytes) else json.dumps(value).encode()
    headers = headers_for(content_type)
    if location is not None:
        headers["location"] = location
    cookies = {"rbsessionid": set_cookie} if set_cookie is not None else {}
    client, transport = hostile_client(Response(status, headers, body, cookies))
    async with client:
        for method in ("GET", "DELETE", "POST"):
            try:
                result = await client.request(method, "https://rb.test/api/", data=None)
            except RBTokensError:
                continue
            exercise(result)
            await walk(client, result)
    assert len(transport.requests) <= 100


# -- the response-size cap on a real socket ---------------------------------------------


@pytest.fixture
async def firehose() -> AsyncIterator[str]:
    """``/endless/`` streams JSON-ish bytes for ever; ``/declared/`` claims 10 GB."""

    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": MIME.format("api-tokens")})
        await resp.prepare(request)
        chunk = b"[" * 65536
        try:
            while True:
                await resp.write(chunk)
        except (ConnectionError, RuntimeError):
            pass
        return resp

    async def declared(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": MIME.format("api-tokens")})
        resp.content_length = 10 * 1024**3
        await resp.prepare(request)
        try:
            await resp.write(b"[" * 1024)
            await asyncio.sleep(10)
        except (ConnectionError, RuntimeError):
            pass
        return resp

    app = web.Application()
    app.router.add_get("/endless/", endless)
    app.router.add_get("/declared/", declared)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/"
    await runner.cleanup()


@pytest.mark.parametrize("path", ["endless/", "declared/"])
async def test_response_size_cap_bounds_memory(firehose: str, path: str) -> None:
    cap = 2 * 1024 * 1024
    tracemalloc.start()
    try:
        async with RBClient(firehose, max_body_size=cap, retry=RetryPolicy(attempts=3)) as c:
            with pytest.raises(ResponseTooLarge) as info:
                await c.request("GET", firehose + path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * cap  # the cap, not the stream, bounds memory
    assert c.stats.requests == 1  # too large is final: not retried
    assert str(cap) in str(info.value)


def test_default_size_cap_is_finite() -> None:
    assert 1024 * 1024 <= DEFAULT_MAX_BODY <= 1024**3


async def test_large_body_under_the_cap_is_read_whole(firehose: str) -> None:
    # Regression: the transport once returned only the first buffered chunk.
    item = json.loads((FIXTURES / "api-token.json").read_text())["body"]["api_token"]
    body = json.dumps({"stat": "ok", "total_results": 3000, "api_tokens": [item] * 3000}).encode()
    assert len(body) > 1024 * 1024

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Type": MIME.format("api-tokens")})

    app = web.Application()
    app.router.add_get("/big/", big)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    try:
        async with RBClient(url) as c:
            res = await c.request("GET", url + "big/")
        assert isinstance(res, ListResource) and len(res) == 3000
    finally:
        await runner.cleanup()


def test_request_and_response_reprs_hide_secrets() -> None:
    req = Request("GET", URL("https://rb.test/api/"), {"Authorization": "Basic c2VjcmV0"}, b"x")
    resp = Response(
        200, {"set-cookie": "rbsessionid=abc123"}, b'{"token": "rbp_x"}', {"rbsessionid": "abc123"}
    )
    assert "c2VjcmV0" not in repr(req)
    assert "abc123" not in repr(resp) and "rbp_x" not in repr(resp)


@pytest.mark.parametrize("href", HOSTILE_URLS)
@pytest.mark.parametrize("link", ["next", "prev", "self"])
async def test_hostile_list_links(href: str, link: str) -> None:
    page = json.loads((FIXTURES / "users-page.json").read_text())["body"]
    page["links"][link] = {"href": href, "method": "GET"}
    for user in page["users"]:
        user["links"]["self"]["href"] = href
    body = json.dumps(page).encode()
    client, _ = hostile_client(Response(200, {"content-type": MIME.format("users")}, body))
    async with client:
        result = await client.request("GET", "https://rb.test/api/users/")
        assert isinstance(result, ListResource)
        exercise(result)
        await walk(client, result)
        with contextlib.suppress(RBTokensError):
            await result.get_self()
        with contextlib.suppress(RBTokensError):
            await result.get_next()
