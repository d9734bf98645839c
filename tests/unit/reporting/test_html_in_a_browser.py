"""The HTML report in headless Chromium: probes stay text, filters work, no script is needed."""

from __future__ import annotations

from pathlib import Path

from browser import artifacts, open_report
from reportdocs import PROBES, full_document, hostile_document

from rbtokens.reporting.html import render_html


def write(tmp_path: Path, doc: object, name: str = "report.html") -> Path:
    path = tmp_path / name
    path.write_text(render_html(doc))  # type: ignore[arg-type]
    return path


def test_xss_probes_show_as_text_and_run_nothing(tmp_path: Path) -> None:
    with open_report(write(tmp_path, hostile_document())) as w:
        page = w.page
        assert w.problems() == []
        assert w.dialogs == []
        assert page.locator("img").count() == 0
        assert page.evaluate("document.querySelectorAll('script').length") == 2
        handlers = page.evaluate(
            "[...document.querySelectorAll('*')].flatMap(e => [...e.attributes]"
            ".map(a => a.name)).filter(n => n.startsWith('on'))"
        )
        assert handlers == []
        text = page.inner_text("body")
        for probe in PROBES:
            assert f"note {probe}" in text and f"message {probe}" in text
        assert "javascript:alert(4)" in text
        assert page.locator("a[href^='javascript']").count() == 0
        # The filter script filled the user list from its data, as text.
        options = page.eval_on_selector_all("#f-users option", "os => os.map(o => o.value)")
        assert sorted(options) == sorted(PROBES)
        page.fill("#f-user", PROBES[2])
        assert w.shown_rows() == 1
        assert w.problems() == []
        page.screenshot(path=str(artifacts() / "xss-probes.png"), full_page=True)


def test_the_filters_narrow_the_table(tmp_path: Path) -> None:
    doc = full_document()
    with open_report(write(tmp_path, doc)) as w:
        page = w.page
        assert page.is_visible("#filters")
        assert w.shown_rows() == len(doc.findings) == 2
        page.select_option("#f-severity", "high")
        assert w.shown_rows() == 1
        assert page.inner_text("#f-count") == "1 of 2 findings shown"
        page.select_option("#f-severity", "")
        page.select_option("#f-rule", "no-expiry")
        assert w.shown_rows() == 1
        page.select_option("#f-rule", "")
        page.select_option("#f-mark", "new")
        assert w.shown_rules() == ["unrestricted-policy"]
        page.select_option("#f-mark", "waived")
        assert w.shown_rows() == 1
        page.select_option("#f-mark", "")
        page.fill("#f-user", "car")
        assert w.shown_rows() == 1
        page.fill("#f-user", "nobody")
        assert w.shown_rows() == 0 and page.inner_text("#f-count") == "0 of 2 findings shown"
        assert page.locator("details.group:not([hidden])").count() == 0
        assert w.problems() == []


def test_without_scripts_the_table_reads_and_the_filters_stay_hidden(tmp_path: Path) -> None:
    doc = full_document()
    with open_report(write(tmp_path, doc), java_script=False) as w:
        page = w.page
        assert not page.is_visible("#filters")
        assert page.locator("#findings tbody tr").count() == len(doc.findings)
        assert w.shown_rules() == ["unrestricted-policy", "no-expiry"]
        assert page.locator("#findings tbody tr").first.is_visible()
        assert w.blocked == []


def test_it_prints_legibly(tmp_path: Path) -> None:
    with open_report(write(tmp_path, full_document())) as w:
        page = w.page
        page.emulate_media(media="print")
        assert not page.is_visible("#filters")
        pdf = page.pdf(format="A4")
        assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
        (artifacts() / "report-print.pdf").write_bytes(pdf)
