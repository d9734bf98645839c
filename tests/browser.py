"""The HTML report in a real browser: the distribution's headless Chromium, driven by Playwright.

Nothing is downloaded: Playwright launches ``/usr/bin/chromium`` (Debian's
``chromium`` package; ``$RBTOKENS_CHROMIUM`` to use another) with a fresh
profile and no background networking. Without a browser the tests skip,
unless ``RBTOKENS_REQUIRE_BROWSER=1`` (set by ``.ci/run``), when they fail.

:func:`open_report` loads a page from a file and watches it: console
messages, page errors, Content-Security-Policy violations, dialogs (an
``alert`` an XSS probe would open) and every request (anything but the file
itself is aborted and recorded). Screenshots go to ``$RBTOKENS_ARTIFACTS``
(default: ``test-artifacts/`` at the repository's root).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("RBTOKENS_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Collects CSP violations and stands in for alert/confirm/prompt before any page script.
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


def artifacts() -> Path:
    path = Path(os.environ.get("RBTOKENS_ARTIFACTS", REPO_ROOT / "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def require_browser() -> None:
    """Skip (or fail, with RBTOKENS_REQUIRE_BROWSER=1) when no browser can run."""
    problem = ""
    try:
        import playwright.sync_api  # noqa: F401, PLC0415
    except ImportError:
        problem = "Playwright is not installed (pip install -e '.[dev]')"
    if not problem and not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        problem = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if problem:
        if os.environ.get("RBTOKENS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{problem}; RBTOKENS_REQUIRE_BROWSER=1")
        pytest.skip(problem)


@dataclass
class Watched:
    """A page and what it did."""

    page: Any
    url: str
    console: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def violations(self) -> list[str]:
        found: list[str] = self.page.evaluate("window.__violations")
        return found

    def problems(self) -> list[str]:
        """Console errors and warnings, page errors, CSP violations, dialogs, outside requests."""
        noisy = [
            f"console {kind}: {text}" for kind, text in self.console if kind in ("error", "warning")
        ]
        return [
            *noisy,
            *(f"page error: {e}" for e in self.errors),
            *(f"CSP: {v}" for v in self.violations()),
            *(f"dialog: {d}" for d in self.dialogs),
            *(f"request: {r}" for r in self.blocked),
        ]

    def shown_rules(self) -> list[str]:
        """The rule column of the findings rows shown."""
        rules: list[str] = self.page.locator(
            "#findings tbody tr:not([hidden]) td:nth-child(2)"
        ).all_inner_texts()
        return rules

    def shown_rows(self) -> int:
        count: int = self.page.locator("#findings tbody tr:not([hidden])").count()
        return count


@contextmanager
def open_report(path: Path, *, java_script: bool = True, width: int = 1280) -> Iterator[Watched]:
    """``path`` open in a fresh headless Chromium, watched."""
    require_browser()
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - optional

    profile = tempfile.mkdtemp(prefix="rbtokens-chromium-")
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=ARGS,
                java_script_enabled=java_script,
                viewport={"width": width, "height": 900},
                offline=True,
            )
            try:
                url = path.resolve().as_uri()
                page = context.new_page()
                watched = Watched(page=page, url=url)

                def route(r: Any) -> None:
                    if r.request.url == url:
                        r.continue_()
                    else:
                        watched.blocked.append(r.request.url)
                        r.abort()

                context.route("**/*", route)
                page.on("console", lambda m: watched.console.append((m.type, m.text)))
                page.on("pageerror", lambda e: watched.errors.append(str(e)))
                page.on("request", lambda r: watched.requests.append(r.url))
                page.on("dialog", lambda d: (watched.dialogs.append(d.message), d.dismiss()))
                page.add_init_script(WATCH)
                page.goto(url, wait_until="load")
                yield watched
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
