"""Artifact pipeline: run figure/table producers and notebooks, keep only what is stale.

Every number, figure and executed notebook on the site is an *artifact*: the output folder of
a producer (a plain function registered with [`producer`][snippets.build.producer]) or the
executed copy of a notebook in ``docs/notebooks/``. ``python -m snippets.build`` runs the
stale ones; ``mkdocs build`` runs it from ``snippets/mkdocs_hooks.py`` unless
``SNIPPETS_EXECUTE=0``.

* **Cache key.** SHA-256 of the producer's source, the source of every module it uses (the
  module that defines it and, transitively, the ``snippets`` modules that module imports, found
  by parsing ``import`` statements), its parameters, the profile, its seed and the keys of the
  artifacts it ``needs``. A notebook's key is its bytes, the ``snippets`` modules its code cells
  import, and the profile. File times play no part. This module itself is tooling, not an
  input: ``OUTPUT_FORMAT`` (in every key) stands for what of it shapes the outputs.
* **Stale** means: no manifest entry, a different key in the manifest, or a recorded output
  file missing. A run with nothing stale writes nothing (so ``mkdocs serve`` does not loop).
* **Atomic.** A producer writes into ``docs/generated/.tmp/<name>-<pid>-<random>/``; only a
  finished folder is renamed to ``docs/generated/<name>/``, and the manifest is rewritten
  (temp file + ``os.replace``) after each artifact. A killed build leaves a stale ``.tmp`` entry,
  which the next run deletes, and at worst one missing (never half-written) artifact.
* **Device.** CUDA when present (profile ``"gpu"``), else CPU (profile ``"cpu"``); ``--device``
  or ``SNIPPETS_DEVICE`` overrides.

Examples:
    >>> from snippets.build import params_for_profile
    >>> params_for_profile({"cpu": {"size": 32}, "gpu": {"size": 64}}, "gpu")
    {'size': 64}
    >>> params_for_profile({"size": 32}, "gpu")
    {'size': 32}
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import json
import linecache
import logging
import os
import platform
import random
import re
import secrets
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

log = logging.getLogger("snippets.build")

PRODUCER_MODULES: tuple[str, ...] = ("snippets.figures", "snippets.training", "snippets.studies")
"""Modules whose ``@producer`` functions make up the site's artifacts (missing ones: skipped)."""

MODULES_ENV = "SNIPPETS_PRODUCER_MODULES"  # comma-separated override of PRODUCER_MODULES
DEVICE_ENV = "SNIPPETS_DEVICE"  # "cpu", "cuda", "cuda:1": overrides the automatic choice
PROFILES = ("cpu", "gpu")
TRACKED_PACKAGES = ("snippets",)
# The site tooling is not an input of the artifacts: editing the pipeline's logging must not
# retrain every model. What of it does shape the outputs (fragment markup, PNG settings,
# seeding) is summarised by OUTPUT_FORMAT, which is part of every key: bump it when that changes.
TOOLING_MODULES = frozenset({"snippets.build", "snippets.mkdocs_hooks"})
OUTPUT_FORMAT = 1
NOTEBOOK_PREFIX = "notebook-"
NOTEBOOK_CELL_TIMEOUT = 900  # seconds per cell
FIGURE_DPI = 150
MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
TMP_NAME = ".tmp"
LIBRARIES = ("torch", "diffusers", "transformers", "numpy", "matplotlib", "scikit-learn")

_PACKAGE_DIR = Path(__file__).resolve().parent
_REPO = _PACKAGE_DIR.parent if (_PACKAGE_DIR.parent / "mkdocs.yml").is_file() else Path.cwd()
DEFAULT_ROOT = _REPO / "docs" / "generated"
DEFAULT_NOTEBOOKS = _REPO / "docs" / "notebooks"
_NAME = re.compile(r"[a-z0-9][a-z0-9-]*\Z")


class BuildError(RuntimeError):
    """A producer failed, a name is unknown, or the registry is inconsistent."""


# --------------------------------------------------------------------------- registry


@dataclasses.dataclass(frozen=True)
class Producer:
    """A registered producer function (see [`producer`][snippets.build.producer])."""

    name: str
    func: Callable[..., Any]
    params: dict[str, Any]
    needs: tuple[str, ...]
    seed: int

    kind = "producer"

    @property
    def module(self) -> str:
        return self.func.__module__

    @property
    def origin(self) -> str:
        return f"{self.module}:{self.func.__qualname__}"


@dataclasses.dataclass(frozen=True)
class Notebook:
    """A notebook in the notebooks folder, executed as the artifact ``notebook-<stem>``."""

    path: Path

    kind = "notebook"
    needs: tuple[str, ...] = ()
    seed: int = 0

    @property
    def name(self) -> str:
        return NOTEBOOK_PREFIX + self.path.stem

    @property
    def origin(self) -> str:
        return str(self.path)


Artifact = Producer | Notebook

_REGISTERED: list[Producer] = []


def params_for_profile(params: dict[str, Any], profile: str) -> dict[str, Any]:
    """The keyword arguments a producer gets under ``profile``.

    Args:
        params: a plain dict (the same for both profiles) or ``{"cpu": {...}, "gpu": {...}}``.
        profile: ``"cpu"`` or ``"gpu"``.

    Returns:
        A new dict of keyword arguments.

    Examples:
        >>> params_for_profile({"cpu": {"steps": 10}, "gpu": {"steps": 100}}, "cpu")
        {'steps': 10}
    """
    if _is_per_profile(params):
        return dict(params[profile])
    return dict(params)


def _is_per_profile(params: dict[str, Any]) -> bool:
    return bool(params) and set(params) <= set(PROFILES) and all(
        isinstance(value, dict) for value in params.values()
    )


def producer(
    name: str,
    *,
    params: dict[str, Any] | None = None,
    needs: Iterable[str] = (),
    seed: int = 0,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a function as the producer of the artifact ``name``.

    The function is called as ``func(ctx, **params)`` with a
    [`Context`][snippets.build.Context]; it writes its files with ``ctx.save_figure`` /
    ``ctx.save_table`` / ``ctx.save_json`` (or into ``ctx.out``). Its module must be listed in
    [`PRODUCER_MODULES`][snippets.build.PRODUCER_MODULES].

    Args:
        name: artifact name: lowercase letters, digits and hyphens; the output folder is
            ``docs/generated/<name>/``.
        params: keyword arguments, a plain dict or ``{"cpu": {...}, "gpu": {...}}``; JSON values.
        needs: names of artifacts this one reads (``ctx.input(name)``); they run first.
        seed: the seed for ``random``, NumPy and torch before the call (``ctx.seed``).

    Returns:
        A decorator that registers the function and returns it unchanged.

    Examples:
        >>> @producer("doc-example", params={"cpu": {"n": 2}, "gpu": {"n": 8}})
        ... def doc_example(ctx, n):
        ...     ctx.save_json({"n": n}, "n.json")
        >>> doc_example.__name__
        'doc_example'
    """
    params = dict(params or {})
    needs = tuple(needs)
    if not _NAME.match(name) or name == "notebooks" or name.startswith(NOTEBOOK_PREFIX):
        raise ValueError(
            f"producer name {name!r}: use lowercase letters, digits and hyphens "
            f"(not 'notebooks' or '{NOTEBOOK_PREFIX}...')"
        )
    if set(params) & set(PROFILES) and not (_is_per_profile(params) and len(params) == 2):
        raise ValueError(
            f"producer {name!r}: per-profile params need both 'cpu' and 'gpu' dicts, got {params}"
        )
    try:
        json.dumps(params, sort_keys=True)
    except TypeError as error:
        raise ValueError(f"producer {name!r}: params must be JSON values ({error})") from None

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(func)
        for profile in PROFILES:
            try:
                signature.bind(None, **params_for_profile(params, profile))
            except TypeError as error:
                raise TypeError(f"producer {name!r} ({profile} params): {error}") from None
        entry = Producer(name=name, func=func, params=params, needs=needs, seed=int(seed))
        # Re-importing a module (importlib.reload) replaces its earlier registration.
        _REGISTERED[:] = [
            p for p in _REGISTERED if (p.module, p.func.__qualname__) != (entry.module,
                                                                            func.__qualname__)
        ]
        _REGISTERED.append(entry)
        return func

    return register


def producer_modules() -> tuple[str, ...]:
    """The producer modules to import: ``$SNIPPETS_PRODUCER_MODULES`` or PRODUCER_MODULES.

    Examples:
        >>> "snippets.figures" in PRODUCER_MODULES
        True
    """
    override = os.environ.get(MODULES_ENV)
    if override is not None:
        return tuple(m.strip() for m in override.split(",") if m.strip())
    return PRODUCER_MODULES


def discover(
    modules: Iterable[str] | None = None, notebooks: Path | None = DEFAULT_NOTEBOOKS
) -> dict[str, Artifact]:
    """Import the producer modules and list every artifact, dependencies first.

    Modules that do not exist (yet) are skipped with a debug message; a module that exists but
    fails to import raises.

    Args:
        modules: module names; default [`producer_modules`][snippets.build.producer_modules].
        notebooks: folder whose ``*.ipynb`` become ``notebook-<stem>`` artifacts; None for none.

    Returns:
        Artifacts by name, in an order where every artifact comes after what it needs.

    Examples:
        >>> arts = discover(modules=[], notebooks=None)
        >>> arts
        {}
    """
    modules = tuple(producer_modules() if modules is None else modules)
    imported = []
    for module in modules:
        if _find_spec(module) is None:
            log.debug("producer module %s does not exist; skipped", module)
            continue
        importlib.import_module(module)
        imported.append(module)
    artifacts: dict[str, Artifact] = {}
    for entry in _REGISTERED:
        if entry.module not in imported:
            continue
        if entry.name in artifacts:
            raise BuildError(
                f"artifact {entry.name!r} is defined twice: "
                f"{artifacts[entry.name].origin} and {entry.origin}"
            )
        artifacts[entry.name] = entry
    if notebooks is not None and Path(notebooks).is_dir():
        for path in sorted(Path(notebooks).glob("*.ipynb")):
            notebook = Notebook(path.resolve())
            if not _NAME.match(path.stem):
                raise BuildError(f"{path}: notebook names are lowercase, digits and hyphens")
            artifacts[notebook.name] = notebook
    return _topological(artifacts)


def _topological(artifacts: dict[str, Artifact]) -> dict[str, Artifact]:
    ordered: dict[str, Artifact] = {}
    visiting: list[str] = []

    def visit(name: str, wanted_by: str | None) -> None:
        if name in ordered:
            return
        if name not in artifacts:
            raise BuildError(f"artifact {wanted_by!r} needs {name!r}, which is not registered")
        if name in visiting:
            cycle = " -> ".join(visiting[visiting.index(name):] + [name])
            raise BuildError(f"dependency cycle: {cycle}")
        visiting.append(name)
        for need in artifacts[name].needs:
            visit(need, name)
        visiting.pop()
        ordered[name] = artifacts[name]

    for name in artifacts:
        visit(name, None)
    return ordered


# --------------------------------------------------------------------------- cache keys


def _find_spec(name: str):
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


class SourceIndex:
    """Maps module names to source files and finds the modules a module imports.

    Paths come from the import system, but no module is imported to find them: a package's
    submodules are looked up as files under its ``submodule_search_locations``.

    Args:
        tracked: top-level package names whose modules count as "used" sources.

    Examples:
        >>> index = SourceIndex()
        >>> index.path("snippets.build").name
        'build.py'
        >>> list(index.closure(["snippets"]))
        ['snippets']
    """

    def __init__(self, tracked: Iterable[str] = TRACKED_PACKAGES) -> None:
        self.tracked = set(tracked)
        self._paths: dict[str, Path | None] = {}
        self._imports: dict[str, set[str]] = {}

    def path(self, module: str) -> Path | None:
        """The source file of ``module`` (``__init__.py`` for a package), or None."""
        if module not in self._paths:
            self._paths[module] = self._locate(module)
        return self._paths[module]

    def _locate(self, module: str) -> Path | None:
        head, _, rest = module.partition(".")
        spec = _find_spec(head)
        if spec is None:
            return None
        if not rest:
            if spec.origin and spec.has_location:
                return Path(spec.origin)
            # A package seen as a namespace (an editable install made before __init__.py existed).
            for location in spec.submodule_search_locations or ():
                if (Path(location) / "__init__.py").is_file():
                    return Path(location) / "__init__.py"
            return None
        for location in spec.submodule_search_locations or ():
            base = Path(location, *rest.split("."))
            for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                if candidate.is_file():
                    return candidate
        return None

    def is_package(self, module: str) -> bool:
        path = self.path(module)
        return path is not None and path.name == "__init__.py"

    def imports(self, module: str) -> set[str]:
        """Tracked modules imported anywhere in ``module``'s source (parents included)."""
        if module not in self._imports:
            path = self.path(module)
            found: set[str] = set()
            if path is not None:
                package = module if self.is_package(module) else module.rpartition(".")[0]
                found = self.imports_in_source(path.read_text(encoding="utf-8"), package)
            self._imports[module] = found
        return self._imports[module]

    def imports_in_source(self, source: str, package: str = "") -> set[str]:
        """Tracked modules named by the import statements in ``source``.

        Args:
            source: Python source text.
            package: the package relative imports are resolved against.

        Returns:
            Module names, each with its parent packages (importing ``a.b`` runs ``a``).

        Examples:
            >>> sorted(SourceIndex().imports_in_source("import json\\nfrom snippets import build"))
            ['snippets', 'snippets.build']
        """
        tree = ast.parse(source)
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    if not package:
                        continue
                    base = "." * node.level + (node.module or "")
                    try:
                        target = importlib.util.resolve_name(base, package)
                    except ImportError:
                        continue
                else:
                    target = node.module or ""
                names.add(target)
                # ``from pkg import mod`` imports the submodule pkg.mod when there is one.
                if self._tracked(target) and self.is_package(target):
                    for alias in node.names:
                        if self.path(f"{target}.{alias.name}") is not None:
                            names.add(f"{target}.{alias.name}")
        found = set()
        for name in names:
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                if self._tracked(".".join(parts[:i])):
                    found.add(".".join(parts[:i]))
        return found

    def _tracked(self, module: str) -> bool:
        return module.split(".")[0] in self.tracked

    def closure(self, roots: Iterable[str]) -> dict[str, str | None]:
        """``roots`` and every tracked module they import, transitively, with SHA-256 hashes.

        A module that cannot be found maps to None (so creating it later changes the key).
        """
        result: dict[str, str | None] = {}
        todo = list(roots)
        while todo:
            module = todo.pop()
            if module in result or module in TOOLING_MODULES:
                continue
            path = self.path(module)
            result[module] = _sha256(path.read_bytes()) if path else None
            if path is not None:
                todo.extend(self.imports(module))
        return dict(sorted(result.items()))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _digest(*parts: Any) -> str:
    """SHA-256 over length-prefixed parts, so that ("ab", "c") and ("a", "bc") differ."""
    h = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else json.dumps(part, sort_keys=True).encode()
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def notebook_imports(path: Path, index: SourceIndex) -> set[str]:
    """Tracked modules imported by the code cells of the notebook at ``path``.

    Cells are parsed with ``ast`` after dropping IPython magics and shell lines; a cell that still
    does not parse falls back to matching ``import``/``from`` lines.
    """
    notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    found: set[str] = set()
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        if source.lstrip().startswith("%%"):
            continue
        lines = [
            "" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()
        ]
        try:
            found |= index.imports_in_source("\n".join(lines))
        except SyntaxError:
            plain = "\n".join(
                line.strip() for line in lines
                if re.match(r"\s*(import|from)\s+[\w.]+", line) and not line.rstrip().endswith("(")
            )
            with contextlib.suppress(SyntaxError):
                found |= index.imports_in_source(plain)
    return found


def cache_key(
    artifact: Artifact, profile: str, dep_keys: dict[str, str], index: SourceIndex | None = None
) -> tuple[str, dict[str, Any]]:
    """The cache key of ``artifact`` under ``profile``, and the inputs that went into it.

    Args:
        artifact: a [`Producer`][snippets.build.Producer] or [`Notebook`][snippets.build.Notebook].
        profile: ``"cpu"`` or ``"gpu"``.
        dep_keys: the cache keys of the artifacts it needs.
        index: a [`SourceIndex`][snippets.build.SourceIndex], shared across artifacts so that
            each file is read once.

    Returns:
        ``(key, inputs)``: the hex SHA-256 key and a JSON-able record of its inputs (module
        hashes, params) for the manifest.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    if isinstance(artifact, Notebook):
        index = index or SourceIndex()
        data = artifact.path.read_bytes()
        modules = index.closure(notebook_imports(artifact.path, index))
        inputs = {"source_sha256": _sha256(data), "modules": modules, "params": {}}
        key = _digest("notebook", OUTPUT_FORMAT, artifact.name, data, modules, profile)
        return key, inputs
    top = artifact.module.split(".")[0]
    index = index or SourceIndex()
    if top not in index.tracked:
        index = SourceIndex(index.tracked | {top})
    source_file = inspect.getsourcefile(artifact.func)
    if source_file:
        linecache.checkcache(source_file)
    source = inspect.getsource(artifact.func)
    modules = index.closure([artifact.module])
    params = params_for_profile(artifact.params, profile)
    deps = {name: dep_keys[name] for name in sorted(artifact.needs)}
    key = _digest(
        "producer", OUTPUT_FORMAT, artifact.name, source, modules, params, profile,
        artifact.seed, deps,
    )
    inputs = {
        "source_sha256": _sha256(source.encode()),
        "modules": modules,
        "params": params,
    }
    return key, inputs


# --------------------------------------------------------------------------- device


def select_device(requested: str | None = None):
    """Pick the device and profile: ``requested``, else ``$SNIPPETS_DEVICE``, else CUDA if present.

    Args:
        requested: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"auto"`` or None.

    Returns:
        ``(torch.device, profile)`` with profile ``"gpu"`` for CUDA and ``"cpu"`` otherwise.

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
        >>> versions = library_versions()
        >>> sorted(versions)[:3]
        ['diffusers', 'matplotlib', 'numpy']
    """
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def seed_everything(seed: int) -> None:
    """Seed ``random``, NumPy and torch (all devices)."""
    random.seed(seed)
    import numpy as np
    import torch

    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# --------------------------------------------------------------------------- context


def _progress(iterable=None, total=None, desc=None, **kwargs):
    from tqdm import tqdm

    # disable=None: bars only on a terminal, so logs and CI output stay clean.
    return tqdm(iterable, total=total, desc=desc, dynamic_ncols=True, disable=None, **kwargs)


@dataclasses.dataclass
class _Figure:
    filename: str
    alt: str
    caption: str | None


class Context:
    """What a producer gets: where to write, the device, the seed, and save helpers.

    Attributes:
        name: the artifact name.
        out: the temporary folder the producer writes into (renamed into place when it returns).
        device: the ``torch.device`` to compute on.
        profile: ``"cpu"`` or ``"gpu"``.
        seed: the seed already applied to ``random``, NumPy and torch.
    """

    def __init__(
        self,
        name: str,
        out: Path,
        device,
        profile: str,
        seed: int,
        *,
        root: Path,
        needs: Iterable[str] = (),
        url_prefix: str = "generated",
    ) -> None:
        self.name = name
        self.out = Path(out)
        self.device = device
        self.profile = profile
        self.seed = seed
        self._root = Path(root)
        self._needs = tuple(needs)
        self._url_prefix = url_prefix
        self._written: set[str] = set()
        self.figures: list[_Figure] = []

    def generator(self):
        """A ``torch.Generator`` on ``ctx.device`` seeded with ``ctx.seed``."""
        import torch

        return torch.Generator(device=self.device).manual_seed(self.seed)

    def progress(self, iterable=None, total=None, desc=None):
        """Wrap a long loop in a progress bar (tqdm; hidden when output is not a terminal)."""
        return _progress(iterable, total=total, desc=desc or self.name, leave=False)

    def input(self, name: str) -> Path:
        """The folder of the artifact ``name``, which this producer must declare in ``needs``."""
        if name not in self._needs:
            raise BuildError(f"{self.name}: ctx.input({name!r}) needs needs=[{name!r}, ...]")
        return self._root / name

    def _target(self, filename: str, suffixes: tuple[str, ...]) -> Path:
        if (
            not filename
            or Path(filename).name != filename
            or filename.startswith(".")
            or not filename.endswith(suffixes)
        ):
            raise ValueError(
                f"{self.name}: file name {filename!r} must be a plain name ending in "
                f"{' or '.join(suffixes)}"
            )
        if filename in self._written:
            raise ValueError(f"{self.name}: {filename!r} is written twice")
        self._written.add(filename)
        return self.out / filename

    def save_figure(self, fig, filename: str, alt: str, caption: str | None = None) -> Path:
        """Save a matplotlib figure as PNG plus the Markdown fragment ``<stem>.md`` that shows it.

        The fragment is a figure with the alt text and a caption ending in provenance (device,
        profile, seed, seconds); include it in a page with
        ``--8<-- "generated/<artifact>/<stem>.md"``. The figure is closed.

        Args:
            fig: a ``matplotlib.figure.Figure``.
            filename: ``"<stem>.png"``.
            alt: alt text describing what the image shows (required, non-empty).
            caption: optional caption (one line of inline Markdown: emphasis, code, math).

        Returns:
            The path of the PNG.
        """
        if not isinstance(alt, str) or not alt.strip():
            raise ValueError(f"{self.name}: save_figure({filename!r}) needs non-empty alt text")
        path = self._target(filename, (".png",))
        self._target(Path(filename).stem + ".md", (".md",))
        import matplotlib.pyplot as plt

        # No "Software" tag and no timestamps: the same figure gives the same bytes.
        fig.savefig(path, dpi=FIGURE_DPI, bbox_inches="tight", metadata={"Software": None})
        plt.close(fig)
        caption = " ".join(caption.split()) if caption else None
        self.figures.append(_Figure(filename, " ".join(alt.split()), caption))
        return path

    def save_table(self, markdown_text: str, filename: str) -> Path:
        """Write a Markdown table (or any Markdown fragment) as ``filename`` (``.md``)."""
        path = self._target(filename, (".md",))
        path.write_text(markdown_text.rstrip("\n") + "\n", encoding="utf-8")
        return path

    def save_json(self, obj: Any, filename: str) -> Path:
        """Write ``obj`` as pretty, key-sorted JSON to ``filename`` (``.json``)."""
        path = self._target(filename, (".json",))
        path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path

    def _write_fragments(self, device_label: str, seconds: float) -> None:
        provenance = f"{device_label} ({self.profile} profile), seed {self.seed}, {seconds:.1f} s"
        for figure in self.figures:
            stem = Path(figure.filename).stem
            alt = re.sub(r"([\\\[\]])", r"\\\1", figure.alt)
            caption = f"{figure.caption} · " if figure.caption else ""
            # Unindented: an indented line before <figcaption> renders as a stray <br>.
            text = (
                '<figure markdown="span">\n'
                f"![{alt}]({self._url_prefix}/{self.name}/{figure.filename}){{ loading=lazy }}\n"
                f'<figcaption markdown="span">{caption}{provenance}</figcaption>\n'
                "</figure>\n"
            )
            (self.out / f"{stem}.md").write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- manifest + files


def read_manifest(root: Path) -> dict[str, Any]:
    """The manifest at ``root/manifest.json`` (an empty one if missing or unreadable)."""
    path = Path(root) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {"version": MANIFEST_VERSION, "artifacts": {}}
    if data.get("version") != MANIFEST_VERSION or not isinstance(data.get("artifacts"), dict):
        return {"version": MANIFEST_VERSION, "artifacts": {}}
    return data


def _write_atomic(path: Path, text: str, tmp_dir: Path) -> None:
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=path.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    manifest["artifacts"] = dict(sorted(manifest["artifacts"].items()))
    text = json.dumps(manifest, indent=2, sort_keys=False) + "\n"
    _write_atomic(root / MANIFEST_NAME, text, root / TMP_NAME)


def output_path(artifact: Artifact, root: Path) -> Path:
    """Where an artifact lives: ``root/<name>/``, or ``root/notebooks/<stem>.ipynb``."""
    if isinstance(artifact, Notebook):
        return Path(root) / "notebooks" / artifact.path.name
    return Path(root) / artifact.name


def stale_reason(artifact: Artifact, key: str, manifest: dict[str, Any], root: Path) -> str | None:
    """Why ``artifact`` must run: "never built", "inputs changed", "output missing"; or None."""
    entry = manifest["artifacts"].get(artifact.name)
    if entry is None:
        return "never built"
    if entry.get("key") != key:
        return "inputs changed"
    out = output_path(artifact, root)
    if not out.exists():
        return "output missing"
    if out.is_dir() and not all((out / f).is_file() for f in entry.get("files", [])):
        return "output missing"
    return None


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
    root: Path,
    artifacts: dict[str, Artifact],
    profile: str,
    manifest: dict[str, Any] | None = None,
) -> list[PlanItem]:
    """Compute every artifact's key and staleness under ``profile`` (nothing is executed)."""
    manifest = read_manifest(root) if manifest is None else manifest
    index = SourceIndex()
    keys: dict[str, str] = {}
    items = []
    for name, artifact in artifacts.items():
        key, inputs = cache_key(artifact, profile, keys, index)
        keys[name] = key
        items.append(PlanItem(artifact, key, inputs, stale_reason(artifact, key, manifest, root)))
    return items


@contextlib.contextmanager
def _lock(root: Path) -> Iterator[None]:
    """One build per output folder at a time (the lock file lives outside docs/)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no locking
        yield
        return
    digest = _sha256(str(Path(root).resolve()).encode())[:16]
    path = Path(tempfile.gettempdir()) / f"snippets-build-{digest}.lock"
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another build of %s to finish", root)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_leftovers(root: Path) -> None:
    tmp = root / TMP_NAME
    if tmp.is_dir():
        leftovers = sorted(tmp.iterdir())
        for path in leftovers:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        if leftovers:
            log.info("removed %d leftover temporary entries of a killed build", len(leftovers))


def _commit_dir(tmp: Path, target: Path, tmp_root: Path) -> None:
    """Move the finished folder ``tmp`` to ``target``, replacing an old one.

    POSIX has no atomic swap of two folders: the old one is first renamed aside (a kill in
    between leaves the artifact missing, which the next run rebuilds), then deleted.
    """
    aside = None
    if target.exists():
        aside = tmp_root / f"{target.name}-old-{os.getpid()}-{secrets.token_hex(4)}"
        os.replace(target, aside)
    os.replace(tmp, target)
    if aside is not None:
        shutil.rmtree(aside)


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


# --------------------------------------------------------------------------- notebooks


def _kernel_manager_class():
    """An AsyncKernelManager whose ``python3`` kernel is this interpreter (``sys.executable``).

    The default ``python3`` spec comes from the first ``jupyter/kernels/python3/kernel.json``
    on the Jupyter path, which may name another Python; this one needs no
    ``python -m ipykernel install``. Transport encryption (CurveZMQ) is on when pyzmq has it.
    """
    import zmq
    from ipykernel.kernelspec import RESOURCES, get_kernel_dict
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class CurrentPythonSpecs(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            spec = get_kernel_dict()
            spec["argv"][0] = sys.executable
            return KernelSpec(resource_dir=RESOURCES, **spec)

    class CurrentPythonKernelManager(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _current_python_specs(self):
            return CurrentPythonSpecs(parent=self)

        @default("transport_encryption")
        def _encrypt_if_possible(self):
            return "auto" if zmq.has("curve") else "disabled"

    return CurrentPythonKernelManager


def execute_notebook(
    path: Path,
    *,
    timeout: int = NOTEBOOK_CELL_TIMEOUT,
    env: dict[str, str] | None = None,
    progress: bool = False,
):
    """Execute the notebook at ``path`` in a fresh kernel; return the executed ``NotebookNode``.

    The kernel runs in the notebook's folder with ``sys.executable``. A failing cell raises
    [`BuildError`][snippets.build.BuildError] naming the notebook and the cell (its number among
    all cells, from 1).

    Args:
        path: the ``.ipynb`` file.
        timeout: seconds allowed per cell.
        env: extra environment variables for the kernel.
        progress: show a progress bar over the code cells.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    code_cells = sum(cell.cell_type == "code" for cell in nb.cells)
    bar = _progress(total=code_cells, desc=path.stem, leave=False) if progress else None
    where = {"cell": None}

    def started(cell, cell_index):
        where["cell"] = cell_index

    def executed(cell, cell_index, execute_reply):
        if bar is not None:
            bar.update(1)

    client = NotebookClient(
        nb,
        kernel_manager_class=_kernel_manager_class(),
        kernel_name="python3",
        timeout=timeout,
        allow_errors=False,
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
        on_cell_start=started,
        on_cell_executed=executed,
    )
    try:
        client.execute(env={**os.environ, "PYTHONHASHSEED": "0", **(env or {})})
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
        cell = where["cell"]
        label = f"cell {cell + 1}" if cell is not None else "kernel start"
        raise BuildError(f"{path.name}, {label} failed:\n{error}") from None
    finally:
        if bar is not None:
            bar.close()
    return nb


def strip_outputs(nb) -> bool:
    """Remove outputs and execution counts from a notebook in place; True if it changed.

    Examples:
        >>> import nbformat
        >>> cell = nbformat.v4.new_code_cell("1", execution_count=3)
        >>> nb = nbformat.v4.new_notebook(cells=[cell])
        >>> strip_outputs(nb), nb.cells[0].execution_count
        (True, None)
    """
    changed = False
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs") or cell.get("execution_count") is not None:
            changed = True
        cell["outputs"] = []
        cell["execution_count"] = None
    return changed


# --------------------------------------------------------------------------- build


@dataclasses.dataclass
class BuildResult:
    """What a build did: the names it executed and the names that were already fresh."""

    executed: list[str]
    fresh: list[str]
    profile: str
    seconds: float


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
        modules: producer modules (default [`producer_modules`][snippets.build.producer_modules]).
        only: artifact names to consider; their ``needs`` are included.
        force: execute the considered artifacts even when fresh (``needs`` only if stale).
        device: ``"cpu"``, ``"cuda"``... (default: ``$SNIPPETS_DEVICE`` or CUDA when present).
        url_prefix: how pages refer to ``root`` in figure fragments (relative to ``docs/``).

    Returns:
        A [`BuildResult`][snippets.build.BuildResult].
    """
    start = time.perf_counter()
    root = Path(root)
    torch_device, profile = select_device(device)
    artifacts = discover(modules, notebooks)
    wanted = set(artifacts)
    if only is not None:
        only = list(only)
        unknown = [name for name in only if name not in artifacts]
        if unknown:
            raise BuildError(f"unknown artifact(s): {', '.join(unknown)}; see --list")
        wanted = set()
        todo = list(only)
        while todo:
            name = todo.pop()
            if name not in wanted:
                wanted.add(name)
                todo.extend(artifacts[name].needs)
    forced = set(artifacts if only is None else only) if force else set()
    root.mkdir(parents=True, exist_ok=True)
    with _lock(root):
        _remove_leftovers(root)
        manifest = read_manifest(root)
        items = [i for i in plan(root, artifacts, profile, manifest) if i.artifact.name in wanted]
        for item in items:
            if item.reason is None and item.artifact.name in forced:
                item.reason = "forced"
        todo = [item for item in items if item.stale]
        fresh = [item.artifact.name for item in items if not item.stale]
        if only is None:
            every_producer, every_notebook = modules is None, notebooks is not None
            _prune(root, manifest, artifacts, producers=every_producer, notebooks=every_notebook)
        if not todo:
            log.info("%s up to date, nothing to execute", _count(len(items), "artifact"))
            return BuildResult([], fresh, profile, time.perf_counter() - start)
        log.info(
            "device %s (%s profile): %d of %s to execute: %s",
            torch_device, profile, len(todo), _count(len(items), "artifact"),
            ", ".join(f"{i.artifact.name} ({i.reason})" for i in todo),
        )
        import matplotlib

        matplotlib.use("Agg")
        executed = []
        for item in _progress(todo, desc="snippets.build", unit="artifact"):
            _run_one(item, root, manifest, torch_device, profile, url_prefix)
            executed.append(item.artifact.name)
        with contextlib.suppress(OSError):
            (root / TMP_NAME).rmdir()
    seconds = time.perf_counter() - start
    log.info(
        "executed %s in %.1f s; %d up to date",
        _count(len(executed), "artifact"), seconds, len(fresh),
    )
    return BuildResult(executed, fresh, profile, seconds)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _prune(root: Path, manifest, artifacts, *, producers: bool, notebooks: bool) -> None:
    """Delete artifacts whose producer or notebook is gone (only kinds that were all listed).

    With ``--modules`` given, other producer modules were not imported: their artifacts stay.
    """
    kinds = ({"producer"} if producers else set()) | ({"notebook"} if notebooks else set())
    gone = [
        name for name, entry in manifest["artifacts"].items()
        if name not in artifacts and entry.get("kind") in kinds
    ]
    for name in gone:
        entry = manifest["artifacts"].pop(name)
        path = root / entry.get("path", name)
        if path.is_dir() and path.resolve().parent == root.resolve():
            shutil.rmtree(path)
        elif path.is_file():
            path.unlink()
        log.info("removed %s: no producer or notebook defines it any more", name)
    if gone:
        _write_manifest(root, manifest)


def _run_one(item: PlanItem, root, manifest, device, profile, url_prefix) -> None:
    artifact = item.artifact
    tmp_root = root / TMP_NAME
    tmp = tmp_root / f"{artifact.name}-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir(parents=True)
    device_label = device.type if device.index is None else str(device)
    figures: list[dict[str, Any]] = []
    try:
        seed_everything(artifact.seed)
        began = time.perf_counter()
        if isinstance(artifact, Notebook):
            import nbformat

            env = {DEVICE_ENV: str(device), "SNIPPETS_PROFILE": profile}
            nb = execute_notebook(artifact.path, env=env, progress=True)
            seconds = time.perf_counter() - began
            nbformat.write(nb, tmp / artifact.path.name)
        else:
            import matplotlib
            import matplotlib.pyplot as plt

            ctx = Context(
                artifact.name, tmp, device, profile, artifact.seed,
                root=root, needs=artifact.needs, url_prefix=url_prefix,
            )
            with matplotlib.rc_context():
                try:
                    artifact.func(ctx, **params_for_profile(artifact.params, profile))
                finally:
                    plt.close("all")
            seconds = time.perf_counter() - began
            ctx._write_fragments(device_label, seconds)
            figures = [dataclasses.asdict(f) for f in ctx.figures]
            if not _files(tmp):
                raise BuildError(f"{artifact.name}: the producer wrote no files")
    except BaseException as error:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(error, (KeyboardInterrupt, SystemExit, BuildError)):
            raise
        raise BuildError(f"{artifact.name} ({artifact.origin}) failed: {error!r}") from error

    target = output_path(artifact, root)
    # The old entry goes first: if the build dies between the rename and the manifest write,
    # the folder is never described by a manifest entry that does not match it.
    if manifest["artifacts"].pop(artifact.name, None) is not None:
        _write_manifest(root, manifest)
    if isinstance(artifact, Notebook):
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp / artifact.path.name, target)
        shutil.rmtree(tmp)
        files = [target.name]
    else:
        _commit_dir(tmp, target, tmp_root)
        files = _files(target)
    manifest["artifacts"][artifact.name] = {
        "kind": artifact.kind,
        "origin": _relative_origin(artifact),
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
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    _write_manifest(root, manifest)
    log.info("built %s in %.1f s (%s)", artifact.name, seconds, _count(len(files), "file"))


def _relative_origin(artifact: Artifact) -> str:
    if isinstance(artifact, Notebook):
        with contextlib.suppress(ValueError):
            return artifact.path.relative_to(_REPO).as_posix()
    return artifact.origin


def executed_notebook(
    source: Path, root: Path = DEFAULT_ROOT
) -> tuple[Path | None, str]:
    """The executed copy of the notebook ``source`` if it is up to date, and why not otherwise.

    Used by the MkDocs hook to render the executed copy. "Up to date" means the manifest's key
    for ``notebook-<stem>`` equals the key computed now under the profile it was executed with.

    Returns:
        ``(path, "")`` when fresh, else ``(None, reason)``.
    """
    notebook = Notebook(Path(source).resolve())
    entry = read_manifest(root)["artifacts"].get(notebook.name)
    target = output_path(notebook, root)
    if entry is None or not target.is_file():
        return None, "it has not been executed yet"
    key, _ = cache_key(notebook, entry.get("profile", "cpu"), {})
    if key != entry.get("key"):
        return None, "its executed copy is out of date"
    return target, ""


# --------------------------------------------------------------------------- CLI


class _TqdmHandler(logging.Handler):
    """Log lines that do not tear through progress bars."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=sys.stdout)
            sys.stdout.flush()
        except Exception:  # pragma: no cover - logging must not raise
            self.handleError(record)


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno == logging.INFO else f"{record.levelname}: "
        return f"{record.name}: {level}{record.getMessage()}"


def _list(root: Path, notebooks: Path | None, modules, device: str | None) -> None:
    _, profile = select_device(device)
    artifacts = discover(modules, notebooks)
    items = plan(root, artifacts, profile)
    width = max((len(name) for name in artifacts), default=10)
    print(f"{len(items)} artifacts, {profile} profile, output {root}")
    for item in items:
        state = "stale" if item.stale else "fresh"
        reason = f"  ({item.reason})" if item.stale else ""
        print(f"{state}  {item.artifact.name:<{width}}  {_relative_origin(item.artifact)}{reason}")


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m snippets.build [--device D] [--only N] [--force] [--list]``."""
    parser = argparse.ArgumentParser(
        prog="python -m snippets.build",
        description="Execute the stale figure/table producers and notebooks of the site.",
    )
    parser.add_argument("--device", help="cpu, cuda, cuda:N (default: $SNIPPETS_DEVICE or auto)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these artifacts (+needs)")
    parser.add_argument("--force", action="store_true", help="execute even if up to date")
    parser.add_argument("--list", action="store_true", help="list artifacts, fresh or stale")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="output folder")
    parser.add_argument("--notebooks", type=Path, default=DEFAULT_NOTEBOOKS,
                        help="folder of notebooks to execute")
    parser.add_argument("--modules", nargs="*", metavar="MODULE",
                        help=f"producer modules (default: ${MODULES_ENV} or PRODUCER_MODULES)")
    args = parser.parse_args(argv)

    if not any(isinstance(h, _TqdmHandler) for h in log.handlers):
        handler = _TqdmHandler()
        handler.setFormatter(_Formatter())
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        if args.list:
            _list(args.root, args.notebooks, args.modules, args.device)
            return 0
        build(
            root=args.root,
            notebooks=args.notebooks,
            modules=args.modules,
            only=args.only,
            force=args.force,
            device=args.device,
        )
    except BuildError as error:
        if error.__cause__ is not None:
            traceback.print_exception(error.__cause__)
        log.error("%s", error)
        return 1
    return 0


if __name__ == "__main__":
    # ``python -m`` runs this file as __main__; producers register with the importable module.
    from snippets.build import main as _main

    sys.exit(_main())
