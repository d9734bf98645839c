"""The audit's rules, pure: each deviation triggers its rule; thresholds, severities, messages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
import pytest
from auditkit import DAY, NOW, rules_of, token

from rbtokens.auditing import DEFAULT_SEVERITIES, RULES, TOKEN_FIELDS, Rules, Severity, judge_tokens


def test_a_clean_token_has_no_finding() -> None:
    records, findings = judge_tokens("u", [token()], now=NOW)
    assert findings == []
    assert len(records) == 1
    assert records[0].usable and records[0].username == "u"


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"expires": NOW - 3 * DAY, "expired": True, "last_used": NOW - 5 * DAY}, "expired"),
        ({"expires": NOW + 3 * DAY}, "expiring-soon"),
        ({"time_added": NOW - 120 * DAY, "last_used": None}, "never-used"),
        ({"time_added": NOW - 250 * DAY, "last_used": NOW - 200 * DAY}, "stale"),
        ({"expires": None}, "no-expiry"),
        ({"policy": {}}, "unrestricted-policy"),
        ({"policy": {"resources": {"*": {"allow": ["*"]}}}}, "unrestricted-policy"),
        ({"token_generator_id": "legacy_sha1", "deprecated": True}, "deprecated-generator"),
        ({"valid": False, "invalid_reason": "leaked"}, "invalid"),
    ],
)
def test_each_deviation_triggers_exactly_its_rule(fields: dict[str, Any], rule: str) -> None:
    assert rules_of([token(**fields)]) == [rule]


def test_the_servers_expired_flag_or_the_clock_make_a_token_expired() -> None:
    # The server computes ``expired`` per request; a past ``expires`` counts too.
    assert rules_of([token(expires=NOW - DAY, expired=False)]) == ["expired"]
    assert rules_of([token(expired=True)]) == ["expired"]


def test_dead_tokens_only_get_expired_or_invalid() -> None:
    dead = token(
        valid=False,
        expired=True,
        expires=NOW - DAY,
        policy={},
        token_generator_id="legacy_sha1",
        deprecated=True,
        last_used=None,
        time_added=NOW - 400 * DAY,
    )
    assert rules_of([dead], active=False) == ["expired", "invalid"]


def test_inactive_owner_is_reported_for_usable_tokens_only() -> None:
    assert rules_of([token()], active=False) == ["inactive-owner"]
    assert rules_of([token(valid=False)], active=False) == ["invalid"]


def test_inactive_owner_says_the_token_is_refused_until_reactivation() -> None:
    # Review Board refuses an inactive user's tokens (401, code 104): not critical.
    _r, (finding,) = judge_tokens("u", [token()], active=False, now=NOW)
    assert finding.severity is Severity.MEDIUM
    assert "refused now" in finding.message and "reactivated" in finding.message
    assert "works" in finding.message and "the token works" not in finding.message


def test_messages_count_units_and_never_understate_the_threshold() -> None:
    _r, (soon,) = judge_tokens("u", [token(expires=NOW + timedelta(minutes=50))], now=NOW)
    assert soon.message.startswith("expires in 1 hour (")
    _r, (stale,) = judge_tokens("u", [token(last_used=NOW - timedelta(days=90, hours=3))], now=NOW)
    assert stale.message.startswith("last used over 90 days ago (")
    _r, (older,) = judge_tokens("u", [token(last_used=NOW - 120 * DAY)], now=NOW)
    assert older.message.startswith("last used 120 days ago (")
    _r, (never,) = judge_tokens(
        "u", [token(last_used=None, time_added=NOW - timedelta(days=30, hours=1))], now=NOW
    )
    assert never.message == "never used since it was added over 30 days ago"
    assert not hasattr(Rules(), "severity")  # severities live in Rules.severities


def test_too_many_tokens_is_one_finding_per_user() -> None:
    assert rules_of([token(id=i) for i in range(10)]) == []
    _records, findings = judge_tokens("u", [token(id=i) for i in range(11)], now=NOW)
    assert [(f.rule, f.token_id) for f in findings] == [("too-many-tokens", None)]
    assert "11 tokens" in findings[0].message


def test_thresholds_are_configurable() -> None:
    rules = Rules(expiring_soon_days=100, never_used_days=5, stale_days=0.5, max_tokens=1)
    tokens = [token(id=1), token(id=2, last_used=None, time_added=NOW - 6 * DAY)]
    assert rules_of(tokens, rules=rules) == [
        "expiring-soon",
        "expiring-soon",
        "never-used",
        "stale",
        "too-many-tokens",
    ]


def test_disabled_rules_do_not_run_and_severities_can_change() -> None:
    rules = Rules(enabled=("no-expiry",), severities={"no-expiry": "critical"})  # type: ignore[dict-item]
    _r, findings = judge_tokens("u", [token(expires=None, policy={})], rules=rules, now=NOW)
    assert [(f.rule, f.severity) for f in findings] == [("no-expiry", Severity.CRITICAL)]


def test_rules_reject_unknown_names_and_negative_thresholds() -> None:
    with pytest.raises(ValueError, match="unknown rule"):
        Rules(enabled=("expird",))
    with pytest.raises(ValueError, match="negative"):
        Rules(stale_days=-1)


def test_every_rule_has_a_severity_and_the_order_is_info_to_critical() -> None:
    assert set(DEFAULT_SEVERITIES) == set(RULES)
    assert [s.rank for s in Severity] == [0, 1, 2, 3, 4]
    assert Severity("critical").rank > Severity("high").rank


def test_records_hold_no_secret() -> None:
    records, _f = judge_tokens("u", [token(token="rbp_" + "S" * 251)], now=NOW)
    assert "rbp_" not in msgspec.json.encode(records).decode()
    assert "token" not in TOKEN_FIELDS.split(",")
