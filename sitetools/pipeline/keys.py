"""Cache keys: what can change an artifact, and nothing else.

A producer's key is a SHA-256 over its name, parameters, profile, seed, the keys of the artifacts
it needs, and the *code* of every module it uses: the module that defines it and, transitively,
every ``snippets`` and ``artifacts`` module those import (found by parsing ``import`` statements,
without importing anything). Code means the syntax tree without docstrings: comments, docstrings
and formatting do not change a key, so a docstring edit in ``snippets/dit.py`` retrains nothing.
The one piece of pipeline code that shapes an artifact's bytes, the writers in
``sitetools/pipeline/context.py``, is part of every key the same way, so no version number has
to be bumped by hand when it changes. A notebook's key is the same over its code cells.

Examples:
    >>> code_digest("x = 1  # one") == code_digest("'Doc.'\\nx = 1")
    True
    >>> code_digest("x = 1") == code_digest("x = 2")
    False
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib.util
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sitetools.pipeline.registry import (
    KERNEL_ENV,
    PROFILES,
    Artifact,
    Notebook,
    find_spec,
    params_for_profile,
)

TRACKED_PACKAGES = ("snippets", "artifacts")
"""Top-level packages whose modules count as inputs of an artifact."""
WRITER_MODULE = "sitetools.pipeline.context"
"""The pipeline module whose code shapes an artifact's files (figure and fragment writers)."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest(*parts: Any) -> str:
    """SHA-256 over length-prefixed parts, so that ("ab", "c") and ("a", "bc") differ."""
    h = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else json.dumps(part, sort_keys=True).encode()
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            first = body[0].value if body and isinstance(body[0], ast.Expr) else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def code_digest(source: str) -> str:
    """SHA-256 of Python source as code: docstrings, comments and layout do not count."""
    tree = _without_docstrings(ast.parse(source))
    return sha256(ast.dump(tree, include_attributes=False).encode())


class SourceIndex:
    """Maps module names to source files and finds the tracked modules a module imports.

    Paths come from the import system, but no module is imported to find them: a package's
    submodules are looked up as files under its ``submodule_search_locations``.

    Args:
        tracked: top-level package names whose modules count as inputs.

    Examples:
        >>> index = SourceIndex()
        >>> index.path("snippets.dit").name
        'dit.py'
        >>> sorted(index.imports("snippets.mmdit"))[:2]
        ['snippets', 'snippets.attention']
    """

    def __init__(self, tracked: Iterable[str] = TRACKED_PACKAGES) -> None:
        self.tracked = set(tracked)
        self._paths: dict[str, Path | None] = {}
        self._imports: dict[str, set[str]] = {}
        self._digests: dict[str, str | None] = {}

    def path(self, module: str) -> Path | None:
        """The source file of ``module`` (``__init__.py`` for a package), or None."""
        if module not in self._paths:
            self._paths[module] = self._locate(module)
        return self._paths[module]

    def _locate(self, module: str) -> Path | None:
        head, _, rest = module.partition(".")
        spec = find_spec(head)
        if spec is None:
            return None
        if not rest:
            if spec.origin and spec.has_location:
                return Path(spec.origin)
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

    def code_digest(self, module: str) -> str | None:
        """[`code_digest`][sitetools.pipeline.keys.code_digest] of the module's file, or None."""
        if module not in self._digests:
            path = self.path(module)
            self._digests[module] = code_digest(path.read_text("utf-8")) if path else None
        return self._digests[module]

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

        Examples:
            >>> sorted(SourceIndex().imports_in_source("import json\\nfrom snippets import dit"))
            ['snippets', 'snippets.dit']
        """
        names: set[str] = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    if not package:
                        continue
                    try:
                        target = importlib.util.resolve_name(
                            "." * node.level + (node.module or ""), package
                        )
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
        """``roots`` and every tracked module they import, transitively, with code digests.

        A module that cannot be found maps to None (so creating it later changes the key).
        """
        result: dict[str, str | None] = {}
        todo = list(roots)
        while todo:
            module = todo.pop()
            if module in result:
                continue
            result[module] = self.code_digest(module)
            if result[module] is not None:
                todo.extend(self.imports(module))
        return dict(sorted(result.items()))


def code_cells(path: Path) -> list[str]:
    """The sources of a notebook's code cells, in order (what its outputs depend on)."""
    notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    cells = []
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            cells.append("".join(source) if isinstance(source, list) else source)
    return cells


def notebook_imports(path: Path, index: SourceIndex) -> set[str]:
    """Tracked modules imported by the code cells of the notebook at ``path``.

    Cells are parsed with ``ast`` after dropping IPython magics and shell lines; a cell that still
    does not parse falls back to matching ``import``/``from`` lines.
    """
    found: set[str] = set()
    for source in code_cells(path):
        if source.lstrip().startswith("%%"):
            continue
        lines = [
            "" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()
        ]
        try:
            found |= index.imports_in_source("\n".join(lines))
        except SyntaxError:
            plain = "\n".join(
                line.strip()
                for line in lines
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
        artifact: a [`Producer`][sitetools.pipeline.registry.Producer] or
            [`Notebook`][sitetools.pipeline.registry.Notebook].
        profile: ``"cpu"`` or ``"gpu"``.
        dep_keys: the cache keys of the artifacts it needs.
        index: a [`SourceIndex`][sitetools.pipeline.keys.SourceIndex] shared across artifacts.

    Returns:
        ``(key, inputs)``: the hex SHA-256 key and a JSON-able record of its inputs (module
        digests, params) for the manifest.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    index = index or SourceIndex()
    writers = SourceIndex(()).code_digest(WRITER_MODULE)
    if isinstance(artifact, Notebook):
        cells = code_cells(artifact.path)
        modules = index.closure(notebook_imports(artifact.path, index))
        inputs = {
            "source_sha256": sha256(artifact.path.read_bytes()),
            "code_sha256": digest(cells),
            "modules": modules,
            "params": {},
        }
        key = digest("notebook", artifact.name, cells, modules, profile, KERNEL_ENV)
        return key, inputs
    if artifact.module.split(".")[0] not in index.tracked:
        index = SourceIndex(index.tracked | {artifact.module.split(".")[0]})
    modules = index.closure([artifact.module])
    params = params_for_profile(artifact.params, profile)
    deps = {name: dep_keys[name] for name in sorted(artifact.needs)}
    key = digest("producer", writers, artifact.name, modules, params, profile, artifact.seed, deps)
    return key, {"modules": modules, "params": params}
