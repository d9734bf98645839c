"""``rbtokens audit``: every format, exit codes, rules as options, and revocation.

The ``rbtokens`` command against an in-memory Review Board (``FakeTokenServer``),
and against the stand-in served in a thread for the secrets-exposed finding.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
import yaml
from clikit import NOW, run, secrets_of, seeded, with_user_item

from rbtokens.cli import main
from rbtokens.policy import READ_ONLY
from tools.standin import serve_in_thread
from tools.standin.testing import BASE, FakeTokenServer, html


def test_audit_json_is_one_document_with_every_section() -> None:
    fake = seeded()
    code, out, err = run(fake, "audit", "-o", "json")
    doc = json.loads(out)
    assert code == 1  # findings at or above "low"
    assert set(doc) >= {"summary", "tokens", "findings", "failures"}
    s = doc["summary"]
    assert (s["users_audited"], s["tokens_seen"], s["complete"]) == (5, 3, True)
    assert s["findings"]["no-expiry"] == 1 and s["findings"]["inactive-owner"] == 1
    assert set(s["findings"]) == {
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
    }
    for token in doc["tokens"]:
        assert set(token) >= {
            "username",
            "id",
            "note",
            "expires",
            "expired",
            "valid",
            "usable",
            "last_used",
            "deprecated",
        }
    got = {(f["username"], f["rule"]) for f in doc["findings"]}
    assert got == {
        ("bob", "no-expiry"),
        ("bob", "unrestricted-policy"),
        ("dave", "inactive-owner"),
    }
    for finding in doc["findings"]:
        assert set(finding) >= {"username", "token_id", "rule", "severity", "message"}
    assert doc["failures"] == []
    for secret in secrets_of(fake):
        assert secret not in out and secret not in err


def test_audit_formats_parse_back_to_the_same_findings() -> None:
    expected = {("bob", "no-expiry"), ("bob", "unrestricted-policy"), ("dave", "inactive-owner")}

    code, out, _ = run(seeded(), "audit", "-o", "yaml")
    doc = yaml.safe_load(out)
    assert code == 1
    assert {(f["username"], f["rule"]) for f in doc["findings"]} == expected
    assert doc["summary"]["tokens_seen"] == 3

    code, out, _ = run(seeded(), "audit", "-o", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {(r["username"], r["rule"]) for r in rows} == expected
    assert set(rows[0]) == {"severity", "username", "token_id", "rule", "message"}

    code, out, _ = run(seeded(), "audit", "-o", "ndjson")
    records = [json.loads(line) for line in out.splitlines()]
    kinds = [r["record"] for r in records]
    assert kinds[-1] == "summary" and kinds.count("token") == 3
    findings = {(r["username"], r["rule"]) for r in records if r["record"] == "finding"}
    assert findings == expected

    code, out, _ = run(seeded(), "audit", "-o", "table", "--show-tokens")
    assert "Audit summary" in out and "Findings" in out and "bob laptop" in out
    assert "inactive-owner" in out


def test_audit_exit_codes_follow_fail_on() -> None:
    # No critical finding: dave's inactive-owner is medium (his tokens are refused).
    assert run(seeded(), "audit", "-o", "json", "--fail-on", "critical")[0] == 0
    assert run(seeded(), "audit", "-o", "json", "--fail-on", "high")[0] == 1
    clean = FakeTokenServer()
    clean.add_token(
        "alice",
        expires=NOW + timedelta(days=60),
        policy=READ_ONLY.to_dict(),
        last_used=NOW,
    )
    assert run(clean, "audit", "-o", "json")[0] == 0
    assert run(seeded(), "audit", "-o", "json", "--fail-on", "never")[0] == 0
    # bob's findings are medium and high: without dave's, high fails and critical does not.
    assert run(with_user_item(seeded()), "audit", "--user", "bob", "--fail-on", "critical")[0] == 0
    assert run(with_user_item(seeded()), "audit", "--user", "bob", "--fail-on", "high")[0] == 1


def test_a_user_whose_tokens_cannot_be_read_makes_the_audit_incomplete() -> None:
    fake = seeded()
    fake.inject("GET", "/users/bob/api-tokens/", lambda request: html(500))
    code, out, _ = run(fake, "audit", "--walk", "per-user", "-o", "json")
    doc = json.loads(out)
    assert code == 2
    assert [(f["username"], f["error_type"]) for f in doc["failures"]] == [
        ("bob", "ServerBugError")
    ]
    assert doc["summary"]["complete"] is False
    fake.inject("GET", "/users/bob/api-tokens/", lambda request: html(500))
    code, _out, err = run(fake, "audit", "--walk", "per-user", "-o", "csv")
    assert code == 2 and "could not audit bob" in err


def test_audit_rules_thresholds_and_severities_are_options() -> None:
    _code, out, _ = run(
        seeded(),
        "audit",
        "-o",
        "json",
        "--rules",
        "no-expiry,stale",
        "--severity",
        "no-expiry=critical",
        "--stale-days",
        "0",
    )
    doc = json.loads(out)
    assert {(f["rule"], f["severity"]) for f in doc["findings"]} == {
        ("no-expiry", "critical"),
        ("stale", "low"),
    }
    assert doc["rules"]["enabled"] == ["stale", "no-expiry"]
    assert run(seeded(), "audit", "--rules", "nope")[0] == 2
    assert run(seeded(), "audit", "--severity", "stale=urgent")[0] == 2


def test_audit_revoke_is_a_dry_run_unless_applied() -> None:
    fake = seeded()
    code, out, _ = run(fake, "audit", "-o", "json", "--revoke", "no-expiry,inactive-owner")
    doc = json.loads(out)
    assert code == 1  # the findings still count
    assert doc["remediation"]["applied"] is False
    assert {(r["username"], r["action"]) for r in doc["remediation"]["results"]} == {
        ("bob", "would-revoke"),
        ("dave", "would-revoke"),
    }
    assert len(fake.tokens) == 3
    _code, out, _ = run(
        fake, "audit", "-o", "json", "--revoke", "no-expiry,inactive-owner", "--apply"
    )
    doc = json.loads(out)
    assert {r["action"] for r in doc["remediation"]["results"]} == {"revoked"}
    assert [fake.owner[t] for t in fake.tokens] == ["alice"]
    assert run(fake, "audit", "--revoke", "too-many-tokens")[0] == 2
    assert run(fake, "audit", "--apply")[0] == 2


def test_audit_with_an_api_token_explains_the_password_requirement() -> None:
    fake = seeded()
    secret = secrets_of(fake)[0]
    code, _out, err = run(fake, "audit", "--server", BASE, "--api-token", secret, login=False)
    assert code == 2
    assert "password" in err
    assert secret not in err


def test_revoke_rules_are_checked_before_any_request() -> None:
    for argv in (
        ["--revoke", "too-many-tokens"],
        ["--revoke", "nope"],
        ["--revoke", ","],
        ["--revoke", "stale", "--rules", "no-expiry"],
        ["--rules", ","],
        ["--rules", " , "],
    ):
        fake = seeded()
        code, _out, err = run(fake, "audit", *argv)
        assert code == 2, argv
        assert fake.requests == [], argv
        assert "error" in err


def test_csv_audit_reports_remediation_on_stderr() -> None:
    fake = seeded()
    _code, out, err = run(fake, "audit", "-o", "csv", "--revoke", "no-expiry")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["rule"] for r in rows} >= {"no-expiry"}
    assert "rbtokens: would-revoke: bob token" in err and "(no-expiry)" in err
    assert "add --apply" in err
    _code, out, err = run(fake, "audit", "-o", "csv", "--revoke", "no-expiry", "--apply")
    assert "rbtokens: revoked: bob token" in err
    assert len(list(csv.DictReader(io.StringIO(out)))) >= 1  # stdout is still one CSV table


def test_an_unknown_user_counts_as_listed() -> None:
    code, out, _ = run(with_user_item(seeded()), "audit", "-o", "json", "--user", "nosuchuser")
    s = json.loads(out)["summary"]
    assert code == 2
    assert (s["users_listed"], s["users_audited"], s["users_failed"]) == (1, 0, 1)


def test_the_command_reports_it_and_exits_1() -> None:
    with serve_in_thread(users=10, seed=3) as rb:
        args = ["audit", "--server", rb.url, "--username", "admin", "--password", "admin"]
        out, err = io.StringIO(), io.StringIO()
        code = main([*args, "-o", "json", "--fail-on", "critical"], stdout=out, stderr=err)
        assert code == 1
        doc = json.loads(out.getvalue())
        [finding] = [f for f in doc["findings"] if f["rule"] == "secrets-exposed"]
        assert finding["username"] is None and finding["token_id"] is None
        assert finding["severity"] == "critical"
        assert doc["summary"]["exposure_check"] == "exposed"
        out = io.StringIO()
        code = main([*args, "-o", "table", "--fail-on", "critical"], stdout=out, stderr=err)
        assert code == 1
        assert "(server)" in out.getvalue() and "secrets-exposed" in out.getvalue()


@pytest.mark.parametrize("fmt", ["json", "yaml", "ndjson", "csv"])
def test_a_machine_format_gets_a_document_even_when_the_root_fails(fmt: str) -> None:
    fake = seeded()
    for _ in range(5):  # every retry of the root
        fake.inject("GET", "/api/", lambda request: html(503))
    code, out, err = run(fake, "audit", "-o", fmt)
    assert code == 2
    assert out.strip(), "a document, not silence"
    if fmt == "json":
        doc = json.loads(out)
        assert doc["summary"]["complete"] is False
        assert doc["failures"][0]["username"] is None
        assert doc["failures"][0]["http_status"] == 503
    assert err.strip().splitlines()[-1].startswith("rbtokens audit: error:")


def test_a_usage_error_prints_no_document() -> None:
    code, out, _err = run(seeded(), "audit", "--rules", "no-such-rule", "-o", "json")
    assert code == 2 and out == ""
