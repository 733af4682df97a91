"""Run the stale artifacts: plan, execute each in a temporary folder, commit, record.

* **Device.** CUDA when present (profile ``"gpu"``), else CPU (profile ``"cpu"``); ``--device``
  or ``SNIPPETS_DEVICE`` overrides.
* **Provenance.** The manifest records, per artifact, its key, files, figures, device, profile,
  seed, library versions, seconds and finishing time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import logging
import os
import platform
import secrets
import shutil
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sitetools.pipeline import stamp, store
from sitetools.pipeline.context import Context, progress
from sitetools.pipeline.keys import SourceIndex, cache_key, digest
from sitetools.pipeline.notebooks import execute_notebook, refresh_markdown
from sitetools.pipeline.registry import (
    Artifact,
    BuildError,
    Notebook,
    discover,
    find_spec,
    params_for_profile,
    producer_modules,
)

log = logging.getLogger("sitetools.pipeline")

DEVICE_ENV = "SNIPPETS_DEVICE"  # "cpu", "cuda", "cuda:1": overrides the automatic choice
LIBRARIES = ("torch", "diffusers", "transformers", "numpy", "matplotlib", "scikit-learn")
REPO = Path(__file__).resolve().parents[2]
DEFAULT_ROOT = REPO / "docs" / "generated"
DEFAULT_NOTEBOOKS = REPO / "notebooks"


def select_device(requested: str | None = None):
    """Pick the device and profile: ``requested``, else ``$SNIPPETS_DEVICE``, else CUDA if present.

    Examples:
        >>> device, profile = select_device("cpu")
        >>> str(device), profile
        ('cpu', 'cpu')
    """
    import torch

    choice = requested or os.environ.get(DEVICE_ENV) or "auto"
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(choice)
    except RuntimeError as error:
        raise BuildError(f"unknown device {choice!r}: {error}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BuildError(f"device {choice!r} requested but CUDA is not available")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise BuildError(f"device {choice!r}: only {torch.cuda.device_count()} CUDA device(s)")
    if device.type not in ("cpu", "cuda"):
        raise BuildError(f"device {choice!r}: only cpu and cuda are supported")
    return device, ("gpu" if device.type == "cuda" else "cpu")


def _device_name(device) -> str:
    if device.type == "cuda":
        import torch

        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine() or "cpu"


def library_versions() -> dict[str, str | None]:
    """Versions of Python and the libraries that shape the outputs (None when not installed).

    Examples:
        >>> sorted(library_versions())[:3]
        ['diffusers', 'matplotlib', 'numpy']
    """
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


@dataclasses.dataclass
class PlanItem:
    """One artifact in a build plan: its key and why it is stale (None when fresh)."""

    artifact: Artifact
    key: str
    inputs: dict[str, Any]
    reason: str | None

    @property
    def stale(self) -> bool:
        return self.reason is not None


def plan(
    root: Path, artifacts: dict[str, Artifact], profile: str, manifest: dict | None = None
) -> list[PlanItem]:
    """Compute every artifact's key and staleness under ``profile`` (nothing is executed)."""
    manifest = store.read_manifest(root) if manifest is None else manifest
    index = SourceIndex()
    keys: dict[str, str] = {}
    items = []
    for name, artifact in artifacts.items():
        key, inputs = cache_key(artifact, profile, keys, index)
        keys[name] = key
        reason = store.stale_reason(artifact, key, manifest, root)
        items.append(PlanItem(artifact, key, inputs, reason))
    return items


def combined_key(items: list[PlanItem]) -> str:
    """One digest of every artifact's key: equal exactly when no artifact would be rebuilt."""
    return digest({item.artifact.name: item.key for item in items})


@dataclasses.dataclass
class BuildResult:
    """What a build did: the names it executed, re-rendered and found fresh."""

    executed: list[str]
    fresh: list[str]
    profile: str
    seconds: float
    rerendered: list[str] = dataclasses.field(default_factory=list)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _wanted(artifacts: dict[str, Artifact], only: list[str] | None) -> set[str]:
    if only is None:
        return set(artifacts)
    unknown = [name for name in only if name not in artifacts]
    if unknown:
        raise BuildError(f"unknown artifact(s): {', '.join(unknown)}; see --list")
    wanted: set[str] = set()
    todo = list(only)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(artifacts[name].needs)
    return wanted


def build(
    *,
    root: Path = DEFAULT_ROOT,
    notebooks: Path | None = DEFAULT_NOTEBOOKS,
    modules: Iterable[str] | None = None,
    only: Iterable[str] | None = None,
    force: bool = False,
    device: str | None = None,
    url_prefix: str = "generated",
) -> BuildResult:
    """Run every stale artifact (or the ``only`` ones and what they need).

    Args:
        root: output folder (default ``docs/generated``).
        notebooks: folder of notebooks to execute (None for none).
        modules: producer modules to run (default: every module under ``artifacts``).
        only: artifact names to consider; their ``needs`` are included.
        force: execute the considered artifacts even when fresh (``needs`` only if stale).
        device: ``"cpu"``, ``"cuda"``... (default: ``$SNIPPETS_DEVICE`` or CUDA when present).
        url_prefix: how pages refer to ``root`` in figure fragments (relative to ``docs/``).

    Returns:
        A [`BuildResult`][sitetools.pipeline.runner.BuildResult].
    """
    start = time.perf_counter()
    root = Path(root)
    torch_device, profile = select_device(device)
    # Taken before anything is imported or run: an edit made during the run changes the files,
    # so the stamp written at the end will not match them, and the next run plans in full.
    new_stamp = (
        stamp.source_stamp(notebooks, profile) if stamp.applies(only, force, modules) else None
    )
    artifacts = discover(modules, notebooks)
    only = None if only is None else list(only)
    wanted = _wanted(artifacts, only)
    forced = set(artifacts if only is None else only) if force else set()
    root.mkdir(parents=True, exist_ok=True)
    with store.lock(root):
        store.remove_leftovers(root)
        manifest = store.read_manifest(root)
        # Any manifest write below drops the stamp; only _write_stamp puts one back.
        old_stamp = manifest.pop("stamp", None)
        items = [i for i in plan(root, artifacts, profile, manifest) if i.artifact.name in wanted]
        for item in items:
            if item.reason is None and item.artifact.name in forced:
                item.reason = "forced"
        imported = producer_modules() if modules is None else tuple(modules)
        store.prune(root, manifest, _still_defined(artifacts, imported, manifest, notebooks))
        rerendered = _refresh_notebook_markdown(items, root, manifest)
        todo = [item for item in items if item.stale]
        fresh = [item.artifact.name for item in items if not item.stale]
        if not todo:
            _write_stamp(root, manifest, new_stamp, old_stamp, notebooks, profile)
            log.info("%s up to date, nothing to execute", _count(len(items), "artifact"))
            return BuildResult([], fresh, profile, time.perf_counter() - start, rerendered)
        log.info(
            "device %s (%s profile): %d of %s to execute: %s",
            torch_device,
            profile,
            len(todo),
            _count(len(items), "artifact"),
            ", ".join(f"{i.artifact.name} ({i.reason})" for i in todo),
        )
        import matplotlib

        matplotlib.use("Agg")
        executed = []
        for item in progress(todo, desc="sitetools.pipeline", unit="artifact"):
            run_one(item, root, manifest, torch_device, profile, url_prefix)
            executed.append(item.artifact.name)
        _write_stamp(root, manifest, new_stamp, old_stamp, notebooks, profile)
        with contextlib.suppress(OSError):
            (root / store.TMP_NAME).rmdir()
    seconds = time.perf_counter() - start
    log.info(
        "executed %s in %.1f s; %d up to date",
        _count(len(executed), "artifact"),
        seconds,
        len(fresh),
    )
    return BuildResult(executed, fresh, profile, seconds, rerendered)


def _write_stamp(
    root: Path,
    manifest: dict,
    new_stamp: str | None,
    old_stamp: str | None,
    notebooks: Path | None,
    profile: str,
) -> None:
    """Record that every artifact is fresh for the sources this run started from.

    Not when a source changed during the run (the outputs may come from either version), and
    not when the stored stamp is already this one: a write into docs/generated/ would make
    ``mkdocs serve`` rebuild once more.
    """
    if new_stamp is None or stamp.source_stamp(notebooks, profile) != new_stamp:
        return
    manifest["stamp"] = new_stamp
    if old_stamp != new_stamp:
        store.write_manifest(root, manifest)


def _still_defined(
    artifacts: dict[str, Artifact], imported: Iterable[str], manifest: dict, notebooks: Path | None
) -> set:
    """Stored artifacts that the full registry still defines, whatever subset this run imported.

    A stored producer artifact is gone only when its module was imported by this run and no
    longer defines it, or when its module no longer exists; one from a module this run did not
    import is kept. A stored notebook is gone only when this run looked at the notebooks folder
    it came from and the notebook is not there.
    """
    imported = set(imported)
    defined = set(artifacts)
    for name, entry in manifest["artifacts"].items():
        if name in defined:
            continue
        if entry.get("kind") == "notebook":
            source = Path(entry.get("origin", ""))
            source = source if source.is_absolute() else REPO / source
            looked = notebooks is not None and source.parent.resolve() == Path(notebooks).resolve()
            if not looked:
                defined.add(name)
            continue
        module = entry.get("origin", "").partition(":")[0]
        if module not in imported and find_spec(module) is not None:
            defined.add(name)
    return defined


def _refresh_notebook_markdown(items: list[PlanItem], root: Path, manifest: dict) -> list[str]:
    done = []
    for item in items:
        entry = manifest["artifacts"].get(item.artifact.name)
        fresh_notebook = isinstance(item.artifact, Notebook) and not item.stale
        if fresh_notebook and entry is not None and refresh_markdown(item.artifact, root, entry):
            done.append(item.artifact.name)
            log.info("re-rendered %s: Markdown changed, code did not", item.artifact.name)
    if done:
        store.write_manifest(root, manifest)
    return done


def _seed_everything(seed: int) -> None:
    from snippets.seeding import seed_everything

    seed_everything(seed)


def run_one(item: PlanItem, root: Path, manifest: dict, device, profile: str, url_prefix: str):
    """Execute one artifact into a temporary folder, then commit it and its manifest entry."""
    artifact = item.artifact
    tmp_root = root / store.TMP_NAME
    tmp = tmp_root / f"{artifact.name}-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir(parents=True)
    device_label = device.type if device.index is None else str(device)
    figures: list[dict[str, Any]] = []
    try:
        _seed_everything(artifact.seed)
        began = time.perf_counter()
        if isinstance(artifact, Notebook):
            import nbformat

            env = {DEVICE_ENV: str(device), "SNIPPETS_PROFILE": profile}
            nb = execute_notebook(artifact.path, env=env, show_progress=True)
            seconds = time.perf_counter() - began
            nbformat.write(nb, tmp / artifact.path.name)
        else:
            import matplotlib
            import matplotlib.pyplot as plt

            ctx = Context(
                artifact.name,
                tmp,
                device,
                profile,
                artifact.seed,
                root=root,
                needs=artifact.needs,
                url_prefix=url_prefix,
            )
            with matplotlib.rc_context():
                try:
                    artifact.func(ctx, **params_for_profile(artifact.params, profile))
                finally:
                    plt.close("all")
            seconds = time.perf_counter() - began
            ctx.write_fragments(device_label)
            figures = [dataclasses.asdict(f) for f in ctx.figures]
            if not store.files_in(tmp):
                raise BuildError(f"{artifact.name}: the producer wrote no files")
    except BaseException as error:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(error, KeyboardInterrupt | SystemExit | BuildError):
            raise
        raise BuildError(f"{artifact.name} ({artifact.origin}) failed: {error!r}") from error

    target = store.output_path(artifact, root)
    # The old entry goes first: if the build dies between the rename and the manifest write,
    # the folder is never described by a manifest entry that does not match it.
    if manifest["artifacts"].pop(artifact.name, None) is not None:
        store.write_manifest(root, manifest)
    if isinstance(artifact, Notebook):
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp / artifact.path.name, target)
        shutil.rmtree(tmp)
        files = [target.name]
    else:
        store.commit_dir(tmp, target, tmp_root)
        files = store.files_in(target)
    manifest["artifacts"][artifact.name] = {
        "kind": artifact.kind,
        "origin": relative_origin(artifact),
        "key": item.key,
        "path": target.relative_to(root).as_posix(),
        "files": files,
        "figures": figures,
        "device": str(device),
        "device_name": _device_name(device),
        "profile": profile,
        "seed": artifact.seed,
        "needs": list(artifact.needs),
        **item.inputs,
        "versions": library_versions(),
        "seconds": round(seconds, 3),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    store.write_manifest(root, manifest)
    log.info("built %s in %.1f s (%s)", artifact.name, seconds, _count(len(files), "file"))


def relative_origin(artifact: Artifact) -> str:
    """Where an artifact comes from: ``module:function``, or the notebook's repository path."""
    if isinstance(artifact, Notebook):
        with contextlib.suppress(ValueError):
            return artifact.path.relative_to(REPO).as_posix()
    return artifact.origin
