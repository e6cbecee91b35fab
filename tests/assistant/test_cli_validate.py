"""``whyscope validate``: the calibration table on stdout, progress on stderr, the table as JSON with --json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import tools.validate
from assistant.cli import EXIT_CHECK, VALIDATE_GROUPS, main
from tools.validate import GROUPS, ValidationReport
from tools.validate.models import Rate, build_row


def test_quick_run_prints_the_table_and_writes_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "calibration.json"
    code = main(["validate", "--quick", "--only", "power", "--json", str(target)])
    captured = capsys.readouterr()
    assert code == 0
    lines = captured.out.splitlines()
    assert lines[0].split()[:4] == ["estimator", "design", "reps", "n"]
    assert lines[2].startswith("power ") and lines[2].rstrip().endswith(" ok")
    assert "Reference parity:" in captured.out and "[agrees]" in captured.out
    assert "[progress] 0/200 power: formula vs simulation" in captured.err
    assert "[progress] 200/200 power: formula vs simulation" in captured.err
    assert f"[validate] wrote {target}" in captured.err
    payload = json.loads(target.read_text(encoding="utf-8"))
    assert (payload["size"], payload["band"]) == ("quick", 3.5)
    (row,) = payload["rows"]
    assert (row["estimator"], row["replications"], row["status"]) == ("power", 200, "ok")
    # the JSON is the table: its figures are the ones printed
    assert f"{row['power']:.3f} ±{row['power_mc_se']:.3f} ({row['power_planned']:.3f})" in captured.out
    assert ValidationReport.model_validate(payload).rows[0].power == row["power"]


def test_an_existing_json_file_is_refused_before_any_simulation(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "calibration.json"
    target.write_text("keep me", encoding="utf-8")
    code = main(["validate", "--quick", "--only", "power", "--json", str(target)])
    captured = capsys.readouterr()
    assert code == 2
    assert json.loads(captured.out)["error"]["code"] == "file_exists"
    assert "[progress]" not in captured.err
    assert target.read_text(encoding="utf-8") == "keep me"


def test_unknown_estimator_exits_2_with_an_error_object(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", "--quick", "--only", "regression"])
    error = json.loads(capsys.readouterr().out)["error"]
    assert code == 2
    assert error["code"] == "unknown_estimator"
    assert "instrumental_variables" in error["hint"]


def test_a_row_that_does_not_read_as_expected_exits_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [
        build_row("rdd", "calibrated", 100, fpr=Rate(50, 1000)),
        build_row("ab_test", "per-row analysis", 100, fpr=Rate(52, 1000), misspecified=True),  # not caught
    ]
    report = ValidationReport(size="quick", seed=1, rows=rows)
    monkeypatch.setattr(tools.validate, "run_validation", lambda *args, **kwargs: report)
    assert main(["validate", "--quick"]) == EXIT_CHECK == 1
    assert "per-row analysis" in capsys.readouterr().out
    caught = [rows[0], build_row("ab_test", "per-row analysis", 100, fpr=Rate(200, 1000), misspecified=True)]
    monkeypatch.setattr(
        tools.validate, "run_validation", lambda *args, **kwargs: ValidationReport(size="quick", seed=1, rows=caught)
    )
    assert main(["validate", "--quick"]) == 0


def test_help_lists_every_estimator_without_loading_statistics() -> None:
    assert tuple(GROUPS) == VALIDATE_GROUPS
    code = (
        "import sys; from assistant.cli import build_parser; "
        "text = build_parser()._subparsers._group_actions[0].choices['validate'].format_help(); "
        "heavy = [m for m in ('pandas', 'numpy', 'statsmodels', 'tools.validate') if m in sys.modules]; "
        "assert not heavy, heavy; print(text)"
    )
    text = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    flat = " ".join(text.split())
    assert all(name in flat for name in VALIDATE_GROUPS)
    assert "--quick" in flat and "--json FILE" in flat and "--only NAME" in flat
