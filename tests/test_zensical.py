"""The site builds with Zensical too, from the same sources, to the same articles as MkDocs.

* ``python -m sitetools.zensical_build --strict`` (the wrapper: pipeline, pre-build step,
  ``zensical build``, page checks) builds this checkout; every page's ``<article>`` equals the
  MkDocs build's (the ``built_site`` fixture) after :func:`normalise_article`, and the two
  builds publish the same pages;
* the wrapper fails, naming the file and the line, on a missing artifact, a broken link or
  anchor, an absolute link, an image without alt text and a duplicate id (small projects built
  in the test).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from site_helpers import ROOT

from sitetools.prebuild import load_config

SKIP_LINK = re.compile(r'<a id="__skip" tabindex="-1"></a>')
BLANK_LINES = re.compile(r"\n[ \t]*(?=\n)")


def normalise_article(html: str) -> str:
    """A page's ``<article>`` element, with the three differences that are not content removed.

    * Zensical's theme puts a skip-link target, ``<a id="__skip" tabindex="-1"></a>``, at the
      top of the article (the "skip to content" link lands there); Material's does not.
    * The two template engines leave different runs of blank lines between tags (Jinja2 and
      MiniJinja trim whitespace differently): lines holding only whitespace are dropped.
    * autorefs links to an anchor on the same page as ``href="#x"`` under MkDocs and
      ``href="./#x"`` under Zensical: the same target; both are written ``#x``.

    Everything else (text, tags, attributes, ids, classes, link targets) must be equal.
    """
    start = html.find('<article class="md-content__inner')
    end = html.find("</article>", start)
    assert start != -1 and end != -1, "no <article> in the page"
    article = SKIP_LINK.sub("", html[start:end])
    article = BLANK_LINES.sub("", article)
    return article.replace('href="./#', 'href="#')


def test_normalise_article_removes_only_what_its_docstring_names():
    page = (
        '<body><article class="md-content__inner md-typeset">\n'
        '  <a id="__skip" tabindex="-1"></a>\n\n  \n<p><a href="./#x">x</a> <a href="./y/">y</a>'
        "</p></article></body>"
    )
    assert normalise_article(page) == (
        '<article class="md-content__inner md-typeset">\n'
        '<p><a href="#x">x</a> <a href="./y/">y</a></p>'
    )


def run_wrapper(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sitetools.zensical_build", *args],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1", **env},
        timeout=300,
    )


def pages(site: Path) -> set[str]:
    return {
        path.relative_to(site).as_posix()
        for path in site.rglob("*.html")
        if path.relative_to(site).parts[0] != "assets"
    }


@pytest.fixture(scope="module")
def zensical_site(built_site):
    """This checkout built by the wrapper, into a folder inside the project (Zensical needs
    that), for the address the MkDocs build was made for; removed afterwards."""
    sitemap = (built_site / "sitemap.xml").read_text(encoding="utf-8")
    url = re.search(r"<loc>([^<]+)</loc>", sitemap)[1]
    config = load_config(ROOT / "mkdocs.yml")
    base = url if url.endswith("/") and url.count("/") == 3 else config["site_url"]
    name = f"site-zensical-test-{os.getpid()}"
    site = ROOT / name
    try:
        result = run_wrapper(ROOT, "--strict", "--site-dir", name, SNIPPETS_SITE_URL=base)
        assert result.returncode == 0, result.stdout + result.stderr
        assert not list(ROOT.glob(".zensical-*.yml")), "the temporary config was left behind"
        yield site
    finally:
        shutil.rmtree(site, ignore_errors=True)


def test_both_builders_publish_the_same_pages(built_site, zensical_site):
    mkdocs_pages = pages(built_site)
    assert len(mkdocs_pages) > 30  # lessons, notebooks, the API reference
    assert pages(zensical_site) == mkdocs_pages


def test_every_article_is_the_same_in_both_builds(built_site, zensical_site):
    different = [
        page
        for page in sorted(pages(built_site))
        if normalise_article((built_site / page).read_text(encoding="utf-8"))
        != normalise_article((zensical_site / page).read_text(encoding="utf-8"))
    ]
    assert not different, f"articles that differ between MkDocs and Zensical: {different}"


def test_zensical_pages_keep_the_edit_and_download_links(zensical_site):
    """The templates (docs/overrides) render under MiniJinja as under Jinja2."""
    api = (zensical_site / "reference" / "digits" / "training" / "index.html").read_text()
    edit = re.findall(r'href="([^"]+)"[^>]*title="Edit this page"', api)
    assert edit == [
        "https://github.com/example/next-gen-diffusion/edit/main/snippets/digits/training.py"
    ]
    notebook = zensical_site / "notebooks" / "7-4-1-sdxl"
    html = (notebook / "index.html").read_text()
    assert re.search(r'<a href="7-4-1-sdxl\.ipynb" download="7-4-1-sdxl\.ipynb"', html)
    assert (notebook / "7-4-1-sdxl.ipynb").is_file()


# ------------------------------------------------------------------ the wrapper fails on ...


def tiny_project(tmp_path: Path, other_page: str) -> Path:
    """index.md and other.md with this project's Markdown extensions, theme and hooks' checks."""
    real = load_config(ROOT / "mkdocs.yml")
    project = tmp_path / "project"
    docs = project / "docs"
    docs.mkdir(parents=True)
    shutil.copytree(ROOT / "docs" / "overrides", project / "overrides")
    (docs / "index.md").write_text("# Home\n\nSee [the other page](other.md).\n")
    (docs / "other.md").write_text(other_page)
    (docs / "pic.png").write_bytes((ROOT / "docs" / "assets" / "katex" / "LICENSE").read_bytes())
    config = {
        "site_name": "tiny",
        "site_url": "https://example.org/tiny/",
        "validation": real["validation"],
        "exclude_docs": "generated/\n",
        "theme": {"name": "material", "variant": "classic", "custom_dir": "overrides"},
        "nav": ["index.md", "other.md"],
        "markdown_extensions": real["markdown_extensions"],
    }
    (project / "mkdocs.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    return project


def test_tiny_project_builds_cleanly(tmp_path):
    """The control: the same project without a slip passes the strict wrapper."""
    project = tiny_project(tmp_path, "# Other\n\n## Section {#sec}\n\n![a picture](pic.png)\n")
    result = run_wrapper(project, "--strict", SNIPPETS_EXECUTE="0")
    assert result.returncode == 0, result.stderr
    assert "problems in strict mode" not in result.stderr
    assert (project / "site" / "other" / "index.html").is_file()


@pytest.mark.parametrize(
    ("slip", "complaint"),
    [
        (
            '--8<-- "generated/dit-scaling/dit-family.md"',
            "Doc file 'other.md', line 5: artifact 'dit-scaling' is not built",
        ),
        ("[gone](missing.md)", "docs/other.md, line 5: link '../missing/' points to nothing"),
        ("[no such section](index.md#nope)", "docs/other.md, line 5: link '../#nope': no anchor"),
        ("[absolute](/other/)", "docs/other.md, line 5: absolute link '/other/'"),
        ("![](pic.png)", "docs/other.md, line 5: image 'pic.png' has no alt text"),
        ('<span id="sec">again</span>', "docs/other.md, line 3: the id 'sec' is used 2 times"),
    ],
    ids=["missing-artifact", "broken-link", "broken-anchor", "absolute-link", "alt", "id"],
)
def test_strict_wrapper_fails_naming_file_and_line(tmp_path, slip, complaint):
    project = tiny_project(tmp_path, f"# Other\n\n## Section {{#sec}}\n\n{slip}\n")
    result = run_wrapper(project, "--strict", SNIPPETS_EXECUTE="0")
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR: ")]
    assert any(complaint in line for line in errors), result.stderr
    # Without --strict the same problem is a warning and the build succeeds.
    relaxed = run_wrapper(project, SNIPPETS_EXECUTE="0")
    assert relaxed.returncode == 0 and complaint in relaxed.stderr, relaxed.stderr


def test_a_site_dir_build_writes_there_and_leaves_no_config_behind(tmp_path):
    project = tiny_project(tmp_path, "# Other\n")
    result = run_wrapper(project, "--strict", "--site-dir", "out", SNIPPETS_EXECUTE="0")
    assert result.returncode == 0, result.stderr
    assert (project / "out" / "other" / "index.html").is_file()
    assert not (project / "site").exists()
    assert sorted(p.name for p in project.iterdir() if p.suffix == ".yml") == ["mkdocs.yml"]
