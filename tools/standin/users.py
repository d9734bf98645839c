"""``/api/users/`` and ``/api/users/{username}/``, with ``expand=api_tokens`` (§9).

Review Board 8.1 inlines every token of every user it serializes with
``expand=api_tokens`` and checks no permission doing so: anyone who may list
users, anonymous requests included, gets them, secrets and all.
``only-fields`` and ``only-links`` apply to the inlined tokens too. As
djblets' ``serialize_object`` does it (checked on a running 8.1), the
expansion is dropped when ``only-fields`` is given without ``api_tokens`` or
``only-links`` is given empty; any other ``only-links`` keeps it (the
``api_tokens`` link itself always gives way to ``_expanded``). Anonymous
requests do not see ``email``, ``first_name``, ``last_name`` and
``fullname``. The item takes no parameter but djblets' special ones and
``render-avatars-at`` (400, "Field is not supported"); the list takes any.

Knobs: ``fix_expand_leak`` inlines only the tokens the requester may list;
``expansion`` models servers that ignore or empty it.
"""

from __future__ import annotations

from rbtokens import Response

from .context import Call
from .dataset import Dataset
from .forms import truthy
from .paging import list_links, page_of
from .payloads import View, request_view
from .records import TokenRecord, UserRecord
from .wire import does_not_exist, encode, error

__all__ = ["ITEM_PARAMS", "user_item", "users_list"]

ITEM_PARAMS = frozenset(
    {"api_format", "callback", "_method", "expand", "only-fields", "only-links"}
    | {"render-avatars-at"}
)
"""djblets' ``SPECIAL_PARAMS`` and the user item's own optional field."""


def expands_tokens(call: Call, view: View) -> bool:
    """Whether the request gets ``api_tokens`` inlined (djblets expands a field only
    when ``only-fields`` keeps it and ``only-links`` keeps its link)."""
    if call.behaviour.expansion == "removed":
        return False
    fields, links = view
    return (
        "api_tokens" in call.query.get("expand", "").split(",")
        and (fields is None or "api_tokens" in fields)
        and links != ()
    )


def _inlined(call: Call, user: UserRecord) -> list[TokenRecord] | None:
    if call.behaviour.expansion == "empty":
        return []
    if call.behaviour.fix_expand_leak:
        me = call.ident.user
        allowed = me is not None and not call.ident.via_token and (me.is_superuser or me is user)
        return None if allowed else []
    return None


def _item(call: Call, user: UserRecord, view: View, expand: bool) -> bytes:
    anonymous = call.ident.user is None
    if not expand:
        return call.payloads.user(user, view, anonymous=anonymous)
    call.expanded_users += 1
    return call.payloads.user_with_tokens(user, _inlined(call, user), view, anonymous=anonymous)


def users_list(call: Call, dataset: Dataset) -> Response:
    """``GET /api/users/``: ``q`` (prefix), ``include-inactive``, ``counts-only``, paging."""
    query = call.query
    users = dataset.visible_users(include_inactive=truthy(query.get("include-inactive")))
    q = query.get("q")
    if q:
        prefix = q.lower()
        users = [u for u in users if u.username.lower().startswith(prefix)]
    if query.get("counts-only"):
        return call.ok(encode({"count": len(users), "stat": "ok"}), "users")
    start, size = page_of(call)
    page = users[start : start + size]
    view = request_view(query)
    links = list_links(call, start, size, len(page), len(users))
    expand = expands_tokens(call, view)
    items = [_item(call, u, view, expand) for u in page]
    body = b"".join(
        (
            b'{"links":',
            encode(links),
            b',"stat":"ok","total_results":',
            str(len(users)).encode(),
            b',"users":[',
            b",".join(items),
            b"]}",
        )
    )
    return call.ok(body, "users", item_mime="user")


def user_item(call: Call, dataset: Dataset, username: str) -> Response:
    """``GET /api/users/{username}/``."""
    unsupported = sorted(set(call.query) - ITEM_PARAMS)
    if unsupported:
        fields = {name: ["Field is not supported"] for name in unsupported}
        return error(400, 105, "One or more fields had errors", fields=fields)
    user = dataset.users.get(username)
    if user is None:
        return does_not_exist()
    view = request_view(call.query)
    item = _item(call, user, view, expands_tokens(call, view))
    return call.ok(b'{"stat":"ok","user":' + item + b"}", "user")
