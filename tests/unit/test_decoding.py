"""The pure decoding layer, against real Review Board 8.1 payloads. No event loop."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest
from payloads import load

import rbtokens
from rbtokens.models import APIToken, GenericItem, Root, ServerInfo, Session, User
from rbtokens.resources import Count, ListResource
from rbtokens.wire import (
    decode_json,
    decode_response,
    mime_name,
    parse_retry_after,
    registry,
)


def decode(name: str) -> object:
    status, ctype, raw = load(name)
    return decode_response(status, {"content-type": ctype}, raw)


def test_registry_covers_the_known_types() -> None:
    names = set(registry())
    assert {"root", "session", "server-info", "user", "users", "api-token", "api-tokens"} <= names


@pytest.mark.parametrize(
    ("ctype", "name"),
    [
        ("application/vnd.reviewboard.org.api-tokens+json", "api-tokens"),
        ("application/vnd.reviewboard.org.root+json; charset=utf-8", "root"),
        ("APPLICATION/VND.REVIEWBOARD.ORG.USER+JSON", "user"),
        ("application/json", None),
        ("text/html; charset=utf-8", None),
        (None, None),
    ],
)
def test_mime_name(ctype: str | None, name: str | None) -> None:
    assert mime_name(ctype) == name


def test_root() -> None:
    root = decode("root.json")
    assert isinstance(root, Root)
    assert root.product.version == "8.1"
    assert root.site.time_zone == "UTC"
    assert root.links["users"].href == "http://127.0.0.1:8080/api/users/"
    assert "api_tokens" in root.uri_templates
    assert root.has_capability("extra_data", "json_patching")
    assert not root.has_capability("extra_data", "nope")


def test_root_templates_are_url_encoded() -> None:
    root = decode("root.json")
    assert isinstance(root, Root)
    url, rest = root.template_url("api_token", username="a b/c", api_token_id=0, max_results=5)
    assert url == "http://127.0.0.1:8080/api/users/a%20b%2Fc/api-tokens/0/"
    assert rest == {"max_results": 5}


def test_missing_template_value_is_a_navigation_error() -> None:
    root = decode("root.json")
    assert isinstance(root, Root)
    with pytest.raises(rbtokens.NavigationError, match="api_token_id"):
        root.template_url("api_token", username="alice")
    with pytest.raises(rbtokens.NavigationError, match="no URI template"):
        root.template_url("nope")


def test_api_token_item() -> None:
    token = decode("api-token.json")
    assert isinstance(token, APIToken)
    assert token.id == 4
    assert token.username == "audit_00003"
    assert token.token.startswith("rbp_") and len(token.token) == 255
    assert token.policy == {}
    assert token.expires is None
    assert token.time_added is not None and token.time_added.tzinfo is not None
    assert token.usable
    assert token.token_generator_id == "vendor_checksum"
    assert set(token.links) == {"self", "update", "delete"}


def test_api_token_repr_masks_the_secret() -> None:
    token = decode("api-token.json")
    assert isinstance(token, APIToken)
    assert token.token not in repr(token)
    assert token.token not in str(token)
    assert "rbp_****" in repr(token)


def test_api_token_list() -> None:
    page = decode("api-tokens.json")
    assert isinstance(page, ListResource)
    assert page.item_type is APIToken
    assert page.total_results == len(page) == 3
    expired = page[1]
    assert expired.expired and expired.valid and not expired.usable
    assert expired.expires == datetime(2026, 11, 20, 4, 1, 40, 843625, tzinfo=UTC)
    assert [t.id for t in page] == [t.id for t in page.items]


def test_users_pages() -> None:
    first = decode("users-page.json")
    second = decode("users-page-2.json")
    assert isinstance(first, ListResource) and isinstance(second, ListResource)
    assert first.item_type is User
    assert first.total_results == 332
    assert "prev" not in first.links
    assert second.links["prev"].href.endswith("start=0&max-results=3")
    user = first[0]
    assert isinstance(user, User)
    assert user.username == "admin" and user.is_active


def test_counts_only_uses_the_list_mimetype() -> None:
    count = decode("users-counts-only.json")
    assert count == Count(count=332)


def test_session_and_info() -> None:
    session = decode("session.json")
    assert isinstance(session, Session)
    assert session.authenticated and session.username == "admin"
    info = decode("info.json")
    assert isinstance(info, ServerInfo)
    assert info.product.version == "8.1"


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


def test_unknown_mimetype_decodes_generically() -> None:
    raw = msgspec.json.encode(
        {
            "stat": "ok",
            "total_results": 1,
            "links": {"self": {"href": "http://h/api/groups/", "method": "GET"}},
            "groups": [
                {
                    "id": 1,
                    "name": "devs",
                    "links": {"users": {"href": "http://h/api/groups/devs/users/"}},
                }
            ],
        }
    )
    page = decode_response(
        200, {"content-type": "application/vnd.reviewboard.org.review-groups+json"}, raw
    )
    assert isinstance(page, ListResource)
    group = page[0]
    assert isinstance(group, GenericItem)
    assert group.name == "devs" and group["id"] == 1
    assert group.links["users"].href.endswith("/users/")


def test_unknown_item_decodes_generically() -> None:
    raw = b'{"stat": "ok", "group": {"id": 3, "name": "qa", "links": {}}}'
    item = decode_response(
        200, {"content-type": "application/vnd.reviewboard.org.review-group+json"}, raw
    )
    assert isinstance(item, GenericItem)
    assert item.fields["name"] == "qa"


def test_unknown_list_uses_item_content_type() -> None:
    status, _, raw = load("api-tokens.json")
    headers = {
        "content-type": "application/vnd.reviewboard.org.something-new+json",
        "item-content-type": "application/vnd.reviewboard.org.api-token+json",
    }
    page = decode_response(status, headers, raw)
    assert isinstance(page, ListResource) and page.item_type is APIToken


def test_newer_server_fields_are_ignored_and_missing_ones_default() -> None:
    ctype = "application/vnd.reviewboard.org.api-token+json"
    raw = b'{"stat": "ok", "api_token": {"id": 9, "brand_new_field": [1, 2]}}'
    token = decode_response(200, {"content-type": ctype}, raw)
    assert isinstance(token, APIToken)
    assert token.id == 9 and token.valid and token.policy == {} and token.links == {}


def test_204_is_none() -> None:
    assert decode_response(204, {}, b"") is None


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


def test_decode_json_returns_the_payload_as_sent() -> None:
    ctype = "application/vnd.reviewboard.org.api-token+json"
    raw = b'{"stat": "ok", "api_token": {"id": 9}}'
    assert decode_json(200, {"content-type": ctype}, raw) == {"stat": "ok", "api_token": {"id": 9}}
    assert decode_json(204, {}, b"") is None


def test_decode_json_checks_like_decode_response() -> None:
    status, ctype, raw = load("error-404-does-not-exist.json")
    with pytest.raises(rbtokens.DoesNotExistError):
        decode_json(status, {"content-type": ctype}, raw)
    with pytest.raises(rbtokens.UnexpectedContentType):
        decode_json(200, {"content-type": "text/html"}, b"<html></html>")
    with pytest.raises(rbtokens.DecodeError):
        decode_json(200, {"content-type": "application/json"}, b'{"stat": "ok", "x"')
    with pytest.raises(rbtokens.DecodeError, match="error payload"):
        decode_json(200, {"content-type": "application/json"}, b'{"stat": "fail"}')
