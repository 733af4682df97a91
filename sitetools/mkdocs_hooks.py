"""MkDocs hooks (mkdocs.yml ``hooks:``): run the artifact pipeline, render executed notebooks.

* ``on_pre_build`` runs ``python -m sitetools.pipeline`` (every stale artifact) in a subprocess,
  unless ``SNIPPETS_EXECUTE=0``. A subprocess, so each build imports the producers' current
  code, and a failing or killed producer cannot leave the MkDocs process in a strange state.
  ``SNIPPETS_DEVICE`` is passed on as ``--device``. The pipeline writes nothing when nothing
  is stale, so ``mkdocs serve`` (which watches ``docs/``, ``docs/generated/`` included) does
  not rebuild in a loop.
* ``on_files`` makes mkdocs-jupyter render ``docs/generated/notebooks/<stem>.ipynb`` (the
  executed copy) for the page ``notebooks/<stem>.ipynb``: same URL, same edit link, outputs
  included. Without an up-to-date executed copy (``SNIPPETS_EXECUTE=0`` on a fresh clone, or a
  notebook edited since) the source notebook is rendered, without outputs, and the log says so.
  The executed copies themselves are not pages.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path, PurePosixPath

from mkdocs.exceptions import PluginError

log = logging.getLogger("mkdocs.hooks.sitetools")

GENERATED = "generated"
NOTEBOOKS = "notebooks"
_OFF = {"0", "false", "no", "off"}


def _execute() -> bool:
    return os.environ.get("SNIPPETS_EXECUTE", "1").strip().lower() not in _OFF


def on_pre_build(config, **kwargs) -> None:
    """Run every stale producer and notebook before MkDocs reads ``docs/``."""
    if not _execute():
        log.info("SNIPPETS_EXECUTE=0: artifact pipeline not run; using docs/generated as it is")
        return
    docs = Path(config.docs_dir)
    command = [
        sys.executable,
        "-m",
        "sitetools.pipeline",
        "--root",
        str(docs / GENERATED),
        "--notebooks",
        str(docs / NOTEBOOKS),
    ]
    device = os.environ.get("SNIPPETS_DEVICE")
    if device:
        command += ["--device", device]
    # stdout carries the pipeline's log lines (relayed through MkDocs' logger); stderr is
    # inherited so progress bars and tracebacks reach the terminal directly.
    process = subprocess.Popen(
        command,
        cwd=Path(config.config_file_path).parent,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    for line in process.stdout:
        line = line.rstrip("\n")
        if ": ERROR: " in line:
            log.error("%s", line)
        elif ": WARNING: " in line:
            log.warning("%s", line)
        elif line:
            log.info("%s", line)
    if process.wait() != 0:
        raise PluginError(
            f"sitetools.pipeline failed (exit {process.returncode}); its error is printed above"
        )


def on_files(files, config, **kwargs):
    """Render each notebook from its executed copy; drop the copies from the page list."""
    from sitetools import pipeline as build

    docs = Path(config.docs_dir)
    root = docs / GENERATED
    for file in list(files):
        uri = PurePosixPath(file.src_uri)
        if uri.parts[:2] == (GENERATED, NOTEBOOKS) or uri.parts[:2] == (GENERATED, build.TMP_NAME):
            files.remove(file)
    for file in files:
        uri = PurePosixPath(file.src_uri)
        if uri.parent != PurePosixPath(NOTEBOOKS) or uri.suffix != ".ipynb":
            continue
        executed, reason = build.executed_notebook(docs / uri, root)
        if executed is not None:
            # mkdocs-jupyter converts abs_src_path; src_uri (URL, edit link) stays the source's.
            file.abs_src_path = str(executed)
        elif _execute():
            log.warning("%s: %s; rendering it without outputs", file.src_uri, reason)
        else:
            log.info("%s: %s; rendering it without outputs", file.src_uri, reason)
    return files
