"""Token audits: which API tokens on a server are a risk.

:func:`audit` walks every user (inactive ones too: their tokens still work)
and every token, judges each token from its metadata alone (it never logs in
with a token), and returns a :class:`Report`. :func:`audit_stream` yields the
findings as they are found. :func:`revoke_findings` deletes the tokens behind
chosen findings, as a dry run unless ``apply=True``.

The walk: the first users page gives ``total_results``; the other pages are
fetched concurrently at computed offsets, and each user's token listing starts
as soon as its users page arrives. A fixed pool of ``concurrency`` workers
does every request, so no more than that many are ever in flight. All of them
share the client's one logged-in session (one password check per audit), and
the client's :class:`~rbtokens.client.RetryPolicy` honours 429 and
``Retry-After``. A user whose tokens cannot be read is listed under
``failures``; none is skipped silently.

The users list has no ORDER BY, so users added or deleted during the walk
shift the offsets. When the pages disagree (a changing ``total_results``, a
user listed twice, fewer users than reported), the list is read again
serially by its ``next`` links and every user not yet seen is audited; if it
still does not add up, a :class:`Failure` with no username makes the report
incomplete. Without an administrator login, other users' token lists answer
403: after the first few the walk stops with one failure saying so.

Rules and default severities (change them with :class:`Rules`):

====================  ========  ==============================================
rule                  severity  a finding for
====================  ========  ==============================================
secrets-exposed       critical  a server that shows token secrets to anyone
unrestricted-policy   high      a usable token whose global policy denies nothing
inactive-owner        medium    a usable token whose owner is inactive
no-expiry             medium    a usable token that never expires
deprecated-generator  medium    a usable token in the legacy SHA-1 format
stale                 low       a usable token last used over 90 days ago
never-used            low       a usable token added over 30 days ago, unused
too-many-tokens       low       a user with more than 10 tokens (per user)
expiring-soon         info      a usable token expiring within 14 days
expired               info      an expired token still on record
invalid               info      an invalidated token still on record
====================  ========  ==============================================

A token is *usable* when it is valid and not expired (the server's ``valid``
ignores expiry). Expired and invalid tokens cannot be used, so they only get
the ``expired``/``invalid`` findings, which say the record can go. *Usable*
describes the token, not its owner: Review Board refuses every token of an
inactive user (401), but the token works again if the account is reactivated,
which is what ``inactive-owner`` reports.

``secrets-exposed`` judges the server (its finding has no username and no
token id). Review Board 8.1 checks no permission when a user is serialized
with ``expand=api_tokens``: anyone who may see users, anonymous requests
included on a default install, gets every user's tokens, secrets and all.
Once the walk has seen a user with tokens, the audit asks for that user,
*without credentials*, through the user resource and the users list with
``expand=api_tokens`` and only the ``id`` field (so no secret is fetched).
Any token listed is a finding. ``Summary.exposure_check`` says what the check
found: ``exposed``, ``not-exposed``, ``anonymous-refused`` (a warning adds
that logged-in users were not checked), ``no-tokens`` (nothing to look for),
``failed`` (also a failure: the report is incomplete) or ``off``.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

import anyio
import msgspec
from anyio.abc import TaskGroup
from yarl import URL

from ..errors import (
    AuthenticationError,
    PasswordLoginRequiredError,
    PermissionDeniedError,
    RBTokensError,
    UnexpectedContentType,
    first_error,
)
from ..policy import is_unrestricted
from ..resources import APIToken, ListResource
from ..wire import MAX_RESULTS, encode_query

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectReceiveStream

    from ..client import RBClient
    from ..resources import Root, User

__all__ = [
    "RULES",
    "AuditStream",
    "ExposureCheck",
    "Failure",
    "Finding",
    "Report",
    "RevokeResult",
    "Rules",
    "Severity",
    "Summary",
    "TokenRecord",
    "audit",
    "audit_stream",
    "revoke_findings",
    "validate_revoke_rules",
]


class Severity(enum.StrEnum):
    """How much a finding matters, from ``info`` to ``critical``."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for ``info`` up to 4 for ``critical``."""
        return _RANK[self]


_RANK = {s: i for i, s in enumerate(Severity)}

#: Every rule, in report order.
RULES: tuple[str, ...] = (
    "expired",
    "expiring-soon",
    "never-used",
    "stale",
    "no-expiry",
    "unrestricted-policy",
    "deprecated-generator",
    "invalid",
    "inactive-owner",
    "too-many-tokens",
    "secrets-exposed",
)

#: Rules that judge one user rather than one token (their findings carry no token id).
USER_RULES = frozenset({"too-many-tokens"})

#: Rules that judge the server (their findings carry no username and no token id).
SERVER_RULES = frozenset({"secrets-exposed"})

DEFAULT_SEVERITIES: Mapping[str, Severity] = {
    "expired": Severity.INFO,
    "expiring-soon": Severity.INFO,
    "never-used": Severity.LOW,
    "stale": Severity.LOW,
    "no-expiry": Severity.MEDIUM,
    "unrestricted-policy": Severity.HIGH,
    "deprecated-generator": Severity.MEDIUM,
    "invalid": Severity.INFO,
    "inactive-owner": Severity.MEDIUM,
    "too-many-tokens": Severity.LOW,
    "secrets-exposed": Severity.CRITICAL,
}

#: The token fields an audit asks for: no secret, no links, no extra_data.
TOKEN_FIELDS = ",".join(
    (
        "id",
        "note",
        "policy",
        "expires",
        "expired",
        "valid",
        "invalid_reason",
        "last_used",
        "time_added",
        "token_generator_id",
        "deprecated",
    )
)
USER_FIELDS = "id,username,is_active"
USER_LINKS = "api_tokens"
_TOKEN_QUERY = encode_query(
    {"max_results": MAX_RESULTS, "only_fields": TOKEN_FIELDS, "only_links": ""}
)
# The secrets-exposed check: token ids only, never a secret. The link must be
# in only-links: Review Board expands only the links it would show.
_EXPOSURE_QUERY = {
    "expand": "api_tokens",
    "only_fields": "id,username,api_tokens",
    "only_links": "api_tokens",
}


class _SeenUser(msgspec.Struct):
    """A user as an anonymous request sees it: whatever tokens are inlined."""

    username: str
    api_tokens: list[dict[str, Any]] = msgspec.field(default_factory=list)


class _SeenList(msgspec.Struct):
    users: list[_SeenUser]


class _SeenItem(msgspec.Struct):
    user: _SeenUser


ExposureCheck = Literal["exposed", "not-exposed", "anonymous-refused", "no-tokens", "failed", "off"]
"""What the secrets-exposed check found (see the module docstring)."""


class Rules(msgspec.Struct, kw_only=True):
    """Which rules run, their thresholds (in days) and their severities."""

    enabled: tuple[str, ...] = RULES
    expiring_soon_days: float = 14.0
    never_used_days: float = 30.0
    stale_days: float = 90.0
    max_tokens: int = 10
    severities: dict[str, Severity] = msgspec.field(
        default_factory=lambda: dict(DEFAULT_SEVERITIES)
    )

    def __post_init__(self) -> None:
        unknown = (set(self.enabled) | set(self.severities)) - set(RULES)
        if unknown:
            raise ValueError(f"unknown rule(s): {', '.join(sorted(unknown))}")
        if min(self.expiring_soon_days, self.never_used_days, self.stale_days) < 0:
            raise ValueError("rule thresholds must not be negative")
        if self.max_tokens < 0:
            raise ValueError("max_tokens must not be negative")
        full = {**DEFAULT_SEVERITIES, **self.severities}
        self.severities = {rule: Severity(full[rule]) for rule in RULES}
        enabled = set(self.enabled)
        self.enabled = tuple(rule for rule in RULES if rule in enabled)


class TokenRecord(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """What an audit keeps of one token: no secret, no policy, no links."""

    username: str
    id: int
    note: str
    expires: datetime | None
    expired: bool
    valid: bool
    usable: bool
    last_used: datetime | None
    deprecated: bool
    time_added: datetime | None = None
    token_generator_id: str = ""
    invalid_reason: str = ""
    owner_active: bool = True


class Finding(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """One rule that one token breaks (or one user, or the server).

    Per-user rules give no ``token_id``; server rules give no ``username`` either.
    """

    username: str | None
    token_id: int | None
    rule: str
    severity: Severity
    message: str


class Failure(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """Something the audit could not read.

    ``username`` is None for a users page, the users list or the secrets-exposed check.
    """

    username: str | None
    error: str
    error_type: str = ""
    http_status: int | None = None


class Summary(msgspec.Struct, kw_only=True):
    """Totals of one audit run."""

    server: str
    started_at: datetime
    now: datetime
    elapsed_seconds: float
    complete: bool
    users_listed: int
    users_audited: int
    users_failed: int
    inactive_users: int
    tokens_seen: int
    usable_tokens: int
    findings: dict[str, int]
    severities: dict[str, int]
    requests: int
    logins: int
    retries: int
    rate_limited_seconds: float
    exposure_check: ExposureCheck = "off"


class Report(msgspec.Struct, kw_only=True):
    """The result of :func:`audit`; ``msgspec.json.encode(report)`` exports it."""

    summary: Summary
    tokens: list[TokenRecord]
    findings: list[Finding]
    failures: list[Failure]
    warnings: list[str] = msgspec.field(default_factory=list)
    rules: Rules = msgspec.field(default_factory=Rules)

    @property
    def complete(self) -> bool:
        """True when every user was audited (the same as ``summary.complete``)."""
        return self.summary.complete

    def at_least(self, severity: Severity | str) -> list[Finding]:
        """The findings of ``severity`` or worse."""
        floor = Severity(severity).rank
        return [f for f in self.findings if f.severity.rank >= floor]

    def to_json(self) -> bytes:
        """The report as one JSON document."""
        return msgspec.json.encode(self)


# -- rule evaluation (pure) ----------------------------------------------------


def _plural(n: float, unit: str) -> str:
    return f"{n:g} {unit}" if n == 1 else f"{n:g} {unit}s"


def _age(delta: timedelta, threshold: float) -> str:
    """How long ago, in whole days, for a rule that fires above ``threshold`` days.

    Whole days round down, so an age just over the threshold would read as the
    threshold itself ("90 days" under "more than 90 days"): it then says "over".
    """
    days = int(delta.total_seconds() // 86400)
    if days > threshold:
        return f"{_plural(days, 'day')} ago"
    return f"over {_plural(threshold, 'day')} ago"


def _span(delta: timedelta) -> str:
    """A time left, to the nearest day (hours when under a day)."""
    seconds = delta.total_seconds()
    if seconds < 86400:
        return _plural(max(1, round(seconds / 3600)), "hour")
    return _plural(round(seconds / 86400), "day")


def _date(value: datetime) -> str:
    return value.date().isoformat()


class _Judge:
    """Applies the rules to one user's tokens; thresholds are computed once."""

    __slots__ = (
        "expiring_before",
        "max_tokens",
        "never_used_before",
        "never_used_days",
        "now",
        "on",
        "sev",
        "stale_before",
        "stale_days",
    )

    def __init__(self, rules: Rules, now: datetime) -> None:
        self.now = now
        self.on = frozenset(rules.enabled)
        self.sev = rules.severities
        self.expiring_before = now + timedelta(days=rules.expiring_soon_days)
        self.never_used_before = now - timedelta(days=rules.never_used_days)
        self.stale_before = now - timedelta(days=rules.stale_days)
        self.never_used_days = rules.never_used_days
        self.stale_days = rules.stale_days
        self.max_tokens = rules.max_tokens

    def judge(
        self,
        username: str,
        active: bool,
        tokens: Iterable[APIToken],
        records: list[TokenRecord],
        findings: list[Finding],
    ) -> int:
        """Append a record per token and the findings; return how many were usable."""
        on = self.on
        now = self.now
        usable_count = 0
        count = 0
        for t in tokens:
            count += 1
            tid = t.id
            expires = t.expires
            expired = t.expired or (expires is not None and expires <= now)
            valid = t.valid
            usable = valid and not expired
            records.append(
                TokenRecord(
                    username=username,
                    id=tid,
                    note=t.note,
                    expires=expires,
                    expired=expired,
                    valid=valid,
                    usable=usable,
                    last_used=t.last_used,
                    deprecated=t.deprecated,
                    time_added=t.time_added,
                    token_generator_id=t.token_generator_id,
                    invalid_reason=t.invalid_reason,
                    owner_active=active,
                )
            )
            if not usable:
                if expired and "expired" in on:
                    when = f" on {_date(expires)}" if expires is not None else ""
                    findings.append(
                        self._f(username, tid, "expired", f"expired{when}; the record can go")
                    )
                if not valid and "invalid" in on:
                    reason = f": {t.invalid_reason}" if t.invalid_reason else ""
                    findings.append(
                        self._f(username, tid, "invalid", f"invalidated{reason}; the record can go")
                    )
                continue
            usable_count += 1
            if expires is None:
                if "no-expiry" in on:
                    findings.append(self._f(username, tid, "no-expiry", "never expires"))
            elif expires <= self.expiring_before and "expiring-soon" in on:
                left = expires - now
                findings.append(
                    self._f(
                        username,
                        tid,
                        "expiring-soon",
                        f"expires in {_span(left)} ({_date(expires)})",
                    )
                )
            last_used = t.last_used
            if last_used is None:
                added = t.time_added
                if added is not None and added < self.never_used_before and "never-used" in on:
                    findings.append(
                        self._f(
                            username,
                            tid,
                            "never-used",
                            "never used since it was added "
                            + _age(now - added, self.never_used_days),
                        )
                    )
            elif last_used < self.stale_before and "stale" in on:
                findings.append(
                    self._f(
                        username,
                        tid,
                        "stale",
                        f"last used {_age(now - last_used, self.stale_days)} ({_date(last_used)})",
                    )
                )
            if "unrestricted-policy" in on and is_unrestricted(t.policy):
                what = (
                    "an empty policy ({})"
                    if not t.policy
                    else "a policy whose global section denies nothing"
                )
                findings.append(
                    self._f(username, tid, "unrestricted-policy", f"full access: {what}")
                )
            legacy = t.token_generator_id == "legacy_sha1"  # noqa: S105
            if (t.deprecated or legacy) and ("deprecated-generator" in on):
                gen = t.token_generator_id or "deprecated"
                findings.append(
                    self._f(
                        username,
                        tid,
                        "deprecated-generator",
                        f"deprecated token format ({gen}); rotate it",
                    )
                )
            if not active and "inactive-owner" in on:
                findings.append(
                    self._f(
                        username,
                        tid,
                        "inactive-owner",
                        "the owner is inactive: refused now, works again if the account "
                        "is reactivated",
                    )
                )
        if count > self.max_tokens and "too-many-tokens" in on:
            findings.append(
                self._f(
                    username,
                    None,
                    "too-many-tokens",
                    f"{count} tokens (more than {self.max_tokens})",
                )
            )
        return usable_count

    def _f(self, username: str, token_id: int | None, rule: str, message: str) -> Finding:
        return Finding(
            username=username,
            token_id=token_id,
            rule=rule,
            severity=self.sev[rule],
            message=message,
        )


def judge_tokens(
    username: str,
    tokens: Iterable[APIToken],
    *,
    active: bool = True,
    rules: Rules | None = None,
    now: datetime | None = None,
) -> tuple[list[TokenRecord], list[Finding]]:
    """Apply the rules to one user's tokens, without any I/O."""
    records: list[TokenRecord] = []
    findings: list[Finding] = []
    _Judge(rules or Rules(), now or datetime.now(UTC)).judge(
        username, active, tokens, records, findings
    )
    return records, findings


# -- the walk --------------------------------------------------------------------

ProgressCallback = Callable[[int, int | None], None]
"""Called as ``progress(users_done, users_total)``; the total is None until known."""

# A job: ("users", start, size) | ("user", username, active, tokens_href) | ("lookup", username)
# | ("rewalk",) | ("exposure", username)
_Job = tuple[Any, ...]

#: Token lists answered 403 before a walk of every user concludes that the
#: login is not an administrator's and stops.
FORBIDDEN_LIMIT = 3
_Sink = Callable[[list[Finding]], Any]


class _Walk:
    """One audit run: a pool of workers over a queue of users pages and users."""

    def __init__(
        self,
        client: RBClient,
        *,
        concurrency: int,
        rules: Rules,
        now: datetime | None,
        users: Iterable[str] | None,
        progress: ProgressCallback | None,
        sink: _Sink | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.client = client
        self.concurrency = concurrency
        self.rules = rules
        self.now = now if now is not None else datetime.now(UTC)
        if self.now.tzinfo is None:
            raise ValueError("now must be an aware datetime")
        self.only_users = list(dict.fromkeys(users)) if users is not None else None
        self.progress = progress
        self.sink = sink
        self.judge = _Judge(rules, self.now)
        self.records: list[TokenRecord] = []
        self.findings: list[Finding] = []
        self.failures: list[Failure] = []
        self.warnings: list[str] = []
        self.seen_users: set[int | str] = set()
        self.users_total: int | None = None
        self.users_listed = 0
        self.users_done = 0
        self.users_audited = 0
        self.inactive = 0
        self.usable = 0
        self.max_total = 0
        self.totals: set[int] = set()
        self.shifted = False  # the users list changed under the concurrent walk
        self.page_failed = False
        self.rewalk_added = 0
        self.forbidden: list[Failure] = []
        self.stopped = False
        self.exposure: ExposureCheck = "off"
        if "secrets-exposed" in rules.enabled:
            self.exposure = "no-tokens"  # until a user with tokens is seen
        self._pending = 0
        self._tail_start = 0
        self._jobs: deque[_Job] = deque()
        self._idle: anyio.Event | None = None
        self._root: Root | None = None

    # -- queue ---------------------------------------------------------------
    # A deque plus one wake-up event: cheaper per job than a memory stream,
    # which yields to the event loop on every receive.

    def _submit(self, job: _Job) -> None:
        if self.stopped and job[0] != "exposure":
            return
        self._pending += 1
        self._jobs.append(job)
        self._wake()

    def _wake(self) -> None:
        if self._idle is not None:
            self._idle.set()
            self._idle = None

    async def _worker(self) -> None:
        jobs = self._jobs
        while True:
            if not jobs:
                if self._pending == 0:
                    return
                if self._idle is None:
                    self._idle = anyio.Event()
                await self._idle.wait()
                continue
            job = jobs.popleft()
            try:
                kind = job[0]
                if kind == "user":
                    await self._audit_user(job[1], job[2], job[3])
                elif kind == "users":
                    await self._users_page(job[1], job[2])
                elif kind == "lookup":
                    await self._lookup_user(job[1])
                elif kind == "exposure":
                    await self._check_exposure(job[1])
                else:
                    await self._rewalk()
            finally:
                self._pending -= 1
                if self._pending == 0:
                    self._wake()

    async def run(self) -> Report:
        """Walk everything and build the report."""
        client = self.client
        if client.uses_api_token:
            raise PasswordLoginRequiredError(
                "an audit needs a password login: Review Board refuses API-token "
                "sessions access to API tokens"
            )
        stats = client.stats
        base = (stats.requests, stats.logins, stats.retries, stats.rate_limited_seconds)
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        root = await client.get_root()
        self._root = root
        first = None
        if self.only_users is None:
            first = await root.get_users(
                include_inactive=True,
                max_results=MAX_RESULTS,
                only_fields=USER_FIELDS,
                only_links=USER_LINKS,
            )
        if first is None:
            assert self.only_users is not None
            self.users_total = len(self.only_users)
            for name in self.only_users:
                self._submit(("lookup", name))
        else:
            self._plan_pages(first)
            self._add_users(first)
        self._report_progress()
        await self._run_workers()
        drifted = self.shifted or self.users_listed < self.max_total
        if first is not None and drifted and not self.stopped and not self.page_failed:
            # Offsets moved under the concurrent walk: read the list again by its
            # ``next`` links, auditing whoever was not seen yet.
            self._submit(("rewalk",))
            await self._run_workers()
        self._settle_forbidden()
        elapsed = time.perf_counter() - t0
        return self._report(started, elapsed, base)

    async def _run_workers(self) -> None:
        workers = min(self.concurrency, max(1, self._pending_hint()))
        async with anyio.create_task_group() as tg:
            for _ in range(workers):
                tg.start_soon(self._worker)

    def _stop(self) -> None:
        """Drop every queued job and accept no more (in-flight requests finish)."""
        self.stopped = True
        kept = [job for job in self._jobs if job[0] == "exposure"]  # about the server
        self._pending -= len(self._jobs) - len(kept)
        self._jobs.clear()
        self._jobs.extend(kept)
        if self._pending == 0:
            self._wake()

    def _settle_forbidden(self) -> None:
        """403s on token lists: one failure when they stopped the walk, else one per user."""
        if not self.stopped:
            self.failures.extend(self.forbidden)
            return
        self.failures.append(
            Failure(
                username=None,
                error=(
                    "auditing every user needs an administrator login: Review Board refused "
                    f"{len(self.forbidden)} users' token lists (403), so the audit stopped"
                ),
                error_type="PermissionDeniedError",
                http_status=403,
            )
        )

    def _pending_hint(self) -> int:
        if self.users_total is not None:
            return self.users_total
        return self._pending

    # -- users -----------------------------------------------------------------

    def _plan_pages(self, first: ListResource[User]) -> None:
        total = first.total_results
        size = len(first.items)
        self.users_total = total
        self.max_total = max(self.max_total, total or 0)
        if total is not None:
            self.totals.add(total)
        if not first.has_link("next") or size == 0:
            return
        starts = range(size, total, size) if total is not None else range(size, size + 1)
        for start in starts:
            self._submit(("users", start, size))
        # The planned page after which ``next`` links are followed (the list grew).
        self._tail_start = starts[-1] if starts else size

    async def _users_page(self, start: int, size: int) -> None:
        assert self._root is not None
        end = f"{start + 1}-{start + size}"
        try:
            page = await self._root.get_users(
                include_inactive=True,
                max_results=size,
                start=start,
                only_fields=USER_FIELDS,
                only_links=USER_LINKS,
            )
        except AuthenticationError:
            raise
        except RBTokensError as exc:
            self.page_failed = True
            self.failures.append(_failure(None, exc, prefix=f"users {end}: "))
            return
        total = page.total_results
        if total is not None:
            self.totals.add(total)
            self.shifted |= len(self.totals) > 1
            self.max_total = max(self.max_total, total)
            if self.users_total is not None and total > self.users_total:
                self.users_total = total
        if self._add_users(page) < len(page.items):
            self.shifted = True  # a user seen on an earlier page: the offsets moved
        # The list grew while the audit ran: follow ``next`` past the planned pages.
        if start >= self._tail_start and page.has_link("next") and page.items:
            self._tail_start = start + size
            self._submit(("users", start + size, size))
        self._report_progress()

    def _add_users(self, page: ListResource[User]) -> int:
        """Queue the users not seen yet; return how many there were."""
        seen = self.seen_users
        added = 0
        for user in page.items:
            if user.id in seen:
                continue
            seen.add(user.id)
            added += 1
            self.users_listed += 1
            link = user.links.get("api_tokens")
            self._submit(("user", user.username, user.is_active, link.href if link else None))
        return added

    async def _rewalk(self) -> None:
        """Read the users list again, serially by ``next``; audit the users not seen yet."""
        assert self._root is not None
        ids: set[int | str] = set()
        totals: set[int] = set()
        visited: set[str] = set()
        try:
            page: ListResource[User] | None = await self._root.get_users(
                include_inactive=True,
                max_results=MAX_RESULTS,
                only_fields=USER_FIELDS,
                only_links=USER_LINKS,
            )
            while page is not None:
                if page.total_results is not None:
                    totals.add(page.total_results)
                ids.update(user.id for user in page.items)
                self.rewalk_added += self._add_users(page)
                nxt = page.links.get("next")
                if not page.items or nxt is None or nxt.href in visited:
                    break
                visited.add(nxt.href)
                page = await page.get_next()
        except AuthenticationError:
            raise
        except RBTokensError as exc:
            self.failures.append(_failure(None, exc, prefix="users (read again): "))
            return
        if self.users_total is not None:
            self.users_total = max(self.users_total, self.users_listed)
        reported = max(totals, default=0)
        if len(totals) > 1 or len(ids) < reported:
            self.failures.append(
                Failure(
                    username=None,
                    error=(
                        "the users list kept changing while it was read (the server "
                        f"reported {reported} users, {len(ids)} were listed): some users "
                        "may not have been audited; run the audit again"
                    ),
                    error_type="UsersListChanged",
                )
            )
        elif self.rewalk_added:
            self.warnings.append(
                "the users list changed while the audit ran: it was read again and "
                f"{self.rewalk_added} more user(s) were audited"
            )

    async def _lookup_user(self, username: str) -> None:
        assert self._root is not None
        try:
            user = await self._root.get_user(
                username=username, only_fields=USER_FIELDS, only_links=USER_LINKS
            )
        except AuthenticationError:
            raise
        except RBTokensError as exc:
            self.users_listed += 1  # asked for: listed, and failed
            self.failures.append(_failure(username, exc))
            self._user_done()
            return
        self.users_listed += 1
        link = user.links.get("api_tokens")
        await self._audit_user(user.username, user.is_active, link.href if link else None)

    # -- tokens ----------------------------------------------------------------

    async def _audit_user(self, username: str, active: bool, href: str | None = None) -> None:
        assert self._root is not None
        try:
            # The user's api_tokens link (or the root's URI template); the query
            # is encoded once for the whole audit.
            url = href or self._root.template_url("api_tokens", username=username)[0]
            res = await self.client.request("GET", url, query=_TOKEN_QUERY)
            if not isinstance(res, ListResource) or not issubclass(res.item_type, APIToken):
                raise UnexpectedContentType(
                    f"expected a list of API tokens, got {type(res).__name__}",
                    http_status=200,
                    url=url,
                )
            tokens: list[APIToken] = res.items
            if tokens and "next" in res.links:
                tokens = await _follow_pages(res)
        except AuthenticationError:
            raise
        except PermissionDeniedError as exc:
            self.forbidden.append(_failure(username, exc))
            if (
                self.only_users is None
                and len(self.forbidden) >= FORBIDDEN_LIMIT
                and self.users_audited <= 1
                and not self.stopped
            ):
                # Not an administrator: every other user's list would be refused too.
                self._stop()
            self._user_done()
            return
        except RBTokensError as exc:
            self.failures.append(_failure(username, exc))
            self._user_done()
            return
        found: list[Finding] = []
        self.usable += self.judge.judge(username, active, tokens, self.records, found)
        if tokens and self.exposure == "no-tokens":
            self.exposure = "failed"  # until the check says otherwise
            self._submit(("exposure", username))
        self.users_audited += 1
        if not active:
            self.inactive += 1
        if found:
            self.findings.extend(found)
            if self.sink is not None:
                await self.sink(found)
        self._user_done()

    async def _check_exposure(self, username: str) -> None:
        """Ask for ``username``'s tokens the way anyone could; see the module docstring."""
        assert self._root is not None
        root = self._root
        leaked: list[str] = []
        answered = failed = False
        # The raw payload, not resources: any tokens inlined count, with or
        # without Review Board's ``_expanded`` mark.
        probes: tuple[tuple[str, dict[str, Any], type[_SeenItem | _SeenList]], ...] = (
            ("user", {}, _SeenItem),
            ("users", {"q": username, "include_inactive": True}, _SeenList),
        )
        for template, query, shape in probes:
            try:
                url = root.template_url(template, username=username)[0]
                path = URL(url).path
                payload = await self.client.request_json(
                    "GET",
                    url,
                    query=encode_query({**_EXPOSURE_QUERY, **query}),
                    anonymous=True,
                )
                seen: _SeenItem | _SeenList = msgspec.convert(payload, shape)
            except (AuthenticationError, PermissionDeniedError):
                continue  # refused
            except (RBTokensError, msgspec.ValidationError) as exc:
                if getattr(exc, "http_status", None) in (401, 403):  # a proxy's page
                    continue
                prefix = f"secrets-exposed check (GET {path}): "
                self.failures.append(_failure(None, exc, prefix=prefix))
                failed = True
                continue
            answered = True
            # Any user's inlined tokens are a leak (``q`` is a prefix search).
            users = seen.users if isinstance(seen, _SeenList) else [seen.user]
            if any(u.api_tokens for u in users):
                leaked.append(path)
        if leaked:  # whatever else failed: the leak is shown
            self.exposure = "exposed"
            await self._add_exposed(username, leaked)
        elif failed:
            self.exposure = "failed"
        elif answered:
            self.exposure = "not-exposed"
        else:
            self.exposure = "anonymous-refused"
            self.warnings.append(
                "anonymous requests are refused, so secrets-exposed could not check whether "
                "logged-in users can read other users' tokens with expand=api_tokens "
                "(on Review Board 8.1 they can)"
            )

    async def _add_exposed(self, username: str, paths: list[str]) -> None:
        where = " and ".join(f"GET {p}?expand=api_tokens" for p in paths)
        finding = Finding(
            username=None,
            token_id=None,
            rule="secrets-exposed",
            severity=self.rules.severities["secrets-exposed"],
            message=(
                f"API tokens are readable without logging in: {where} listed {username}'s "
                "tokens (Review Board 8.1 includes their secrets). Refuse every API request "
                "whose expand names api_tokens, on any path, then rotate every token"
            ),
        )
        self.findings.append(finding)
        if self.sink is not None:
            await self.sink([finding])

    def _user_done(self) -> None:
        self.users_done += 1
        self._report_progress()

    def _report_progress(self) -> None:
        if self.progress is not None:
            self.progress(self.users_done, self.users_total)

    # -- report ----------------------------------------------------------------

    def _report(
        self, started: datetime, elapsed: float, base: tuple[int, int, int, float]
    ) -> Report:
        stats = self.client.stats
        enabled = self.rules.enabled
        per_rule = {rule: 0 for rule in RULES if rule in enabled}
        per_sev = {s.value: 0 for s in Severity}
        for f in self.findings:
            per_rule[f.rule] += 1
            per_sev[f.severity.value] += 1
        order = {rule: i for i, rule in enumerate(RULES)}
        self.findings.sort(
            key=lambda f: (-f.severity.rank, order[f.rule], f.username or "", f.token_id or 0)
        )
        self.records.sort(key=attrgetter("username", "id"))
        self.failures.sort(key=lambda f: (f.username or "", f.error))
        summary = Summary(
            server=str(self.client.base_url),
            started_at=started,
            now=self.now,
            elapsed_seconds=round(elapsed, 3),
            complete=not self.failures,
            users_listed=self.users_listed,
            users_audited=self.users_audited,
            users_failed=sum(1 for f in self.failures if f.username is not None),
            inactive_users=self.inactive,
            tokens_seen=len(self.records),
            usable_tokens=self.usable,
            findings=per_rule,
            severities=per_sev,
            requests=stats.requests - base[0],
            logins=stats.logins - base[1],
            retries=stats.retries - base[2],
            rate_limited_seconds=round(stats.rate_limited_seconds - base[3], 3),
            exposure_check=self.exposure,
        )
        return Report(
            summary=summary,
            tokens=self.records,
            findings=self.findings,
            failures=self.failures,
            warnings=self.warnings,
            rules=self.rules,
        )


def _new_walk(
    client: RBClient,
    *,
    concurrency: int,
    rules: Rules | None,
    now: datetime | None,
    users: Iterable[str] | None,
    progress: ProgressCallback | None,
) -> _Walk:
    """The walk behind :func:`audit` and :func:`audit_stream` (checks the options)."""
    return _Walk(
        client,
        concurrency=concurrency,
        rules=rules or Rules(),
        now=now,
        users=users,
        progress=progress,
    )


async def _follow_pages(first: ListResource[APIToken]) -> list[APIToken]:
    """Every token from ``first`` on, following ``next`` (over 200 tokens), each id once."""
    tokens = list(first.items)
    seen_pages: set[str] = set()
    page: ListResource[APIToken] | None = first
    while page is not None and page.items:
        nxt = page.links.get("next")
        if nxt is None or nxt.href in seen_pages:
            break
        seen_pages.add(nxt.href)
        page = await page.get_next()
        if page is not None:
            tokens.extend(page.items)
    # The list has no ORDER BY: a token may move between pages while paging.
    return list({t.id: t for t in tokens}.values())


def _failure(username: str | None, exc: BaseException, *, prefix: str = "") -> Failure:
    return Failure(
        username=username,
        error=prefix + str(exc),
        error_type=type(exc).__name__,
        http_status=getattr(exc, "http_status", None),
    )


async def audit(
    client: RBClient,
    *,
    concurrency: int = 32,
    rules: Rules | None = None,
    now: datetime | None = None,
    users: Iterable[str] | None = None,
    progress: ProgressCallback | None = None,
) -> Report:
    """Audit every API token on the server (or those of ``users``).

    ``client`` must log in with a password, as an administrator to see every
    user's tokens. At most ``concurrency`` requests are in flight. ``now``
    (aware) fixes the clock the rules use. Users whose tokens cannot be read
    are listed in ``report.failures``. A refused login raises
    :class:`~rbtokens.errors.AuthenticationError`.
    """
    walk = _new_walk(
        client, concurrency=concurrency, rules=rules, now=now, users=users, progress=progress
    )
    try:
        return await walk.run()
    except ExceptionGroup as group:
        raise first_error(group) from None


class AuditStream:
    """Findings as they are found; see :func:`audit_stream`.

    Iterate it inside its ``async with`` block; afterwards ``report`` holds
    the full :class:`Report`. ``failures`` grows while the audit runs.
    """

    def __init__(self, walk: _Walk, buffer: int) -> None:
        self._walk = walk
        self._buffer = buffer
        self.report: Report | None = None
        self._tg: TaskGroup | None = None
        self._recv: MemoryObjectReceiveStream[Finding] | None = None
        self._error: BaseException | None = None

    @property
    def failures(self) -> Sequence[Failure]:
        """Users (or users pages) that could not be read so far."""
        return self._walk.failures

    async def __aenter__(self) -> Self:
        send, recv = anyio.create_memory_object_stream[Finding](self._buffer)
        self._recv = recv

        async def sink(found: list[Finding]) -> None:
            for finding in found:
                await send.send(finding)

        self._walk.sink = sink

        async def run() -> None:
            with send:
                try:
                    self.report = await self._walk.run()
                except anyio.get_cancelled_exc_class():
                    raise
                except BaseException as exc:  # noqa: BLE001 - re-raised at iteration end
                    self._error = exc

        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(run)
        return self

    def __aiter__(self) -> AsyncIterator[Finding]:
        if self._recv is None:
            raise RuntimeError("iterate an AuditStream inside its `async with` block")
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Finding]:
        assert self._recv is not None
        async for finding in self._recv:
            yield finding
        if self._error is not None:
            error, self._error = self._error, None
            raise first_error(error) if isinstance(error, BaseExceptionGroup) else error

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._tg is not None and self._recv is not None
        if exc is not None or self.report is None:
            # Left early (break or error): stop the walk.
            self._tg.cancel_scope.cancel()
        self._recv.close()
        # The body's own exception (if any) propagates untouched after this.
        await self._tg.__aexit__(None, None, None)
        if exc is None and self._error is not None:
            error = self._error
            raise first_error(error) if isinstance(error, BaseExceptionGroup) else error


def audit_stream(
    client: RBClient,
    *,
    concurrency: int = 32,
    rules: Rules | None = None,
    now: datetime | None = None,
    users: Iterable[str] | None = None,
    progress: ProgressCallback | None = None,
    buffer: int = 256,
) -> AuditStream:
    """Like :func:`audit`, but yield each :class:`Finding` as soon as it is found.

    ::

        async with audit_stream(client) as stream:
            async for finding in stream:
                print(finding.username or "(server)", finding.rule)
        report = stream.report
    """
    walk = _new_walk(
        client, concurrency=concurrency, rules=rules, now=now, users=users, progress=progress
    )
    return AuditStream(walk, buffer)


# -- remediation -------------------------------------------------------------------

RevokeAction = Literal["would-revoke", "revoked", "failed"]


class RevokeResult(msgspec.Struct, kw_only=True, frozen=True):
    """What :func:`revoke_findings` did (or would do) to one token."""

    username: str
    token_id: int
    rules: list[str]
    action: RevokeAction
    error: str | None = None


def validate_revoke_rules(rules: Collection[str]) -> set[str]:
    """The rules :func:`revoke_findings` may act on, or :class:`ValueError`.

    Unknown names, per-user and server rules (``too-many-tokens`` and
    ``secrets-exposed`` name no single token) are refused, as is an empty
    set. Cheap: call it before an audit.
    """
    wanted = set(rules)
    if not wanted:
        raise ValueError("no rule given")
    unknown = wanted - set(RULES)
    if unknown:
        raise ValueError(f"unknown rule(s): {', '.join(sorted(unknown))}")
    no_token = wanted & (USER_RULES | SERVER_RULES)
    if no_token:
        raise ValueError(
            f"{', '.join(sorted(no_token))} names no single token; it cannot be revoked"
        )
    return wanted


async def revoke_findings(
    client: RBClient,
    findings: Iterable[Finding],
    *,
    rules: Collection[str],
    apply: bool = False,
    concurrency: int = 8,
) -> list[RevokeResult]:
    """Revoke (delete) every token with a finding of one of ``rules``.

    A dry run unless ``apply`` is true: each token then gets ``would-revoke``.
    With ``apply`` each gets ``revoked`` or ``failed`` (with the error). Per-user
    and server rules (``too-many-tokens``, ``secrets-exposed``) name no single
    token and are refused.
    """
    wanted = validate_revoke_rules(rules)
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    targets: dict[tuple[str, int], list[str]] = {}
    for f in findings:
        if f.rule in wanted and f.username is not None and f.token_id is not None:
            targets.setdefault((f.username, f.token_id), []).append(f.rule)
    keys = sorted(targets)
    if not apply:
        return [
            RevokeResult(username=u, token_id=t, rules=targets[u, t], action="would-revoke")
            for u, t in keys
        ]
    results: list[RevokeResult | None] = [None] * len(keys)
    limiter = anyio.CapacityLimiter(concurrency)
    tokens = client.tokens

    async def revoke(slot: int, username: str, token_id: int) -> None:
        async with limiter:
            try:
                await tokens.revoke(token_id, username=username)
            except RBTokensError as exc:
                results[slot] = RevokeResult(
                    username=username,
                    token_id=token_id,
                    rules=targets[username, token_id],
                    action="failed",
                    error=str(exc),
                )
                return
        results[slot] = RevokeResult(
            username=username,
            token_id=token_id,
            rules=targets[username, token_id],
            action="revoked",
        )

    try:
        async with anyio.create_task_group() as tg:
            for slot, (username, token_id) in enumerate(keys):
                tg.start_soon(revoke, slot, username, token_id)
    except ExceptionGroup as group:
        raise first_error(group) from None
    return [r for r in results if r is not None]
