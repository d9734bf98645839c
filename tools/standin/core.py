"""The transport-agnostic core: Review Board 8.1's Web API over a :class:`Dataset`.

:class:`ReviewBoard` turns an :class:`rbtokens.Request` into an
:class:`rbtokens.Response` and does no I/O; the adapters
(:mod:`.inprocess`, :mod:`.server`) add time, faults and sockets around it.
What it answers, as 8.1 does:

* ``GET /api/`` (the captured root, rebased onto the request's origin) and
  ``/api/info/``; ``GET|DELETE /api/session/``;
* ``GET /api/users/`` and ``/api/users/{u}/`` (:mod:`.users`);
* ``/api/users/{u}/api-tokens/[{id}/]`` (:mod:`.apitokens`);
* unrouted URLs: an HTML 404; a missing trailing slash: a 301 to a relative
  ``Location``; ``POST`` with a ``_method`` field: that method.

Authentication is :mod:`.auth`'s, rate limits :mod:`.ratelimit`'s; knobs are
in :class:`~.context.Behaviour`.
"""

from __future__ import annotations

from dataclasses import dataclass

from rbtokens import Request, Response

from .apitokens import token_item, token_list
from .auth import Authenticator, Identity, session_key
from .context import Behaviour, Call
from .dataset import USERNAME_RE, Dataset
from .payloads import Payloads
from .ratelimit import RateLimiter, RateLimits
from .stats import StandInStats
from .users import user_item, users_list
from .wire import (
    CLEARED_COOKIE,
    RB_404,
    SESSION_COOKIE,
    Refusal,
    encode,
    fixture,
    html,
    not_logged_in,
)

__all__ = ["Answer", "ReviewBoard", "route_name"]


@dataclass(slots=True)
class Answer:
    """A response and what it cost the server."""

    response: Response
    expanded_users: int = 0


def route_name(parts: list[str]) -> str:
    """A stats key: ``root``, ``users``, ``users/*``, ``users/*/api-tokens/*``..."""
    if not parts:
        return "root"
    if parts[0] != "users" or len(parts) == 1:
        return "/".join(parts)
    return "/".join(["users", "*", *("*" if p.isdigit() else p for p in parts[2:])])


def _routed(parts: list[str]) -> bool:
    n = len(parts)
    if n == 0 or parts in (["info"], ["session"], ["users"]):
        return True
    if parts[0] != "users" or not USERNAME_RE.match(parts[1]):
        return False
    if n == 2:
        return True
    return parts[2] == "api-tokens" and (n == 3 or (n == 4 and parts[3].isdigit()))


class ReviewBoard:
    """Review Board 8.1's API over ``dataset``: :meth:`handle` is ``Request → Response``."""

    def __init__(
        self,
        dataset: Dataset,
        *,
        behaviour: Behaviour | None = None,
        rate_limits: RateLimits | None = None,
    ) -> None:
        self.dataset = dataset
        self.behaviour = behaviour or Behaviour()
        self.stats = StandInStats()
        self.auth = Authenticator(dataset, lambda: self.stats, self.changed)
        self.limiter = RateLimiter(rate_limits)
        self._payloads: dict[str, Payloads] = {}
        self._root = encode(fixture("root.json")["body"])
        self._info = encode(fixture("info.json")["body"])

    # -- state -------------------------------------------------------------

    def reset_stats(self) -> None:
        """Zero the counters."""
        self.stats = StandInStats()

    def changed(self, username: str, token_id: int | None = None) -> None:
        """Tell the core a record was changed directly (drops cached payloads)."""
        for payloads in self._payloads.values():
            payloads.forget_user(username)
            if token_id is not None:
                payloads.forget_token(token_id)

    def forget_payloads(self) -> None:
        """Drop every cached payload (after changing many records)."""
        for payloads in self._payloads.values():
            payloads.forget_all()

    def payloads_for(self, origin: str) -> Payloads:
        """The encoded payloads for ``origin`` (``scheme://host[:port]``)."""
        payloads = self._payloads.get(origin)
        if payloads is None:
            payloads = Payloads(origin, self.dataset, self._root, self._info)
            self._payloads[origin] = payloads
        return payloads

    # -- answering ---------------------------------------------------------

    def handle(self, request: Request, *, remote: str = "127.0.0.1") -> Response:
        """Answer ``request`` (``remote`` is the client's address)."""
        return self.answer(request, remote=remote).response

    def answer(
        self, request: Request, *, remote: str = "127.0.0.1", as_user: Identity | None = None
    ) -> Answer:
        """Answer ``request``; ``as_user`` skips authentication and rate limits."""
        answer = self._answer(request, remote, as_user)
        response = answer.response
        response.url = request.url
        self.stats.status[response.status] += 1
        self.stats.bytes_sent += len(response.body)
        self.stats.expanded_users += answer.expanded_users
        return answer

    def _answer(self, request: Request, remote: str, as_user: Identity | None) -> Answer:
        url = request.url
        path = url.path
        if not path.startswith("/api/"):
            return Answer(html(404, RB_404))
        if not path.endswith("/"):
            qs = url.raw_query_string
            return Answer(
                Response(301, {"location": url.raw_path + "/" + (f"?{qs}" if qs else "")})
            )
        parts = path[5:-1].split("/") if path != "/api/" else []
        if not _routed(parts):
            return Answer(html(404, RB_404))
        headers = {k.lower(): v for k, v in request.headers.items()}
        call = Call(
            request=request,
            headers=headers,
            method=request.method.upper(),
            parts=parts,
            ident=Identity(),
            payloads=self.payloads_for(str(url.origin())),
            behaviour=self.behaviour,
            stats=self.stats,
            changed=self.changed,
        )
        try:
            if as_user is not None:
                call.ident = as_user
            else:
                call.ident = self.auth.identify(request, headers)
                limited = self.limiter.check(call, remote, self.stats)
                if limited is not None:
                    return Answer(self.finish(call, limited))
            response = self._dispatch(call)
        except Refusal as refusal:
            response = refusal.response
        return Answer(self.finish(call, response), call.expanded_users)

    def authenticate(self, request: Request) -> Identity | Response:
        """The requester, or the 401 of a failed header login (for test builders)."""
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            return self.auth.identify(request, headers)
        except Refusal as refusal:
            return refusal.response

    def finish(self, call: Call | Identity, response: Response) -> Response:
        """Add the identity's ``Set-Cookie`` and deprecation header to ``response``."""
        ident = call.ident if isinstance(call, Call) else call
        if ident.set_cookie is not None and "set-cookie" not in response.headers:
            response.headers["set-cookie"] = ident.set_cookie
            cleared = ident.set_cookie == CLEARED_COOKIE
            value = ident.set_cookie.split(";", 1)[0].partition("=")[2]
            response.cookies[SESSION_COOKIE] = "" if cleared else value
        if ident.deprecated_token:
            response.headers["x-api-token-deprecated"] = (
                "This token uses a deprecated format. Please generate a new API token, "
                "and update any clients using this token."
            )
        return response

    def _dispatch(self, call: Call) -> Response:
        parts = call.parts
        self.stats.routes[route_name(parts)] += 1
        if call.method == "POST" and "_method" in call.form():
            call.method = call.form()["_method"].upper()
        anonymous = call.ident.user is None
        if len(parts) >= 3:
            if len(parts) == 3:
                return token_list(call, self.dataset, parts[1])
            return token_item(call, self.dataset, parts[1], int(parts[3]))
        if self.behaviour.sitewide_login and anonymous and call.method == "GET":
            return not_logged_in()
        if parts == ["session"]:
            return self._session(call)
        refused = call.allow("GET")
        if refused is not None:
            return refused
        if not parts:
            return call.ok(call.payloads.root, "root")
        if parts == ["info"]:
            return call.ok(call.payloads.info, "server-info")
        if parts == ["users"]:
            return users_list(call, self.dataset)
        return user_item(call, self.dataset, parts[1])

    def _session(self, call: Call) -> Response:
        refused = call.allow("GET, DELETE")
        if refused is not None:
            return refused
        if call.method == "GET":
            expand = "user" in call.query.get("expand", "").split(",")
            return call.ok(call.payloads.session(call.ident.user, expand_user=expand), "session")
        if call.ident.user is None:
            return not_logged_in()
        key = session_key(call.headers)
        if key is not None:
            self.auth.sessions.end(key)
        opened = call.ident.set_cookie
        if opened is not None and opened != CLEARED_COOKIE:
            self.auth.sessions.end(opened.split(";", 1)[0].partition("=")[2])
        call.ident.set_cookie = CLEARED_COOKIE
        return Response(204, {})
