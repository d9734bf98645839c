"""Remediation: revoke (delete) the tokens behind chosen findings, as a dry run by default."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Literal, Protocol

import anyio
import msgspec

from ..errors import RBTokensError, first_error
from .report import Finding
from .ruleset import RULES, SERVER_RULES, USER_RULES

__all__ = ["RevokeResult", "Revoker", "revoke_findings", "validate_revoke_rules"]


class Revoker(Protocol):
    """What :func:`revoke_findings` needs: ``client.tokens.revoke``."""

    async def revoke(self, token: int, *, username: str | None = None) -> None:
        """Delete one token."""
        ...


class _HasTokens(Protocol):
    @property
    def tokens(self) -> Revoker:
        """The client's token verbs."""
        ...


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
    client: _HasTokens,
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
