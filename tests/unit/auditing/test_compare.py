"""compare(old, new): new, persisting, resolved, and unknown when a user was not audited in both."""

from __future__ import annotations

import msgspec
from reportkit import finding, record, report, user_failure

from rbtokens.auditing import RULES, compare


def marks(comparison) -> dict[tuple, str]:
    return {(f.rule, f.username, f.token_id): f.baseline for f in comparison.report.findings}


def test_a_finding_in_both_persists_and_one_only_now_is_new() -> None:
    old = report([finding("no-expiry", "alice", 1)])
    new = report([finding("no-expiry", "alice", 1), finding("stale", "bob", 2)])
    result = compare(old, new, source="prev.json")
    assert marks(result) == {
        ("no-expiry", "alice", 1): "persisting",
        ("stale", "bob", 2): "new",
    }
    b = result.baseline
    assert (b.new, b.persisting, b.resolved, b.unknown) == (1, 1, 0, 0)
    assert b.source == "prev.json" and b.complete is True
    assert [f.rule for f in result.new] == ["stale"]


def test_a_finding_gone_from_an_audited_user_is_resolved() -> None:
    old = report([finding("no-expiry", "alice", 1), finding("stale", "bob", 2)])
    new = report([finding("no-expiry", "alice", 1)], tokens=[record("alice", 1), record("bob", 2)])
    result = compare(old, new)
    assert [(f.rule, f.baseline) for f in result.resolved] == [("stale", "resolved")]
    assert result.baseline.resolved == 1 and result.baseline.unchecked_findings == []


def test_a_rotated_token_is_a_new_token() -> None:
    old = report([finding("no-expiry", "alice", 1)])
    new = report([finding("no-expiry", "alice", 7)])
    result = compare(old, new)
    assert marks(result) == {("no-expiry", "alice", 7): "new"}
    assert [(f.token_id, f.baseline) for f in result.resolved] == [(1, "resolved")]


def test_identity_ignores_the_severity_and_the_message() -> None:
    old = report([finding("stale", "alice", 1)])
    changed = finding("stale", "alice", 1)
    changed = msgspec.structs.replace(changed, message="other words")
    result = compare(old, report([changed]))
    assert marks(result) == {("stale", "alice", 1): "persisting"}


def test_the_local_site_is_part_of_the_identity() -> None:
    old = report([finding("stale", "alice", 1)], sites=[None, "tenant-a"])
    new = report([finding("stale", "alice", 1, local_site="tenant-a")], sites=[None, "tenant-a"])
    result = compare(old, new)
    assert [f.baseline for f in result.report.findings] == ["new"]


def test_a_user_that_failed_in_the_baseline_has_unknown_findings() -> None:
    old = report([finding("stale", "bob", 2)], failures=[user_failure("alice")])
    new = report([finding("no-expiry", "alice", 1), finding("stale", "bob", 2)])
    result = compare(old, new)
    assert marks(result) == {
        ("no-expiry", "alice", 1): "unknown",
        ("stale", "bob", 2): "persisting",
    }
    assert result.baseline.new == 0 and result.baseline.complete is False


def test_a_user_that_failed_now_has_no_resolved_findings() -> None:
    old = report([finding("no-expiry", "alice", 1), finding("stale", "bob", 2)])
    new = report([finding("stale", "bob", 2)], failures=[user_failure("alice")])
    result = compare(old, new)
    assert result.resolved == []
    assert [(f.username, f.baseline) for f in result.baseline.unchecked_findings] == [
        ("alice", "unknown")
    ]
    assert result.baseline.unknown == 1


def test_a_failed_users_page_hides_every_user_it_did_not_show() -> None:
    # The baseline could not read a users page: alice (no token there) may be behind it.
    old = report([finding("stale", "bob", 2)], failures=[user_failure(None, "users page 2: boom")])
    new = report(
        [finding("no-expiry", "alice", 1), finding("stale", "bob", 2), finding("expired", "bob", 3)]
    )
    result = compare(old, new)
    assert marks(result) == {
        ("no-expiry", "alice", 1): "unknown",
        ("stale", "bob", 2): "persisting",
        ("expired", "bob", 3): "new",  # bob was seen: his tokens were read
    }


def test_an_audit_that_could_not_start_makes_every_finding_unknown() -> None:
    old = report([], tokens=[], failures=[user_failure(None, "cannot connect")])
    new = report([finding("no-expiry", "alice", 1)])
    result = compare(old, new)
    assert marks(result) == {("no-expiry", "alice", 1): "unknown"}
    assert result.new == []


def test_a_failed_exposure_check_leaves_the_users_audited() -> None:
    failure = user_failure(None, "secrets-exposed check (GET /api/users/): boom")
    old = report([finding("stale", "bob", 2)], failures=[failure], exposure="failed")
    new = report(
        [
            finding("stale", "bob", 2),
            finding("no-expiry", "bob", 2),
            finding("secrets-exposed", None, None),
        ],
        exposure="exposed",
    )
    result = compare(old, new)
    assert marks(result) == {
        ("stale", "bob", 2): "persisting",
        ("no-expiry", "bob", 2): "new",
        ("secrets-exposed", None, None): "unknown",
    }


def test_a_server_finding_is_resolved_once_the_check_answers() -> None:
    old = report([finding("secrets-exposed", None, None)], exposure="exposed")
    gone = compare(old, report([], exposure="not-exposed"))
    assert [f.rule for f in gone.resolved] == ["secrets-exposed"]
    unsure = compare(old, report([], exposure="rate-limited"))
    assert unsure.resolved == [] and unsure.baseline.unknown == 1


def test_a_rule_that_did_not_run_in_both_is_unknown() -> None:
    without_stale = [r for r in RULES if r != "stale"]
    old = report([finding("no-expiry", "alice", 1)], enabled=without_stale)
    new = report([finding("no-expiry", "alice", 1), finding("stale", "alice", 1)])
    assert marks(compare(old, new))[("stale", "alice", 1)] == "unknown"
    back = compare(new, old)
    assert back.resolved == [] and [f.rule for f in back.baseline.unchecked_findings] == ["stale"]


def test_a_local_site_audited_in_one_report_only_is_unknown() -> None:
    old = report([finding("stale", "alice", 1)])
    new = report([finding("stale", "carol", 5, local_site="tenant-a")], sites=[None, "tenant-a"])
    result = compare(old, new)
    assert marks(result) == {("stale", "carol", 5): "unknown"}
    assert [f.username for f in result.resolved] == ["alice"]


def test_marks_from_an_earlier_comparison_do_not_leak_into_the_lists() -> None:
    first = compare(report([finding("stale", "alice", 1)]), report([finding("stale", "alice", 1)]))
    second = compare(first.report, report([], tokens=[record("alice", 1)]))
    assert [f.baseline for f in second.resolved] == ["resolved"]
