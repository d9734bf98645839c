"""The ``rbtokens`` command against an in-memory Review Board: every verb, every format."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from rbtokens.cli import EPILOG, VERBS, Output, main
from rbtokens.policy import READ_ONLY
from rbtokens.transport import Request, Response
from tools.standin.testing import BASE, FakeTokenServer, html

LOGIN = ["--server", BASE, "--username", "admin", "--password", "admin-pw"]
NOW = datetime.now(UTC)


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No RBTOKENS_* variables and no .reviewboardrc from the machine running the tests."""
    for name in ("SERVER", "USERNAME", "PASSWORD", "API_TOKEN"):
        monkeypatch.delenv(f"RBTOKENS_{name}", raising=False)
    monkeypatch.delenv("RBTOOLS_CONFIG_PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(fake: FakeTokenServer, *args: str, login: bool = True) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    argv = [*args, *LOGIN] if login else list(args)
    code = main(argv, transport=fake.transport, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def seeded() -> FakeTokenServer:
    """alice: one clean token; bob: one with no expiry and full access; dave (inactive): one."""
    fake = FakeTokenServer()
    fresh = {
        "expires": NOW + timedelta(days=60),
        "policy": READ_ONLY.to_dict(),
        "last_used": NOW - timedelta(days=1),
        "time_added": NOW - timedelta(days=5),
    }
    fake.add_token("alice", note="alice ci", **fresh)
    fake.add_token("bob", note="bob laptop", expires=None, last_used=NOW)
    fake.add_token("dave", note="dave old", **fresh)
    return fake


def with_user_item(fake: FakeTokenServer) -> FakeTokenServer:
    """Answer ``GET /api/users/<name>/``, which the token fake does not route."""

    def user_item(request: Request) -> Response:
        name = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        body = {"stat": "ok", "user": fake.user_payload(name)}
        mime = "application/vnd.reviewboard.org.user+json"
        return Response(200, {"content-type": mime}, json.dumps(body).encode())

    for name in fake.users:
        fake.inject("GET", f"/api/users/{name}/", user_item)
    return fake


def secrets_of(fake: FakeTokenServer) -> list[str]:
    return [t["token"] for t in fake.tokens.values()]


# -- audit ------------------------------------------------------------------------------


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
    code, out, _ = run(fake, "audit", "-o", "json")
    doc = json.loads(out)
    assert code == 2
    assert [(f["username"], f["error_type"]) for f in doc["failures"]] == [
        ("bob", "ServerBugError")
    ]
    assert doc["summary"]["complete"] is False
    fake.inject("GET", "/users/bob/api-tokens/", lambda request: html(500))
    code, _out, err = run(fake, "audit", "-o", "csv")
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


# -- token verbs -----------------------------------------------------------------------


def test_list_in_every_format_without_secrets() -> None:
    fake = seeded()
    code, out, _ = run(fake, "list", "--all-users", "-o", "json")
    items = json.loads(out)
    assert code == 0
    assert {(t["username"], t["note"]) for t in items} == {
        ("alice", "alice ci"),
        ("bob", "bob laptop"),
        ("dave", "dave old"),
    }
    assert all(t["token"] == "rbp_****" for t in items)
    code, out, _ = run(fake, "list", "--owner", "bob", "-o", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["note"] for r in rows] == ["bob laptop"] and rows[0]["usable"] == "true"
    code, out, _ = run(fake, "list", "--owner", "alice", "-o", "ndjson")
    assert [json.loads(line)["note"] for line in out.splitlines()] == ["alice ci"]
    code, out, _ = run(fake, "list", "--all-users", "-o", "yaml")
    assert len(yaml.safe_load(out)) == 3
    code, out, _ = run(fake, "list", "--all-users", "--search", "LAPTOP")
    assert "bob laptop" in out and "alice ci" not in out
    for secret in secrets_of(fake):
        assert secret not in out


def test_list_one_page() -> None:
    fake = FakeTokenServer()
    for i in range(7):
        fake.add_token("alice", note=f"t{i}")
    code, out, _ = run(fake, "list", "--owner", "alice", "--page", "2", "--per-page", "3")
    assert code == 0 and "page 2 of 3 (7 tokens)" in out
    code, out, _ = run(
        fake, "list", "--owner", "alice", "--page", "3", "--per-page", "3", "-o", "json"
    )
    assert [t["note"] for t in json.loads(out)] == ["t6"]


def test_get_shows_one_token() -> None:
    fake = seeded()
    token_id = next(t for t, o in fake.owner.items() if o == "bob")
    code, out, _ = run(fake, "get", str(token_id), "--owner", "bob", "-o", "json")
    doc = json.loads(out)
    assert (code, doc["id"], doc["username"], doc["token"]) == (0, token_id, "bob", "rbp_****")
    code, _out, err = run(fake, "get", "999", "--owner", "bob")
    assert code == 2 and "does not exist" in err


def test_create_sets_an_expiry_and_shows_the_secret_once() -> None:
    fake = FakeTokenServer()
    code, out, err = run(fake, "create", "--owner", "alice", "--note", "ci", "-o", "json")
    doc = json.loads(out)
    (stored,) = fake.tokens_of("alice")
    assert code == 0
    assert doc["token"] == stored["token"] and out.count(stored["token"]) == 1
    assert doc["policy"] == READ_ONLY.to_dict()
    expires = datetime.fromisoformat(doc["expires"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=90))) < timedelta(minutes=5)
    assert "shown only this once" in err

    code, out, _ = run(
        fake,
        "create",
        "--owner",
        "bob",
        "--note",
        "x",
        "--no-expiry",
        "--full-access",
        "-o",
        "yaml",
    )
    doc = yaml.safe_load(out)
    assert doc["expires"] is None and doc["policy"] == {}
    code, out, _ = run(fake, "create", "--owner", "bob", "--note", "y", "--expires-in", "7")
    (new,) = [t for t in fake.tokens_of("bob") if t["note"] == "y"]
    assert f"token: {new['token']}\n" in out  # the table output shows it too, once
    assert abs(new["expires"] - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=5)


def test_create_validates_the_policy_locally() -> None:
    fake = FakeTokenServer()
    code, _out, err = run(fake, "create", "--note", "x", "--policy", '{"resources": {}}')
    assert code == 2 and "policy" in err.lower()
    assert not any(r.method == "POST" for r in fake.requests)
    assert run(fake, "create", "--note", "x", "--policy", "not json")[0] == 2


def test_update_rotate_invalidate_revoke() -> None:
    fake = seeded()
    alice = next(t for t, o in fake.owner.items() if o == "alice")
    code, out, _ = run(
        fake,
        "update",
        str(alice),
        "--owner",
        "alice",
        "--note",
        "renamed",
        "--extra",
        "team=ci",
        "-o",
        "json",
    )
    assert code == 0 and json.loads(out)["note"] == "renamed"
    assert fake.tokens[alice]["extra_data"] == {"team": "ci"}
    assert run(fake, "update", str(alice), "--owner", "alice")[0] == 2  # nothing to update

    old_secret = fake.tokens[alice]["token"]
    code, out, _ = run(fake, "rotate", str(alice), "--owner", "alice", "--grace", "2", "-o", "json")
    doc = json.loads(out)
    new_id = doc["new_token"]["id"]
    assert code == 0 and new_id != alice
    assert doc["new_token"]["token"] == fake.tokens[new_id]["token"]
    assert doc["old_token"]["token"] == "rbp_****" and old_secret not in out
    assert abs(
        datetime.fromisoformat(doc["old_expires"]) - (datetime.now(UTC) + timedelta(hours=2))
    ) < timedelta(minutes=5)

    code, _out, err = run(fake, "invalidate", str(new_id), "--owner", "alice", "--reason", "r")
    assert code == 2 and "did not save" in err  # Review Board 8.1's bug, reported honestly
    code, out, _ = run(
        fake,
        "invalidate",
        str(new_id),
        "--owner",
        "alice",
        "--reason",
        "r",
        "--delete-if-not-persisted",
        "-o",
        "json",
    )
    assert code == 0 and "deleted" in json.loads(out)["result"]
    assert new_id not in fake.tokens

    code, out, _ = run(fake, "revoke", str(alice), "424242", "--owner", "alice", "-o", "json")
    assert code == 2
    assert [(r["id"], r["result"]) for r in json.loads(out)] == [
        (alice, "revoked"),
        (424242, "failed"),
    ]
    assert alice not in fake.tokens


def test_whoami_and_api_get() -> None:
    fake = seeded()
    code, out, _ = run(fake, "whoami")
    assert (code, out.strip()) == (0, "admin")
    code, out, _ = run(fake, "whoami", "-o", "json")
    assert json.loads(out)["username"] == "admin"

    code, out, _ = run(fake, "api-get", "users/", "--max-results=2", "--include-inactive=1")
    doc = json.loads(out)
    assert code == 0 and [u["username"] for u in doc["users"]] == ["admin", "alice"]
    assert doc["total_results"] == 5
    assert "start=2" in doc["links"]["next"]["href"]
    code, out, _ = run(fake, "api-get", "/api/users/bob/api-tokens/")
    doc = json.loads(out)
    assert [t["token"] for t in doc["api_tokens"]] == ["rbp_****"]
    code, out, _ = run(fake, "api-get", f"{BASE}/api/users/", "-o", "csv")
    assert "username" in next(csv.reader(io.StringIO(out)))
    for secret in secrets_of(fake):
        assert secret not in out
    with pytest.raises(SystemExit) as exc:
        run(fake, "api-get", "users/", "stray")
    assert exc.value.code == 2


def test_api_get_prints_only_what_the_server_sent() -> None:
    """With ``--only-fields``, no Struct default (``policy: {}``) may appear as data."""
    fake = seeded()
    alice = next(t for t, o in fake.owner.items() if o == "alice")
    sent = {"stat": "ok", "api_token": {"id": alice, "note": "alice ci"}}
    mime = "application/vnd.reviewboard.org.api-token+json"
    fake.inject(
        "GET",
        f"/api-tokens/{alice}/",
        lambda r: Response(200, {"content-type": mime}, json.dumps(sent).encode()),
    )
    code, out, _ = run(
        fake, "api-get", f"users/alice/api-tokens/{alice}/", "--only-fields=id,note", "-o", "json"
    )
    assert code == 0
    assert json.loads(out) == sent


# -- settings and usage ------------------------------------------------------------------


def test_settings_from_reviewboardrc_and_environment(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = seeded()
    (isolated / ".reviewboardrc").write_text(
        f'REVIEWBOARD_URL = "{BASE}"\nUSERNAME = "admin"\nimport os\n'
    )
    monkeypatch.setenv("RBTOKENS_PASSWORD", "admin-pw")
    out, err = io.StringIO(), io.StringIO()
    code = main(["whoami"], transport=fake.transport, stdout=out, stderr=err)
    assert (code, out.getvalue().strip()) == (0, "admin")
    monkeypatch.setenv("RBTOKENS_USERNAME", "carol")
    monkeypatch.setenv("RBTOKENS_PASSWORD", "carol-pw")
    out = io.StringIO()
    assert main(["whoami"], transport=fake.transport, stdout=out, stderr=err) == 0
    assert out.getvalue().strip() == "carol"


def test_options_may_come_before_the_verb() -> None:
    fake = seeded()
    out = io.StringIO()
    code = main([*LOGIN, "-o", "json", "whoami"], transport=fake.transport, stdout=out)
    assert code == 0 and json.loads(out.getvalue())["username"] == "admin"


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    fake = seeded()
    code, _out, err = run(fake, "whoami", login=False)
    assert code == 2 and "no server" in err
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
    assert main([]) == 2
    capsys.readouterr()


def test_a_refused_password_exits_2() -> None:
    fake = seeded()
    out, err = io.StringIO(), io.StringIO()
    argv = ["audit", "--server", BASE, "--username", "admin", "--password", "wrong"]
    assert main(argv, transport=fake.transport, stdout=out, stderr=err) == 2
    assert "password was not correct" in err.getvalue() and "wrong" not in err.getvalue()


def test_help_documents_the_exit_codes() -> None:
    assert "0    success" in EPILOG and "1    audit" in EPILOG and "2    incomplete" in EPILOG
    assert "130  interrupted" in EPILOG
    proc = subprocess.run(
        [sys.executable, "-m", "rbtokens", "audit", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "exit codes:" in proc.stdout and "--fail-on" in proc.stdout


def test_help_does_not_import_rich_or_yaml() -> None:
    code = (
        "import sys, rbtokens.cli\n"
        "try:\n    rbtokens.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('rich', 'yaml') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_long_tables_are_printed_in_blocks_with_every_row() -> None:
    out = io.StringIO()
    rows = [{"username": f"user{i:05d}", "id": i} for i in range(2500)]
    Output("table", stdout=out).table(rows, ("username", "id"), title="Many")
    text = out.getvalue()
    assert text.count("Many") == 1 and text.count("username") == 1  # one title, one header
    assert all(f"user{i:05d}" in text for i in range(2500))
    widths = {len(line) for line in text.splitlines() if "user0" in line}
    assert len(widths) == 1  # the blocks line up


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_missing_password_is_prompted_for_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = seeded()
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return "admin-pw"

    monkeypatch.setattr("getpass.getpass", fake_getpass)
    monkeypatch.setattr("sys.stdin", _Terminal())
    out = io.StringIO()
    argv = ["whoami", "--server", BASE, "--username", "admin"]
    assert main(argv, transport=fake.transport, stdout=out, stderr=io.StringIO()) == 0
    assert out.getvalue().strip() == "admin"
    assert prompts == ["Password for admin: "]


def test_no_prompt_without_a_terminal() -> None:
    fake = seeded()
    out, err = io.StringIO(), io.StringIO()
    argv = ["whoami", "--server", BASE, "--username", "admin"]
    assert main(argv, transport=fake.transport, stdout=out, stderr=err) == 2
    assert "no password for admin (use --password or RBTOKENS_PASSWORD" in err.getvalue()
    assert fake.requests == []  # failed before any request, not as an anonymous one


def test_an_api_token_from_reviewboardrc_is_used_where_it_can_be(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = seeded()
    secret = next(t["token"] for t in fake.tokens.values() if fake.owner[t["id"]] == "alice")
    (isolated / ".reviewboardrc").write_text(
        f'REVIEWBOARD_URL = "{BASE}"\nUSERNAME = "alice"\nAPI_TOKEN = "{secret}"\n'
    )
    out, err = io.StringIO(), io.StringIO()
    assert main(["whoami"], transport=fake.transport, stdout=out, stderr=err) == 0
    assert out.getvalue().strip() == "alice"
    assert fake.requests[-1].headers["Authorization"].startswith("token ")
    # Token management needs a password: on a terminal it is asked for instead.
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "alice-pw")
    monkeypatch.setattr("sys.stdin", _Terminal())
    out = io.StringIO()
    assert main(["list", "-o", "json"], transport=fake.transport, stdout=out, stderr=err) == 0
    assert [t["note"] for t in json.loads(out.getvalue())] == ["alice ci"]
    assert fake.requests[-1].headers["Authorization"].startswith("Basic ")
    assert secret not in out.getvalue() + err.getvalue()


# -- review fixes ---------------------------------------------------------------------------


def test_an_rc_for_another_server_gives_its_secrets_to_no_one(isolated: Path) -> None:
    fake = seeded()
    (isolated / ".reviewboardrc").write_text(
        'REVIEWBOARD_URL = "https://corp.example.com/"\n'
        'USERNAME = "admin"\nPASSWORD = "corp-pw"\nAPI_TOKEN = "rbp_SECRET_FOR_CORP"\n'
    )
    code, out, err = run(fake, "whoami", "--server", BASE, login=False)
    assert code == 2  # anonymous: not logged in
    assert all("Authorization" not in r.headers for r in fake.requests)
    assert "ignoring API_TOKEN" in err and "corp.example.com" in err
    assert "rbp_SECRET_FOR_CORP" not in out + err and "corp-pw" not in out + err
    # -q leaves the note out.
    assert "ignoring" not in run(fake, "whoami", "--server", BASE, "-q", login=False)[2]


@pytest.mark.parametrize(
    "argv",
    [
        ["whoami", "--timeout", "0"],
        ["whoami", "--timeout", "nan"],
        ["whoami", "--timeout", "-5"],
        ["rotate", "1", "--grace", "-1"],
        ["rotate", "1", "--grace", "inf"],
        ["create", "--note", "x", "--expires-in", "nan"],
        ["create", "--note", "x", "--expires-in", "1e300"],
        ["audit", "--stale-days", "inf"],
        ["audit", "--max-tokens", "-1"],
        ["get", "-3"],
        ["revoke", "0"],
    ],
)
def test_numeric_options_are_checked(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    fake = seeded()
    with pytest.raises(SystemExit) as exc:
        run(fake, *argv)
    assert exc.value.code == 2
    assert fake.requests == []
    assert "Traceback" not in capsys.readouterr().err


def test_a_bad_ca_bundle_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    for bundle in (str(tmp_path / "missing.pem"), str(bad)):
        out, err = io.StringIO(), io.StringIO()
        argv = ["whoami", "--server", "https://rb.invalid/", "--ca-bundle", bundle]
        assert main(argv, stdout=out, stderr=err) == 2
        lines = err.getvalue().splitlines()
        assert len(lines) == 1 and "--ca-bundle" in lines[0], lines


def test_an_unexpected_error_exits_2_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    async def boom(client: object, args: object, out: object) -> int:
        raise RuntimeError("kaboom rbp_" + "A" * 40)

    monkeypatch.setitem(VERBS, "whoami", boom)
    code, _out, err = run(seeded(), "whoami")
    assert code == 2
    assert "unexpected error: RuntimeError: kaboom" in err
    assert "Traceback" not in err and "A" * 40 not in err


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


def test_notes_cannot_inject_escapes_or_formulas() -> None:
    fake = FakeTokenServer()
    evil = '=HYPERLINK("http://x")\x1b[2J\x1b]52;c;cGF5bG9hZA==\x07\x9b31m\u202e'
    fake.add_token("alice", note=evil, expires=None)
    _code, out, _ = run(fake, "audit", "--show-tokens")
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out
    assert "\u202e" not in out
    assert "=HYPERLINK" in out  # the text itself stays visible
    _code, out, _ = run(fake, "list", "--owner", "alice", "-o", "csv")
    (row,) = csv.DictReader(io.StringIO(out))
    assert row["note"].startswith("'=HYPERLINK")
    for start in ("+1", "-1", "@SUM(A1)"):
        fake = FakeTokenServer()
        fake.add_token("alice", note=start)
        _code, out, _ = run(fake, "list", "--owner", "alice", "-o", "csv")
        assert next(csv.DictReader(io.StringIO(out)))["note"] == "'" + start


def test_table_output_keeps_notes_that_look_like_timestamps() -> None:
    fake = FakeTokenServer()
    note = "2024-01-01T00:00:00 deploy key for prod"
    fake.add_token("alice", note=note, expires=None)
    _code, out, _ = run(fake, "audit", "--show-tokens")
    assert note in out
    _code, out, _ = run(fake, "list", "--owner", "alice")
    assert note in out


def test_verbose_logs_requests_and_quiet_silences_warnings() -> None:
    _code, _out, err = run(seeded(), "whoami", "-v")
    assert "GET " in err and "/api/" in err
    _code, _out, err = run(seeded(), "whoami")
    assert "GET " not in err
    policy = '{"resources": {"*": {"allow": ["*"]}, "user": {"bob": {"block": ["*"]}}}}'
    argv = ["create", "--owner", "alice", "--note", "x", "--policy", policy]
    _code, _out, err = run(FakeTokenServer(), *argv)
    assert "WARNING" in err and "policy" in err
    _code, _out, err = run(FakeTokenServer(), *argv, "-q")
    assert "WARNING" not in err


def test_an_unknown_user_counts_as_listed() -> None:
    code, out, _ = run(with_user_item(seeded()), "audit", "-o", "json", "--user", "nosuchuser")
    s = json.loads(out)["summary"]
    assert code == 2
    assert (s["users_listed"], s["users_audited"], s["users_failed"]) == (1, 0, 1)


@pytest.mark.shows_secrets  # the new secret must be shown when a rotation fails part-way
def test_rotate_failing_part_way_still_shows_the_new_secret() -> None:
    fake = seeded()
    alice = next(t for t, o in fake.owner.items() if o == "alice")
    before = set(fake.tokens)
    fake.inject("PUT", f"/api-tokens/{alice}/", html(503))  # the old token's expiry update
    code, out, err = run(fake, "rotate", str(alice), "--owner", "alice", "--grace", "2")
    created = [t for t in fake.tokens if t not in before]
    assert code == 2
    assert len(created) == 1
    assert fake.tokens[created[0]]["token"] in out  # the secret was not lost
    assert "error" in err.lower()
