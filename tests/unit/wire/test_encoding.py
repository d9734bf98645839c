"""Query, form and template encoding (the RBTools wire format)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from yarl import URL

from rbtokens.wire import encode_form, encode_query, expand_template, merge_query


def test_query_names_and_values() -> None:
    assert encode_query(
        {"max_results": 50, "include_inactive": True, "counts_only": False, "q": "al", "x": None}
    ) == {"max-results": "50", "include-inactive": "1", "q": "al"}  # counts-only=0 would count


def test_query_lists_are_comma_joined() -> None:
    assert encode_query({"only_fields": ["id", "note"]}) == {"only-fields": "id,note"}


def test_max_results_is_clamped() -> None:
    assert encode_query({"max_results": 500}) == {"max-results": "200"}
    assert encode_query({"max_results": 0}) == {"max-results": "1"}
    assert encode_query({"max_results": -3}) == {"max-results": "1"}


def test_form_extra_data_forms() -> None:
    form = encode_form(
        {
            "note": "n",
            "policy": {"resources": {"*": {"allow": ["GET"]}}},
            "extra_data__team": "infra",
            "extra_data": {"ci": True, "gone": None},
            "extra_data_json": {"a": {"b": 1}},
            "extra_data_json_patch": [{"op": "remove", "path": "/x"}],
        }
    )
    assert form == sorted(form)
    assert dict(form) == {
        "note": "n",
        "policy": '{"resources":{"*":{"allow":["GET"]}}}',
        "extra_data.team": "infra",
        "extra_data.ci": "true",
        "extra_data.gone": "",
        "extra_data:json": '{"a":{"b":1}}',
        "extra_data:json-patch": '[{"op":"remove","path":"/x"}]',
    }


def test_form_scalars() -> None:
    when = datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)
    form = dict(encode_form({"expires": when, "valid": False, "clear": None, "n": 3}))
    assert form == {"expires": "2027-01-02T03:04:05+00:00", "valid": "0", "clear": "", "n": "3"}
    assert urlencode(encode_form({"note": "a&b=c"})) == "note=a%26b%3Dc"


def test_template_quotes_each_value() -> None:
    url, rest = expand_template(
        "http://h/api/users/{username}/api-tokens/{api_token_id}/",
        {"username": "o'neil+x@y", "api_token_id": 0, "start": 5},
    )
    assert url == "http://h/api/users/o%27neil%2Bx%40y/api-tokens/0/"
    assert rest == {"start": 5}


def test_merge_query_replaces_keys() -> None:
    url = URL("http://h/api/users/?start=5&max-results=2&q=probe")
    merged = merge_query(url, {"start": "7"})
    assert merged.query["start"] == "7"
    assert merged.query["q"] == "probe" and merged.query["max-results"] == "2"
    assert merge_query(url, {}) is url


def test_counts_only_false_is_not_sent() -> None:
    assert encode_query({"counts_only": False, "q": "a"}) == {"q": "a"}
    assert encode_query({"counts_only": True}) == {"counts-only": "1"}


@pytest.mark.parametrize("value", ["ten", 2.5, [1]])
def test_max_results_must_be_an_integer(value: Any) -> None:
    with pytest.raises(ValueError, match="max_results must be an integer"):
        encode_query({"max_results": value})
    assert encode_query({"max_results": "7"}) == {"max-results": "7"}


def test_nested_extra_data_goes_as_a_json_merge_patch() -> None:
    form = encode_form(
        {"extra_data": {"team": {"name": "infra"}, "n": 3, "flag": False, "lst": [1, 2]}}
    )
    assert form == [
        ("extra_data.flag", "false"),
        ("extra_data.n", "3"),
        ("extra_data:json", '{"lst":[1,2],"team":{"name":"infra"}}'),
    ]
    combined = encode_form({"extra_data__team": {"a": 1}, "extra_data_json": {"b": 2}})
    assert combined == [("extra_data:json", '{"b":2,"team":{"a":1}}')]
    with pytest.raises(ValueError, match="merge patch"):
        encode_form({"extra_data": {"t": {}}, "extra_data_json": "[1]"})
