"""Decoding expanded children (``expand=``) into typed items, and the paths that skip it.

The payloads are built by hand from the user and token items of the captured
Review Board 8.1 fixtures (``tests/expandedkit.py``), arranged the way the
server arranges them for ``?expand=``: an ``_expanded`` object per item, the
expanded field inlined, and the expanded list's link dropped.
``tests/integration/test_expanded_live.py`` checks that arrangement against
the real server.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from expandedkit import TOKENS_MIME, decode, expanded_user, users_page
from payloads import body, load

import rbtokens
from rbtokens import APIToken, GenericItem, ItemResource, Session, User
from rbtokens.wire import ItemSpec, ListSpec, decode_response
from tools.standin.testing import BASE, MIME, _rebase, user_payload

pytestmark = pytest.mark.usefixtures("fixture_secrets")


def test_a_users_page_with_expanded_tokens() -> None:
    page = decode("users", users_page(expanded_user("alice", 14), expanded_user("bob", 15, 0)))
    alice, bob = page
    assert isinstance(alice, User) and alice.username == "alice"
    tokens = alice.expanded_list("api_tokens", APIToken)
    assert [t.id for t in tokens] == [1400, 1401]
    assert all(isinstance(t, APIToken) and t.username == "alice" for t in tokens)
    assert tokens[0].links["self"].href == f"{BASE}/api/users/alice/api-tokens/1400/"
    assert tokens[0].expires is None or tokens[0].expires.tzinfo is not None
    assert bob.expanded_list("api_tokens", APIToken) == []
    assert set(alice.expanded) == {"api_tokens"}


def test_a_mixed_page_gives_each_user_its_own_children() -> None:
    plain = user_payload("carol", 16)
    other = user_payload("erin", 18)
    page = decode("users", users_page(plain, expanded_user("dave", 17, 1), other))
    carol, dave, erin = page
    assert [u.username for u in page] == ["carol", "dave", "erin"]
    assert carol.expanded == {} and erin.expanded == {}
    assert [t.username for t in dave.expanded_list("api_tokens", APIToken)] == ["dave"]
    assert carol.links["api_tokens"].href == f"{BASE}/api/users/carol/api-tokens/"
    assert dave.links["api_tokens"].href == f"{BASE}/api/users/dave/api-tokens/"


def test_the_expanded_lists_link_is_put_back_from_list_url() -> None:
    (alice,) = decode("users", users_page(expanded_user()))
    assert alice.links["api_tokens"].href == f"{BASE}/api/users/alice/api-tokens/"


def test_a_link_the_server_kept_is_left_alone() -> None:
    user = expanded_user()
    user["links"]["api_tokens"] = {"href": f"{BASE}/elsewhere/", "method": "GET"}
    (alice,) = decode("users", users_page(user))
    assert alice.links["api_tokens"].href == f"{BASE}/elsewhere/"


def test_a_single_item_with_an_expanded_list() -> None:
    user = decode("user", {"stat": "ok", "user": expanded_user(tokens=3)})
    assert isinstance(user, User)
    assert len(user.expanded_list("api_tokens", APIToken)) == 3


def test_unknown_item_mime_types_fall_back_to_generic_items() -> None:
    request = {
        "id": 8,
        "summary": "Fix it",
        "links": {"self": {"href": f"{BASE}/api/review-requests/8/"}},
        "_expanded": {
            "submitter": {"item_mimetype": MIME.format("user")},
            "target_groups": {"item_mimetype": MIME.format("review-group")},
        },
        "submitter": user_payload("carol", 16),
        "target_groups": [{"name": "devs", "links": {}}],
    }
    item = decode("review-request", {"stat": "ok", "review_request": request})
    assert isinstance(item, GenericItem)
    assert item.summary == "Fix it" and "_expanded" not in item.fields
    assert "submitter" not in item.fields and "target_groups" not in item.fields
    submitter = item.submitter
    assert isinstance(submitter, User) and submitter.username == "carol"
    assert item["submitter"] is submitter
    (group,) = item.expanded_list("target_groups", GenericItem)
    assert group["name"] == "devs"


def test_expansions_nest() -> None:
    inner = expanded_user("dave", 17, 1)
    outer = {
        "id": 3,
        "links": {},
        "_expanded": {"owner": {"item_mimetype": MIME.format("user")}},
        "owner": inner,
    }
    item = decode("thing", {"stat": "ok", "thing": outer})
    owner = item.expanded_item("owner", User)
    assert [t.id for t in owner.expanded_list("api_tokens", APIToken)] == [1700]


def test_only_fields_reach_nested_items() -> None:
    user = expanded_user()
    user["api_tokens"] = [
        {"id": t["id"], "note": t["note"], "links": {"self": t["links"]["self"]}}
        for t in user["api_tokens"]
    ]
    (alice,) = decode("users", users_page(user))
    token = alice.expanded_list("api_tokens", APIToken)[0]
    assert token.note == "token 1400 of alice" and token.token == "" and token.policy == {}
    # Typed, with defaults for what was trimmed: usable, whatever the server knows.
    assert isinstance(token, APIToken) and token.valid and token.expires is None and token.usable


def test_the_session_inlines_its_user_without_a_mark() -> None:
    # Review Board 8.1 sends ``session?expand=user`` with no ``_expanded``.
    session_body = _rebase(body("session.json"))
    del session_body["session"]["links"]["user"]
    session_body["session"]["user"] = user_payload("admin", 1)
    session = decode("session", session_body)
    assert isinstance(session, Session)
    assert isinstance(session.user, User) and session.user.username == "admin"
    assert session.username == "admin"
    assert session.expanded_item("user", User) is session.user


def test_a_plain_session_has_no_user() -> None:
    session = decode("session", _rebase(body("session.json")))
    assert session.user is None and session.username == "admin"
    assert session.expanded == {}


# Sessions excepted: the session's spec lists ``user`` as an inline field (it
# comes without ``_expanded``), so a session always takes the expanding path.
@pytest.mark.parametrize("fixture", ["root.json", "info.json", "user.json", "api-token.json"])
def test_items_without_expanded_never_take_the_expanding_path(
    monkeypatch: pytest.MonkeyPatch, fixture: str
) -> None:
    def boom(*_args: Any) -> Any:
        raise AssertionError("the expanding path ran")

    monkeypatch.setattr(ItemSpec, "_decode_expanding", boom)
    status, ctype, raw = load(fixture)
    item = decode_response(status, {"content-type": ctype}, raw)
    assert isinstance(item, ItemResource) and "_rb_expanded" not in item.__dict__


def test_payloads_without_expanded_never_take_the_expanding_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def boom(*_args: Any) -> Any:
        raise AssertionError("the expanding path ran")

    monkeypatch.setattr(ListSpec, "_decode_expanding", boom)
    status, ctype, raw = 200, TOKENS_MIME, json.dumps(body("api-tokens.json")).encode()
    page = decode_response(status, {"content-type": ctype}, raw)
    assert len(page) > 1
    assert all(t.expanded == {} and "_rb_expanded" not in t.__dict__ for t in page)


def test_counts_only_still_decodes() -> None:
    assert decode("users", {"stat": "ok", "count": 4}) == rbtokens.Count(count=4)
