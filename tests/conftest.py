"""Shared fixtures for the test suite.

``built_site`` builds the whole site once per test session with README line 1's command
(``mkdocs build --strict``) into a temporary folder. The artifact pipeline runs inside that
build (``sitetools/mkdocs_hooks.py``, on_pre_build), so this is where producers and notebooks
execute during a test run; whatever is cached in ``docs/generated/`` is reused.

``site_url`` serves that folder with http.server on 127.0.0.1. The port is chosen before the
build and passed as ``SNIPPETS_SITE_URL`` (mkdocs.yml reads it into ``site_url``): Material's
instant navigation only takes over links listed in ``sitemap.xml`` under ``site_url``, so the
site is built for the address it is tested at.

``SNIPPETS_SITE_DIR=/path/to/site`` tests an already built site instead (handy while iterating
on the browser tests). Build it with ``SNIPPETS_SITE_URL=http://127.0.0.1:<port>/`` to test
instant navigation too; the server then binds that port.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from site_helpers import CHROMIUM, CHROMIUM_ARGS, ROOT, mkdocs_build


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature from the base class
        pass


def _sitemap_port(site: Path) -> int:
    """The 127.0.0.1 port a prebuilt site was built for (0: any)."""
    sitemap = site / "sitemap.xml"
    match = re.search(r"<loc>([^<]+)</loc>", sitemap.read_text()) if sitemap.exists() else None
    if match:
        parts = urlsplit(match.group(1))
        if parts.hostname == "127.0.0.1" and parts.port:
            return parts.port
    return 0


@pytest.fixture(scope="session")
def _site_server():
    """An HTTP server bound to 127.0.0.1 (not serving yet: the site is built first)."""
    prebuilt = os.environ.get("SNIPPETS_SITE_DIR")
    port = _sitemap_port(Path(prebuilt)) if prebuilt else 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _QuietHandler)
    server.serving = False
    yield server
    if server.serving:  # shutdown() waits for serve_forever, forever if it never started
        server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def built_site(_site_server, tmp_path_factory) -> Path:
    """The site, built with ``mkdocs build --strict`` from this checkout (once per session)."""
    prebuilt = os.environ.get("SNIPPETS_SITE_DIR")
    if prebuilt:
        site = Path(prebuilt).resolve()
        assert (site / "index.html").is_file(), f"SNIPPETS_SITE_DIR={prebuilt} holds no built site"
        return site
    site = tmp_path_factory.mktemp("site")
    port = _site_server.server_address[1]
    result = mkdocs_build(
        ROOT / "mkdocs.yml", site, env={"SNIPPETS_SITE_URL": f"http://127.0.0.1:{port}/"}
    )
    if result.returncode != 0:
        pytest.fail(
            f"mkdocs build --strict failed (exit {result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}",
            pytrace=False,
        )
    return site


@pytest.fixture(scope="session")
def site_url(built_site, _site_server) -> str:
    """Base URL of the built site, served on 127.0.0.1 from a background thread."""
    _site_server.RequestHandlerClass = functools.partial(_QuietHandler, directory=str(built_site))
    threading.Thread(target=_site_server.serve_forever, daemon=True).start()
    _site_server.serving = True
    return f"http://127.0.0.1:{_site_server.server_address[1]}/"


@pytest.fixture(scope="session")
def browser():
    """One headless Debian chromium for the whole session, driven by playwright's sync API.

    Shared by every test that needs a browser: a second ``sync_playwright()`` started while this
    one is open fails ("Sync API inside the asyncio loop").
    """
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} not found. The browser tests need Debian's chromium: "
            "`sudo apt-get install -y chromium` (.ci/run installs it). "
            "Do not use `playwright install`.",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@dataclass
class SiteReport:
    """What the browser tests measured, printed after the run (pytest_terminal_summary)."""

    accessibility: list[tuple[str, str, str, int]] = field(default_factory=list)
    weights: list[tuple[str, int, int, str, int]] = field(default_factory=list)


_SITE_REPORT = SiteReport()


@pytest.fixture(scope="session")
def site_report() -> SiteReport:
    return _SITE_REPORT


def pytest_terminal_summary(terminalreporter):
    report = _SITE_REPORT
    if report.weights:
        terminalreporter.section("page weight on first load (search index aside)")
        terminalreporter.write_line(f"{'page':44} {'bytes':>11} {'files':>5}  heaviest file")
        for page, total, files, heaviest, size in sorted(report.weights, key=lambda r: -r[1]):
            name = (
                heaviest.rsplit("/", 2)[-2] + "/"
                if heaviest.endswith("/")
                else heaviest.rsplit("/", 1)[-1]
            )
            terminalreporter.write_line(f"{page:44} {total:>11,} {files:>5}  {name} ({size:,})")
    if report.accessibility:
        terminalreporter.section("axe-core findings (serious and critical fail the tests)")
        totals: dict[tuple[str, str], list[int]] = {}
        for _page, impact, rule, nodes in report.accessibility:
            pages_nodes = totals.setdefault((impact, rule), [0, 0])
            pages_nodes[0] += 1
            pages_nodes[1] += nodes
        for (impact, rule), (pages, nodes) in sorted(totals.items()):
            terminalreporter.write_line(
                f"{impact:9} {rule:28} on {pages} page views, {nodes} nodes"
            )
