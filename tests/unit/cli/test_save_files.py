"""``audit --save FILE``: one run, several files; atomic, 0600, locked; kept when a run stops."""

from __future__ import annotations

import json
import os
import signal
import stat
from pathlib import Path

import pytest
from clikit import run, secrets_of, seeded

from rbtokens.cli.save import FileLock
from rbtokens.transport import Request, Response
from tools.standin.testing import BASE, FakeTokenServer

FORMATS = ("json", "ndjson", "csv", "yaml", "html")


def saves(tmp_path: Path, stem: str = "audit") -> tuple[list[str], dict[str, Path]]:
    paths = {fmt: tmp_path / f"{stem}.{fmt}" for fmt in FORMATS}
    return [a for p in paths.values() for a in ("--save", str(p))], paths


def test_one_run_writes_every_file_in_its_format_and_prints_its_own(tmp_path: Path) -> None:
    fake = seeded()
    args, paths = saves(tmp_path)
    code, out, err = run(fake, "audit", "-o", "table", *args)
    assert code == 1, err
    assert "Audit summary" in out
    doc = json.loads(paths["json"].read_text())
    assert doc["schema_version"] == 1 and doc["summary"]["complete"] is True
    assert [json.loads(line)["record"] for line in paths["ndjson"].read_text().splitlines()][
        -1
    ] == ("summary")
    assert paths["csv"].read_text().startswith("severity,username,token_id,rule,message\n")
    assert paths["yaml"].read_text().startswith("schema_version: 1\n")
    assert paths["html"].read_text().startswith("<!DOCTYPE html>")
    for path in paths.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        text = path.read_text()
        assert not any(secret in text for secret in secrets_of(fake))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths.values())


def test_a_replaced_file_is_0600_even_if_the_old_one_was_not(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    target.write_text("old")
    target.chmod(0o644)
    code, _, _ = run(seeded(), "audit", "-q", "--save", str(target))
    assert code == 1
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert json.loads(target.read_text())["schema_version"] == 1


@pytest.mark.parametrize(
    ("name", "message"),
    [("r.txt", "the extension names no format"), ("r.json", "given twice")],
)
def test_bad_save_files_are_usage_errors_before_any_request(
    tmp_path: Path, name: str, message: str
) -> None:
    fake = seeded()
    path = str(tmp_path / name)
    code, out, err = run(fake, "audit", "--save", path, "--save", str(tmp_path / "r.json"))
    assert code == 2 and message in err and out == ""
    assert fake.requests == []


def test_a_second_run_on_the_same_file_stops_and_names_the_holder(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    target.write_text("last night's report")
    lock = FileLock(target)
    lock.acquire("rbtokens audit, pid 4242 on nightly-host, since 2026-12-01T02:00:00Z")
    try:
        fake = seeded()
        code, _, err = run(fake, "audit", "--save", str(target))
    finally:
        lock.release()
    assert code == 2
    assert "another run is writing it (rbtokens audit, pid 4242 on nightly-host" in err
    assert "r.json.lock" in err
    assert fake.requests == [] and target.read_text() == "last night's report"
    assert not (tmp_path / "r.json.lock").exists()  # released and removed


def test_a_lock_file_left_by_a_killed_run_does_not_block(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    (tmp_path / "r.json.lock").write_text("rbtokens audit, pid 1 (killed)")
    (tmp_path / ".r.json.abc123.tmp").write_text("half a report")  # its temporary file
    code, _, err = run(seeded(), "audit", "-q", "--save", str(target))
    assert code == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_an_interrupted_run_leaves_the_last_reports_untouched(tmp_path: Path) -> None:
    args, paths = saves(tmp_path)
    for path in paths.values():
        path.write_text(f"last night's {path.suffix}")
    fake = seeded()

    def interrupt(request: Request) -> Response:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, mid-audit
        return fake.route(request)

    fake.inject("GET", "/api/users/bob/api-tokens/", interrupt)
    code, _, err = run(fake, "audit", "--walk", "per-user", *args)
    assert code == 130 and "interrupted" in err
    for path in paths.values():
        assert path.read_text() == f"last night's {path.suffix}"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths.values())


def test_an_audit_that_cannot_start_is_saved_incomplete(tmp_path: Path) -> None:
    fake = FakeTokenServer()

    def down(request: Request) -> Response:
        return Response(502, {"content-type": "text/html"}, b"<h1>Bad Gateway</h1>")

    for _ in range(10):
        fake.inject("GET", "/api/", down)
    target = tmp_path / "r.json"
    target.write_text("last night's report")
    code, out, err = run(fake, "audit", "--save", str(target))  # table: one line on stderr
    assert code == 2 and out == "" and "error" in err
    doc = json.loads(target.read_text())
    assert doc["summary"]["complete"] is False and doc["failures"][0]["username"] is None
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert BASE in doc["summary"]["server"]
