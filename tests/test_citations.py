"""Every local document and section that the code, the notebooks and the Markdown cite exists.

Three kinds of citation are checked in every tracked ``.py``, ``.ipynb``, ``.md``, ``.toml``
and ``.yml`` file (student notebooks included):

* sections, ``docs/paper.md §1.6`` (or a range ``§6.1–6.2``): the document exists and has a
  heading numbered so;
* Markdown links to local files, ``[text](path#anchor)``: the file exists relative to the
  citing file, and the anchor names one of its headings (GitHub's slugs);
* local documents named in text (a path ending in ``.md`` with a folder, or a capitalised
  ``NAME.md``): the file exists, relative to the repository or to the citing file.
"""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
SUFFIXES = {".py", ".ipynb", ".md", ".toml", ".yml", ".yaml", ".cff", ".txt"}

SECTION = re.compile(r"(?P<doc>[\w./-]+\.md)\s*§\s*(?P<start>\d+(?:\.\d+)*)(?:\s*[–-]\s*(?P<end>\d+(?:\.\d+)*))?")
LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
NAMED = re.compile(r"(?<![\w/.-])(?P<doc>(?:[\w-]+/)+[\w.-]+\.md|[A-Z][A-Z_]+\.md)(?![\w/])")
HEADING = re.compile(r"^(#{1,6})\s+(?P<title>.+?)\s*#*\s*$", re.MULTILINE)
NUMBERED = re.compile(r"^(?:§\s*)?(?P<number>\d+(?:\.\d+)*)\.?\s")


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / name for name in out.split("\0") if name and Path(name).suffix in SUFFIXES]


def text_of(path: Path) -> str:
    """The file's text; for a notebook, its cells' sources."""
    raw = path.read_text(encoding="utf-8")
    if path.suffix != ".ipynb":
        return raw
    return "\n\n".join("".join(cell["source"]) for cell in json.loads(raw)["cells"])


def slug(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    title = re.sub(r"[`*_]|\[([^]]*)\]\([^)]*\)", r"\1", title.strip().lower())
    return re.sub(r"[^\w\- ]", "", title).replace(" ", "-")


@cache
def headings(path: Path) -> tuple[set[str], set[str]]:
    """(section numbers, anchors) of a Markdown document's headings, code blocks left out."""
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    numbers, anchors = set(), set()
    for match in HEADING.finditer(text):
        title = match.group("title")
        anchors.add(slug(title))
        number = NUMBERED.match(title)
        if number:
            numbers.add(number.group("number"))
    return numbers, anchors


def citations(path: Path) -> list[str]:
    """Problems with what ``path`` cites, one line each."""
    text = text_of(path)
    problems = []
    for match in SECTION.finditer(text):
        doc = ROOT / match.group("doc")
        if not doc.is_file():
            problems.append(f"cites {match.group(0)!r}: {match.group('doc')} does not exist")
            continue
        numbers, _ = headings(doc)
        for key in ("start", "end"):
            if match.group(key) and match.group(key) not in numbers:
                problems.append(f"cites {match.group(0)!r}: {match.group('doc')} has no section {match.group(key)}")
    if path.suffix in (".md", ".ipynb"):
        for match in LINK.finditer(text):
            target = match.group("target")
            if re.match(r"^[a-z][\w+.-]*:", target) or target.startswith("#") and path.suffix == ".ipynb":
                continue  # a URL, or an anchor inside a notebook
            file_part, _, anchor = target.partition("#")
            doc = (path.parent / file_part).resolve() if file_part else path
            if not doc.exists():
                problems.append(f"links to {target!r}: {file_part} does not exist")
            elif anchor and doc.suffix == ".md" and anchor not in headings(doc)[1]:
                problems.append(f"links to {target!r}: {doc.relative_to(ROOT)} has no heading #{anchor}")
    for match in NAMED.finditer(text):
        name = match.group("doc")
        if not ((ROOT / name).is_file() or (path.parent / name).is_file()):
            problems.append(f"names {name!r}, which does not exist")
    return problems


FILES = [p for p in tracked_files() if p != Path(__file__)]  # this file's probes cite nothing real


def test_there_are_files_to_check() -> None:
    assert any(p.name == "paper.md" for p in FILES), "docs/paper.md is the document the code cites"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_cited_document_and_section_exists(path: Path) -> None:
    problems = citations(path)
    assert not problems, f"{path.relative_to(ROOT)}:\n  " + "\n  ".join(problems)


def test_the_checker_finds_a_missing_section_and_a_missing_document(tmp_path: Path) -> None:
    probe = tmp_path / "probe.md"
    probe.write_text("See docs/paper.md §99.9 and docs/nothing.md §1, [a](nowhere.md), and NOTES.md.\n")
    problems = " ".join(citations(probe))
    assert "no section 99.9" in problems
    assert "docs/nothing.md does not exist" in problems
    assert "nowhere.md does not exist" in problems
    assert "'NOTES.md'" in problems


def test_no_citation_of_the_private_notes() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in FILES if "paper-notes" in text_of(p)]
    assert not offenders, offenders
