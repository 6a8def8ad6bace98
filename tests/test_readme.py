"""The README is a front page: short, its Python example runs, its summary sample is real output,
and every docs page it links to exists.

Front-page rule: the whole README.md is the front page (everything longer lives under docs/), so
the whole file must stay within FRONT_PAGE_MAX_LINES lines.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from docs_helpers import anchors, local_links

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FRONT_PAGE_MAX_LINES = 150


def _text() -> str:
    return README.read_text(encoding="utf-8")


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.M | re.S)


def test_front_page_is_short():
    n = len(_text().splitlines())
    assert n <= FRONT_PAGE_MAX_LINES, f"README.md has {n} lines; move sections to docs/ (max {FRONT_PAGE_MAX_LINES})"


def test_readme_python_example_runs(tmp_path, monkeypatch):
    blocks = _python_blocks(_text())
    assert blocks, "the README has no ```python block"
    monkeypatch.setenv("REPRO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    for i, code in enumerate(blocks):
        script = tmp_path / f"readme_example_{i}.py"
        script.write_text(code, encoding="utf-8")
        proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, f"README python block {i} failed:\n{proc.stdout}\n{proc.stderr}"
    left = {p.name for p in tmp_path.iterdir()} - {f"readme_example_{i}.py" for i in range(len(blocks))}
    assert left <= {"cache"}, f"the example left files behind: {sorted(left)}"


def test_readme_links_to_docs_pages_that_exist():
    links = local_links(README, ROOT)
    docs = {target for target, _ in links if target.startswith("docs/") and target.endswith(".md")}
    assert docs, "the README links to no docs/*.md page"
    for target, anchor in links:
        path = ROOT / target
        assert path.is_file(), f"README links to {target}, which does not exist"
        if anchor and path.suffix == ".md":
            assert anchor in anchors(path), f"README links to {target}#{anchor}: no such heading"


def test_readme_links_every_docs_page():
    linked = {target for target, _ in local_links(README, ROOT)}
    pages = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert pages <= linked, f"docs pages the README does not link: {sorted(pages - linked)}"


def test_summary_sample_is_copied_from_the_committed_report():
    """The README's quoted report summary is real output: each quoted line is a line of the report
    named in the paragraph just above the quote."""
    text = _text()
    match = re.search(r"((?:^[^\n>][^\n]*\n)+)\n((?:^> [^\n]*\n)+)", text, flags=re.M)
    assert match, "the README has no quoted report summary"
    intro, quote = match.groups()
    named = re.findall(r"`(audits/[^`]+/report\.md)`", intro)
    assert named, f"the paragraph above the quote names no audits/.../report.md:\n{intro}"
    report = (ROOT / named[0]).read_text(encoding="utf-8").splitlines()
    for line in quote.splitlines():
        assert line[2:] in report, f"not a line of {named[0]} (regenerated? copy its summary again):\n{line[2:]}"
