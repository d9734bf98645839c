"""The stand-in's one dataset: users and tokens, generated or built by hand.

Every adapter (the aiohttp server, the in-process transport, the test
builders in :mod:`.testing`) serves the same :class:`Dataset`. It is plain
data: tests may add users and tokens or change records, and then tell the
serving :class:`~tools.standin.core.ReviewBoard` with ``changed()`` so that it
drops cached payloads.
"""

from __future__ import annotations

import random
import re
import string
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from .records import READ_ONLY_POLICY, TokenKind, TokenRecord, UserRecord

__all__ = ["USERNAME_RE", "Dataset", "vendor_token"]

USERNAME_RE = re.compile(r"^[A-Za-z0-9@._\-'+]+$")
TOKEN_CHARSET = string.digits + string.ascii_uppercase + string.ascii_lowercase


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


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Dataset:
    """Users and their tokens, generated deterministically from a seed.

    User 1 is the superuser ``admin`` (unless ``admin=False``). Generated
    users are ``audit_00000``, ``audit_00001``, ... with password
    ``password``; about ``inactive_fraction`` of them are inactive (hidden
    from ``/api/users/`` unless ``include-inactive=1``). Each gets a number of
    tokens drawn from ``tokens_per_user`` (inclusive range), each of a kind
    drawn from ``kinds``.

    ``now`` anchors the generated timestamps; ``clock`` is the server's time
    (``expired`` is computed against it on every request, as Review Board does).
    """

    def __init__(
        self,
        *,
        now: datetime | None = None,
        admin_password: str = "admin",
        admin: bool = True,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.now = (now or datetime.now(UTC)).replace(microsecond=0)
        self.clock = clock
        self.users: dict[str, UserRecord] = {}
        self.tokens: dict[int, TokenRecord] = {}
        self.next_user_id = 1
        self.next_token_id = 1
        if admin:
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

    # -- users -------------------------------------------------------------

    def add_user(
        self,
        username: str,
        *,
        password: str = "password",
        is_active: bool = True,
        is_superuser: bool = False,
        id: int | None = None,
        hidden: bool = False,
    ) -> UserRecord:
        """Add a user (the next id unless ``id`` is given); returns its record."""
        if not USERNAME_RE.match(username) or username in self.users:
            raise ValueError(f"bad or duplicate username {username!r}")
        uid = self.next_user_id if id is None else id
        user = UserRecord(uid, username, password, is_active, is_superuser, hidden=hidden)
        self.next_user_id = max(self.next_user_id, uid + 1)
        self.users[username] = user
        return user

    def remove_user(self, username: str) -> UserRecord:
        """Delete a user and, as Review Board's cascade does, their tokens."""
        user = self.users.pop(username)
        for token in user.tokens:
            self.tokens.pop(token.id, None)
        return user

    def visible_users(self, *, include_inactive: bool) -> list[UserRecord]:
        """Users as the users list shows them, in id order."""
        users = [u for u in self.users.values() if not u.hidden]
        if include_inactive:
            return users
        return [u for u in users if u.is_active]

    # -- tokens ------------------------------------------------------------

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
        """Generate a token of ``kind`` for ``username``; returns its record."""
        rng = rng or random.Random(self.next_token_id)
        now = self.now
        user = self.users[username]

        def ago(lo: float, hi: float) -> datetime:
            return now - timedelta(days=rng.uniform(lo, hi), microseconds=rng.randrange(10**6))

        def ahead(lo: float, hi: float) -> datetime:
            return now + timedelta(days=rng.uniform(lo, hi), microseconds=rng.randrange(10**6))

        added = ago(30, 900)
        index = note_index if note_index is not None else len(user.tokens)
        rec = TokenRecord(
            id=self.next_token_id,
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
        _shape(rec, kind, rng, ago)
        if rng.random() < 0.1:
            rec.extra_data = {"client_name": "RBTools"}
        if policy is not None:
            rec.policy = policy
        if expires != "auto":
            rec.expires = expires if isinstance(expires, datetime) or expires is None else None
        return self.put(rec)

    def put_token(self, username: str, **fields: Any) -> TokenRecord:
        """Store a token with exactly these fields (defaults: a fresh full-access token).

        ``id`` defaults to the next id and ``token`` to a new ``rbp_`` secret;
        timestamps may be datetimes or ISO 8601 strings.
        """
        now = self.clock()
        tid = fields.pop("id", None)
        rec = TokenRecord(
            id=self.next_token_id if tid is None else int(tid),
            owner=username,
            kind=TokenKind.HEALTHY,
            token=fields.pop("token", None) or vendor_token(random.Random()),
            note="",
            policy={},
            time_added=now,
            last_updated=now,
        )
        for name, value in fields.items():
            rec.set(name, value)
        return self.put(rec)

    def put(self, rec: TokenRecord) -> TokenRecord:
        """Store ``rec`` (its owner must exist; its id must be free)."""
        if rec.id in self.tokens:
            raise ValueError(f"token id {rec.id} is taken")
        self.users[rec.owner].tokens.append(rec)
        self.tokens[rec.id] = rec
        self.next_token_id = max(self.next_token_id, rec.id + 1)
        return rec

    def remove_token(self, token_id: int) -> TokenRecord:
        """Delete a token."""
        rec = self.tokens.pop(token_id)
        owner = self.users.get(rec.owner)
        if owner is not None:
            owner.tokens.remove(rec)
        return rec

    def find_token(self, secret: str) -> TokenRecord | None:
        """The token whose secret is ``secret``."""
        return next((t for t in self.tokens.values() if t.token == secret), None)

    @property
    def token_count(self) -> int:
        """How many tokens exist."""
        return len(self.tokens)

    def kind_counts(self) -> Counter[TokenKind]:
        """How many tokens of each kind exist."""
        return Counter(t.kind for t in self.tokens.values())

    def summary(self) -> dict[str, Any]:
        """Counts for the control endpoint."""
        return {
            "users": len(self.users),
            "active_users": sum(1 for u in self.users.values() if u.is_active),
            "tokens": self.token_count,
            "kinds": {k.value: n for k, n in sorted(self.kind_counts().items())},
        }


def _shape(
    rec: TokenRecord,
    kind: TokenKind,
    rng: random.Random,
    ago: Callable[[float, float], datetime],
) -> None:
    """Give a generated token what makes it a token of ``kind``."""
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
