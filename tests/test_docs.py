"""docs/: every link between the pages resolves (file and heading), and nothing in the repository
points to design notes outside it (users do not have them)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from docs_helpers import anchors, local_links

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md"))
# references to files outside the repository that earlier versions cited
OUTSIDE = ("DESIGN" + ".md", "../" + "shared", "shared/" + "seeds")


def test_there_are_docs_pages():
    assert PAGES


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_in_docs_resolve(page):
    for target, anchor in local_links(page, ROOT):
        path = ROOT / target
        assert path.exists(), f"{page.name} links to {target}, which does not exist"
        if anchor and path.suffix == ".md":
            assert anchor in anchors(path), f"{page.name} links to {target}#{anchor}: no such heading"


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout")
def test_nothing_cites_files_outside_the_repository():
    args = ["git", "grep", "-n", "--untracked", "-F"]
    for pattern in OUTSIDE:
        args += ["-e", pattern]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stderr  # 1: no match
    assert proc.stdout == "", ("cite the docs/ page and section instead of a file users do not have:\n"
                               + proc.stdout)
