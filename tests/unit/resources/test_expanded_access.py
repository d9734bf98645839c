"""Reading expanded children off an item: typed access, reprs without secrets, Struct behaviour.

The payloads are built by hand from the user and token items of the captured
Review Board 8.1 fixtures (``tests/expandedkit.py``), arranged the way the
server arranges them for ``?expand=``: an ``_expanded`` object per item, the
expanded field inlined, and the expanded list's link dropped.
``tests/integration/test_expanded_live.py`` checks that arrangement against
the real server.
"""

from __future__ import annotations

import copy
import pickle
from datetime import datetime

import msgspec
import pytest
from expandedkit import decode, expanded_user, tokens_info, users_page
from payloads import body
from rich.pretty import pretty_repr

import rbtokens
from rbtokens import APIToken, GenericItem, ItemResource, User
from rbtokens.wire import ItemSpec, registry
from tools.standin.testing import MIME, _rebase, token_payload, user_payload

pytestmark = pytest.mark.usefixtures("fixture_secrets")


def test_attribute_and_item_access_like_rbtools() -> None:
    (alice,) = decode("users", users_page(expanded_user()))
    assert alice.api_tokens == alice.expanded["api_tokens"]  # run-time only, untyped
    with pytest.raises(AttributeError):
        _ = alice.not_expanded
    assert callable(alice.get_watched)  # link getters still work


def test_the_hidden_members_stay_out_of_reprs() -> None:
    (alice,) = decode("users", users_page(expanded_user()))
    assert "_expanded" not in repr(alice) and repr(alice).startswith("User(links=")
    assert [name for name, _ in alice.__rich_repr__()][:2] == ["links", "id"]
    session = decode("session", _rebase(body("session.json")))
    assert repr(session).endswith(", authenticated=True)")
    assert [name for name, _ in session.__rich_repr__()] == ["links", "authenticated"]


ITEM_TYPES = sorted(
    {spec.type for spec in registry().values() if isinstance(spec, ItemSpec)} | {GenericItem},
    key=lambda cls: cls.__name__,
)


@pytest.mark.parametrize("cls", ITEM_TYPES, ids=[cls.__name__ for cls in ITEM_TYPES])
def test_json_schema_works_for_every_item_type(cls: type[ItemResource]) -> None:
    schema = msgspec.json.schema(cls)
    assert "links" in schema["$defs"][cls.__name__]["properties"]


def test_constructors_still_work_and_apitoken_still_fixes_naive_times() -> None:
    naive = APIToken(id=1, expires=datetime(2030, 1, 1))  # naive on purpose
    assert naive.expires is not None and naive.expires.tzinfo is not None
    assert msgspec.json.encode(User(id=1, username="x")).startswith(b'{"links":{},"id":1,')


def test_from_dict_accepts_a_server_payload_with_expanded() -> None:
    payload = token_payload("alice", 9)
    payload["_expanded"] = {}
    assert APIToken.from_dict(payload).id == 9


def test_secrets_stay_out_of_the_childrens_reprs() -> None:
    # A parent's repr never shows its children (they are not fields); the
    # children's reprs are what could leak.
    secret = token_payload("alice", 1)["token"]
    assert secret.startswith("rbp_")
    (alice,) = decode("users", users_page(expanded_user()))
    unknown = {"item_mimetype": MIME.format("secret-thing"), "list_mimetype": "x"}
    generic = decode(
        "thing",
        {
            "stat": "ok",
            "thing": {
                "links": {},
                "_expanded": {"api_tokens": tokens_info("alice"), "things": unknown},
                "api_tokens": [token_payload("alice", 1)],
                "things": [token_payload("alice", 2)],  # decoded as a GenericItem
            },
        },
    )
    (thing,) = generic.things
    assert isinstance(thing, GenericItem) and thing["token"] == secret
    texts = [repr(alice.expanded), repr(generic.expanded), repr(thing), str(thing)]
    texts += [repr(t) for t in alice.expanded_list("api_tokens", APIToken)]
    texts += [repr(generic.api_tokens), repr(generic["api_tokens"])]
    # rich prints values itself, not through repr()
    texts += [pretty_repr(x) for x in (thing, generic.expanded, alice.expanded, alice)]
    assert not [t for t in texts if secret in t]
    assert "rbp_****" in repr(generic.api_tokens)
    assert "'note': 'token 2 of alice'" in pretty_repr(thing)  # masked, not emptied


def test_secrets_stay_out_of_a_generic_items_rich_repr() -> None:
    # A token under a mime type rbtokens does not know is a GenericItem.
    payload = token_payload("alice", 1)
    secret = payload["token"]
    payload["links"]["self"]["href"] += f"?api_token={secret}"
    payload["extra_data"] = {secret: [secret, {"nested": (secret + " ") * 2}]}
    item = decode("thing", {"stat": "ok", "thing": payload})
    assert isinstance(item, GenericItem) and item["token"] == secret
    text = pretty_repr(item)
    assert secret not in text and secret not in repr(item)
    assert text.startswith("GenericItem(") and "'token': '***'" in text
    assert "'id': 1," in text and "'note': 'token 1 of alice'" in text
    assert text.count("***") >= 6  # token, href, key, list, nested twice


def test_typed_access_errors() -> None:
    (alice,) = decode("users", users_page(expanded_user()))
    with pytest.raises(rbtokens.NavigationError, match="expanded list: use expanded_list"):
        alice.expanded_item("api_tokens", APIToken)
    with pytest.raises(rbtokens.NavigationError, match=r"no expanded 'watched' \(expanded: api"):
        alice.expanded_list("watched", ItemResource)
    with pytest.raises(rbtokens.UnexpectedContentType, match="expected User, got APIToken"):
        alice.expanded_list("api_tokens", User)
    assert alice.expanded_list("api_tokens", ItemResource)  # the base class accepts any item
    session_body = _rebase(body("session.json"))
    session_body["session"]["user"] = user_payload("admin", 1)
    session = decode("session", session_body)
    with pytest.raises(rbtokens.NavigationError, match="one expanded item: use expanded_item"):
        session.expanded_list("user", User)
    plain = decode("user", {"stat": "ok", "user": user_payload("erin", 3)})
    with pytest.raises(rbtokens.NavigationError, match=r"expanded: none; fetch it with expand="):
        plain.expanded_item("api_tokens", APIToken)


def test_the_expanded_mapping_is_read_only() -> None:
    (alice,) = decode("users", users_page(expanded_user()))
    with pytest.raises(TypeError):
        alice.expanded["x"] = []


def test_children_are_not_struct_fields() -> None:
    # As documented on ItemResource.expanded: equality, copies, pickles and
    # builtins see the fields only.
    (alice,) = decode("users", users_page(expanded_user()))
    plain = decode("user", {"stat": "ok", "user": user_payload("alice", 14)})
    assert alice == plain and plain.expanded == {}
    assert copy.copy(alice).expanded == {}
    assert pickle.loads(pickle.dumps(alice)).expanded == {}
    assert "api_tokens" not in msgspec.to_builtins(alice)
