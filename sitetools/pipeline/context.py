"""What a producer gets: where to write, the device, the seed, and the writers of its files.

This is the one pipeline module whose code shapes an artifact's bytes (PNG settings, the
figure fragment's markup), so its code is part of every producer's cache key
([`sitetools.pipeline.keys`][sitetools.pipeline.keys]).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sitetools.pipeline.registry import BuildError

FIGURE_DPI = 150


def progress(iterable=None, total=None, desc=None, **kwargs):
    """A tqdm progress bar, shown only on a terminal so that logs and CI output stay clean."""
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, dynamic_ncols=True, disable=None, **kwargs)


@dataclasses.dataclass
class Figure:
    """A figure a producer saved: its PNG or SVG, alt text and caption (for the fragment and manifest)."""

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

    Examples:
        >>> import tempfile, torch
        >>> out = Path(tempfile.mkdtemp())
        >>> ctx = Context("demo", out, torch.device("cpu"), "cpu", 0, root=out)
        >>> ctx.save_json({"b": 1, "a": [1, 2]}, "numbers.json").read_text()
        '{\\n  "a": [\\n    1,\\n    2\\n  ],\\n  "b": 1\\n}\\n'
        >>> ctx.save_table("| a |", "numbers.json")
        Traceback (most recent call last):
        ...
        ValueError: demo: file name 'numbers.json' must be a plain name ending in .md
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
        self.figures: list[Figure] = []

    def generator(self):
        """A ``torch.Generator`` on ``ctx.device`` seeded with ``ctx.seed``."""
        import torch

        return torch.Generator(device=self.device).manual_seed(self.seed)

    def progress(self, iterable=None, total=None, desc=None):
        """Wrap a long loop in a progress bar (hidden when output is not a terminal)."""
        return progress(iterable, total=total, desc=desc or self.name, leave=False)

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
        profile, seed; not the seconds, which would make every run's bytes differ: the
        pipeline prints them and the manifest keeps them); include it in a page with
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
        self.figures.append(Figure(filename, " ".join(alt.split()), caption))
        return path

    def save_svg(self, svg_text: str, filename: str, alt: str, caption: str | None = None) -> Path:
        """Save an SVG drawing plus the Markdown fragment ``<stem>.md`` that shows it.

        The same fragment as [`save_figure`][sitetools.pipeline.context.Context.save_figure]
        writes (alt text, caption ending in provenance, a link to the full-size file), for a
        picture drawn as SVG text: its words stay text, and it stays small.

        Args:
            svg_text: a standalone SVG document (checked to be well-formed XML with an
                ``<svg>`` root).
            filename: ``"<stem>.svg"``.
            alt: alt text describing what the image shows (required, non-empty).
            caption: optional caption (one line of inline Markdown: emphasis, code, math).

        Returns:
            The path of the SVG.
        """
        if not isinstance(alt, str) or not alt.strip():
            raise ValueError(f"{self.name}: save_svg({filename!r}) needs non-empty alt text")
        import xml.etree.ElementTree as ET

        try:
            root = ET.fromstring(svg_text)
        except ET.ParseError as error:
            raise ValueError(f"{self.name}: {filename!r} is not well-formed SVG: {error}") from None
        if root.tag != "{http://www.w3.org/2000/svg}svg":
            raise ValueError(
                f"{self.name}: {filename!r} must have an <svg> root in the SVG namespace, "
                f"not {root.tag!r}"
            )
        path = self._target(filename, (".svg",))
        self._target(Path(filename).stem + ".md", (".md",))
        path.write_text(svg_text, encoding="utf-8")
        caption = " ".join(caption.split()) if caption else None
        self.figures.append(Figure(filename, " ".join(alt.split()), caption))
        return path

    def save_table(self, markdown_text: str, filename: str) -> Path:
        """Write a Markdown table (or any Markdown fragment) as ``filename`` (``.md``)."""
        path = self._target(filename, (".md",))
        path.write_text(markdown_text.rstrip("\n") + "\n", encoding="utf-8")
        return path

    def save_json(self, obj: Any, filename: str, compact: bool = False) -> Path:
        """Write ``obj`` as key-sorted JSON to ``filename`` (``.json``): pretty for a person to
        read, or ``compact`` (no spaces) for data a page fetches."""
        path = self._target(filename, (".json",))
        if compact:
            text = json.dumps(obj, separators=(",", ":"), sort_keys=True)
        else:
            text = json.dumps(obj, indent=2, sort_keys=True)
        path.write_text(text + "\n", encoding="utf-8")
        return path

    def write_fragments(self, device_label: str) -> None:
        """Write each saved figure's ``<stem>.md`` fragment, its caption ending in provenance.

        The image links to its own file, so that a tap on a phone opens it full size.
        """
        provenance = f"{device_label} ({self.profile} profile), seed {self.seed}"
        for figure in self.figures:
            stem = Path(figure.filename).stem
            alt = re.sub(r"([\\\[\]])", r"\\\1", figure.alt)
            caption = f"{figure.caption} · " if figure.caption else ""
            src = f"{self._url_prefix}/{self.name}/{figure.filename}"
            # Unindented: an indented line before <figcaption> renders as a stray <br>.
            text = (
                '<figure markdown="span">\n'
                f"[![{alt}]({src}){{ loading=lazy }}]({src})\n"
                f'<figcaption markdown="span">{caption}{provenance}</figcaption>\n'
                "</figure>\n"
            )
            (self.out / f"{stem}.md").write_text(text, encoding="utf-8")
