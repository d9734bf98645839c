"""Parsed options → library values (times, policies, extra data, rules), or :class:`UsageError`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from ..auditing import RULES, Rules, validate_revoke_rules
from ..policy import FULL_ACCESS, READ_ONLY
from .parser import SEVERITY_NAMES

__all__ = [
    "UsageError",
    "expiry_arg",
    "extra_arg",
    "parse_time",
    "policy_arg",
    "query_args",
    "revoke_arg",
    "rules_arg",
]


class UsageError(Exception):
    """Bad arguments found after parsing (exit code 2)."""


def query_args(extra: Sequence[str]) -> dict[str, str]:
    """``--key=value`` (or bare ``--flag``) arguments after the path → a query."""
    query: dict[str, str] = {}
    for arg in extra:
        if not arg.startswith("--") or len(arg) < 3:
            raise UsageError(f"unexpected argument {arg!r} (query parameters are --key=value)")
        key, sep, value = arg[2:].partition("=")
        query[key] = value if sep else "1"
    return query


def parse_time(text: str, what: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{what}: not an ISO 8601 time: {text!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def policy_arg(args: argparse.Namespace, *, default: Any) -> Any:
    if args.read_only:
        return READ_ONLY
    if args.full_access:
        return FULL_ACCESS
    if args.policy is None:
        return default
    text = args.policy
    if text.startswith("@"):
        try:
            with open(text[1:], encoding="utf-8") as fp:
                text = fp.read()
        except OSError as exc:
            raise UsageError(f"--policy: {exc}") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--policy: not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise UsageError("--policy: the policy must be a JSON object")
    return doc


def extra_arg(pairs: Sequence[str]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--extra takes KEY=VALUE, got {pair!r}")
        try:
            extra[key] = json.loads(raw)
        except ValueError:
            extra[key] = raw
    return extra


def expiry_arg(args: argparse.Namespace) -> tuple[str, datetime | None]:
    """``("unset" | "set", value)`` from --expires-in / --expires / --no-expiry."""
    if args.no_expiry:
        return "set", None
    if args.expires_in is not None:
        return "set", datetime.now(UTC) + timedelta(days=args.expires_in)
    if args.expires is not None:
        return "set", parse_time(args.expires, "--expires")
    return "unset", None


def _rule_list(text: str, option: str) -> list[str]:
    rules = [r.strip() for r in text.split(",") if r.strip()]
    if not rules:
        raise UsageError(f"{option}: no rule given (choose from {', '.join(RULES)})")
    return rules


def rules_arg(args: argparse.Namespace) -> Any:
    enabled: Sequence[str] = RULES
    if args.rules is not None:
        enabled = _rule_list(args.rules, "--rules")
    severities: dict[str, str] = {}
    for pair in args.severity:
        rule, sep, level = pair.partition("=")
        if not sep or level not in SEVERITY_NAMES:
            raise UsageError(f"--severity takes RULE=LEVEL (LEVEL: {', '.join(SEVERITY_NAMES)})")
        severities[rule] = level
    try:
        return msgspec.convert(
            {
                "enabled": list(enabled),
                "expiring_soon_days": args.expiring_days,
                "never_used_days": args.never_used_days,
                "stale_days": args.stale_days,
                "max_tokens": args.max_tokens,
                "severities": severities,
            },
            Rules,
        )
    except (ValueError, msgspec.ValidationError) as exc:
        raise UsageError(str(exc)) from None


def revoke_arg(args: argparse.Namespace, rules: Rules) -> list[str]:
    """The --revoke rules, checked before any request is made."""
    if args.revoke is None:
        if args.apply:
            raise UsageError("--apply needs --revoke RULE,...")
        return []
    revoke_rules = _rule_list(args.revoke, "--revoke")
    try:
        validate_revoke_rules(revoke_rules)
    except ValueError as exc:
        raise UsageError(f"--revoke: {exc}") from None
    disabled = [r for r in revoke_rules if r not in rules.enabled]
    if disabled:
        raise UsageError(f"--revoke: {', '.join(disabled)} not run (see --rules)")
    return revoke_rules
