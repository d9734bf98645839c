"""Credentials and settings: options, environment, ``.reviewboardrc``, a password prompt.

The ``rbtokens`` command against an in-memory Review Board (``FakeTokenServer``).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from clikit import run, seeded

from rbtokens.cli import main
from tools.standin.testing import BASE


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


def test_a_bad_ca_bundle_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    for bundle in (str(tmp_path / "missing.pem"), str(bad)):
        out, err = io.StringIO(), io.StringIO()
        argv = ["whoami", "--server", "https://rb.invalid/", "--ca-bundle", bundle]
        assert main(argv, stdout=out, stderr=err) == 2
        lines = err.getvalue().splitlines()
        assert len(lines) == 1 and "--ca-bundle" in lines[0], lines
