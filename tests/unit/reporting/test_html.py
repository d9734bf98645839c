"""The HTML report as text: self-contained, its CSP hashes, server text escaped, its size."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from html.parser import HTMLParser

import pytest
from markupsafe import escape
from reportdocs import PROBES, big_document, full_document, hostile_document
from reportkit import report

from rbtokens.reporting import build_document
from rbtokens.reporting.html import COLLAPSE_AT, content_security_policy, render_html


def inline(page: str, tag: str) -> list[str]:
    return re.findall(rf"<{tag}(?: [^>]*)?>(.*?)</{tag}>", page, flags=re.S)


def sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


class Tags(HTMLParser):
    """Every start tag with its attributes, as a browser's parser sees them."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def names(self) -> list[str]:
        return [tag for tag, _ in self.tags]

    def attributes(self) -> set[str]:
        return {name for _, attrs in self.tags for name in attrs}


def test_the_page_allows_nothing_but_its_own_style_and_script() -> None:
    page = render_html(full_document())
    csp = content_security_policy()
    metas = [a for t, a in Tags(page).tags if t == "meta" and a.get("http-equiv")]
    assert metas == [{"http-equiv": "Content-Security-Policy", "content": csp}]
    assert csp.startswith("default-src 'none';")
    (style,) = inline(page, "style")
    scripts = re.findall(r"<script>(.*?)</script>", page, flags=re.S)
    assert len(scripts) == 1
    assert f"style-src {sha256(style)};" in csp
    assert f"script-src {sha256(scripts[0])};" in csp


def test_the_page_loads_nothing_from_anywhere() -> None:
    page = render_html(full_document())
    tags = Tags(page)
    assert not tags.attributes() & {"src", "srcset", "poster", "data", "action", "background"}
    hrefs = [a["href"] for _, a in tags.tags if "href" in a]
    assert hrefs == ["https://rb.example.com/"]  # the server's own link, nothing loaded
    assert "@import" not in page and "url(" not in page
    assert not set(tags.names()) & {"link", "iframe", "object", "embed", "img", "base", "image"}


def test_the_page_uses_no_inline_style_or_handler_attributes() -> None:
    attributes = Tags(render_html(hostile_document())).attributes()
    assert "style" not in attributes
    assert not [name for name in attributes if name.startswith("on")]


def test_server_text_is_escaped_everywhere() -> None:
    page = render_html(hostile_document())
    for probe in PROBES:
        assert probe not in page
        assert str(escape(probe)) in page
    # Only our two script blocks, whatever the notes said.
    tags = Tags(page)
    assert tags.names().count("script") == 2
    assert "img" not in tags.names() and tags.names().count("svg") == 4  # the charts


def test_a_javascript_server_url_is_text_not_a_link() -> None:
    page = render_html(hostile_document())
    assert "javascript:alert(4)" in page
    assert 'href="javascript' not in page


def test_the_scripts_data_is_serialised_safely() -> None:
    page = render_html(hostile_document())
    (raw,) = re.findall(
        r'<script type="application/json" id="rbtokens-data">(.*?)</script>', page, re.S
    )
    assert "<" not in raw and ">" not in raw and "&" not in raw.replace("\\u0026", "")
    data = json.loads(raw)
    assert set(data["users"]) == set(PROBES)
    assert data["findings"] == len(PROBES)


def test_the_findings_read_with_scripts_off() -> None:
    page = render_html(full_document())
    assert '<form id="filters" class="filters" hidden>' in page  # shown by the script only
    findings = page[page.index('<section id="findings"') : page.index('<section id="baseline"')]
    rows = re.findall(r'<tr data-severity="(\w+)" data-rule="([\w-]+)"', findings)
    assert sorted(rows) == [("high", "unrestricted-policy"), ("medium", "no-expiry")]
    assert '<details class="group sev-high" data-severity="high" open>' in page


def test_every_section_shows() -> None:
    page = render_html(full_document())
    sections = ("summary", "chart-severity", "chart-rule", "chart-age", "chart-expiry")
    for anchor in (*sections, "failures", "baseline", "waivers"):
        assert f'id="{anchor}"' in page
    assert 'id="b-new">1<' in page and 'id="b-resolved">1<' in page
    assert "unmatched" in page and "service (accepted by root until 2027-01-01)" in page


def test_an_empty_report_renders() -> None:
    page = render_html(build_document(report()))
    assert "No findings." in page and 'id="failures"' not in page


def test_ten_thousand_users_fit_in_five_megabytes() -> None:
    doc = big_document()
    assert len(doc.tokens) == 15_000
    page = render_html(doc)
    size = len(page.encode())
    assert size < 5_000_000, size
    # Groups too big to read at a glance start collapsed, and print opened (by the script).
    groups = re.findall(r'<details class="group sev-(\w+)" data-severity="\w+"( open)?>', page)
    sizes = {s: sum(f.severity == s for f in doc.findings) for s, _ in groups}
    assert groups and all(bool(opened) == (sizes[s] <= COLLAPSE_AT) for s, opened in groups)
    assert any(not opened for _, opened in groups)


@pytest.mark.parametrize("doc", [full_document(), hostile_document()], ids=["full", "hostile"])
def test_no_secret_or_unknown_key_reaches_the_page(doc: object) -> None:
    page = render_html(doc)  # type: ignore[arg-type]
    assert "rbp_" not in page and '"token":' not in page


def test_a_demo_sized_site_stays_under_300_kilobytes() -> None:
    """The demo's 300 users and about 450 tokens (tools/rbsite.py demo)."""
    page = render_html(big_document(users=300, tokens=450))
    assert len(page.encode()) < 300_000
