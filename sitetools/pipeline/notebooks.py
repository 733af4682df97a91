"""Notebooks: execute them in a fresh kernel, and reuse outputs when only Markdown changed.

A notebook's cache key covers its code cells only
([`cache_key`][sitetools.pipeline.keys.cache_key]). When a Markdown cell changes, the outputs
stored in the executed copy are merged into the current notebook, cell by cell, and written as
the new executed copy: the page re-renders without executing anything.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from sitetools.pipeline.context import progress
from sitetools.pipeline.keys import cache_key, sha256
from sitetools.pipeline.registry import KERNEL_ENV, BuildError, Notebook
from sitetools.pipeline.store import TMP_NAME, output_path, read_manifest, write_atomic

NOTEBOOK_CELL_TIMEOUT = 900  # seconds per cell


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
    show_progress: bool = False,
):
    """Execute the notebook at ``path`` in a fresh kernel; return the executed ``NotebookNode``.

    The kernel runs in the notebook's folder with ``sys.executable``. A failing cell raises
    [`BuildError`][sitetools.pipeline.registry.BuildError] naming the notebook and the cell (its
    number among all cells, from 1).
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    code_cells = sum(cell.cell_type == "code" for cell in nb.cells)
    bar = progress(total=code_cells, desc=path.stem, leave=False) if show_progress else None
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
        client.execute(env={**os.environ, **KERNEL_ENV, "PYTHONHASHSEED": "0", **(env or {})})
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


def merge_outputs(source, executed):
    """The notebook ``source`` with the outputs of ``executed``, whose code cells are the same.

    Examples:
        >>> import nbformat
        >>> new = nbformat.v4.new_notebook(cells=[
        ...     nbformat.v4.new_markdown_cell("new text"), nbformat.v4.new_code_cell("1")])
        >>> old = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1", execution_count=1,
        ...     outputs=[nbformat.v4.new_output("execute_result", {"text/plain": "1"})])])
        >>> merged = merge_outputs(new, old)
        >>> merged.cells[0].source, merged.cells[1].outputs[0]["data"]["text/plain"]
        ('new text', '1')
    """
    import copy

    merged = copy.deepcopy(source)
    old = [cell for cell in executed.cells if cell.cell_type == "code"]
    new = [cell for cell in merged.cells if cell.cell_type == "code"]
    if [c.source for c in old] != [c.source for c in new]:
        raise ValueError("the code cells differ: the notebook must be executed again")
    for target, done in zip(new, old):
        target["outputs"] = done.get("outputs", [])
        target["execution_count"] = done.get("execution_count")
    return merged


def refresh_markdown(artifact: Notebook, root: Path, entry: dict) -> bool:
    """Bring the executed copy's Markdown up to date from the source without executing.

    Returns True when the copy was rewritten (the source's bytes changed, its code did not).
    """
    import nbformat

    target = output_path(artifact, root)
    if entry.get("source_sha256") == sha256(artifact.path.read_bytes()) or not target.is_file():
        return False
    merged = merge_outputs(
        nbformat.read(artifact.path, as_version=4), nbformat.read(target, as_version=4)
    )
    write_atomic(target, nbformat.writes(merged) + "\n", Path(root) / TMP_NAME)
    entry["source_sha256"] = sha256(artifact.path.read_bytes())
    return True


def executed_notebook(source: Path, root: Path) -> tuple[Path | None, str]:
    """The executed copy of the notebook ``source`` if it is up to date, and why not otherwise.

    Used by the MkDocs hook to render the executed copy. "Up to date" means the manifest's key
    for ``notebook-<stem>`` equals the key computed now (code cells) under the profile it was
    executed with, and the copy's Markdown matches the source's.

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
    if entry.get("source_sha256") != sha256(notebook.path.read_bytes()):
        return None, "its Markdown changed since the executed copy was written"
    return target, ""
