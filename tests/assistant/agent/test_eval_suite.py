"""Issue 25, done when: ``whyscope eval --offline`` (the guided baseline) passes every scenario it is meant to, and
the shipped suite covers every registered tool and the main failure modes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.eval.scenario import load_scenarios
from tools.registry import tool_names

#: The failure modes the suite must exercise (words in a scenario's ``covers``).
FAILURE_MODES = ("peeking", "not_identifiable", "bad_column", "insists", "interference", "own_export")


def test_the_suite_covers_every_tool_and_the_main_failure_modes() -> None:
    scenarios = load_scenarios()
    assert len(scenarios) >= 20
    expected_calls = {call.tool for s in scenarios for call in s.expect.call}
    missing = [name for name in tool_names() if name not in expected_calls]
    assert not missing, f"no scenario expects a call to {missing}"
    covered = {word for s in scenarios for word in s.covers}
    assert set(FAILURE_MODES) <= covered, sorted(set(FAILURE_MODES) - covered)
    assert any(s.expect.prereg_complete for s in scenarios)  # a pre-registration written to the end
    assert sum(s.guided for s in scenarios) >= 0.8 * len(scenarios)  # the baseline is meant to pass most of them


@pytest.mark.slow
def test_the_guided_baseline_passes_every_scenario_it_is_meant_to(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "guided.json"
    code = main(["eval", "--offline", "--json", str(report)])
    printed = capsys.readouterr()
    assert code == 0, printed.out
    saved = json.loads(report.read_text(encoding="utf-8"))
    ran = [s for s in saved["scenarios"] if s["ran"]]
    assert ran and all(s["passed"] for s in ran), printed.out
    assert all(s["unverified_numbers"] == [] and s["claims"] == [] for s in ran)
    assert {s["scenario"] for s in ran} == {s.name for s in load_scenarios() if s.guided}
    assert "guided: " in printed.out and " scenarios passed" in printed.out
