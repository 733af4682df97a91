"""The first preview of a fresh clone: every page renders, placeholders stand in for figures.

A clone has no ``docs/generated/`` (the pipeline's output is not committed). With
``SNIPPETS_EXECUTE=0`` a plain ``mkdocs build`` (or ``mkdocs serve``) renders every page in
seconds, a placeholder naming the command where each generated fragment goes, one warning per
missing artifact; ``mkdocs build --strict`` fails on the same warnings. benchmarks/build_seconds.py
times it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from site_helpers import ROOT

INCLUDE = re.compile(r"""^\s*--8<--\s+["']generated/([\w-]+)/""", re.M)


def included_artifacts() -> set[str]:
    """Artifacts whose fragments the pages include, directly or through docs/includes/."""
    sources = [*ROOT.joinpath("docs").glob("*.md"), *ROOT.joinpath("docs/includes").glob("*.md")]
    return {name for path in sources for name in INCLUDE.findall(path.read_text("utf-8"))}


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """The files git knows (tracked, or new and not ignored), without docs/generated/."""
    target = tmp_path_factory.mktemp("clone")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    assert not (target / "docs" / "generated").exists()
    return target


def build(clone: Path, *flags: str) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", *flags, "-d", str(clone / "site")],
        cwd=clone,
        env={**os.environ, "SNIPPETS_EXECUTE": "0", "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result.returncode, result.stdout + result.stderr


def missing_warnings(log: str) -> dict[str, str]:
    found = {}
    for line in log.splitlines():
        match = re.search(r"artifact '([\w-]+)' is not built .*; build it with: (.+)$", line)
        if line.startswith("WARNING") and match:
            assert match.group(1) not in found, f"two warnings for {match.group(1)}"
            found[match.group(1)] = match.group(2)
    return found


def test_fresh_clone_preview_renders_every_page_with_placeholders(clone):
    code, log = build(clone)
    assert code == 0, log
    warned = missing_warnings(log)
    assert set(warned) == included_artifacts(), log
    assert all(
        command == f"python -m sitetools.pipeline --only {name}" for name, command in warned.items()
    )
    others = [
        line
        for line in log.splitlines()
        if line.startswith("WARNING") and "is not built" not in line
    ]
    assert not others, "\n".join(others)
    for page in ("sdxl", "diffusion-transformers", "sd3-and-flux", "z-image"):
        html = (clone / "site" / page / "index.html").read_text(encoding="utf-8")
        assert 'class="admonition warning generated-missing"' in html, page
        assert "--8<--" not in re.sub(r"<(pre|code)\b.*?</\1>", "", html, flags=re.S), page


def test_fresh_clone_strict_build_fails_naming_each_missing_artifact(clone):
    code, log = build(clone, "--strict")
    assert code != 0
    assert set(missing_warnings(log)) == included_artifacts(), log
    assert "Traceback" not in log
