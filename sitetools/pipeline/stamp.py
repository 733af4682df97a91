"""Nothing changed since the last complete run? Then say so without importing a producer.

Deciding staleness exactly means importing every producer module, and with them torch, to read
their names, parameters and needs: about three seconds on a warm ``mkdocs build`` that then
executes nothing. After a complete run (every artifact of the default registry fresh), the
runner stores a *stamp* in the manifest: a digest of the bytes of every file that can change an
artifact (the ``snippets`` and ``artifacts`` sources, the pipeline's own code, the notebooks)
and of the profile. The next run computes the stamp from the files alone; when it matches and every
recorded output is on disk, nothing is stale and nothing is imported.

Any difference, even a docstring edit that changes no key, falls back to the exact plan, which
may then find everything fresh. Every run that writes the manifest drops the stamp unless it
ends with every artifact fresh for the sources it started from, so an artifact built from an
edit that was later undone, or on another device, is never covered by an older stamp. A subset run (``--only``, ``--modules``, ``$SNIPPETS_PRODUCER_MODULES``)
neither writes nor uses the stamp. The profile comes from the requested device; ``auto`` is
known to be the CPU only when the machine has no NVIDIA driver, otherwise only torch can tell.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sitetools.pipeline.keys import TRACKED_PACKAGES, WRITER_MODULE
from sitetools.pipeline.registry import MODULES_ENV
from sitetools.pipeline.store import read_manifest

REPO = Path(__file__).resolve().parents[2]
DEVICE_ENV = "SNIPPETS_DEVICE"  # the same variable as sitetools.pipeline.runner.DEVICE_ENV
# Any sign of a GPU torch might use: NVIDIA's driver, ROCm, WSL2's GPU bridge.
GPU_DEVICES = (
    Path("/dev/nvidiactl"),
    Path("/dev/nvidia0"),
    Path("/proc/driver/nvidia"),
    Path("/dev/kfd"),
    Path("/dev/dxg"),
)


def applies(only, force: bool, modules) -> bool:
    """Whether this run covers the whole default registry (the only runs the stamp describes)."""
    return not only and not force and modules is None and os.environ.get(MODULES_ENV) is None


def profile_without_torch(requested: str | None) -> str | None:
    """The profile a run would use, when it can be told without importing torch (else None).

    Examples:
        >>> profile_without_torch("cpu")
        'cpu'
        >>> profile_without_torch("cuda") is None
        True
    """
    choice = requested or os.environ.get(DEVICE_ENV) or "auto"
    if choice == "cpu":
        return "cpu"
    if choice == "auto" and not any(path.exists() for path in GPU_DEVICES):
        return "cpu"
    return None


def source_stamp(notebooks: Path | None, profile: str) -> str:
    """SHA-256 over the profile and the path and bytes of every file that can change an artifact."""
    files = sorted(path for package in TRACKED_PACKAGES for path in (REPO / package).rglob("*.py"))
    # The whole pipeline, not only the writer module: the key recipe and staleness rules too.
    files += sorted(REPO.joinpath(*WRITER_MODULE.split(".")).parent.glob("*.py"))
    if notebooks is not None and Path(notebooks).is_dir():
        files += sorted(Path(notebooks).glob("*.ipynb"))
    h = hashlib.sha256(profile.encode())
    for path in files:
        data = path.read_bytes()
        for part in (str(path).encode(), data):
            h.update(len(part).to_bytes(8, "big"))
            h.update(part)
    return h.hexdigest()


def outputs_present(root: Path, manifest: dict) -> bool:
    for entry in manifest["artifacts"].values():
        out = Path(root) / entry["path"]
        if not out.exists():
            return False
        if out.is_dir() and not all((out / name).is_file() for name in entry.get("files", [])):
            return False
    return True


def fresh_count(root: Path, notebooks: Path | None, requested: str | None) -> int | None:
    """The number of artifacts, when the stamp shows that none is stale; else None."""
    profile = profile_without_torch(requested)
    manifest = read_manifest(root)
    stamp = manifest.get("stamp")
    if profile is None or not stamp or not manifest["artifacts"]:
        return None
    if stamp != source_stamp(notebooks, profile) or not outputs_present(root, manifest):
        return None
    return len(manifest["artifacts"])
