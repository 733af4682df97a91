"""The artifact store ``docs/generated/``: manifest, atomic writes, locking, staleness, pruning.

* **Atomic.** A producer writes into ``docs/generated/.tmp/<name>-<pid>-<random>/``; only a
  finished folder is renamed to ``docs/generated/<name>/``, and the manifest is rewritten (temp
  file + ``os.replace``) after each artifact. A killed build leaves a stale ``.tmp`` entry, which
  the next run deletes, and at worst one missing (never half-written) artifact.
* **Stale** means: no manifest entry, a different key in the manifest, or a recorded output file
  missing. A run with nothing stale writes nothing (so ``mkdocs serve`` does not loop).
* **Locked.** One build per store at a time (``filelock``, on every OS).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sitetools.pipeline.registry import Artifact, Notebook

log = logging.getLogger("sitetools.pipeline")

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 2
TMP_NAME = ".tmp"
NOTEBOOKS_DIR = "notebooks"


def read_manifest(root: Path) -> dict[str, Any]:
    """The manifest at ``root/manifest.json`` (an empty one if missing, unreadable or old)."""
    path = Path(root) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {"version": MANIFEST_VERSION, "artifacts": {}}
    if data.get("version") != MANIFEST_VERSION or not isinstance(data.get("artifacts"), dict):
        return {"version": MANIFEST_VERSION, "artifacts": {}}
    return data


def write_atomic(path: Path, data: str | bytes, tmp_dir: Path) -> None:
    """Write ``path`` through a temporary file in ``tmp_dir`` and ``os.replace`` (mode 0644)."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=path.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the store is read by web servers and CI caches
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    manifest["artifacts"] = dict(sorted(manifest["artifacts"].items()))
    text = json.dumps(manifest, indent=2) + "\n"
    write_atomic(Path(root) / MANIFEST_NAME, text, Path(root) / TMP_NAME)


def output_path(artifact: Artifact, root: Path) -> Path:
    """Where an artifact lives: ``root/<name>/``, or ``root/notebooks/<stem>.ipynb``."""
    if isinstance(artifact, Notebook):
        return Path(root) / NOTEBOOKS_DIR / artifact.path.name
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


@contextlib.contextmanager
def lock(root: Path) -> Iterator[None]:
    """One build per store at a time; the lock file lives outside ``docs/``."""
    from filelock import FileLock, Timeout

    name = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:16]
    file_lock = FileLock(Path(tempfile.gettempdir()) / f"sitetools-pipeline-{name}.lock")
    try:
        file_lock.acquire(timeout=0)
    except Timeout:
        log.info("waiting for another build of %s to finish", root)
        file_lock.acquire()
    try:
        yield
    finally:
        file_lock.release()


def _owner_alive(path: Path) -> bool:
    """Whether the build that made ``<name>-<pid>-<hex>`` (or a ``.part`` file of it) still runs."""
    parts = path.name.split(".")[0].rsplit("-", 2)
    if len(parts) != 3 or not parts[1].isdigit() or int(parts[1]) == os.getpid():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers(root: Path) -> None:
    """Delete what a killed build left in ``root/.tmp`` (never the work of a build still running,
    such as one writing to the same folder under an older lock)."""
    tmp = Path(root) / TMP_NAME
    if tmp.is_dir():
        leftovers = [path for path in sorted(tmp.iterdir()) if not _owner_alive(path)]
        for path in leftovers:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        if leftovers:
            log.info("removed %d leftover temporary entries of a killed build", len(leftovers))


def commit_dir(tmp: Path, target: Path, tmp_root: Path) -> None:
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


def files_in(folder: Path) -> list[str]:
    """Every file under ``folder``, as sorted relative POSIX paths."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def prune(root: Path, manifest: dict[str, Any], defined: Iterable[str]) -> list[str]:
    """Delete stored artifacts that no producer or notebook defines any more.

    ``defined`` must be every artifact of the full registry, whatever subset a run executes:
    an artifact of a module left out of this run is still defined, and is kept.
    """
    root = Path(root)
    defined = set(defined)
    gone = [name for name in manifest["artifacts"] if name not in defined]
    for name in gone:
        entry = manifest["artifacts"].pop(name)
        path = root / entry.get("path", name)
        if path.is_dir() and path.resolve().parent == root.resolve():
            shutil.rmtree(path)
        elif path.is_file():
            path.unlink()
        log.info("removed %s: no producer or notebook defines it any more", name)
    if gone:
        write_manifest(root, manifest)
    return gone
