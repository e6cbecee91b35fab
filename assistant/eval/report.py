"""The eval's table (for people) and JSON (for scripts and comparisons between models)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from assistant.eval.runner import ScenarioScore

__all__ = ["COLUMNS", "summary", "table", "to_json"]

#: The table's columns: heading and what it shows.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("scenario", "the scenario's name"),
    ("result", "pass, FAIL, or n/a (not meant for this backend)"),
    ("scoping", "the brief's expected slots filled"),
    ("design", "recommend_method's first design (✓ as expected, ✗ not)"),
    ("calls", "expected calls made, and forbidden calls (!) made"),
    ("schema", "tool calls refused for their arguments or not offered"),
    ("retry", "calls repeated after an error"),
    ("loop", "repeated calls, round limits, malformed-argument stops"),
    ("numbers", "numbers no tool or user gave"),
    ("claims", "conclusions no tool result backs"),
    ("turns", "user messages"),
    ("~tokens", "tokens sent and received, estimated from characters (- for the guided mode)"),
    ("s", "wall time in seconds"),
)


def _row(score: ScenarioScore) -> list[str]:
    if not score.ran:
        return [score.scenario, "n/a", *["-"] * (len(COLUMNS) - 2)]
    if score.design_expected is None:
        design = score.design or "-"
    else:
        design = f"{score.design or 'none'} {'✓' if score.design == score.design_expected else '✗'}"
    expected = score.calls_missing
    calls = "ok" if not expected else f"{len(expected)} missing"
    if score.calls_forbidden:
        calls += f" !{len(score.calls_forbidden)}"
    return [
        score.scenario,
        "pass" if score.passed else "FAIL",
        f"{score.slots_filled}/{score.slots_expected}",
        design,
        calls,
        str(score.schema_errors),
        str(score.retries),
        str(score.loops),
        str(len(score.unverified_numbers)),
        str(len(score.claims)),
        str(score.turns),
        f"{score.tokens:,}" if score.sent_chars else "-",
        f"{score.seconds:.1f}",
    ]


def table(scores: Sequence[ScenarioScore]) -> str:
    """A plain-text table, one row per scenario, then a line per failed scenario saying why."""
    rows = [[heading for heading, _ in COLUMNS], *(_row(s) for s in scores)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines.append("")
    lines.append(summary(scores))
    for score in scores:
        if score.ran and not score.passed:
            lines.append(f"- {score.scenario}: " + "; ".join(score.problems) + f" (stopped: {score.stopped})")
    return "\n".join(lines)


def summary(scores: Sequence[ScenarioScore]) -> str:
    """One line: how many scenarios passed, of those run, and the totals that matter most."""
    ran = [s for s in scores if s.ran]
    passed = sum(s.passed for s in ran)
    backend = scores[0].backend if scores else "-"
    numbers = sum(len(s.unverified_numbers) for s in ran)
    claims = sum(len(s.claims) for s in ran)
    skipped = len(scores) - len(ran)
    also = f", {skipped} not meant for it" if skipped else ""
    return (
        f"{backend}: {passed} of {len(ran)} scenarios passed{also}; {numbers} unverified number(s), "
        f"{claims} unsupported claim(s), {sum(s.schema_errors for s in ran)} schema error(s)."
    )


def to_json(scores: Sequence[ScenarioScore], *, transcripts: bool = True) -> str:
    """Every score with its problems (and, by default, its transcript), as JSON."""
    payload: dict[str, Any] = {
        "backend": scores[0].backend if scores else None,
        "summary": summary(scores),
        "scenarios": [s.as_dict(transcript=transcripts) for s in scores],
    }
    return json.dumps(payload, ensure_ascii=False, indent=2)
