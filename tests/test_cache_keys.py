"""Cache keys on the real registry: what a contributor's edit reruns, and what it does not.

Each test plans every artifact of the site twice (nothing is executed): as the repository is,
and with one source file replaced by an edited copy. It compares the keys.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sitetools import pipeline
from sitetools.pipeline import keys

ROOT = Path(__file__).resolve().parents[1]


def all_keys(monkeypatch, replaced: dict[str, Path] | None = None) -> dict[str, str]:
    """Every artifact's key, with the modules in ``replaced`` read from other files."""
    real_path = keys.SourceIndex.path
    replaced = replaced or {}

    def path(self, module):
        return replaced.get(module) or real_path(self, module)

    monkeypatch.setattr(keys.SourceIndex, "path", path)
    artifacts = pipeline.discover(notebooks=ROOT / "notebooks")
    items = pipeline.plan(ROOT / "docs" / "generated", artifacts, "cpu")
    monkeypatch.setattr(keys.SourceIndex, "path", real_path)
    return {item.artifact.name: item.key for item in items}


@pytest.fixture(scope="module")
def trained_names() -> set[str]:
    artifacts = pipeline.discover(notebooks=None)
    return {name for name, a in artifacts.items() if a.module == "artifacts.digits.models"}


def test_a_docstring_edit_of_dit_py_leaves_every_artifact_fresh(
    monkeypatch, tmp_path, trained_names
):
    source = (ROOT / "snippets" / "dit.py").read_text()
    edited = tmp_path / "dit.py"
    # a reworded module docstring and a new comment: the same program
    edited.write_text(source.replace('"""', '"""Reworded. ', 1) + "\n# a comment\n")
    before = all_keys(monkeypatch)
    after = all_keys(monkeypatch, {"snippets.dit": edited})
    assert after == before
    assert "digits-dit" in trained_names  # the training that such an edit must not rerun

    # a change of code, by contrast, retrains the DiT (and whatever reads it)
    edited.write_text(source.replace("eps=1e-6", "eps=1e-5", 1))
    changed = {
        name
        for name, key in all_keys(monkeypatch, {"snippets.dit": edited}).items()
        if key != before[name]
    }
    assert "digits-dit" in changed and "digits-sweep-dit" in changed


def test_editing_one_studys_caption_reruns_only_that_study_and_its_readers(monkeypatch, tmp_path):
    path = ROOT / "artifacts" / "digits" / "attention.py"
    source = path.read_text()
    edited = tmp_path / "attention.py"
    new = source.replace(
        "f'Attention of the trained", "f'Newly worded: attention of the trained", 1
    )
    assert new != source
    edited.write_text(new)
    before = all_keys(monkeypatch)
    after = all_keys(monkeypatch, {"artifacts.digits.attention": edited})
    changed = sorted(name for name in before if after[name] != before[name])
    # the explorer reads the study's chosen seed, so it reruns too; no training, no other study
    artifacts = pipeline.discover(notebooks=None)
    readers = sorted(name for name, a in artifacts.items() if "digits-attention" in a.needs)
    assert readers == ["digits-attention-explorer"]
    assert changed == ["digits-attention", *readers]
