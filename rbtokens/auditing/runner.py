"""One audit from start to report: choose the walk, run it, fall back if needed, summarize."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import msgspec

from ..errors import (
    AuthenticationError,
    PasswordLoginRequiredError,
    RateLimitedError,
    RBTokensError,
)
from ..http import waiting_allowed
from ..resources import Root
from ..tokens.everyone import Fallback
from .bulk import BulkWalk
from .choose import WalkChoice, choose_walk
from .protocols import AuditClient, ProgressCallback, Sink
from .report import Failure, Finding, Report, Tally, failure
from .ruleset import SERVER_RULES, Rules
from .walk import PerUserWalk

__all__ = ["BULK_CONCURRENCY", "PER_USER_CONCURRENCY", "WAIT_MAX", "Auditor"]

BULK_CONCURRENCY = 4
"""Users pages in flight by default: each costs the server ~0.65 s of a worker."""
PER_USER_CONCURRENCY = 32
"""Token lists in flight by default in the per-user walk."""
WAIT_MAX = 3660.0
"""How long ``wait=True`` waits for a rate-limit window by default: one hour plus a minute."""


class Auditor:
    """The parameters of one audit, and its run."""

    def __init__(
        self,
        client: AuditClient,
        *,
        concurrency: int | None,
        rules: Rules | None,
        now: datetime | None,
        users: Iterable[str] | None,
        local_sites: Iterable[str] = (),
        progress: ProgressCallback | None,
        walk: WalkChoice,
        wait: bool,
        wait_max: float,
        verify: int = 6,
    ) -> None:
        if concurrency is not None and concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if walk not in ("auto", "bulk", "per-user"):
            raise ValueError(f"walk must be auto, bulk or per-user, got {walk!r}")
        self.client = client
        self.concurrency = concurrency
        self.rules = rules or Rules()
        self.now = now if now is not None else datetime.now(UTC)
        if self.now.tzinfo is None:
            raise ValueError("now must be an aware datetime")
        self.users = list(dict.fromkeys(users)) if users is not None else None
        self.local_sites = list(dict.fromkeys(local_sites))
        self.progress = progress
        self.walk: WalkChoice = walk
        self.wait_max = wait_max if wait else None
        self.verify = verify
        self.sink: Sink | None = None
        self._current: Tally = Tally()

    @property
    def failures(self) -> list[Failure]:
        """What could not be read so far."""
        return self._current.failures

    async def run(self) -> Report:
        """Audit, and build the report."""
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
        allowed = (
            waiting_allowed(self.wait_max)
            if self.wait_max is not None
            else contextlib.nullcontext()
        )
        with allowed:
            root = await client.get_root()
            tally = await self._walk(root, self.rules, self.sink)
            sites = [tally.site_summary(None)]
            for name in self.local_sites:
                site = await self._local_site(name)
                sites.append(site.site_summary(name))
                tally.absorb(site, name)
        used = (
            stats.requests - base[0],
            stats.logins - base[1],
            stats.retries - base[2],
            stats.rate_limited_seconds - base[3],
        )
        return tally.report(
            server=str(client.base_url),
            rules=self.rules,
            started=started,
            now=self.now,
            elapsed=time.perf_counter() - t0,
            stats=used,
            sites=sites,
        )

    async def _local_site(self, name: str) -> Tally:
        """One Local Site, walked like the global one (its own rights, its own walk)."""
        try:
            root = await self.client.get_root(local_site=name)
        except AuthenticationError:
            raise
        except RBTokensError as exc:
            tally = Tally(walk_reason="the Local Site's API root could not be read")
            tally.failures.append(failure(None, exc, prefix=f"Local Site {name}: "))
            return tally
        # secrets-exposed is about the server, checked once at its root.
        enabled = tuple(r for r in self.rules.enabled if r not in SERVER_RULES)
        rules = msgspec.structs.replace(self.rules, enabled=enabled)
        outer = self.sink

        async def labelled(found: list[Finding]) -> None:
            if outer is not None:
                await outer([msgspec.structs.replace(f, local_site=name) for f in found])

        return await self._walk(root, rules, labelled)

    async def _walk(self, root: Root, rules: Rules, sink: Sink | None) -> Tally:
        if self.users is not None:
            return await self._per_user(root, rules, sink, "only the named users were audited")
        kind, reason = await choose_walk(root, self.walk)
        if kind == "per-user":
            return await self._per_user(root, rules, sink, reason)
        bulk = BulkWalk(
            root,
            concurrency=self.concurrency or BULK_CONCURRENCY,
            rules=rules,
            now=self.now,
            progress=self.progress,
            verify=self.verify,
        )
        bulk.sink = sink
        self._current = bulk.tally
        try:
            tally = await bulk.run()
        except Fallback as fallback:
            why = (
                f"the bulk listing could not be trusted ({fallback.reason}), so every user's "
                "tokens were read one by one"
            )
            warnings = [fallback.warning] if fallback.warning else []
            return await self._per_user(root, rules, sink, why, warnings=warnings)
        except RateLimitedError as exc:
            tally = bulk.tally  # stopped: what was read stands, the rest is a failure
            tally.failures.append(failure(None, exc, prefix="the bulk listing: "))
        tally.walk = "bulk"
        tally.walk_reason = (
            f"{reason}; checked against {bulk.verified} users' own token lists"
            if bulk.verified
            else reason
        )
        return tally

    async def _per_user(
        self,
        root: Root,
        rules: Rules,
        sink: Sink | None,
        reason: str,
        *,
        warnings: Sequence[str] = (),
    ) -> Tally:
        walk = PerUserWalk(
            self.client,
            concurrency=self.concurrency or PER_USER_CONCURRENCY,
            rules=rules,
            now=self.now,
            users=self.users,
            progress=self.progress,
        )
        walk.sink = sink
        self._current = walk.tally
        walk.tally.warnings.extend(warnings)
        tally = await walk.run(root)
        tally.walk_reason = reason
        return tally
