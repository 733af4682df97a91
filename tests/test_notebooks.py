"""Notebooks: stored clean, executed under pytest, cached by the pipeline, rendered executed.

* every ``notebooks/*.ipynb`` has no outputs and no execution counts in the repository;
* every one of them runs top to bottom in a fresh kernel (a failure names notebook and cell);
* the pipeline executes notebooks into ``docs/generated/notebooks/``, keyed on the notebook and
  the ``snippets`` modules it imports;
* the pre-build step (sitetools/prebuild.py) turns the executed copy into a Markdown page at
  the notebook's own URL, with its outputs, a download link and nothing loaded from another
  origin (throwaway MkDocs projects using this repo's hook and overrides).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import nbformat
import pytest
import yaml

from sitetools import pipeline as build
from sitetools.pipeline import keys

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def write_notebook(path: Path, *cells: str) -> Path:
    """A notebook whose cells are Markdown when they start with '#', else code."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(c) if c.startswith("#") else nbformat.v4.new_code_cell(c)
        for c in cells
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def outputs_of(nb) -> str:
    return "".join(
        output.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )


# --------------------------------------------------------------------------- the site's notebooks


def test_stored_notebooks_have_no_outputs_or_execution_counts():
    problems = []
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for number, cell in enumerate(nb.cells, start=1):
            if cell.cell_type != "code":
                continue
            if cell.get("outputs"):
                problems.append(f"{path.name}, cell {number}: has outputs")
            if cell.get("execution_count") is not None:
                problems.append(f"{path.name}, cell {number}: has an execution count")
    assert not problems, "clear outputs before committing:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_ran_top_to_bottom_in_the_pipeline(path, built_site):
    # The site build (the built_site fixture) ran every notebook through the pipeline; its
    # executed copy is what the site shows. Running the notebooks again here would only repeat it.
    root = ROOT / "docs" / "generated"
    executed, reason = build.executed_notebook(path, root)
    assert executed is not None, f"{path.name}: {reason}"
    nb = nbformat.read(executed, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code), (
        f"{path.name}: a cell did not run"
    )
    errors = [
        o for cell in code for o in cell.get("outputs", []) if o.get("output_type") == "error"
    ]
    assert not errors
    assert any(cell.get("outputs") for cell in code), f"{path.name} produced no output at all"
    # What the site shows is the lesson's output, not library chatter (progress bars, warnings)
    chatter = [
        f"cell {number}: {''.join(o.get('text', ''))[:120]!r}"
        for number, cell in enumerate(nb.cells, start=1)
        for o in cell.get("outputs", [])
        if o.get("output_type") == "stream" and o.get("name") == "stderr"
    ]
    assert not chatter, f"{path.name} shows stderr output:\n" + "\n".join(chatter)


def test_notebooks_page_lists_exactly_the_notebooks():
    page = (DOCS / "includes" / "notebooks-overview.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(([^)#\s/]+)\.md\)", page))
    assert linked == {p.stem for p in NOTEBOOKS}


def _mkdocs_config() -> dict:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    return yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=Loader)


# --------------------------------------------------------------------------- execution


def test_failing_cell_is_named(tmp_path):
    path = write_notebook(tmp_path / "broken.ipynb", "# Title", "x = 1", "1 / 0")
    with pytest.raises(build.BuildError, match=r"broken\.ipynb, cell 3 failed") as error:
        build.execute_notebook(path, timeout=60)
    assert "ZeroDivisionError" in str(error.value)


def test_kernel_is_this_interpreter_whatever_kernelspecs_are_installed(tmp_path, monkeypatch):
    # A python3 kernelspec that would fail if it were used.
    bogus = tmp_path / "jupyter" / "kernels" / "python3"
    bogus.mkdir(parents=True)
    (bogus / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [
                    "/nonexistent/python",
                    "-m",
                    "ipykernel_launcher",
                    "-f",
                    "{connection_file}",
                ],
                "display_name": "bogus",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter"))
    path = write_notebook(
        tmp_path / "where.ipynb",
        "import os, sys\nprint(sys.executable)\nprint(os.getcwd())\nprint(os.environ['X_TEST'])",
    )
    nb = build.execute_notebook(path, timeout=60, env={"X_TEST": "passed"})
    assert outputs_of(nb).splitlines() == [sys.executable, str(tmp_path), "passed"]


def test_notebook_imports_are_found_in_code_cells(tmp_path):
    path = write_notebook(
        tmp_path / "imports.ipynb",
        "# import snippets.not_code",
        "%matplotlib inline\n!echo hi\nimport numpy as np\nfrom snippets import flow",
        "%%bash\nimport snippets.hidden",
        "def f(:\n    pass\nimport snippets.dit as d",  # does not parse: line fallback
        "import sitetools.pipeline",  # site machinery: never an input of a notebook's outputs
    )
    found = keys.notebook_imports(path, build.SourceIndex())
    assert found == {"snippets", "snippets.flow", "snippets.dit"}


def test_notebook_key_follows_code_cells_imported_modules_and_profile(tmp_path, monkeypatch):
    package = f"nbt_{uuid.uuid4().hex[:8]}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "used.py").write_text("A = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = write_notebook(tmp_path / "nb" / "demo.ipynb", f"from {package} import used")
    notebook = build.Notebook(path)

    def key(profile="cpu"):
        return build.cache_key(notebook, profile, {}, build.SourceIndex(["snippets", package]))[0]

    first = key()
    assert key() == first
    assert key("gpu") != first
    (tmp_path / package / "used.py").write_text("A = 2\n")
    second = key()
    assert second != first
    write_notebook(path, f"from {package} import used", "# A new Markdown cell")
    assert key() == second  # Markdown is not an input of the outputs
    write_notebook(path, f"from {package} import used", "print(used.A)")
    assert key() != second


def test_pipeline_executes_caches_and_reexecutes_notebooks(tmp_path, caplog):
    caplog.set_level("INFO", logger="sitetools.pipeline")
    notebooks = tmp_path / "notebooks"
    root = tmp_path / "generated"
    source = write_notebook(notebooks / "demo.ipynb", "# Demo", "print('MARKER', 6 * 7)")

    def run():
        return build.build(root=root, notebooks=notebooks, modules=[], device="cpu")

    assert build.executed_notebook(source, root) == (None, "it has not been executed yet")
    assert run().executed == ["notebook-demo"]
    executed = root / "notebooks" / "demo.ipynb"
    assert outputs_of(nbformat.read(executed, as_version=4)) == "MARKER 42\n"
    assert outputs_of(nbformat.read(source, as_version=4)) == ""  # the source stays clean
    assert build.executed_notebook(source, root) == (executed, "")
    entry = json.loads((root / "manifest.json").read_text())["artifacts"]["notebook-demo"]
    assert entry["kind"] == "notebook" and entry["files"] == ["demo.ipynb"]
    assert entry["path"] == "notebooks/demo.ipynb" and entry["profile"] == "cpu"

    caplog.clear()
    assert run().executed == []
    assert "1 artifact up to date, nothing to execute" in caplog.messages

    # A Markdown edit re-renders the executed copy without executing a cell.
    write_notebook(source, "# Demo, reworded", "print('MARKER', 6 * 7)")
    assert build.executed_notebook(source, root) == (
        None,
        "its Markdown changed since the executed copy was written",
    )
    result = run()
    assert result.executed == [] and result.rerendered == ["notebook-demo"]
    copy = nbformat.read(executed, as_version=4)
    assert copy.cells[0].source == "# Demo, reworded" and outputs_of(copy) == "MARKER 42\n"
    assert build.executed_notebook(source, root) == (executed, "")

    write_notebook(source, "# Demo", "print('MARKER', 6 * 8)")
    assert build.executed_notebook(source, root) == (None, "its executed copy is out of date")
    assert run().executed == ["notebook-demo"]
    assert outputs_of(nbformat.read(executed, as_version=4)) == "MARKER 48\n"

    # A failing cell stops the run naming the notebook and the cell; the last good copy stays.
    good = executed.read_bytes()
    write_notebook(source, "# Demo", "print('MARKER', 6 * 8)", "1 / 0")
    with pytest.raises(build.BuildError, match=r"demo\.ipynb, cell 3 failed") as failure:
        run()
    assert "ZeroDivisionError" in str(failure.value)
    assert executed.read_bytes() == good
    write_notebook(source, "# Demo", "print('MARKER', 6 * 8)")

    source.unlink()  # a deleted notebook's executed copy goes too
    assert run().executed == []
    assert not executed.exists()
    assert json.loads((root / "manifest.json").read_text())["artifacts"] == {}


# --------------------------------------------------------------------------- rendering


def mkdocs_project(tmp_path: Path) -> Path:
    """A small MkDocs project with this repo's hook, theme overrides and Markdown settings."""
    real = _mkdocs_config()
    project = tmp_path / "project"
    docs = project / "docs"
    (docs / "includes").mkdir(parents=True)
    (docs / "index.md").write_text("# Home\n\n[Notebook](notebooks/demo.md)\n")
    (docs / "includes" / "notebooks-overview.md").write_text("The [demo](demo.md).\n")
    write_notebook(
        project / "notebooks" / "demo.ipynb", "# Demo\n\nMath: $x^2$", "print('MARKER', 6 * 7)"
    )
    extensions = [
        name for name in real["markdown_extensions"] if not str(name).startswith("sitetools")
    ]
    config = {
        "site_name": "test",
        "site_url": "https://example.org/sub/",
        "repo_url": "https://github.com/o/r",
        "edit_uri": "edit/main/docs/",
        "strict": True,
        "validation": real["validation"],
        "exclude_docs": real["exclude_docs"],
        "theme": {
            "name": "material",
            "font": False,
            "custom_dir": str(ROOT / real["theme"]["custom_dir"]),
            "features": ["content.action.edit"],
        },
        "nav": ["index.md", "notebooks/index.md", "notebooks/demo.md"],
        "markdown_extensions": extensions,
        "hooks": [str(ROOT / h) for h in real["hooks"]],
    }
    (project / "mkdocs.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    return project


def mkdocs_build(project: Path, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict"],
        cwd=project,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "NO_MKDOCS_2_WARNING": "1",
            build.MODULES_ENV: "",
            build.DEVICE_ENV: "cpu",
            **env,
        },
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def local_references(site: Path, page_dir: Path, html: str) -> list[str]:
    """Every script, stylesheet and image the page loads; asserts each is a file of the site."""
    found = re.findall(r'<script[^>]* src="([^"]+)"', html)
    # Links that load something (not rel="canonical", which only names the page's address).
    found += re.findall(
        r'<link\b(?=[^>]*\brel="(?:stylesheet|icon|preload|modulepreload)")[^>]*\bhref="([^"]+)"',
        html,
    )
    found += re.findall(r'<img[^>]* src="([^"]+)"', html)
    assert found, "nothing loaded: the test is looking at the wrong page"
    for ref in found:
        assert "//" not in ref, f"{ref}: loaded from another origin"
        local = Path(os.path.normpath(page_dir / ref.split("?")[0].split("#")[0]))
        assert local.is_file() or (local / "index.html").is_file(), f"{ref}: not in the site"
    return found


def test_mkdocs_renders_the_executed_notebook(tmp_path):
    project = mkdocs_project(tmp_path)
    site = project / "site"
    cold = mkdocs_build(project)
    assert "sitetools.pipeline: built notebook-demo" in cold

    page_dir = site / "notebooks" / "demo"
    page = (page_dir / "index.html").read_text(encoding="utf-8")
    assert re.search(r'<div class="nb-cell nb-output"[^>]*>\s*<div class="highlight">', page)
    assert "MARKER 42" in page  # the output, only present in the executed copy
    assert re.search(r'<a href="demo\.ipynb" download="demo\.ipynb"', page)
    assert outputs_of(nbformat.read(page_dir / "demo.ipynb", as_version=4)) == "MARKER 42\n"
    local_references(site, page_dir, page)
    assert '<span class="arithmatex">\\(x^2\\)</span>' in page  # for katex-init.js
    assert 'href="https://github.com/o/r/edit/main/notebooks/demo.ipynb"' in page
    assert not (site / "generated" / "notebooks").exists()

    warm = mkdocs_build(project)
    assert "sitetools.pipeline: 1 artifact up to date, nothing to execute" in warm

    write_notebook(project / "notebooks" / "demo.ipynb", "# Demo", "print('NEW', 1)")
    off = mkdocs_build(project, SNIPPETS_EXECUTE="0")
    assert "sitetools.pipeline" not in off
    assert "its executed copy is out of date; showing it without outputs" in off
    page = (page_dir / "index.html").read_text(encoding="utf-8")
    assert "MARKER 42" not in page and "NEW" in page and "NEW 1" not in page


# A 1x1 PNG: the smallest image output a notebook can hold.
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5"
    "ErkJggg=="
)


def test_each_kind_of_output_is_shown(tmp_path):
    """Math, stdout, stderr, an image, an error and HTML, from a notebook built in the test."""
    project = mkdocs_project(tmp_path)
    nb = nbformat.v4.new_notebook()
    stream = nbformat.v4.new_output
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Kinds\n\nThe loss is $\\frac{1}{2}x^2$."),
        nbformat.v4.new_code_cell(
            "print('OUT')", execution_count=1, outputs=[stream("stream", text="OUT 7\n")]
        ),
        nbformat.v4.new_code_cell(
            "import warnings",
            execution_count=2,
            outputs=[stream("stream", name="stderr", text="careful\n")],
        ),
        nbformat.v4.new_code_cell(
            "plot()",
            execution_count=3,
            outputs=[stream("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})],
        ),
        nbformat.v4.new_code_cell(
            "1 / 0",
            execution_count=4,
            outputs=[
                stream(
                    "error",
                    ename="ZeroDivisionError",
                    evalue="division by zero",
                    traceback=["\x1b[0;31mZeroDivisionError\x1b[0m: division by zero"],
                )
            ],
        ),
        nbformat.v4.new_code_cell(
            "table",
            execution_count=5,
            outputs=[
                stream("execute_result", data={"text/html": "<table><tr><td>T9</td></tr></table>"})
            ],
        ),
    ]
    nbformat.write(nb, project / "notebooks" / "demo.ipynb")
    # Not executed: the page shows the stored outputs as they are.
    mkdocs_build(project, SNIPPETS_EXECUTE="0")
    page_dir = project / "site" / "notebooks" / "demo"
    page = (page_dir / "index.html").read_text(encoding="utf-8")

    assert '<span class="arithmatex">\\(\\frac{1}{2}x^2\\)</span>' in page
    inputs = re.findall(r'<div class="nb-cell nb-input" data-prompt="In \[(\d)\]:">', page)
    assert inputs == ["1", "2", "3", "4", "5"]
    assert re.search(
        r'class="nb-cell nb-output"[^>]*>\s*<div class="highlight">.*OUT 7', page, re.S
    )
    assert re.search(r'class="nb-cell nb-output nb-stderr".*careful', page, re.S)
    image = re.search(r'<img alt="([^"]+)" src="([^"]+)"', page)
    assert image and "code cell 3" in image[1]
    assert (page_dir / image[2]).resolve().read_bytes()[:4] == b"\x89PNG"
    error = re.search(r'class="nb-cell nb-output nb-error".*?</div>\s*</div>', page, re.S)[0]
    assert "ZeroDivisionError" in error and "division by zero" in error
    assert "\x1b" not in page and "[0;31m" not in page
    assert "<td>T9</td>" in page
    assert re.search(r'<a href="demo\.ipynb" download="demo\.ipynb"', page)
    assert (page_dir / "demo.ipynb").read_bytes() == (
        project / "notebooks" / "demo.ipynb"
    ).read_bytes()
    assert image[2] in local_references(project / "site", page_dir, page)


def test_prebuild_writes_only_what_changed_and_removes_what_it_no_longer_writes(tmp_path):
    from sitetools.prebuild import prebuild

    project = mkdocs_project(tmp_path)
    config = project / "mkdocs.yml"
    first = prebuild(config)
    assert {p.relative_to(project / "docs").as_posix() for p in first.changed} == {
        "notebooks/demo.md",
        "notebooks/demo/demo.ipynb",
        "notebooks/index.md",
    }
    assert first.notes == ["demo.ipynb: it has not been executed yet; showing it without outputs"]
    page = project / "docs" / "notebooks" / "demo.md"
    stamp = page.stat().st_mtime_ns
    assert prebuild(config).changed == []  # mkdocs serve would otherwise rebuild in a loop
    assert page.stat().st_mtime_ns == stamp
    (project / "notebooks" / "demo.ipynb").unlink()
    prebuild(config)
    assert not page.exists() and not (project / "docs" / "notebooks" / "demo").exists()
