"""Browser smoke test: every page of the built site, opened in headless Chromium.

The site is built once (``built_site`` in tests/conftest.py), served from 127.0.0.1 on a free
port, and each page is opened with Debian's ``/usr/bin/chromium`` driven by Python playwright
(``playwright install`` is never used). A page fails on: a console error, an uncaught page
error, a failed request or an HTTP status >= 400, any request to another origin, math that
KaTeX did not render, an image without alt text, or horizontal overflow at 390 px. At 390 px
each page's code and tables must also read: no code under the copy button, doctest output
within its box, and every box that hides a part of its content hinted as scrolling
(docs/assets/javascripts/code-blocks.js and scroll-hints.js; benchmarks/screens.py measures
the same things and takes screenshots).

Two more checks run on every page: axe-core (the copy that ships inside the
``axe-playwright-python`` package, injected into the page; never a CDN) in the light and the
dark scheme, failing on any serious or critical finding; and the page's weight on first load
(everything the browser fetches before the network goes idle, the search index aside), at most
1 MB. Both print a summary at the end of the run (tests/conftest.py).
"""

from __future__ import annotations

import http.server
import json
import math
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from sitetools.prebuild import page_path, teaching_modules

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# Folders under docs/ that hold no hand-written pages (mkdocs.yml: exclude_docs, theme
# custom_dir, assets; notebooks/ and reference/ are written by sitetools/prebuild.py).
NOT_PAGES = ("assets/", "generated/", "includes/", "overrides/", "notebooks/", "reference/")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def page_paths() -> list[str]:
    """URL paths (relative to the site root) of every page, from the sources in docs/.

    Computed from the sources so that pytest can parametrize before the site is built;
    ``test_every_built_page_is_checked`` holds this list to the built site.
    """
    paths = []
    for source in sorted(DOCS.rglob("*")):
        relative = source.relative_to(DOCS).as_posix()
        if source.suffix not in (".md", ".ipynb") or relative.startswith(NOT_PAGES):
            continue
        if ".ipynb_checkpoints" in relative:
            continue
        stem = relative.rsplit(".", 1)[0]
        if stem == "index":
            paths.append("")
        elif stem.endswith("/index"):
            paths.append(stem[: -len("index")])
        else:
            paths.append(stem + "/")
    # The generated pages (sitetools/prebuild.py), from what they are generated from.
    paths += ["reference/", "notebooks/"]
    paths += [f"reference/{page_path(module)[: -len('.md')]}/" for module in teaching_modules()]
    paths += [f"notebooks/{path.stem}/" for path in sorted((ROOT / "notebooks").glob("*.ipynb"))]
    return sorted(paths)


def page_id(path: str) -> str:
    return path.rstrip("/") or "home"


PAGES = page_paths()


def same_origin(url: str, base: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return (parts.scheme, parts.netloc) == urlsplit(base)[:2]


class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature from the base class
        pass


class PageVisit:
    """One page opened in a fresh browser context, with every problem it produced."""

    def __init__(
        self, browser, base: str, path: str, viewport: dict, color_scheme: str = "light"
    ) -> None:
        self.context = browser.new_context(
            viewport=viewport, service_workers="block", color_scheme=color_scheme
        )
        # Nothing may leave the origin; abort it too, so a slip never reaches the network.
        self.context.route(lambda url: not same_origin(url, base), lambda route: route.abort())
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("requestfailed", self._on_request_failed)
        self.page.on("response", self._on_response)
        self.page.on("request", lambda request: self._on_request(request, base))
        self.bytes_loaded: dict[str, int] = {}
        self.page.on("requestfinished", self._on_request_finished)
        self.page.goto(base + path, wait_until="networkidle")
        # KaTeX fonts are requested when glyphs are laid out; wait for them too.
        self.page.evaluate("document.fonts.ready.then(() => true)")
        self.page.wait_for_load_state("networkidle")
        # Material's document$ emits once the page's components are mounted; our scripts
        # (math, focusable scroll regions) hang off it and run just after.
        self.page.evaluate(SETTLED)

    def _on_request_finished(self, request) -> None:
        response = request.response()
        if response is not None:
            self.bytes_loaded[request.url] = len(response.body())

    def _on_console(self, message) -> None:
        if message.type == "error":
            self.problems.append(f"console error: {message.text} ({message.location.get('url')})")

    def _on_request_failed(self, request) -> None:
        self.problems.append(f"request failed: {request.url} ({request.failure})")

    def _on_response(self, response) -> None:
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def _on_request(self, request, base: str) -> None:
        if not same_origin(request.url, base):
            self.problems.append(f"request to another origin: {request.url}")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser, site_url):
    opened = []

    def open_page(path: str, viewport: dict = DESKTOP, color_scheme: str = "light") -> PageVisit:
        page_visit = PageVisit(browser, site_url, path, viewport, color_scheme)
        opened.append(page_visit)
        return page_visit

    yield open_page
    for page_visit in opened:
        page_visit.close()


SETTLED = """
() => new Promise((resolve) => {
  if (typeof document$ === 'undefined') return resolve(false);
  const subscription = document$.subscribe(() => setTimeout(() => resolve(true), 300));
})
"""

UNRENDERED_MATH = """
() => [...document.querySelectorAll('.arithmatex')]
    .filter((element) => !element.querySelector('.katex'))
    .map((element) => element.textContent.trim().slice(0, 80))
"""

IMAGES_WITHOUT_ALT = """
() => [...document.images]
    .filter((image) => !(image.getAttribute('alt') || '').trim())
    .map((image) => (image.getAttribute('src') || '').slice(0, 120))
"""

# The page may not scroll sideways. Content that is wider than the screen is fine when it
# scrolls inside its own container (Material wraps tables and code blocks in one), because
# then it does not widen the document. On failure, name the elements that stick out.
HORIZONTAL_OVERFLOW = """
() => {
  const limit = window.innerWidth + 1;
  const width = document.scrollingElement.scrollWidth;
  if (width <= limit) return [];
  const clipped = (element) => {
    for (let p = element.parentElement; p && p !== document.body; p = p.parentElement) {
      if (/(auto|scroll|hidden|clip)/.test(getComputedStyle(p).overflowX)) return true;
    }
    return false;
  };
  const describe = (element) =>
    element.tagName.toLowerCase() +
    (element.id ? '#' + element.id : '') +
    [...element.classList].map((c) => '.' + c).join('');
  const culprits = [...document.body.querySelectorAll('*')]
    .filter((element) => element.getBoundingClientRect().right > limit && !clipped(element))
    .slice(0, 10)
    .map((element) => describe(element) + ' (right edge ' +
         Math.round(element.getBoundingClientRect().right) + ' px)');
  return ['document is ' + width + ' px wide at ' + window.innerWidth + ' px', ...culprits];
}
"""


def report(path: str, problems: list[str]) -> str:
    return f"page /{path}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("path", PAGES, ids=page_id)
def test_page_loads_cleanly(visit, path):
    """No console error, no failed request, nothing from another origin, math rendered."""
    page_visit = visit(path)
    problems = list(dict.fromkeys(page_visit.problems))
    problems += [
        f"math not rendered by KaTeX: {tex}" for tex in page_visit.page.evaluate(UNRENDERED_MATH)
    ]
    problems += [
        f"image without alt text: {src}" for src in page_visit.page.evaluate(IMAGES_WITHOUT_ALT)
    ]
    assert not problems, report(path, problems)


@pytest.mark.parametrize("path", PAGES, ids=page_id)
def test_no_horizontal_overflow_on_a_phone(visit, path):
    page_visit = visit(path, viewport=PHONE)
    overflow = page_visit.page.evaluate(HORIZONTAL_OVERFLOW)
    assert not overflow, report(path, ["horizontal overflow at 390 px:", *overflow])
    assert not page_visit.problems, report(path, page_visit.problems)


def test_every_built_page_is_checked(built_site):
    built = sorted(
        "" if index.parent == built_site else index.parent.relative_to(built_site).as_posix() + "/"
        for index in built_site.rglob("index.html")
    )
    built = [path for path in built if path != "search/"]
    assert sorted(PAGES) == built, (
        "the pages the browser tests parametrize over (from docs/) differ from the built site's "
        f"pages; only in docs/: {sorted(set(PAGES) - set(built))}, "
        f"only in the site: {sorted(set(built) - set(PAGES))}"
    )


def test_math_renders_after_instant_navigation(visit, built_site, site_url):
    """Material's instant navigation swaps content without reloading: KaTeX must still run."""
    sitemap = (built_site / "sitemap.xml").read_text(encoding="utf-8")
    assert f"<loc>{site_url}" in sitemap, (
        f"the site was built for another site_url than {site_url} (see sitemap.xml), so Material "
        "will not navigate instantly; build it with SNIPPETS_SITE_URL set to the served address"
    )
    math_pages = [
        path
        for path in PAGES
        if 'class="arithmatex"' in (built_site / path / "index.html").read_text(encoding="utf-8")
    ]
    assert math_pages, "no page of the site contains math; this test needs one"
    target = math_pages[-1]
    start = next(path for path in PAGES if path != target)
    page_visit = visit(start)
    page = page_visit.page
    page.evaluate("window.__no_reload_marker = true")
    target_url = urlsplit(page.url)._replace(path="/" + target, query="", fragment="").geturl()
    link = page.evaluate_handle(
        """(target) => [...document.querySelectorAll('a[href]')]
              .find((a) => a.href === target && a.offsetParent !== null) || null""",
        target_url,
    ).as_element()
    assert link is not None, f"page /{start} has no visible link to /{target}"
    link.click()
    page.wait_for_url(target_url)
    page.wait_for_function("document.querySelector('.arithmatex .katex') !== null", timeout=10_000)
    assert page.evaluate("window.__no_reload_marker === true"), (
        f"clicking /{target} from /{start} reloaded the page: instant navigation is off"
    )
    unrendered = page.evaluate(UNRENDERED_MATH)
    assert not unrendered, report(
        target, [f"math not rendered after navigation: {tex}" for tex in unrendered]
    )
    assert not page_visit.problems, report(target, page_visit.problems)


# ------------------------------------------------------------------ reading on a phone

# Every <details> open (collapsed code is read too, once opened); code-blocks.js and
# scroll-hints.js re-measure on the toggle, after a 50-60 ms debounce.
OPEN_DETAILS = """
async () => {
  document.querySelectorAll('details').forEach((d) => { d.open = true; });
  await new Promise((resolve) => setTimeout(resolve, 300));
}
"""

# What a reader of a code block or table cannot read on this screen. Checked from the page as
# drawn, not from the classes the scripts set: text under the copy button, a doctest output
# line (a line of a `>>>` block that is not input) reaching past its box, a box that hides part
# of its content without a scroll hint (the class scroll-hints.js sets, which site.css fades),
# and a copy that differs from the block's text.
UNREADABLE_CODE_AND_TABLES = """
() => {
  const problems = [];
  const start = (code) => JSON.stringify(code.textContent.trim().split('\\n')[0].slice(0, 50));
  // Each line's text, a range from its first to its last non-blank character, and where its
  // non-blank characters are (a space may hang past the edge where a line wraps: not text).
  const lines = (code) => {
    const out = [];
    const walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
    let range = null, text = '', characters = [];
    const end = () => { out.push({range, text, characters}); range = null; text = '';
                        characters = []; };
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (let i = 0; i < node.nodeValue.length; i++) {
        const character = node.nodeValue[i];
        if (character === '\\n') { end(); continue; }
        text += character;
        if (!character.trim()) continue;
        if (!range) { range = document.createRange(); range.setStart(node, i); }
        range.setEnd(node, i + 1);
        characters.push([node, i]);
      }
    }
    if (text) end();
    return out.filter((line) => line.range);
  };
  const rightmost = (characters) => Math.max(...characters.map(([node, i]) => {
    const range = document.createRange();
    range.setStart(node, i);
    range.setEnd(node, i + 1);
    return range.getBoundingClientRect().right;
  }));
  const overlap = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 0.5 &&
                            Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 0.5;
  document.querySelectorAll('.md-content pre > code').forEach((code) => {
    const pre = code.parentElement;
    const box = code.getBoundingClientRect();
    if (!box.width) return;
    const style = getComputedStyle(code);
    const contentRight = box.left + code.clientLeft + code.clientWidth -
                         parseFloat(style.paddingRight) + 1;
    const all = lines(code);
    const doctest = all.some((l) => l.text.startsWith('>>>'));
    const nav = pre.querySelector(':scope > .md-code__nav');
    const button = nav && nav.getBoundingClientRect();
    for (const line of all) {
      // Not clipped to the box: a line that runs on past its edge passes under the button as
      // the block scrolls.
      const rects = [...line.range.getClientRects()];
      if (button && button.width && rects.some((r) => overlap(r, button))) {
        problems.push(`the copy button covers ${JSON.stringify(line.text.trim().slice(0, 40))}` +
                      ` in the block starting ${start(code)}`);
      }
      const output = doctest && !/^(>>>|\\.\\.\\.)( |$)/.test(line.text);
      if (output && rightmost(line.characters) > contentRight) {
        problems.push(`doctest output ${JSON.stringify(line.text.slice(0, 40))} runs past its ` +
                      `box in the block starting ${start(code)}`);
      }
    }
    if (code.scrollWidth > code.clientWidth + 1 && !pre.classList.contains('scroll-hint-right')) {
      problems.push(`the block starting ${start(code)} hides its right part without a hint`);
    }
    // Material's copy button copies innerText; soft wraps and the output spans must not change it.
    if (code.innerText.trimEnd() !== code.textContent.trimEnd()) {
      problems.push(`the copy of the block starting ${start(code)} differs from its text`);
    }
  });
  document.querySelectorAll('.md-content table').forEach((table) => {
    const head = JSON.stringify(table.rows[0] ? table.rows[0].textContent.trim()
                                  .replace(/\\s+/g, ' ').slice(0, 50) : '');
    const wrap = table.closest('.md-typeset__scrollwrap');
    if (wrap) {
      if (wrap.scrollWidth <= wrap.clientWidth + 1) return;
      if (!/auto|scroll/.test(getComputedStyle(wrap).overflowX)) {
        problems.push(`the table starting ${head} is cut off: its box does not scroll`);
      } else if (!wrap.classList.contains('scroll-hint-right')) {
        problems.push(`the table starting ${head} hides its right part without a hint`);
      }
    } else if (!table.closest('.md-typeset__scrollwrap, pre') &&
               table.getBoundingClientRect().right > table.parentElement.getBoundingClientRect()
                 .right + 1) {
      problems.push(`the table starting ${head} is wider than its box and does not scroll`);
    }
  });
  return problems;
}
"""


@pytest.mark.parametrize("path", PAGES, ids=page_id)
def test_code_and_tables_read_on_a_phone(visit, path):
    """At 390 px: the copy button covers no code, doctest output fits its box (it wraps; code
    scrolls), and a code block or table that hides a part says so with a scroll hint."""
    page_visit = visit(path, viewport=PHONE)
    page_visit.page.evaluate(OPEN_DETAILS)
    problems = page_visit.page.evaluate(UNREADABLE_CODE_AND_TABLES)
    assert not problems, report(path, [f"at 390 px: {problem}" for problem in problems])
    assert not page_visit.problems, report(path, page_visit.problems)


SCROLL_TO_END = """
(pre) => {
  const code = pre.querySelector(':scope > code');
  code.scrollLeft = code.scrollWidth;
}
"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_scroll_hint_follows_the_scroll_position(visit, scheme):
    """A code block cut on the right is hinted there; scrolled to its end, on the left instead."""
    page = visit("sdxl/", viewport=PHONE, color_scheme=scheme).page
    pre = page.query_selector(".md-content pre.scroll-hint-right")
    assert pre is not None, "/sdxl/ at 390 px has no code block wider than its box to scroll"
    assert "scroll-hint-left" not in pre.get_attribute("class").split()
    # The hint is drawn: a gradient into the code background over the right edge.
    after = page.evaluate("(pre) => getComputedStyle(pre, '::after').backgroundImage", pre)
    assert after.startswith("linear-gradient"), after
    pre.evaluate(SCROLL_TO_END)
    page.wait_for_function(
        "(pre) => pre.classList.contains('scroll-hint-left') && "
        "!pre.classList.contains('scroll-hint-right')",
        arg=pre,
        timeout=5_000,
    )
    before = page.evaluate("(pre) => getComputedStyle(pre, '::before').backgroundImage", pre)
    assert before.startswith("linear-gradient"), before


# ------------------------------------------------------------------ accessibility (axe-core)

AXE_RUN = "() => axe.run(document, {resultTypes: ['violations']})"
BLOCKING = ("serious", "critical")


@pytest.fixture(scope="session")
def axe_source() -> str:
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8")


def describe_violation(violation: dict) -> str:
    nodes = violation["nodes"]
    where = "; ".join(str(node["target"][0]) for node in nodes[:3])
    more = f" and {len(nodes) - 3} more" if len(nodes) > 3 else ""
    summary = nodes[0].get("failureSummary", "").replace("\n", " ")[:240]
    return (
        f"{violation['impact']} {violation['id']} ({len(nodes)} nodes: {where}{more}): "
        f"{violation['help']}. {summary}"
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("path", PAGES, ids=page_id)
def test_no_serious_accessibility_findings(visit, axe_source, site_report, path, scheme):
    page = visit(path, color_scheme=scheme).page
    page.add_script_tag(content=axe_source)
    violations = page.evaluate(AXE_RUN)["violations"]
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    for violation in violations:
        site_report.accessibility.append(
            (f"/{path} ({scheme})", violation["impact"], violation["id"], len(violation["nodes"]))
        )
    assert not blocking, report(
        f"{path} ({scheme} scheme)", [describe_violation(v) for v in blocking]
    )


# ------------------------------------------------------------------------- page weight

PAGE_WEIGHT_LIMIT = 1_000_000  # bytes, on first load with an empty cache
SEARCH_INDEX = "search/search_index.json"


@pytest.mark.parametrize("path", PAGES, ids=page_id)
def test_page_weighs_at_most_1_mb_on_first_load(visit, site_report, path):
    """HTML, CSS, scripts, fonts and the images shown at once (lazy ones aside), uncompressed."""
    page_visit = visit(path)
    loaded = {
        url: size for url, size in page_visit.bytes_loaded.items() if not url.endswith(SEARCH_INDEX)
    }
    total = sum(loaded.values())
    heaviest = max(loaded, key=loaded.get)
    site_report.weights.append((f"/{path}", total, len(loaded), heaviest, loaded[heaviest]))
    assert total <= PAGE_WEIGHT_LIMIT, (
        f"/{path} loads {total:,} bytes in {len(loaded)} files (limit {PAGE_WEIGHT_LIMIT:,}); "
        "heaviest: "
        + ", ".join(
            f"{url} {size:,}" for url, size in sorted(loaded.items(), key=lambda kv: -kv[1])[:5]
        )
    )


# ------------------------------------------------------------------------- math errors

KATEX_PAGE = "# Math\n\nFine: $a^2 + b^2$.\n\nBroken: $\\fracc{1}{2}$.\n"


def test_a_katex_error_fails_naming_the_page_and_the_formula(browser, tmp_path):
    """A formula KaTeX cannot parse is a console error on the page (see katex-init.js)."""
    import functools
    import http.server
    import shutil
    import threading

    import yaml
    from site_helpers import mkdocs_build

    docs = tmp_path / "docs"
    shutil.copytree(DOCS / "assets", docs / "assets")
    (docs / "index.md").write_text("# Home\n", encoding="utf-8")
    (docs / "math.md").write_text(KATEX_PAGE, encoding="utf-8")
    config = {
        "site_name": "math",
        "theme": {"name": "material", "font": False, "features": ["navigation.instant"]},
        "extra_css": ["assets/katex/katex.min.css"],
        "extra_javascript": ["assets/javascripts/katex-init.js"],
        "markdown_extensions": [{"pymdownx.arithmatex": {"generic": True}}],
    }
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    built = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert built.returncode == 0, built.stdout + built.stderr

    handler = functools.partial(_QuietFiles, directory=str(tmp_path / "site"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        page_visit = PageVisit(browser, base, "math/", DESKTOP)
        problems = page_visit.problems
        page_visit.close()
    finally:
        server.shutdown()
        server.server_close()
    assert any(
        problem.startswith(
            "console error: KaTeX could not render the formula `\\fracc{1}{2}` on /math/: "
            "KaTeX parse error: Undefined control sequence: \\fracc"
        )
        for problem in problems
    ), problems
    assert not any("a^2" in problem for problem in problems), problems


# ------------------------------------------------------------------ explorable figures

EXPLORER = "[data-explorable='patch-grid']"


def _explorer_state(page) -> dict:
    return page.evaluate(
        """(selector) => {
          const element = document.querySelector(selector);
          return {
            side: Number(element.dataset.side),
            patch: Number(element.dataset.patch),
            readout: element.querySelector('.patch-grid__readout').textContent,
            lines: (element.querySelector('.patch-grid__lines').getAttribute('d').match(/M/g) || []).length,
            checked: [...element.querySelectorAll('input:checked')].map((i) => i.value),
          };
        }""",
        EXPLORER,
    )


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_patch_explorer_shows_what_the_python_computes(visit, viewport):
    """Every latent and patch size: the grid and the token and score counts are the Python's."""
    from snippets.params import attention_cost
    from snippets.patchify import num_patches

    page_visit = visit("diffusion-transformers/", viewport=viewport)
    page = page_visit.page
    page.locator(EXPLORER).scroll_into_view_if_needed()  # it loads when it comes into view
    page.wait_for_selector(f"{EXPLORER}[data-ready]")
    sides = [
        int(v)
        for v in page.eval_on_selector_all(
            f"{EXPLORER} input[name^='patch-grid-side']", "inputs => inputs.map((i) => i.value)"
        )
    ]
    patches = [
        int(v)
        for v in page.eval_on_selector_all(
            f"{EXPLORER} input[name^='patch-grid-patch']", "inputs => inputs.map((i) => i.value)"
        )
    ]
    assert sides == [32, 64, 128] and patches == [8, 4, 2]
    for side in sides:
        page.get_by_label(f"{side} × {side}", exact=True).check()
        for p in patches:
            page.get_by_label(f"p = {p}", exact=True).check()
            state = _explorer_state(page)
            tokens = num_patches(side, side, p)
            grid = side // p
            assert (state["side"], state["patch"]) == (side, p)
            assert f"{tokens:,} tokens" in state["readout"], state["readout"]
            assert f"{attention_cost(side, p):,} pairs" in state["readout"], state["readout"]
            assert f"{grid} × {grid} grid" in state["readout"]
            assert state["lines"] == 2 * (grid - 1)
    assert not page_visit.problems, report("diffusion-transformers/", page_visit.problems)


def test_patch_explorer_works_from_the_keyboard_and_after_instant_navigation(visit):
    """Reached by an instant navigation (no reload), the arrow keys move the selection and the
    live region says the new numbers."""
    from snippets.patchify import num_patches

    page_visit = visit("")
    page = page_visit.page
    page.evaluate("window.__no_reload_marker = true")
    page.evaluate(
        """() => [...document.querySelectorAll('a[href]')]
              .find((a) => a.href.endsWith('/diffusion-transformers/') && a.offsetParent)
              .click()"""
    )
    page.wait_for_selector(EXPLORER, state="attached")
    page.locator(EXPLORER).scroll_into_view_if_needed()
    page.wait_for_selector(f"{EXPLORER}[data-ready]")
    assert page.evaluate("window.__no_reload_marker === true"), "the page reloaded"
    assert page.get_attribute(f"{EXPLORER} .patch-grid__readout", "aria-live") == "polite"
    first = page.get_by_label("p = 8", exact=True)
    first.check()
    first.focus()
    page.keyboard.press("ArrowRight")  # native radio group: p = 4 becomes the checked one
    state = _explorer_state(page)
    assert state["patch"] == 4 and "4" in state["checked"]
    assert f"{num_patches(state['side'], state['side'], 4):,} tokens" in state["readout"]
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused radio button shows no focus ring"
    assert not page_visit.problems, report("diffusion-transformers/", page_visit.problems)


TRAJECTORY = "[data-explorable='trajectory']"


def test_trajectory_explorer_steps_through_the_samplers_the_python_ran(visit):
    """The slider (by keyboard) and the guidance buttons show the pictures that the teaching code
    gives for the trained DiT at each time, and the live region names the time."""
    from artifacts.diffusion_transformers.trajectory import frame_at, png_data_uri, trajectory
    from snippets.digits.training import load_trained
    from snippets.flow import sigma_schedule

    data_file = ROOT / "docs" / "generated" / "dit-trajectory" / "trajectory.json"
    params = json.loads((ROOT / "docs" / "generated" / "manifest.json").read_text())
    params = params["artifacts"]["dit-trajectory"]["params"]
    model, info = load_trained(ROOT / "docs" / "generated" / "digits-dit")
    size = info["config"]["size"]
    assert data_file.exists()

    page_visit = visit("diffusion-transformers/")
    page = page_visit.page
    page.locator(TRAJECTORY).scroll_into_view_if_needed()
    page.wait_for_selector(f"{TRAJECTORY}[data-ready]")
    slider = page.locator(f"{TRAJECTORY} input[type=range]")
    assert slider.get_attribute("aria-valuetext") == "t = 1.00"
    times = sigma_schedule(max(params["steps"])).tolist()
    for w in params["guidance"]:
        page.locator(f"{TRAJECTORY} input[type=radio][value='{w:g}']").check()
        runs = {
            n: trajectory(model, params["label"], n, w, params["seed"], size)
            for n in params["steps"]
        }
        slider.focus()
        page.keyboard.press("Home")
        for position in range(len(times)):
            if position:
                page.keyboard.press("ArrowRight")
            shown = page.evaluate(
                """(selector) => {
                  const e = document.querySelector(selector);
                  return {position: Number(e.dataset.position),
                          readout: e.querySelector('.trajectory__readout').textContent,
                          first: [...e.querySelectorAll('tbody tr')][0]
                                   .querySelectorAll('img')[2]?.getAttribute('src')};
                }""",
                TRAJECTORY,
            )
            assert shown["position"] == position
            assert shown["readout"].startswith(f"t = {times[position]:.2f}")
            run = runs[max(params["steps"])]
            state = run[frame_at([s["t"] for s in run], times[position])]
            assert shown["first"] == png_data_uri(state["x"], symmetric=False), (w, position)
    assert not page_visit.problems, report("diffusion-transformers/", page_visit.problems)


ATTENTION = "[data-explorable='attention']"


def _attention_state(page, selector: str) -> dict:
    return page.evaluate(
        """(selector) => {
          const e = document.querySelector(selector);
          return {query: Number(e.dataset.query), strongest: Number(e.dataset.strongest),
                  state: e.dataset.state,
                  ringed: [...e.querySelectorAll('.attention__cell')]
                            .findIndex((c) => c.classList.contains('is-max')),
                  readout: e.querySelector('.attention__readout').textContent,
                  fallbackShown: getComputedStyle(e.querySelector('figure')).display !== 'none'};
        }""",
        selector,
    )


@pytest.mark.parametrize(
    ("path", "kind"), [("sd3-and-flux/", "mmdit"), ("z-image/", "single-stream")]
)
def test_attention_explorer_rings_the_patch_the_trained_model_attends_to(visit, path, kind):
    """For every word, at the default block, head and time, the ringed patch is the argmax of
    the attention that the teaching code computes for the trained model on the same scene, and
    the sentence quotes the exported shares; the block, head and time controls and the patches
    work from the keyboard."""
    import torch

    from artifacts.digits.models import TRAINED
    from snippets.digits.evaluation import attention_at
    from snippets.digits.training import digit_noise, load_trained

    generated = ROOT / "docs" / "generated"
    data = json.loads(
        (generated / "digits-attention-explorer" / f"explorer-{kind}.json").read_text()
    )
    model, _ = load_trained(generated / TRAINED[kind])

    page_visit = visit(path)
    page = page_visit.page
    selector = f"{ATTENTION}[data-data$='explorer-{kind}.json']"
    page.locator(selector).scroll_into_view_if_needed()
    page.wait_for_selector(f"{selector}[data-ready]")
    shown = _attention_state(page, selector)
    assert not shown["fallbackShown"], "the static figure still shows beside the explorer"
    t_index, block, head = (int(v) for v in shown["state"].split(","))

    pair = torch.tensor([data["pair"]])
    noise = digit_noise(1, data["size"], data["seed"], 2 * data["size"])
    maps, t_used = attention_at(
        model,
        kind,
        pair,
        data["times"][t_index],
        data["steps"],
        noise,
        torch.tensor([data["template"]]),
    )
    assert abs(t_used - data["times"][t_index]) < 1e-4
    probs = maps[block][0]
    probs = probs.mean(0) if head == 0 else probs[head - 1]
    n_text = len(data["words"])
    for index, word in enumerate(data["words"]):
        page.locator(f"{selector} .attention__word").nth(index).click()
        shown = _attention_state(page, selector)
        expected = int(probs[index, n_text:].argmax())
        assert shown["query"] == index and shown["ringed"] == expected == shown["strongest"], word
        shares = data["summary"][t_index][block][head]["words"][index]
        assert shown["readout"].startswith(f'"{word}"')
        assert f"{math.floor(100 * shares[1] + 0.5)}% falls on the left half" in shown["readout"]

    # Controls: the native radio groups move with the arrow keys.
    page.locator(f"{selector} input[name^='attention-block'][value='0']").focus()
    page.keyboard.press("ArrowRight")
    page.locator(f"{selector} input[name^='attention-head'][value='0']").focus()
    page.keyboard.press("ArrowRight")
    page.locator(f"{selector} input[name^='attention-time'][value='{t_index}']").focus()
    page.keyboard.press("ArrowLeft")
    shown = _attention_state(page, selector)
    assert shown["state"] == f"{t_index - 1},1,1"
    summary = data["summary"][t_index - 1][1][1]["words"][shown["query"]]
    assert shown["ringed"] == summary[3]

    # Patches: one tab stop, the arrow keys move the query along the canvas.
    page.locator(f"{selector} .attention__cell").first.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    shown = _attention_state(page, selector)
    columns = data["grid"][1]
    assert shown["query"] == n_text + columns + 1
    assert shown["readout"].startswith("Patch row 2, column 2")
    patch = data["summary"][t_index - 1][1][1]["patches"][columns + 1]
    assert f'the most to "{data["words"][patch[1]]}"' in shown["readout"]
    assert page.locator(f"{selector} .attention__readout").get_attribute("aria-live") == "polite"
    assert not page_visit.problems, report(path, page_visit.problems)


ROPE = "[data-explorable='rope-ids']"


def test_rope_explorer_marks_the_tokens_the_python_says_share_an_axis(visit):
    """Every caption length and image size: the ids on the page are snippets.rope's, and for a
    caption token, a patch and a padding patch the tokens marked as sharing each axis are as
    many as the Python counts; the controls and tokens work from the keyboard."""
    from artifacts.z_image.rope_explorer import sharing_counts

    data = json.loads(
        (ROOT / "docs" / "generated" / "zimage-rope-explorer" / "states.json").read_text()
    )
    page_visit = visit("z-image/")
    page = page_visit.page
    page.locator(ROPE).scroll_into_view_if_needed()
    page.wait_for_selector(f"{ROPE}[data-ready]")
    captions = sorted({s["caption_tokens"] for s in data["states"]})
    grids = list(dict.fromkeys((s["rows"], s["columns"]) for s in data["states"]))
    for state in data["states"]:
        page.locator(
            f"{ROPE} input[name^='rope-caption'][value='{captions.index(state['caption_tokens'])}']"
        ).check()
        grid = grids.index((state["rows"], state["columns"]))
        page.locator(f"{ROPE} input[name^='rope-image'][value='{grid}']").check()
        shown_ids = page.eval_on_selector_all(
            f"{ROPE} .rope-ids__token", "tokens => tokens.map((t) => t.textContent)"
        )
        expected = [",".join(map(str, ids)) for ids in state["caption"] + state["image"]]
        assert shown_ids == expected
        real = state["rows"] * state["columns"]
        picks = [("caption", 0), ("image", real - 1), ("image", len(state["image"]) - 1)]
        for group, index in picks:
            page.locator(
                f"{ROPE} .rope-ids__token[data-group='{group}'][data-index='{index}']"
            ).click()
            for axis in range(3):
                page.locator(f"{ROPE} input[name^='rope-axis'][value='{axis}']").check()
                shared = page.get_attribute(ROPE, "data-shared")
                marked = int(page.get_attribute(ROPE, "data-marked"))
                counts = sharing_counts(state, group, index)
                assert shared == ",".join(map(str, counts)), (state["caption_tokens"], group)
                assert marked == counts[axis]
    # Keyboard: a token group is one tab stop, arrows move the pointing.
    first = page.locator(f"{ROPE} .rope-ids__token[data-group='caption'][data-index='0']")
    first.focus()
    page.keyboard.press("ArrowRight")
    assert page.get_attribute(ROPE, "data-chosen") == "caption:1"
    page.keyboard.press("ArrowDown")
    assert page.get_attribute(ROPE, "data-chosen") == "caption:9"
    readout = page.locator(f"{ROPE} .rope-ids__readout")
    assert readout.get_attribute("aria-live") == "polite"
    assert readout.text_content().startswith("Caption token 10 at (10, 0, 0)")
    assert not page_visit.problems, report("z-image/", page_visit.problems)
