"""Every ``rbtokens`` verb against the real Review Board 8.1 site, output parsed back.

Tokens created here belong to alice or bob and are deleted after each test.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from recording import RecordingTransport

from rbtokens import RBClient
from rbtokens.cli import main
from rbtokens.transport import AiohttpTransport, Request, Response

pytestmark = pytest.mark.integration

OWNERS = ("alice", "bob")


def login(site: Any) -> list[str]:
    return ["--server", site.url, "--username", "admin", "--password", site.admin_password]


def run(site: Any, *args: str, transport: Any = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([*args, *login(site)], transport=transport, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def expected_findings(site: Any) -> set[tuple[str | None, str]]:
    """(username, rule) per seeded risk, and (None, rule) for the site's own."""
    users = site.manifest["users"]
    return {(u["username"], rule) for u in users for rule in u["expect_rules"]} | {
        (None, rule) for rule in site.manifest["server_rules"]
    }


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("SERVER", "USERNAME", "PASSWORD", "API_TOKEN"):
        monkeypatch.delenv(f"RBTOKENS_{name}", raising=False)
    monkeypatch.delenv("RBTOOLS_CONFIG_PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
async def no_leftover_tokens(rb_site: Any) -> AsyncIterator[None]:
    yield
    async with RBClient(rb_site.url, username="admin", password=rb_site.admin_password) as client:
        for owner in OWNERS:
            for token in await (await client.tokens.list(owner, per_page=200)).all():
                await client.tokens.revoke(token)


def test_audit_json_finds_exactly_the_seeded_risks(rb_site: Any) -> None:
    code, out, err = run(rb_site, "audit", "-o", "json")
    doc = json.loads(out)
    assert code == 1, err
    assert {(f["username"], f["rule"]) for f in doc["findings"]} == expected_findings(rb_site)
    assert doc["failures"] == [] and doc["summary"]["complete"] is True
    assert doc["summary"]["logins"] == 1
    seeded = {t["id"] for t in rb_site.manifest["tokens"]}
    assert seeded <= {t["id"] for t in doc["tokens"]}
    for secret in (t["token"] for t in rb_site.manifest["tokens"]):
        assert secret not in out


def test_audit_formats_parse_back(rb_site: Any) -> None:
    expected = expected_findings(rb_site)
    code, out, _ = run(rb_site, "audit", "-o", "yaml")
    assert code == 1
    assert {(f["username"], f["rule"]) for f in yaml.safe_load(out)["findings"]} == expected
    code, out, _ = run(rb_site, "audit", "-o", "csv")
    rows = csv.DictReader(io.StringIO(out))
    assert {(r["username"] or None, r["rule"]) for r in rows} == expected  # None is empty
    code, out, _ = run(rb_site, "audit", "-o", "ndjson", "--concurrency", "4")
    records = [json.loads(line) for line in out.splitlines()]
    assert {(r["username"], r["rule"]) for r in records if r["record"] == "finding"} == expected
    assert records[-1]["record"] == "summary" and records[-1]["complete"] is True
    code, out, _ = run(rb_site, "audit")
    assert code == 1
    for username, rule in expected:
        assert (username or "(server)") in out and rule in out


def test_audit_failure_exits_2(rb_site: Any) -> None:
    victim = rb_site.manifest["rule_examples"]["no-expiry"]

    def fail_one(request: Request) -> Response | None:
        if request.url.path.endswith(f"/users/{victim}/api-tokens/"):
            return Response(500, {"content-type": "text/html"}, b"<h1>Server Error (500)</h1>")
        return None

    transport = RecordingTransport(AiohttpTransport(), intercept=fail_one)
    code, out, _ = run(
        rb_site, "audit", "--walk", "per-user", "-o", "json", "--fail-on", "never",
        transport=transport,
    )  # fmt: skip
    doc = json.loads(out)
    assert code == 2
    assert [f["username"] for f in doc["failures"]] == [victim]


def test_the_demo_invocation_prints_a_table(rb_site: Any) -> None:
    """What ``python tools/rbsite.py demo`` runs, as a separate process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RBTOKENS_")}
    env["RBTOKENS_PASSWORD"] = rb_site.admin_password  # the demo keeps it out of argv
    args = ["--server", rb_site.url, "--username", rb_site.admin_username]
    proc = subprocess.run(
        [sys.executable, "-m", "rbtokens", "audit", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Audit summary" in proc.stdout and "Findings per rule" in proc.stdout
    assert "complete" in proc.stdout
    assert "\x1b[" not in proc.stdout  # no colour codes when piped
    # No progress bar (stderr is not a terminal): only the last line, for a scheduler.
    assert proc.stderr.startswith("rbtokens audit: complete: ")
    assert proc.stderr.endswith(", at or above low\n") and proc.stderr.count("\n") == 1


def test_the_installed_entry_point(rb_site: Any) -> None:
    exe = shutil.which("rbtokens", path=str(Path(sys.executable).parent))
    assert exe is not None, "the rbtokens console script is not installed"
    proc = subprocess.run(
        [exe, "whoami", "-o", "json", *login(rb_site)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["username"] == "admin"


def test_token_verbs_round_trip(rb_site: Any) -> None:
    code, out, err = run(rb_site, "create", "--owner", "alice", "--note", "cli: one", "-o", "json")
    assert code == 0, err
    created = json.loads(out)
    secret = created["token"]
    assert secret.startswith("rbp_") and len(secret) == 255 and out.count(secret) == 1
    assert "shown only this once" in err
    expires = datetime.fromisoformat(created["expires"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=90))) < timedelta(minutes=5)
    assert created["policy"] == {"resources": {"*": {"allow": ["GET"], "block": ["*"]}}}
    token_id = str(created["id"])

    code, out, _ = run(rb_site, "get", token_id, "--owner", "alice", "-o", "json")
    assert json.loads(out)["note"] == "cli: one" and secret not in out

    code, out, _ = run(rb_site, "list", "--owner", "alice", "-o", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["id"] for r in rows] == [token_id] and secret not in out

    code, out, _ = run(rb_site, "list", "--all-users", "-o", "ndjson")
    listed = [json.loads(line) for line in out.splitlines()]
    assert ("alice", int(token_id)) in {(t["username"], t["id"]) for t in listed}
    assert len(listed) == len(rb_site.manifest["tokens"]) + 1
    assert secret not in out

    code, out, _ = run(
        rb_site,
        "update",
        token_id,
        "--owner",
        "alice",
        "--note",
        "cli: renamed",
        "--no-expiry",
        "-o",
        "yaml",
    )
    doc = yaml.safe_load(out)
    assert code == 0 and doc["note"] == "cli: renamed" and doc["expires"] is None

    code, out, _ = run(
        rb_site, "rotate", token_id, "--owner", "alice", "--grace", "1", "-o", "json"
    )
    rotated = json.loads(out)
    assert code == 0
    assert rotated["new_token"]["token"].startswith("rbp_")
    assert rotated["new_token"]["token"] != secret and secret not in out
    assert rotated["new_token"]["note"] == "cli: renamed"
    old_expires = datetime.fromisoformat(rotated["old_expires"])
    assert abs(old_expires - (datetime.now(UTC) + timedelta(hours=1))) < timedelta(minutes=5)
    new_id = str(rotated["new_token"]["id"])

    # Review Board 8.1 does not persist PUT valid=false: reported, exit 2.
    code, _out, err = run(rb_site, "invalidate", new_id, "--owner", "alice", "--reason", "test")
    assert code == 2 and "did not save" in err
    code, out, _ = run(
        rb_site,
        "invalidate",
        new_id,
        "--owner",
        "alice",
        "--reason",
        "test",
        "--delete-if-not-persisted",
        "-o",
        "json",
    )
    assert code == 0 and "deleted" in json.loads(out)["result"]

    code, out, _ = run(rb_site, "revoke", token_id, "--owner", "alice", "-o", "json")
    assert code == 0 and json.loads(out) == [
        {"id": int(token_id), "result": "revoked", "error": None}
    ]
    code, out, _ = run(rb_site, "list", "--owner", "alice", "-o", "json")
    assert json.loads(out) == []


def test_create_in_table_form_and_revoke_by_audit(rb_site: Any) -> None:
    code, out, _ = run(
        rb_site,
        "create",
        "--owner",
        "bob",
        "--note",
        "cli: forever",
        "--no-expiry",
        "--full-access",
    )
    assert code == 0
    secret_lines = [line for line in out.splitlines() if line.startswith("token: rbp_")]
    assert len(secret_lines) == 1
    code, out, _ = run(
        rb_site,
        "audit",
        "-o",
        "json",
        "--user",
        "bob",
        "--revoke",
        "no-expiry",
        "--apply",
    )
    doc = json.loads(out)
    # Just created: not yet "never used" for 30 days, but full access with no expiry.
    assert {(f["username"], f["rule"]) for f in doc["findings"]} == {
        ("bob", "no-expiry"),
        ("bob", "unrestricted-policy"),
        (None, "secrets-exposed"),
    }
    assert [r["action"] for r in doc["remediation"]["results"]] == ["revoked"]
    code, out, _ = run(rb_site, "list", "--owner", "bob", "-o", "json")
    assert json.loads(out) == []


def test_whoami_and_api_get(rb_site: Any) -> None:
    code, out, _ = run(rb_site, "whoami")
    assert (code, out.strip()) == (0, "admin")
    code, out, _ = run(rb_site, "api-get", "info/")
    assert json.loads(out)["info"]["product"]["version"] == "8.1"  # the payload, as rbt api-get
    code, out, _ = run(rb_site, "api-get", "users/", "--max-results=3", "--include-inactive=1")
    doc = json.loads(out)
    assert len(doc["users"]) == 3 and doc["total_results"] >= len(rb_site.manifest["users"])
    victim = rb_site.manifest["rule_examples"]["stale"]
    code, out, _ = run(rb_site, "api-get", f"users/{victim}/api-tokens/", "-o", "yaml")
    (token,) = yaml.safe_load(out)["api_tokens"]
    assert token["token"] == "rbp_****"
    for secret in (t["token"] for t in rb_site.manifest["tokens"]):
        assert secret not in out
    code, out, _ = run(rb_site, "api-get", "users/", "--q=audit_", "-o", "csv")
    names = {r["username"] for r in csv.DictReader(io.StringIO(out))}
    assert names and all(n.startswith("audit_") for n in names)


def test_reviewboardrc_is_read(
    rb_site: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".reviewboardrc").write_text(
        f'REVIEWBOARD_URL = "{rb_site.url}"\nUSERNAME = "admin"\n'
    )
    monkeypatch.setenv("RBTOKENS_PASSWORD", rb_site.admin_password)
    out, err = io.StringIO(), io.StringIO()
    code = main(["whoami"], stdout=out, stderr=err)
    assert (code, out.getvalue().strip()) == (0, "admin"), err.getvalue()
