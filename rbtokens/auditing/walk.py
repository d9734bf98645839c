"""One audit run: the users walk, a pool of workers over the users, and the exposure check.

The first users page gives ``total_results``; the one pager
(:class:`~rbtokens.resources.Paginator`) fetches the other pages
concurrently at computed offsets, and each user's token listing is queued
as soon as its users page arrives. A fixed pool of ``concurrency`` workers
does the per-user requests, and one gate bounds every request of the run
(pages, users, the exposure check) to ``concurrency`` in flight. All of them
share the client's one logged-in session (one password check per audit). A
user whose tokens cannot be read is a failure; none is skipped silently.

The users list has no ORDER BY, so users added or deleted during the walk
shift the offsets. When the pager reports drift, the list is read again
serially by its ``next`` links and every user not yet seen is audited; if it
still does not add up, a failure with no username makes the report
incomplete. Without an administrator login, other users' token lists answer
403: after the first few the walk stops with one failure saying so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import anyio
import msgspec
from anyio.abc import TaskGroup

from ..errors import (
    AuthenticationError,
    PermissionDeniedError,
    RBTokensError,
)
from ..resources import (
    APIToken,
    ListRef,
    ListResource,
    PageFailure,
    Paginator,
    Root,
    User,
)
from ..wire import MAX_RESULTS, encoded
from .exposure import check_exposure
from .journal import Done, Journal
from .judge import Judge
from .pool import Pool
from .protocols import AuditClient, ProgressCallback, Sink
from .report import Failure, Finding, Tally, failure
from .ruleset import Rules

__all__ = ["FORBIDDEN_LIMIT", "TOKEN_FIELDS", "PerUserWalk"]

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
_TOKEN_PARAMS = encoded({"max_results": MAX_RESULTS, "only_fields": TOKEN_FIELDS, "only_links": ""})
_USER_QUERY: dict[str, Any] = {"only_fields": USER_FIELDS, "only_links": USER_LINKS}

#: Token lists answered 403 before a walk of every user concludes that the
#: login is not an administrator's and stops.
FORBIDDEN_LIMIT = 3


class _UserJob(msgspec.Struct):
    """One user to audit; ``active`` None: look the user up first (``users=[...]``)."""

    username: str
    active: bool | None = None
    href: str | None = None  # the user's api_tokens link


class PerUserWalk:
    """The per-user walk over every user (or the named ``users``): one token list each."""

    def __init__(
        self,
        client: AuditClient,
        *,
        concurrency: int,
        rules: Rules,
        now: datetime | None,
        users: Iterable[str] | None,
        progress: ProgressCallback | None,
        journal: Journal | None = None,
        site: str | None = None,
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
        self.journal = journal
        self.site = site
        self.sink: Sink | None = None
        self.judge = Judge(rules, self.now)
        self.tally = Tally(exposure="no-tokens" if "secrets-exposed" in rules.enabled else "off")
        self.users_total: int | None = None
        self.users_done = 0
        self.forbidden: list[Failure] = []
        self.stopped = False
        self.pool: Pool[_UserJob] = Pool(self._job)
        self._pager_scope: anyio.CancelScope | None = None
        self._root: Root | None = None
        self._outer: TaskGroup | None = None

    @property
    def failures(self) -> list[Failure]:
        """What could not be read so far."""
        return self.tally.failures

    async def run(self, root: Root) -> Tally:
        """Walk every user (or the named ones) and return what was found."""
        self._root = root
        self.tally.walk = "per-user"
        async with anyio.create_task_group() as outer:  # the exposure check runs beside
            self._outer = outer
            if self.only_users is not None:
                await self._lookups(self.only_users)
            else:
                first = await root.get_users(
                    include_inactive=True, max_results=MAX_RESULTS, **_USER_QUERY
                )
                await self._every_user(first)
        self._settle_forbidden()
        return self.tally

    # -- the users ---------------------------------------------------------------

    async def _lookups(self, names: list[str]) -> None:
        self.users_total = len(names)
        for name in names:
            self.pool.submit(_UserJob(name))
        self._report_progress()
        await self._phase(None)

    async def _every_user(self, first: ListResource[User]) -> None:
        pager = Paginator(first, first.fetch_page, concurrency=self.concurrency)
        self.users_total = first.total_results

        async def walk() -> None:
            with anyio.CancelScope() as self._pager_scope:
                await pager.walk(on_page, on_error=self._page_failed, slot=self.pool.lease)

        async def on_page(page: ListResource[User]) -> None:
            await self._users_page(pager, page)

        await self._phase(walk)
        drift = pager.drift
        if drift.moved and not self.stopped and not pager.failures:
            # Offsets moved under the concurrent walk: read the list again by its
            # ``next`` links, auditing whoever was not seen yet.
            await self._phase(lambda: pager.reread(on_page, on_error=self._page_failed))
            self._settle_drift(pager)

    async def _users_page(
        self, pager: Paginator[ListResource[User]], page: ListResource[User]
    ) -> None:
        total = page.total_results
        if total is not None and self.users_total is not None and total > self.users_total:
            self.users_total = total
        for user in pager.unseen(page.items):
            self.tally.users_listed += 1
            if not await self._restored(user.username):
                link = user.links.get("api_tokens")
                self.pool.submit(
                    _UserJob(user.username, user.is_active, link.href if link else None)
                )
        self._report_progress()

    async def _restored(self, username: str) -> bool:
        """Take a user an earlier run journalled; False when the user is still to do."""
        done = self.journal.users.get((self.site, username)) if self.journal else None
        if done is None:
            return False
        tally = self.tally
        tally.records.extend(done.records)
        tally.usable += sum(r.usable for r in done.records)
        tally.users_audited += 1
        tally.inactive += not done.active
        if done.records and tally.exposure == "no-tokens":
            self._start_exposure(username)
        if done.findings:
            tally.findings.extend(done.findings)
            if self.sink is not None:
                await self.sink(done.findings)
        self._user_done()
        return True

    def _page_failed(self, page: PageFailure) -> None:
        self.tally.failures.append(failure(None, page.error, prefix=f"users {page.where}: "))

    def _settle_drift(self, pager: Paginator[ListResource[User]]) -> None:
        drift = pager.drift
        if pager.failures:
            return
        if self.users_total is not None:
            self.users_total = max(self.users_total, self.tally.users_listed)
        if not drift.settled:
            self.tally.failures.append(
                Failure(
                    username=None,
                    error=(
                        "the users list kept changing while it was read (the server "
                        f"reported {drift.reread_total} users, {drift.reread_listed} were "
                        "listed): some users may not have been audited; run the audit again"
                    ),
                    error_type="UsersListChanged",
                )
            )
        elif drift.added:
            self.tally.warnings.append(
                "the users list changed while the audit ran: it was read again and "
                f"{drift.added} more user(s) were audited"
            )

    async def _phase(self, producer: Callable[[], Awaitable[None]] | None) -> None:
        """Run the workers until ``producer`` is done and every queued user is audited."""
        size = min(self.concurrency, max(1, self.users_total or self.pool.pending))
        await self.pool.run(size, producer)

    async def _job(self, job: _UserJob) -> None:
        if job.active is None:
            await self._lookup(job.username)
        else:
            await self._audit_user(job.username, job.active, job.href)

    def _stop(self) -> None:
        """Drop every queued user and accept no more (in-flight requests finish)."""
        self.stopped = True
        if self._pager_scope is not None:
            self._pager_scope.cancel()
        self.pool.stop()

    # -- one user -----------------------------------------------------------------

    async def _lookup(self, username: str) -> None:
        assert self._root is not None
        self.tally.users_listed += 1  # asked for: listed, whatever follows
        if await self._restored(username):
            return
        try:
            user = await self._root.user_at(username).get(**_USER_QUERY)
        except AuthenticationError:
            raise
        except RBTokensError as exc:
            self.tally.failures.append(failure(username, exc))
            self._user_done()
            return
        link = user.links.get("api_tokens")
        await self._audit_user(user.username, user.is_active, link.href if link else None)

    async def _audit_user(self, username: str, active: bool, href: str | None) -> None:
        assert self._root is not None
        try:
            tokens = await self._tokens_of(username, href)
        except AuthenticationError:
            raise
        except PermissionDeniedError as exc:
            self._forbidden(username, exc)
            self._user_done()
            return
        except RBTokensError as exc:
            self.tally.failures.append(failure(username, exc))
            self._user_done()
            return
        tally = self.tally
        found: list[Finding] = []
        first = len(tally.records)
        tally.usable += self.judge.judge(username, active, tokens, tally.records, found)
        if self.journal is not None:
            done = Done(
                user=username,
                site=self.site,
                active=active,
                records=tally.records[first:],
                findings=found,
            )
            self.journal.record(done)
        if tokens and tally.exposure == "no-tokens":
            self._start_exposure(username)
        tally.users_audited += 1
        if not active:
            tally.inactive += 1
        if found:
            tally.findings.extend(found)
            if self.sink is not None:
                await self.sink(found)
        self._user_done()

    async def _tokens_of(self, username: str, href: str | None) -> list[APIToken]:
        """Every token of one user: the user's link (or the root's template), then ``next``."""
        assert self._root is not None
        url = href or self._root.api_tokens_at(username).url
        ref = ListRef(self.client, url, APIToken, params=_TOKEN_PARAMS)
        page = await ref.get()
        if not page.items or "next" not in page.links:
            return page.items
        # Over 200 tokens: the rest by ``next``, each id once (no ORDER BY).
        return [token async for token in page.all_items()]

    def _forbidden(self, username: str, exc: PermissionDeniedError) -> None:
        self.forbidden.append(failure(username, exc))
        if (
            self.only_users is None
            and len(self.forbidden) >= FORBIDDEN_LIMIT
            and self.tally.users_audited <= 1
            and not self.stopped
        ):
            # Not an administrator: every other user's list would be refused too.
            self._stop()

    def _settle_forbidden(self) -> None:
        """403s on token lists: one failure when they stopped the walk, else one per user."""
        if not self.stopped:
            self.tally.failures.extend(self.forbidden)
            return
        self.tally.failures.append(
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

    def _user_done(self) -> None:
        self.users_done += 1
        self._report_progress()

    def _report_progress(self) -> None:
        if self.progress is not None:
            self.progress(self.users_done, self.users_total)

    # -- secrets-exposed --------------------------------------------------------------

    def _start_exposure(self, username: str) -> None:
        """Run the check once, beside the walk (it is about the server, not a user)."""
        self.tally.exposure = "failed"  # until the check says otherwise
        assert self._outer is not None and self._root is not None
        self._outer.start_soon(self._exposure, self._root, username)

    async def _exposure(self, root: Root, username: str) -> None:
        severity = self.rules.severities["secrets-exposed"]
        result = self.journal.exposures.get(self.site) if self.journal is not None else None
        if result is None:  # not checked by an earlier run
            async with self.pool.lease():  # in the place of a worker: the bound holds
                result = await check_exposure(root, username, severity=severity)
            if self.journal is not None and result.outcome not in ("rate-limited", "failed"):
                self.journal.record_exposure(self.site, result)  # a settled answer: not asked again
        tally = self.tally
        tally.exposure = result.outcome
        tally.failures.extend(result.failures)
        tally.warnings.extend(result.warnings)
        if result.finding is not None:
            tally.findings.append(result.finding)
            if self.sink is not None:
                await self.sink([result.finding])
