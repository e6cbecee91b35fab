"""`whyscope prereg BRIEF.json` and `whyscope tool run ab_test --plan plan.json`, driven in-process."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from assistant.cli import main
from tests.assistant.test_prereg_golden import ROOT

BRIEF = ROOT / "examples" / "briefs" / "ai_feature_ab.json"
DATA = ROOT / "examples" / "data" / "ai_feature_ab.csv"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def error_code(output: str) -> str:
    payload = json.loads(output)
    assert set(payload["error"]) == {"code", "message", "hint"}
    return str(payload["error"]["code"])


def test_prereg_prints_markdown_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, "prereg", str(BRIEF))
    assert code == 0
    assert out.startswith("# AI trip planner: effect on booking conversion (A/B test)\n")
    assert "Completeness: 21 of 21 items complete." in out and "Content hash: sha256:" in out


def test_prereg_writes_each_format_and_never_overwrites(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    html = tmp_path / "plan.html"
    code, out = run_cli(capsys, "prereg", str(BRIEF), "-o", str(html))
    assert code == 0 and out == f"Wrote {html} (21 of 21 items complete).\n"
    ET.fromstring(html.read_text(encoding="utf-8").split("\n", 1)[1])
    code, out = run_cli(capsys, "prereg", str(BRIEF), "-o", str(html))
    assert code == 2 and error_code(out) == "file_exists"
    plan = tmp_path / "plan.txt"
    assert run_cli(capsys, "prereg", str(BRIEF), "-o", str(plan), "--format", "json")[0] == 0
    assert json.loads(plan.read_text(encoding="utf-8"))["schema_version"] == "whyscope.prereg/1"
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_prereg_draft_has_no_hash(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, "prereg", str(BRIEF), "--draft", "--format", "json")
    assert code == 0 and json.loads(out)["freeze"] is None


def test_a_bare_brief_is_accepted(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # the six confirmed slots, the why-chain and the guardrails (from the outcome slot): 8 items; the plan is missing
    bare = tmp_path / "brief.json"
    bare.write_text(json.dumps(json.loads(BRIEF.read_text(encoding="utf-8"))["brief"]), encoding="utf-8")
    code, out = run_cli(capsys, "prereg", str(bare))
    assert code == 0 and "Completeness: 8 of 21 items complete (13 missing)." in out


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (None, "file_not_found"),
        ("{not json", "invalid_json"),
        ("[1, 2]", "invalid_file"),
        ('{"brief": {"unit": {"status": "maybe"}}}', "invalid_file"),
        ('{"power": {"metric": "proportion", "baseline": 2.0, "mde": 0.1}}', "baseline_out_of_range"),
    ],
)
def test_prereg_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str | None, code: str) -> None:
    path = tmp_path / "brief.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    exit_code, out = run_cli(capsys, "prereg", str(path))
    assert exit_code == 2 and error_code(out) == code


def test_both_power_forms_are_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    assert run_cli(capsys, "prereg", str(BRIEF), "-o", str(plan))[0] == 0
    power_result = json.loads(plan.read_text(encoding="utf-8"))["prereg"]["power"]
    both = tmp_path / "both.json"
    both.write_text(json.dumps(json.loads(BRIEF.read_text(encoding="utf-8")) | {"power_result": power_result}))
    code, out = run_cli(capsys, "prereg", str(both))
    assert code == 2 and error_code(out) == "invalid_file" and "both" in json.loads(out)["error"]["message"]


def ab_request(**changes: Any) -> str:
    analysis = json.loads(BRIEF.read_text(encoding="utf-8"))["plan"]["analysis"]
    return json.dumps({k: v for k, v in analysis.items() if k != "method"} | changes)


@pytest.fixture
def frozen_plan(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Path:
    plan = tmp_path / "plan.json"
    assert run_cli(capsys, "prereg", str(BRIEF), "-o", str(plan))[0] == 0
    return plan


def test_tool_run_with_a_plan_lists_the_deviations(capsys: pytest.CaptureFixture[str], frozen_plan: Path) -> None:
    data = f"ai_feature_ab={DATA}"
    code, out = run_cli(
        capsys, "tool", "run", "ab_test", "--json", ab_request(), "--data", data, "--plan", str(frozen_plan)
    )
    result = json.loads(out)
    assert code == 0 and result["plan_check"]["status"] == "pass" and result["checks"][-1]["status"] == "pass"
    code, out = run_cli(
        capsys, "tool", "run", "ab_test", "--json", ab_request(alpha=0.1, correction="none"), "--data", data,
        "--plan", str(frozen_plan),
    )  # fmt: skip
    result = json.loads(out)
    assert code == 0 and result["plan_check"]["status"] == "fail"
    assert {d["field"] for d in result["plan_check"]["deviations"]} == {"alpha", "correction"}
    assert {a["label"] for a in result["plan_check"]["analyses"]} == {"exploratory"}
    assert result["checks"][-1]["name"] == "pre_registration" and result["checks"][-1]["status"] == "fail"


def test_tool_run_without_a_plan_is_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, "tool", "run", "ab_test", "--json", ab_request(), "--data", f"ai_feature_ab={DATA}")
    assert code == 0 and "plan_check" not in json.loads(out)


def test_an_edited_or_draft_plan_is_refused_before_running(
    capsys: pytest.CaptureFixture[str], frozen_plan: Path, tmp_path: Path
) -> None:
    edited = tmp_path / "edited.json"
    edited.write_text(
        frozen_plan.read_text(encoding="utf-8").replace('"alpha": 0.05', '"alpha": 0.1', 1), encoding="utf-8"
    )
    code, out = run_cli(capsys, "tool", "run", "ab_test", "--json", ab_request(), "--plan", str(edited))
    assert code == 2 and error_code(out) == "plan_modified"
    draft = tmp_path / "draft.json"
    assert run_cli(capsys, "prereg", str(BRIEF), "--draft", "-o", str(draft))[0] == 0
    code, out = run_cli(capsys, "tool", "run", "ab_test", "--json", ab_request(), "--plan", str(draft))
    assert code == 2 and error_code(out) == "plan_not_frozen"


def test_with_a_plan_and_no_request_the_planned_request_runs(
    capsys: pytest.CaptureFixture[str], frozen_plan: Path
) -> None:
    data = f"ai_feature_ab={DATA}"
    code, out = run_cli(capsys, "tool", "run", "ab_test", "--plan", str(frozen_plan), "--data", data)
    result = json.loads(out)
    assert code == 0 and result["plan_check"]["deviations"] == [] and result["dataset"] == "ai_feature_ab"
    code, out = run_cli(capsys, "tool", "run", "power", "--plan", str(frozen_plan))
    assert code == 2 and error_code(out) == "plan_mismatch"


def test_an_unwritable_target_is_an_error_and_leaves_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out = run_cli(capsys, "prereg", str(BRIEF), "-o", str(tmp_path / "no" / "such" / "dir" / "plan.md"))
    assert code == 2 and error_code(out) == "no_such_folder"  # a missing folder is never created
    assert list(tmp_path.iterdir()) == []
