"""Expanded children (``expand=``) become typed, bound resources.

The payloads are built here by hand from the user and token items of the
captured Review Board 8.1 fixtures (``tools.standin.testing.user_payload``,
``token_payload``), arranged the way the server arranges them for
``?expand=``: an ``_expanded`` object per item, the expanded field inlined,
and the expanded list's link dropped. ``tests/integration/test_expanded_live.py``
checks that arrangement against the real server.
"""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec
import pytest
from payloads import body, load
from rich.pretty import pretty_repr

import rbtokens
from rbtokens import APIToken, GenericItem, ItemResource, RBClient, Session, User
from rbtokens.transport import Request, Response
from rbtokens.wire import ItemSpec, ListSpec, decode_response, registry
from tools.standin.testing import (
    BASE,
    MIME,
    FakeReviewBoard,
    _rebase,
    ok,
    token_payload,
    user_payload,
)

FAST = rbtokens.RetryPolicy(attempts=1, backoff=0.0)
TOKEN_MIME = MIME.format("api-token")
TOKENS_MIME = MIME.format("api-tokens")


def tokens_info(username: str) -> dict[str, Any]:
    return {
        "item_mimetype": TOKEN_MIME,
        "list_mimetype": TOKENS_MIME,
        "list_url": f"{BASE}/api/users/{username}/api-tokens/",
    }


def expanded_user(username: str = "alice", uid: int = 14, tokens: int = 2) -> dict[str, Any]:
    """A user as ``GET /api/users/?expand=api_tokens`` sends it."""
    user: dict[str, Any] = user_payload(username, uid)
    del user["links"]["api_tokens"]  # the server drops the expanded link
    user["_expanded"] = {"api_tokens": tokens_info(username)}
    user["api_tokens"] = [token_payload(username, uid * 100 + k) for k in range(tokens)]
    return user


def users_page(*users: dict[str, Any]) -> bytes:
    page = {"stat": "ok", "total_results": len(users), "links": {}, "users": list(users)}
    return json.dumps(page).encode()


def decode(name: str, payload: Any) -> Any:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return decode_response(200, {"content-type": MIME.format(name)}, raw)


@pytest.fixture(autouse=True)
def _fixture_secrets(secrets_registry: Callable[[str | None], None]) -> None:
    # The scanner's decoding tap registers the tokens it decodes, expanded ones
    # included; many payloads here fail to decode on purpose, so the fixture's
    # secrets are registered up front.
    secrets_registry(body("api-token.json")["api_token"]["token"])
    for token in body("api-tokens.json")["api_tokens"]:
        secrets_registry(token["token"])


# -- decoding ------------------------------------------------------------------------


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


def test_attribute_and_item_access_like_rbtools() -> None:
    (alice,) = decode("users", users_page(expanded_user()))
    assert alice.api_tokens == alice.expanded["api_tokens"]  # run-time only, untyped
    with pytest.raises(AttributeError):
        _ = alice.not_expanded
    assert callable(alice.get_watched)  # link getters still work


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


# -- bad shapes ----------------------------------------------------------------------


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


# -- children that do not fit their type ----------------------------------------------


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


# -- typed access --------------------------------------------------------------------


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


# -- through the client --------------------------------------------------------------


def admin_client(fake: FakeReviewBoard) -> RBClient:
    return RBClient(
        BASE, username="admin", password=fake.password, transport=fake.transport, retry=FAST
    )


class ExpandingRB(FakeReviewBoard):
    """The fake, answering ``expand=api_tokens`` and ``expand=user`` like Review Board."""

    def route(self, request: Request) -> Response:
        response = super().route(request)
        if response.status != 200:  # e.g. a 304 to a conditional GET: no body
            return response
        expand = request.url.query.get("expand", "")
        path = request.url.path
        data = json.loads(response.body)
        if "api_tokens" in expand.split(",") and path == "/api/users/":
            for user in data["users"]:
                user["links"].pop("api_tokens", None)
                user["_expanded"] = {"api_tokens": tokens_info(user["username"])}
                user["api_tokens"] = copy.deepcopy(self.tokens[user["username"]])
            return ok("users", {k: v for k, v in data.items() if k != "stat"})
        if expand == "api_tokens" and path.startswith("/api/users/") and "user" in data:
            user = data["user"]
            user["links"].pop("api_tokens", None)
            user["_expanded"] = {"api_tokens": tokens_info(user["username"])}
            user["api_tokens"] = copy.deepcopy(self.tokens[user["username"]])
            return ok("user", {"user": user})
        if expand == "user" and path == "/api/session/":
            session = data["session"]
            session["links"].pop("user", None)
            session["user"] = copy.deepcopy(self.users[0])
            return ok("session", {"session": session})
        return response


async def test_expanded_children_are_bound_to_the_client() -> None:
    fake = ExpandingRB(users=3, tokens_per_user=2)
    async with admin_client(fake) as client:
        root = await client.get_root()
        users = await root.get_users(expand="api_tokens")
        first = users[0]
        tokens = first.expanded_list("api_tokens", APIToken)
        assert [t.id for t in tokens] == [t["id"] for t in fake.tokens[first.username]]
        assert tokens[0].client is client
        sent = len(fake.requests)
        again = await tokens[0].get_self()
        assert again.id == tokens[0].id and again.etag == f"etag-{tokens[0].id}"
        assert fake.requests[sent].url.path == (
            f"/api/users/{first.username}/api-tokens/{tokens[0].id}/"
        )
        listed = await first.get_api_tokens()  # through the restored link
        assert [t.id for t in listed] == [t.id for t in tokens]

        session = await root.get_session(expand="user")
        assert session.username == "u000" and session.user is not None
        assert session.user.client is client
        me = await session.get_user()
        assert isinstance(me, User) and me.username == "u000"
        assert fake.requests[-1].url.path == "/api/users/u000/"


async def test_unbound_children_say_so() -> None:
    (alice,) = decode("users", users_page(expanded_user()))
    token = alice.expanded_list("api_tokens", APIToken)[0]
    with pytest.raises(rbtokens.ClientStateError):
        _ = token.client


async def test_get_self_drops_the_children_unless_asked_again() -> None:
    fake = ExpandingRB(users=2, tokens_per_user=2)
    async with admin_client(fake) as client:
        root = await client.get_root()
        user = await root.get_user(username="u001", expand="api_tokens")
        assert len(user.expanded_list("api_tokens", APIToken)) == 2
        again = await user.get_self()  # the self link has no ``?expand=``
        assert again.expanded == {} and again.has_link("api_tokens")
        assert fake.requests[-1].url.query_string == ""
        expanded = await user.get_self(expand="api_tokens")
        assert [t.id for t in expanded.expanded_list("api_tokens", APIToken)] == [1000, 1001]
        assert fake.requests[-1].url.query == {"expand": "api_tokens"}
        # A list page's links keep the query: its children come back.
        page = await root.get_users(expand="api_tokens")
        assert all(u.expanded for u in await page.get_self())


async def test_get_self_with_a_query_is_never_conditional() -> None:
    fake = ExpandingRB(users=1, tokens_per_user=1)
    async with admin_client(fake) as client:
        root = await client.get_root()
        token = await root.get_api_token(username="u000", api_token_id=0)
        assert token.etag == "etag-0"
        await token.get_self()
        assert fake.requests[-1].headers.get("If-None-Match") == "etag-0"
        trimmed = await token.get_self(only_fields="id,note")
        assert "If-None-Match" not in fake.requests[-1].headers
        assert fake.requests[-1].url.query == {"only-fields": "id,note"}
        assert trimmed.id == 0


async def test_get_user_through_a_trimmed_inlined_user() -> None:
    fake = ExpandingRB(users=2)

    def trimmed(request: Request) -> Response:
        session = _rebase(body("session.json"))["session"]
        del session["links"]["user"]
        session["user"] = {"links": {"self": {"href": f"{BASE}/api/users/u001/"}}}
        return ok("session", {"session": session})

    fake.overrides[("GET", "/api/session/")] = trimmed
    async with admin_client(fake) as client:
        root = await client.get_root()
        session = await root.get_session(expand="user", only_fields="authenticated")
        assert session.user is None
        me = await session.get_user()
        assert isinstance(me, User) and me.username == "u001"
