"""The warm-build shortcut (sitetools/pipeline/stamp.py): sound when it answers, silent otherwise."""

from __future__ import annotations

import json

import pytest

from sitetools.pipeline import stamp


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A stand-in repository: the tracked packages, the writer module, a notebook, a store."""
    for name in (
        "snippets/dit.py",
        "artifacts/digits/models.py",
        "sitetools/pipeline/context.py",
        "sitetools/pipeline/keys.py",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(f"# {name}\nx = 1\n")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "a.ipynb").write_text("{}")
    (tmp_path / "generated" / "digits-dit").mkdir(parents=True)
    (tmp_path / "generated" / "digits-dit" / "ema.pt").write_bytes(b"weights")
    monkeypatch.setattr(stamp, "REPO", tmp_path)
    monkeypatch.delenv(stamp.DEVICE_ENV, raising=False)
    monkeypatch.delenv(stamp.MODULES_ENV, raising=False)
    return tmp_path


def write_manifest(repo, stamp_value):
    manifest = {
        "version": 2,
        "stamp": stamp_value,
        "artifacts": {"digits-dit": {"path": "digits-dit", "files": ["ema.pt"]}},
    }
    (repo / "generated" / "manifest.json").write_text(json.dumps(manifest))


def fresh(repo):
    return stamp.fresh_count(repo / "generated", repo / "notebooks", "cpu")


def test_a_matching_stamp_with_every_output_present_says_fresh(repo):
    write_manifest(repo, stamp.source_stamp(repo / "notebooks", "cpu"))
    assert fresh(repo) == 1


@pytest.mark.parametrize(
    "change",
    [
        "snippets/dit.py",
        "artifacts/digits/models.py",
        "sitetools/pipeline/context.py",
        "notebooks/a.ipynb",
    ],
)
def test_any_byte_of_a_source_file_voids_the_stamp(repo, change):
    write_manifest(repo, stamp.source_stamp(repo / "notebooks", "cpu"))
    with open(repo / change, "a") as file:
        file.write("# a comment is enough: the exact plan decides\n")
    assert fresh(repo) is None


def test_a_new_module_voids_the_stamp(repo):
    write_manifest(repo, stamp.source_stamp(repo / "notebooks", "cpu"))
    (repo / "artifacts" / "new_lesson.py").write_text("y = 2\n")
    assert fresh(repo) is None


def test_a_missing_output_file_voids_the_stamp(repo):
    write_manifest(repo, stamp.source_stamp(repo / "notebooks", "cpu"))
    (repo / "generated" / "digits-dit" / "ema.pt").unlink()
    assert fresh(repo) is None


def test_another_profile_voids_the_stamp(repo):
    write_manifest(repo, stamp.source_stamp(repo / "notebooks", "gpu"))
    assert fresh(repo) is None


def test_no_answer_without_a_stamp_or_when_only_torch_knows_the_device(repo):
    write_manifest(repo, None)
    assert fresh(repo) is None
    write_manifest(repo, stamp.source_stamp(repo / "notebooks", "cpu"))
    assert stamp.fresh_count(repo / "generated", repo / "notebooks", "cuda") is None


def test_only_complete_runs_use_or_write_the_stamp(monkeypatch):
    monkeypatch.delenv(stamp.MODULES_ENV, raising=False)
    assert stamp.applies(None, False, None)
    assert not stamp.applies(["dit-scaling"], False, None)
    assert not stamp.applies(None, True, None)
    assert not stamp.applies(None, False, ["artifacts.digits.models"])
    monkeypatch.setenv(stamp.MODULES_ENV, "artifacts.digits.models")
    assert not stamp.applies(None, False, None)
    monkeypatch.setenv(stamp.MODULES_ENV, "")  # no producer modules at all: not the full registry
    assert not stamp.applies(None, False, None)


def test_auto_is_the_cpu_only_without_any_gpu_device(monkeypatch, tmp_path):
    monkeypatch.delenv(stamp.DEVICE_ENV, raising=False)
    monkeypatch.setattr(stamp, "GPU_DEVICES", (tmp_path / "dxg",))
    assert stamp.profile_without_torch(None) == "cpu"
    (tmp_path / "dxg").touch()
    assert stamp.profile_without_torch(None) is None
    assert stamp.profile_without_torch("cpu") == "cpu"
