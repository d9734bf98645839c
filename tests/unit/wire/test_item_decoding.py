"""Decoding items, lists and counts, against real Review Board 8.1 payloads. No event loop."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest
from payloads import decode, load

import rbtokens
from rbtokens.models import APIToken, GenericItem, Root, ServerInfo, Session, User
from rbtokens.resources import Count, ListResource
from rbtokens.wire import decode_json, decode_response, mime_name, registry


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
