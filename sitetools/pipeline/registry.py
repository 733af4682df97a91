"""Which artifacts exist: producers registered with ``@producer``, and notebooks.

A *producer* is a plain function in a module under the ``artifacts`` package, registered with
[`producer`][sitetools.pipeline.registry.producer]; a *notebook* is a ``.ipynb`` in
``notebooks/``. [`discover`][sitetools.pipeline.registry.discover] imports the producer
modules and returns every artifact, each after the ones it ``needs``.

Examples:
    >>> params_for_profile({"cpu": {"size": 32}, "gpu": {"size": 64}}, "gpu")
    {'size': 64}
    >>> params_for_profile({"size": 32}, "gpu")
    {'size': 32}
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import graphlib
import importlib
import importlib.util
import inspect
import json
import logging
import os
import pkgutil
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger("sitetools.pipeline")

PRODUCER_PACKAGE = "artifacts"
"""The package whose modules hold the ``@producer`` functions that make up the site's artifacts."""
MODULES_ENV = "SNIPPETS_PRODUCER_MODULES"  # comma-separated: run only these producer modules
PROFILES = ("cpu", "gpu")
NOTEBOOK_PREFIX = "notebook-"
_NAME = re.compile(r"[a-z0-9][a-z0-9-]*\Z")


class BuildError(RuntimeError):
    """A producer failed, a name is unknown, or the registry is inconsistent."""


@dataclasses.dataclass(frozen=True)
class Producer:
    """A registered producer function (see [`producer`][sitetools.pipeline.registry.producer])."""

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


KERNEL_ENV = {
    "TQDM_DISABLE": "1",
    "PYTHONWARNINGS": "ignore:IProgress not found",
    "TRANSFORMERS_VERBOSITY": "error",
    "DIFFUSERS_VERBOSITY": "error",
}
"""The kernel's environment keeps library chatter out of the outputs the site shows: progress
bars (tqdm, diffusers' pipelines), tqdm's note that it found no widgets, and transformers' and
diffusers' warnings about optional backends. A reader running the notebook still sees them. Part of every notebook's
cache key."""


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
    return (
        bool(params)
        and set(params) <= set(PROFILES)
        and all(isinstance(value, dict) for value in params.values())
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
    [`Context`][sitetools.pipeline.context.Context]; it writes its files with
    ``ctx.save_figure`` / ``ctx.save_table`` / ``ctx.save_json`` (or into ``ctx.out``). Any module
    under the ``artifacts`` package is found by the pipeline; nothing else needs registering.

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
        >>> [p.params for p in registered() if p.name == "doc-example"]
        [{'cpu': {'n': 2}, 'gpu': {'n': 8}}]
        >>> producer("Bad Name")
        Traceback (most recent call last):
        ...
        ValueError: producer name 'Bad Name': use lowercase letters, digits and hyphens (not 'notebooks' or 'notebook-...')
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
            p
            for p in _REGISTERED
            if (p.module, p.func.__qualname__) != (entry.module, func.__qualname__)
        ]
        _REGISTERED.append(entry)
        return func

    return register


def registered() -> list[Producer]:
    """Every producer registered so far in this process, in registration order."""
    return list(_REGISTERED)


def find_spec(name: str):
    """``importlib.util.find_spec`` that answers None instead of raising for a missing parent."""
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


def all_producer_modules() -> tuple[str, ...]:
    """Every module of the ``artifacts`` package, sorted (listing imports none of them).

    Examples:
        >>> "artifacts.diffusion_transformers.scaling" in all_producer_modules()
        True
    """
    spec = find_spec(PRODUCER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return ()
    found = pkgutil.walk_packages(spec.submodule_search_locations, PRODUCER_PACKAGE + ".")
    return tuple(sorted(info.name for info in found))


def declared_artifacts() -> dict[str, str]:
    """Artifact name -> producer module, read from the sources under ``artifacts/`` (imports none).

    For messages about a name that a run does not know: which module defines it, or which
    declared names are closest to a typo.

    Examples:
        >>> declared_artifacts()["dit-scaling"]
        'artifacts.diffusion_transformers.scaling'
    """
    spec = find_spec(PRODUCER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return {}
    found: dict[str, str] = {}
    for location in spec.submodule_search_locations:
        for path in sorted(Path(location).rglob("*.py")):
            relative = path.relative_to(location).with_suffix("")
            module = ".".join((PRODUCER_PACKAGE, *relative.parts))
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (OSError, SyntaxError, UnicodeDecodeError):
                continue  # importing it reports the problem properly
            for node in ast.walk(tree):
                called = getattr(node, "func", None)
                name = getattr(called, "id", getattr(called, "attr", None))
                if isinstance(node, ast.Call) and name == "producer" and node.args:
                    first = node.args[0]
                    if isinstance(first, ast.Constant) and isinstance(first.value, str):
                        found.setdefault(first.value, module)
    return found


def producer_modules() -> tuple[str, ...]:
    """The producer modules a run imports: ``$SNIPPETS_PRODUCER_MODULES``, else all of them."""
    override = os.environ.get(MODULES_ENV)
    if override is not None:
        return tuple(m.strip() for m in override.split(",") if m.strip())
    return all_producer_modules()


def discover(
    modules: Iterable[str] | None = None, notebooks: Path | None = None
) -> dict[str, Artifact]:
    """Import the producer modules and list every artifact, dependencies first.

    A module that does not exist, or fails to import, raises.

    Args:
        modules: module names; default [`producer_modules`][sitetools.pipeline.registry.producer_modules].
        notebooks: folder whose ``*.ipynb`` become ``notebook-<stem>`` artifacts; None for none.

    Returns:
        Artifacts by name, in an order where every artifact comes after what it needs.

    Examples:
        >>> discover(modules=[], notebooks=None)
        {}
    """
    modules = tuple(producer_modules() if modules is None else modules)
    imported = []
    for module in modules:
        if find_spec(module) is None:
            close = difflib.get_close_matches(module, all_producer_modules(), n=1)
            hint = f"did you mean '{close[0]}'?" if close else "see --list for the artifacts"
            raise BuildError(
                f"producer module '{module}' does not exist (named by --modules or "
                f"${MODULES_ENV}); {hint}"
            )
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
            if not _NAME.match(path.stem):
                raise BuildError(f"{path}: notebook names are lowercase, digits and hyphens")
            notebook = Notebook(path.resolve())
            artifacts[notebook.name] = notebook
    return dependency_order(artifacts)


def dependency_order(artifacts: dict[str, Artifact]) -> dict[str, Artifact]:
    """``artifacts`` reordered so that each comes after what it needs (ties: name order).

    Examples:
        >>> a = Producer("a", print, {}, ("b",), 0)
        >>> b = Producer("b", print, {}, (), 0)
        >>> list(dependency_order({"a": a, "b": b}))
        ['b', 'a']
    """
    for name, artifact in artifacts.items():
        for need in artifact.needs:
            if need not in artifacts:
                raise BuildError(f"artifact {name!r} needs {need!r}, {_where_defined(need)}")
    sorter = graphlib.TopologicalSorter({name: a.needs for name, a in artifacts.items()})
    try:
        sorter.prepare()
    except graphlib.CycleError as error:
        cycle = list(reversed(error.args[1]))
        raise BuildError(f"dependency cycle: {' -> '.join(cycle)}") from None
    ordered: dict[str, Artifact] = {}
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        for name in ready:
            ordered[name] = artifacts[name]
        sorter.done(*ready)
    return ordered


def _where_defined(name: str) -> str:
    """The end of a "needs X" message: which module to add to the run, or the nearest names."""
    declared = declared_artifacts()
    if name in declared:
        return (
            f"which is made in {declared[name]}, a producer module this run does not import: "
            f"add {declared[name]} to --modules (or ${MODULES_ENV})"
        )
    close = difflib.get_close_matches(name, list(declared), n=3)
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    return f"which no producer module defines{hint}"
