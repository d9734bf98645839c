"""API token access policies: a typed builder, local validation and warnings.

A policy is the JSON document Review Board stores on each token::

    {}                                            full access
    {"resources": {
        "*":       {"allow": [...], "block": [...]},          every resource
        "<id>": {"*":   {"allow": [...], "block": [...]},     one resource type
                 "<pk>": {"allow": [...], "block": [...]}}}}  one object of it

Review Board 8.1 answers an invalid policy on POST with an HTML 500 page
instead of a field error, so :func:`validate_policy` reproduces the server's
own checks (djblets ``BaseWebAPIToken.validate_policy``) with the same
messages, and :func:`is_allowed` reproduces how the server evaluates a policy
(``ResourceAPITokenMixin.is_resource_method_allowed``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

from ._policy_ids import POLICY_IDS
from .errors import PolicyError

__all__ = [
    "FULL_ACCESS",
    "METHODS",
    "POLICY_IDS",
    "READ_ONLY",
    "Policy",
    "is_allowed",
    "is_unrestricted",
    "policy_warnings",
    "validate_policy",
]

_POLICY_ID_SET: Final = frozenset(POLICY_IDS)

#: The methods a policy can name; the server compares them case-sensitively.
METHODS: Final[tuple[str, ...]] = ("GET", "POST", "PUT", "DELETE", "*")

_Section = dict[str, list[str]]


# -- validation ---------------------------------------------------------------


def _as_server_sees_it(policy: Any) -> Any:
    """The policy after the JSON round trip the server's ``json.loads`` makes."""
    try:
        return json.loads(json.dumps(policy))
    except (TypeError, ValueError) as exc:
        raise PolicyError(f"The policy is not valid JSON: {exc}") from None


def _check_section(parent: Mapping[str, Any], name: str, full_name: str) -> None:
    section = parent[name]
    if not isinstance(section, dict):
        raise PolicyError(f'The "{full_name}" section must be a JSON object.')
    if "allow" not in section and "block" not in section:
        raise PolicyError(f'The "{full_name}" section must have "allow" and/or "block" rules.')
    if "allow" in section and not isinstance(section["allow"], list):
        raise PolicyError(f'The "{full_name}" section\'s "allow" rule must be a list.')
    if "block" in section and not isinstance(section["block"], list):
        raise PolicyError(f'The "{full_name}" section\'s "block" rule must be a list.')


def validate_policy(policy: Any, *, allow_unknown_ids: bool = False) -> None:
    """Check ``policy`` with Review Board's own rules; raise :class:`PolicyError`.

    The messages are the server's. Resource policy ids must be among
    :data:`POLICY_IDS` unless ``allow_unknown_ids`` is set (for servers with
    extensions that add resources). A resource section that is not an object,
    which crashes the 8.1 server even on PUT, is reported as well.
    """
    if isinstance(policy, Policy):
        policy = policy.to_dict()
    policy = _as_server_sees_it(policy)
    if not isinstance(policy, dict):
        raise PolicyError("The policy must be a JSON object.")
    if not policy:
        return
    if "resources" not in policy:
        raise PolicyError('The policy is missing a "resources" section.')
    resources = policy["resources"]
    if not isinstance(resources, dict):
        raise PolicyError('The policy\'s "resources" section must be a JSON object.')
    if not resources:
        raise PolicyError('The policy\'s "resources" section must not be empty.')
    if "*" in resources:
        _check_section(resources, "*", "resources.*")
    for policy_id, section in resources.items():
        if policy_id == "*":
            continue
        if policy_id not in _POLICY_ID_SET and not allow_unknown_ids:
            raise PolicyError(f'"{policy_id}" is not a valid resource policy ID.')
        if not isinstance(section, dict):
            # The server calls section.items() here and crashes (HTML 500).
            raise PolicyError(f'The "resources.{policy_id}" section must be a JSON object.')
        for sub_name in section:
            _check_section(section, sub_name, f"resources.{policy_id}.{sub_name}")


# -- evaluation ---------------------------------------------------------------


def _check(policy: Mapping[str, Any], method: str, keys: Iterable[str | None]) -> bool | None:
    for key in keys:
        sub = policy.get(key) if key is not None else None
        if sub:
            allowed = sub.get("allow", [])
            blocked = sub.get("block", [])
            if method in blocked:
                return False
            if method in allowed:
                return True
            if "*" in blocked:
                return False
            if "*" in allowed:
                return True
    return None


def is_allowed(
    policy: Mapping[str, Any] | Policy,
    policy_id: str,
    method: str,
    obj_id: str | int | None = None,
) -> bool:
    """Whether the server lets a token with ``policy`` do ``method`` on a resource.

    ``obj_id`` is the object's key in its URL (a pk or a username); ``None``
    means the list or a singleton. This mirrors the server: the resource's own
    ``[obj_id, "*"]`` entries first, then the global ``*``, else allowed.
    """
    data = policy.to_dict() if isinstance(policy, Policy) else policy
    resources = data.get("resources")
    if not resources:
        return True
    own = resources.get(policy_id)
    if own:
        key = None if obj_id is None else str(obj_id)
        verdict = _check(own, method, [key, "*"])
        if verdict is not None:
            return verdict
    if "*" in resources:
        verdict = _check(resources, method, ["*"])
        if verdict is not None:
            return verdict
    return True


def _section_denies(section: Any) -> bool:
    """Whether a ``{"allow": [...], "block": [...]}`` section blocks one of the four verbs.

    The server's order within a section: the verb in ``block`` denies, the verb
    in ``allow`` allows, then ``*`` in ``block`` denies; anything else passes on.
    """
    if not isinstance(section, dict):
        return False
    allow = section.get("allow") or ()
    block = section.get("block") or ()
    for method in METHODS[:-1]:  # the four verbs, not "*"
        if method in block:
            return True
        if method not in allow and "*" in block:
            return True
    return False


def is_unrestricted(policy: Mapping[str, Any] | None) -> bool:
    """Whether a token policy gives full access: its global ``*`` section denies nothing.

    True for ``{}``, for a policy without ``resources``, and when ``resources["*"]``
    is missing or lets all of GET, POST, PUT and DELETE through (the server's
    default is allow). Sections for one resource or one object do not count:
    blocking a single user or the session leaves every other resource fully
    open, so such a policy is still unrestricted.
    """
    if not policy:
        return True
    resources = policy.get("resources")
    if not isinstance(resources, Mapping):
        return True
    return not _section_denies(resources.get("*"))


def policy_warnings(policy: Mapping[str, Any] | Policy) -> list[str]:
    """Things in a (valid) policy that will not do what they seem to.

    * A per-object entry on a resource whose list the token may GET: Review
      Board 8.1 then answers that list with HTTP 500 (djblets'
      ``_get_queryset`` calls ``__check_resource_policy`` with the wrong
      arguments).
    * A method name the server never matches (it compares ``GET``, ``POST``,
      ``PUT``, ``DELETE`` and ``*`` case-sensitively).
    * A policy that blocks GET on the API root, which RBTools and rbtokens
      read before anything else.
    """
    data = policy.to_dict() if isinstance(policy, Policy) else dict(policy)
    resources = data.get("resources")
    out: list[str] = []
    if not isinstance(resources, dict):
        return out

    def methods_of(section: Any, where: str) -> None:
        if not isinstance(section, dict):
            return
        for rule in ("allow", "block"):
            values = section.get(rule)
            if not isinstance(values, list):
                continue
            for value in values:
                if value not in METHODS:
                    out.append(
                        f'"{where}" {rule}s {value!r}, which never matches: the server '
                        "compares GET, POST, PUT, DELETE and * case-sensitively"
                    )

    if not is_allowed(data, "root", "GET"):
        out.append(
            "the token cannot GET the API root, which clients such as RBTools and rbtokens "
            'read first; add .allow("root", "GET")'
        )
    methods_of(resources.get("*"), "resources.*")
    for policy_id, section in resources.items():
        if policy_id == "*" or not isinstance(section, dict):
            continue
        for key, sub in section.items():
            methods_of(sub, f"resources.{policy_id}.{key}")
        per_object = sorted(k for k in section if k != "*")
        if per_object and is_allowed(data, policy_id, "GET"):
            names = ", ".join(per_object)
            out.append(
                f'"resources.{policy_id}" has per-object entries ({names}): Review Board '
                f"8.1 answers GET on the {policy_id} list with HTTP 500 for this token "
                "(a djblets bug); block GET on the list or use a per-resource entry"
            )
    return out


# -- the builder --------------------------------------------------------------


class Policy:
    """An immutable, typed builder for token policies.

    Every method returns a new :class:`Policy`::

        Policy.read_only()                                    # GET everywhere
        Policy.deny_all().allow("session", "GET").allow("user", "GET", obj="alice")
        Policy().block("review_request", "DELETE")            # all but one thing

    ``allow``/``block`` without methods mean every method (``*``). Policy ids
    are checked against :data:`POLICY_IDS` unless the policy was made with
    ``allow_unknown_ids=True``.
    """

    __slots__ = ("_allow_unknown_ids", "_resources")

    def __init__(
        self,
        resources: Mapping[str, Any] | None = None,
        *,
        allow_unknown_ids: bool = False,
    ) -> None:
        self._allow_unknown_ids = allow_unknown_ids
        self._resources: dict[str, Any] = copy.deepcopy(dict(resources or {}))
        validate_policy(self.to_dict(), allow_unknown_ids=allow_unknown_ids)

    # -- constructors --

    @classmethod
    def full_access(cls) -> Policy:
        """``{}``: the token can do anything its owner can (Review Board's default)."""
        return cls()

    @classmethod
    def read_only(cls) -> Policy:
        """GET on every resource, everything else blocked."""
        return cls().allow("*", "GET").block("*")

    @classmethod
    def deny_all(cls, *, allow_unknown_ids: bool = False) -> Policy:
        """Every method blocked on every resource; add exceptions with :meth:`allow`."""
        return cls(allow_unknown_ids=allow_unknown_ids).block("*")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, allow_unknown_ids: bool = False) -> Policy:
        """A builder holding an existing policy document (validated)."""
        validate_policy(data, allow_unknown_ids=allow_unknown_ids)
        return cls(data.get("resources") or {}, allow_unknown_ids=allow_unknown_ids)

    # -- building --

    def allow(self, resource: str = "*", *methods: str, obj: str | int = "*") -> Policy:
        """Allow ``methods`` (default: all) on ``resource`` (a policy id or ``*``)."""
        return self._add("allow", resource, methods, obj)

    def block(self, resource: str = "*", *methods: str, obj: str | int = "*") -> Policy:
        """Block ``methods`` (default: all) on ``resource`` (a policy id or ``*``)."""
        return self._add("block", resource, methods, obj)

    def _add(self, rule: str, resource: str, methods: tuple[str, ...], obj: str | int) -> Policy:
        names = list(methods) or ["*"]
        for name in names:
            if name not in METHODS:
                raise PolicyError(
                    f"{name!r} is not a method a policy can name (one of {', '.join(METHODS)})"
                )
        key = str(obj)
        resources = copy.deepcopy(self._resources)
        if resource == "*":
            if key != "*":
                raise PolicyError('the global "*" section cannot name an object; give a resource')
            section: dict[str, Any] = resources.setdefault("*", {})
        else:
            if resource not in _POLICY_ID_SET and not self._allow_unknown_ids:
                raise PolicyError(f'"{resource}" is not a valid resource policy ID.')
            section = resources.setdefault(resource, {}).setdefault(key, {})
        values: list[str] = section.setdefault(rule, [])
        for name in names:
            if name not in values:
                values.append(name)
        new = Policy.__new__(Policy)
        new._allow_unknown_ids = self._allow_unknown_ids
        new._resources = resources
        return new

    # -- reading --

    def to_dict(self) -> dict[str, Any]:
        """The policy document to send (a deep copy)."""
        if not self._resources:
            return {}
        return {"resources": copy.deepcopy(self._resources)}

    @property
    def is_full_access(self) -> bool:
        """Whether this is ``{}`` (no restriction at all)."""
        return not self._resources

    def allows(self, policy_id: str, method: str, obj_id: str | int | None = None) -> bool:
        """Whether the server would allow ``method`` on ``policy_id`` (see :func:`is_allowed`)."""
        return is_allowed(self.to_dict(), policy_id, method, obj_id)

    def warnings(self) -> list[str]:
        """See :func:`policy_warnings`."""
        return policy_warnings(self.to_dict())

    def validate(self) -> None:
        """Re-check the document (see :func:`validate_policy`)."""
        validate_policy(self.to_dict(), allow_unknown_ids=self._allow_unknown_ids)

    @property
    def allow_unknown_ids(self) -> bool:
        """Whether policy ids outside :data:`POLICY_IDS` are accepted."""
        return self._allow_unknown_ids

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Policy):
            return self.to_dict() == other.to_dict()
        if isinstance(other, Mapping):
            return self.to_dict() == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Policy({json.dumps(self.to_dict(), sort_keys=True)})"


FULL_ACCESS: Final[Policy] = Policy()
READ_ONLY: Final[Policy] = Policy.read_only()
