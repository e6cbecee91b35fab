"""Regenerate the pre-registration documents in examples/prereg/ from the brief files in examples/briefs/.

    .venv/bin/python examples/generate_prereg.py            # examples/prereg/<brief>.{md,html,json}
    .venv/bin/python examples/generate_prereg.py --golden   # also tests/fixtures/prereg/ (the golden documents)
    .venv/bin/python examples/generate_prereg.py --golden paywall_cutoff   # only the briefs named

Each brief file holds the scoped brief, the study plan and the power request; the power tool runs when the
document is built, so every number in it comes from the tool. The example documents carry the real time of
freezing and the installed software versions; the golden documents a fixed clock and fixed versions, so that
tests/assistant/test_prereg_golden.py can compare them byte for byte. Review the diff after regenerating.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.prereg.files import build_document, load_source  # noqa: E402
from assistant.prereg.models import PlanDocument  # noqa: E402
from assistant.prereg.render import FORMATS, render  # noqa: E402

BRIEFS = ROOT / "examples" / "briefs"
EXAMPLES = ROOT / "examples" / "prereg"
GOLDEN = ROOT / "tests" / "fixtures" / "prereg"
EXAMPLE_NAMES = ("ai_feature_ab", "cluster_rollout", "staggered_rollout", "agent_mode_opt_in", "paywall_cutoff")
#: A partial brief: the golden test of completeness reporting (kept beside the golden documents).
PARTIAL = GOLDEN / "partial_brief.json"
GOLDEN_TIME = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
GOLDEN_SOFTWARE = {"whyscope": "golden"}


def golden_document(brief: Path) -> PlanDocument:
    """The document of a brief file as the golden tests build it (fixed clock and software)."""
    return build_document(load_source(brief), clock=lambda: GOLDEN_TIME, software=GOLDEN_SOFTWARE)


def golden_files(names: tuple[str, ...] = EXAMPLE_NAMES, *, partial: bool = True) -> dict[Path, str]:
    """Every golden file (of the briefs named, and the partial brief's) and its expected text."""
    files: dict[Path, str] = {}
    for name in names:
        document = golden_document(BRIEFS / f"{name}.json")
        for fmt in FORMATS:
            files[GOLDEN / f"{name}.{fmt}"] = render(document, fmt)
    if partial:
        document = golden_document(PARTIAL)
        for fmt in FORMATS:
            files[GOLDEN / f"partial.{fmt}"] = render(document, fmt)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--golden", action="store_true", help="also regenerate tests/fixtures/prereg/")
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"only these briefs: {', '.join(EXAMPLE_NAMES)}")
    args = parser.parse_args(argv)
    if unknown := sorted(set(args.names) - set(EXAMPLE_NAMES)):
        parser.error(f"no example brief named {', '.join(unknown)}")
    names = tuple(args.names) or EXAMPLE_NAMES
    EXAMPLES.mkdir(parents=True, exist_ok=True)
    for name in names:
        document = build_document(load_source(BRIEFS / f"{name}.json"))
        for fmt in FORMATS:
            (EXAMPLES / f"{name}.{fmt}").write_text(render(document, fmt), encoding="utf-8")
        print(f"examples/prereg/{name}.*: {document.prereg.completeness.sentence()}")  # noqa: T201
    if args.golden:
        for path, text in golden_files(names, partial=not args.names).items():
            path.write_text(text, encoding="utf-8")
            print(f"{path.relative_to(ROOT)}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
