"""A small SVG writer for the lessons' architecture diagrams: boxes, wrapped text, arrows.

The diagrams are drawn from the teaching code's configurations (each producer reads the numbers
it draws), so a layout must adapt to the words it is given: [`Svg.box`][artifacts.svg.Svg.box]
wraps text to the box's width, measured with DejaVu Sans (matplotlib ships it, and it is wider
than Helvetica, Arial or Roboto, so text measured with it fits in whichever of them a reader's
browser picks).

Every picture is a light card of its own (white, like the PNG figures), so it reads the same in
Material's light and dark schemes; the text is real ``<text>`` (selectable when the SVG is
opened), with ``<title>`` and ``<desc>`` for screen readers. Diagrams are laid out for a phone:
at most [`WIDTH`][artifacts.svg.WIDTH] units wide, and [`Svg`][artifacts.svg.Svg] refuses a
font size that would render below 10 CSS px in a 390 px wide screen's text column.

Examples:
    >>> svg = Svg("Demo", "One box with two lines.")
    >>> bottom = svg.box(10, 10, 200, [("A box", "bold"), "with a line of text"], colour="blue")
    >>> bottom > 10
    True
    >>> import xml.etree.ElementTree as ET
    >>> root = ET.fromstring(svg.render(bottom + 10))
    >>> root.get("role"), [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    ('img', ['A box', 'with a line of text'])
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from artifacts.plotting import PALETTE

WIDTH = 420
"""The widest diagram, in SVG units."""
SCALE = 1.25
"""CSS px per SVG unit on a wide screen (the SVG's own size); a phone scales it to its column."""
PHONE_COLUMN = 358
"""CSS px of Material's text column on a 390 px wide phone (0.8 rem margins at 20 px)."""
MIN_CSS_PX = 10
"""The smallest text size a diagram may render at on that phone."""
FONT = "Helvetica, Arial, 'Liberation Sans', Roboto, 'DejaVu Sans', sans-serif"
INK = "#1a1a1a"
MUTED = "#4d4d4d"
CARD = "#ffffff"
LINE = 1.2  # line height as a multiple of the font size
PAD = 8  # inner padding of a box

# Text colours dark enough for small text on a white card (contrast >= 4.5:1), one per palette hue.
DARK = {
    "blue": "#005a8c",
    "vermillion": "#a84300",
    "green": "#00664a",
    "orange": "#8a5a00",
    "purple": "#8c3d6e",
    "sky": "#1f6d99",
    "grey": "#4d4d4d",
}


def tint(colour: str, amount: float) -> str:
    """``colour`` (``#rrggbb``) mixed with white: ``amount`` 0 is white, 1 the colour itself.

    Examples:
        >>> tint("#0072B2", 0.0), tint("#0072B2", 1.0)
        ('#ffffff', '#0072b2')
    """
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(255 - (255 - c) * amount):02x}" for c in rgb)


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Width of ``text`` at ``size`` px in DejaVu Sans (an upper bound for common sans fonts).

    Examples:
        >>> text_width("iiii", 12) < text_width("MMMM", 12)
        True
    """
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    prop = FontProperties(family="DejaVu Sans", size=size, weight="bold" if bold else "normal")
    return text_to_path.get_text_width_height_descent(text, prop, ismath=False)[0]


def baseline(top: float, size: float) -> float:
    """The baseline of a line of text whose line box (``size * LINE`` tall) starts at ``top``."""
    return top + size * (LINE - 1) / 2 + 0.8 * size


def keep(text: str) -> str:
    """``text`` with no-break spaces, so that [`wrap`][artifacts.svg.wrap] keeps it on one line.

    Examples:
        >>> wrap(keep("1280 → 320"), 10, 12)
        ['1280\xa0→\xa0320']
    """
    return text.replace(" ", "\u00a0")


def wrap(text: str, width: float, size: float, bold: bool = False) -> list[str]:
    """Break ``text`` at spaces into lines no wider than ``width`` (a longer word stands alone).

    No-break spaces (``keep``) do not break.

    Examples:
        >>> wrap("one two three four", 60, 12)
        ['one two', 'three four']
    """
    lines: list[str] = []
    for word in filter(None, text.split(" ")):  # only plain spaces: see ``keep``
        if lines and text_width(f"{lines[-1]} {word}", size, bold) <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines


class Svg:
    """A diagram being drawn: elements in paint order, rendered as one standalone SVG.

    Args:
        title: short name of the picture (the SVG's ``<title>``).
        desc: what the picture shows, in words (the SVG's ``<desc>``; use the alt text).
        width: width in SVG units, at most [`WIDTH`][artifacts.svg.WIDTH].
    """

    def __init__(self, title: str, desc: str, width: int = WIDTH):
        if width > WIDTH:
            raise ValueError(
                f"a diagram is at most {WIDTH} wide (got {width}): it must fit a phone"
            )
        self.title, self.desc, self.width = title, desc, width
        self._elements: list[str] = []

    @property
    def min_size(self) -> float:
        """The smallest font size that renders at ``MIN_CSS_PX`` or more on a 390 px phone."""
        return MIN_CSS_PX * self.width / PHONE_COLUMN

    def _check_size(self, size: float) -> None:
        if size < self.min_size - 1e-9:
            raise ValueError(
                f"font size {size} renders below {MIN_CSS_PX} CSS px on a phone "
                f"(at least {self.min_size:.1f} for a diagram {self.width} wide)"
            )

    def rect(self, x, y, w, h, *, fill, stroke, rx=6, dash=None, stroke_width=1.5) -> None:
        """A rectangle with rounded corners."""
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self._elements.append(
            f'<rect x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" rx="{rx:g}" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="{stroke_width:g}"{extra}/>'
        )

    def text(self, x, y, text, *, size=13, bold=False, colour=INK, anchor="start") -> None:
        """One line of text whose baseline is at ``y``."""
        self._check_size(size)
        weight = ' font-weight="bold"' if bold else ""
        anchor_attr = f' text-anchor="{anchor}"' if anchor != "start" else ""
        self._elements.append(
            f'<text x="{x:g}" y="{y:g}" font-size="{size:g}"{weight}{anchor_attr} '
            f'fill="{colour}">{escape(text)}</text>'
        )

    def paragraph(self, x, y, text, width, *, size=13, bold=False, colour=INK, anchor="start"):
        """Wrapped text whose first line's top is at ``y``; returns the y below its last line."""
        for line in wrap(text, width, size, bold):
            self.text(
                x, baseline(y, size), line, size=size, bold=bold, colour=colour, anchor=anchor
            )
            y += size * LINE
        return y

    @staticmethod
    def box_height(w, lines, size=13) -> float:
        """The height [`box`][artifacts.svg.Svg.box] gives ``lines`` in a box ``w`` wide."""
        n = 0
        for item in lines:
            text, style = (item, "") if isinstance(item, str) else item
            n += len(wrap(text, w - 2 * PAD, size, style == "bold"))
        return n * size * LINE + 2 * PAD

    def box(
        self, x, y, w, lines, *, colour="grey", fill=None, dash=None, size=13, height=0
    ) -> float:
        """A box sized to its wrapped text; returns the y of its bottom edge.

        Args:
            x, y, w: left, top and width.
            lines: strings, or ``(text, style)`` pairs with style ``"bold"``, ``"muted"``,
                ``"accent"`` (the box's colour, darkened for text) or a key of ``DARK``.
            colour: a key of ``PALETTE``: the border, a light tint of it the fill.
            fill: override the fill.
            dash: a dash pattern for the border (e.g. ``"4 3"``).
            size: font size of the lines.
            height: the least height (to line up boxes side by side).
        """
        texts = []
        top = y + PAD
        for item in lines:
            text, style = (item, "") if isinstance(item, str) else item
            bold = style == "bold"
            tone = {"muted": MUTED, "accent": DARK[colour], **DARK}.get(style, INK)
            for line in wrap(text, w - 2 * PAD, size, bold):
                texts.append((line, baseline(top, size), bold, tone))
                top += size * LINE
        bottom = max(top + PAD, y + height)
        fill = fill or tint(PALETTE[colour], 0.12)
        self.rect(x, y, w, bottom - y, fill=fill, stroke=PALETTE[colour], dash=dash)
        for line, base, bold, tone in texts:
            self.text(x + PAD, base, line, size=size, bold=bold, colour=tone)
        return bottom

    def arrow(self, points, *, colour=MUTED, width=1.5, dash=None, head=True) -> None:
        """A polyline through ``points`` ``[(x, y), ...]``, with an arrowhead at the last point.

        ``colour`` is ``#rrggbb`` (one arrowhead marker is defined per colour used)."""
        marker = f' marker-end="url(#head-{colour.lstrip("#")})"' if head else ""
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        path = " ".join(f"{x:g},{y:g}" for x, y in points)
        self._elements.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="{width:g}" '
            f'stroke-linejoin="round"{extra}{marker}/>'
        )

    def render(self, height: float) -> str:
        """The standalone SVG document: a white card ``self.width`` x ``height``."""
        height = round(height)
        heads = [e.split("url(#head-")[1] for e in self._elements if "url(#head-" in e]
        colours = sorted({head.split(")")[0] for head in heads})
        markers = "".join(
            f'<marker id="head-{c}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
            f'fill="#{c}"/></marker>'
            for c in colours
        )
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width * SCALE:g}" '
            f'height="{height * SCALE:g}" '
            f'viewBox="0 0 {self.width} {height}" role="img" aria-labelledby="title desc" '
            f"font-family={quoteattr(FONT)}>\n"
            f'<title id="title">{escape(self.title)}</title>\n'
            f'<desc id="desc">{escape(self.desc)}</desc>\n'
            f"<defs>{markers}</defs>\n"
            f'<rect width="{self.width}" height="{height}" rx="10" fill="{CARD}" stroke="#d0d0d0"/>\n'
            + "\n".join(self._elements)
            + "\n</svg>\n"
        )
