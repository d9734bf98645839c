"""Hostile answers (arbitrary JSON, hostile URLs, odd statuses and content types) and how the
tests consume them: decode, use the result as callers do, follow its links.

Used by ``tests/unit/wire/test_fuzz_decoding.py``, ``tests/unit/http/test_hostile_answers.py`` and
``tests/unit/resources/test_hostile_links.py``.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from rich.pretty import pretty_repr

from rbtokens import (
    APIToken,
    GenericItem,
    ItemResource,
    ListResource,
    RBClient,
    RBTokensError,
    RetryPolicy,
    Root,
)
from rbtokens.transport import MockTransport, Response
from rbtokens.wire import registry

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
