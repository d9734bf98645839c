"""Reports of the real Review Board 8.1 site: saved files, round trips, baselines, waivers.

Every audit here runs with a fixed ``--now``, so two audits judge on the same
clock. Tokens created here belong to carol (who has none in the seed) and are
deleted after each test.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from recording import RecordingTransport

from rbtokens import READ_ONLY, RBClient
from rbtokens.cli import main
from rbtokens.reporting.schema import schema
from rbtokens.transport import AiohttpTransport, Request, Response

pytestmark = pytest.mark.integration

OWNER = "carol"
NOW = (datetime.now(UTC) + timedelta(minutes=5)).replace(microsecond=0)
FORMATS = ("json", "ndjson", "csv", "yaml", "html")


def login(site: Any) -> list[str]:
    return ["--server", site.url, "--username", "admin", "--password", site.admin_password]


def audit(site: Any, *args: str, transport: Any = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    argv = ["audit", "-q", "--now", NOW.isoformat(), *args, *login(site)]
    code = main(argv, transport=transport, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def offline(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def secrets(site: Any) -> list[str]:
    return [t["token"] for t in site.manifest["tokens"]] + [site.admin_password]


def admin(site: Any) -> RBClient:
    return RBClient(site.url, username="admin", password=site.admin_password)


async def create(site: Any, **fields: Any) -> int:
    async with admin(site) as client:
        token = await client.tokens.create(OWNER, **fields)
        return token.id


async def revoke(site: Any, token_id: int) -> None:
    async with admin(site) as client:
        await client.tokens.revoke(token_id, username=OWNER)


def identities(findings: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    return {(f["rule"], f["username"], f["token_id"], f["local_site"]) for f in findings}


@pytest.fixture(autouse=True)
async def no_leftover_tokens(rb_site: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    for name in ("SERVER", "USERNAME", "PASSWORD", "API_TOKEN"):
        monkeypatch.delenv(f"RBTOKENS_{name}", raising=False)
    yield
    async with admin(rb_site) as client:
        for token in await (await client.tokens.list(OWNER, per_page=200)).all():
            await client.tokens.revoke(token)


def test_one_run_saves_every_format_and_report_renders_each_again(
    rb_site: Any, tmp_path: Path
) -> None:
    paths = {fmt: tmp_path / f"site.{fmt}" for fmt in FORMATS}
    args = [a for p in paths.values() for a in ("--save", str(p))]
    code, table, err = audit(rb_site, *args)
    assert code == 1, err
    doc = json.loads(paths["json"].read_text())
    jsonschema.validate(doc, schema())
    for fmt, path in paths.items():
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        text = path.read_text()
        assert not any(secret in text for secret in secrets(rb_site)), fmt
        again_code, again, _ = offline("report", str(paths["json"]), "-o", fmt)
        assert again_code == 1 and again == text, fmt
    assert offline("report", str(paths["json"]))[1] == table


@pytest.mark.parametrize("fmt", ("table", "json", "ndjson", "csv", "yaml", "html"))
def test_report_prints_what_the_live_run_printed(rb_site: Any, tmp_path: Path, fmt: str) -> None:
    saved = tmp_path / "live.json"
    code, live, _ = audit(rb_site, "-o", fmt, "--save", str(saved))
    again_code, again, _ = offline("report", str(saved), "-o", fmt)
    assert code == again_code == 1
    if fmt == "ndjson":  # streamed as found: the same lines in the order found
        assert sorted(again.splitlines()) == sorted(live.splitlines())
    else:
        assert again == live


async def test_a_baseline_shows_the_new_token_as_new_and_the_revoked_one_as_resolved(
    rb_site: Any, tmp_path: Path
) -> None:
    doomed = await create(rb_site, note="old deploy key", policy=READ_ONLY, expires=None)
    prev = tmp_path / "prev.json"
    code, _, err = await asyncio.to_thread(audit, rb_site, "--save", str(prev))
    assert code == 1, err
    before = json.loads(prev.read_text())
    assert ("no-expiry", OWNER, doomed, None) in identities(before["findings"])

    fresh = await create(rb_site, note="new CI key", expires_in=timedelta(days=60))
    await revoke(rb_site, doomed)
    now = tmp_path / "now.json"
    code, _, err = await asyncio.to_thread(
        audit, rb_site, "--baseline", str(prev), "--save", str(now), "--fail-on-new", "high"
    )
    assert code == 1, err  # a new high finding
    doc = json.loads(now.read_text())
    jsonschema.validate(doc, schema())
    marks = {(f["rule"], f["token_id"]): f["baseline"] for f in doc["findings"]}
    assert [k for k, mark in marks.items() if mark == "new"] == [("unrestricted-policy", fresh)]
    resolved = doc["baseline"]["resolved_findings"]
    assert identities(resolved) == {("no-expiry", OWNER, doomed, None)}
    # Nothing else changed: every other finding is the baseline's, persisting.
    persisting = [f for f in doc["findings"] if f["baseline"] == "persisting"]
    assert identities(persisting) == identities(before["findings"]) - identities(resolved)
    b = doc["baseline"]
    assert (b["new"], b["resolved"], b["unknown"]) == (1, 1, 0)
    assert b["persisting"] == len(before["findings"]) - 1

    # An unchanged site against the last report: nothing new, exit 0.
    code, out, err = await asyncio.to_thread(
        audit, rb_site, "--baseline", str(now), "--fail-on-new", "info"
    )
    assert code == 0, err
    assert f"{len(doc['findings'])} persisting, 0 resolved, 0 unknown" in out


def fail_user(victim: str) -> RecordingTransport:
    def intercept(request: Request) -> Response | None:
        if request.url.path.endswith(f"/users/{victim}/api-tokens/"):
            return Response(500, {"content-type": "text/html"}, b"<h1>Server Error (500)</h1>")
        return None

    return RecordingTransport(AiohttpTransport(), intercept=intercept)


def test_a_user_that_failed_in_either_run_has_unknown_findings(
    rb_site: Any, tmp_path: Path
) -> None:
    victim = rb_site.manifest["rule_examples"]["no-expiry"]
    failed, good = tmp_path / "failed.json", tmp_path / "good.json"
    per_user = ("--walk", "per-user")
    code, _, _ = audit(rb_site, *per_user, "--save", str(failed), transport=fail_user(victim))
    assert code == 2
    assert json.loads(failed.read_text())["summary"]["complete"] is False
    code, _, err = audit(rb_site, "--save", str(good), "--baseline", str(failed), "-o", "json",
                         "--fail-on-new", "info")  # fmt: skip
    assert code == 0, err  # a failed night does not make the next night's findings look new
    doc = json.loads(good.read_text())
    marks = {(f["username"], f["rule"]): f["baseline"] for f in doc["findings"]}
    assert marks.pop((victim, "no-expiry")) == "unknown"
    assert set(marks.values()) == {"persisting"}

    # The other way round: the victim fails tonight; last night's finding is not resolved.
    code, out, _ = audit(rb_site, *per_user, "--baseline", str(good), "-o", "json",
                         transport=fail_user(victim))  # fmt: skip
    b = json.loads(out)["baseline"]
    assert code == 2 and b["resolved"] == 0 and b["resolved_findings"] == []
    assert [(f["username"], f["baseline"]) for f in b["unchecked_findings"]] == [
        (victim, "unknown")
    ]


def test_waivers_apply_expire_and_report_the_unmatched(rb_site: Any, tmp_path: Path) -> None:
    noexpiry = rb_site.manifest["rule_examples"]["no-expiry"]
    stale = rb_site.manifest["rule_examples"]["stale"]
    token = next(t["id"] for t in rb_site.manifest["tokens"] if t["username"] == noexpiry)
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(
        f"- {{rule: no-expiry, user: {noexpiry}, token: {token}, reason: the deploy service,"
        " accepted_by: security, expires: 2099-12-31}\n"
        f"- {{rule: stale, user: {stale}, reason: was on leave, accepted_by: security,"
        " expires: 2020-01-31}\n"
        f"- {{rule: never-used, user: {OWNER}, reason: gone, accepted_by: security,"
        " expires: 2099-12-31}\n"
    )
    _, out, _ = audit(rb_site, "-o", "json", "--waivers", str(waivers))
    doc = json.loads(out)
    jsonschema.validate(doc, schema())
    waived = [
        (f["username"], f["rule"], f["waiver"]["reason"]) for f in doc["findings"] if f["waiver"]
    ]
    assert waived == [(noexpiry, "no-expiry", "the deploy service")]
    states = [(w["waiver"]["rule"], w["state"], w["findings"]) for w in doc["waivers"]["waivers"]]
    assert states == [
        ("no-expiry", "applied", 1),
        ("stale", "expired", 1),
        ("never-used", "unmatched", 0),
    ]
    # The waived finding does not count toward --fail-on; the expired waiver's does.
    only = ("--rules", "no-expiry,stale", "--fail-on", "medium")
    assert audit(rb_site, *only, "--waivers", str(waivers))[0] == 0
    assert audit(rb_site, *only)[0] == 1
    assert audit(rb_site, "--rules", "stale", "--fail-on", "low", "--waivers", str(waivers))[0] == 1


def test_interrupting_a_run_leaves_the_previous_files_untouched(
    rb_site: Any, tmp_path: Path
) -> None:
    paths = {fmt: tmp_path / f"nightly.{fmt}" for fmt in FORMATS}
    args = [a for p in paths.values() for a in ("--save", str(p))]
    assert audit(rb_site, *args)[0] == 1
    before = {fmt: path.read_bytes() for fmt, path in paths.items()}
    victim = rb_site.manifest["rule_examples"]["stale"]

    def ctrl_c(request: Request) -> Response | None:
        if request.url.path.endswith(f"/users/{victim}/api-tokens/"):
            os.kill(os.getpid(), signal.SIGINT)
        return None

    transport = RecordingTransport(AiohttpTransport(), intercept=ctrl_c)
    code, _, err = audit(rb_site, "--walk", "per-user", *args, transport=transport)
    assert code == 130 and "interrupted" in err
    assert {fmt: path.read_bytes() for fmt, path in paths.items()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths.values())


def test_a_killed_run_leaves_the_previous_file_and_no_lock(rb_site: Any, tmp_path: Path) -> None:
    target = tmp_path / "nightly.json"
    target.write_text("last night's report")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RBTOKENS_")}
    env["RBTOKENS_PASSWORD"] = rb_site.admin_password
    cmd = [sys.executable, "-m", "rbtokens", "audit", "-q", "--server", rb_site.url,
           "--username", "admin", "--walk", "per-user", "--concurrency", "1",
           "--save", str(target)]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lock = tmp_path / "nightly.json.lock"
    deadline = time.monotonic() + 30
    while not lock.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    proc.kill()  # SIGKILL: no cleanup at all
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, err
    assert target.read_text() == "last night's report"
    # The kernel dropped its lock: the next run takes it and replaces the file.
    assert audit(rb_site, "--save", str(target))[0] == 1
    assert json.loads(target.read_text())["summary"]["complete"] is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nightly.json"]
