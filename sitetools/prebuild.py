"""The pre-build step: write the pages that are generated, for MkDocs and Zensical alike.

``python -m sitetools.prebuild`` (run by MkDocs' ``on_pre_build`` hook after the artifact
pipeline, and by ``python -m sitetools.zensical_build``) writes real Markdown files, so both
builders read the same pages and neither needs a plugin of its own:

* ``docs/reference/``: one page per teaching module (``::: snippets.x``, rendered by
  mkdocstrings), ``SUMMARY.md`` (the section's navigation, read by literate-nav, which both
  builders support) and ``index.md``, a stub that includes the hand-written overview
  ``docs/includes/api-overview.md``.
* ``docs/notebooks/``: each executed notebook of ``docs/generated/notebooks/`` as a page
  (:func:`notebook_page`), its images, the executed ``.ipynb`` for the download button, and
  ``index.md``, a stub that includes ``docs/includes/notebooks-overview.md``.

Both folders are wholly generated and git-ignored: everything a contributor edits lives
elsewhere, and each generated page names it in its front matter (``edit_url``, used by
``docs/overrides/partials/actions.html``). A file is written only when its content changes
(``mkdocs serve`` watches ``docs/`` and would otherwise rebuild in a loop), and a file that is
no longer generated is removed.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import posixpath
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

_OFF = {"0", "false", "no", "off"}

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "snippets"
REFERENCE = "reference"
NOTEBOOKS = "notebooks"
INCLUDES = "includes"
# The folders this step owns: nothing hand-written may live in them.
OWNED = (REFERENCE, NOTEBOOKS)


class _ConfigLoader(yaml.SafeLoader):
    """A safe YAML loader that reads MkDocs' ``!ENV`` tag: the variable's value or the default."""


def _env_tag(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        names, default = [loader.construct_scalar(node)], None
    else:
        items = loader.construct_sequence(node)
        names, default = items[:-1], items[-1] if len(items) > 1 else None
        if len(items) == 1:
            names = items
    for name in names:
        if name in os.environ:
            return yaml.safe_load(os.environ[name]) if os.environ[name] else None
    return default


_ConfigLoader.add_constructor("!ENV", _env_tag)


def load_config(path: Path) -> dict:
    """mkdocs.yml as a dict (``!ENV`` resolved; Python-specific tags are not used there)."""
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_ConfigLoader) or {}


def edit_url(config: dict, root: Path, target: Path) -> str | None:
    """The absolute "edit this page" URL of ``target``, a file anywhere in the repository.

    ``edit_uri`` is relative to the docs folder (``edit/main/docs/``), so a file outside it
    (a module's source) is reached by a path relative to the docs folder.

    Examples:
        >>> config = {"repo_url": "https://github.com/o/r", "edit_uri": "edit/main/docs/"}
        >>> edit_url(config, Path("/repo"), Path("/repo/snippets/digits/data.py"))
        'https://github.com/o/r/edit/main/snippets/digits/data.py'
        >>> edit_url(config, Path("/repo"), Path("/repo/docs/includes/api-overview.md"))
        'https://github.com/o/r/edit/main/docs/includes/api-overview.md'
    """
    repo_url, edit_uri = config.get("repo_url"), config.get("edit_uri")
    if not repo_url or edit_uri is None:
        return None
    docs = Path(root) / config.get("docs_dir", "docs")
    relative = os.path.relpath(target, docs).replace(os.sep, "/")
    base = repo_url.rstrip("/") + "/" + edit_uri.strip("/") + "/"
    scheme, _, rest = base.partition("://")
    host, _, path = rest.partition("/")
    return f"{scheme}://{host}{posixpath.normpath('/' + path + relative)}"


def front_matter(**fields: Any) -> str:
    """A YAML front matter block (keys in the order given; None values left out)."""
    kept = {key: value for key, value in fields.items() if value is not None}
    body = yaml.safe_dump(kept, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{body}---\n\n"


class Writer:
    """Writes files under the owned folders only when their content changes; removes the rest."""

    def __init__(self, docs: Path, owned: Iterable[str] = OWNED) -> None:
        self.docs = Path(docs)
        self.owned = [self.docs / name for name in owned]
        self.written: set[Path] = set()
        self.changed: list[Path] = []
        self.notes: list[str] = []

    def write(self, relative: str, content: str | bytes) -> None:
        path = self.docs / relative
        if not any(path.is_relative_to(folder) for folder in self.owned):
            raise ValueError(f"{relative}: the pre-build step writes only under {OWNED}")
        data = content.encode("utf-8") if isinstance(content, str) else content
        self.written.add(path)
        if path.is_file() and path.read_bytes() == data:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # a reader (mkdocs serve) never sees half a file
        self.changed.append(path)

    def remove_stale(self) -> list[Path]:
        removed = []
        for folder in self.owned:
            if not folder.is_dir():
                continue
            for path in sorted(folder.rglob("*"), reverse=True):
                if path.is_file() and path not in self.written:
                    path.unlink()
                    removed.append(path)
                elif path.is_dir() and not any(path.iterdir()):
                    path.rmdir()
        return removed


# --------------------------------------------------------------------------------------------
# The API reference


def teaching_modules(root: Path = ROOT) -> list[str]:
    """Dotted names of every module of the teaching package, sorted."""
    import pkgutil

    found = pkgutil.walk_packages([str(Path(root) / PACKAGE)], f"{PACKAGE}.")
    return sorted(info.name for info in found if not info.ispkg)


def page_path(module: str) -> str:
    """``snippets.digits.training`` -> ``digits/training.md`` (under ``reference/``).

    Examples:
        >>> page_path("snippets.digits.training")
        'digits/training.md'
    """
    return module.removeprefix(f"{PACKAGE}.").replace(".", "/") + ".md"


def literate_nav(modules: list[str]) -> str:
    """The reference section's ``SUMMARY.md``: the overview, then the modules as a tree.

    Examples:
        >>> print(literate_nav(["snippets.dit", "snippets.digits.data"]), end="")
        * [Overview](index.md)
        * digits
            * [data](digits/data.md)
        * [dit](dit.md)
    """
    lines = ["* [Overview](index.md)"]
    opened: tuple[str, ...] = ()
    for module in sorted(modules, key=lambda name: name.split(".")[1:]):
        parts = tuple(module.split(".")[1:])
        common = 0
        while common < min(len(opened), len(parts) - 1) and opened[common] == parts[common]:
            common += 1
        for depth in range(common, len(parts) - 1):
            lines.append("    " * depth + f"* {parts[depth]}")
        opened = parts[:-1]
        lines.append("    " * (len(parts) - 1) + f"* [{parts[-1]}]({page_path(module)})")
    return "\n".join(lines) + "\n"


def include_stub(config: dict, root: Path, include: str) -> str:
    """A generated index page that shows a hand-written fragment of ``docs/includes/``."""
    docs = Path(root) / config.get("docs_dir", "docs")
    return front_matter(edit_url=edit_url(config, root, docs / INCLUDES / include)) + (
        f'--8<-- "{INCLUDES}/{include}"\n'
    )


def write_reference(writer: Writer, config: dict, root: Path) -> None:
    modules = teaching_modules(root)
    for module in modules:
        source = Path(root) / (module.replace(".", "/") + ".py")
        # The module's own heading is the page title (level 1), its members level 2.
        writer.write(
            f"{REFERENCE}/{page_path(module)}",
            front_matter(edit_url=edit_url(config, root, source))
            + f"::: {module}\n    options:\n      heading_level: 1\n",
        )
    writer.write(f"{REFERENCE}/SUMMARY.md", literate_nav(modules))
    writer.write(f"{REFERENCE}/index.md", include_stub(config, root, "api-overview.md"))


# --------------------------------------------------------------------------------------------
# Notebooks

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Links the notebooks write for the rendered site (relative to notebooks/<stem>/), such as
# ../../sdxl/#anchor: turned into links to the page's source, which both builders validate.
_SITE_LINK = re.compile(r"\]\(\.\./\.\./(?P<page>[a-z0-9][a-z0-9/_-]*?)/?(?P<anchor>#[^)\s]*)?\)")


def _text(value: str | list[str]) -> str:
    return "".join(value) if isinstance(value, list) else value


def _fence(code: str, language: str) -> str:
    """A fenced block longer than any backtick run inside ``code``."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{language}\n{code.rstrip()}\n{ticks}"


def _wrap(classes: str, body: str, prompt: str | None = None) -> str:
    """A ``<div>`` whose Markdown content md_in_html renders (both builders run it)."""
    data = f' data-prompt="{prompt}"' if prompt else ""
    return f'<div class="nb-cell {classes}"{data} markdown>\n\n{body}\n\n</div>'


def _markdown_cell(source: str) -> str:
    return _SITE_LINK.sub(lambda m: f"](../{m['page']}.md{m['anchor'] or ''})", source.strip("\n"))


def _outputs(cell: dict, number: int, stem: str, title: str, files: dict[str, bytes]) -> list[str]:
    blocks = []
    count = cell.get("execution_count")
    prompt = f"Out [{count}]:" if count else None
    for index, output in enumerate(cell.get("outputs", []), start=1):
        kind = output.get("output_type")
        if kind == "stream":
            text = _ANSI.sub("", _text(output.get("text", "")))
            classes = "nb-output nb-stderr" if output.get("name") == "stderr" else "nb-output"
            blocks.append(_wrap(classes, _fence(text, "text")))
        elif kind == "error":
            text = _ANSI.sub("", "\n".join(output.get("traceback", [])))
            text = text or f"{output.get('ename')}: {output.get('evalue')}"
            blocks.append(_wrap("nb-output nb-error", _fence(text, "text")))
        elif kind in ("display_data", "execute_result"):
            data = output.get("data", {})
            if "image/png" in data:
                name = f"{stem}/cell-{number}-output-{index}.png"
                files[name] = base64.b64decode(_text(data["image/png"]))
                alt = (output.get("metadata", {}).get("image/png", {}) or {}).get("alt") or (
                    f"Figure drawn by code cell {number} of the notebook {title}"
                )
                alt = alt.replace("]", ")").replace("[", "(")
                blocks.append(_wrap("nb-output nb-image", f"![{alt}]({name})", prompt))
            elif "text/html" in data:
                html = _text(data["text/html"]).strip()
                blocks.append(f'<div class="nb-cell nb-output nb-html">\n{html}\n</div>')
            elif "text/plain" in data:
                text = _ANSI.sub("", _text(data["text/plain"]))
                blocks.append(_wrap("nb-output", _fence(text, "text"), prompt))
    return blocks


def notebook_title(nb: dict, stem: str) -> str:
    """The notebook's first level-1 heading, else its file name."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            match = re.search(r"^#\s+(.+?)\s*#*\s*$", _text(cell.get("source", "")), re.M)
            if match:
                return match.group(1)
    return stem


def notebook_page(nb: dict, stem: str, edit: str | None) -> tuple[str, dict[str, bytes]]:
    """An executed notebook as a Markdown page, and the files it shows (relative to the page).

    Markdown cells stay as they are (math included: arithmatex reads ``$...$``); a code cell
    becomes a Python fence in an ``nb-input`` block whose ``data-prompt`` shows ``In [n]:``;
    each output becomes an ``nb-output`` block: text (stdout, ``text/plain``, tracebacks
    without their ANSI colour codes) as a text fence, stderr and errors with a class of their
    own, a PNG as an image file with alt text, HTML as it is. The front matter names the page's
    title, what a contributor edits, and the ``.ipynb`` the download button offers.
    """
    title = notebook_title(nb, stem)
    files: dict[str, bytes] = {}
    blocks = []
    number = 0
    for cell in nb.get("cells", []):
        source = _text(cell.get("source", ""))
        if cell.get("cell_type") == "markdown":
            if source.strip():
                blocks.append(_markdown_cell(source))
        elif cell.get("cell_type") == "code":
            number += 1
            count = cell.get("execution_count")
            prompt = f"In [{count if count else ' '}]:"
            if source.strip():
                blocks.append(_wrap("nb-input", _fence(source, "python"), prompt))
            blocks += _outputs(cell, number, stem, title, files)
    head = front_matter(title=title, edit_url=edit, notebook=f"{stem}.ipynb")
    return head + "\n\n".join(blocks) + "\n", files


def write_notebooks(writer: Writer, config: dict, root: Path, generated: Path, sources: Path):
    """One page per notebook of ``sources``, from its executed copy, and the index stub.

    A notebook without an up-to-date executed copy (``SNIPPETS_EXECUTE=0`` on a fresh clone, or
    a notebook edited since) is shown from its source, without outputs, and ``writer.notes``
    says why.
    """
    from sitetools.pipeline import executed_notebook

    for source in sorted(Path(sources).glob("*.ipynb")):
        executed, reason = executed_notebook(source, generated)
        if executed is None:
            writer.notes.append(f"{source.name}: {reason}; showing it without outputs")
        raw = (executed or source).read_bytes()
        page, files = notebook_page(json.loads(raw), source.stem, edit_url(config, root, source))
        writer.write(f"{NOTEBOOKS}/{source.stem}.md", page)
        for name, data in files.items():
            writer.write(f"{NOTEBOOKS}/{name}", data)
        # Next to the page's index.html (directory URLs), so the download link is relative.
        writer.write(f"{NOTEBOOKS}/{source.stem}/{source.name}", raw)
    writer.write(f"{NOTEBOOKS}/index.md", include_stub(config, root, "notebooks-overview.md"))


def execute() -> bool:
    """False when ``SNIPPETS_EXECUTE`` is 0/false/no/off: the pipeline is not run."""
    return os.environ.get("SNIPPETS_EXECUTE", "1").strip().lower() not in _OFF


def run_pipeline(root: Path, docs: Path, log) -> int:
    """Run ``python -m sitetools.pipeline`` (every stale artifact) and return its exit status.

    A subprocess, so each build imports the producers' current code, and a failing or killed
    producer cannot leave the builder's process in a strange state. ``SNIPPETS_DEVICE`` is
    passed on as ``--device``. The pipeline's log lines (stdout) are relayed to ``log`` at
    their level; stderr is inherited, so progress bars and tracebacks reach the terminal.
    Shared by MkDocs' hook and the Zensical wrapper (sitetools/zensical_build.py).
    """
    import subprocess

    command = [
        sys.executable,
        "-m",
        "sitetools.pipeline",
        "--root",
        str(Path(docs) / "generated"),
        "--notebooks",
        str(Path(root) / NOTEBOOKS),
    ]
    device = os.environ.get("SNIPPETS_DEVICE")
    if device:
        command += ["--device", device]
    process = subprocess.Popen(
        command,
        cwd=root,
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
    return process.wait()


def prebuild(config_file: Path = ROOT / "mkdocs.yml", notebooks: Path | None = None) -> Writer:
    """Write every generated page for the site configured in ``config_file``."""
    config_file = Path(config_file).resolve()
    root = config_file.parent
    config = load_config(config_file)
    docs = root / config.get("docs_dir", "docs")
    writer = Writer(docs)
    if (root / PACKAGE).is_dir():  # a project without teaching code has no API reference
        write_reference(writer, config, root)
    notebooks = Path(notebooks or root / NOTEBOOKS)
    if notebooks.is_dir():
        write_notebooks(writer, config, root, docs / "generated", notebooks)
    writer.remove_stale()
    return writer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sitetools.prebuild", description=__doc__)
    parser.add_argument("--config-file", type=Path, default=ROOT / "mkdocs.yml")
    parser.add_argument("--notebooks", type=Path, default=None, help="the notebooks' sources")
    args = parser.parse_args(argv)
    writer = prebuild(args.config_file, args.notebooks)
    for note in writer.notes:
        print(f"sitetools.prebuild: {note}")
    print(f"sitetools.prebuild: {len(writer.written)} files, {len(writer.changed)} rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
