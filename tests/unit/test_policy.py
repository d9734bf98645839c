"""Policy builder, local validation (the server's rules and messages) and evaluation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rbtokens import FULL_ACCESS, POLICY_IDS, READ_ONLY, Policy, PolicyError, TokensError
from rbtokens.policy import METHODS, is_allowed, is_unrestricted, policy_warnings, validate_policy

# (policy, the message djblets' BaseWebAPIToken.validate_policy gives)
INVALID: list[tuple[Any, str]] = [
    ([], "The policy must be a JSON object."),
    ("x", "The policy must be a JSON object."),
    ({"foo": 1}, 'The policy is missing a "resources" section.'),
    ({"resources": []}, 'The policy\'s "resources" section must be a JSON object.'),
    ({"resources": {}}, 'The policy\'s "resources" section must not be empty.'),
    ({"resources": {"*": []}}, 'The "resources.*" section must be a JSON object.'),
    ({"resources": {"*": {}}}, 'The "resources.*" section must have "allow" and/or "block" rules.'),
    (
        {"resources": {"*": {"allow": "GET"}}},
        'The "resources.*" section\'s "allow" rule must be a list.',
    ),
    (
        {"resources": {"*": {"allow": [], "block": "*"}}},
        'The "resources.*" section\'s "block" rule must be a list.',
    ),
    ({"resources": {"users": {"*": {"allow": []}}}}, '"users" is not a valid resource policy ID.'),
    (
        {"resources": {"user": {"alice": {"deny": []}}}},
        'The "resources.user.alice" section must have "allow" and/or "block" rules.',
    ),
    (
        {"resources": {"user": {"*": {"allow": ["GET"]}, "bob": 1}}},
        'The "resources.user.bob" section must be a JSON object.',
    ),
    ({"resources": {"user": ["GET"]}}, 'The "resources.user" section must be a JSON object.'),
    ({"resources": {"*": {"allow": [object()]}}}, "The policy is not valid JSON: "),
]

VALID: list[Any] = [
    {},
    {"resources": {"*": {"allow": ["GET"], "block": ["*"]}}},
    {"resources": {"*": {"block": []}}},
    {"resources": {"user": {}}},  # the server accepts an empty resource section
    {
        "resources": {
            "*": {"block": ["*"]},
            "session": {"*": {"allow": ["GET"]}},
            "user": {"probe_u06": {"allow": ["GET"]}},
        }
    },
]


@pytest.mark.parametrize(("policy", "message"), INVALID)
def test_invalid_policies_give_the_server_messages(policy: Any, message: str) -> None:
    with pytest.raises(PolicyError) as info:
        validate_policy(policy)
    assert str(info.value).startswith(message)
    assert isinstance(info.value, TokensError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("policy", VALID)
def test_valid_policies_pass(policy: Any) -> None:
    validate_policy(policy)


def test_unknown_ids_need_an_opt_in() -> None:
    policy = {"resources": {"my_extension": {"*": {"allow": ["GET"]}}}}
    with pytest.raises(PolicyError):
        validate_policy(policy)
    validate_policy(policy, allow_unknown_ids=True)
    with pytest.raises(PolicyError):
        Policy().allow("my_extension", "GET")
    built = Policy(allow_unknown_ids=True).allow("my_extension", "GET")
    assert built.to_dict() == policy


def test_policy_ids_are_the_servers_68() -> None:
    assert len(POLICY_IDS) == 68 == len(set(POLICY_IDS))
    assert list(POLICY_IDS) == sorted(POLICY_IDS)
    assert {"api_token", "user", "session", "review_request", "repository"} <= set(POLICY_IDS)


def test_builder_produces_the_verified_documents() -> None:
    assert FULL_ACCESS.to_dict() == {} and FULL_ACCESS.is_full_access
    assert READ_ONLY.to_dict() == {"resources": {"*": {"allow": ["GET"], "block": ["*"]}}}
    scoped = Policy.deny_all().allow("session", "GET").allow("user", "GET", obj="probe_u06")
    assert scoped.to_dict() == VALID[4]
    assert Policy.from_dict(VALID[4]) == scoped
    assert scoped == VALID[4]


def test_builder_is_immutable() -> None:
    base = Policy.deny_all()
    more = base.allow("session", "GET")
    assert base.to_dict() == {"resources": {"*": {"block": ["*"]}}}
    assert more is not base and more != base
    doc = more.to_dict()
    doc["resources"]["*"]["block"].append("GET")
    assert more.to_dict()["resources"]["*"] == {"block": ["*"]}
    assert READ_ONLY.allow("user", "PUT") != READ_ONLY


def test_builder_rejects_what_cannot_work() -> None:
    with pytest.raises(PolicyError, match="not a method"):
        Policy().allow("user", "get")
    with pytest.raises(PolicyError, match="cannot name an object"):
        Policy().allow("*", "GET", obj=3)
    assert Policy().block("review_request", "DELETE", "PUT").to_dict() == {
        "resources": {"review_request": {"*": {"block": ["DELETE", "PUT"]}}}
    }
    assert Policy().allow("repository", obj=7).to_dict() == {
        "resources": {"repository": {"7": {"allow": ["*"]}}}
    }


def test_evaluation_matches_the_verified_server_behaviour() -> None:
    # Read-only: GET works; PUT on a user, DELETE on the session, POST review requests: 403.
    assert READ_ONLY.allows("user", "GET", "alice")
    assert not READ_ONLY.allows("user", "PUT", "alice")
    assert not READ_ONLY.allows("session", "DELETE")
    assert not READ_ONLY.allows("review_request", "POST")
    # Scoped: the session and probe_u06 are readable; other users and the list are not.
    scoped = VALID[4]
    assert is_allowed(scoped, "session", "GET")
    assert is_allowed(scoped, "user", "GET", "probe_u06")
    assert not is_allowed(scoped, "user", "GET", "probe_u07")
    assert not is_allowed(scoped, "user", "GET")
    # Full access, and block beating allow within a section.
    assert is_allowed({}, "api_token", "DELETE")
    both = {"resources": {"*": {"allow": ["PUT"], "block": ["PUT"]}}}
    assert not is_allowed(both, "user", "PUT")
    # The resource's own section wins over the global one.
    assert Policy.deny_all().allow("user", "PUT").allows("user", "PUT", "x")


def test_warning_for_the_per_object_entry_that_breaks_the_list() -> None:
    bad = {"resources": {"user": {"probe_u07": {"block": ["*"]}, "*": {"allow": ["*"]}}}}
    (warning,) = policy_warnings(bad)
    assert "probe_u07" in warning and "500" in warning and "user list" in warning
    # When the list itself is blocked the server answers 403, not 500: no such warning.
    assert not any("per-object" in w for w in policy_warnings(VALID[4]))
    assert Policy().block("user", obj="bob").warnings() != []
    assert READ_ONLY.warnings() == [] and FULL_ACCESS.warnings() == []


def test_warning_for_a_blocked_api_root() -> None:
    (warning,) = policy_warnings(VALID[4])
    assert "API root" in warning and '.allow("root", "GET")' in warning
    assert Policy.from_dict(VALID[4]).allow("root", "GET").warnings() == []
    assert Policy.deny_all().warnings() == [warning]


def test_warning_for_methods_the_server_never_matches() -> None:
    (warning,) = policy_warnings({"resources": {"*": {"allow": ["get"]}}})
    assert "'get'" in warning and "never matches" in warning


_methods = st.lists(st.sampled_from(METHODS), max_size=3)
_steps = st.lists(
    st.tuples(
        st.sampled_from(["allow", "block"]),
        st.sampled_from(["*", *POLICY_IDS[:6]]),
        _methods,
        st.sampled_from(["*", "1", "alice"]),
    ),
    max_size=8,
)


@given(_steps)
def test_built_policies_always_validate_and_round_trip(steps: list[Any]) -> None:
    policy = Policy()
    for rule, resource, methods, obj in steps:
        target = "*" if resource == "*" else obj
        policy = getattr(policy, rule)(resource, *methods, obj=target)
    doc = policy.to_dict()
    validate_policy(doc)
    assert Policy.from_dict(doc) == policy
    assert repr(policy) == f"Policy({json.dumps(doc, sort_keys=True)})"


def test_precedence_within_a_section() -> None:
    # The server's order: method block, method allow, "*" block, "*" allow.
    star_both = {"resources": {"*": {"allow": ["*"], "block": ["*"]}}}
    assert not is_allowed(star_both, "user", "GET")
    method_beats_star_block = {"resources": {"*": {"allow": ["GET"], "block": ["*"]}}}
    assert is_allowed(method_beats_star_block, "user", "GET")
    method_block_beats_star_allow = {"resources": {"*": {"allow": ["*"], "block": ["PUT"]}}}
    assert not is_allowed(method_block_beats_star_allow, "user", "PUT")
    assert is_allowed(method_block_beats_star_allow, "user", "DELETE")
    # A per-object section is consulted before the resource's "*".
    per_object = {"resources": {"user": {"alice": {"allow": ["PUT"]}, "*": {"block": ["*"]}}}}
    assert is_allowed(per_object, "user", "PUT", "alice")
    assert not is_allowed(per_object, "user", "PUT", "bob")


def test_validate_rechecks_the_document() -> None:
    policy = Policy.read_only()
    policy.validate()  # a built policy is valid
    policy._resources["*"]["allow"] = "GET"  # corrupted behind the builder's back
    with pytest.raises(PolicyError, match='"allow" rule must be a list'):
        policy.validate()
    lax = Policy(allow_unknown_ids=True).allow("extension_thing", "GET")
    lax.validate()  # keeps its opt-in
    with pytest.raises(PolicyError, match="not a valid resource policy ID"):
        validate_policy(lax.to_dict())


def test_only_the_builder_makes_the_stock_policies() -> None:
    import rbtokens.policy as module  # noqa: PLC0415

    assert not hasattr(module, "full_access") and not hasattr(module, "read_only")
    assert "full_access" not in module.__all__ and "read_only" not in module.__all__
    assert Policy.full_access() == FULL_ACCESS and Policy.read_only() == READ_ONLY


READ_ONLY_DOC = READ_ONLY.to_dict()


@pytest.mark.parametrize(
    ("policy", "unrestricted"),
    [
        ({}, True),
        ({"resources": {"*": {"allow": ["*"]}}}, True),
        ({"resources": {"*": {"allow": ["GET"]}}}, True),  # the default is allow
        (READ_ONLY_DOC, False),
        ({"resources": {"*": {"block": ["DELETE"]}}}, False),
        ({"resources": {"*": {"block": ["*"], "allow": ["GET", "POST", "PUT", "DELETE"]}}}, True),
        # Blocking one object or one resource does not restrict everything else.
        ({"resources": {"user": {"alice": {"block": ["*"]}}}}, True),
        ({"resources": {"*": {"allow": ["*"]}, "session": {"*": {"block": ["*"]}}}}, True),
        ({"resources": {"*": {"block": ["*"]}, "user": {"*": {"allow": ["*"]}}}}, False),
    ],
)
def test_is_unrestricted(policy: dict[str, Any], unrestricted: bool) -> None:
    assert is_unrestricted(policy) is unrestricted


_names = st.lists(st.sampled_from(METHODS), max_size=3)
_section = st.fixed_dictionaries({}, optional={"allow": _names, "block": _names}).filter(bool)
_objects = st.dictionaries(st.sampled_from(["*", "alice", "7"]), _section, min_size=1, max_size=2)
_policies = st.one_of(
    st.just({}),
    st.builds(
        lambda glob, per: {"resources": {**({"*": glob} if glob else {}), **per}},
        st.one_of(st.none(), _section),
        st.dictionaries(st.sampled_from(["user", "session", "api_token"]), _objects, max_size=2),
    ).filter(lambda p: bool(p["resources"])),
)


@settings(max_examples=300, deadline=None)
@given(_policies)
def test_is_unrestricted_agrees_with_the_servers_evaluation(policy: dict[str, Any]) -> None:
    """Unrestricted means the server lets every method through on resources the policy
    does not name: their requests meet only the global ``*`` section."""
    named = set(policy.get("resources", {}))
    unnamed = [pid for pid in ("review_request", *POLICY_IDS[:3]) if pid not in named]
    every = all(
        is_allowed(policy, pid, method, obj)
        for pid in unnamed
        for method in ("GET", "POST", "PUT", "DELETE")
        for obj in (None, "alice", "7")
    )
    assert is_unrestricted(policy) is every


@settings(max_examples=200, deadline=None)
@given(_policies, st.dictionaries(st.sampled_from(["user", "session"]), _objects, min_size=1))
def test_per_resource_sections_never_make_a_policy_restricted(
    policy: dict[str, Any], extra: dict[str, Any]
) -> None:
    """Adding a block on one resource or object cannot hide a full-access global section."""
    resources = {**policy.get("resources", {}), **extra}
    widened = {"resources": resources}
    assert is_unrestricted(widened) is is_unrestricted(
        {"resources": {"*": resources["*"]}} if "*" in resources else {}
    )
