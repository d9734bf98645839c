"""``/api/users/{username}/api-tokens/[{id}/]``, as Review Board 8.1 answers (§1).

Superuser or owner, for the list and the items (403, 101); a token login may
not manage tokens (403); a missing user is 404 for a superuser and an HTML
500 for anyone else. POST needs ``note`` and ``policy`` (any invalid policy
crashes it: HTML 500); PUT reports field errors as plain strings and, with
8.1's bug, drops ``valid=false`` (``fix_invalidate_bug`` keeps it). DELETE is
``204``; with ``delete_quirk`` it carries 8.1's 14-byte body.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from rbtokens import Response

from .context import Call
from .dataset import Dataset
from .extradata import ExtraDataError, import_extra_data
from .forms import parse_expires, policy_error, truthy
from .paging import list_links, page_of
from .payloads import apply_view, request_view
from .records import TokenKind, TokenRecord, UserRecord
from .wire import (
    RB_500,
    Refusal,
    does_not_exist,
    encode,
    error,
    field_error,
    html,
    http_date,
    not_logged_in,
    permission_denied,
)

__all__ = ["token_item", "token_list"]

_BAD_DATE = ["Enter a valid date/time."]
_VALID_TRUE = "This can only be used to invalidate the token. You cannot set valid to true."


def _envelope(item: bytes) -> bytes:
    return b'{"api_token":' + item + b',"stat":"ok"}'


def _owner(call: Call, dataset: Dataset, username: str) -> UserRecord:
    me = call.ident.user
    if me is None:
        raise Refusal(not_logged_in())
    if call.ident.via_token:
        raise Refusal(permission_denied())  # api_token_access_allowed = False
    owner = dataset.users.get(username)
    if not me.is_superuser:
        if owner is None:
            raise Refusal(html(500, RB_500))  # an uncaught DoesNotExist
        if owner is not me:
            raise Refusal(permission_denied())
    if owner is None:
        raise Refusal(does_not_exist())
    return owner


def token_list(call: Call, dataset: Dataset, username: str) -> Response:
    """GET (paged) and POST (create)."""
    refused = call.allow("GET, POST")
    if refused is not None:
        return refused
    owner = _owner(call, dataset, username)
    if call.method == "POST":
        return _create(call, dataset, owner)
    if call.query.get("counts-only"):
        return call.ok(encode({"count": len(owner.tokens), "stat": "ok"}), "api-tokens")
    start, size = page_of(call)
    tokens = owner.tokens
    page = tokens[start : start + size]
    view = request_view(call.query)
    links = list_links(call, start, size, len(page), len(tokens))
    body = b"".join(
        (
            b'{"api_tokens":[',
            b",".join([call.payloads.token(t, view) for t in page]),
            b'],"links":',
            encode(links),
            b',"stat":"ok","total_results":',
            str(len(tokens)).encode(),
            b"}",
        )
    )
    return call.ok(body, "api-tokens", item_mime="api-token")


def token_item(call: Call, dataset: Dataset, username: str, token_id: int) -> Response:
    """GET, PUT (update) and DELETE."""
    refused = call.allow("GET, PUT, DELETE")
    if refused is not None:
        return refused
    owner = _owner(call, dataset, username)
    token = dataset.tokens.get(token_id)
    if token is None or token.owner != owner.username:
        return does_not_exist()
    if call.method == "DELETE":
        dataset.remove_token(token_id)
        call.changed(owner.username, token_id)
        if call.behaviour.delete_quirk:
            return Response(204, {"content-type": "application/json"}, b'{"stat": "ok"}')
        return Response(204, {})
    if call.method == "PUT":
        return _update(call, dataset, token)
    item = call.payloads.token(token, request_view(call.query))
    resp = call.ok(_envelope(item), "api-token")
    if resp.status == 200:
        resp.headers["last-modified"] = http_date(token.last_updated)
    return resp


def _create(call: Call, dataset: Dataset, owner: UserRecord) -> Response:
    form = call.form()
    missing = [name for name in ("note", "policy") if name not in form]
    if missing:
        fields = {name: ["This field is required"] for name in missing}
        return error(400, 105, "One or more fields had errors", fields=fields)
    expires: datetime | None = None
    if form.get("expires"):
        try:
            expires = parse_expires(form["expires"])
        except ValueError:
            return field_error("expires", _BAD_DATE)
    policy, _message = policy_error(form["policy"])
    if policy is None:
        return html(500, RB_500)  # create() catches ValueError; the validator raises another
    now = dataset.clock()
    token = dataset.put_token(
        owner.username,
        note=form["note"],
        policy=policy,
        expires=None if expires is None else expires.astimezone(now.tzinfo),
        kind=TokenKind.HEALTHY,
    )
    call.changed(owner.username, None)
    try:
        token.extra_data = import_extra_data(token.extra_data, form)
    except ExtraDataError as exc:
        return field_error("extra_data", [str(exc)])  # the token stays created, as on 8.1
    obj = call.payloads.token_obj(token)
    if expires is not None:
        obj["expires"] = expires.isoformat()  # echoed in the offset the client sent
    return call.ok(_envelope(encode(apply_view(obj, request_view(call.query)))), "api-token",
                   status=201, etag=False)  # fmt: skip


def _update(call: Call, dataset: Dataset, token: TokenRecord) -> Response:
    """RB's ``update()``: fields set in memory, one ``save()`` at the end."""
    form = call.form()
    draft = dataclasses.replace(token, extra_data=dict(token.extra_data))
    if "expires" in form:
        try:
            draft.expires = parse_expires(form["expires"]) if form["expires"] else None
        except ValueError:
            return field_error("expires", _BAD_DATE)
        draft.extra_data["expired_notification_sent"] = False
    if "note" in form:
        draft.note = form["note"]
    if "policy" in form:
        policy, message = policy_error(form["policy"])
        if policy is None:
            return field_error("policy", message or "")
        draft.policy = policy
    invalidated = False
    if "valid" in form:
        if truthy(form["valid"]):
            return field_error("valid", _VALID_TRUE)
        # invalidate_token() is a queryset update: stored at once...
        token.valid, token.invalid_reason = False, form.get("invalid_reason", "")
        token.invalid_date = dataset.clock()
        invalidated = True
    try:
        draft.extra_data = import_extra_data(draft.extra_data, form)
    except ExtraDataError as exc:
        call.changed(token.owner, token.id)
        return field_error("extra_data", [str(exc)])  # no save(): the invalidation stays
    if invalidated and call.behaviour.fix_invalidate_bug:
        draft.valid, draft.invalid_reason = False, token.invalid_reason
        draft.invalid_date = token.invalid_date
    # ...then save() writes every field of the stale in-memory token back.
    for name in ("note", "policy", "expires", "extra_data", "valid"):
        setattr(token, name, getattr(draft, name))
    token.invalid_reason, token.invalid_date = draft.invalid_reason, draft.invalid_date
    token.last_updated = dataset.clock()
    call.changed(token.owner, token.id)
    return call.ok(_envelope(call.payloads.token(token)), "api-token", etag=False)
