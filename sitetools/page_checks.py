"""Checks on each built page that no Markdown extension makes: they turn slips into warnings.

Run from ``on_post_page`` (sitetools/mkdocs_hooks.py) on the page's HTML; each problem is
logged as a warning naming the page file and the source line, so ``mkdocs build --strict``
fails on it:

* an image with empty or missing alt text (the browser tests check it too, later);
* an id used twice on one page (two headings with the same explicit ``{#id}``, an anchor
  that repeats a heading's id): links to it reach only the first;
* macro or include syntax left in the page outside code (``///`` at the start of a line,
  ``--8<--``): a block or an include that nothing read, now shown to readers as text;
* a formula that KaTeX cannot render (`math_problems`, run with the site's own KaTeX under
  Node.js when ``node`` is installed; the browser tests check the rendered pages as well).
"""

from __future__ import annotations

import json
import posixpath
import re
import shutil
import subprocess
from collections import Counter
from html import unescape
from pathlib import Path

_CODE = re.compile(r"<(pre|code|script|style|textarea)\b.*?</\1>", re.S | re.I)
_IMG = re.compile(r"<img\b[^>]*>", re.I)
_ALT = re.compile(r"""\balt\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)
_SRC = re.compile(r"""\bsrc\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)
_ID = re.compile(r"""\sid\s*=\s*"([^"]+)\"""")
_TAG = re.compile(r"<[^>]+>")
_COMMENT = re.compile(r"<!--.*?-->", re.S)
# Only where the syntax would have been read: a block line, or an include at a line's start
# (`;--8<--`, pymdownx.snippets' escape, shows the syntax on purpose).
_LEFTOVER = re.compile(r"^[ \t]*(/{3,}.*|--8<--[ \t]+[\"'].*)$", re.M)


def _value(match: re.Match | None) -> str:
    return "" if match is None else "".join(match.groups(default=""))


def _content(html: str) -> str:
    """The page's article, where the Markdown went (Material: between these two markers)."""
    start = html.find('<article class="md-content__inner')
    end = html.find("</article>", start)
    return html[start:end] if start != -1 and end != -1 else html


def find_problems(html: str) -> list[tuple[str, str]]:
    """(problem, text to look for in the source) for each slip in a built page's HTML.

    Examples:
        >>> page = ('<article class="md-content__inner"><h2 id="a">A</h2><p id="a">x</p>'
        ...         '<img src="f.png" alt=""><p>/// tip | T</p><pre>/// fine in code</pre>'
        ...         '</article>')
        >>> for problem, needle in find_problems(page):
        ...     print(problem, "|", needle)
        image 'f.png' has no alt text; write what it shows: ![what it shows](f.png) | f.png
        the id 'a' is used 2 times on this page; links to it reach only the first | a
        macro or include syntax left in the page as text (nothing read it): '/// tip | T' | /// tip | T
    """
    content = _content(html)
    problems = []
    for tag in _IMG.findall(content):
        if not _value(_ALT.search(tag)).strip():
            # MkDocs made the URL relative to the page's folder; show it as written.
            src = re.sub(r"^(\.\./)+", "", _value(_SRC.search(tag)))
            if src.startswith("data:"):  # a notebook's plot: name it, do not print it
                src = src[: src.find(",") + 1] + "..."
            problems.append(
                (
                    f"image '{src}' has no alt text; write what it shows: ![what it shows]({src})",
                    src,
                )
            )
    for id_, count in Counter(_ID.findall(_CODE.sub("", content))).items():
        if count > 1:
            problems.append(
                (
                    f"the id '{id_}' is used {count} times on this page; links to it reach only the first",
                    id_,
                )
            )
    text = unescape(_TAG.sub("\n", _CODE.sub("", _COMMENT.sub("", content))))
    for match in _LEFTOVER.finditer(text):
        leftover = match.group(1).strip()
        problems.append(
            (
                f"macro or include syntax left in the page as text (nothing read it): '{leftover}'",
                leftover,
            )
        )
    return problems


def source_line(source: str, needle: str) -> int:
    r"""The 1-based line of ``source`` that holds ``needle`` (or its first word), else 1.

    An id is looked for as ``{#id`` and ``id="id"`` first, so that the word elsewhere in the
    text does not answer.

    Examples:
        >>> source_line("Cost matters.\n\n## Cost {#cost}\n", "cost")
        3
    """
    for candidate in (
        "{#" + needle,
        f'id="{needle}"',
        needle,
        needle.split()[0] if needle.split() else needle,
    ):
        index = source.find(candidate)
        if candidate and index != -1:
            return source.count("\n", 0, index) + 1
    return 1


def link_line(page: Path, link: str) -> int | None:
    r"""The 1-based line of the page's source where ``link`` is written as a link target, or None.

    Examples:
        >>> import tempfile
        >>> page = Path(tempfile.mkdtemp()) / "p.md"
        >>> _ = page.write_text("# P\n\nSee [x](lesson.md) and ![a plot](loss.png).\n")
        >>> link_line(page, "lesson.md"), link_line(page, "loss.png"), link_line(page, "nope.md")
        (3, 3, None)
    """
    try:
        source = page.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    for candidate in (f"]({link}", f"]: {link}", f'="{link}"', link):
        index = source.find(candidate)
        if index != -1:
            return source.count("\n", 0, index) + 1
    return None


_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")


def code_free_lines(source: str) -> list[tuple[int, str]]:
    r"""(1-based line number, line) of the Markdown ``source`` outside fenced code, inline code blanked.

    Examples:
        >>> code_free_lines("a `<img>` b\n```html\n<img src=x>\n```\nc")
        [(1, 'a  b'), (5, 'c')]
    """
    kept, fence = [], None
    for number, line in enumerate(source.split("\n"), start=1):
        marker = _FENCE.match(line)
        if fence is not None:
            closes = marker and not line.strip().strip(fence[0])
            if closes and marker.group(1)[0] == fence[0] and len(marker.group(1)) >= len(fence):
                fence = None
            continue
        if marker:
            fence = marker.group(1)
            continue
        kept.append((number, re.sub(r"(`+).+?\1", "", line)))
    return kept


_MATH = re.compile(r'<(span|div) class="arithmatex">(.*?)</\1>', re.S)
_DELIMITED = re.compile(r"^\\([(\[])(.*)\\[)\]]$", re.S)
KATEX_CHECK = Path(__file__).with_name("katex_check.js")


def math_problems(html: str, katex_js: Path) -> list[tuple[str, str]] | None:
    """(problem, formula) for each formula of the page that KaTeX cannot render; None without node.

    The formulas are the ones pymdownx.arithmatex marked; each is rendered by the site's own
    ``katex.min.js`` under Node.js, as the browser would render it, so a typo in a command or an
    unbalanced brace stops the build instead of showing red text to readers.
    """
    formulas = []
    for match in _MATH.finditer(_content(html)):
        text = unescape(match.group(2)).strip()
        delimited = _DELIMITED.match(text)
        tex = delimited.group(2) if delimited else text
        display = match.group(1) == "div" or (delimited is not None and delimited.group(1) == "[")
        formulas.append({"tex": tex, "display": display})
    if not formulas:
        return []
    node = shutil.which("node")
    if node is None:
        return None
    result = subprocess.run(
        [node, str(KATEX_CHECK), str(katex_js)],
        input=json.dumps(formulas),
        capture_output=True,
        text=True,
        check=True,
    )
    errors = json.loads(result.stdout)
    return [
        (
            f"KaTeX cannot render the formula '{formula['tex'].strip()}': "
            f"{error.removeprefix('KaTeX parse error: ').split(' at position')[0]}",
            formula["tex"].strip(),
        )
        for formula, error in zip(formulas, errors, strict=True)
        if error
    ]


_LINK = re.compile(r"""<(a|img)\b[^>]*?\b(href|src)\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)
_ANY_ID = re.compile(r"""\s(?:id|name)\s*=\s*["']([^"']+)["']""")
_URL_SCHEME = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.I)


def source_of(page: Path, site: Path, docs: Path) -> Path | None:
    """The Markdown file a built page came from (directory URLs), or None.

    ``site/x/index.html`` comes from ``docs/x.md`` or ``docs/x/index.md``; ``site/index.html``
    from ``docs/index.md``; ``site/x.html`` (no directory URLs) from ``docs/x.md``.

    Examples:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> for name in ("docs/index.md", "docs/a.md", "docs/b/index.md"):
        ...     (root / name).parent.mkdir(parents=True, exist_ok=True)
        ...     _ = (root / name).write_text("# x")
        >>> for built in ("index.html", "a/index.html", "b/index.html", "c/index.html"):
        ...     found = source_of(root / "site" / built, root / "site", root / "docs")
        ...     print(built, "<-", found and found.relative_to(root).as_posix())
        index.html <- docs/index.md
        a/index.html <- docs/a.md
        b/index.html <- docs/b/index.md
        c/index.html <- None
    """
    relative = page.relative_to(site)
    folder = relative.parent
    if relative.name == "index.html":
        candidates = [docs / folder / "index.md", docs / folder / "README.md"]
        if folder.parts:
            candidates.insert(0, docs / folder.parent / f"{folder.name}.md")
    else:
        candidates = [docs / relative.with_suffix(".md")]
    return next((path for path in candidates if path.is_file()), None)


def _ids(page: Path, cache: dict[Path, set[str]]) -> set[str]:
    if page not in cache:
        try:
            cache[page] = set(_ANY_ID.findall(page.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError):
            cache[page] = set()
    return cache[page]


def link_problems(
    html: str, page: Path, site: Path, ids: dict | None = None
) -> list[tuple[str, str]]:
    """(problem, link as written) for each link or image of the page's article that leads nowhere.

    MkDocs' own validation reports these from the Markdown; Zensical reports none of them, so
    the site-folder check (:func:`check_site`) looks at the built HTML instead: an absolute
    link (``/x``: it breaks when the site is served from a sub-path), a relative link or image
    whose target is not in the site folder, and an anchor that the target page does not have.
    """
    ids = {} if ids is None else ids
    problems = []
    for match in _LINK.finditer(_CODE.sub("", _content(html))):
        url = unescape(match.group(3) if match.group(3) is not None else match.group(4) or "")
        if not url or _URL_SCHEME.match(url):
            continue
        if url.startswith("/"):
            problems.append((f"absolute link '{url}': write it relative to the page", url))
            continue
        path, _, fragment = url.partition("#")
        path = path.split("?")[0]
        target = Path(posixpath.normpath((page.parent / path).as_posix())) if path else page
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file() or not target.resolve().is_relative_to(site.resolve()):
            kind = "image" if match.group(1).lower() == "img" else "link"
            # The builder rewrote the link (other.md -> ../other/): look for its last name.
            needle = re.sub(r"^(?:\.\./|\./)+", "", path).rstrip("/").removesuffix(".html")
            problems.append((f"{kind} '{url}' points to nothing in the built site", needle or url))
        elif fragment and target.suffix == ".html" and fragment not in _ids(target, ids):
            problems.append((f"link '{url}': no anchor '#{fragment}' on that page", fragment))
    return problems


def check_site(site: Path, docs: Path, katex_js: Path | None = None) -> list[tuple[Path, int, str]]:
    """(source file, line, problem) for every page problem of a built site folder.

    Works on any builder's output (MkDocs, Zensical): each ``*.html`` page that comes from a
    Markdown file of ``docs`` (:func:`source_of`) gets :func:`find_problems`,
    :func:`link_problems` and, when ``katex_js`` is given and Node.js is installed,
    :func:`math_problems`; the line is found in the source with :func:`source_line`.
    """
    site, docs = Path(site), Path(docs)
    found = []
    ids: dict[Path, set[str]] = {}
    for page in sorted(site.rglob("*.html")):
        source = source_of(page, site, docs)
        if source is None:
            continue  # the 404 page, the theme's own files
        html = page.read_text(encoding="utf-8")
        problems = find_problems(html) + link_problems(html, page, site, ids)
        if katex_js is not None and Path(katex_js).is_file():
            problems += math_problems(html, Path(katex_js).resolve()) or []
        if problems:
            text = source.read_text(encoding="utf-8-sig")
            for problem, needle in problems:
                # A Markdown link's target is found where it is written as one first.
                written = f"]({needle}" if f"]({needle}" in text else needle
                found.append((source, source_line(text, written), problem))
    return found
