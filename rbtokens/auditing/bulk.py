"""The audit's bulk walk: the verified bulk listing (:mod:`rbtokens.tokens.everyone`), judged.

Each user is judged as its page arrives; the findings are held back until
the listing is verified, so that a stream never yields one twice when the
audit falls back to the per-user walk (:class:`~rbtokens.tokens.everyone.Fallback`).
"""

from __future__ import annotations

from datetime import datetime

import anyio
from anyio.abc import TaskGroup

from ..errors import first_error
from ..resources import Root
from ..tokens.everyone import BulkTokens, Fallback
from ..tokens.shapes import AUDIT_FIELDS, AuditToken, BulkUser, Shape
from .exposure import check_exposure
from .judge import Judge
from .protocols import ProgressCallback, Sink
from .report import Finding, Tally
from .ruleset import Rules

__all__ = ["BulkWalk"]

AUDIT_SHAPE = Shape(AuditToken, AUDIT_FIELDS)


class BulkWalk:
    """One bulk walk; :meth:`run` returns the tally, or raises ``Fallback``."""

    def __init__(
        self,
        root: Root,
        *,
        concurrency: int,
        rules: Rules,
        now: datetime,
        progress: ProgressCallback | None,
        verify: int = 6,
    ) -> None:
        self.root = root
        self.rules = rules
        self.judge = Judge(rules, now)
        self.tally = Tally(exposure="no-tokens" if "secrets-exposed" in rules.enabled else "off")
        self.progress = progress
        self.sink: Sink | None = None
        self.listing = BulkTokens(root, AUDIT_SHAPE, concurrency=concurrency, verify=verify)
        self._held: list[Finding] = []  # until the listing is verified
        self._tg: TaskGroup | None = None

    @property
    def verified(self) -> int:
        """How many users' own token lists the listing was checked against."""
        return self.listing.verified

    async def run(self) -> Tally:
        """Walk every user, verify, and hand on the findings."""
        try:
            async with anyio.create_task_group() as self._tg:
                await self.listing.walk(self._judge)
        except ExceptionGroup as group:
            fallback, _rest = group.split(Fallback)
            if fallback is None:
                raise first_error(group) from None
            while isinstance(leaf := fallback.exceptions[0], ExceptionGroup):
                fallback = leaf
            raise leaf from None
        if self.sink is not None and self._held:
            await self.sink(self._held)
        return self.tally

    def _judge(self, user: BulkUser[AuditToken]) -> None:
        tally = self.tally
        tokens = user.api_tokens if isinstance(user.api_tokens, list) else []
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
        if self.progress is not None:
            self.progress(tally.users_audited, self.listing.total)

    async def _exposure(self, username: str) -> None:
        severity = self.rules.severities["secrets-exposed"]
        async with self.listing.limit:
            result = await check_exposure(self.root, username, severity=severity)
        tally = self.tally
        tally.exposure = result.outcome
        tally.failures.extend(result.failures)
        tally.warnings.extend(result.warnings)
        if result.finding is not None:
            tally.findings.append(result.finding)
            self._held.append(result.finding)
