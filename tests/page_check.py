"""Open a report page as a person would: Debian's Chromium, headless, with the network closed.

One checker for every HTML page the jobs write (EDA, evaluation, drift), so it knows nothing of
their layout: it loads the file, records console errors, uncaught exceptions and failed
requests, then looks at every plot (`img`, `canvas`, and `svg` not inside another svg) in each
state the page can show: as opened, and after each tab is clicked (elements with
`role="tab"` or `data-role="tab"`, the ARIA and the common data-attribute conventions). A plot
is fine when every image is decoded (`naturalWidth > 0`) and every plot that is laid out has a
non-zero size; plots that no state shows are listed (an interactive page may keep some hidden
until a click), and a test says how many must be shown. A full-page screenshot of each state is
written for a person to look at.

Every request other than the page's own file and `data:`/`blob:` URLs is aborted, so a report
that needs a CDN (or any server) fails here with the address it asked for.

Driven by Playwright's Python package with `executable_path="/usr/bin/chromium"`: Playwright
never downloads a browser here, and it reports console messages, page errors and failed
requests as events (Selenium would need ChromeDriver as well and parse performance logs).
Plots inside open shadow roots (custom elements such as skrub's report) are found too, and
Playwright's CSS locators pierce them for the tabs.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)
"""The flags that work on these machines (see the machine notes): without the background
networking ones, Chromium's own connections are refused by the closed network."""
VIEWPORT = {"width": 1280, "height": 900}
MAX_SCREENSHOT_HEIGHT = 16_000
"""Taller pages are shot to this height: a person reads the top, and Chromium's texture
limit is about 16k pixels."""
TAB_SELECTOR = '[role="tab"], [data-role="tab"]'
ALLOWED_URL = re.compile(r"^(data|blob|about):")

# One pass over the page: every plot's rendered box and, for images, whether it decoded.
_PLOTS_JS = """() => {
  const found = [];
  const walk = root => {
    for (const e of root.querySelectorAll('*')) {
      const tag = e.tagName.toLowerCase();
      if (tag === 'img' || tag === 'canvas'
          || (tag === 'svg' && !(e.parentElement && e.parentElement.closest('svg')))) {
        found.push(e);
      }
      if (e.shadowRoot) walk(e.shadowRoot);
    }
  };
  walk(document);
  const plots = found;
  return plots.map((e, index) => {
    const box = e.getBoundingClientRect();
    const laidOut = e.getClientRects().length > 0
      && (e.checkVisibility ? e.checkVisibility({checkOpacity: true,
                                                 checkVisibilityCSS: true}) : true);
    const label = e.getAttribute('alt') || e.getAttribute('aria-label')
      || (e.closest('figure, [id]') || {}).id || '';
    return {index, tag: e.tagName.toLowerCase(), label: String(label).slice(0, 80),
            laidOut, width: box.width, height: box.height,
            decoded: e.tagName.toLowerCase() === 'img' ? (e.complete && e.naturalWidth > 0)
                                                      : true};
  });
}"""


@dataclass
class PageReport:
    """What the browser saw on one page."""

    path: Path
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    plots: int = 0
    """Plots on the page (img, canvas, outer svg)."""
    plots_shown: int = 0
    """Plots laid out with a non-zero size in at least one state."""
    broken_plots: list[str] = field(default_factory=list)
    never_shown: list[str] = field(default_factory=list)
    """Plots no state laid out: not a fault by itself (an interactive page keeps a column's
    card hidden until it is picked), but worth a look when a page shows fewer than expected."""
    states: list[str] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)
    height: int = 0
    """The page's scroll height as opened, in CSS pixels."""

    @property
    def problems(self) -> list[str]:
        return ([f"console error: {m}" for m in self.console_errors]
                + [f"page error: {m}" for m in self.page_errors]
                + [f"failed request: {m}" for m in self.failed_requests]
                + [f"broken plot: {m}" for m in self.broken_plots])

    def assert_ok(self, min_plots: int = 1) -> None:
        problems = self.problems
        if self.plots_shown < min_plots:
            problems.append(f"{self.plots_shown} plots shown, expected at least {min_plots}")
        assert not problems, f"{self.path.name}:\n  " + "\n  ".join(problems)


def chromium_or_skip() -> Path:
    """Debian's Chromium (the README's set-up installs it); skipped without it, except on CI,
    where its absence is a broken set-up."""
    if CHROMIUM.exists() and shutil.which(str(CHROMIUM)):
        return CHROMIUM
    message = f"{CHROMIUM} not installed (README set-up: apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class PageChecker:
    """One browser, many pages (a test module starts one: Chromium takes about a second)."""

    def __init__(self, browser, screenshot_dir: Path) -> None:
        self._browser = browser
        self.screenshot_dir = screenshot_dir

    def check(self, page_file: Path, name: str | None = None) -> PageReport:
        page_file = Path(page_file).resolve()
        report = PageReport(page_file)
        own_url = page_file.as_uri()
        context = self._browser.new_context(viewport=VIEWPORT, java_script_enabled=True)
        try:
            context.route("**/*", lambda route: route.continue_()
                          if route.request.url == own_url or ALLOWED_URL.match(route.request.url)
                          else route.abort("internetdisconnected"))
            page = context.new_page()
            page.on("console", lambda m: report.console_errors.append(m.text)
                    if m.type == "error" else None)
            page.on("pageerror", lambda error: report.page_errors.append(str(error)))
            page.on("requestfailed", lambda r: report.failed_requests.append(
                f"{r.url[:120]} ({r.failure})"))
            page.goto(own_url, wait_until="load")
            page.wait_for_load_state("networkidle")
            report.height = int(page.evaluate("document.documentElement.scrollHeight"))
            self._inspect(page, report, name or page_file.stem)
        finally:
            context.close()
        return report

    def _inspect(self, page, report: PageReport, name: str) -> None:
        shown: set[int] = set()
        labels: dict[int, str] = {}
        tabs = page.locator(TAB_SELECTOR)
        states = ["as opened"] + [f"tab {i + 1}" for i in range(tabs.count())]
        for number, state in enumerate(states):
            if number:
                tab = tabs.nth(number - 1)
                if not tab.is_visible():
                    continue
                state = f"tab '{' '.join(tab.inner_text().split())[:40]}'"
                tab.click()
                page.wait_for_timeout(50)
            report.states.append(state)
            for plot in page.evaluate(_PLOTS_JS):
                where = f"{plot['tag']} #{plot['index']} {plot['label']!r} ({state})"
                labels[plot["index"]] = f"{plot['tag']} #{plot['index']} {plot['label']!r}"
                if not plot["decoded"]:
                    report.broken_plots.append(f"{where}: image not decoded")
                elif plot["laidOut"]:
                    if plot["width"] < 1 or plot["height"] < 1:
                        report.broken_plots.append(
                            f"{where}: rendered {plot['width']:.0f}x{plot['height']:.0f}")
                    else:
                        shown.add(plot["index"])
            report.plots = len(labels)
            path = self.screenshot_dir / f"{name}-{number}.png"
            height = min(int(page.evaluate("document.documentElement.scrollHeight")),
                         MAX_SCREENSHOT_HEIGHT)
            page.screenshot(path=str(path), clip={"x": 0, "y": 0, "width": VIEWPORT["width"],
                                                  "height": height}, full_page=True)
            report.screenshots.append(path)
        report.plots_shown = len(shown)
        report.never_shown = [labels[i] for i in sorted(set(labels) - shown)]
        report.broken_plots = sorted(set(report.broken_plots))


@contextmanager
def page_checker(screenshot_dir: Path) -> Iterator[PageChecker]:
    """A checker on a fresh Chromium with its own empty profile, closed on exit."""
    executable = chromium_or_skip()
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="playwright, a dev tool, is not installed (pip install -e '.[dev]')")
    with sync_api.sync_playwright() as playwright:
        # Playwright gives each launch a new empty --user-data-dir of its own
        browser = playwright.chromium.launch(executable_path=str(executable),
                                             args=list(CHROMIUM_FLAGS), headless=True)
        try:
            yield PageChecker(browser, screenshot_dir)
        finally:
            browser.close()
