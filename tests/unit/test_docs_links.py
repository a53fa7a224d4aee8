"""The README is a front page for users, and no link in the Markdown pages is broken.

The README stays short (everything else lives in ``docs/``), starts its quick start
with ``make demo`` then ``make test``, and every relative link of the README, ``docs/``,
``deploy/README.md`` and the root pages names a file that exists and, with ``#anchor``,
a heading of that file (GitHub's anchor rules).
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
MAX_README_LINES = 250


def _pages() -> list[Path]:
    return sorted({*REPO.glob("*.md"), *(REPO / "docs").rglob("*.md"), REPO / "deploy/README.md"})


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but ``-``/``_`` dropped,
    spaces to hyphens. Pure."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = page.read_text(encoding="utf-8")
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return {slug(m) for m in re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE)}


def broken_links(page: Path) -> list[str]:
    """The relative links of ``page`` whose file or heading does not exist."""
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists() or (
            anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved)
        ):
            broken.append(target)
    return broken


def test_slug_follows_github() -> None:
    assert slug("Where `moodstream` lives") == "where-moodstream-lives"
    assert (
        slug("A local three-node cluster (TLS, SASL_SSL)")
        == "a-local-three-node-cluster-tls-sasl_ssl"
    )


def test_no_relative_link_is_broken() -> None:
    pages = _pages()
    assert REPO / "docs" / "settings.md" in pages and REPO / "README.md" in pages
    found = {str(p.relative_to(REPO)): broken_links(p) for p in pages}
    assert {page: links for page, links in found.items() if links} == {}


def test_the_checker_sees_a_broken_link(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Top\n[ok](#top) [gone](missing.md) [bad](#nowhere) [both](gone.md#top)\n",
        encoding="utf-8",
    )
    assert broken_links(page) == ["missing.md", "#nowhere", "gone.md#top"]


def test_the_readme_is_a_short_front_page() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES


def test_the_quick_start_begins_with_make_demo_then_make_test() -> None:
    commands, fenced = [], False
    for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif fenced and line.strip() and not line.strip().startswith("#"):
            commands.append(line.strip())
    assert commands[:2] == ["make demo", "make test"]


def test_the_readme_links_every_page_of_docs() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    pages = [p.name for p in (REPO / "docs").glob("*.md")]
    assert len(pages) >= 12
    assert [name for name in pages if f"(docs/{name})" not in readme] == []


def test_the_readme_gives_the_compose_command_of_the_compose_file() -> None:
    compose = (REPO / "deploy" / "docker-compose.yml").read_text(encoding="utf-8")
    [command] = re.findall(r"^#\s+(docker compose .+?)\s*$", compose, re.MULTILINE)
    assert f"\n{command}\n" in (REPO / "README.md").read_text(encoding="utf-8")
