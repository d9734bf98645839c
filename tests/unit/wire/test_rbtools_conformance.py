"""rbtokens puts the same bytes on the wire as RBTools, the reference client.

Deliberate differences are pinned too: RBTools sends ``str(value)`` for every
field, so a dict (a token ``policy``) goes out as a Python repr the server
cannot parse, and ``False`` as ``"False"``. rbtokens sends JSON and ``0``.
"""

from __future__ import annotations

from typing import Any

import pytest
from yarl import URL

from rbtokens.wire import encode_form, encode_query, expand_template, merge_query

rbtools_request = pytest.importorskip("rbtools.api.request")
rbtools_base = pytest.importorskip("rbtools.api.resource.base")

FIELDS: list[dict[str, Any]] = [
    {"note": "hello", "expires": "2027-01-01T00:00:00+00:00"},
    {"extra_data__team": "infra", "extra_data__count": 3, "note": "x"},
    {"extra_data_json": {"b": [1, 2], "a": {"z": None}}},
    {"extra_data_json_patch": [{"op": "add", "path": "/k", "value": "v"}], "note": "n"},
    {"invalid_reason": "leaked in CI logs", "valid": 0},
]


@pytest.mark.parametrize("fields", FIELDS)
def test_form_fields_match_rbtools(fields: dict[str, Any]) -> None:
    theirs = dict(rbtools_base._preprocess_fields(fields))
    assert dict(encode_form(fields)) == theirs


def test_policy_goes_as_json_where_rbtools_sends_a_repr() -> None:
    policy = {"resources": {"*": {"allow": ["GET"], "block": ["*"]}}}
    theirs = dict(rbtools_base._preprocess_fields({"policy": policy}))
    ours = dict(encode_form({"policy": policy}))
    assert theirs["policy"].startswith("{'resources'")  # not JSON
    assert ours["policy"] == '{"resources":{"*":{"allow":["GET"],"block":["*"]}}}'


@pytest.mark.parametrize(
    "query",
    [
        {"max_results": 200, "include_inactive": True},
        {"q": "al", "counts_only": True, "start": 25},
        {"only_fields": "id,note", "only_links": ""},
    ],
)
def test_query_matches_rbtools(query: dict[str, Any]) -> None:
    url = "http://rb.test/api/users/?expand=user"
    theirs = URL(rbtools_request.HttpRequest(url, query_args=query).url)
    ours = merge_query(URL(url), encode_query(query))
    assert dict(ours.query) == dict(theirs.query)


def test_counts_only_false_is_dropped_where_rbtools_sends_0() -> None:
    # Review Board counts on any counts-only value, "0" included.
    query = {"q": "al", "counts_only": False}
    url = "http://rb.test/api/users/"
    theirs = URL(rbtools_request.HttpRequest(url, query_args=query).url)
    ours = merge_query(URL(url), encode_query(query))
    assert theirs.query.get("counts-only") == "0"
    assert dict(ours.query) == {"q": "al"}


def test_templates_are_quoted_where_rbtools_is_not() -> None:
    template = "http://rb.test/api/users/{username}/api-tokens/{api_token_id}/"
    url, _ = expand_template(template, {"username": "a/b", "api_token_id": 7})
    assert url == "http://rb.test/api/users/a%2Fb/api-tokens/7/"
