"""The documentation pages, shipped inside the package (``zenws docs TOPIC``).

The pages live once in git, in the repository's ``docs/`` folder; the build copies them into
the package (``zenws/docs/*.md``, see ``setup.py``), so that every reference zenws prints
(``zenws docs errors#close-1006``) resolves for someone who only ran ``pip install``.  In a
source checkout they are read from ``docs/`` directly.

A reference is ``TOPIC`` or ``TOPIC#ANCHOR``: the topic is the page's file name without
``.md`` (``errors``), the anchor an ``<a id="...">`` in the page or the slug of a heading.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TextIO

from .._missing import source_checkout

__all__ = ["DocsError", "anchors", "docs_dir", "find", "page", "ref", "section", "topics"]

_ANCHOR = re.compile(r'<a id="([^"]+)"></a>')
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


class DocsError(LookupError):
    """An unknown topic or anchor; ``choices`` lists what exists."""

    def __init__(self, message: str, choices: list[str]) -> None:
        super().__init__(message)
        self.choices = choices


def ref(topic: str, anchor: str = "") -> str:
    """The command that prints a page or one of its sections.

    Args:
        topic: page name, e.g. ``"errors"``.
        anchor: section anchor, e.g. ``"close-1006"``.

    Returns:
        e.g. ``"zenws docs errors#close-1006"``.
    """
    return f"zenws docs {topic}#{anchor}" if anchor else f"zenws docs {topic}"


def docs_dir() -> Path | None:
    """Where the pages are: inside the package, or ``docs/`` of a source checkout."""
    shipped = Path(__file__).resolve().parent.parent / "docs"
    if shipped.is_dir() and any(shipped.glob("*.md")):
        return shipped
    root = source_checkout()
    if root is not None and (root / "docs").is_dir():
        return root / "docs"
    return None


def topics() -> dict[str, str]:
    """Every page: topic name -> its title (first heading)."""
    where = docs_dir()
    if where is None:
        return {}
    out = {}
    for path in sorted(where.glob("*.md")):
        title = next(
            (m.group(2) for m in map(_HEADING.match, _lines(path)) if m is not None), path.stem
        )
        out[path.stem] = title
    return out


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _topic(name: str) -> str:
    """Accept ``errors``, ``errors.md`` and ``docs/errors.md``."""
    name = name.strip().removeprefix("docs/").removesuffix(".md")
    return name.lower()


def find(reference: str) -> tuple[str, str]:
    """Resolve ``TOPIC[#ANCHOR]`` to (topic, anchor), checking both exist.

    Raises:
        DocsError: the topic or the anchor does not exist.
    """
    name, _, anchor = reference.partition("#")
    topic = _topic(name)
    pages = topics()
    if topic not in pages:
        raise DocsError(f"no documentation topic {name!r}", sorted(pages))
    if anchor:
        known = anchors(topic)
        if anchor not in known:
            raise DocsError(f"{topic} has no section {anchor!r}", sorted(known))
    return topic, anchor


def page(topic: str) -> str:
    """The text of a page (``topic`` as returned by :func:`find`)."""
    where = docs_dir()
    assert where is not None
    return (where / f"{topic}.md").read_text(encoding="utf-8")


def _slug(title: str) -> str:
    # GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.
    text = re.sub(r"[^\w\- ]", "", title.lower().replace("`", ""))
    return text.replace(" ", "-")


def _outline(topic: str) -> list[tuple[int, int, set[str]]]:
    """(line index, heading level, anchors) for every heading outside code blocks."""
    lines = page(topic).splitlines()
    out: list[tuple[int, int, set[str]]] = []
    pending: set[str] = set()
    fenced = False
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        pending.update(_ANCHOR.findall(line))
        m = _HEADING.match(line)
        if m is not None:
            out.append((i, len(m.group(1)), {*pending, _slug(m.group(2))}))
            pending = set()
    return out


def anchors(topic: str) -> set[str]:
    """Every anchor of a page: ``<a id>`` tags and heading slugs."""
    return {a for _, _, names in _outline(topic) for a in names}


def section(topic: str, anchor: str = "") -> str:
    """A whole page, or the section an anchor names (up to the next heading of its level).

    Raises:
        DocsError: the anchor does not exist.
    """
    text = page(topic)
    if not anchor:
        return text
    lines = text.splitlines()
    outline = _outline(topic)
    for n, (start, level, names) in enumerate(outline):
        if anchor in names:
            end = next((i for i, lv, _ in outline[n + 1 :] if lv <= level), len(lines))
            body = lines[start:end]
            while body and (not body[-1].strip() or _ANCHOR.fullmatch(body[-1].strip())):
                body.pop()  # the next section's anchor tag
            return "\n".join(body) + "\n"
    raise DocsError(f"{topic} has no section {anchor!r}", sorted(anchors(topic)))


def docs_command(topic: str | None, out: TextIO) -> int:
    """``zenws docs [TOPIC[#ANCHOR]]``: list the pages, or print one page or section."""
    from .base import EXIT_OK, EXIT_USAGE, CliError

    pages = topics()
    if not pages:
        raise CliError(
            "the documentation pages are not installed with this copy of zenws",
            hint="reinstall the package: pip install --force-reinstall zenws",
        )
    if not topic:
        width = max(map(len, pages))
        print("zenws docs TOPIC prints a page; TOPIC#ANCHOR one section of it.\n", file=out)
        for name, title in pages.items():
            print(f"  {name:<{width}}  {title}", file=out)
        return EXIT_OK
    try:
        name, anchor = find(topic)
    except DocsError as exc:
        import difflib

        wanted = topic.partition("#")[2] if "#" in topic else topic
        close = difflib.get_close_matches(wanted, exc.choices, n=3, cutoff=0.5)
        if close:
            hint = "did you mean " + " or ".join(close) + "?"
        elif "#" in topic:
            hint = f"`zenws docs {topic.partition('#')[0]}` prints the whole page"
        else:
            hint = "`zenws docs` lists the topics"
        raise CliError(str(exc), EXIT_USAGE, hint=hint) from None
    out.write(section(name, anchor))
    return EXIT_OK
