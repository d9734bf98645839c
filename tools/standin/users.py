"""``/api/users/`` and ``/api/users/{username}/``, with ``expand=api_tokens`` (§9).

Review Board 8.1 inlines every token of every user it serializes with
``expand=api_tokens`` and checks no permission doing so: anyone who may list
users, anonymous requests included, gets them, secrets and all.
``only-fields`` applies to the inlined tokens too, and the expansion is
dropped unless ``only-fields`` and ``only-links`` (when given) keep
``api_tokens``. Knobs: ``fix_expand_leak`` inlines only the tokens the
requester may list; ``expansion`` models servers that ignore or empty it.
"""

from __future__ import annotations

from rbtokens import Response

from .context import Call
from .dataset import Dataset
from .forms import truthy
from .paging import list_links, page_of
from .payloads import View, request_view
from .records import TokenRecord, UserRecord
from .wire import does_not_exist, encode

__all__ = ["user_item", "users_list"]


def expands_tokens(call: Call, view: View) -> bool:
    """Whether the request gets ``api_tokens`` inlined (djblets expands a field only
    when ``only-fields`` keeps it and ``only-links`` keeps its link)."""
    if call.behaviour.expansion == "removed":
        return False
    fields, links = view
    return (
        "api_tokens" in call.query.get("expand", "").split(",")
        and (fields is None or "api_tokens" in fields)
        and (links is None or "api_tokens" in links)
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
    if not expand:
        return call.payloads.user(user, view)
    call.expanded_users += 1
    return call.payloads.user_with_tokens(user, _inlined(call, user), view)


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
    user = dataset.users.get(username)
    if user is None:
        return does_not_exist()
    view = request_view(call.query)
    item = _item(call, user, view, expands_tokens(call, view))
    return call.ok(b'{"stat":"ok","user":' + item + b"}", "user")
