"""Markdown helpers for the docs tests: local links and the anchors GitHub gives headings."""

from __future__ import annotations

import re
from pathlib import Path

_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```.*?^```", flags=re.M | re.S)


def _prose(path: Path) -> str:
    """The file without its fenced code blocks (a link or heading inside code is not one)."""
    return _FENCE.sub("", path.read_text(encoding="utf-8"))


def local_links(path: Path, root: Path) -> list[tuple[str, str]]:
    """``(target relative to ``root``, anchor or "")`` for every link in ``path`` that is not a URL;
    a bare ``#anchor`` targets ``path`` itself."""
    out = []
    for target in _LINK.findall(_prose(path)):
        if re.match(r"^[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path.resolve()
        out.append((resolved.relative_to(root.resolve()).as_posix(), anchor))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation other than - and _ dropped, spaces to -."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(m) for m in re.findall(r"^#{1,6} (.+)$", _prose(path), flags=re.M)}
