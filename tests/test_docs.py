"""docs/backprop/: every page is listed in the index, has a worked example
that runs as a doctest (pyproject.toml collects docs/**/*.md), and links
only to files that exist (the exact code a reader is sent to)."""

import pathlib
import re

import pytest

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs" / "backprop"
PAGES = sorted(p.name for p in DOCS.glob("*.md") if p.name != "README.md")
LINK = re.compile(r"\]\(([^)#]+)(?:#[^)]*)?\)")


def test_the_index_lists_every_page():
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    assert set(LINK.findall(index)) >= set(PAGES)
    assert len(PAGES) == 8


@pytest.mark.parametrize("page", PAGES + ["README.md"])
def test_links_resolve(page):
    text = (DOCS / page).read_text(encoding="utf-8")
    links = [t for t in LINK.findall(text) if "://" not in t]
    assert links, f"{page} links to no code"
    missing = [t for t in links if not (DOCS / t).resolve().exists()]
    assert not missing, f"{page} links to missing files: {missing}"


@pytest.mark.parametrize("page", PAGES)
def test_every_page_has_a_doctest_and_links_to_the_reference(page):
    text = (DOCS / page).read_text(encoding="utf-8")
    assert "\n>>> " in text
    assert "minialex/functions/" in text
    if page != "tower-transfer.md":          # a copy: no loop version to read
        assert "minialex/reference/" in text
