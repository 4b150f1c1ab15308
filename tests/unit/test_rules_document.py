"""docs/rules.md is where a reader following a rule id or a reference lands: every R1–R16 has its
section, and every `docs/rules.md#…` reference in the repository leads to a section that exists.
The repository stands on its own: nothing refers the reader to a document outside it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docs" / "rules.md"
SUFFIXES = {".py", ".md", ".html", ".toml", ".sh", ".txt", ".cfg", ".yml", ".yaml", ""}
REFERENCE = re.compile(r"docs/rules\.md#([A-Za-z0-9_-]+)")
SKIPPED = {"__pycache__", "node_modules", "build", "dist"}


def repository_files() -> list[Path]:
    """The text files a reader of the repository meets (hidden folders, environments and the results
    of benchmark runs left out)."""
    tops = [t for t in sorted(ROOT.iterdir()) if not t.name.startswith(".")]  # never walk .venv or .git
    found = []
    for path in (p for t in tops for p in ([t] if t.is_file() else sorted(t.rglob("*")))):
        parts = path.relative_to(ROOT).parts
        if any(p.startswith(".") or p in SKIPPED or p.endswith(".egg-info") for p in parts):
            continue
        if parts[:2] == ("bench", "results") or not path.is_file() or path.suffix not in SUFFIXES:
            continue
        found.append(path)
    return found


def slug(heading: str) -> str:
    """The anchor a Markdown renderer gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    explicit = set(re.findall(r'<a id="([^"]+)"></a>', markdown))
    headings = {slug(h) for h in re.findall(r"^#{1,6} (.+)$", markdown, flags=re.M)}
    return explicit | headings


def test_the_heading_anchor_is_what_a_markdown_renderer_makes() -> None:
    assert slug("Commands and events") == "commands-and-events"
    assert slug("R9 — five staff") == "r9--five-staff"
    assert slug("Write-time") == "write-time"


@pytest.mark.parametrize("rule", [f"R{n}" for n in range(1, 17)])
def test_every_rule_has_its_own_section_in_docs_rules(rule: str) -> None:
    text = RULES.read_text(encoding="utf-8")
    assert rule.lower() in anchors(text)
    assert re.search(rf"^### {rule} — \S", text, flags=re.M), f"no heading for {rule}"


def test_the_decisions_have_a_subsection_for_each_kind() -> None:
    found = anchors(RULES.read_text(encoding="utf-8"))
    kinds = ("writes", "reads", "time", "codes", "security", "evidence", "interfaces")
    assert {f"decisions-{k}" for k in kinds} <= found


def test_every_link_within_docs_rules_leads_to_a_section_of_it() -> None:
    text = RULES.read_text(encoding="utf-8")
    targets = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert targets, "the table of contents links to the sections"
    assert targets <= anchors(text), targets - anchors(text)


def test_every_reference_to_a_section_of_docs_rules_in_the_repository_exists() -> None:
    known = anchors(RULES.read_text(encoding="utf-8"))
    broken = [
        f"{path.relative_to(ROOT)}: #{anchor}"
        for path in repository_files()
        for anchor in REFERENCE.findall(path.read_text(encoding="utf-8", errors="replace"))
        if anchor not in known
    ]
    assert broken == []


def test_nothing_in_the_repository_refers_the_reader_to_a_document_outside_it() -> None:
    outside = re.compile("|".join([re.escape("../" + "shared/"), "SP" + "EC §"]))
    work = re.compile(r"\b[Ii]ss" + r"ue [0-9]+")
    found = []
    for path in repository_files():
        in_tests = path.relative_to(ROOT).parts[0] == "tests"
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            if outside.search(line) or (not in_tests and work.search(line)):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert found == []
