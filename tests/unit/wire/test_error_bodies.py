"""Error answers become typed errors: error payloads, HTML pages, bad bodies, ``Retry-After``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from payloads import load

import rbtokens
from rbtokens.errors import APIError, InvalidFormDataError
from rbtokens.wire import decode_response, error_from_response, parse_retry_after


@pytest.mark.parametrize(
    ("name", "cls", "code"),
    [
        ("error-105-missing-policy.json", rbtokens.InvalidFormDataError, 105),
        ("error-400-max-results.json", rbtokens.InvalidFormDataError, 105),
        ("error-401-bad-password.json", rbtokens.LoginFailedError, 104),
        ("error-401-not-logged-in.json", rbtokens.NotLoggedInError, 103),
        ("error-404-does-not-exist.json", rbtokens.DoesNotExistError, 100),
    ],
)
def test_error_payloads(name: str, cls: type[rbtokens.APIError], code: int) -> None:
    status, ctype, raw = load(name)
    with pytest.raises(cls) as info:
        decode_response(status, {"content-type": ctype}, raw)
    err = info.value
    assert err.http_status == status and err.error_code == code
    assert err.message and err.rsp["stat"] == "fail"


def test_field_errors_are_kept() -> None:
    status, ctype, raw = load("error-105-missing-policy.json")
    with pytest.raises(rbtokens.InvalidFormDataError) as info:
        decode_response(status, {"content-type": ctype}, raw)
    assert info.value.fields == {"policy": ["This field is required"]}
    assert "policy: This field is required" in str(info.value)


def test_string_field_errors_are_lists() -> None:
    raw = (
        b'{"stat":"fail","err":{"code":105,"msg":"One or more fields had errors",'
        b'"type":"request-field-error"},"fields":{"policy":"Bad policy"}}'
    )
    ctype = "application/vnd.reviewboard.org.error+json"
    with pytest.raises(rbtokens.InvalidFormDataError) as info:
        decode_response(400, {"content-type": ctype}, raw)
    assert info.value.fields == {"policy": ["Bad policy"]}


def test_lockout_message_gets_its_own_class() -> None:
    raw = (
        b'{"stat":"fail","err":{"code":104,"msg":"Maximum number of login attempts exceeded.",'
        b'"type":"auth-login-failed"}}'
    )
    ctype = "application/vnd.reviewboard.org.error+json"
    with pytest.raises(rbtokens.LoginLockedOutError):
        decode_response(401, {"content-type": ctype}, raw)


def test_rate_limit_carries_retry_after() -> None:
    raw = (
        b'{"stat":"fail","err":{"code":114,"msg":"slow down","type":"request-rate-limit-exceeded"}}'
    )
    headers = {"content-type": "application/vnd.reviewboard.org.error+json", "retry-after": "12"}
    with pytest.raises(rbtokens.RateLimitedError) as info:
        decode_response(429, headers, raw)
    assert info.value.retry_after == 12.0


def test_html_500_is_a_server_bug() -> None:
    status, ctype, raw = load("error-105-bad-policy.json")
    with pytest.raises(rbtokens.ServerBugError) as info:
        decode_response(status, {"content-type": ctype}, raw)
    assert info.value.http_status == 500
    assert "Something broke" in info.value.body_excerpt
    assert len(info.value.body_excerpt) <= 201


def test_html_404_is_an_http_status_error() -> None:
    status, ctype, raw = load("error-html-404.json")
    with pytest.raises(rbtokens.HTTPStatusError) as info:
        decode_response(status, {"content-type": ctype}, raw)
    assert not isinstance(info.value, rbtokens.ServerBugError)
    assert info.value.http_status == 404


def test_proxy_502_page() -> None:
    raw = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    with pytest.raises(rbtokens.HTTPStatusError, match="502"):
        decode_response(502, {"content-type": "text/html"}, raw)


def test_html_with_200_is_unexpected_content_type() -> None:
    with pytest.raises(rbtokens.UnexpectedContentType):
        decode_response(200, {"content-type": "text/html"}, b"<html>login</html>")


@pytest.mark.parametrize("cut", [1, 10, 100, 500])
def test_truncated_body_is_a_decode_error(cut: int) -> None:
    status, ctype, raw = load("api-tokens.json")
    with pytest.raises(rbtokens.DecodeError) as info:
        decode_response(status, {"content-type": ctype}, raw[:cut])
    assert "rbp_" not in str(info.value).replace("rbp_****", "")


def test_wrong_shape_is_a_decode_error() -> None:
    ctype = "application/vnd.reviewboard.org.api-token+json"
    with pytest.raises(rbtokens.DecodeError):
        decode_response(200, {"content-type": ctype}, b'{"api_token": {"id": "four"}}')
    with pytest.raises(rbtokens.DecodeError):
        decode_response(200, {"content-type": ctype}, b"[1, 2, 3]")


def test_error_payload_with_a_200_is_reported_as_such() -> None:
    ctype = "application/vnd.reviewboard.org.user+json"
    raw = b'{"stat": "fail", "err": {"code": 100, "msg": "x", "type": "y"}}'
    with pytest.raises(rbtokens.DecodeError, match="error payload"):
        decode_response(200, {"content-type": ctype}, raw)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("-5", 0.0),
        ("Mon, 23 Nov 2026 04:01:30 GMT", 30.0),
        ("Mon, 23 Nov 2026 03:00:00 GMT", 0.0),
        ("soon", None),
        ("nan", None),
        (None, None),
    ],
)
def test_retry_after_forms(value: str | None, seconds: float | None) -> None:
    now = datetime(2026, 11, 23, 4, 1, 0, tzinfo=UTC)
    assert parse_retry_after(value, now=now) == seconds


MIME = "application/vnd.reviewboard.org.{}+json"

ERR_CT = {"content-type": MIME.format("error")}


def test_error_message_as_a_list_is_joined() -> None:
    body = json.dumps(
        {"stat": "fail", "err": {"code": 227, "msg": ["Commit ID %s is in use", "abc"]}}
    ).encode()
    err = error_from_response(409, ERR_CT, body)
    assert isinstance(err, APIError) and err.error_code == 227
    assert err.message == "Commit ID abc is in use"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"extra_data": {"op": "test"}}, {"extra_data": ['{"op":"test"}']}),
        ({"n": [1, "x"]}, {"n": ["1", "x"]}),
        ({"note": "bad"}, {"note": ["bad"]}),
    ],
)
def test_odd_fields_keep_the_typed_error(fields: Any, expected: dict[str, list[str]]) -> None:
    body = json.dumps({"stat": "fail", "err": {"code": 105, "msg": "x"}, "fields": fields})
    err = error_from_response(400, ERR_CT, body.encode())
    assert isinstance(err, InvalidFormDataError)
    assert err.fields == expected
