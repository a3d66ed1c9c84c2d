"""Every relative link in the README and docs/ leads somewhere: the file exists and its #anchor is one of its headings.

The README's GRPOformer section links into docs/ for every detail it leaves out; a moved or renamed heading would
otherwise leave readers at the top of a 900-line page without anyone noticing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def github_anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation other than '-' and '_' dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors_of(page: Path) -> set[str]:
    text = _FENCE.sub("", page.read_text())
    return {github_anchor(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.M)}


def relative_links(page: Path) -> list[str]:
    text = _FENCE.sub("", page.read_text())
    return [link for link in _LINK.findall(text) if not re.match(r"[a-z]+:", link)]


def test_the_anchor_rule_matches_github_on_a_heading_of_this_repo():
    assert (github_anchor("Choosing among the policy's candidates: a density ratio (the default agent since 2026-11-27)")
            == "choosing-among-the-policys-candidates-a-density-ratio-the-default-agent-since-2026-11-27")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_reach_a_file_and_a_heading(page: Path):
    links = relative_links(page)
    broken = []
    for link in links:
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        shown = os.path.relpath(target, ROOT)  # a link can point outside the repository
        if not target.exists():
            broken.append(f"{link}: no file {shown}")
        elif anchor and target.suffix == ".md" and anchor not in anchors_of(target):
            broken.append(f"{link}: no heading with anchor #{anchor} in {shown}")
    assert not broken, f"{page.name} has broken links (fix the link or the heading):\n" + "\n".join(broken)
