"""The bulk walk: every user's token metadata, 200 users a request.

::

    GET /api/users/?include-inactive=1&max-results=200&expand=api_tokens
        &only-links=api_tokens&only-fields=id,username,is_active,api_tokens,<token fields>

Review Board 8.1 inlines each user's tokens (every one, unpaged), with no
``token`` secret when ``only-fields`` does not name it. It checks no
permission doing so (the ``secrets-exposed`` hole), so the audit takes this
walk only for a login shown to be an administrator's (:mod:`.choose`), and
never asks for the secret. The pages go through the one pager,
``concurrency`` in flight.

Trust, but verify: a sample of users is read again through their own token
lists (:mod:`.verify`). Any difference, a user without the expansion (a
proxy that strips ``expand``), a page that cannot be read, or a page that
carries a ``token`` field stops the walk, and the audit falls back to the
per-user walk (:class:`Fallback`). Findings are held back until the walk is
trusted, so a stream never yields one twice.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime

import anyio
from anyio.abc import TaskGroup
from msgspec import UNSET, UnsetType

from ..errors import AuthenticationError, RateLimitedError, RBTokensError
from ..resources import ListRef, PageFailure, Paginator, Root, User
from ..wire import MAX_RESULTS, encoded
from .exposure import check_exposure
from .judge import Judge
from .protocols import AuditClient, ProgressCallback, Sink
from .report import Finding, Tally
from .ruleset import Rules
from .shapes import BULK_TOKEN_FIELDS, BulkPage, BulkToken, BulkUser
from .verify import verify_sample

__all__ = ["BulkWalk", "Fallback"]

_PARAMS = encoded(
    {
        "include_inactive": True,
        "max_results": MAX_RESULTS,
        "expand": "api_tokens",
        "only_links": "api_tokens",
        "only_fields": ",".join(("id", "username", "is_active", "api_tokens", *BULK_TOKEN_FIELDS)),
    }
)


class Fallback(Exception):
    """The bulk listing cannot be trusted: read every user's tokens one by one."""

    def __init__(self, reason: str, *, warning: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.warning = warning


class BulkWalk:
    """One bulk walk; :meth:`run` returns the tally or raises :class:`Fallback`."""

    def __init__(
        self,
        client: AuditClient,
        root: Root,
        *,
        concurrency: int,
        rules: Rules,
        now: datetime,
        progress: ProgressCallback | None,
        verify: int = 6,
        seed: int | None = None,
    ) -> None:
        self.client = client
        self.root = root
        self.rules = rules
        self.concurrency = concurrency
        self.judge = Judge(rules, now)
        self.tally = Tally(exposure="no-tokens" if "secrets-exposed" in rules.enabled else "off")
        self.progress = progress
        self.sink: Sink | None = None
        self.verify = verify
        self.verified = 0
        self._rng = random.Random(seed)  # noqa: S311 - sampling, not secrets
        self._held: list[Finding] = []  # until the walk is trusted
        self._sample: tuple[list[BulkUser], list[BulkUser]] = ([], [])  # with tokens, without
        self._seen = [0, 0]
        self._limit = anyio.CapacityLimiter(concurrency)
        self._fallback: Fallback | None = None
        self._limited: RateLimitedError | None = None
        self._scope: anyio.CancelScope | None = None
        self._tg: TaskGroup | None = None
        self._total: int | None = None

    async def run(self) -> Tally:
        """Walk every users page, verify a sample, and hand on the findings."""
        users = ListRef(self.client, self.root.link_list("users", User).url, User, params=_PARAMS)
        try:
            first = await users.get_as(BulkPage)
        except (AuthenticationError, RateLimitedError):
            raise
        except RBTokensError as exc:
            raise Fallback(f"the first users page could not be read in bulk ({exc})") from exc
        self._total = first.total_results
        pager = Paginator(first, self._fetch, concurrency=self.concurrency)

        async def on_page(page: BulkPage) -> None:
            self._page(pager, page)

        async with anyio.create_task_group() as self._tg:
            with anyio.CancelScope() as self._scope:
                await pager.walk(on_page, on_error=self._page_failed, slot=lambda: self._limit)
                if pager.drift.moved:
                    await pager.reread(on_page, on_error=self._page_failed)
        if self._limited is not None:
            raise self._limited
        if self._fallback is not None:
            raise self._fallback
        if pager.drift.reread and not pager.drift.settled:
            raise Fallback("the users list kept changing while it was read in bulk")
        await self._verify()
        if self.sink is not None and self._held:
            await self.sink(self._held)
        return self.tally

    async def _fetch(self, url: str) -> BulkPage:
        return await self.client.request_as("GET", url, BulkPage)

    def _page_failed(self, page: PageFailure) -> None:
        if isinstance(page.error, RateLimitedError):
            self._limited = self._limited or page.error  # no other walk would fare better
            self._stop(None)
        else:
            self._stop(Fallback(f"users {page.where} could not be read in bulk ({page.error})"))

    def _page(self, pager: Paginator[BulkPage], page: BulkPage) -> None:
        if page.total_results is not None and (self._total or 0) < page.total_results:
            self._total = page.total_results
        for user in pager.unseen(page.users):
            tokens = user.api_tokens
            if isinstance(tokens, UnsetType):
                self._stop(
                    Fallback(
                        f"the server did not expand api_tokens for {user.username} (a proxy "
                        "that strips expand=, or a Review Board that dropped the expansion)"
                    )
                )
                return
            if any(not isinstance(t.token, UnsetType) for t in tokens):
                for t in tokens:
                    t.token = UNSET  # dropped unread
                self._stop(_secrets_fallback())
                return
            self._judge(user, tokens)

    def _judge(self, user: BulkUser, tokens: Sequence[BulkToken]) -> None:
        tally = self.tally
        found: list[Finding] = []
        tally.usable += self.judge.judge(
            user.username, user.is_active, tokens, tally.records, found
        )
        tally.users_listed += 1
        tally.users_audited += 1
        tally.inactive += not user.is_active
        if found:
            tally.findings.extend(found)
            self._held.extend(found)
        if tokens and tally.exposure == "no-tokens" and self._tg is not None:
            tally.exposure = "failed"  # until the check says otherwise
            self._tg.start_soon(self._exposure, user.username)
        self._keep_sample(user, bool(tokens))
        if self.progress is not None:
            self.progress(tally.users_audited, self._total)

    def _keep_sample(self, user: BulkUser, has_tokens: bool) -> None:
        """Reservoir sampling: half the sample with tokens, half without."""
        group = 0 if has_tokens else 1
        self._seen[group] += 1
        pool, size = self._sample[group], self.verify - self.verify // 2
        if len(pool) < size:
            pool.append(user)
        else:
            slot = self._rng.randrange(self._seen[group])
            if slot < size:
                pool[slot] = user

    def _stop(self, fallback: Fallback | None) -> None:
        if self._fallback is None:
            self._fallback = fallback
        if self._scope is not None:
            self._scope.cancel()

    async def _exposure(self, username: str) -> None:
        severity = self.rules.severities["secrets-exposed"]
        async with self._limit:
            result = await check_exposure(self.root, username, severity=severity)
        tally = self.tally
        tally.exposure = result.outcome
        tally.failures.extend(result.failures)
        tally.warnings.extend(result.warnings)
        if result.finding is not None:
            tally.findings.append(result.finding)
            self._held.append(result.finding)

    async def _verify(self) -> None:
        with_tokens, without = self._sample
        half = self.verify // 2
        sample = with_tokens[: self.verify - min(half, len(without))] + without[:half]
        reason = await verify_sample(self.root, sample, limit=self._limit)
        if reason is not None:
            raise Fallback(reason)
        self.verified = len(sample)


def _secrets_fallback() -> Fallback:
    return Fallback(
        "a users page carried token secrets although none was asked for",
        warning=(
            "the bulk listing sent token secrets although only-fields did not name them: the "
            "pages still in flight were cancelled, the secrets were dropped unread, and every "
            "user's tokens were read one by one instead"
        ),
    )
