"""An in-memory Review Board 8.1 token resource behind ``MockTransport``.

It reproduces what the token verbs depend on, as observed on a real 8.1
site: superuser-or-owner permissions (403, code 101), API-token logins
refused (403), 404 for a missing user (an HTML 500 for non-administrators),
``start``/``max-results`` paging with ``next``/``prev`` links, POST needing
``note`` and a JSON ``policy`` (an invalid policy crashes with an HTML 500),
PUT field errors as plain strings, the ``extra_data`` forms, and the
``PUT valid=false`` bug (answered 200, not saved). Failures can be injected
per request with :meth:`FakeTokenServer.inject`.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import string
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from payloads import body
from yarl import URL

from rbtokens.policy import POLICY_IDS
from rbtokens.transport import MockTransport, Request, Response

BASE = "https://rb.test"
MIME = "application/vnd.reviewboard.org.{}+json"
ALPHABET = string.ascii_letters + string.digits

Injected = Callable[[Request], Response]


def _rebase(obj: Any) -> Any:
    return json.loads(json.dumps(obj).replace("http://127.0.0.1:8080", BASE))


def _json(status: int, name: str, payload: dict[str, Any]) -> Response:
    return Response(status, {"content-type": MIME.format(name)}, json.dumps(payload).encode())


def api_error(status: int, code: int, msg: str, **extra: Any) -> Response:
    payload = {"stat": "fail", "err": {"code": code, "msg": msg, "type": "x"}, **extra}
    return _json(status, "error", payload)


def html(status: int) -> Response:
    return Response(status, {"content-type": "text/html; charset=utf-8"}, b"<html>error</html>")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _server_policy_error(policy: Any) -> str | None:
    """The 8.1 server's validation (independent of rbtokens.policy, on purpose)."""
    if not isinstance(policy, dict):
        return "The policy must be a JSON object."
    if not policy:
        return None
    resources = policy.get("resources")
    if resources is None:
        return 'The policy is missing a "resources" section.'
    if not isinstance(resources, dict) or not resources:
        return 'The policy\'s "resources" section must be a JSON object.'
    for pid, section in resources.items():
        if pid != "*" and pid not in POLICY_IDS:
            return f'"{pid}" is not a valid resource policy ID.'
        subs = {"*": section} if pid == "*" else section
        for sub in subs.values():
            if not isinstance(sub, dict) or not ({"allow", "block"} & set(sub)):
                return "bad section"
    return None


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out


def _json_patch(doc: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any] | str:
    out = copy.deepcopy(doc)
    for n, op in enumerate(ops):
        key = op["path"].lstrip("/")
        if "/" in key:
            return f"nested paths are not supported by the fake (entry {n})"
        kind = op["op"]
        if kind in ("add", "replace"):
            if kind == "replace" and key not in out:
                return f'Invalid path "/{key}" for patch entry {n}'
            out[key] = op["value"]
        elif kind == "remove":
            if key not in out:
                return f'Invalid path "/{key}" for patch entry {n}'
            del out[key]
        elif kind == "test":
            if out.get(key, object()) != op.get("value"):
                return f"Test failed for patch entry {n}"
        else:
            return f"Unknown operation {kind!r}"
    return out


class FakeTokenServer:
    """Users ``admin`` (superuser), ``alice``, ``bob``, ``carol`` and inactive ``dave``."""

    def __init__(self, *, invalidate_persists: bool = False, extra_users: int = 0) -> None:
        self.invalidate_persists = invalidate_persists
        self.users: dict[str, dict[str, Any]] = {}
        for name, active, admin in [
            ("admin", True, True),
            ("alice", True, False),
            ("bob", True, False),
            ("carol", True, False),
            ("dave", False, False),
        ] + [(f"user{i:03d}", True, False) for i in range(extra_users)]:
            self.users[name] = {"active": active, "admin": admin, "password": f"{name}-pw"}
        self.tokens: dict[int, dict[str, Any]] = {}
        self.owner: dict[int, str] = {}
        self.next_id = 1
        self.injections: list[tuple[str, str, Injected]] = []
        self.transport = MockTransport(self.handle)

    @property
    def requests(self) -> list[Request]:
        return self.transport.requests

    # -- helpers for tests --

    def inject(self, method: str, suffix: str, action: Injected) -> None:
        """Answer the next ``method`` request whose path ends with ``suffix`` with ``action``."""
        self.injections.append((method, suffix, action))

    def add_token(self, owner: str, **fields: Any) -> dict[str, Any]:
        """Create a token directly, as the server's ORM would."""
        token_id = self.next_id
        self.next_id += 1
        now = datetime.now(UTC)
        record = {
            "id": token_id,
            "token": "rbp_" + "".join(secrets.choice(ALPHABET) for _ in range(251)),
            "note": "",
            "policy": {},
            "expires": None,
            "valid": True,
            "invalid_date": None,
            "invalid_reason": "",
            "last_used": None,
            "last_updated": now,
            "time_added": now,
            "token_generator_id": "vendor_checksum",
            "deprecated": False,
            "extra_data": {},
        }
        record.update(fields)
        self.tokens[token_id] = record
        self.owner[token_id] = owner
        return record

    def tokens_of(self, owner: str) -> list[dict[str, Any]]:
        return [t for tid, t in self.tokens.items() if self.owner[tid] == owner]

    # -- serialisation --

    def token_payload(self, token: dict[str, Any]) -> dict[str, Any]:
        owner = self.owner[token["id"]]
        href = f"{BASE}/api/users/{owner}/api-tokens/{token['id']}/"
        expires = token["expires"]
        out = dict(token)
        for key in ("expires", "invalid_date", "last_used", "last_updated", "time_added"):
            out[key] = _iso(token[key])
        out["expired"] = expires is not None and expires <= datetime.now(UTC)
        out["links"] = {
            "self": {"href": href, "method": "GET"},
            "update": {"href": href, "method": "PUT"},
            "delete": {"href": href, "method": "DELETE"},
        }
        return out

    def user_payload(self, name: str) -> dict[str, Any]:
        user = copy.deepcopy(_rebase(body("user.json"))["user"])
        user = json.loads(json.dumps(user).replace("audit_00003", name))
        user.update(id=list(self.users).index(name) + 1, is_active=self.users[name]["active"])
        return user

    # -- dispatch --

    def _identity(self, request: Request) -> tuple[str | None, bool, Response | None]:
        auth = request.headers.get("Authorization")
        if auth is None:
            return None, False, None
        if auth.startswith("Basic "):
            user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            info = self.users.get(user)
            if info is None or info["password"] != pw:
                return None, False, api_error(401, 104, "The username or password was not correct")
            return user, False, None
        if auth.startswith("token "):
            secret = auth[6:]
            for tid, token in self.tokens.items():
                if token["token"] == secret:
                    return self.owner[tid], True, None
            return None, True, api_error(401, 104, "Invalid API token")
        return None, False, api_error(401, 103, "You are not logged in")

    def handle(self, request: Request) -> Response:
        for n, (method, suffix, action) in enumerate(self.injections):
            if request.method == method and request.url.path.endswith(suffix):
                del self.injections[n]
                return action(request)
        return self.route(request)

    def route(self, request: Request) -> Response:
        url = request.url
        parts = [p for p in url.path.split("/") if p]
        who, token_auth, failure = self._identity(request)
        if failure is not None:
            return failure
        if parts == ["api"]:
            root = _rebase({k: v for k, v in body("root.json").items() if k != "stat"})
            return _json(200, "root", {"stat": "ok", **root})
        if who is None:
            return api_error(401, 103, "You are not logged in")
        if parts == ["api", "session"]:
            session = {
                "authenticated": True,
                "links": {
                    "self": {"href": f"{BASE}/api/session/", "method": "GET"},
                    "user": {"href": f"{BASE}/api/users/{who}/", "method": "GET", "title": who},
                },
            }
            return _json(200, "session", {"stat": "ok", "session": session})
        if parts == ["api", "users"]:
            names = [
                n
                for n, info in self.users.items()
                if info["active"] or url.query.get("include-inactive") == "1"
            ]
            return self.page(url, "users", [self.user_payload(n) for n in names])
        if len(parts) >= 4 and parts[:2] == ["api", "users"] and parts[3] == "api-tokens":
            return self.tokens_route(request, parts, who, token_auth)
        return html(404)

    def tokens_route(
        self, request: Request, parts: list[str], who: str, token_auth: bool
    ) -> Response:
        owner = parts[2]
        is_admin = self.users[who]["admin"]
        if token_auth:
            return api_error(403, 101, "You don't have permission for this")
        if owner not in self.users:
            return api_error(404, 100, "Object does not exist") if is_admin else html(500)
        if not is_admin and owner != who:
            return api_error(403, 101, "You don't have permission for this")
        form = dict(parse_qsl((request.body or b"").decode(), keep_blank_values=True))
        if len(parts) == 4:
            if request.method == "GET":
                items = [self.token_payload(t) for t in self.tokens_of(owner)]
                return self.page(request.url, "api_tokens", items, item="api-token")
            if request.method == "POST":
                return self.create(owner, form)
            return html(405)
        try:
            token_id = int(parts[4])
        except ValueError:
            return html(404)
        if self.owner.get(token_id) != owner:
            return api_error(404, 100, "Object does not exist")
        token = self.tokens[token_id]
        if request.method == "GET":
            return _json(200, "api-token", {"stat": "ok", "api_token": self.token_payload(token)})
        if request.method == "DELETE":
            del self.tokens[token_id]
            del self.owner[token_id]
            return Response(204, {}, b"")
        if request.method == "PUT":
            return self.update(token, form)
        return html(405)

    def create(self, owner: str, form: dict[str, str]) -> Response:
        missing = {k: ["This field is required"] for k in ("note", "policy") if k not in form}
        if missing:
            return api_error(400, 105, "One or more fields had errors", fields=missing)
        try:
            policy = json.loads(form["policy"])
        except ValueError:
            return html(500)
        if _server_policy_error(policy) is not None:
            return html(500)  # 8.1 catches ValueError, the validator raises ValidationError
        expires = datetime.fromisoformat(form["expires"]) if form.get("expires") else None
        token = self.add_token(owner, note=form["note"], policy=policy, expires=expires)
        failure = self.apply_extra_data(token, form)
        if failure is not None:
            return failure
        return _json(201, "api-token", {"stat": "ok", "api_token": self.token_payload(token)})

    def update(self, token: dict[str, Any], form: dict[str, str]) -> Response:
        saved = copy.deepcopy(token)
        if "expires" in form:
            token["expires"] = datetime.fromisoformat(form["expires"]) if form["expires"] else None
            token["extra_data"]["expired_notification_sent"] = False
        if "note" in form:
            token["note"] = form["note"]
        if "policy" in form:
            policy = json.loads(form["policy"])
            error = _server_policy_error(policy)
            if error is not None:
                token.clear()
                token.update(saved)
                return api_error(
                    400, 105, "One or more fields had errors", fields={"policy": error}
                )
            token["policy"] = policy
        if "valid" in form:
            if form["valid"].lower() in ("1", "true"):
                return api_error(
                    400,
                    105,
                    "One or more fields had errors",
                    fields={"valid": "You cannot set valid to true."},
                )
            if self.invalidate_persists:
                token.update(
                    valid=False,
                    invalid_reason=form.get("invalid_reason", ""),
                    invalid_date=datetime.now(UTC),
                )
            # else: the 8.1 bug, the stale save keeps valid=True
        failure = self.apply_extra_data(token, form)
        if failure is not None:
            token.clear()
            token.update(saved)
            return failure
        token["last_updated"] = datetime.now(UTC)
        return _json(200, "api-token", {"stat": "ok", "api_token": self.token_payload(token)})

    def apply_extra_data(self, token: dict[str, Any], form: dict[str, str]) -> Response | None:
        extra = token["extra_data"]
        if "extra_data:json" in form:
            extra = _merge(extra, json.loads(form["extra_data:json"]))
        if "extra_data:json-patch" in form:
            result = _json_patch(extra, json.loads(form["extra_data:json-patch"]))
            if isinstance(result, str):
                return api_error(
                    400,
                    105,
                    "One or more fields had errors",
                    fields={"extra_data": [f"Failed to patch JSON data: {result}"]},
                )
            extra = result
        for key, value in form.items():
            if key.startswith("extra_data."):
                extra[key[len("extra_data.") :]] = value
        token["extra_data"] = extra
        return None

    def page(
        self, url: URL, key: str, items: list[dict[str, Any]], *, item: str | None = None
    ) -> Response:
        start = max(0, int(url.query.get("start", "0")))
        size = int(url.query.get("max-results", "25"))
        if size < 0:
            return html(500)
        size = min(size, 200)
        chunk = items[start : start + size]
        base = url.with_query(None)
        rest = [(k, v) for k, v in url.query.items() if k not in ("start", "max-results")]
        links: dict[str, Any] = {"self": {"href": str(url), "method": "GET"}}
        if start + len(chunk) < len(items):
            nxt = base.with_query([("start", str(start + size)), ("max-results", str(size)), *rest])
            links["next"] = {"href": str(nxt), "method": "GET"}
        if start > 0:
            prev = base.with_query(
                [("start", str(max(0, start - size))), ("max-results", str(size)), *rest]
            )
            links["prev"] = {"href": str(prev), "method": "GET"}
        name = key.replace("_", "-")
        response = _json(
            200, name, {"stat": "ok", key: chunk, "total_results": len(items), "links": links}
        )
        if item is not None:
            response.headers["item-content-type"] = MIME.format(item)
        return response
