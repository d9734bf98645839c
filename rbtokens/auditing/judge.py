"""Applying the rule table to one user's tokens (no I/O)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from .report import Finding, TokenRecord
from .rules import UNUSABLE_RULES, USABLE_RULES, USER_RULES_TABLE, Thresholds, TokenFacts
from .ruleset import Rules

__all__ = ["Judge", "judge_tokens"]


class Judge:
    """Applies the enabled rules; thresholds are computed once per run."""

    __slots__ = ("now", "sev", "th", "unusable_rules", "usable_rules", "user_rules")

    def __init__(self, rules: Rules, now: datetime) -> None:
        on = frozenset(rules.enabled)
        self.now = now
        self.sev = rules.severities
        self.th = Thresholds.of(rules, now)
        self.usable_rules = [(name, rule) for name, rule in USABLE_RULES if name in on]
        self.unusable_rules = [(name, rule) for name, rule in UNUSABLE_RULES if name in on]
        self.user_rules = [(name, rule) for name, rule in USER_RULES_TABLE if name in on]

    def judge(
        self,
        username: str,
        active: bool,
        tokens: Iterable[TokenFacts],
        records: list[TokenRecord],
        findings: list[Finding],
    ) -> int:
        """Append a record per token and the findings; return how many were usable."""
        now, th, sev = self.now, self.th, self.sev
        usable_rules, unusable_rules = self.usable_rules, self.unusable_rules
        usable_count = count = 0
        for t in tokens:
            count += 1
            expires = t.expires
            expired = t.expired or (expires is not None and expires <= now)
            usable = t.valid and not expired
            rec = TokenRecord(
                username=username,
                id=t.id,
                note=t.note,
                expires=expires,
                expired=expired,
                valid=t.valid,
                usable=usable,
                last_used=t.last_used,
                deprecated=t.deprecated,
                time_added=t.time_added,
                token_generator_id=t.token_generator_id,
                invalid_reason=t.invalid_reason,
                owner_active=active,
            )
            records.append(rec)
            usable_count += usable
            for name, rule in usable_rules if usable else unusable_rules:
                message = rule(th, rec, t)
                if message is not None:
                    findings.append(Finding(
                        username=username, token_id=t.id, rule=name, severity=sev[name],
                        message=message,
                    ))  # fmt: skip
        for name, user_rule in self.user_rules:
            message = user_rule(th, count)
            if message is not None:
                findings.append(
                    Finding(
                        username=username,
                        token_id=None,
                        rule=name,
                        severity=sev[name],
                        message=message,
                    )
                )
        return usable_count


def judge_tokens(
    username: str,
    tokens: Iterable[TokenFacts],
    *,
    active: bool = True,
    rules: Rules | None = None,
    now: datetime | None = None,
) -> tuple[list[TokenRecord], list[Finding]]:
    """Apply the rules to one user's tokens, without any I/O."""
    records: list[TokenRecord] = []
    findings: list[Finding] = []
    Judge(rules or Rules(), now or datetime.now(UTC)).judge(
        username, active, tokens, records, findings
    )
    return records, findings
