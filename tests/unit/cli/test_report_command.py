"""``rbtokens report AUDIT.json``: offline, as the live run printed it, in every format."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from clikit import NOW, run, seeded

from rbtokens.cli import main
from rbtokens.policy import READ_ONLY
from rbtokens.reporting.schema import schema

FORMATS = ("json", "ndjson", "csv", "yaml", "html")
VALIDATOR = jsonschema.Draft202012Validator(schema())
FIXED = ["--now", NOW.isoformat()]
#: A token with one finding: no-expiry (medium).
NO_EXPIRY: dict[str, Any] = {
    "expires": None,
    "policy": READ_ONLY.to_dict(),
    "last_used": NOW,
    "time_added": NOW - timedelta(days=1),
}


def offline(*args: str) -> tuple[int, str, str]:
    """The command with no server, no credentials and no transport: any request would fail."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def validate_ndjson(text: str) -> None:
    """Each NDJSON record against the schema's definition of what it carries."""
    kinds = {"finding": "Finding", "baseline-finding": "Finding", "token": "TokenRecord",
             "failure": "Failure", "summary": "Summary", "waiver": "WaiverStatus",
             "revoke": "RevokeResult"}  # fmt: skip
    defs = schema()["$defs"]
    for line in text.splitlines():
        record = json.loads(line)
        kind = record.pop("record")
        record.pop("applied", None)
        if kind in kinds:
            definition = {**defs[kinds[kind]], "$defs": defs}
            jsonschema.validate(record, definition)


@pytest.fixture
def saved(tmp_path: Path) -> dict[str, Path]:
    fake = seeded()
    paths = {fmt: tmp_path / f"live.{fmt}" for fmt in FORMATS}
    args = [a for p in paths.values() for a in ("--save", str(p))]
    code, _, err = run(fake, "audit", "-q", *FIXED, *args)
    assert code == 1, err
    return paths


@pytest.mark.parametrize("fmt", FORMATS)
def test_report_of_a_saved_audit_is_the_live_runs_file(saved: dict[str, Path], fmt: str) -> None:
    code, out, err = offline("report", str(saved["json"]), "-o", fmt)
    assert code == 1, err
    assert out == saved[fmt].read_text()


@pytest.mark.parametrize("fmt", ("table", "json", "ndjson", "csv", "yaml", "html"))
def test_report_prints_what_the_live_run_printed(tmp_path: Path, fmt: str) -> None:
    fake = seeded()
    target = tmp_path / "live.json"
    code, live, _ = run(fake, "audit", "-q", *FIXED, "-o", fmt, "--save", str(target))
    again_code, again, _ = offline("report", str(target), "-o", fmt)
    assert again_code == code == 1
    if fmt == "ndjson":  # the live run streams findings as found: same lines, found order
        assert sorted(again.splitlines()) == sorted(live.splitlines())
    else:
        assert again == live


def test_every_document_output_is_valid_against_the_schema(saved: dict[str, Path]) -> None:
    VALIDATOR.validate(json.loads(saved["json"].read_text()))
    VALIDATOR.validate(yaml.safe_load(saved["yaml"].read_text()))
    validate_ndjson(saved["ndjson"].read_text())
    _, out, _ = run(seeded(), "audit", "-o", "json", "--revoke", "no-expiry")
    VALIDATOR.validate(json.loads(out))
    assert json.loads(out)["remediation"]["applied"] is False


def test_report_needs_no_server_and_takes_no_connection_options(
    saved: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        offline("report", str(saved["json"]), "--server", "https://rb.test/")
    assert exit_.value.code == 2
    assert "unrecognized arguments: --server" in capsys.readouterr().err
    code, out, _ = offline("report", str(saved["json"]), "-o", "json")
    assert code == 1 and json.loads(out)["summary"]["server"] == "https://rb.test"


def test_report_of_a_file_that_is_no_document_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"summary": {}}')
    code, out, err = offline("report", str(bad))
    assert code == 2 and "no schema_version" in err and out == ""
    code, out, err = offline("report", str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read" in err


def test_html_is_only_for_reports(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        run(seeded(), "list", "-o", "html")
    assert exit_.value.code == 2 and "-o html: list prints no report" in capsys.readouterr().err


def audit_doc(fake: Any, *args: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = run(fake, "audit", "-o", "json", *FIXED, *args)
    return code, json.loads(out), err


def test_a_baseline_marks_new_persisting_and_resolved(tmp_path: Path) -> None:
    fake = seeded()
    prev = tmp_path / "prev.json"
    run(fake, "audit", "-q", *FIXED, "--save", str(prev))
    new = fake.add_token("carol", note="carol laptop", **NO_EXPIRY)
    bob = fake.tokens_of("bob")[0]["id"]
    assert run(fake, "revoke", str(bob), "--owner", "bob")[0] == 0
    _, doc, _ = audit_doc(fake, "--baseline", str(prev))
    marks = {(f["username"], f["rule"]): f["baseline"] for f in doc["findings"]}
    assert marks == {("carol", "no-expiry"): "new", ("dave", "inactive-owner"): "persisting"}
    assert {(f["username"], f["rule"]) for f in doc["baseline"]["resolved_findings"]} == {
        ("bob", "no-expiry"),
        ("bob", "unrestricted-policy"),
    }
    b = doc["baseline"]
    assert (b["new"], b["persisting"], b["resolved"], b["unknown"]) == (1, 1, 2, 0)
    assert b["source"] == str(prev)
    assert new["id"] in {f["token_id"] for f in doc["findings"] if f["baseline"] == "new"}
    VALIDATOR.validate(doc)


def test_fail_on_new_counts_only_new_findings_at_its_severity(tmp_path: Path) -> None:
    fake = seeded()
    prev = tmp_path / "prev.json"
    run(fake, "audit", "-q", *FIXED, "--save", str(prev))
    assert run(fake, "audit", "-q", *FIXED, "--baseline", str(prev), "--fail-on-new", "low")[0] == 0
    fake.add_token("carol", note="carol laptop", **NO_EXPIRY)  # medium: no-expiry
    assert (
        run(fake, "audit", "-q", *FIXED, "--baseline", str(prev), "--fail-on-new", "high")[0] == 0
    )
    code, out, _ = run(fake, "audit", *FIXED, "--baseline", str(prev), "--fail-on-new", "medium")
    assert code == 1
    assert "1 new, 3 persisting, 0 resolved, 0 unknown" in out


def test_fail_on_new_needs_a_baseline() -> None:
    fake = seeded()
    code, _, err = run(fake, "audit", "--fail-on-new", "high")
    assert code == 2 and "--fail-on-new needs --baseline" in err and fake.requests == []


def test_report_marks_a_saved_audit_against_a_baseline(tmp_path: Path) -> None:
    fake = seeded()
    prev, now = tmp_path / "prev.json", tmp_path / "now.json"
    run(fake, "audit", "-q", *FIXED, "--save", str(prev))
    fake.add_token("carol", note="carol laptop", **NO_EXPIRY)
    run(fake, "audit", "-q", *FIXED, "--save", str(now))
    code, out, _ = offline("report", str(now), "--baseline", str(prev), "-o", "csv")
    assert code == 1
    rows = out.splitlines()
    assert rows[0] == (
        "severity,username,token_id,rule,message,baseline,waived,waiver_reason,"
        "waiver_accepted_by,waiver_expires"
    )
    assert sum(",carol," in r and ",new," in r for r in rows) == 1
    assert offline("report", str(now), "--baseline", str(prev), "--fail-on-new", "medium")[0] == 1
    code, _, err = offline("report", str(now), "--fail-on-new", "medium")
    assert code == 2 and "--fail-on-new needs --baseline" in err


WAIVERS = """\
waivers:
  - rule: no-expiry
    user: bob
    reason: the deploy service's token
    accepted_by: alice
    expires: 2099-12-31
  - rule: unrestricted-policy
    user: bob
    reason: accepted last year
    accepted_by: alice
    expires: 2020-01-01
  - rule: stale
    user: carol
    reason: nothing matches this
    accepted_by: alice
    expires: 2099-12-31
"""


def test_waivers_mark_findings_and_keep_them_out_of_the_verdict(tmp_path: Path) -> None:
    path = tmp_path / "waivers.yaml"
    path.write_text(WAIVERS)
    fake = seeded()
    code, doc, _ = audit_doc(fake, "--waivers", str(path), "--fail-on", "medium")
    waived = {(f["username"], f["rule"]): f["waiver"] for f in doc["findings"]}
    assert waived[("bob", "no-expiry")]["reason"] == "the deploy service's token"
    assert waived[("bob", "unrestricted-policy")] is None  # its waiver expired
    assert [w["state"] for w in doc["waivers"]["waivers"]] == ["applied", "expired", "unmatched"]
    assert code == 1  # the expired waiver's finding (high) and dave's (medium) still count
    VALIDATOR.validate(doc)
    _, _, err = run(fake, "audit", "-o", "csv", "--waivers", str(path), "--fail-on", "never")
    assert "waiver expired: unrestricted-policy for bob" in err
    assert "waiver unmatched: stale for carol" in err


def test_every_finding_waived_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "waivers.yaml"
    path.write_text(
        "- {rule: no-expiry, user: bob, reason: r, accepted_by: a, expires: 2099-01-01}\n"
        "- {rule: unrestricted-policy, user: bob, reason: r, accepted_by: a, expires: 2099-01-01}\n"
        "- {rule: inactive-owner, user: dave, reason: r, accepted_by: a, expires: 2099-01-01}\n"
    )
    code, out, err = run(seeded(), "audit", "--waivers", str(path))
    assert code == 0, err
    assert "3 finding(s) waived by 3 waiver(s)" in out and "waived" in out


def test_a_bad_waivers_file_stops_the_run_before_any_request(tmp_path: Path) -> None:
    path = tmp_path / "waivers.yaml"
    path.write_text("- {rule: no-expiry, user: bob}\n")
    fake = seeded()
    code, _, err = run(fake, "audit", "--waivers", str(path))
    assert code == 2 and "waiver 1" in err and fake.requests == []


def test_streamed_ndjson_findings_carry_the_final_marks(tmp_path: Path) -> None:
    fake = seeded()
    prev, waivers = tmp_path / "prev.json", tmp_path / "waivers.yaml"
    waivers.write_text(WAIVERS)
    run(fake, "audit", "-q", *FIXED, "--save", str(prev))
    fake.add_token("carol", note="carol laptop", **NO_EXPIRY)
    saved = tmp_path / "now.json"
    marks = ("--baseline", str(prev), "--waivers", str(waivers))
    _, live, _ = run(fake, "audit", "-q", *FIXED, "-o", "ndjson", *marks, "--save", str(saved))
    _, again, _ = offline("report", str(saved), "-o", "ndjson")
    assert sorted(live.splitlines()) == sorted(again.splitlines())
    records = [json.loads(line) for line in live.splitlines()]
    assert {r["baseline"] for r in records if r["record"] == "finding"} == {"new", "persisting"}
    assert sum(1 for r in records if r["record"] == "finding" and r["waiver"]) == 1
    assert [r["record"] for r in records[-3:]] == ["summary", "baseline", "waivers"]
    validate_ndjson(live)
