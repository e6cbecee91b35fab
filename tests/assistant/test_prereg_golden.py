"""Golden pre-registration documents: the example briefs (and a partial one) rendered byte for byte.

Regenerate after a deliberate change with one command, then review the diff by eye:
    .venv/bin/python examples/generate_prereg.py --golden
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType

import pytest

from assistant.prereg import PlanDocument, verify
from assistant.prereg.render import render

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "fixtures" / "prereg"


def generator() -> ModuleType:
    """examples/generate_prereg.py as a module (it builds the golden documents with a fixed clock)."""
    name = "whyscope_generate_prereg"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / "generate_prereg.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def example(name: str) -> PlanDocument:
    """The frozen golden document of examples/briefs/<name>.json."""
    document: PlanDocument = generator().golden_document(ROOT / "examples" / "briefs" / f"{name}.json")
    return document


@pytest.fixture(scope="module")
def golden() -> dict[Path, str]:
    files: dict[Path, str] = generator().golden_files()
    return files


def test_every_golden_document_matches_byte_for_byte(golden: dict[Path, str]) -> None:
    assert len(golden) == 18  # five example briefs and the partial one, in three formats
    for path, text in golden.items():
        assert path.exists(), f"{path.name} missing: run examples/generate_prereg.py --golden"
        assert path.read_text(encoding="utf-8") == text, f"{path.name} changed: regenerate and review the diff"


def test_no_stray_golden_files(golden: dict[Path, str]) -> None:
    on_disk = {p for p in GOLDEN.iterdir() if p.suffix in (".md", ".html", ".json") and p.name != "partial_brief.json"}
    on_disk -= {GOLDEN / "write_prereg_schema.json"}
    assert on_disk == set(golden)


def test_the_examples_are_complete_and_the_partial_brief_says_how_far_it_is() -> None:
    for name in ("ai_feature_ab", "cluster_rollout", "staggered_rollout", "agent_mode_opt_in", "paywall_cutoff"):
        completeness = example(name).prereg.completeness
        assert (completeness.complete, completeness.applicable, completeness.missing) == (21, 21, 0), name
    partial = generator().golden_document(GOLDEN / "partial_brief.json").prereg.completeness
    assert (partial.complete, partial.unconfirmed, partial.missing, partial.applicable) == (4, 3, 14, 21)
    text = (GOLDEN / "partial.md").read_text(encoding="utf-8")
    assert "Completeness: 4 of 21 items complete (3 unconfirmed, 14 missing)." in text
    assert "Not ready to register" in text


class _Strict(HTMLParser):
    """Records every start and end tag, to check nesting."""

    VOID = frozenset({"meta", "br", "hr", "img", "link", "input"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


@pytest.mark.parametrize(
    "name", ["ai_feature_ab", "cluster_rollout", "staggered_rollout", "agent_mode_opt_in", "paywall_cutoff", "partial"]
)
def test_html_is_standalone_well_formed_and_escaped(name: str) -> None:
    text = (GOLDEN / f"{name}.html").read_text(encoding="utf-8")
    root = ET.fromstring(text.split("\n", 1)[1])  # well-formed XML after the doctype
    assert root.tag == "html" and root.find("head/title") is not None
    assert not root.findall(".//script") and not root.findall(".//link") and "src=" not in text  # standalone
    parser = _Strict()
    parser.feed(text)
    parser.close()
    assert parser.errors == [] and parser.stack == [] and parser.scripts == 0


def test_user_text_is_escaped_in_html_and_kept_literal_in_markdown_tables() -> None:
    html = (GOLDEN / "partial.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;CSAT&quot;" in html
    assert "<script>" not in html and "&lt;long&gt;" in html
    markdown = (GOLDEN / "partial.md").read_text(encoding="utf-8")
    assert re.search(r"(?<!\\)<", markdown) is None  # every '<' escaped: no raw HTML for any renderer
    assert "\\<script>alert(1)\\</script>" in markdown
    table = markdown.split("### Where each answer comes from")[1]
    assert all(line.count("|") - line.count("\\|") == 6 for line in table.splitlines() if line.startswith("| "))


def test_json_is_the_machine_readable_plan_and_its_hash_verifies() -> None:
    document = example("ai_feature_ab")
    text = render(document, "json")
    loaded = PlanDocument.model_validate_json(text)
    assert loaded == document and verify(loaded)
    assert json.loads(text)["freeze"] == {
        "frozen_at": "2026-01-15T09:30:00Z",
        "content_hash": document.freeze.content_hash if document.freeze else None,
        "software": {"whyscope": "golden"},
    }
