"""Malformed ``_expanded`` is a decode error; a child that does not fit its type is a generic item.

The payloads are built by hand from the user and token items of the captured
Review Board 8.1 fixtures (``tests/expandedkit.py``), arranged the way the
server arranges them for ``?expand=``: an ``_expanded`` object per item, the
expanded field inlined, and the expanded list's link dropped.
``tests/integration/test_expanded_live.py`` checks that arrangement against
the real server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from expandedkit import decode, expanded_user, users_page
from payloads import body

import rbtokens
from rbtokens import APIToken, GenericItem, Session
from tools.standin.testing import BASE, MIME, _rebase, user_payload

pytestmark = pytest.mark.usefixtures("fixture_secrets")


def _bad_user(change: Callable[[dict[str, Any]], None]) -> bytes:
    user = expanded_user()
    change(user)
    return users_page(user)


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda user: user.__setitem__(key, value)


BAD_SHAPES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("not an object", _set("_expanded", ["api_tokens"]), "bad `_expanded`: Expected `object`"),
    ("a string", _set("_expanded", "api_tokens"), "Expected `object`, got `str`"),
    ("null", _set("_expanded", None), "bad `_expanded`: Expected `object`, got `null`"),
    (
        "an entry that is not an object",
        _set("_expanded", {"api_tokens": "yes"}),
        "bad `_expanded`: Expected `object`, got `str` - at `$._expanded[...]`",
    ),
    (
        "a list_url that is not a string",
        lambda user: user["_expanded"]["api_tokens"].__setitem__("list_url", 5),
        "Expected `str | null`, got `int` - at `$._expanded[...].list_url`",
    ),
    (
        "an item_mimetype that is not a string",
        lambda user: user["_expanded"]["api_tokens"].__setitem__("item_mimetype", ["x"]),
        "Expected `str | null`, got `array` - at `$._expanded[...].item_mimetype`",
    ),
    (
        "a missing field",
        lambda user: user.pop("api_tokens"),
        "`_expanded` names 'api_tokens', but the item has no such field",
    ),
    (
        "the links",
        lambda user: user["_expanded"].__setitem__("links", {}),
        "`_expanded` names 'links', a field of User itself",
    ),
    (
        "a field of the item's own type",
        lambda user: user["_expanded"].__setitem__("email", {}),
        "`_expanded` names 'email', a field of User itself",
    ),
    (
        "a non-list where a list is expected",
        lambda user: user.__setitem__("api_tokens", user["api_tokens"][0]),
        "expanded 'api_tokens' must be an array (its `_expanded` entry names a list)",
    ),
    (
        "a list item that is not an object",
        lambda user: user["api_tokens"].append(7),
        "expanded api_tokens[2]: expected a JSON object for an item",
    ),
    (
        "a child whose links are not links",
        lambda user: user["api_tokens"][1].__setitem__("links", 5),
        "expanded api_tokens[1]: Expected `object`, got `int`",
    ),
]


@pytest.mark.parametrize(
    ("change", "message"), [(c, m) for _, c, m in BAD_SHAPES], ids=[n for n, _, _ in BAD_SHAPES]
)
def test_bad_shapes_are_decode_errors(
    change: Callable[[dict[str, Any]], None], message: str
) -> None:
    with pytest.raises(rbtokens.DecodeError) as info:
        decode("users", _bad_user(change))
    assert message in str(info.value)
    assert info.value.http_status == 200


def test_a_scalar_single_child_is_a_decode_error() -> None:
    thing: dict[str, Any] = {"links": {}, "owner": "carol"}
    thing["_expanded"] = {"owner": {"item_mimetype": MIME.format("user")}}
    with pytest.raises(
        rbtokens.DecodeError, match="expanded owner: expected a JSON object for an item"
    ):
        decode("thing", {"stat": "ok", "thing": thing})


@pytest.mark.parametrize("name", ["user", "thing"])
def test_bad_shapes_on_single_items_and_generic_items(name: str) -> None:
    user = expanded_user()
    user["_expanded"] = 3
    with pytest.raises(rbtokens.DecodeError, match="bad `_expanded`: Expected `object`, got `int`"):
        decode(name, {"stat": "ok", name: user})


def test_a_generic_item_may_expand_any_field_but_links() -> None:
    thing = {
        "links": {},
        "fields": [{"links": {}}],
        "_expanded": {"fields": {"item_mimetype": MIME.format("field")}},
    }
    item = decode("thing", {"stat": "ok", "thing": thing})
    assert isinstance(item.expanded_list("fields", GenericItem)[0], GenericItem)
    thing["_expanded"] = {"links": {}}
    with pytest.raises(rbtokens.DecodeError, match="names 'links', a field of GenericItem"):
        decode("thing", {"stat": "ok", "thing": thing})


def test_a_typed_child_that_does_not_fit_becomes_a_generic_item() -> None:
    user = expanded_user(tokens=3)
    user["api_tokens"][0].pop("id")  # trimmed, e.g. by only-fields
    user["api_tokens"][1]["note"] = 5
    nested = expanded_user("dave", 17, 1)
    del nested["id"]
    outer = {
        "links": {},
        "_expanded": {"owner": {"item_mimetype": MIME.format("user")}},
        "owner": nested,
    }
    (alice,) = decode("users", users_page(user))
    first, second, third = alice.expanded["api_tokens"]
    assert isinstance(first, GenericItem) and first["note"] == "token 1400 of alice"
    assert "id" not in first.fields and first.links["self"].href.endswith("/api-tokens/1400/")
    assert isinstance(second, GenericItem) and second["note"] == 5
    assert isinstance(third, APIToken) and third.id == 1402
    with pytest.raises(rbtokens.UnexpectedContentType, match="expected APIToken, got Generic"):
        alice.expanded_list("api_tokens", APIToken)
    # A child that falls back keeps its own children.
    owner = decode("thing", {"stat": "ok", "thing": outer}).expanded["owner"]
    assert isinstance(owner, GenericItem) and owner["username"] == "dave"
    assert [t.id for t in owner.expanded_list("api_tokens", APIToken)] == [1700]


def test_a_session_with_a_trimmed_user() -> None:
    # Review Board 8.1 answers ``session?expand=user&only-fields=authenticated``
    # with a user holding nothing but its links.
    session_body = _rebase(body("session.json"))
    del session_body["session"]["links"]["user"]
    user_links = user_payload("admin", 1)["links"]
    session_body["session"]["user"] = {"links": user_links}
    session = decode("session", session_body)
    assert isinstance(session, Session) and session.authenticated
    assert session.user is None and session.username is None
    child = session.expanded_item("user", GenericItem)
    assert child.fields == {} and child.href == f"{BASE}/api/users/admin/"


def test_a_session_with_a_null_user_has_no_user() -> None:
    session_body = _rebase(body("session.json"))
    session_body["session"]["user"] = None
    session = decode("session", session_body)
    assert session.user is None and session.expanded == {} and session.username == "admin"


def test_a_session_whose_user_is_not_an_object_is_a_decode_error() -> None:
    session_body = _rebase(body("session.json"))
    session_body["session"]["user"] = 5
    with pytest.raises(rbtokens.DecodeError, match="expanded user: expected a JSON object"):
        decode("session", session_body)
