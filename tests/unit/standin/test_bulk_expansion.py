"""``expand=api_tokens`` with ``only-fields``/``only-links``, as §9 describes (8.1 captured)."""

from __future__ import annotations

import pytest
from payloads import body as fixture_body
from standinkit import ORIGIN, ask, payload, shape

from tools.standin import Dataset, ReviewBoard
from tools.standin.context import Expansion
from tools.standin.wire import MIME

CAPTURED = "users-expand-api-tokens.json"
FIELDS = (
    "id,username,is_active,api_tokens,expires,expired,valid,last_used,time_added,policy,"
    "deprecated,token_generator_id,invalid_date,invalid_reason,note"
)
QUERY = (
    "include-inactive=1&max-results=3&start=6&expand=api_tokens&only-links=api_tokens"
    f"&only-fields={FIELDS}"
)


@pytest.fixture
def core() -> ReviewBoard:
    return ReviewBoard(Dataset.generate(20, seed=5, tokens_per_user=(1, 3)))


def test_the_bulk_listing_matches_the_captured_page(core: ReviewBoard) -> None:
    page = payload(ask(core, f"/api/users/?{QUERY}"))
    captured = fixture_body(CAPTURED)
    assert shape(page) == shape(captured)
    captured_origin = "http://127.0.0.1:8090"
    for name in ("self", "next", "prev"):
        href = captured["links"][name]["href"].replace(captured_origin, ORIGIN)
        assert page["links"][name]["href"] == href, name  # the whole query, sorted for next/prev
    for user in page["users"]:
        record = core.dataset.users[user["username"]]
        assert user["links"] == {}  # only-links keeps api_tokens, which gave way to _expanded
        assert user["_expanded"] == {
            "api_tokens": {
                "item_mimetype": MIME.format("api-token"),
                "list_mimetype": MIME.format("api-tokens"),
                "list_url": f"{ORIGIN}/api/users/{record.username}/api-tokens/",
            }
        }
        assert [t["id"] for t in user["api_tokens"]] == [t.id for t in record.tokens]
        for token in user["api_tokens"]:  # only-fields applies to the children: no secret
            assert set(token) == set(FIELDS.split(",")) - {
                "api_tokens",
                "username",
                "is_active",
            } | {"links"}
            assert token["links"] == {}


def test_every_token_is_inlined_unpaged_to_anyone(core: ReviewBoard) -> None:
    owner = core.dataset.users["audit_00004"]
    for _ in range(30):
        core.dataset.add_token(owner.username)
    user = payload(ask(core, "/api/users/audit_00004/?expand=api_tokens", auth=None))["user"]
    assert len(user["api_tokens"]) == len(owner.tokens) > 25
    assert all(t["token"] for t in user["api_tokens"])  # 8.1 checks no permission here
    assert "api_tokens" not in user["links"] and "self" in user["links"]


@pytest.mark.parametrize(
    "query",
    [
        "expand=api_tokens&only-links=",
        "expand=api_tokens&only-fields=id,username",
        "expand=api_tokens&only-fields=",
        "expand=watched",
        "only-fields=api_tokens",
    ],
)
def test_the_expansion_is_dropped_by_only_fields_or_an_empty_only_links(
    core: ReviewBoard, query: str
) -> None:
    users = payload(ask(core, f"/api/users/?{query}"))["users"]
    assert all("_expanded" not in u and "api_tokens" not in u for u in users)


def test_other_only_links_keep_the_expansion_and_filter_the_childrens_links(
    core: ReviewBoard,
) -> None:
    # As djblets does (checked on 8.1): links are gathered unless only-links is empty.
    query = "expand=api_tokens&only-fields=id,api_tokens,note&only-links=self,update"
    users = payload(ask(core, f"/api/users/?{query}"))["users"]
    for user in users:
        assert set(user) == {"_expanded", "api_tokens", "id", "links"}
        assert set(user["links"]) == {"self", "update"}
        for token in user["api_tokens"]:
            assert set(token) == {"id", "links", "note"} and set(token["links"]) == {
                "self",
                "update",
            }


def test_anonymous_requests_do_not_see_private_fields(core: ReviewBoard) -> None:
    private = {"email", "first_name", "last_name", "fullname"}
    anonymous = payload(ask(core, "/api/users/audit_00001/?expand=api_tokens", auth=None))["user"]
    assert not private & set(anonymous) and anonymous["api_tokens"]
    listed = payload(ask(core, "/api/users/?max-results=3", auth=None))["users"]
    assert all(not private & set(u) for u in listed)
    admin = payload(ask(core, "/api/users/audit_00001/"))["user"]
    assert private <= set(admin)


def test_the_item_refuses_unknown_parameters(core: ReviewBoard) -> None:
    refused = ask(core, "/api/users/audit_00001/?q=x&expand=api_tokens&zz=1")
    assert refused.status == 400
    assert payload(refused)["fields"] == {
        "q": ["Field is not supported"],
        "zz": ["Field is not supported"],
    }
    assert ask(core, "/api/users/audit_00001/?render-avatars-at=32&api_format=json").status == 200
    assert ask(core, "/api/users/?zz=1").status == 200  # the list takes any


def test_a_fixed_server_inlines_only_what_the_requester_may_list(core: ReviewBoard) -> None:
    core.behaviour.fix_expand_leak = True
    anonymous = payload(ask(core, "/api/users/?expand=api_tokens", auth=None))["users"]
    assert all(u["api_tokens"] == [] for u in anonymous)
    admin = payload(ask(core, "/api/users/?expand=api_tokens"))["users"]
    assert sum(len(u["api_tokens"]) for u in admin) == core.dataset.token_count


@pytest.mark.parametrize(("mode", "inlined"), [("removed", None), ("empty", [])])
def test_future_servers_remove_or_empty_the_expansion(
    core: ReviewBoard, mode: Expansion, inlined: list[object] | None
) -> None:
    core.behaviour.expansion = mode
    query = "expand=api_tokens&only-fields=id,username,api_tokens&only-links=api_tokens"
    for path in (f"/api/users/?{query}", f"/api/users/audit_00001/?{query}"):
        body = payload(ask(core, path))
        users = body["users"] if "users" in body else [body["user"]]
        for user in users:
            assert user.get("api_tokens") == inlined
            assert ("_expanded" in user) is (inlined is not None)
            if inlined is None:  # the link stays: the client can fall back to it
                assert "api_tokens" in user["links"]


def test_expanded_users_are_counted(core: ReviewBoard) -> None:
    ask(core, "/api/users/?max-results=7&expand=api_tokens")
    ask(core, "/api/users/audit_00001/?expand=api_tokens")
    ask(core, "/api/users/?max-results=7")
    assert core.stats.expanded_users == 8
