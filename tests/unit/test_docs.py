"""The project documents itself: nothing refers to a design file outside the repository, and every
relative link of the README leads to a file that exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _tracked() -> list[Path]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / name for name in listed.stdout.splitlines() if (ROOT / name).is_file()]


def test_nothing_points_to_a_design_file_outside_the_repository() -> None:
    this = Path(__file__).resolve()
    mentions = [
        str(path.relative_to(ROOT))
        for path in _tracked()
        if path.suffix in (".py", ".md", ".yaml", ".json", ".txt", "") and path.resolve() != this
        if "DESIGN.md" in path.read_text(errors="replace")
    ]
    assert mentions == []


def test_the_readmes_relative_links_lead_somewhere() -> None:
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(((?!https?://|#)[^)#]+)(?:#[^)]*)?\)", readme)
    assert "docs/retain-semantics.md" in links
    assert [link for link in links if not (ROOT / link).exists()] == []


def test_the_retain_semantics_page_links_back_to_the_readme() -> None:
    page = (ROOT / "docs" / "retain-semantics.md").read_text()
    assert "](../README.md#how-retain-mode-decides)" in page
    assert "## How retain mode decides" in (ROOT / "README.md").read_text()
