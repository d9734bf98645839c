"""Test builders on the stand-in: ``FakeReviewBoard`` and ``FakeTokenServer``.

Both serve one :class:`~.dataset.Dataset` through the stand-in's core
(:class:`~.core.ReviewBoard`) behind an ``rbtokens.MockTransport``; they only
arrange the dataset and the knobs the way the unit tests expect, and expose
the dataset as dicts and lists (:mod:`.views`):

* :class:`FakeReviewBoard` — users ``u000``..., two tokens each (ids
  ``n*1000 + k``, the captured token's fields), a login ``admin`` with
  ``password`` that is not among the listed users, "require login to view
  anything" on, the ETag ``etag-<id>`` on token items (none elsewhere), and
  per-path ``overrides`` answered before anything else.
* :class:`FakeTokenServer` — ``admin`` (superuser), ``alice``, ``bob``,
  ``carol``, inactive ``dave`` (passwords ``<name>-pw``), no session cookies
  (every request sends its credentials), no ETags, and one-shot
  ``inject``\\ ions.

The helpers (``BASE``, ``MIME``, ``ok``, ``error``/``api_error``, ``html``,
``user_payload``, ``token_payload``) build payloads with the same encoder.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from rbtokens import MockTransport, Request, Response

from .auth import Identity
from .dataset import Dataset
from .payloads import Payloads
from .records import TOKEN_FIELDS, TokenKind, TokenRecord, UserRecord
from .service import build_service
from .views import RecordView, SessionKeys, TokensByUser, UserList
from .wire import CAPTURED_ORIGIN, ERROR_TYPES, MIME, encode, fixture, not_logged_in

__all__ = [
    "BASE",
    "MIME",
    "FakeReviewBoard",
    "FakeTokenServer",
    "api_error",
    "error",
    "html",
    "ok",
    "token_payload",
    "user_payload",
]

BASE = "https://rb.test"
Injected = Callable[[Request], Response]

_CAPTURED_TOKEN: dict[str, Any] = fixture("api-token.json")["body"]["api_token"]
_DATASET = Dataset(admin=False)
_ENCODER = Payloads(BASE, _DATASET, b"", b"")


def _rebase(obj: Any) -> Any:
    """A captured payload with its hrefs on ``BASE``."""
    return json.loads(json.dumps(obj).replace(CAPTURED_ORIGIN, BASE))


def _captured_token(username: str, token_id: int) -> TokenRecord:
    record = TokenRecord.from_payload(username, {**_CAPTURED_TOKEN, "id": token_id})
    record.note = f"token {token_id} of {username}"
    return record


def user_payload(username: str, uid: int, *, active: bool = True) -> dict[str, Any]:
    """A user item as the stand-in serializes it on ``BASE``."""
    return _ENCODER.user_obj(UserRecord(uid, username, "", is_active=active))


def token_payload(username: str, token_id: int, **fields: Any) -> dict[str, Any]:
    """The captured token's fields as ``username``'s token ``token_id``, plus ``fields``."""
    payload = _ENCODER.token_obj(_captured_token(username, token_id))
    payload.update(fields)
    return payload


def error(status: int, code: int, msg: str, **extra: Any) -> Response:
    """A Review Board error payload; ``extra`` goes at the top level (``fields=...``)."""
    err = {"code": code, "msg": msg, "type": ERROR_TYPES.get(code, "error")}
    payload = {"stat": "fail", "err": err, **extra}
    return Response(status, {"content-type": MIME.format("error")}, encode(payload))


api_error = error


def ok(name: str, payload: dict[str, Any], *, headers: dict[str, str] | None = None) -> Response:
    """A 200 of mimetype ``name`` with ``payload`` plus ``stat: ok``."""
    hdrs = {"content-type": MIME.format(name), **(headers or {})}
    return Response(200, hdrs, json.dumps({"stat": "ok", **payload}).encode())


def html(status: int) -> Response:
    """An HTML error page."""
    return Response(status, {"content-type": "text/html; charset=utf-8"}, b"<html>error</html>")


def _token_item_etag(path: str, body: bytes) -> str | None:
    parts = path.strip("/").split("/")
    if len(parts) == 5 and parts[3] == "api-tokens":
        return f"etag-{parts[4]}"
    return None


class FakeReviewBoard:
    """The root, session, users and api-tokens resources (see the module docstring)."""

    def __init__(self, *, users: int = 7, password: str = "pw", tokens_per_user: int = 2) -> None:
        self.password = password
        dataset = Dataset(admin=False)
        admin = dataset.add_user("admin", password=password, is_superuser=True, id=0, hidden=True)
        for i in range(users):
            dataset.add_user(f"u{i:03d}", password=password, is_active=i % 3 != 2, id=i + 1)
        for n, user in enumerate(list(dataset.users.values())[1:]):
            for k in range(tokens_per_user):
                dataset.put(_captured_token(user.username, n * 1000 + k))
        self.dataset = dataset
        self.service = build_service(dataset, sitewide_login=True)
        self.core = self.service.core
        self.core.behaviour.etag = _token_item_etag
        payloads = self.core.payloads_for(BASE)
        self._as_admin = Identity(user=admin)
        self.users = UserList(self.core, payloads, password)
        self.tokens = TokensByUser(self.core, payloads, frozenset({"admin"}))
        self.sessions = SessionKeys(self.core, "admin")
        self.overrides: dict[tuple[str, str], Callable[[Request], Response]] = {}
        self.transport = MockTransport(self.handle)

    @property
    def requests(self) -> list[Request]:
        return self.transport.requests

    def handle(self, request: Request) -> Response:
        """Overrides first; then a login is required; then :meth:`route`."""
        override = self.overrides.get((request.method, request.url.path))
        if override is not None:
            return override(request)
        ident = self.core.authenticate(request)
        if isinstance(ident, Response):
            return ident
        if ident.user is None:
            return self.core.finish(ident, not_logged_in())
        return self.core.finish(ident, self.route(request))

    def route(self, request: Request) -> Response:
        """The stand-in's answer, as the administrator (no login checked)."""
        return self.core.answer(request, as_user=self._as_admin).response


class _Owners(Mapping[int, str]):
    def __init__(self, dataset: Dataset) -> None:
        self._tokens = dataset.tokens

    def __getitem__(self, token_id: int) -> str:
        return self._tokens[token_id].owner

    def __iter__(self) -> Iterator[int]:
        return iter(list(self._tokens))

    def __len__(self) -> int:
        return len(self._tokens)


class _TokenRecords(Mapping[int, RecordView]):
    def __init__(self, server: FakeTokenServer) -> None:
        self._server = server

    def __getitem__(self, token_id: int) -> RecordView:
        return RecordView(self._server.dataset.tokens[token_id], self._server.core)

    def __iter__(self) -> Iterator[int]:
        return iter(list(self._server.dataset.tokens))

    def __len__(self) -> int:
        return len(self._server.dataset.tokens)


class FakeTokenServer:
    """Users ``admin`` (superuser), ``alice``, ``bob``, ``carol`` and inactive ``dave``."""

    def __init__(self, *, invalidate_persists: bool = False, extra_users: int = 0) -> None:
        self.invalidate_persists = invalidate_persists
        dataset = Dataset(admin=False)
        for name, active, admin in [
            ("admin", True, True),
            ("alice", True, False),
            ("bob", True, False),
            ("carol", True, False),
            ("dave", False, False),
        ] + [(f"user{i:03d}", True, False) for i in range(extra_users)]:
            dataset.add_user(name, password=f"{name}-pw", is_active=active, is_superuser=admin)
        self.dataset = dataset
        self.service = build_service(
            dataset,
            cookies=False,
            etags=False,
            sitewide_login=True,
            fix_invalidate_bug=invalidate_persists,
        )
        self.core = self.service.core
        self.users = dataset.users
        self.tokens = _TokenRecords(self)
        self.owner = _Owners(dataset)
        self.injections: list[tuple[str, str, Injected]] = []
        self.transport = MockTransport(self.handle)

    @property
    def requests(self) -> list[Request]:
        return self.transport.requests

    @property
    def next_id(self) -> int:
        return self.dataset.next_token_id

    def inject(self, method: str, suffix: str, action: Injected) -> None:
        """Answer the next ``method`` request whose path ends with ``suffix`` with ``action``."""
        self.injections.append((method, suffix, action))

    def add_token(self, owner: str, **fields: Any) -> RecordView:
        """Store a token directly, as the server's ORM would."""
        return RecordView(self.dataset.put_token(owner, **fields), self.core)

    def tokens_of(self, owner: str) -> list[RecordView]:
        return [RecordView(t, self.core) for t in self.dataset.users[owner].tokens]

    def token_payload(self, token: Mapping[str, Any]) -> dict[str, Any]:
        """The item payload of a token given as stored fields (it need not be stored)."""
        fields = {k: v for k, v in token.items() if k in TOKEN_FIELDS}
        owner = self.dataset.tokens[int(fields["id"])].owner
        record = TokenRecord(owner=owner, kind=TokenKind.HEALTHY, **fields)
        return self.core.payloads_for(BASE).token_obj(record)

    def user_payload(self, name: str) -> dict[str, Any]:
        return self.core.payloads_for(BASE).user_obj(self.dataset.users[name])

    def handle(self, request: Request) -> Response:
        for n, (method, suffix, action) in enumerate(self.injections):
            if request.method == method and request.url.path.endswith(suffix):
                del self.injections[n]
                return action(request)
        return self.route(request)

    def route(self, request: Request) -> Response:
        """The stand-in's answer."""
        return self.core.handle(request)
