"""Screenshot the lessons on a phone and a desktop, in both colour schemes, and print what does
not fit: code lines, tables, figure text and the copy button.

    SNIPPETS_EXECUTE=0 mkdocs build -d /tmp/site-x
    python benchmarks/screens.py --site /tmp/site-x --out /tmp/shots
    python benchmarks/screens.py --site /tmp/site-x --out /tmp/shots --pages sdxl z-image
    python benchmarks/screens.py --site /tmp/site-x --out /tmp/shots --no-shots   # numbers only

The built site is served from 127.0.0.1 and opened in Debian's ``/usr/bin/chromium`` (never
``playwright install``). Every ``<details>`` block is opened first, so collapsed code is
measured and photographed too. For each page it

* saves full-page screenshots ``<page>-<390|1280>-<light|dark>.png`` in ``--out``: Material's
  palette follows the browser's ``prefers-color-scheme`` (mkdocs.yml ``palette``), so *light* is
  the ``default`` scheme and *dark* is ``slate`` (checked on the page, not assumed);
* prints, at 1280 px, every code block wider than its box (``scrollWidth > clientWidth`` of the
  ``pre > code`` that scrolls) with its section, and each line that reaches past the box: its
  length, how many characters fit, whether it is doctest output or code, and its first 60
  characters, then the doctest output lines that fit only by wrapping onto more rows
  (docs/assets/javascripts/code-blocks.js wraps output, never code); the same list goes to
  ``<out>/overflow-<page>.txt`` for whoever edits the page;
* prints tables wider than the box they sit in (Material's ``.md-typeset__scrollwrap``), at
  1280 px and at 390 px;
* prints, at 390 px, each figure's estimated text size and whether a tap opens the full image
  (the ``<img>`` sits inside a link);
* prints, at 390 px, code lines that the copy button (Material's ``.md-code__nav``) covers, and
  whether the page itself scrolls sideways.

How the figure text size is estimated. A PNG figure is a matplotlib figure saved at
``FIGURE_DPI`` dots per inch (sitetools/pipeline/context.py). A font of *s* points is
*s* / 72 inches tall, so it is ``s * FIGURE_DPI / 72`` pixels tall in the PNG; 10 pt at 150 dpi is
about 20.8 px. The browser draws the PNG ``rendered / natural`` times its pixel size (rendered
width in CSS px over the PNG's width in pixels), so the text is

    text CSS px = s * FIGURE_DPI / 72 * rendered_width / natural_width

The PNG does not record its fonts, so *s* is ``--font-pt`` (default 10: the ``font.size`` that
``artifacts/plotting.py`` sets, which tick labels and legends inherit). Labels a producer sets
smaller (``fontsize=7`` or ``8``) come out smaller in proportion: the printed figure is the size
of the figure's ordinary text, not of its smallest. An SVG figure is scaled the same way with its
own numbers: the smallest ``font-size`` written in the file (in user units; matplotlib's user unit
is the point, and text drawn as paths falls back to ``--font-pt``) times ``rendered width /
viewBox width``. A figure is flagged when its estimate is under ``--min-px`` (default 9) and no
link opens the full image.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import re
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sitetools.pipeline.context import FIGURE_DPI  # noqa: E402

LESSONS = ("sdxl", "diffusion-transformers", "sd3-and-flux", "z-image")
WIDTHS = {390: 844, 1280: 900}  # viewport width: height
SCHEMES = {"light": "default", "dark": "slate"}  # prefers-color-scheme: Material's scheme
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Material's document$ emits once the page's components (copy buttons, table wrappers) exist.
SETTLED = """
() => new Promise((resolve) => {
  if (typeof document$ === 'undefined') return resolve(false);
  document$.subscribe(() => setTimeout(() => resolve(true), 300));
})
"""

# Open every <details>, load every image now (lazy ones too) and wait for them.
PREPARE = """
async () => {
  document.querySelectorAll('details').forEach((d) => { d.open = true; });
  const images = [...document.images];
  images.forEach((image) => { image.loading = 'eager'; });
  await Promise.all(images.map((image) => image.complete ? null :
    new Promise((resolve) => { image.onload = image.onerror = resolve; })));
  await new Promise((resolve) => setTimeout(resolve, 200));
  return document.body.getAttribute('data-md-color-scheme');
}
"""

# Shared by the measurements below: each line of a code block as a DOM Range, and the section
# (nearest heading above) an element sits in.
HELPERS = """
const lineRanges = (code) => {
  const lines = [];
  const walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
  let range = document.createRange();
  let text = '';
  let first = true;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (first) { range.setStart(node, 0); first = false; }
    const value = node.nodeValue;
    for (let i = 0; i < value.length; i++) {
      if (value[i] === '\\n') {
        range.setEnd(node, i);
        lines.push({range, text});
        range = document.createRange();
        range.setStart(node, i + 1);
        text = '';
      } else {
        text += value[i];
      }
      range.setEnd(node, i + 1);
    }
  }
  if (!first && text.length) lines.push({range, text});
  return lines;
};
const sectionOf = (element) => {
  const headings = [...document.querySelectorAll('.md-content h1[id], .md-content h2[id], ' +
                                                 '.md-content h3[id]')];
  let found = '(top)';
  for (const h of headings) {
    if (h.compareDocumentPosition(element) & Node.DOCUMENT_POSITION_FOLLOWING) found = '#' + h.id;
  }
  return found;
};
const isOutput = (lines, text) =>
  lines.some((l) => l.text.startsWith('>>>')) && !/^(>>>|\\.\\.\\.)( |$)/.test(text);
"""

CODE_OVERFLOW = (
    "() => {"
    + HELPERS
    + """
  const blocks = [...document.querySelectorAll('.md-content pre > code')];
  const wide = [];
  blocks.forEach((code, index) => {
    if (code.scrollWidth <= code.clientWidth + 1) return;
    const style = getComputedStyle(code);
    const box = code.getBoundingClientRect();
    const right = box.left + code.clientLeft + code.clientWidth - parseFloat(style.paddingRight);
    const usable = code.clientWidth - parseFloat(style.paddingLeft) -
                   parseFloat(style.paddingRight);
    const lines = lineRanges(code);
    const measured = lines.map((l) => ({...l, rect: l.range.getBoundingClientRect()}));
    const sample = measured.find((l) => l.text.length > 10 && !/[^\\x20-\\x7e]/.test(l.text));
    const charWidth = sample ? sample.rect.width / sample.text.length : 8;
    const over = measured
      .filter((l) => l.rect.right > right + 0.5)
      .map((l) => ({
        chars: l.text.length,
        output: isOutput(lines, l.text),
        text: l.text.slice(0, 60),
      }));
    wide.push({index, section: sectionOf(code), fit: Math.floor(usable / charWidth),
               lines: over});
  });
  // Doctest output that code-blocks.js lets wrap: fits, but on more than one line.
  const wrapped = [...document.querySelectorAll('.md-content pre > code .doctest-output')]
    .map((span) => ({span, rows: Math.round(span.getBoundingClientRect().height /
                                            parseFloat(getComputedStyle(span).lineHeight))}))
    .filter(({rows}) => rows > 1)
    .map(({span, rows}) => ({section: sectionOf(span), rows, chars: span.textContent.length,
                             text: span.textContent.slice(0, 60)}));
  return {total: blocks.length, wide, wrapped};
}
"""
)

TABLE_OVERFLOW = (
    "() => {"
    + HELPERS
    + """
  const tables = [...document.querySelectorAll('.md-content table')];
  return {total: tables.length, wide: tables.flatMap((table) => {
    const wrap = table.closest('.md-typeset__scrollwrap') || table.parentElement;
    if (wrap.scrollWidth <= wrap.clientWidth + 1) return [];
    const head = [...table.querySelectorAll('tr:first-child > *')]
      .map((cell) => cell.textContent.trim()).join(' | ');
    return [{section: sectionOf(table), head: head.slice(0, 60),
             width: Math.round(table.getBoundingClientRect().width),
             box: wrap.clientWidth, scrolls: /auto|scroll/.test(getComputedStyle(wrap).overflowX)}];
  })};
}
"""
)

FIGURES = (
    "() => {"
    + HELPERS
    + """
  return [...document.querySelectorAll('.md-content img')].map((image) => ({
    src: image.currentSrc || image.src,
    section: sectionOf(image),
    rendered: image.getBoundingClientRect().width,
    natural: image.naturalWidth,
    linked: !!image.closest('a[href]'),
  }));
}
"""
)

# Code text under the copy button: each line's rectangle, clipped to the part of the code box
# that shows (the block scrolls sideways under a button that stays put), against the button's.
COPY_BUTTON = (
    "() => {"
    + HELPERS
    + """
  const hits = [];
  document.querySelectorAll('.md-content pre').forEach((pre) => {
    const nav = pre.querySelector('.md-code__nav');
    const code = pre.querySelector(':scope > code');
    if (!nav || !code || nav.getBoundingClientRect().width === 0) return;
    const b = nav.getBoundingClientRect();
    const c = code.getBoundingClientRect();
    const lines = lineRanges(code);
    lines.forEach((line, number) => {
      const trimmed = line.text.replace(/\\s+$/, '');
      if (!trimmed) return;
      for (const r of line.range.getClientRects()) {
        const left = Math.max(r.left, c.left), right = Math.min(r.right, c.right);
        const top = Math.max(r.top, c.top), bottom = Math.min(r.bottom, c.bottom);
        const x = Math.min(right, b.right) - Math.max(left, b.left);
        const y = Math.min(bottom, b.bottom) - Math.max(top, b.top);
        if (x > 0.5 && y > 0.5) {
          hits.push({section: sectionOf(pre), line: number + 1, text: trimmed.slice(0, 60)});
          break;
        }
      }
    });
  });
  return hits;
}
"""
)

PAGE_WIDTH = "() => document.scrollingElement.scrollWidth"


def svg_scale_font(path: Path, font_pt: float) -> tuple[float, float] | None:
    """``(smallest font-size in user units, viewBox width)`` of an SVG file, or None."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    box = re.search(r'viewBox="\s*[-\d.]+[\s,]+[-\d.]+[\s,]+([\d.]+)', text)
    width = float(box.group(1)) if box else None
    if width is None:
        plain = re.search(r'<svg[^>]*\swidth="([\d.]+)(?:px)?"', text)
        width = float(plain.group(1)) if plain else None
    if not width:
        return None
    sizes = [
        float(size)
        for size in re.findall(
            r'font-size(?:="|\s*:\s*)([\d.]+)|font:\s*(?:[a-z]+\s+)*([\d.]+)px', text
        )
        for size in size
        if size
    ]
    return (min(sizes) if sizes else font_pt), width


def text_px(figure: dict, site: Path, base: str, font_pt: float) -> float | None:
    """Estimated CSS px of a figure's text (module docstring); None when it cannot be told."""
    if not figure["natural"] or not figure["rendered"]:
        return None
    local = site / figure["src"][len(base) :].split("?")[0]
    if local.suffix.lower() == ".svg":
        found = svg_scale_font(local, font_pt)
        if found is None:
            return None
        size, width = found
        return size * figure["rendered"] / width
    return font_pt * FIGURE_DPI / 72 * figure["rendered"] / figure["natural"]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature from the base class
        pass


def open_page(browser, url: str, width: int, scheme: str):
    context = browser.new_context(
        viewport={"width": width, "height": WIDTHS[width]},
        color_scheme=scheme,
        service_workers="block",
        device_scale_factor=1,
    )
    base = url.split("/", 3)[:3]
    context.route(lambda u: u.split("/", 3)[:3] != base, lambda route: route.abort())
    page = context.new_page()
    page.goto(url, wait_until="networkidle")
    page.evaluate(SETTLED)
    shown = page.evaluate(PREPARE)
    if shown != SCHEMES[scheme]:
        raise SystemExit(f"{url}: asked for the {scheme} scheme, Material shows {shown!r}")
    return context, page


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=Path("/tmp/site-screens"), help="built site")
    parser.add_argument("--out", type=Path, default=Path("/tmp/screens"), help="output folder")
    parser.add_argument("--pages", nargs="+", default=list(LESSONS), help="page paths (lessons)")
    parser.add_argument("--no-shots", action="store_true", help="measure only, no screenshots")
    parser.add_argument("--font-pt", type=float, default=10.0, help="assumed figure font (pt)")
    parser.add_argument("--min-px", type=float, default=9.0, help="legible figure text (CSS px)")
    args = parser.parse_args()
    site = args.site.resolve()
    if not (site / "index.html").is_file():
        parser.error(f"{site} holds no built site (SNIPPETS_EXECUTE=0 mkdocs build -d {site})")
    missing = [p for p in args.pages if not (site / p / "index.html").is_file()]
    if missing:
        parser.error(f"no such page in {site}: {', '.join(missing)}")
    args.out.mkdir(parents=True, exist_ok=True)

    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"

    from playwright.sync_api import sync_playwright

    totals = {"blocks": 0, "wide": 0, "tables": 0, "wide tables": 0, "figures": 0, "small": 0}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        for name in args.pages:
            url = base + name.strip("/") + "/"
            print(f"\n=== /{name}/")
            for width in WIDTHS:
                for scheme in SCHEMES:
                    context, page = open_page(browser, url, width, scheme)
                    if not args.no_shots:
                        shot = (
                            args.out / f"{name.strip('/').replace('/', '-')}-{width}-{scheme}.png"
                        )
                        page.screenshot(path=str(shot), full_page=True)
                    if scheme == "light":
                        measure(page, name, width, site, base, args, totals)
                    context.close()
        browser.close()
    server.shutdown()
    print(
        f"\nall pages: {totals['wide']} of {totals['blocks']} code blocks wider than their box "
        f"at 1280 px; {totals['wide tables']} of {totals['tables']} tables wider than their box "
        f"at 1280 px; {totals['small']} of {totals['figures']} figures with text under "
        f"{args.min_px:g} CSS px at 390 px and no link to the full image"
    )
    if not args.no_shots:
        print(f"screenshots in {args.out}")
    return 0


def measure(page, name: str, width: int, site: Path, base: str, args, totals: dict) -> None:
    tables = page.evaluate(TABLE_OVERFLOW)
    print(f"-- {width} px: {len(tables['wide'])} of {tables['total']} tables wider than their box")
    for t in tables["wide"]:
        how = "scrolls" if t["scrolls"] else "CUT OFF (no scroll)"
        print(f"   table {t['section']}: {t['width']} px in {t['box']} px, {how}: {t['head']}")
    if width == 1280:
        totals["tables"] += tables["total"]
        totals["wide tables"] += len(tables["wide"])
        code = page.evaluate(CODE_OVERFLOW)
        totals["blocks"] += code["total"]
        totals["wide"] += len(code["wide"])
        lines = [
            f"{len(code['wide'])} of {code['total']} code blocks wider than their box at 1280 px"
        ]
        for block in code["wide"]:
            lines.append(
                f"block {block['index'] + 1} in {block['section']} (fits {block['fit']} chars):"
            )
            for line in block["lines"]:
                kind = "output" if line["output"] else "code  "
                lines.append(f"   {line['chars']:>4} chars {kind} {line['text']}")
        lines.append(f"{len(code['wrapped'])} doctest output lines wrap (they fit, on more rows)")
        for line in code["wrapped"]:
            lines.append(
                f"   {line['chars']:>4} chars on {line['rows']} rows in {line['section']}: "
                f"{line['text']}"
            )
        print("   " + "\n   ".join(lines))
        (args.out / f"overflow-{name.strip('/').replace('/', '-')}.txt").write_text(
            "\n".join(lines) + "\n", encoding="utf-8"
        )
        return
    page_width = page.evaluate(PAGE_WIDTH)
    if page_width > width + 1:
        print(f"   THE PAGE SCROLLS SIDEWAYS: {page_width} px wide at {width} px")
    covered = page.evaluate(COPY_BUTTON)
    print(f"   copy button covers code text on {len(covered)} lines")
    for hit in covered:
        print(f"   copy button over {hit['section']} line {hit['line']}: {hit['text']}")
    figures = page.evaluate(FIGURES)
    totals["figures"] += len(figures)
    print(f"   {len(figures)} figures (text estimate at {args.font_pt:g} pt, see docstring):")
    for figure in figures:
        size = text_px(figure, site, base, args.font_pt)
        small = size is not None and size < args.min_px
        flag = ""
        if small:
            flag = "  small, but a tap opens it" if figure["linked"] else "  SMALL, NO LINK"
            totals["small"] += not figure["linked"]
        shown = "?" if size is None else f"{size:4.1f} px"
        print(
            f"   {shown} text, {figure['rendered']:.0f}/{figure['natural']} px, "
            f"{'linked' if figure['linked'] else 'no link'}: "
            f"{figure['src'].rsplit('/', 2)[-2:][0]}/{figure['src'].rsplit('/', 1)[-1]}{flag}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
