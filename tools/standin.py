#!/usr/bin/env python3
"""A Review Board 8.1-shaped stand-in server, for benchmarks and reliability tests.

It answers what an audit touches the way Review Board 8.1 does, from payloads
shaped like the real ones in ``tests/fixtures/``:

* ``GET /api/`` (the captured root, rebased onto the stand-in's origin) and
  ``/api/info/``;
* ``GET|DELETE /api/session/``;
* ``GET /api/users/`` with ``start``, ``max-results`` (default 25, capped at
  200, ``0`` loops, negative crashes), ``include-inactive``, ``q`` (prefix),
  ``counts-only`` and ``expand=api_tokens`` (every user's tokens inlined, to
  anyone, as 8.1 does); ``links.next/prev/self`` and ``total_results`` exactly
  as Review Board builds them;
* ``GET /api/users/{u}/`` (``expand=api_tokens`` too);
* ``GET|POST /api/users/{u}/api-tokens/`` (paged the same way, with
  ``Item-Content-Type``);
* ``GET|PUT|DELETE /api/users/{u}/api-tokens/{id}/``.

Authentication follows Review Board: a Basic login on any request sets
``rbsessionid``; a cookie of the same user skips the password check; token
lists need a login (401, code 103) and the owner or a superuser (403, 101).
Unquoted ``ETag`` on GETs and ``304`` on an exact ``If-None-Match``.

Use it three ways::

    # in-process, async (tests)
    async with serve(users=50, seed=1) as rb:
        rb.url, rb.stats.logins

    # in-process, in a background thread (synchronous clients such as RBTools)
    with serve_in_thread(users=50) as rb: ...

    # a separate process (benchmarks): prints its URL, serves until SIGTERM
    python tools/standin.py --users 1000 --delay 0.02 --port 0

Fault injection
---------------
``faults`` is any callable ``(FaultRequest) -> Fault | FaultKind | None``; it
is asked once per request (after ``delay``, before authentication and
routing) and may be replaced at run time (``standin.faults = ...``).
:class:`FaultPlan` is the ready-made one: fractions of requests per fault
kind, decided deterministically from ``seed`` and the request (so the same
requests fault whatever the arrival order), "sticky" faults that never clear
for chosen users, and ``max_consecutive`` so that transient faults clear
after a bounded number of retries. See :class:`FaultKind` for what each fault
does on the wire. ``stats.faults`` counts injected faults by kind value
(``"reset"``, ``"502"``, ``"503"``, ``"500"``, ``"truncate"``, ``"stall"``,
``"429"``); ``reset_stats()`` also forgets the attempt history that
``FaultRequest.attempt`` and ``consecutive_faults`` are computed from.
Control requests (below) are never faulted. Note that aiohttp's client
silently resends a GET once after a connection reset unless told not to.

Other knobs: ``delay`` (seconds before every answer, faults included),
``etags``, ``delete_quirk`` (Review Board's ``204`` with a body),
``fix_invalidate_bug``, ``sitewide_login``, ``fix_expand_leak``. The dataset
(:class:`Dataset`) is plain data: tests may add users and tokens, or change
records and call ``changed()``.

Control endpoints (not Review Board's): ``GET /__standin__/stats`` (the
counters plus a summary of the dataset, as JSON) and ``POST
/__standin__/reset-stats``. Accounts: ``admin``/``admin`` (superuser);
generated users ``audit_00000``... with password ``password``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import random
import re
import secrets
import signal
import socket
import string
import struct
import sys
import threading
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import msgspec
from aiohttp import web

__all__ = [
    "Dataset",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "FaultPolicy",
    "FaultRequest",
    "StandIn",
    "StandInStats",
    "TokenKind",
    "TokenRecord",
    "UserRecord",
    "main",
    "serve",
    "serve_in_thread",
    "start_standin",
]

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
CAPTURED_ORIGIN = "http://127.0.0.1:8080"
MIME = "application/vnd.reviewboard.org.{}+json"
ERROR_MIME = MIME.format("error")
DEFAULT_MAX_RESULTS = 25
MAX_RESULTS_CAP = 200
SESSION_COOKIE = "rbsessionid"
COOKIE_ATTRS = "HttpOnly; Max-Age=31536000; Path=/; SameSite=Lax"
VARY = "Accept, Cookie, Accept-Language, Origin, Accept-Encoding"
USERNAME_RE = re.compile(r"^[A-Za-z0-9@._\-'+]+$")
TOKEN_CHARSET = string.digits + string.ascii_uppercase + string.ascii_lowercase
CONTROL_PREFIX = "/__standin__/"

_enc = msgspec.json.Encoder(order="sorted")


def _fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


# --------------------------------------------------------------------------
# Fault injection
# --------------------------------------------------------------------------


class FaultKind(StrEnum):
    """What an injected fault does on the wire."""

    RESET = "reset"
    """The connection is reset (RST, via ``SO_LINGER 0``) before any byte of a response."""
    BAD_GATEWAY = "502"
    """``502 Bad Gateway`` with a proxy's ``text/html`` page."""
    UNAVAILABLE = "503"
    """``503 Service Unavailable`` with a proxy's ``text/html`` page."""
    SERVER_ERROR = "500"
    """Review Board's own HTML 500 page (its "Something broke!" crash page)."""
    TRUNCATE = "truncate"
    """The real status and headers, a ``Content-Length`` larger than what is sent,
    about half the body, then the connection is closed."""
    STALL = "stall"
    """Nothing is sent for ``Fault.stall_seconds`` (past the client's timeout);
    then the normal answer, if the client is still there."""
    RATE_LIMIT = "429"
    """``429`` with Review Board's code-114 error payload, ``Retry-After:
    <Fault.retry_after>`` and ``X-RateLimit-Limit``."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault to inject, with its parameters."""

    kind: FaultKind
    retry_after: int = 1
    """The ``Retry-After`` seconds of a ``RATE_LIMIT`` fault."""
    stall_seconds: float = 30.0
    """How long a ``STALL`` fault holds the response."""


@dataclass(frozen=True, slots=True)
class FaultRequest:
    """What a fault policy is told about a request."""

    method: str
    path: str
    """The decoded path, e.g. ``/api/users/alice/api-tokens/``."""
    query_string: str
    username: str | None
    """The user whose URL this is (``/api/users/<username>/...``), else None."""
    attempt: int
    """1 the first time this method + path + query arrives, 2 the next, ..."""
    consecutive_faults: int
    """How many of the immediately preceding attempts of the same request were faulted."""
    index: int
    """The request's number in arrival order (1-based)."""
    has_authorization: bool
    """Whether the request carries an ``Authorization`` header (a login)."""


FaultPolicy = Callable[[FaultRequest], "Fault | FaultKind | None"]
"""The ``faults`` hook: any callable from a request to a fault, or None for none."""


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """A deterministic mix of random and sticky faults (a :data:`FaultPolicy`).

    Each rate is the fraction of eligible requests that get that fault (their
    sum must be at most 1). Whether a request is faulted is a pure function
    of ``seed``, its method, path, query and attempt number, so it does not
    depend on the order in which concurrent requests arrive.

    ``sticky`` maps usernames to a fault that every request under
    ``/api/users/<username>/`` gets, always (it ignores ``max_consecutive``
    and the rates). ``max_consecutive`` bounds random faults: once that many
    attempts of the same request in a row were faulted, the next one is
    answered normally, so a client retrying ``max_consecutive + 1`` times
    always gets through. ``paths`` (a regex searched in the path) and
    ``methods`` restrict which requests random faults may hit;
    ``spare_logins`` exempts requests that carry ``Authorization``.
    """

    reset: float = 0.0
    bad_gateway: float = 0.0
    unavailable: float = 0.0
    server_error: float = 0.0
    truncate: float = 0.0
    stall: float = 0.0
    rate_limit: float = 0.0
    sticky: Mapping[str, FaultKind] = field(default_factory=dict)
    seed: int = 0
    retry_after: int = 1
    stall_seconds: float = 30.0
    max_consecutive: int | None = None
    paths: str | None = None
    methods: frozenset[str] = frozenset({"GET", "POST", "PUT", "DELETE"})
    spare_logins: bool = False

    def __post_init__(self) -> None:
        total = sum(rate for _, rate in self._rates())
        if any(rate < 0 for _, rate in self._rates()) or total > 1.0 + 1e-9:
            raise ValueError(f"fault rates must be >= 0 and sum to at most 1 (got {total})")
        object.__setattr__(
            self, "sticky", {user: FaultKind(kind) for user, kind in self.sticky.items()}
        )
        object.__setattr__(self, "methods", frozenset(m.upper() for m in self.methods))

    def _rates(self) -> list[tuple[FaultKind, float]]:
        return [
            (FaultKind.RESET, self.reset),
            (FaultKind.BAD_GATEWAY, self.bad_gateway),
            (FaultKind.UNAVAILABLE, self.unavailable),
            (FaultKind.SERVER_ERROR, self.server_error),
            (FaultKind.TRUNCATE, self.truncate),
            (FaultKind.STALL, self.stall),
            (FaultKind.RATE_LIMIT, self.rate_limit),
        ]

    def _fault(self, kind: FaultKind) -> Fault:
        return Fault(kind, retry_after=self.retry_after, stall_seconds=self.stall_seconds)

    def __call__(self, req: FaultRequest) -> Fault | None:
        """The fault for ``req``, or None."""
        if req.username is not None and req.username in self.sticky:
            return self._fault(self.sticky[req.username])
        if req.method not in self.methods or (self.spare_logins and req.has_authorization):
            return None
        if self.paths is not None and re.search(self.paths, req.path) is None:
            return None
        if self.max_consecutive is not None and req.consecutive_faults >= self.max_consecutive:
            return None
        roll = unit_hash(self.seed, req.method, req.path, req.query_string, req.attempt)
        edge = 0.0
        for kind, rate in self._rates():
            edge += rate
            if roll < edge:
                return self._fault(kind)
        return None

    @classmethod
    def from_json(cls, text: str) -> FaultPlan:
        """Build a plan from a JSON object of its fields (used by the CLI's ``--faults``)."""
        data = json.loads(text)
        if "methods" in data:
            data["methods"] = frozenset(data["methods"])
        return cls(**data)


def unit_hash(*parts: object) -> float:
    """A deterministic number in [0, 1) from ``parts``."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


# --------------------------------------------------------------------------
# The dataset
# --------------------------------------------------------------------------


class TokenKind(StrEnum):
    """The kinds of tokens the generator mixes (what an audit should flag)."""

    HEALTHY = "healthy"  # restricted policy, expires in the future, used recently
    EXPIRED = "expired"  # expires in the past: ``expired: true``
    NO_EXPIRY = "no-expiry"  # ``expires: null``
    STALE = "stale"  # not used for 100+ days
    LEGACY = "legacy"  # 40-hex ``legacy_sha1`` token, ``deprecated: true``
    INVALID = "invalid"  # ``valid: false`` with a date and reason
    UNRESTRICTED = "unrestricted"  # ``policy: {}`` (full access)


READ_ONLY_POLICY: dict[str, Any] = {"resources": {"*": {"allow": ["GET"], "block": ["*"]}}}


@dataclass(slots=True)
class TokenRecord:
    """One API token as the server stores it."""

    id: int
    owner: str
    kind: TokenKind
    token: str
    note: str
    policy: dict[str, Any]
    time_added: datetime
    last_updated: datetime
    last_used: datetime | None = None
    expires: datetime | None = None
    valid: bool = True
    invalid_date: datetime | None = None
    invalid_reason: str = ""
    token_generator_id: str = "vendor_checksum"
    deprecated: bool = False
    extra_data: dict[str, Any] = field(default_factory=dict)

    def expired_at(self, now: datetime) -> bool:
        """Review Board's computed ``expired`` field."""
        return self.expires is not None and self.expires <= now


@dataclass(slots=True)
class UserRecord:
    """One user as the server stores it."""

    id: int
    username: str
    password: str
    is_active: bool = True
    is_superuser: bool = False
    tokens: list[TokenRecord] = field(default_factory=list)

    @property
    def email(self) -> str:
        """The user's e-mail address."""
        return f"{self.username}@example.com"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def vendor_token(rng: random.Random) -> str:
    """An ``rbp_`` token: 245 base62 characters and a base62 CRC32 checksum."""
    entropy = "".join(rng.choices(TOKEN_CHARSET, k=245))
    num = zlib.crc32(entropy.encode()) & 0xFFFFFFFF
    digits = []
    while num:
        num, rem = divmod(num, 62)
        digits.append(TOKEN_CHARSET[rem])
    checksum = "".join(reversed(digits)).rjust(6, "0")
    return f"rbp_{entropy}{checksum}"


class Dataset:
    """Users and their tokens, generated deterministically from a seed.

    User 1 is the superuser ``admin``. Generated users are ``audit_00000``,
    ``audit_00001``, ... with password ``password``; about
    ``inactive_fraction`` of them are inactive (hidden from ``/api/users/``
    unless ``include-inactive=1``). Each gets a number of tokens drawn from
    ``tokens_per_user`` (inclusive range), each of a kind drawn from
    ``kinds``.
    """

    def __init__(self, *, now: datetime | None = None, admin_password: str = "admin") -> None:
        self.now = (now or datetime.now(UTC)).replace(microsecond=0)
        self.users: dict[str, UserRecord] = {}
        self.tokens: dict[int, TokenRecord] = {}
        self._next_user_id = 1
        self._next_token_id = 1
        self.add_user("admin", password=admin_password, is_superuser=True)

    @classmethod
    def generate(
        cls,
        users: int,
        *,
        seed: int = 0,
        tokens_per_user: tuple[int, int] = (0, 3),
        inactive_fraction: float = 0.1,
        kinds: Sequence[TokenKind] = tuple(TokenKind),
        now: datetime | None = None,
        admin_password: str = "admin",
        user_password: str = "password",
    ) -> Dataset:
        """A dataset of ``users`` generated users (plus ``admin``)."""
        ds = cls(now=now, admin_password=admin_password)
        rng = random.Random(seed)
        width = max(5, len(str(max(users - 1, 0))))
        low, high = tokens_per_user
        for i in range(users):
            user = ds.add_user(
                f"audit_{i:0{width}d}",
                password=user_password,
                is_active=rng.random() >= inactive_fraction,
            )
            for n in range(rng.randint(low, high)):
                ds.add_token(user.username, kind=rng.choice(kinds), rng=rng, note_index=n)
        return ds

    def add_user(
        self,
        username: str,
        *,
        password: str = "password",
        is_active: bool = True,
        is_superuser: bool = False,
    ) -> UserRecord:
        """Add a user; returns its record."""
        if not USERNAME_RE.match(username) or username in self.users:
            raise ValueError(f"bad or duplicate username {username!r}")
        user = UserRecord(self._next_user_id, username, password, is_active, is_superuser)
        self._next_user_id += 1
        self.users[username] = user
        return user

    def add_token(
        self,
        username: str,
        *,
        kind: TokenKind = TokenKind.HEALTHY,
        rng: random.Random | None = None,
        note_index: int | None = None,
        note: str | None = None,
        policy: dict[str, Any] | None = None,
        expires: datetime | str | None = "auto",
    ) -> TokenRecord:
        """Add a token of ``kind`` to ``username``; returns its record."""
        rng = rng or random.Random(self._next_token_id)
        now = self.now
        user = self.users[username]
        tid = self._next_token_id
        self._next_token_id += 1

        def ago(lo: float, hi: float) -> datetime:
            return now - timedelta(days=rng.uniform(lo, hi), microseconds=rng.randrange(10**6))

        def ahead(lo: float, hi: float) -> datetime:
            return now + timedelta(days=rng.uniform(lo, hi), microseconds=rng.randrange(10**6))

        added = ago(30, 900)
        index = note_index if note_index is not None else len(user.tokens)
        rec = TokenRecord(
            id=tid,
            owner=username,
            kind=kind,
            token=vendor_token(rng),
            note=note if note is not None else f"token {index} of {username}",
            policy=dict(READ_ONLY_POLICY),
            time_added=added,
            last_updated=added,
            last_used=ago(0, 10),
            expires=ahead(5, 365),
        )
        if kind is TokenKind.EXPIRED:
            rec.expires = ago(1, 400)
        elif kind is TokenKind.NO_EXPIRY:
            rec.expires = None
        elif kind is TokenKind.STALE:
            rec.last_used = ago(100, 700) if rng.random() < 0.7 else None
            rec.time_added = rec.last_updated = ago(400, 900)
        elif kind is TokenKind.LEGACY:
            rec.token = f"{rng.getrandbits(160):040x}"
            rec.token_generator_id = "legacy_sha1"
            rec.deprecated = True
            rec.expires = None
            rec.policy = {}
        elif kind is TokenKind.INVALID:
            rec.valid = False
            rec.invalid_date = ago(1, 20)
            rec.invalid_reason = "Revoked by an administrator"
        elif kind is TokenKind.UNRESTRICTED:
            rec.policy = {}
        if rng.random() < 0.1:
            rec.extra_data = {"client_name": "RBTools"}
        if policy is not None:
            rec.policy = policy
        if expires != "auto":
            rec.expires = expires if isinstance(expires, datetime) or expires is None else None
        user.tokens.append(rec)
        self.tokens[tid] = rec
        return rec

    def visible_users(self, *, include_inactive: bool) -> list[UserRecord]:
        """Users as the users list shows them, in id order."""
        if include_inactive:
            return list(self.users.values())
        return [u for u in self.users.values() if u.is_active]

    @property
    def token_count(self) -> int:
        """How many tokens exist."""
        return len(self.tokens)

    def kind_counts(self) -> Counter[TokenKind]:
        """How many tokens of each kind exist."""
        return Counter(t.kind for t in self.tokens.values())


# --------------------------------------------------------------------------
# Payload encoding (per origin, cached)
# --------------------------------------------------------------------------


def _link(href: str, method: str = "GET", title: str | None = None) -> dict[str, str]:
    out = {"href": href, "method": method}
    if title is not None:
        out["title"] = title
    return out


View = tuple[tuple[str, ...] | None, tuple[str, ...] | None]
"""``(only_fields, only_links)``: None keeps everything, ``()`` keeps nothing."""
FULL_VIEW: View = (None, None)


def _only(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(name for name in value.split(",") if name)


def request_view(query: Mapping[str, str]) -> View:
    """The item view a request asks for with ``only-fields`` and ``only-links``."""
    if "only-fields" not in query and "only-links" not in query:
        return FULL_VIEW
    return (_only(query.get("only-fields")), _only(query.get("only-links")))


def _expands_tokens(query: Mapping[str, str], view: View) -> bool:
    """Whether a users request gets ``expand=api_tokens``: djblets expands a
    field only when ``only-fields`` keeps it and ``only-links`` keeps its link."""
    fields, links = view
    return (
        "api_tokens" in query.get("expand", "").split(",")
        and (fields is None or "api_tokens" in fields)
        and (links is None or "api_tokens" in links)
    )


def _apply_view(obj: dict[str, Any], view: View) -> dict[str, Any]:
    # djblets' serialize_object: only-fields filters the fields; only-links
    # filters the links, and an empty only-links drops the ``links`` key.
    fields, links = view
    if view == FULL_VIEW:
        return obj
    out = {k: v for k, v in obj.items() if k != "links" and (fields is None or k in fields)}
    if links is None:
        out["links"] = obj["links"]
    elif links:
        out["links"] = {k: v for k, v in obj["links"].items() if k in links}
    return out


def _encoded(
    caches: dict[View, dict[Any, bytes]],
    view: View,
    key: Any,
    build: Callable[[], dict[str, Any]],
) -> bytes:
    """The JSON of ``build()`` in ``view``, encoded once per (view, key)."""
    cache = caches.setdefault(view, {})
    cached = cache.get(key)
    if cached is None:
        cached = cache[key] = _enc.encode(_apply_view(build(), view))
    return cached


class _Payloads:
    """Pre-encoded JSON for one origin (hrefs are absolute, built from ``Host``)."""

    def __init__(self, origin: str, dataset: Dataset, root: bytes, info: bytes) -> None:
        self.origin = origin
        self.api = origin + "/api/"
        self.dataset = dataset
        self.root = root.replace(CAPTURED_ORIGIN.encode(), origin.encode())
        self.info = info.replace(CAPTURED_ORIGIN.encode(), origin.encode())
        # Encoded items per view (``only-fields``, ``only-links``), then per key.
        self._users: dict[View, dict[str, bytes]] = {FULL_VIEW: {}}
        self._tokens: dict[View, dict[int, bytes]] = {FULL_VIEW: {}}

    def warm(self) -> None:
        for user in self.dataset.users.values():
            self.user(user)
            for token in user.tokens:
                self.token(token)

    def forget_user(self, username: str) -> None:
        for cache in self._users.values():
            cache.pop(username, None)

    def forget_token(self, token_id: int) -> None:
        for cache in self._tokens.values():
            cache.pop(token_id, None)

    def user(self, user: UserRecord, view: View = FULL_VIEW) -> bytes:
        return _encoded(self._users, view, user.username, lambda: self._user_obj(user))

    def _user_obj(self, user: UserRecord) -> dict[str, Any]:
        base = f"{self.api}users/{user.username}/"
        digest = hashlib.md5(user.email.encode(), usedforsecurity=False).hexdigest()
        avatar = f"https://secure.gravatar.com/avatar/{digest}?s={{}}&d=mm"
        return {
            "avatar_html": None,
            "avatar_url": avatar.format(48),
            "avatar_urls": {
                "1x": avatar.format(48),
                "2x": avatar.format(96),
                "3x": avatar.format(144),
            },
            "email": user.email,
            "first_name": "",
            "fullname": "",
            "id": user.id,
            "is_active": user.is_active,
            "last_name": "",
            "links": {
                "api_tokens": _link(base + "api-tokens/"),
                "archived_review_requests": _link(base + "archived-review-requests/"),
                "muted_review_requests": _link(base + "muted-review-requests/"),
                "self": _link(base),
                "update": _link(base, "PUT"),
                "user_file_attachments": _link(base + "user-file-attachments/"),
                "watched": _link(base + "watched/"),
            },
            "url": f"/users/{user.username}/",
            "username": user.username,
        }

    def token(self, token: TokenRecord, view: View = FULL_VIEW) -> bytes:
        return _encoded(self._tokens, view, token.id, lambda: self._token_obj(token))

    def _token_obj(self, t: TokenRecord) -> dict[str, Any]:
        href = f"{self.api}users/{t.owner}/api-tokens/{t.id}/"
        return {
            "deprecated": t.deprecated,
            "expired": t.expired_at(self.dataset.now),
            "expires": _iso(t.expires),
            "extra_data": t.extra_data,
            "id": t.id,
            "invalid_date": _iso(t.invalid_date),
            "invalid_reason": t.invalid_reason,
            "last_updated": _iso(t.last_updated),
            "last_used": _iso(t.last_used),
            "links": {
                "delete": _link(href, "DELETE"),
                "self": _link(href),
                "update": _link(href, "PUT"),
            },
            "note": t.note,
            "policy": t.policy,
            "time_added": _iso(t.time_added),
            "token": t.token,
            "token_generator_id": t.token_generator_id,
            "valid": t.valid,
        }

    def session(self, user: UserRecord | None) -> bytes:
        href = f"{self.api}session/"
        if user is None:
            body: dict[str, Any] = {"authenticated": False, "links": {"self": _link(href)}}
        else:
            body = {
                "authenticated": True,
                "links": {
                    "delete": _link(href, "DELETE"),
                    "self": _link(href),
                    "user": _link(f"{self.api}users/{user.username}/", title=user.username),
                },
            }
        return _enc.encode({"session": body, "stat": "ok"})


# --------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------


@dataclass(slots=True)
class StandInStats:
    """What the stand-in saw. ``logins`` counts Basic password checks."""

    requests: int = 0
    logins: int = 0
    failed_logins: int = 0
    token_logins: int = 0
    sessions: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    not_modified: int = 0
    bytes_sent: int = 0
    status: Counter[int] = field(default_factory=Counter)
    routes: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "requests": self.requests,
            "logins": self.logins,
            "failed_logins": self.failed_logins,
            "token_logins": self.token_logins,
            "sessions": self.sessions,
            "max_in_flight": self.max_in_flight,
            "not_modified": self.not_modified,
            "bytes_sent": self.bytes_sent,
            "status": {str(k): v for k, v in sorted(self.status.items())},
            "routes": dict(self.routes),
            "faults": dict(self.faults),
        }


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------


@dataclass(slots=True)
class _Identity:
    user: UserRecord | None = None
    via_token: bool = False
    set_cookie: str | None = None


class _Answer(Exception):
    def __init__(self, response: web.StreamResponse) -> None:
        super().__init__()
        self.response = response


_PROXY_PAGE = (
    "<html>\r\n<head><title>{0}</title></head>\r\n<body>\r\n"
    "<center><h1>{0}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_RB_500 = _fixture("error-105-bad-policy.json")["body"]
_RB_404 = _fixture("error-html-404.json")["body"]
_BASIC_401_HEADERS = {"WWW-Authenticate": 'Basic realm="Web API"'}


def _error_body(code: int, msg: str, etype: str, fields: Mapping[str, Any] | None = None) -> bytes:
    body: dict[str, Any] = {"err": {"code": code, "msg": msg, "type": etype}, "stat": "fail"}
    if fields:
        body["fields"] = dict(fields)
    return _enc.encode(body)


def _not_logged_in() -> web.Response:
    return _error(401, 103, "You are not logged in", "auth-not-logged-in", _BASIC_401_HEADERS)


def _error(
    status: int,
    code: int,
    msg: str,
    etype: str,
    headers: Mapping[str, str] | None = None,
    fields: Mapping[str, Any] | None = None,
) -> web.Response:
    hdrs = {"Content-Type": ERROR_MIME, "Vary": VARY}
    hdrs.update(headers or {})
    return web.Response(status=status, body=_error_body(code, msg, etype, fields), headers=hdrs)


def _html(status: int, text: str, headers: Mapping[str, str] | None = None) -> web.Response:
    hdrs = {"Content-Type": "text/html; charset=utf-8"}
    hdrs.update(headers or {})
    return web.Response(status=status, text=text, headers=hdrs)


def _field_error(name: str, message: str | list[str]) -> web.Response:
    return _error(
        400, 105, "One or more fields had errors", "request-field-error", fields={name: message}
    )


def _parse_int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise _Answer(_field_error(name, [f'"{raw}" is not an integer'])) from None


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true")


class StandIn:
    """A running stand-in; build it with :func:`start_standin` or :func:`serve`.

    ``url`` is the site root (``http://127.0.0.1:PORT/``), ``api_url`` the API
    root. ``delay`` and ``faults`` may be changed while it runs. ``stats``
    counts requests, logins (Basic password checks) and injected faults.
    """

    def __init__(
        self,
        dataset: Dataset,
        *,
        delay: float = 0.0,
        faults: FaultPolicy | None = None,
        etags: bool = True,
        delete_quirk: bool = False,
        fix_invalidate_bug: bool = False,
        sitewide_login: bool = False,
        fix_expand_leak: bool = False,
    ) -> None:
        self.dataset = dataset
        self.delay = delay
        self.faults = faults
        self.etags = etags
        self.delete_quirk = delete_quirk
        self.fix_invalidate_bug = fix_invalidate_bug
        self.sitewide_login = sitewide_login
        self.fix_expand_leak = fix_expand_leak
        self.stats = StandInStats()
        self.url = ""
        self.api_url = ""
        self.origin = ""
        self._sessions: dict[str, tuple[str, bool]] = {}
        self._payloads: dict[str, _Payloads] = {}
        self._attempts: dict[tuple[str, str], tuple[int, int]] = {}
        self._root = msgspec.json.encode(_fixture("root.json")["body"])
        self._info = msgspec.json.encode(_fixture("info.json")["body"])
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()

    # -- lifecycle -----------------------------------------------------

    async def start(self, *, host: str = "127.0.0.1", port: int = 0, warm: bool = True) -> None:
        """Bind, pre-encode the payloads for the bound origin, and serve."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        site = web.SockSite(self._runner, sock, backlog=1024)
        await site.start()
        bound = sock.getsockname()[1]
        self.origin = f"http://{host}:{bound}"
        self.url = self.origin + "/"
        self.api_url = self.origin + "/api/"
        if warm:
            self._payloads_for(self.origin).warm()

    async def aclose(self) -> None:
        """Stop serving (stalled responses end at once)."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> StandIn:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def reset_stats(self) -> None:
        """Zero the counters (and the per-request attempt history of faults)."""
        self.stats = StandInStats()
        self._attempts.clear()

    def user(self, username: str) -> UserRecord:
        """A user's record (tests may read or change it)."""
        return self.dataset.users[username]

    def changed(self, username: str, token_id: int | None = None) -> None:
        """Tell the stand-in that a record was changed directly (drops cached payloads)."""
        for payloads in self._payloads.values():
            payloads.forget_user(username)
            if token_id is not None:
                payloads.forget_token(token_id)

    def _payloads_for(self, origin: str) -> _Payloads:
        payloads = self._payloads.get(origin)
        if payloads is None:
            payloads = _Payloads(origin, self.dataset, self._root, self._info)
            self._payloads[origin] = payloads
        return payloads

    # -- the handler ---------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        stats = self.stats
        stats.requests += 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            path = request.path
            if path.startswith(CONTROL_PREFIX):
                return self._control(request, path)
            fault = self._decide_fault(request, path) if self.faults is not None else None
            try:
                if fault is not None:
                    return await self._inject(fault, request, path)
                response = await self._route(request, path)
            except _Answer as answer:
                response = answer.response
            stats.status[response.status] += 1
            body = getattr(response, "body", None)
            if isinstance(body, bytes):
                stats.bytes_sent += len(body)
            return response
        finally:
            stats.in_flight -= 1

    def _control(self, request: web.Request, path: str) -> web.Response:
        if path == CONTROL_PREFIX + "stats":
            data = self.stats.as_dict()
            data["dataset"] = {
                "users": len(self.dataset.users),
                "active_users": sum(1 for u in self.dataset.users.values() if u.is_active),
                "tokens": self.dataset.token_count,
                "kinds": {k.value: n for k, n in sorted(self.dataset.kind_counts().items())},
            }
            return web.json_response(data)
        if path == CONTROL_PREFIX + "reset-stats" and request.method == "POST":
            self.reset_stats()
            return web.json_response({"stat": "ok"})
        return _html(404, "no such control endpoint")

    # -- faults --------------------------------------------------------

    def _decide_fault(self, request: web.Request, path: str) -> Fault | None:
        policy = self.faults
        if policy is None:
            return None
        key = (request.method, request.path_qs)
        attempt, streak = self._attempts.get(key, (0, 0))
        username = None
        if path.startswith("/api/users/"):
            rest = path[len("/api/users/") :].split("/", 1)
            if len(rest) == 2 and rest[0]:
                username = rest[0]
        req = FaultRequest(
            method=request.method,
            path=path,
            query_string=request.query_string,
            username=username,
            attempt=attempt + 1,
            consecutive_faults=streak,
            index=self.stats.requests,
            has_authorization="Authorization" in request.headers,
        )
        decided = policy(req)
        fault = Fault(decided) if isinstance(decided, FaultKind) else decided
        self._attempts[key] = (attempt + 1, streak + 1 if fault is not None else 0)
        if fault is not None:
            self.stats.faults[fault.kind.value] += 1
        return fault

    async def _inject(self, fault: Fault, request: web.Request, path: str) -> web.StreamResponse:
        kind = fault.kind
        if kind is FaultKind.RESET:
            transport = request.transport
            if transport is not None:
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                transport.abort()
            return web.Response(status=500)
        if kind is FaultKind.BAD_GATEWAY:
            return _html(502, _PROXY_PAGE.format("502 Bad Gateway"))
        if kind is FaultKind.UNAVAILABLE:
            return _html(503, _PROXY_PAGE.format("503 Service Temporarily Unavailable"))
        if kind is FaultKind.SERVER_ERROR:
            return _html(500, _RB_500)
        if kind is FaultKind.RATE_LIMIT:
            return _error(
                429,
                114,
                "API rate limit has been exceeded.",
                "request-rate-limit-exceeded",
                {"Retry-After": str(fault.retry_after), "X-RateLimit-Limit": "10000"},
            )
        if kind is FaultKind.STALL:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), fault.stall_seconds)
            try:
                return await self._route(request, path)
            except _Answer as answer:
                return answer.response
        # TRUNCATE: the real answer's status and headers, half its body, then close.
        try:
            real = await self._route(request, path)
        except _Answer as answer:
            real = answer.response
        body = real.body if isinstance(real, web.Response) and isinstance(real.body, bytes) else b""
        body = body or b'{"stat": "ok"}'
        resp = web.StreamResponse(status=real.status, headers=real.headers)
        resp.content_length = len(body)
        await resp.prepare(request)
        await resp.write(body[: len(body) // 2])
        if request.transport is not None:
            request.transport.close()
        return resp

    # -- authentication ------------------------------------------------

    def _identify(self, request: web.Request) -> _Identity:
        ident = _Identity()
        cookie_header = request.headers.get("Cookie")
        session_key = None
        if cookie_header and SESSION_COOKIE in cookie_header:
            session_key = request.cookies.get(SESSION_COOKIE)
            entry = self._sessions.get(session_key) if session_key else None
            if entry is not None:
                ident.user = self.dataset.users.get(entry[0])
                ident.via_token = entry[1]
        auth = request.headers.get("Authorization")
        if not auth:
            return ident
        if auth.startswith("Basic "):
            try:
                raw = base64.b64decode(auth[6:], validate=True).decode()
                username, _, password = raw.partition(":")
            except (binascii.Error, UnicodeDecodeError):
                username, password = "", ""
            if ident.user is not None and ident.user.username == username and not ident.via_token:
                return ident  # Same user as the session: the password is not checked again.
            self.stats.logins += 1
            user = self.dataset.users.get(username)
            if user is None or not user.is_active or user.password != password:
                self.stats.failed_logins += 1
                if session_key:
                    self._sessions.pop(session_key, None)
                raise _Answer(
                    _error(
                        401,
                        104,
                        "The username or password was not correct",
                        "auth-login-failed",
                        _BASIC_401_HEADERS,
                    )
                )
            return self._new_session(ident, user, via_token=False)
        if auth.startswith("token "):
            self.stats.token_logins += 1
            value = auth[6:].strip()
            found = next((t for t in self.dataset.tokens.values() if t.token == value), None)
            if found is None or not found.valid or found.expired_at(datetime.now(UTC)):
                self.stats.failed_logins += 1
                raise _Answer(_error(401, 104, "The API token is not valid", "auth-login-failed"))
            return self._new_session(ident, self.dataset.users[found.owner], via_token=True)
        return ident  # Other schemes are ignored by every backend.

    def _new_session(self, ident: _Identity, user: UserRecord, *, via_token: bool) -> _Identity:
        key = secrets.token_hex(16)
        self._sessions[key] = (user.username, via_token)
        self.stats.sessions += 1
        ident.user = user
        ident.via_token = via_token
        ident.set_cookie = f"{SESSION_COOKIE}={key}; {COOKIE_ATTRS}"
        return ident

    # -- routing -------------------------------------------------------

    async def _route(self, request: web.Request, path: str) -> web.StreamResponse:
        if not path.startswith("/api/"):
            return _html(404, _RB_404)
        if not path.endswith("/"):
            location = path + "/" + (f"?{request.query_string}" if request.query_string else "")
            return web.Response(status=301, headers={"Location": location})
        ident = self._identify(request)
        host = request.host
        origin = self.origin if host == self.origin[7:] else f"{request.scheme}://{host}"
        payloads = self._payloads_for(origin)
        parts = path[5:-1].split("/") if path != "/api/" else []
        method = request.method
        n = len(parts)
        self.stats.routes[_route_name(parts)] += 1
        resp: web.StreamResponse
        if n == 0:
            resp = self._get_only(method) or self._ok(request, payloads.root, "root")
        elif parts == ["info"]:
            resp = self._get_only(method) or self._ok(request, payloads.info, "server-info")
        elif parts == ["session"]:
            resp = self._session(request, ident, payloads)
        elif parts[0] != "users":
            resp = _html(404, _RB_404)
        elif self.sitewide_login and ident.user is None:
            resp = _not_logged_in()
        elif n == 1:
            resp = self._get_only(method) or self._users_list(request, ident, payloads)
        elif not USERNAME_RE.match(parts[1]):
            resp = _html(404, _RB_404)
        elif n == 2:
            resp = self._get_only(method) or self._user_item(request, ident, parts[1], payloads)
        elif parts[2] != "api-tokens" or n > 4 or (n == 4 and not parts[3].isdigit()):
            resp = _html(404, _RB_404)
        elif n == 3:
            resp = await self._token_list(request, ident, parts[1], payloads)
        else:
            resp = await self._token_item(request, ident, parts[1], int(parts[3]), payloads)
        if ident.set_cookie is not None:
            resp.headers["Set-Cookie"] = ident.set_cookie
        return resp

    @staticmethod
    def _get_only(method: str, allow: str = "GET") -> web.Response | None:
        if method in allow.split(", "):
            return None
        return _html(405, "", {"Allow": allow})

    def _ok(
        self,
        request: web.Request,
        body: bytes,
        mime: str,
        *,
        item_mime: str | None = None,
        status: int = 200,
        etag: bool = True,
    ) -> web.Response:
        headers = {"Content-Type": MIME.format(mime), "Vary": VARY}
        if item_mime is not None:
            headers["Item-Content-Type"] = MIME.format(item_mime)
        if etag and self.etags:
            tag = hashlib.sha256(body).hexdigest()
            if request.headers.get("If-None-Match") == tag:
                self.stats.not_modified += 1
                return web.Response(status=304, headers={"ETag": tag, "Vary": VARY})
            headers["ETag"] = tag
        return web.Response(status=status, body=body, headers=headers)

    def _session(self, request: web.Request, ident: _Identity, p: _Payloads) -> web.Response:
        if request.method == "DELETE":
            if ident.user is None:
                return _not_logged_in()
            key = request.cookies.get(SESSION_COOKIE)
            if key:
                self._sessions.pop(key, None)
            resp = web.Response(status=204)
            resp.headers["Set-Cookie"] = f'{SESSION_COOKIE}=""; Max-Age=0; Path=/'
            ident.set_cookie = None
            return resp
        return self._get_only(request.method, "GET, DELETE") or self._ok(
            request, p.session(ident.user), "session"
        )

    def _page(self, request: web.Request) -> tuple[int, int]:
        query = request.query
        start = 0
        if "start" in query:
            start = max(0, _parse_int("start", query["start"]))
        size = DEFAULT_MAX_RESULTS
        if "max-results" in query:
            size = _parse_int("max-results", query["max-results"])
            if size < 0:
                raise _Answer(_html(500, _RB_500))
            size = min(size, MAX_RESULTS_CAP)
        return start, size

    def _list_links(
        self, request: web.Request, origin: str, start: int, size: int, shown: int, total: int
    ) -> dict[str, dict[str, str]]:
        base = origin + request.path
        qs = request.query_string
        others = [(k, v) for k, v in request.query.items() if k not in ("start", "max-results")]
        extra = ("&" + urlencode(others)) if others else ""
        links = {
            "create": _link(base, "POST"),
            "self": _link(base + (f"?{qs}" if qs else "")),
        }
        if start + shown < total:
            links["next"] = _link(f"{base}?start={start + size}&max-results={size}{extra}")
        if start > 0:
            links["prev"] = _link(f"{base}?start={max(0, start - size)}&max-results={size}{extra}")
        return links

    def _users_list(self, request: web.Request, ident: _Identity, p: _Payloads) -> web.Response:
        query = request.query
        users = self.dataset.visible_users(include_inactive=_truthy(query.get("include-inactive")))
        q = query.get("q")
        if q:
            prefix = q.lower()
            users = [u for u in users if u.username.lower().startswith(prefix)]
        if query.get("counts-only"):
            return self._ok(request, _enc.encode({"count": len(users), "stat": "ok"}), "users")
        start, size = self._page(request)
        page = users[start : start + size]
        view = request_view(query)
        links = self._list_links(request, p.origin, start, size, len(page), len(users))
        if _expands_tokens(query, view):
            items = [self._user_with_tokens(u, ident, view, p) for u in page]
        else:
            items = [p.user(u, view) for u in page]
        body = b"".join(
            (
                b'{"links":',
                _enc.encode(links),
                b',"stat":"ok","total_results":',
                str(len(users)).encode(),
                b',"users":[',
                b",".join(items),
                b"]}",
            )
        )
        return self._ok(request, body, "users", item_mime="user")

    def _user_with_tokens(
        self, user: UserRecord, ident: _Identity, view: View, p: _Payloads
    ) -> bytes:
        """A user with ``expand=api_tokens``, as Review Board 8.1 serializes it.

        The tokens are inlined (``only-fields``/``only-links`` apply to them
        too) and the ``api_tokens`` link gives way to an ``_expanded`` entry.
        Review Board 8.1 checks no permission here: anyone who may list users,
        anonymous requests included, gets every token, secret and all.
        ``fix_expand_leak`` shows only the tokens the requester may list.
        """
        obj = p._user_obj(user)
        link = obj["links"].pop("api_tokens")
        obj = _apply_view(obj, view)
        tokens = user.tokens
        if self.fix_expand_leak:
            me = ident.user
            allowed = me is not None and not ident.via_token and (me.is_superuser or me is user)
            tokens = tokens if allowed else []
        obj["_expanded"] = {
            "api_tokens": {
                "item_mimetype": MIME.format("api-token"),
                "list_mimetype": MIME.format("api-tokens"),
                "list_url": link["href"],
            }
        }
        obj["api_tokens"] = [_apply_view(p._token_obj(t), view) for t in tokens]
        return _enc.encode(obj)

    def _user_item(
        self, request: web.Request, ident: _Identity, username: str, p: _Payloads
    ) -> web.Response:
        user = self.dataset.users.get(username)
        if user is None:
            return _error(404, 100, "Object does not exist", "resource-does-not-exist")
        view = request_view(request.query)
        if _expands_tokens(request.query, view):
            item = self._user_with_tokens(user, ident, view, p)
        else:
            item = p.user(user, view)
        return self._ok(request, b'{"stat":"ok","user":' + item + b"}", "user")

    def _token_owner(self, ident: _Identity, username: str) -> UserRecord:
        if ident.user is None:
            raise _Answer(_not_logged_in())
        if ident.via_token:
            raise _Answer(_permission_denied())
        owner = self.dataset.users.get(username)
        if not ident.user.is_superuser:
            if owner is None:
                raise _Answer(_html(500, _RB_500))
            if owner is not ident.user:
                raise _Answer(_permission_denied())
        if owner is None:
            raise _Answer(_error(404, 100, "Object does not exist", "resource-does-not-exist"))
        return owner

    async def _token_list(
        self, request: web.Request, ident: _Identity, username: str, p: _Payloads
    ) -> web.Response:
        refused = self._get_only(request.method, "GET, POST")
        if refused is not None:
            return refused
        owner = self._token_owner(ident, username)
        if request.method == "POST":
            return await self._create_token(request, owner, p)
        if request.query.get("counts-only"):
            body = _enc.encode({"count": len(owner.tokens), "stat": "ok"})
            return self._ok(request, body, "api-tokens")
        start, size = self._page(request)
        tokens = owner.tokens
        page = tokens[start : start + size]
        view = request_view(request.query)
        links = self._list_links(request, p.origin, start, size, len(page), len(tokens))
        body = b"".join(
            (
                b'{"api_tokens":[',
                b",".join([p.token(t, view) for t in page]),
                b'],"links":',
                _enc.encode(links),
                b',"stat":"ok","total_results":',
                str(len(tokens)).encode(),
                b"}",
            )
        )
        return self._ok(request, body, "api-tokens", item_mime="api-token")

    async def _token_item(
        self,
        request: web.Request,
        ident: _Identity,
        username: str,
        token_id: int,
        p: _Payloads,
    ) -> web.StreamResponse:
        refused = self._get_only(request.method, "GET, PUT, DELETE")
        if refused is not None:
            return refused
        owner = self._token_owner(ident, username)
        token = self.dataset.tokens.get(token_id)
        if token is None or token.owner != owner.username:
            return _error(404, 100, "Object does not exist", "resource-does-not-exist")
        if request.method == "DELETE":
            owner.tokens.remove(token)
            del self.dataset.tokens[token_id]
            self.changed(owner.username, token_id)
            if self.delete_quirk:
                return self._delete_with_body(request)
            return web.Response(status=204)
        if request.method == "PUT":
            resp = await self._update_token(request, token)
            if resp is not None:
                return resp
            self.changed(owner.username, token_id)
            return self._ok(request, _token_envelope(p.token(token)), "api-token", etag=False)
        item = p.token(token, request_view(request.query))
        resp = self._ok(request, _token_envelope(item), "api-token")
        resp.headers["Last-Modified"] = _http_date(token.last_updated)
        return resp

    def _delete_with_body(self, request: web.Request) -> web.Response:
        # Review Board 8.1 sends "204 No Content" *with* a 14-byte body.
        transport = request.transport
        if transport is not None:
            transport.write(
                b"HTTP/1.1 204 No Content\r\nContent-Type: application/json\r\n"
                b'Content-Length: 14\r\n\r\n{"stat": "ok"}'
            )
            transport.close()
        return web.Response(status=204)

    async def _create_token(
        self, request: web.Request, owner: UserRecord, p: _Payloads
    ) -> web.Response:
        form = await request.post()
        missing = [name for name in ("note", "policy") if not form.get(name)]
        if missing:
            return _error(
                400,
                105,
                "One or more fields had errors",
                "request-field-error",
                fields={name: ["This field is required"] for name in missing},
            )
        policy = _load_policy(str(form["policy"]))
        if policy is None:
            return _html(500, _RB_500)  # Review Board 8.1 crashes on any invalid policy.
        expires: datetime | None = None
        if form.get("expires"):
            try:
                expires = _parse_expires(str(form["expires"]))
            except ValueError:
                return _field_error("expires", ["Enter a valid date/time."])
        token = self.dataset.add_token(
            owner.username,
            note=str(form["note"]),
            policy=policy,
            expires=expires,
            rng=random.Random(secrets.randbits(64)),
        )
        token.kind = TokenKind.HEALTHY
        token.last_used = None
        token.time_added = token.last_updated = datetime.now(UTC)
        token.extra_data = {}
        self.changed(owner.username)
        return self._ok(
            request, _token_envelope(p.token(token)), "api-token", status=201, etag=False
        )

    async def _update_token(self, request: web.Request, token: TokenRecord) -> web.Response | None:
        form = await request.post()
        if "policy" in form:
            policy = _load_policy(str(form["policy"]))
            if policy is None:
                return _field_error("policy", "The policy is not valid.")
            token.policy = policy
        if "note" in form:
            token.note = str(form["note"])
        if "expires" in form:
            raw = str(form["expires"])
            try:
                token.expires = _parse_expires(raw) if raw else None
            except ValueError:
                return _field_error("expires", ["Enter a valid date/time."])
            token.extra_data["expired_notification_sent"] = False
        if "valid" in form:
            if _truthy(str(form["valid"])):
                return _field_error("valid", "This field can only be set to false.")
            if self.fix_invalidate_bug:
                token.valid = False
                token.invalid_date = datetime.now(UTC)
                token.invalid_reason = str(form.get("invalid_reason", ""))
            # Else Review Board 8.1's bug: the invalidation is written back over.
        for key, value in form.items():
            if key.startswith("extra_data.") and not key.startswith("extra_data.__"):
                name = key[len("extra_data.") :]
                if value == "":
                    token.extra_data.pop(name, None)
                else:
                    token.extra_data[name] = _coerce_extra(str(value))
        token.last_updated = datetime.now(UTC)
        return None


def _route_name(parts: list[str]) -> str:
    if not parts:
        return "root"
    if parts[0] != "users" or len(parts) == 1:
        return "/".join(parts)
    return "/".join(["users", "*", *("*" if p.isdigit() else p for p in parts[2:])])


def _permission_denied() -> web.Response:
    return _error(403, 101, "You don't have permission for this", "resource-permission-denied")


def _token_envelope(item: bytes) -> bytes:
    return b'{"api_token":' + item + b',"stat":"ok"}'


def _http_date(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def _load_policy(raw: str) -> dict[str, Any] | None:
    try:
        policy = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(policy, dict):
        return None
    if policy and not (isinstance(policy.get("resources"), dict) and policy["resources"]):
        return None
    return policy


def _parse_expires(raw: str) -> datetime:
    value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _coerce_extra(value: str) -> Any:
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


# --------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------


async def start_standin(
    *,
    users: int = 0,
    delay: float = 0.0,
    faults: FaultPolicy | None = None,
    seed: int = 0,
    tokens_per_user: tuple[int, int] = (0, 3),
    inactive_fraction: float = 0.1,
    dataset: Dataset | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    etags: bool = True,
    delete_quirk: bool = False,
    fix_invalidate_bug: bool = False,
    sitewide_login: bool = False,
    fix_expand_leak: bool = False,
    warm: bool = True,
) -> StandIn:
    """Generate a dataset (or use ``dataset``), start serving, return the :class:`StandIn`.

    ``delay`` seconds are added to every response. ``faults`` is a
    :data:`FaultPolicy` (e.g. a :class:`FaultPlan`). ``etags`` sends
    unquoted ETags and honours ``If-None-Match``. ``delete_quirk`` answers
    DELETE like Review Board 8.1 does (``204`` with a 14-byte body, which
    aiohttp's C parser chokes on). ``fix_invalidate_bug`` makes
    ``PUT valid=false`` persist (Review Board 8.1 silently drops it).
    ``sitewide_login`` answers anonymous requests for users with 401, as
    Review Board's "require login to view anything" does. ``fix_expand_leak``
    makes ``/api/users/?expand=api_tokens`` show only the tokens the
    requester may list (Review Board 8.1 shows everyone's, to anyone).
    """
    if dataset is None:
        dataset = Dataset.generate(
            users,
            seed=seed,
            tokens_per_user=tokens_per_user,
            inactive_fraction=inactive_fraction,
        )
    standin = StandIn(
        dataset,
        delay=delay,
        faults=faults,
        etags=etags,
        delete_quirk=delete_quirk,
        fix_invalidate_bug=fix_invalidate_bug,
        sitewide_login=sitewide_login,
        fix_expand_leak=fix_expand_leak,
    )
    await standin.start(host=host, port=port, warm=warm)
    return standin


@contextlib.asynccontextmanager
async def serve(**kwargs: Any) -> AsyncIterator[StandIn]:
    """``async with serve(users=10) as rb:`` — :func:`start_standin`, closed on exit."""
    standin = await start_standin(**kwargs)
    try:
        yield standin
    finally:
        await standin.aclose()


@contextlib.contextmanager
def serve_in_thread(**kwargs: Any) -> Iterator[StandIn]:
    """Run the stand-in on its own event loop in a daemon thread (for sync clients)."""
    loop = asyncio.new_event_loop()
    ready: list[StandIn] = []
    failed: list[BaseException] = []
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            ready.append(loop.run_until_complete(start_standin(**kwargs)))
        except BaseException as exc:  # noqa: BLE001 - reported to the caller's thread
            failed.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="standin", daemon=True)
    thread.start()
    started.wait()
    if failed:
        raise failed[0]
    standin = ready[0]
    try:
        yield standin
    finally:
        asyncio.run_coroutine_threadsafe(standin.aclose(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


def _parse_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    return int(low), int(high or low)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: serve until SIGTERM or SIGINT; the first line printed is the URL."""
    parser = argparse.ArgumentParser(description="A Review Board 8.1-shaped stand-in server.")
    parser.add_argument("--users", type=int, default=100, help="generated users (plus admin)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds added to every response")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tokens", default="0-3", help="tokens per user, MIN-MAX (default 0-3)")
    parser.add_argument("--inactive", type=float, default=0.1, help="inactive users fraction")
    parser.add_argument("--faults", help="a FaultPlan as JSON, e.g. '{\"reset\": 0.01}'")
    parser.add_argument("--delete-quirk", action="store_true")
    parser.add_argument("--no-etags", action="store_true")
    parser.add_argument("--stats", action="store_true", help="print stats as JSON on exit")
    args = parser.parse_args(argv)

    async def run() -> None:
        standin = await start_standin(
            users=args.users,
            delay=args.delay,
            host=args.host,
            port=args.port,
            seed=args.seed,
            tokens_per_user=_parse_range(args.tokens),
            inactive_fraction=args.inactive,
            faults=FaultPlan.from_json(args.faults) if args.faults else None,
            delete_quirk=args.delete_quirk,
            etags=not args.no_etags,
        )
        print(standin.url, flush=True)
        print(
            f"users={len(standin.dataset.users)} tokens={standin.dataset.token_count} "
            "admin password: admin; other users: password",
            file=sys.stderr,
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        if args.stats:
            print(json.dumps(standin.stats.as_dict()), file=sys.stderr, flush=True)
        await standin.aclose()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
