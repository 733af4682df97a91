"""Tests for the admonition macros (sitetools.macros): rendering, errors, stylesheet."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path

import markdown
import pytest
from site_helpers import contrast

from sitetools import macros

ROOT = Path(__file__).resolve().parent.parent
CSS = ROOT / "docs" / "assets" / "stylesheets" / "macros.css"
EXTENSIONS = ["pymdownx.superfences", "pymdownx.arithmatex", "sitetools.macros"]
CONFIGS = {"pymdownx.arithmatex": {"generic": True}}


# ---------------------------------------------------------------------------
# A tiny DOM built with html.parser, enough to assert structure.


class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Node | None):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node] = []
        self.parts: list[str | Node] = []

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def text(self) -> str:
        return "".join(p if isinstance(p, str) else p.text() for p in self.parts)

    def iter(self):
        yield self
        for child in self.children:
            yield from child.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None) -> list[Node]:
        return [
            n
            for n in self.iter()
            if (tag is None or n.tag == tag) and (cls is None or cls in n.classes)
        ]

    def one(self, tag: str | None = None, cls: str | None = None) -> Node:
        found = self.find_all(tag, cls)
        assert len(found) == 1, f"expected one {tag}.{cls}, found {len(found)}"
        return found[0]


class _Builder(HTMLParser):
    VOID = {"br", "hr", "img", "input", "meta", "link", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, None)
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.cur)
        self.cur.children.append(node)
        self.cur.parts.append(node)
        if tag not in self.VOID:
            self.cur = node

    def handle_endtag(self, tag):
        node = self.cur
        while node is not self.root and node.tag != tag:
            node = node.parent
        assert node is not self.root, f"stray </{tag}>"
        self.cur = node.parent

    def handle_data(self, data):
        self.cur.parts.append(data)


def render(src: str) -> Node:
    html = markdown.markdown(textwrap.dedent(src), extensions=EXTENSIONS, extension_configs=CONFIGS)
    builder = _Builder()
    builder.feed(html)
    builder.close()
    assert builder.cur is builder.root, "unclosed element in output"
    return builder.root


def element_children(node: Node) -> list[Node]:
    return list(node.children)


def labelled_by(root: Node, node: Node) -> Node:
    ids = {n.attrs.get("id"): n for n in root.iter() if n.attrs.get("id")}
    return ids[node.attrs["aria-labelledby"]]


# ---------------------------------------------------------------------------
# Rendered HTML of each macro

COMPARISON = """
/// comparison | U-Net versus DiT
//// column | U-Net
- multi-resolution
////
//// column | DiT
- one resolution
////
///
"""


def test_comparison_has_a_title_and_exactly_two_titled_columns():
    root = render(COMPARISON)
    box = root.one("div", "macro-comparison")
    kids = element_children(box)
    assert [k.tag for k in kids] == ["p", "div"]
    assert "macro-comparison-title" in kids[0].classes and kids[0].text() == "U-Net versus DiT"
    assert labelled_by(root, box) is kids[0]
    columns = element_children(kids[1])
    assert "macro-comparison-columns" in kids[1].classes
    assert [c.tag for c in columns] == ["div", "div"]
    assert all("macro-column" in c.classes and c.attrs["role"] == "group" for c in columns)
    titles = [element_children(c)[0] for c in columns]
    assert [t.text() for t in titles] == ["U-Net", "DiT"]
    assert all("macro-column-title" in t.classes for t in titles)
    assert [labelled_by(root, c) for c in columns] == titles
    assert [c.one("li").text() for c in columns] == ["multi-resolution", "one resolution"]


def test_comparison_title_is_optional():
    root = render(COMPARISON.replace("/// comparison | U-Net versus DiT", "/// comparison"))
    box = root.one("div", "macro-comparison")
    assert not box.find_all(cls="macro-comparison-title")
    assert "aria-labelledby" not in box.attrs
    assert len(box.find_all(cls="macro-column")) == 2


@pytest.mark.parametrize("gradient", sorted(macros.GRADIENTS))
def test_gradient_card_uses_the_named_gradient(gradient):
    root = render(f"/// gradient-card | MMDiT\n    gradient: {gradient}\nJoint attention.\n///\n")
    card = root.one("div", "macro-card")
    assert card.classes == {"macro-card", f"macro-gradient-{gradient}"}
    title = element_children(card)[0]
    assert "macro-card-title" in title.classes and title.text() == "MMDiT"
    assert labelled_by(root, card) is title
    assert [p.text() for p in card.find_all("p")] == ["MMDiT", "Joint attention."]


def test_gradient_card_default_gradient():
    card = render("/// gradient-card | Card\nBody.\n///\n").one("div", "macro-card")
    assert f"macro-gradient-{macros.DEFAULT_GRADIENT}" in card.classes
    assert macros.DEFAULT_GRADIENT in macros.GRADIENTS


@pytest.mark.parametrize(
    "kind,label", [("insight", "Insight"), ("warning", "Warning"), ("tip", "Tip")]
)
def test_callouts_are_asides_with_a_visible_kind_and_title(kind, label):
    root = render(f"/// {kind} | What DiT keeps\nThe **VAE**.\n///\n")
    aside = root.one("aside")
    assert aside.classes == {"macro-callout", f"macro-{kind}"}
    title = element_children(aside)[0]
    assert "macro-callout-title" in title.classes
    assert title.one("span", "macro-callout-label").text() == label
    assert title.text() == f"{label} What DiT keeps"
    assert aside.one("strong").text() == "VAE"


@pytest.mark.parametrize("kind", ["check", "challenge", None])
def test_predict_is_a_details_whose_summary_is_the_question(kind):
    option = f"    kind: {kind}\n" if kind else ""
    root = render(f"/// predict | How many tokens for p = 4?\n{option}**256** tokens.\n///\n")
    details = root.one("details")
    assert details.classes == {"macro-predict", f"macro-predict-{kind or 'check'}"}
    assert "open" not in details.attrs  # hidden until the reader asks
    summary, answer = element_children(details)
    assert summary.tag == "summary"
    assert summary.one("span", "macro-predict-question").text() == "How many tokens for p = 4?"
    assert summary.one("span", "macro-predict-hint").text() == "Predict first, then reveal"
    assert summary.one("span", "macro-predict-kind").text() == macros.PREDICT_KINDS[kind or "check"]
    assert "macro-predict-answer" in answer.classes and answer.one("strong").text() == "256"
    assert not summary.find_all("strong")  # the answer is not in the summary


def test_module_complete_is_a_labelled_section():
    root = render("/// module-complete | Module 7.4 complete\n- DiT\n- MMDiT\n///\n")
    section = root.one("section", "macro-module-complete")
    title = element_children(section)[0]
    assert title.text() == "Module 7.4 complete" and "macro-module-complete-title" in title.classes
    assert labelled_by(root, section) is title
    assert [li.text() for li in section.find_all("li")] == ["DiT", "MMDiT"]


RICH_BODY = """\
- a list item with [a link](https://example.org/x)
- inline math $x^2$

```python
tokens = (64 // 4) ** 2
```
"""

BLOCKS_AROUND_BODY = {
    "column": (
        "/// comparison\n//// column | A\n{body}////\n//// column | B\nb\n////\n///\n",
        "div",
        "macro-column",
    ),
    "gradient-card": (
        "/// gradient-card | Card\n    gradient: teal\n{body}///\n",
        "div",
        "macro-card",
    ),
    "insight": ("/// insight | Title\n{body}///\n", "aside", "macro-insight"),
    "warning": ("/// warning | Title\n{body}///\n", "aside", "macro-warning"),
    "tip": ("/// tip | Title\n{body}///\n", "aside", "macro-tip"),
    "predict": (
        "/// predict | Question?\n    kind: challenge\n{body}///\n",
        "div",
        "macro-predict-answer",
    ),
    "module-complete": (
        "/// module-complete | Done\n{body}///\n",
        "section",
        "macro-module-complete",
    ),
}


@pytest.mark.parametrize("name", sorted(BLOCKS_AROUND_BODY))
def test_lists_code_math_and_links_render_inside_every_block(name):
    template, tag, cls = BLOCKS_AROUND_BODY[name]
    box = render(template.format(body=RICH_BODY)).find_all(tag, cls)[0]
    items = box.find_all("li")
    assert len(items) == 2
    assert items[0].one("a").attrs["href"] == "https://example.org/x"
    assert items[1].one("span", "arithmatex").text() == r"\(x^2\)"
    code = box.one("code")
    assert code.parent.tag == "pre" and code.text() == "tokens = (64 // 4) ** 2\n"


def test_code_fence_inside_a_block_keeps_slash_lines_as_code():
    root = render("/// tip | Fences\n````text\n/// not-a-block\n///\n````\n///\n")
    assert root.one("aside").one("code").text() == "/// not-a-block\n///\n"


def test_blocks_nest_and_ids_stay_unique():
    root = render(
        "/// comparison\n//// column | A\n///// tip | Inner\nx\n/////\n////\n//// column | B\ny\n////\n///\n"
        + COMPARISON
    )
    assert root.one("aside").parent.classes == {"macro-column"}
    ids = [n.attrs["id"] for n in root.iter() if "id" in n.attrs]
    assert len(ids) == len(set(ids)) == 5


def test_block_inside_a_list_item():
    root = render("- item\n\n    /// tip | In a list\n    body\n    ///\n")
    assert root.one("aside").parent.tag == "li"


# ---------------------------------------------------------------------------
# Validation messages (in-process)

VALIDATION_CASES = {
    # name: (source, the line whose number is reported, problem fragment)
    "unknown block": (
        "text\n\n/// comparsion | X\nbody\n///\n",
        "/// comparsion | X",
        "unknown block 'comparsion' (did you mean 'comparison'?)",
    ),
    "one column": (
        "/// comparison\n//// column | A\na\n////\n///\n",
        "/// comparison",
        "exactly two 'column' blocks, this one has 1",
    ),
    "three columns": (
        "/// comparison\n//// column | A\na\n////\n//// column | A\na\n////\n//// column | A\na\n////\n///\n",
        "/// comparison",
        "exactly two 'column' blocks, this one has 3",
    ),
    "unknown gradient": (
        "/// gradient-card | T\n    gradient: purple\nbody\n///\n",
        "    gradient: purple",
        "unknown gradient 'purple'",
    ),
    "unclosed at end": (
        "intro\n\n/// insight | T\nbody\n\nmore\n",
        "/// insight | T",
        "block 'insight' is never closed",
    ),
    "unclosed inner": (
        "/// comparison\n//// column | A\na\n\n//// column | B\nb\n////\n///\n",
        "//// column | A",
        "block 'column' is never closed",
    ),
    "closer skips a level": (
        "/// comparison\n//// column | A\na\n///\n",
        "//// column | A",
        "block 'column' is never closed",
    ),
    "missing title": (
        "/// tip\nbody\n///\n",
        "/// tip",
        "block 'tip' needs a title",
    ),
    "empty title": (
        "/// predict |\nbody\n///\n",
        "/// predict |",
        "block 'predict' needs a title",
    ),
    "unknown option": (
        "/// predict | Q?\n    kinds: check\nbody\n///\n",
        "    kinds: check",
        "unknown option 'kinds' for block 'predict'",
    ),
    "option on a block without options": (
        "/// tip | T\n    gradient: teal\nbody\n///\n",
        "    gradient: teal",
        "unknown option 'gradient'",
    ),
    "bad kind": (
        "/// predict | Q?\n    kind: quiz\nbody\n///\n",
        "    kind: quiz",
        "unknown kind 'quiz'",
    ),
    "column outside comparison": (
        "/// column | A\nbody\n///\n",
        "/// column | A",
        "'column' must sit directly inside a 'comparison'",
    ),
    "column in another block": (
        "/// tip | T\n//// column | A\nx\n////\n///\n",
        "//// column | A",
        "'column' must sit directly inside",
    ),
    "text beside columns": (
        "/// comparison\nstray text\n//// column | A\na\n////\n///\n",
        "stray text",
        "only 'column' blocks",
    ),
    "stray closer": (
        "para\n\n///\n",
        "///",
        "closing '///' without an open block",
    ),
    "malformed header": (
        "/// tip: Title\nbody\n///\n",
        "/// tip: Title",
        "malformed block line",
    ),
    "fewer slashes inside": (
        "//// insight | A\n/// tip | B\nx\n///\n////\n",
        "/// tip | B",
        "needs more than 4 slashes",
    ),
    "options after a blank line": (
        "/// gradient-card | T\n\n    gradient: teal\n\nbody\n///\n",
        "    gradient: teal",
        "must follow its header line directly",
    ),
    "options not YAML": (
        "/// tip | T\n    - a\nbody\n///\n",
        "    - a",
        "must be YAML",
    ),
    "unclosed fence hides closer": (
        "/// tip | T\n```text\n///\n",
        "/// tip | T",
        "code fence opened on line 2 is never closed",
    ),
    "second option unknown": (
        "/// predict | Q?\n    kind: check\n    colour: red\nbody\n///\n",
        "    colour: red",
        "unknown option 'colour'",
    ),
}


@pytest.mark.parametrize("case", sorted(VALIDATION_CASES))
def test_malformed_use_raises_with_line(case):
    source, marker, problem = VALIDATION_CASES[case]
    expected_line = source.split("\n").index(marker) + 1
    with pytest.raises(macros.MacroError) as info:
        markdown.markdown(source, extensions=EXTENSIONS, extension_configs=CONFIGS)
    assert info.value.line == expected_line
    assert str(info.value).startswith(f"line {expected_line}: ")
    assert problem in str(info.value)


@pytest.mark.parametrize(
    "source",
    [
        "```\n/// nonsense\n```\n",
        "~~~~\n///\n```\n~~~~\n",
        "   ```python\n   //// x\n   ```\n",
        "<!--\n/// junk\n-->\n",
        "/// tip | T\n````md\n/// comparsion\n````\n///\n",
        "> /// tip | Quoted\n> body\n> ///\n",
        "/// html | div\ninside\n///\n",
    ],
)
def test_code_fences_comments_and_other_blocks_pass(source):
    md = markdown.Markdown(
        extensions=[*EXTENSIONS, "pymdownx.blocks.html"], extension_configs=CONFIGS
    )
    md.convert(source)


def test_other_registered_blocks_get_the_generic_checks():
    md = markdown.Markdown(
        extensions=[*EXTENSIONS, "pymdownx.blocks.html"], extension_configs=CONFIGS
    )
    with pytest.raises(macros.MacroError, match="line 1: block 'html' needs a title"):
        md.convert("/// html\ninside\n///\n")


def test_errors_name_the_page_under_zensical(tmp_path):
    """Zensical exposes the page through a preprocessor with ``.page.path`` and ``.config``
    (zensical.extensions.context.ContextPreprocessor); a stand-in with those attributes is
    enough, so the test needs no Zensical. The front matter line counts, as in the editor."""
    from types import SimpleNamespace

    from markdown.preprocessors import Preprocessor

    class FakeContext(Preprocessor):
        def __init__(self, md, page, config):
            super().__init__(md)
            self.page, self.config = page, config

        def run(self, lines):
            return lines

    docs = tmp_path / "docs"
    (docs / "part").mkdir(parents=True)
    text = "intro\n\n/// predcit | Q?\nbody\n///\n"
    (docs / "part" / "page.md").write_text("---\ntitle: T\n---\n" + text)
    md = markdown.Markdown(extensions=EXTENSIONS, extension_configs=CONFIGS)
    page = SimpleNamespace(path="part/page.md")
    config = {"root_dir": str(tmp_path), "docs_dir": "docs"}
    md.preprocessors.register(FakeContext(md, page, config), "rendering_context", 0)
    found = macros._mkdocs_file(md)
    assert found.src_uri == "part/page.md"
    assert Path(found.abs_src_path) == docs / "part" / "page.md"
    with pytest.raises(macros.MacroError) as info:
        md.convert(text)  # Zensical, like MkDocs, strips the front matter before Markdown
    assert str(info.value).startswith("part/page.md, line 6: unknown block 'predcit'")


# ---------------------------------------------------------------------------
# Real `mkdocs build --strict` runs: the log names the page file and the line.

MKDOCS_YML = """\
site_name: macro test
theme: mkdocs
exclude_docs: includes/
markdown_extensions:
  - pymdownx.superfences
  - pymdownx.arithmatex:
      generic: true
  - pymdownx.snippets:
      base_path: [docs]
      check_paths: true
  - sitetools.macros
"""

BUILD_CASES = {
    # name: (page source, the line whose number is reported, problem fragment, included file or None)
    "unknown block": (
        "# P\n\n/// comparsion | X\nbody\n///\n",
        "/// comparsion | X",
        "unknown block 'comparsion'",
        None,
    ),
    "one column": (
        "# P\n\n/// comparison\n//// column | A\na\n////\n///\n",
        "/// comparison",
        "exactly two 'column' blocks",
        None,
    ),
    "unknown gradient": (
        "# P\n\n/// gradient-card | T\n    gradient: purple\nb\n///\n",
        "    gradient: purple",
        "unknown gradient",
        None,
    ),
    "unclosed": (
        "# P\n\n/// insight | T\nbody\n",
        "/// insight | T",
        "never closed",
        None,
    ),
    "missing title": (
        "# P\n\n/// warning\nbody\n///\n",
        "/// warning",
        "needs a title",
        None,
    ),
    "unknown option": (
        "# P\n\n/// predict | Q?\n    hint: x\nb\n///\n",
        "    hint: x",
        "unknown option 'hint'",
        None,
    ),
    "column outside comparison": (
        "# P\n\n/// column | A\nb\n///\n",
        "/// column | A",
        "'column' must sit directly",
        None,
    ),
    "front matter": (
        "---\ntitle: P\n---\n\n# P\n\n/// tip\nbody\n///\n",
        "/// tip",
        "needs a title",
        None,
    ),
    "in an included file": (
        '# P\n\ntext\n\n--8<-- "includes/part.md"\n',
        '--8<-- "includes/part.md"',
        "unknown block 'tipp'",
        "/// tipp | T\nx\n///\n",
    ),
}


def mkdocs_build(
    tmp_path: Path, page: str, include: str | None = None
) -> subprocess.CompletedProcess:
    (tmp_path / "mkdocs.yml").write_text(MKDOCS_YML)
    docs = tmp_path / "docs"
    (docs / "lessons").mkdir(parents=True)
    (docs / "index.md").write_text("# Home\n")
    (docs / "lessons" / "page.md").write_text(page)
    if include is not None:
        (docs / "includes").mkdir()
        (docs / "includes" / "part.md").write_text(include)
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(tmp_path / "mkdocs.yml")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )


@pytest.mark.parametrize("case", sorted(BUILD_CASES))
def test_strict_build_fails_naming_file_and_line(tmp_path, case):
    page, marker, problem, include = BUILD_CASES[case]
    expected_line = page.split("\n").index(marker) + 1
    result = mkdocs_build(tmp_path, page, include)
    log = result.stdout + result.stderr
    assert result.returncode != 0, log
    assert "Error reading page 'lessons/page.md'" in log
    assert f"lessons/page.md, line {expected_line}" in log, log
    assert problem in log
    assert "Traceback" not in log


def test_strict_build_of_valid_macros_succeeds(tmp_path):
    page = "# P\n\n" + COMPARISON + "\n/// predict | Q?\n    kind: check\n$x$ and `code`\n///\n"
    result = mkdocs_build(tmp_path, page)
    assert result.returncode == 0, result.stdout + result.stderr
    html = (tmp_path / "site" / "lessons" / "page" / "index.html").read_text()
    assert html.count('class="macro-column"') == 2 and "<summary>" in html


# ---------------------------------------------------------------------------
# Stylesheet: generated gradient section, WCAG contrast, layout rules


def test_committed_css_matches_the_gradient_table():
    css = CSS.read_text()
    assert macros.gradient_css() in css, "run `python -m sitetools.macros` to refresh macros.css"


def _css_gradients() -> dict[tuple[str, str], dict[str, str]]:
    """(scheme, name) -> {'start', 'end', 'fg'} read from the stylesheet text."""
    rule = re.compile(
        r'(?P<slate>\[data-md-color-scheme="slate"\]\s+)?\.macro-gradient-(?P<name>[\w-]+)\s*\{(?P<body>[^}]*)\}'
    )
    found = {}
    for m in rule.finditer(CSS.read_text()):
        values = dict(re.findall(r"--macro-card-(start|end|fg)\s*:\s*(#[0-9a-fA-F]{6})", m["body"]))
        found[("dark" if m["slate"] else "light", m["name"])] = values
    return found


CSS_GRADIENTS = _css_gradients()


def test_css_defines_every_gradient_in_both_schemes():
    assert set(CSS_GRADIENTS) == {(s, n) for s in ("light", "dark") for n in macros.GRADIENTS}
    assert all(set(v) == {"start", "end", "fg"} for v in CSS_GRADIENTS.values())


@pytest.mark.parametrize("scheme,name", sorted(CSS_GRADIENTS))
def test_gradient_text_meets_wcag_aa_on_both_stops(scheme, name):
    colours = CSS_GRADIENTS[(scheme, name)]
    for stop in ("start", "end"):
        ratio = contrast(colours["fg"], colours[stop])
        assert ratio >= 4.5, f"{name} ({scheme}): text on {stop} is {ratio:.2f}:1"


def test_card_links_inherit_the_text_colour_and_are_underlined():
    css = CSS.read_text()
    rule = re.search(r"\.md-typeset \.macro-card a,[^{]*\{(?P<body>[^}]*)\}", css)
    assert (
        rule and "color: inherit" in rule["body"] and "text-decoration: underline" in rule["body"]
    )


def test_comparison_is_a_two_column_grid_that_stacks_below_45em():
    css = CSS.read_text()
    grid = re.search(r"\.macro-comparison-columns\s*\{(?P<body>[^}]*)\}", css)["body"]
    assert "display: grid" in grid and "repeat(2, minmax(0, 1fr))" in grid
    media = re.search(
        r"@media[^{]*max-width:\s*(?P<em>[\d.]+)em\)\s*\{\s*\.md-typeset \.macro-comparison-columns\s*\{(?P<body>[^}]*)\}",
        css,
    )
    assert media and 40 <= float(media["em"]) <= 45
    assert "grid-template-columns: minmax(0, 1fr)" in media["body"]


# ---------------------------------------------------------------------------
# Layout in a real browser: Material theme, the repository's stylesheet.


def test_comparison_sits_side_by_side_and_stacks_at_390px_without_overflow(tmp_path, browser):
    # `browser` (tests/conftest.py) fails, never skips, when chromium is missing.
    import functools
    import http.server
    import threading

    (tmp_path / "docs" / "assets").mkdir(parents=True)
    (tmp_path / "docs" / "assets" / "macros.css").write_text(CSS.read_text())
    wide = "`" + "x" * 200 + "`"  # a long code span must not widen the page
    (tmp_path / "docs" / "index.md").write_text(
        "# P\n\n"
        + COMPARISON.replace("- one resolution", f"- one resolution {wide}")
        + "\n/// gradient-card | Card\n    gradient: amber\nA [link](#p).\n///\n"
    )
    (tmp_path / "mkdocs.yml").write_text(
        "site_name: t\ntheme:\n  name: material\n  font: false\n  palette:\n    scheme: slate\n"
        "extra_css: [assets/macros.css]\nmarkdown_extensions: [pymdownx.superfences, sitetools.macros]\n"
    )
    dark_amber = CSS_GRADIENTS[("dark", "amber")]

    def rgb(hex_colour: str) -> str:
        return "rgb({}, {}, {})".format(*(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)))

    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(tmp_path / "mkdocs.yml")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert build.returncode == 0, build.stderr

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=tmp_path / "site")
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        boxes = {}
        for width in (1280, 390):
            page = browser.new_page(viewport={"width": width, "height": 800})
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            boxes[width] = page.evaluate(
                "[...document.querySelectorAll('.macro-column')].map(e => e.getBoundingClientRect().toJSON())"
            )
            card = page.evaluate(
                "(() => { const s = getComputedStyle(document.querySelector('.macro-card'));"
                " return [s.color, s.backgroundImage]; })()"
            )
            # the slate scheme's colours for this gradient apply
            assert card[0] == rgb(dark_amber["fg"]) and rgb(dark_amber["start"]) in card[1]
            page.close()
    finally:
        server.shutdown()
    left, right = boxes[1280]
    assert right["left"] >= left["right"] and abs(right["top"] - left["top"]) < 1  # side by side
    top, bottom = boxes[390]
    assert bottom["top"] >= top["bottom"] and abs(bottom["left"] - top["left"]) < 1  # stacked
    assert top["right"] <= 390
