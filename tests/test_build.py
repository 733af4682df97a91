"""The artifact pipeline (sitetools/pipeline/): cache keys, staleness, atomic output, manifest.

Producers under test live in a throwaway package written into ``tmp_path`` (a fresh name per
test), never in ``docs/generated``: every build here gets ``root=tmp_path / "generated"``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import datetime
from pathlib import Path

import markdown
import pytest

from sitetools import pipeline as build
from sitetools.pipeline import keys, registry

ROOT = Path(__file__).resolve().parents[1]

UPSTREAM = """\
from sitetools.pipeline import producer
from {pkg} import helper


@producer("alpha", params={params})
def alpha(ctx, n):
    ctx.save_json({{"n": n * helper.SCALE, "profile": ctx.profile}}, "alpha.json")
"""

DOWNSTREAM = """\
import json

import matplotlib.pyplot as plt
import torch

from sitetools.pipeline import producer


@producer("beta", needs=["alpha"], seed=7)
def beta(ctx):
    n = json.loads((ctx.input("alpha") / "alpha.json").read_text())["n"]
    noise = torch.randn(n, generator=ctx.generator(), device=ctx.device)
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot(noise.cpu().numpy())
    ctx.save_figure(fig, "noise.png", alt="A line plot of [n] noise values", caption="Noise")
    ctx.save_table("| n |\\n|---|\\n| " + str(n) + " |", "table.md")
    ctx.save_json({{"first": float(noise[0]), "torch_state": float(torch.rand(1))}}, "noise.json")
"""

SLOW = """\
import os
import time
from pathlib import Path

from sitetools.pipeline import producer


@producer("first")
def first(ctx):
    ctx.save_json({{"ok": True}}, "first.json")


@producer("second", needs=["first"])
def second(ctx):
    ctx.save_json({{"part": 1}}, "part1.json")
    Path(os.environ["BT_MARKER"]).write_text("started")
    if not os.environ.get("BT_FAST"):
        time.sleep(120)
    ctx.save_json({{"part": 2}}, "part2.json")
"""


class Package:
    """A throwaway importable package ``bt_<hex>`` in ``tmp_path`` with producer modules."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.name = f"bt_{uuid.uuid4().hex[:10]}"
        self.base = tmp_path / "src"
        self.dir = self.base / self.name
        self.dir.mkdir(parents=True)
        self.root = tmp_path / "generated"
        (self.dir / "__init__.py").write_text("")
        self.write("helper", "SCALE = 2\n")
        self.write("unrelated", "VALUE = 1\n")
        params = {"cpu": {"n": 3}, "gpu": {"n": 5}}
        self.write("upstream", UPSTREAM.format(pkg=self.name, params=params))
        self.write("downstream", DOWNSTREAM.format())
        self.write("slow", SLOW.format())
        monkeypatch.syspath_prepend(str(self.base))
        # Rewritten sources must be re-read, not served from a same-second .pyc.
        monkeypatch.setattr(sys, "dont_write_bytecode", True)
        # Registrations made by this test's modules disappear with it.
        monkeypatch.setattr(registry, "_REGISTERED", list(registry._REGISTERED))
        self.monkeypatch = monkeypatch

    def module(self, short: str) -> str:
        return f"{self.name}.{short}"

    @property
    def modules(self) -> list[str]:
        return [self.module("upstream"), self.module("downstream")]

    def write(self, short: str, source: str) -> None:
        (self.dir / f"{short}.py").write_text(source)
        importlib.invalidate_caches()

    def reload(self, short: str) -> None:
        importlib.reload(importlib.import_module(self.module(short)))

    def build(self, **kwargs) -> build.BuildResult:
        kwargs.setdefault("modules", self.modules)
        return build.build(root=self.root, notebooks=None, device="cpu", **kwargs)

    def plan(self, profile: str = "cpu", modules=None) -> dict[str, build.PlanItem]:
        artifacts = build.discover(modules or self.modules, notebooks=None)
        return {i.artifact.name: i for i in build.plan(self.root, artifacts, profile)}

    def cli(self, *args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
        full_env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(self.base), os.environ.get("PYTHONPATH", "")]),
            "PYTHONDONTWRITEBYTECODE": "1",
            **(env or {}),
        }
        command = [
            sys.executable,
            "-m",
            "sitetools.pipeline",
            "--root",
            str(self.root),
            "--notebooks",
            str(self.base / "no-notebooks"),
            "--device",
            "cpu",
            *args,
        ]
        return subprocess.Popen(
            command,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            **kwargs,
        )

    def run_cli(self, *args: str, env: dict | None = None) -> str:
        process = self.cli(*args, env=env)
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, output
        return output


@pytest.fixture
def pkg(tmp_path, monkeypatch) -> Package:
    return Package(tmp_path, monkeypatch)


def manifest(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text())["artifacts"]


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {
        p.relative_to(folder).as_posix(): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# --------------------------------------------------------------------------- runs


def test_second_run_executes_nothing_and_writes_nothing(pkg, caplog):
    caplog.set_level("INFO", logger="sitetools.pipeline")
    first = pkg.build()
    assert first.executed == ["alpha", "beta"]
    before = snapshot(pkg.root)
    caplog.clear()
    second = pkg.build()
    assert second.executed == []
    assert sorted(second.fresh) == ["alpha", "beta"]
    assert "2 artifacts up to date, nothing to execute" in caplog.messages
    assert snapshot(pkg.root) == before  # not even the manifest is rewritten


def test_cli_lists_builds_and_then_finds_everything_fresh(pkg):
    pkg.build(only=["alpha"])
    listing = pkg.run_cli("--modules", *pkg.modules, "--list")
    assert "fresh  alpha" in listing
    assert "stale  beta" in listing and "(never built)" in listing
    cold = pkg.run_cli("--modules", *pkg.modules)  # pkg.cli passes --device cpu
    assert "sitetools.pipeline: built beta" in cold
    assert "built alpha" not in cold
    assert manifest(pkg.root)["beta"]["profile"] == "cpu"
    # A new interpreter has a new hash seed: keys must not depend on set or dict order.
    warm = pkg.run_cli("--modules", *pkg.modules)
    assert warm.strip().splitlines()[-1] == (
        "sitetools.pipeline: 2 artifacts up to date, nothing to execute"
    )


def test_outputs_and_dependency_input(pkg):
    pkg.build()
    alpha = json.loads((pkg.root / "alpha" / "alpha.json").read_text())
    assert alpha == {"n": 3 * 2, "profile": "cpu"}
    assert sorted(p.name for p in (pkg.root / "beta").iterdir()) == [
        "noise.json",
        "noise.md",
        "noise.png",
        "table.md",
    ]
    assert (pkg.root / "beta" / "table.md").read_text() == "| n |\n|---|\n| 6 |\n"
    assert not (pkg.root / ".tmp").exists()


def test_seed_is_applied_before_each_producer(pkg):
    import torch

    pkg.build()
    values = json.loads((pkg.root / "beta" / "noise.json").read_text())
    # beta has seed=7: ctx.generator() and the global torch RNG both start from it.
    expected = torch.randn(6, generator=torch.Generator().manual_seed(7))[0]
    assert values["first"] == pytest.approx(float(expected))
    torch.manual_seed(7)
    assert values["torch_state"] == pytest.approx(float(torch.rand(1)))


def test_only_runs_needs_and_force_reruns(pkg):
    result = pkg.build(only=["beta"])
    assert result.executed == ["alpha", "beta"]
    result = pkg.build(only=["beta"], force=True)
    assert result.executed == ["beta"]  # forced; its fresh dependency is not re-run
    result = pkg.build(force=True)
    assert result.executed == ["alpha", "beta"]
    with pytest.raises(build.BuildError, match="unknown artifact"):
        pkg.build(only=["gamma"])


# --------------------------------------------------------------------------- cache keys


def test_unchanged_inputs_keep_the_key(pkg):
    pkg.build()
    plan = pkg.plan()
    assert not plan["alpha"].stale and not plan["beta"].stale
    # File times are not inputs: touching every source changes nothing.
    for path in pkg.dir.glob("*.py"):
        os.utime(path, (time.time() + 100, time.time() + 100))
    assert not any(item.stale for item in pkg.plan().values())
    # Neither is a module nobody imports.
    pkg.write("unrelated", "VALUE = 2\n")
    assert not any(item.stale for item in pkg.plan().values())


def test_changed_params_make_the_producer_and_its_dependents_stale(pkg):
    pkg.build()
    pkg.write("upstream", UPSTREAM.format(pkg=pkg.name, params={"cpu": {"n": 4}, "gpu": {"n": 5}}))
    pkg.reload("upstream")
    plan = pkg.plan()
    assert plan["alpha"].reason == "inputs changed"
    assert plan["alpha"].inputs["params"] == {"n": 4}
    # beta's module did not change: it is stale only through alpha's key (needs=["alpha"]).
    assert plan["beta"].reason == "inputs changed"
    assert pkg.build().executed == ["alpha", "beta"]
    assert json.loads((pkg.root / "alpha" / "alpha.json").read_text())["n"] == 8


def test_changed_imported_module_makes_the_producer_stale(pkg):
    pkg.build()
    pkg.write("helper", "SCALE = 3  # changed\n")
    plan = pkg.plan()
    assert plan["alpha"].reason == "inputs changed"
    assert plan["beta"].reason == "inputs changed"  # propagated through needs
    helper = pkg.dir / "helper.py"
    assert plan["alpha"].inputs["modules"][pkg.module("helper")] == build.code_digest(
        helper.read_text()
    )


def test_transitive_imports_are_tracked(pkg):
    pkg.write("helper", f"from {pkg.name}.deeper import SCALE\n")
    pkg.write("deeper", "SCALE = 2\n")
    pkg.build()
    pkg.write("deeper", "SCALE = 3\n")
    assert pkg.plan()["alpha"].reason == "inputs changed"


def test_comments_docstrings_and_layout_are_not_inputs(pkg):
    pkg.write("helper", "SCALE = 2\n")
    pkg.build()
    pkg.write(
        "helper", '"""The scale of alpha."""\n\n# why two: see the lesson\nSCALE = (\n    2\n)\n'
    )
    assert not any(item.stale for item in pkg.plan().values())
    pkg.write("helper", "SCALE = 2.0\n")  # a different constant is a different program
    assert pkg.plan()["alpha"].reason == "inputs changed"


def test_relative_and_function_level_imports_are_tracked(pkg):
    index = build.SourceIndex(tracked=["snippets", pkg.name])
    source = "def f():\n    from . import helper\n    from .deeper import X\nimport os\n"
    pkg.write("deeper", "X = 1\n")
    found = index.imports_in_source(source, package=pkg.name)
    assert found == {pkg.name, pkg.module("helper"), pkg.module("deeper")}


def test_changed_profile_makes_everything_stale(pkg):
    pkg.build()
    gpu = pkg.plan(profile="gpu")
    assert gpu["alpha"].reason == "inputs changed"
    assert gpu["alpha"].inputs["params"] == {"n": 5}  # the gpu half of the params
    assert gpu["beta"].reason == "inputs changed"  # plain params: the profile alone counts
    assert not any(item.stale for item in pkg.plan(profile="cpu").values())


def test_missing_output_file_makes_the_artifact_stale(pkg):
    pkg.build()
    (pkg.root / "beta" / "noise.png").unlink()
    assert pkg.plan()["beta"].reason == "output missing"
    assert pkg.plan()["alpha"].reason is None
    assert pkg.build().executed == ["beta"]


def test_pipeline_code_is_not_an_input_but_its_file_writers_are(pkg, monkeypatch):
    # Producers import sitetools.pipeline; editing the pipeline must not re-run every producer.
    plan = pkg.plan()
    assert not any(m.startswith("sitetools") for m in plan["alpha"].inputs["modules"])
    assert pkg.module("upstream") in plan["alpha"].inputs["modules"]
    # The writers' code (PNG settings, fragment markup) is: other writer code, other key.
    monkeypatch.setattr(keys, "WRITER_MODULE", "sitetools.pipeline.store")
    assert pkg.plan()["alpha"].key != plan["alpha"].key


# --------------------------------------------------------------------------- manifest


def test_manifest_records_provenance(pkg):
    began = datetime.now().astimezone()
    pkg.build()
    entries = manifest(pkg.root)
    assert sorted(entries) == ["alpha", "beta"]
    beta = entries["beta"]
    assert beta["device"] == "cpu" and beta["profile"] == "cpu" and beta["seed"] == 7
    assert beta["needs"] == ["alpha"]
    assert beta["key"] == pkg.plan()["beta"].key
    assert beta["files"] == sorted(p.name for p in (pkg.root / "beta").iterdir())
    assert beta["figures"] == [
        {"filename": "noise.png", "alt": "A line plot of [n] noise values", "caption": "Noise"}
    ]
    assert beta["seconds"] >= 0
    assert datetime.fromisoformat(beta["finished_at"]) >= began.replace(microsecond=0)
    versions = beta["versions"]
    assert versions["python"] == ".".join(map(str, sys.version_info[:3]))
    for library in ("torch", "diffusers", "transformers", "numpy", "matplotlib", "scikit-learn"):
        assert versions[library] == importlib.metadata.version(library)
    downstream = pkg.dir / "downstream.py"
    assert beta["modules"][pkg.module("downstream")] == build.code_digest(downstream.read_text())
    assert entries["alpha"]["params"] == {"n": 3}


# --------------------------------------------------------------------------- killed build


def test_killed_build_leaves_no_partial_artifact_and_next_build_completes(pkg, tmp_path):
    marker = tmp_path / "started"
    modules = ["--modules", pkg.module("slow")]

    process = pkg.cli(*modules, env={"BT_MARKER": str(marker)})
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "the slow producer never started"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL

    entries = manifest(pkg.root)
    assert sorted(entries) == ["first"]  # the finished artifact survives, the killed one is absent
    assert (pkg.root / "first" / "first.json").is_file()
    assert not (pkg.root / "second").exists()
    leftovers = list((pkg.root / ".tmp").iterdir())
    assert [p.name.startswith("second-") for p in leftovers] == [True]
    assert (leftovers[0] / "part1.json").is_file()  # half-written, but only in .tmp

    output = pkg.run_cli(*modules, env={"BT_MARKER": str(marker), "BT_FAST": "1"})
    assert "removed 1 leftover temporary entries of a killed build" in output
    assert "built second" in output and "built first" not in output
    assert sorted(p.name for p in (pkg.root / "second").iterdir()) == ["part1.json", "part2.json"]
    assert sorted(manifest(pkg.root)) == ["first", "second"]
    assert not (pkg.root / ".tmp").exists()

    # Killed while re-making an artifact that exists: the old one stays, intact and fresh.
    before = snapshot(pkg.root / "second")
    entry = manifest(pkg.root)["second"]
    marker.unlink()
    process = pkg.cli(*modules, "--force", "--only", "second", env={"BT_MARKER": str(marker)})
    while not marker.exists():
        assert process.poll() is None, process.communicate()[0]
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert snapshot(pkg.root / "second") == before
    assert manifest(pkg.root)["second"] == entry
    listing = pkg.run_cli(*modules, "--list")
    assert "fresh  second" in listing


def test_failing_producer_leaves_nothing_behind(pkg):
    pkg.write(
        "broken",
        textwrap.dedent("""\
        from sitetools.pipeline import producer

        @producer("broken")
        def broken(ctx):
            ctx.save_json({}, "half.json")
            raise RuntimeError("boom")
        """),
    )
    with pytest.raises(build.BuildError, match=r"broken .*boom"):
        pkg.build(modules=[pkg.module("broken")])
    assert not (pkg.root / "broken").exists()
    assert list((pkg.root / ".tmp").glob("*")) == []
    assert not (pkg.root / "manifest.json").exists()


# --------------------------------------------------------------------------- figures


def make_context(tmp_path: Path) -> build.Context:
    import torch

    out = tmp_path / "out"
    out.mkdir()
    return build.Context("demo", out, torch.device("cpu"), "cpu", 3, root=tmp_path)


def line_figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1, 4, 9])
    return fig


@pytest.mark.parametrize("alt", ["", "   ", None])
def test_figures_require_alt_text(tmp_path, alt):
    ctx = make_context(tmp_path)
    with pytest.raises(ValueError, match="alt text"):
        ctx.save_figure(line_figure(), "plot.png", alt=alt)
    assert list(ctx.out.iterdir()) == []


def test_build_fails_on_a_figure_without_alt_text(pkg):
    pkg.write(
        "noalt",
        textwrap.dedent("""\
        import matplotlib.pyplot as plt
        from sitetools.pipeline import producer

        @producer("noalt")
        def noalt(ctx):
            ctx.save_figure(plt.figure(), "x.png", alt="")
        """),
    )
    with pytest.raises(build.BuildError, match="alt text"):
        pkg.build(modules=[pkg.module("noalt")])
    assert not (pkg.root / "noalt").exists()


def test_figure_png_is_deterministic(tmp_path):
    ctx = make_context(tmp_path)
    first = ctx.save_figure(line_figure(), "a.png", alt="Squares")
    second = ctx.save_figure(line_figure(), "b.png", alt="Squares")
    assert first.read_bytes() == second.read_bytes()
    assert b"Software" not in first.read_bytes()


def test_file_names_are_checked(tmp_path):
    ctx = make_context(tmp_path)
    ctx.save_json({}, "a.json")
    with pytest.raises(ValueError, match="twice"):
        ctx.save_json({}, "a.json")
    for bad in ("../x.json", "sub/x.json", ".x.json", "x.txt"):
        with pytest.raises(ValueError, match="plain name"):
            ctx.save_json({}, bad)
    ctx.save_figure(line_figure(), "plot.png", alt="A plot")
    with pytest.raises(ValueError, match="twice"):
        ctx.save_table("| a |\n|---|\n| 1 |", "plot.md")  # the figure's fragment owns plot.md


def test_input_needs_a_declared_dependency(tmp_path):
    ctx = make_context(tmp_path)
    with pytest.raises(build.BuildError, match="needs"):
        ctx.input("alpha")


def test_figure_fragment_renders_as_a_figure_with_provenance(pkg):
    pkg.build()
    fragment = (pkg.root / "beta" / "noise.md").read_text()
    assert "generated/beta/noise.png" in fragment
    html = markdown.markdown(fragment, extensions=["md_in_html", "attr_list"])
    assert html.startswith("<figure>") and html.endswith("</figure>")
    assert "<br" not in html and "<p>" not in html
    # The image links to its own file: a tap on a phone opens it full size.
    assert (
        '<a href="generated/beta/noise.png"><img alt="A line plot of [n] noise values" '
        'loading="lazy" src="generated/beta/noise.png" /></a>'
    ) in html
    caption = html.split("<figcaption>")[1].split("</figcaption>")[0]
    assert caption == "Noise · cpu (cpu profile), seed 7"


SQUARE_SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><text>A</text></svg>'


def test_svg_figures_are_checked_and_written_like_png_figures(tmp_path):
    ctx = make_context(tmp_path)
    for alt in ("", "  ", None):
        with pytest.raises(ValueError, match="alt text"):
            ctx.save_svg(SQUARE_SVG, "a.svg", alt=alt)
    with pytest.raises(ValueError, match=r"'a.svg' is not well-formed SVG: .*line 1"):
        ctx.save_svg("<svg><text>A</svg>", "a.svg", alt="A letter")
    with pytest.raises(ValueError, match="<svg> root"):
        ctx.save_svg("<html/>", "a.svg", alt="A letter")
    with pytest.raises(ValueError, match="plain name ending in .svg"):
        ctx.save_svg(SQUARE_SVG, "a.png", alt="A letter")
    assert list(ctx.out.iterdir()) == []
    path = ctx.save_svg(SQUARE_SVG, "a.svg", alt="The letter [A]", caption="One  letter")
    assert path.read_text() == SQUARE_SVG
    ctx.write_fragments("cpu")
    html = markdown.markdown((ctx.out / "a.md").read_text(), extensions=["md_in_html", "attr_list"])
    assert (
        '<a href="generated/demo/a.svg"><img alt="The letter [A]" loading="lazy" '
        'src="generated/demo/a.svg" /></a>'
    ) in html
    assert "<figcaption>One letter · cpu (cpu profile), seed 3</figcaption>" in html


# --------------------------------------------------------------------------- registry


def test_producer_arguments_are_validated():
    with pytest.raises(ValueError, match="name"):
        build.producer("Bad_Name")
    with pytest.raises(ValueError, match="name"):
        build.producer("notebook-x")
    with pytest.raises(ValueError, match="both"):
        build.producer("x", params={"cpu": {"n": 1}})
    with pytest.raises(ValueError, match="JSON"):
        build.producer("x", params={"path": Path(".")})
    with pytest.raises(TypeError, match="missing a required argument"):
        build.producer("x", params={"n": 1})(lambda ctx, m: None)


def test_bad_dependencies_are_reported(pkg):
    pkg.write(
        "deps",
        textwrap.dedent("""\
        from sitetools.pipeline import producer

        @producer("loop-a", needs=["loop-b"])
        def a(ctx): pass

        @producer("loop-b", needs=["loop-a"])
        def b(ctx): pass
        """),
    )
    with pytest.raises(build.BuildError, match="cycle: loop-a -> loop-b -> loop-a"):
        build.discover([pkg.module("deps")], notebooks=None)
    pkg.write(
        "orphan",
        textwrap.dedent("""\
        from sitetools.pipeline import producer

        @producer("orphan", needs=["nowhere"])
        def orphan(ctx): pass
        """),
    )
    with pytest.raises(build.BuildError, match="needs 'nowhere'"):
        build.discover([pkg.module("orphan")], notebooks=None)
    pkg.write("twin", UPSTREAM.format(pkg=pkg.name, params={"n": 1}))
    with pytest.raises(build.BuildError, match="defined twice"):
        build.discover([pkg.module("upstream"), pkg.module("twin")], notebooks=None)


def test_a_missing_producer_module_is_an_error_naming_it(pkg):
    """A module named on the command line or in $SNIPPETS_PRODUCER_MODULES that does not exist
    is a typo, not something to skip in silence."""
    missing = pkg.module("not_written_yet")
    with pytest.raises(build.BuildError, match=f"producer module '{missing}' does not exist"):
        build.discover([pkg.module("upstream"), missing], None)
    assert list(build.discover([pkg.module("upstream")], None)) == ["alpha"]


def test_producer_modules_can_be_overridden_by_environment(monkeypatch):
    monkeypatch.setenv(build.MODULES_ENV, "a.b, c")
    assert build.producer_modules() == ("a.b", "c")
    monkeypatch.delenv(build.MODULES_ENV)
    assert build.producer_modules() == build.all_producer_modules()
    assert "artifacts.digits.models" in build.all_producer_modules()


# --------------------------------------------------------------------------- device


def test_device_and_profile_selection(monkeypatch):
    import torch

    monkeypatch.delenv(build.DEVICE_ENV, raising=False)
    device, profile = build.select_device()
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert (device.type, profile) == (expected, "gpu" if expected == "cuda" else "cpu")
    assert build.select_device("cpu")[1] == "cpu"
    monkeypatch.setenv(build.DEVICE_ENV, "cpu")
    assert build.select_device()[1] == "cpu"
    if torch.cuda.is_available():
        assert build.select_device("cuda")[1] == "gpu"
    else:
        with pytest.raises(build.BuildError, match="CUDA is not available"):
            build.select_device("cuda")
    with pytest.raises(build.BuildError):
        build.select_device("mps-or-whatever")


def test_unavailable_device_flag_fails_cleanly(pkg):
    import torch

    if torch.cuda.is_available():
        bad = f"cuda:{torch.cuda.device_count()}"
    else:
        bad = "cuda"
    process = pkg.cli("--modules", *pkg.modules, "--device", bad)
    output, _ = process.communicate(timeout=300)
    assert process.returncode != 0
    assert "sitetools.pipeline: ERROR:" in output
    assert not pkg.root.exists() or not (pkg.root / "manifest.json").exists()


# --------------------------------------------------------------------------- pruning


def test_a_subset_run_keeps_every_other_artifact(pkg, monkeypatch):
    pkg.build()
    before = snapshot(pkg.root / "beta")
    # Only alpha's module this time, by argument and by the environment override.
    pkg.build(modules=[pkg.module("upstream")], force=True)
    monkeypatch.setenv(build.MODULES_ENV, pkg.module("upstream"))
    build.build(root=pkg.root, notebooks=None, device="cpu")
    assert sorted(manifest(pkg.root)) == ["alpha", "beta"]
    assert snapshot(pkg.root / "beta") == before
    # A producer that its module no longer defines is pruned, by a run that imports the module
    # (a fresh process, as every build is).
    monkeypatch.delenv(build.MODULES_ENV)
    pkg.write("downstream", "X = 1\n")
    output = pkg.run_cli("--modules", *pkg.modules)
    assert "removed beta: no producer or notebook defines it any more" in output
    assert sorted(manifest(pkg.root)) == ["alpha"]
    assert not (pkg.root / "beta").exists()


def test_a_run_over_another_notebooks_folder_keeps_the_executed_notebooks(pkg, tmp_path):
    pkg.build()
    entries = json.loads((pkg.root / "manifest.json").read_text())
    entries["artifacts"]["notebook-demo"] = {
        "kind": "notebook",
        "origin": str(tmp_path / "nb" / "demo.ipynb"),
        "path": "notebooks/demo.ipynb",
        "key": "k",
    }
    (pkg.root / "manifest.json").write_text(json.dumps(entries))
    (pkg.root / "notebooks").mkdir()
    (pkg.root / "notebooks" / "demo.ipynb").write_text("{}")
    elsewhere = tmp_path / "other-notebooks"
    elsewhere.mkdir()
    build.build(root=pkg.root, notebooks=elsewhere, device="cpu", modules=pkg.modules)
    assert "notebook-demo" in manifest(pkg.root)
    assert (pkg.root / "notebooks" / "demo.ipynb").is_file()


def test_manifest_is_readable_by_others(pkg):
    pkg.build()
    assert (pkg.root / "manifest.json").stat().st_mode & 0o777 == 0o644


# ------------------------------------------------------- bad producers keep the good artifact

GOOD_THEN_BAD = """\
from sitetools.pipeline import producer

@producer("keeper")
def keeper(ctx):
{body}
"""


def test_a_producer_that_raises_keeps_the_previous_good_artifact(pkg):
    pkg.write("keeper", GOOD_THEN_BAD.format(body='    ctx.save_json({"good": 1}, "out.json")'))
    pkg.build(modules=[pkg.module("keeper")])
    good = snapshot(pkg.root / "keeper")
    good_entry = manifest(pkg.root)["keeper"]
    pkg.write(
        "keeper",
        GOOD_THEN_BAD.format(
            body='    ctx.save_json({"good": 0}, "out.json")\n    raise RuntimeError("boom")'
        ),
    )
    pkg.reload("keeper")
    with pytest.raises(
        build.BuildError,
        match=rf"^keeper \({pkg.name}\.keeper:keeper\) failed: RuntimeError\('boom'\)$",
    ):
        pkg.build(modules=[pkg.module("keeper")])
    assert snapshot(pkg.root / "keeper") == good
    assert manifest(pkg.root)["keeper"] == good_entry


def test_a_producer_that_writes_nothing_is_an_error_and_keeps_the_previous_artifact(pkg):
    pkg.write("keeper", GOOD_THEN_BAD.format(body='    ctx.save_json({"good": 1}, "out.json")'))
    pkg.build(modules=[pkg.module("keeper")])
    good = snapshot(pkg.root / "keeper")
    pkg.write("keeper", GOOD_THEN_BAD.format(body="    pass"))
    pkg.reload("keeper")
    with pytest.raises(build.BuildError, match=r"^keeper: the producer wrote no files$"):
        pkg.build(modules=[pkg.module("keeper")])
    assert snapshot(pkg.root / "keeper") == good


def test_a_run_that_writes_the_manifest_drops_an_older_stamp(pkg):
    """The stamp (sitetools/pipeline/stamp.py) may only describe a run that left all fresh."""
    pkg.build()
    path = pkg.root / "manifest.json"
    data = json.loads(path.read_text())
    data["stamp"] = "from an earlier complete run"
    path.write_text(json.dumps(data))
    pkg.build(force=True, only=["alpha"])
    assert "stamp" not in json.loads(path.read_text())
