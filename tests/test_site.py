"""Site-level checks: README quick start, strict-build failures, alt text, no third-party assets.

The strict-build tests build tiny throwaway MkDocs projects whose settings (``strict``,
``validation``, Markdown extensions, the mkdocstrings plugin) are read from the real
``mkdocs.yml``, so they test this project's configuration, not a copy of it.
"""

from __future__ import annotations

import posixpath
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from mkdocs.utils.yaml import yaml_load
from site_helpers import ROOT, mkdocs_build

DOCS = ROOT / "docs"
README = ROOT / "README.md"
CI_RUN = ROOT / ".ci" / "run"


# --------------------------------------------------------------------------- README and CI


def quick_start_blocks() -> list[list[str]]:
    """The ```bash blocks of README.md, as lists of their lines."""
    blocks = re.findall(r"^```bash[ \t]*\n(.*?)^```[ \t]*$", README.read_text(), re.M | re.S)
    return [block.splitlines() for block in blocks]


def test_readme_has_one_bash_block_of_two_lines():
    blocks = quick_start_blocks()
    assert len(blocks) == 1, f"README.md must have exactly one ```bash block, found {len(blocks)}"
    assert len(blocks[0]) == 2, f"the ```bash block must have exactly two lines: {blocks[0]}"
    assert all(line.strip() for line in blocks[0]), "a line of the ```bash block is empty"


def test_readme_line_one_installs_then_builds_strictly():
    install_and_build = quick_start_blocks()[0][0]
    steps = [step.strip() for step in install_and_build.split("&&")]
    assert any(step.startswith("python3 -m venv") for step in steps), steps
    assert "pip install torch==2.13.0" in steps, "torch must be installed first, pinned (CPU wheel)"
    torch_at = steps.index("pip install torch==2.13.0")
    project_at = next(i for i, step in enumerate(steps) if step.startswith("pip install -e"))
    assert torch_at < project_at, "torch==2.13.0 must be installed before the project"
    assert '".[docs]"' in steps[project_at]
    assert steps[-1] == "mkdocs build --strict", (
        "line 1 must end with `mkdocs build --strict` (never -q: with -q warnings do not fail)"
    )


def test_readme_line_two_installs_then_runs_every_test():
    install_and_test = quick_start_blocks()[0][1]
    steps = [step.strip() for step in install_and_test.split("&&")]
    assert "pip install torch==2.13.0" in steps
    assert any(step.startswith("pip install -e") and '".[docs,test]"' in step for step in steps)
    # No path or -k/-m selection: "every test" means pytest's configured testpaths.
    assert steps[-1] == "python -m pytest", steps[-1]


def test_ci_script_runs_readme_line_two_exactly():
    text = CI_RUN.read_text()
    assert CI_RUN.stat().st_mode & 0o111, ".ci/run must be executable"
    assert "set -euo pipefail" in text
    assert "apt-get install -y chromium" in text
    printed = subprocess.run(
        ["bash", str(CI_RUN), "--print"], capture_output=True, text=True, check=True
    ).stdout
    assert printed.rstrip("\n") == quick_start_blocks()[0][1]


# ------------------------------------------------------------- the strict build fails on ...


@pytest.fixture(scope="module")
def real_config() -> dict:
    with open(ROOT / "mkdocs.yml", encoding="utf-8") as file:
        return yaml_load(file)


def plugin_entry(config: dict, name: str):
    for plugin in config["plugins"]:
        if plugin == name or (isinstance(plugin, dict) and name in plugin):
            return plugin
    raise KeyError(f"mkdocs.yml has no plugin {name!r}")


def build_tiny_project(tmp_path: Path, real_config: dict, pages: dict[str, str]):
    """Build a two-or-three page project with the real project's strictness and validation."""
    docs = tmp_path / "docs"
    for name, text in pages.items():
        (docs / name).parent.mkdir(parents=True, exist_ok=True)
        (docs / name).write_text(text, encoding="utf-8")
    config = {
        "site_name": "tiny",
        "docs_dir": "docs",
        "strict": True,  # mkdocs_build() passes --strict too, as README line 1 does
        "validation": real_config["validation"],
        "markdown_extensions": [
            extension
            for extension in real_config["markdown_extensions"]
            if not (isinstance(extension, dict) and "pymdownx.snippets" in extension)
        ],
        "plugins": [plugin_entry(real_config, "mkdocstrings")],
    }
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    result = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    return result.returncode, result.stdout + result.stderr


GOOD_PAGES = {
    "index.md": (
        "# Home\n\n"
        "See [the other page](other.md), [its section](other.md#known-section), and the API of\n"
        "[the package][snippets].\n"
    ),
    "other.md": "# Other\n\n## Known section {#known-section}\n\nText.\n",
    "api.md": "# API\n\n::: snippets\n",
}


def test_tiny_project_builds_cleanly(tmp_path, real_config):
    """The control: without a broken link, the tiny project builds under --strict."""
    returncode, output = build_tiny_project(tmp_path, real_config, GOOD_PAGES)
    assert returncode == 0, output
    assert "WARNING" not in output, output


@pytest.mark.parametrize(
    ("broken", "complaint"),
    [
        ("[gone](missing.md)", "missing.md"),
        ("[no such section](other.md#no-such-anchor)", "no-such-anchor"),
        ("[a function that does not exist][snippets.nope]", "snippets.nope"),
    ],
    ids=["link", "anchor", "cross-reference"],
)
def test_strict_build_fails_on_broken(tmp_path, real_config, broken, complaint):
    pages = dict(GOOD_PAGES, **{"index.md": GOOD_PAGES["index.md"] + f"\nBroken: {broken}\n"})
    returncode, output = build_tiny_project(tmp_path, real_config, pages)
    assert returncode != 0, f"the strict build accepted {broken!r}:\n{output}"
    warnings = [line for line in output.splitlines() if line.startswith("WARNING")]
    assert any(complaint in line for line in warnings), output


# ---------------------------------------------------------------------------- alt text


def markdown_sources() -> list[Path]:
    return sorted(
        path
        for path in DOCS.rglob("*.md")
        if not path.relative_to(DOCS).as_posix().startswith(("assets/", "overrides/"))
    )


FENCE = re.compile(r"^([ \t]*)(`{3,}|~{3,}).*?^\1\2[ \t]*$", re.M | re.S)
INLINE_CODE = re.compile(r"(`+)(?!`).*?(?<!`)\1", re.S)
MARKDOWN_IMAGE = re.compile(r"!\[([^\]]*)\][(\[]")
HTML_IMAGE = re.compile(r"<img\b[^>]*>", re.I | re.S)
ALT = re.compile(r"""\balt\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)


def blank(match: re.Match) -> str:
    """Replace code by spaces, keeping newlines so that line numbers stay right."""
    return re.sub(r"[^\n]", " ", match.group(0))


def images_without_alt(text: str) -> list[tuple[int, str]]:
    prose = INLINE_CODE.sub(blank, FENCE.sub(blank, text))
    found = []
    for match in MARKDOWN_IMAGE.finditer(prose):
        if not match.group(1).strip():
            found.append((prose.count("\n", 0, match.start()) + 1, match.group(0)))
    for match in HTML_IMAGE.finditer(prose):
        alt = ALT.search(match.group(0))
        if alt is None or not "".join(alt.groups(default="")).strip():
            found.append((prose.count("\n", 0, match.start()) + 1, match.group(0)[:80]))
    return found


def test_alt_text_checker_catches_missing_alt():
    text = '![](a.png)\n```md\n![](in-code.png)\n```\n![ok](b.png)\n<img src="c.png">\n<img alt="" src="d">'
    assert [line for line, _ in images_without_alt(text)] == [1, 6, 7]


def test_every_image_in_the_docs_has_alt_text():
    missing = [
        f"{path.relative_to(ROOT)}:{line}: {snippet}"
        for path in markdown_sources()
        for line, snippet in images_without_alt(path.read_text(encoding="utf-8"))
    ]
    assert not missing, "images without alt text:\n" + "\n".join(missing)


# ------------------------------------------------------------ nothing from another origin

# <link rel=...> values that do not make the browser fetch anything.
NON_FETCHING_RELS = {"canonical", "alternate", "prev", "next", "author", "license", "me", "help"}
URL_ATTRIBUTES = {
    "script": ("src",),
    "link": ("href",),
    "img": ("src", "srcset"),
    "source": ("src", "srcset"),
    "iframe": ("src",),
    "video": ("src", "poster"),
    "audio": ("src",),
    "embed": ("src",),
    "object": ("data",),
}
CSS_REMOTE_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])((?:https?:)?//[^'")\s]+)""", re.I)


class AssetCollector(HTMLParser):
    """Collects every URL the browser would fetch for script, link, img and media tags."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []
        self.in_style = False
        self.styles: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.in_style = tag == "style"
        if tag == "link" and NON_FETCHING_RELS & set((attributes.get("rel") or "").lower().split()):
            return
        for name in URL_ATTRIBUTES.get(tag, ()):
            value = attributes.get(name)
            if not value:
                continue
            candidates = value.split(",") if name == "srcset" else [value]
            for candidate in candidates:
                if candidate.strip():
                    self.urls.append((tag, candidate.strip().split()[0]))

    def handle_endtag(self, tag):
        if tag == "style":
            self.in_style = False

    def handle_data(self, data):
        if self.in_style:
            self.styles.append(data)


def is_remote(url: str, site_netloc: str) -> bool:
    parts = urlsplit(url)
    if url.startswith("//"):
        return parts.netloc != site_netloc
    return parts.scheme in ("http", "https") and parts.netloc != site_netloc


def test_remote_asset_checker_catches_cdn_links():
    collector = AssetCollector()
    collector.feed(
        '<link rel="canonical" href="https://example.org/x/">'
        '<script src="https://cdn.example.com/katex.js"></script>'
        '<link rel="stylesheet" href="//fonts.example.com/css">'
        '<img src="assets/a.png" alt="a"><style>@font-face{src:url(https://x.test/f.woff2)}</style>'
    )
    remote = [url for _, url in collector.urls if is_remote(url, "127.0.0.1:8000")]
    assert remote == ["https://cdn.example.com/katex.js", "//fonts.example.com/css"]
    assert CSS_REMOTE_URL.findall("".join(collector.styles)) == ["https://x.test/f.woff2"]


def test_built_site_loads_nothing_from_another_origin(built_site, site_url):
    """No <script>, <link>, <img> or media tag and no stylesheet points at a CDN or other host."""
    site_netloc = urlsplit(site_url).netloc
    problems = []
    for page in sorted(built_site.rglob("*.html")):
        collector = AssetCollector()
        collector.feed(page.read_text(encoding="utf-8"))
        for tag, url in collector.urls:
            if is_remote(url, site_netloc):
                problems.append(f"{page.relative_to(built_site)}: <{tag}> {url}")
        for url in CSS_REMOTE_URL.findall("".join(collector.styles)):
            if is_remote(url, site_netloc):
                problems.append(f"{page.relative_to(built_site)}: <style> {url}")
    for stylesheet in sorted(built_site.rglob("*.css")):
        for url in CSS_REMOTE_URL.findall(stylesheet.read_text(encoding="utf-8", errors="replace")):
            if is_remote(url, site_netloc):
                problems.append(f"{stylesheet.relative_to(built_site)}: {url}")
    assert not problems, "assets from another origin:\n" + "\n".join(problems)


def test_vendored_katex_has_every_font_it_asks_a_browser_for():
    """Each @font-face lists woff2 first; browsers that read woff2 never ask for .woff/.ttf.

    Only the woff2 files are vendored, so every @font-face must offer a woff2 that exists.
    """
    katex = DOCS / "assets" / "katex"
    faces = re.findall(r"@font-face\{[^}]*\}", (katex / "katex.min.css").read_text())
    assert faces
    for face in faces:
        sources = re.findall(r"url\(([^)]+)\)\s*format\(\"?([\w-]+)", face)
        assert sources and sources[0][1] == "woff2", face
        assert (katex / sources[0][0]).is_file(), f"missing {sources[0][0]}"


# ------------------------------------------------------------------ API reference docstrings


def test_docstring_examples_use_the_section_mkdocstrings_renders_as_code():
    """Google-style ``Example:`` (singular) is not a section for griffe, mkdocstrings' parser.

    It becomes an admonition whose ``>>>`` lines render as nested block quotes, and an output
    line such as ``[64, 256, 1024]`` after a bracketed input becomes a Markdown reference link
    (a broken cross-reference). ``Examples:`` renders as a highlighted code block.
    """
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in TEACHING_FILES
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if re.fullmatch(r"\s*Example:\s*", line)
    ]
    assert not offenders, "write `Examples:` (plural):\n" + "\n".join(offenders)


TEACHING_FILES = sorted((ROOT / "snippets").rglob("*.py"))

SPHINX_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|obj|exc|const|ref|doc):`")


def docstrings(path: Path):
    """(line, text) of every module, class and function docstring in a Python file."""
    import ast

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
        first = node.body[0] if isinstance(node, kinds) and node.body else None
        value = first.value if isinstance(first, ast.Expr) else None
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            yield value.lineno, value.value


def test_docstrings_use_markdown_cross_references_not_sphinx_roles():
    """mkdocstrings renders Markdown: ``:class:`DiT``` shows up literally on the API page.

    Write ``[`DiT`][snippets.dit.DiT]`` instead: it becomes a link, and the strict build
    fails if the target does not exist.
    """
    offenders = [
        f"{path.relative_to(ROOT)}:{line + text[: match.start()].count(chr(10))}: "
        f"{text[match.start() : match.start() + 40].splitlines()[0]}"
        for path in TEACHING_FILES
        for line, text in docstrings(path)
        for match in SPHINX_ROLE.finditer(text)
    ]
    assert not offenders, "Sphinx roles in docstrings:\n" + "\n".join(offenders)


def teaching_modules() -> set[str]:
    """Every module of the teaching package (packages' ``__init__`` aside)."""
    import pkgutil

    found = pkgutil.walk_packages([str(ROOT / "snippets")], "snippets.")
    return {info.name for info in found if not info.ispkg}


def test_api_reference_overview_lists_every_teaching_module_once():
    """The generated reference has one page per module; the hand-written overview links each."""
    from sitetools.prebuild import page_path

    overview = (DOCS / "includes" / "api-overview.md").read_text(encoding="utf-8")
    linked = re.findall(r"^- \[`([\w.]+)`\]\(([\w/]+\.md)\)$", overview, re.M)
    names = [name for name, _ in linked]
    assert len(names) == len(set(names)), f"listed twice: {sorted(names)}"
    modules = teaching_modules()
    assert not modules - set(names), (
        f"add to docs/includes/api-overview.md: {sorted(modules - set(names))}"
    )
    assert not set(names) - modules, f"not teaching modules: {sorted(set(names) - modules)}"
    assert all(page == page_path(name) for name, page in linked), linked


def test_the_teaching_package_needs_no_site_tooling():
    """Importing every teaching module loads no Markdown, MkDocs, pymdown or notebook package."""
    script = (
        "import importlib, sys\n"
        f"for name in {sorted(teaching_modules())!r}:\n"
        "    importlib.import_module(name)\n"
        "tooling = ('markdown', 'mkdocs', 'pymdownx', 'nbformat', 'nbclient', 'ipykernel',\n"
        "           'jupyter_client', 'sitetools', 'artifacts', 'yaml')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in tooling))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_pages_never_mention_the_course_record():
    """Readers have never seen the course's written record: pages say what the code does."""
    pattern = re.compile(r"\b(the|course|written) record\b|record simplified", re.I)
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted(DOCS.rglob("*.md")) + sorted((ROOT / "notebooks").glob("*.ipynb"))
        # the generated folders repeat what their sources (checked here) say
        if not path.is_relative_to(DOCS)
        or path.relative_to(DOCS).parts[0] not in ("generated", "notebooks", "reference")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if pattern.search(line)
    ]
    assert not offenders, "\n".join(offenders)


def test_api_pages_edit_links_open_the_module_source(built_site):
    """The edit button of an API page opens the module it documents, not a file under docs/."""
    page = (built_site / "reference" / "digits" / "training" / "index.html").read_text(
        encoding="utf-8"
    )
    links = re.findall(r'href="([^"]+)"[^>]*title="Edit this page"', page)
    assert links, "no edit link on the API page of snippets.digits.training"
    resolved = {posixpath.normpath(urlsplit(link).path) for link in links}
    assert resolved == {"/example/next-gen-diffusion/edit/main/snippets/digits/training.py"}, links
