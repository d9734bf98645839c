"""A small in-memory Review Board behind ``MockTransport``, built from real payloads.

It pages like Review Board 8.1 (``start``/``max-results``, ``next``/``prev``
links, ``total_results``), sets ``rbsessionid`` on a Basic login and records
every request, so client behaviour can be checked without a network.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from typing import Any

from payloads import body
from yarl import URL

from rbtokens.transport import MockTransport, Request, Response

BASE = "https://rb.test"
MIME = "application/vnd.reviewboard.org.{}+json"


def _rebase(obj: Any) -> Any:
    text = json.dumps(obj).replace("http://127.0.0.1:8080", BASE)
    return json.loads(text)


def user_payload(username: str, uid: int, *, active: bool = True) -> dict[str, Any]:
    user = copy.deepcopy(_rebase(body("user.json"))["user"])
    text = json.dumps(user).replace("audit_00003", username)
    user = json.loads(text)
    user.update(id=uid, is_active=active)
    return user


def token_payload(username: str, token_id: int, **fields: Any) -> dict[str, Any]:
    token = copy.deepcopy(_rebase(body("api-token.json"))["api_token"])
    token = json.loads(
        json.dumps(token)
        .replace("audit_00003", username)
        .replace("/api-tokens/4/", f"/api-tokens/{token_id}/")
    )
    token.update(id=token_id, note=f"token {token_id} of {username}", **fields)
    return token


def error(status: int, code: int, msg: str, **extra: Any) -> Response:
    payload = {"stat": "fail", "err": {"code": code, "msg": msg, "type": "x"}, **extra}
    return Response(status, {"content-type": MIME.format("error")}, json.dumps(payload).encode())


def ok(name: str, payload: dict[str, Any], *, headers: dict[str, str] | None = None) -> Response:
    hdrs = {"content-type": MIME.format(name), **(headers or {})}
    return Response(200, hdrs, json.dumps({"stat": "ok", **payload}).encode())


class FakeReviewBoard:
    """Routes for the root, session, users and api-tokens resources."""

    def __init__(self, *, users: int = 7, password: str = "pw", tokens_per_user: int = 2) -> None:
        self.password = password
        self.users = [user_payload(f"u{i:03d}", i + 1, active=i % 3 != 2) for i in range(users)]
        self.tokens: dict[str, list[dict[str, Any]]] = {
            u["username"]: [
                token_payload(u["username"], n * 1000 + k) for k in range(tokens_per_user)
            ]
            for n, u in enumerate(self.users)
        }
        self.sessions: set[str] = set()
        self.overrides: dict[tuple[str, str], Callable[[Request], Response]] = {}
        self.transport = MockTransport(self.handle)

    @property
    def requests(self) -> list[Request]:
        return self.transport.requests

    def _authenticated(self, request: Request) -> Response | str | None:
        cookie = request.headers.get("Cookie", "")
        if cookie.startswith("rbsessionid=") and cookie.split("=", 1)[1] in self.sessions:
            return None
        auth = request.headers.get("Authorization")
        if auth is None:
            return error(401, 103, "You are not logged in")
        if auth.startswith("Basic "):
            _user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            if pw != self.password:
                return error(401, 104, "The username or password was not correct")
        sid = f"s{len(self.sessions) + 1}"
        self.sessions.add(sid)
        return sid

    def handle(self, request: Request) -> Response:
        path = request.url.path
        override = self.overrides.get((request.method, path))
        if override is not None:
            return override(request)
        auth = self._authenticated(request)
        if isinstance(auth, Response):
            return auth
        response = self.route(request)
        if isinstance(auth, str):
            response.cookies["rbsessionid"] = auth
        return response

    def route(self, request: Request) -> Response:
        url = request.url
        parts = [p for p in url.path.split("/") if p]
        if parts == ["api"]:
            return ok("root", _rebase({k: v for k, v in body("root.json").items() if k != "stat"}))
        if parts == ["api", "session"]:
            return ok("session", _rebase({"session": body("session.json")["session"]}))
        if parts == ["api", "users"]:
            users = [
                u for u in self.users if u["is_active"] or url.query.get("include-inactive") == "1"
            ]
            return self.page(url, "users", users)
        if len(parts) == 3 and parts[:2] == ["api", "users"]:
            match = [u for u in self.users if u["username"] == parts[2]]
            return (
                ok("user", {"user": match[0]})
                if match
                else error(404, 100, "Object does not exist")
            )
        if len(parts) == 4 and parts[3] == "api-tokens":
            if parts[2] not in self.tokens:
                return error(404, 100, "Object does not exist")
            resp = self.page(url, "api_tokens", self.tokens[parts[2]])
            resp.headers["content-type"] = MIME.format("api-tokens")
            return resp
        if len(parts) == 5 and parts[3] == "api-tokens":
            for token in self.tokens.get(parts[2], []):
                if str(token["id"]) == parts[4]:
                    if request.method == "DELETE":
                        self.tokens[parts[2]].remove(token)
                        return Response(204, {}, b"")
                    return ok(
                        "api-token", {"api_token": token}, headers={"etag": f"etag-{token['id']}"}
                    )
            return error(404, 100, "Object does not exist")
        return Response(404, {"content-type": "text/html"}, b"<html>404</html>")

    def page(self, url: URL, key: str, items: list[dict[str, Any]]) -> Response:
        start = max(0, int(url.query.get("start", "0")))
        size = min(200, int(url.query.get("max-results", "25")))
        if size < 0:
            return Response(500, {"content-type": "text/html"}, b"<html>500</html>")
        chunk = items[start : start + size]
        base = url.with_query(None)
        rest = [(k, v) for k, v in url.query.items() if k not in ("start", "max-results")]
        links: dict[str, Any] = {"self": {"href": str(url), "method": "GET"}}
        if start + len(chunk) < len(items) or size == 0:
            nxt = base.with_query([("start", str(start + size)), ("max-results", str(size)), *rest])
            links["next"] = {"href": str(nxt), "method": "GET"}
        if start > 0:
            prev = base.with_query(
                [("start", str(max(0, start - size))), ("max-results", str(size)), *rest]
            )
            links["prev"] = {"href": str(prev), "method": "GET"}
        name = key.replace("_", "-")
        return ok(name, {key: chunk, "total_results": len(items), "links": links})
