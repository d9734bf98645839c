"""The real site's HTML report in headless Chromium: clean, offline, and the JSON's numbers.

The page is the report of an audit of the whole test site (its Local Site
included), against a baseline, with a waiver. Its screenshot is a test
artifact (``test-artifacts/report.png``); with ``RBTOKENS_UPDATE_SCREENSHOT=1``
it also replaces the README's ``docs/report.png``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import REPO_ROOT, Watched, artifacts, open_report

from rbtokens.cli import main

pytestmark = pytest.mark.integration


def audit(site: Any, *args: str) -> int:
    out, err = io.StringIO(), io.StringIO()
    login = ["--server", site.url, "--username", "admin", "--password", site.admin_password]
    code = main(["audit", "-q", "--local-site", "tenant-a", *args, *login], stdout=out, stderr=err)
    assert code in (0, 1), err.getvalue()
    return code


@pytest.fixture(scope="module")
def site_report(rb_site: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``report.json`` and ``report.html`` of the site, marked against a baseline, one waiver."""
    folder = tmp_path_factory.mktemp("html-report")
    cwd = Path.cwd()
    os.chdir(folder)  # the page names its files as given: prev.json, waivers.yaml
    try:
        yield from _site_report(rb_site, folder)
    finally:
        os.chdir(cwd)


def _site_report(rb_site: Any, folder: Path) -> Iterator[Path]:
    prev = Path("prev.json")
    audit(rb_site, "--save", str(prev))
    noexpiry = rb_site.manifest["rule_examples"]["no-expiry"]
    waivers = Path("waivers.yaml")
    waivers.write_text(
        f"- {{rule: no-expiry, user: {noexpiry}, reason: the deploy service's key,"
        " accepted_by: security, expires: 2099-12-31}\n"
    )
    # A new risky token since the baseline, so the page shows a new finding.
    out = io.StringIO()
    created = main(
        ["create", "--owner", "carol", "--note", "laptop <script>alert(1)</script>",
         "--full-access", "--no-expiry", "-o", "json", "--server", rb_site.url,
         "--username", "admin", "--password", rb_site.admin_password],
        stdout=out, stderr=io.StringIO(),
    )  # fmt: skip
    assert created == 0
    token = json.loads(out.getvalue())
    try:
        saves = ["--save", "report.json", "--save", "report.html"]
        audit(rb_site, "--baseline", str(prev), "--waivers", str(waivers), *saves)
    finally:
        main(["revoke", str(token["id"]), "--owner", "carol", "--server", rb_site.url,
              "--username", "admin", "--password", rb_site.admin_password],
             stdout=io.StringIO(), stderr=io.StringIO())  # fmt: skip
    yield folder


@pytest.fixture
def page(site_report: Path) -> Iterator[Watched]:
    with open_report(site_report / "report.html") as watched:
        yield watched


def chart(w: Watched, chart_id: str) -> dict[str, int]:
    bars = w.page.eval_on_selector_all(
        f"#{chart_id} g.bar", "gs => gs.map(g => [g.dataset.label, Number(g.dataset.value)])"
    )
    return dict(bars)


def test_the_page_renders_with_no_error_and_no_request(page: Watched) -> None:
    assert page.problems() == []
    assert page.requests == [page.url]
    assert page.page.title().startswith("Token audit: http://127.0.0.1:")


def test_its_numbers_are_the_jsons(page: Watched, site_report: Path) -> None:
    doc = json.loads((site_report / "report.json").read_text())
    s = doc["summary"]
    text = page.page.inner_text
    assert int(text("#s-users-audited")) == s["users_audited"]
    assert int(text("#s-users-listed")) == s["users_listed"]
    assert int(text("#s-users-failed")) == s["users_failed"] == 0
    assert int(text("#s-tokens")) == s["tokens_seen"]
    assert int(text("#s-findings")) == len(doc["findings"]) == int(text("#findings-total"))
    assert text("#s-walk") == s["walk"] and text("#s-exposure") == s["exposure_check"]
    assert text("#s-complete") == "complete"
    assert chart(page, "chart-severity") == s["severities"]
    assert chart(page, "chart-rule") == s["findings"]
    assert sum(chart(page, "chart-age").values()) == s["tokens_seen"]
    assert sum(chart(page, "chart-expiry").values()) == s["tokens_seen"]
    assert page.shown_rows() == len(doc["findings"])
    b = doc["baseline"]
    for key in ("new", "persisting", "resolved", "unknown"):
        assert int(text(f"#b-{key}")) == b[key]
    assert int(text("#w-waived")) == doc["waivers"]["waived"] == 1
    sites = page.page.locator("#sites tbody tr").all_inner_texts()
    assert [row.split("\t")[0] for row in sites] == ["(global)", "tenant-a"]


def test_its_filters_work(page: Watched, site_report: Path) -> None:
    findings = json.loads((site_report / "report.json").read_text())["findings"]
    p = page.page
    p.select_option("#f-severity", "medium")
    assert page.shown_rows() == sum(f["severity"] == "medium" for f in findings)
    p.select_option("#f-severity", "")
    p.select_option("#f-rule", "stale")
    assert page.shown_rows() == sum(f["rule"] == "stale" for f in findings)
    p.select_option("#f-rule", "")
    p.select_option("#f-mark", "new")
    assert page.shown_rules() == [f["rule"] for f in findings if f["baseline"] == "new"]
    p.select_option("#f-mark", "")
    p.fill("#f-user", "audit_")
    assert page.shown_rows() == sum((f["username"] or "").startswith("audit_") for f in findings)
    p.fill("#f-user", "")
    assert page.shown_rows() == len(findings)
    assert page.problems() == []


def test_a_screenshot_is_kept(page: Watched) -> None:
    shot = artifacts() / "report.png"
    page.page.set_viewport_size({"width": 1280, "height": 2150})
    page.page.screenshot(path=str(shot))
    assert shot.stat().st_size > 50_000
    if os.environ.get("RBTOKENS_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, REPO_ROOT / "docs" / "report.png")
