"""Bad input fails naming the page and the line, and says what to do; good input still builds.

Each case builds a small project with the real site's theme, Markdown extensions, validation
and hooks (``mkdocs build``, ``SNIPPETS_EXECUTE=0`` so that no pipeline runs) and asserts the
exact message. Macro cases that need no MkDocs are in tests/test_macros.py, the pipeline's in
tests/test_build.py and tests/test_notebooks.py, KaTeX's in tests/test_browser.py.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mkdocs.utils.yaml import yaml_load
from site_helpers import ROOT

KATEX = {  # the site's KaTeX, where the pages load it: the build renders each formula with it
    "assets/katex/katex.min.js": (ROOT / "docs/assets/katex/katex.min.js").read_bytes()
}
PNG_BYTES = (ROOT / "docs" / "assets" / "katex" / "fonts" / "KaTeX_Main-Regular.woff2").read_bytes()


def write_project(tmp_path: Path, pages: dict[str, str | bytes]) -> Path:
    """The real theme, extensions, validation and hooks, and ``pages`` as the docs folder."""
    with open(ROOT / "mkdocs.yml", encoding="utf-8") as file:
        real = yaml_load(file)
    config = {
        "site_name": "bad input",
        "strict": True,
        "theme": {"name": "material", "font": False},
        "validation": real["validation"],
        "markdown_extensions": real["markdown_extensions"],
        "hooks": [str(ROOT / "sitetools" / "mkdocs_hooks.py")],
    }
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    for name, content in {"index.md": "# Home\n", **pages}.items():
        path = tmp_path / "docs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return tmp_path


def build(project: Path, *, strict: bool = True) -> tuple[int, str]:
    command = [sys.executable, "-m", "mkdocs", "build", "-f", str(project / "mkdocs.yml")]
    env = {**os.environ, "SNIPPETS_EXECUTE": "0", "NO_MKDOCS_2_WARNING": "1"}
    if not strict:
        (project / "mkdocs.yml").write_text(
            (project / "mkdocs.yml").read_text().replace("strict: true", "strict: false")
        )
    result = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=180
    )
    return result.returncode, result.stdout + result.stderr


def warnings(log: str) -> list[str]:
    return [line.split("-  ", 1)[-1] for line in log.splitlines() if line.startswith("WARNING")]


# name: (pages, the exact warning or error, in the log)
BUILD_FAILURES = {
    "empty alt text": (
        {"page.md": "# P\n\nText.\n\n![](figure.png)\n", "figure.png": PNG_BYTES},
        "Doc file 'page.md', line 5: image 'figure.png' has no alt text; write what it shows: "
        "![what it shows](figure.png)",
    ),
    "image file missing": (
        {"page.md": "# P\n\n![A plot of the loss](loss.png)\n"},
        "Doc file 'page.md', line 3, contains a link 'loss.png', but the target is not found among "
        "documentation files.",
    ),
    "duplicate heading id": (
        {"page.md": "# P\n\n## Cost {#cost}\n\nA.\n\n## Cost again {#cost}\n\nB.\n"},
        "Doc file 'page.md', line 3: the id 'cost' is used 2 times on this page; links to it "
        "reach only the first",
    ),
    "broken page link": (
        {"page.md": "# P\n\nSee [the lesson](lesson.md).\n"},
        "Doc file 'page.md', line 3, contains a link 'lesson.md', but the target is not found among "
        "documentation files.",
    ),
    "broken anchor": (
        {"page.md": "# P\n\n## Known\n\nSee [below](#unknown).\n"},
        "Doc file 'page.md', line 5, contains a link '#unknown', but there is no such anchor on this page.",
    ),
    "link into a generated folder that does not exist": (
        {"page.md": "# P\n\nThe [raw numbers](generated/dit-scaling/numbers.json).\n"},
        "Doc file 'page.md', line 3, contains a link 'generated/dit-scaling/numbers.json', but the "
        "target is not found among documentation files.",
    ),
    "missing generated fragment": (
        {"page.md": '# P\n\nIntro.\n\n--8<-- "generated/dit-scaling/dit-family.md"\n'},
        "Doc file 'page.md', line 5: artifact 'dit-scaling' is not built for "
        "'generated/dit-scaling/dit-family.md'; build it with: "
        "python -m sitetools.pipeline --only dit-scaling",
    ),
    "leftover include syntax": (
        {"page.md": "# P\n\n- a list item that names a file:\n  --8<-- 'typo.md\n"},
        "Doc file 'page.md', line 4: macro or include syntax left in the page as text "
        "(nothing read it): '--8<-- 'typo.md'",
    ),
    "unclosed fence before the last fence": (
        {"page.md": "# P\n\n```python\nx = 1\n\nProse.\n\n```python\ny = 2\n```\n"},
        "Error reading page 'page.md':\nERROR   -  page.md, line 3: this code fence is never closed before "
        "the fence that opens on line 8; add a line '```' after its code: \"```python\"",
    ),
    "unclosed fence at the end": (
        {"page.md": "# P\n\nText.\n\n```python\nx = 1\n"},
        "Error reading page 'page.md':\nERROR   -  page.md, line 5: this code fence is never closed: the "
        'rest of the page is code: "```python"',
    ),
    # A mistyped comment closer hides everything up to the next comment's closer.
    "comment closer mistyped": (
        {
            "page.md": "# P\n\n<!-- TODO: check the numbers ->\n\n## Kept\n\nText.\n\n"
            "<!-- a later comment -->\n\nMore.\n"
        },
        "page.md, line 3: this HTML comment is still open where another opens, on line 9: "
        "everything between them is hidden from the page; end it with '-->'",
    ),
    "comment never closed": (
        {"page.md": "# P\n\nText.\n\n<!-- TODO -- >\n\nThe rest of the lesson.\n"},
        "page.md, line 5: this HTML comment is never closed: the rest of the page is hidden; "
        "end it with '-->'",
    ),
    "section end marker deleted": (
        {
            "page.md": '# P\n\n```python\n--8<-- "code/m.py:setup"\n```\n',
            "code/m.py": "import os\n# --8<-- [start:setup]\nx = 1\n\n\ndef later():\n    pass\n",
        },
        "page.md, line 4: section 'setup' of code/m.py starts on its line 2 and never ends, so "
        "the page would show the rest of the file: add '# --8<-- [end:setup]' after the "
        "section's last line",
    ),
    "include of a missing section": (
        {
            "page.md": '# P\n\n```python\n--8<-- "code/m.py:set-up"\n```\n',
            "code/m.py": "# --8<-- [start:setup]\nx = 1\n# --8<-- [end:setup]\n",
        },
        "page.md, line 4: code/m.py has no section 'set-up' (did you mean 'setup'?)",
    ),
    "include of a missing file": (
        {
            "page.md": '# P\n\n```python\n--8<-- "code/mm.py:setup"\n```\n',
            "code/m.py": "# --8<-- [start:setup]\nx = 1\n# --8<-- [end:setup]\n",
        },
        "page.md, line 4: no file 'code/mm.py' under docs/ or the project folder (did you "
        "mean 'code/m.py'?)",
    ),
    "missing section in an included fragment": (
        {
            "page.md": '---\ntitle: P\n---\n\n# P\n\n--8<-- "includes/part.md"\n',
            "includes/part.md": 'Intro.\n\n```python\n--8<-- "code/m.py:nope"\n```\n',
            "code/m.py": "# --8<-- [start:setup]\nx = 1\n# --8<-- [end:setup]\n",
        },
        "page.md, line 7: in includes/part.md, line 4: code/m.py has no section 'nope' "
        "(its sections: setup)",
    ),
    "included source not UTF-8": (
        {
            "page.md": '# P\n\n```python\n--8<-- "code/m.py"\n```\n',
            "code/m.py": b"x = 1\n# caf\xe9\n",
        },
        "page.md, line 4: m.py, line 2, column 6: not UTF-8 (byte 0xE9); save the file as UTF-8",
    ),
    "page not UTF-8": (
        {"page.md": b"# P\n\nCaf\xe9 au lait.\n"},
        "Doc file 'page.md', line 3, column 4: not UTF-8 (byte 0xE9); save the file as UTF-8",
    ),
    "block indented by two in a list": (
        {"page.md": "# P\n\n- item one\n\n  /// tip | T\n  body\n  ///\n\n- item two\n"},
        "page.md, line 5: this block is indented by 2 spaces: indent it by 4 to keep it inside "
        "the list item above (a list item's content is indented by 4 per level), or by 0 to "
        "end the list before it",
    ),
    "block touching its list item's text": (
        {"page.md": "# P\n\n- item one\n    /// tip | T\n    body\n    ///\n- item two\n"},
        "page.md, line 4: a block inside a list item needs a blank line before it; without one "
        "it is read as more text of line 3",
    ),
    "block closed with no blank line in a list": (
        {"page.md": "# P\n\n- item one\n\n    /// tip | T\n    body\n    ///\n- item two\n"},
        "page.md, line 7: a block inside a list item needs a blank line after its closing "
        "'///'; without one, line 8 is read as part of the list item the block is in",
    ),
    "raw img whose file does not exist": (
        {"page.md": '# P\n\nText.\n\n<img src="figure.png" alt="A plot of the loss">\n'},
        "Doc file 'page.md', line 5: the <img> source 'figure.png' is not found among "
        "documentation files; correct the path or add the file",
    ),
    "missing fragment below front matter": (
        {
            "page.md": "---\ntitle: P\nsearch:\n  boost: 2\n---\n\n# P\n\n"
            '--8<-- "generated/dit-scaling/dit-family.md"\n'
        },
        "Doc file 'page.md', line 9: artifact 'dit-scaling' is not built for "
        "'generated/dit-scaling/dit-family.md'; build it with: "
        "python -m sitetools.pipeline --only dit-scaling",
    ),
    "typo in a built artifact's file name": (
        {
            "page.md": '# P\n\n--8<-- "generated/dit-scaling/dit-famly.md"\n',
            "generated/dit-scaling/dit-family.md": "| a |\n|---|\n| 1 |\n",
        },
        "Doc file 'page.md', line 3: docs/generated/dit-scaling/ holds no 'dit-famly.md' (did "
        "you mean 'generated/dit-scaling/dit-family.md'?): correct the include "
        "'generated/dit-scaling/dit-famly.md'",
    ),
    "typo in an artifact name": (
        {"page.md": '# P\n\n--8<-- "generated/dit-scalng/dit-family.md"\n'},
        "Doc file 'page.md', line 3: no artifact is named 'dit-scalng' (did you mean "
        "'dit-scaling'?): correct the include 'generated/dit-scalng/dit-family.md'",
    ),
    "KaTeX command typo": (
        {"page.md": "# P\n\nThe share is $\\frca{a}{b}$ of the tokens.\n", **KATEX},
        "Doc file 'page.md', line 3: KaTeX cannot render the formula '\\frca{a}{b}': Undefined "
        "control sequence: \\frca",
    ),
    "KaTeX unbalanced brace": (
        {"page.md": "# P\n\nText.\n\n$$\n\\frac{QK^\\top}{\\sqrt{d}\n$$\n", **KATEX},
        "Doc file 'page.md', line 6: KaTeX cannot render the formula "
        "'\\frac{QK^\\top}{\\sqrt{d}': Unexpected end of input in a macro argument, "
        "expected '}'",
    ),
}


@pytest.mark.parametrize("case", sorted(BUILD_FAILURES))
def test_bad_input_fails_the_strict_build_with_page_and_line(tmp_path, case):
    pages, message = BUILD_FAILURES[case]
    code, log = build(write_project(tmp_path, pages))
    assert code != 0, log
    assert message in log, log
    assert "Traceback" not in log, log


def test_the_good_version_of_each_page_builds_without_a_warning(tmp_path):
    """The control: alt text, unique ids, closed fences, existing files build cleanly."""
    pages = {
        "page.md": "# P\n\n## Cost {#cost}\n\n![A plot](figure.png)\n\n```python\nx = 1\n```\n\n"
        "See [the top](#cost) and [home](index.md).\n",
        "figure.png": PNG_BYTES,
    }
    code, log = build(write_project(tmp_path, pages))
    assert code == 0, log
    assert not warnings(log), log


def test_a_missing_fragment_is_a_placeholder_and_one_warning_per_artifact(tmp_path):
    """Without --strict (the instant preview) the page renders, with a box naming the command."""
    page = (
        "# P\n\n"
        '--8<-- "generated/dit-scaling/dit-family.md"\n\n'
        '--8<-- "generated/dit-scaling/scaling.md"\n\n'
        '--8<-- "generated/sd3-tables/encoders.md"\n'
    )
    project = write_project(tmp_path, {"page.md": page, "other.md": page})
    code, log = build(project, strict=False)
    assert code == 0, log
    found = warnings(log)
    assert found == [
        "Doc file 'other.md', line 3: artifact 'dit-scaling' is not built for "
        "'generated/dit-scaling/dit-family.md'; build it with: "
        "python -m sitetools.pipeline --only dit-scaling",
        "Doc file 'other.md', line 7: artifact 'sd3-tables' is not built for "
        "'generated/sd3-tables/encoders.md'; build it with: "
        "python -m sitetools.pipeline --only sd3-tables",
    ], log
    html = (project / "site" / "page" / "index.html").read_text(encoding="utf-8")
    assert html.count('class="admonition warning generated-missing"') == 3
    assert "<code>python -m sitetools.pipeline --only sd3-tables</code>" in html


# ------------------------------------------------------------------- doctests (Sybil)


def _fence_parser():
    """The FenceParser of the repository's conftest.py (loaded by path: tests/ has its own)."""
    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_page_examples(tmp_path: Path, text: str) -> str:
    """Run every example of a Markdown page as the test suite does; the first failure's text."""
    from sybil import Sybil
    from sybil.parsers.markdown import SkipParser

    conftest = _fence_parser()
    page = tmp_path / "page.md"
    page.write_text(text, encoding="utf-8")
    sybil = Sybil(parsers=[conftest.FenceParser(), SkipParser()])
    try:
        document = sybil.parse(page)
        for example in document:
            example.evaluate()
    except Exception as error:  # noqa: BLE001 - the message is what is asserted
        return f"{type(error).__name__}: {error}"
    return ""


def test_doctest_with_wrong_output_names_line_and_both_outputs(tmp_path):
    failure = run_page_examples(tmp_path, "# P\n\n```python\n>>> 6 * 7\n41\n```\n")
    assert failure.startswith("SybilFailure: Example at "), failure
    assert "page.md, line 4, column 1 did not evaluate as expected:" in failure
    assert "Expected:\n    41\nGot:\n    42" in failure


def test_exception_in_a_plain_fence_names_line(tmp_path):
    failure = run_page_examples(tmp_path, "# P\n\nText.\n\n```python\nx = 1 / 0\n```\n")
    assert failure == "ZeroDivisionError: division by zero", failure


def test_fence_that_never_ends_fails_collection_naming_the_line(tmp_path):
    failure = run_page_examples(tmp_path, "# P\n\n```python\n>>> 1 + 1\n2\n")
    assert failure == (
        f"ValueError: {tmp_path / 'page.md'}, line 3: this code fence is never closed: the rest "
        'of the page is code: "```python"'
    ), failure


# ------------------------------------------------------------------- the pipeline's modules


def pipeline_list(modules: str) -> tuple[int, str]:
    """``python -m sitetools.pipeline --list`` with ``$SNIPPETS_PRODUCER_MODULES`` set."""
    env = {**os.environ, "SNIPPETS_PRODUCER_MODULES": modules}
    command = [sys.executable, "-m", "sitetools.pipeline", "--list"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    return result.returncode, result.stdout + result.stderr


def test_a_producer_module_that_does_not_exist_stops_the_run_with_the_nearest_name():
    code, log = pipeline_list("artifacts.sdxl.microcond,artifacts.sdxl.microcnd")
    assert code != 0, log
    assert (
        "sitetools.pipeline: ERROR: producer module 'artifacts.sdxl.microcnd' does not exist "
        "(named by --modules or $SNIPPETS_PRODUCER_MODULES); did you mean "
        "'artifacts.sdxl.microcond'?"
    ) in log, log
    assert "Traceback" not in log, log


def test_a_module_run_alone_names_the_module_that_makes_what_it_needs():
    code, log = pipeline_list("artifacts.digits.attention")
    assert code != 0, log
    assert (
        "sitetools.pipeline: ERROR: artifact 'digits-attention' needs 'digits-mmdit', which is "
        "made in artifacts.digits.models, a producer module this run does not import: add "
        "artifacts.digits.models to --modules (or $SNIPPETS_PRODUCER_MODULES)"
    ) in log, log
    assert "Traceback" not in log, log
