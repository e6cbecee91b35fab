"""The whyscope command line, driven in-process and once through the installed console script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from assistant.cli import main

POWER = {"metric": "mean", "baseline": 10.0, "std_dev": 2.0, "mde": 1.0}


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def error_of(output: str) -> dict[str, Any]:
    payload = json.loads(output)
    assert set(payload) == {"error"}
    assert set(payload["error"]) == {"code", "message", "hint"}
    return dict(payload["error"])


def test_tool_list_names_every_tool(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, "tool", "list")
    assert code == 0
    assert out.splitlines()[0].split()[0] == "power"
    assert "Power and sample size" in out


def test_tool_schema_prints_the_strict_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, "tool", "schema", "power")
    assert code == 0
    schema = json.loads(out)
    assert schema["function"]["name"] == "power"
    assert schema["function"]["strict"] is True


def test_tool_schema_of_unknown_tool(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, "tool", "schema", "powr")
    assert code == 2
    assert error_of(out)["code"] == "unknown_tool"


def test_tool_run_prints_the_result_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, "tool", "run", "power", "--json", json.dumps(POWER))
    assert code == 0
    result = json.loads(out)
    assert result["n_per_arm"] == 64
    assert result["n_total"] == 128
    assert len(result["curve"]) >= 50
    assert result["summary"].startswith("To detect a change of +1")


def test_tool_run_reads_a_request_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    request = tmp_path / "request.json"
    request.write_text(json.dumps({**POWER, "mde": None, "solve_for": "mde", "n_per_arm": 64}), encoding="utf-8")
    code, out = run_cli(capsys, "tool", "run", "power", "--json", f"@{request}")
    assert code == 0
    assert json.loads(out)["mde_absolute"] == pytest.approx(1.0, rel=0.01)


def test_tool_run_with_a_missing_request_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = run_cli(capsys, "tool", "run", "power", "--json", f"@{tmp_path / 'nope.json'}")
    assert code == 2
    assert error_of(out)["code"] == "file_not_found"


@pytest.mark.parametrize(
    ("request_text", "code_expected", "named"),
    [
        ('{"metric": "mean"', "invalid_json", "not valid JSON"),
        ('{"metric": "mean", "baseline": 1, "std_dev": 1, "mde": 1, "colour": 1}', "invalid_arguments", "colour"),
        ('{"metric": "mean", "baseline": 1, "std_dev": 1, "mde": 0}', "zero_mde", "mde"),
        ('{"metric": "proportion", "baseline": 12, "mde": 0.01}', "baseline_out_of_range", "12"),
    ],
)
def test_tool_run_bad_input_exits_2_with_an_error_object(
    capsys: pytest.CaptureFixture[str], request_text: str, code_expected: str, named: str
) -> None:
    code, out = run_cli(capsys, "tool", "run", "power", "--json", request_text)
    assert code == 2
    error = error_of(out)
    assert error["code"] == code_expected
    assert named in error["message"]
    assert error["hint"]


def test_tool_run_unknown_tool(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, "tool", "run", "regression", "--json", "{}")
    assert code == 2
    assert error_of(out)["code"] == "unknown_tool"


def test_tool_run_with_a_missing_data_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = run_cli(
        capsys, "tool", "run", "power", "--json", json.dumps(POWER), "--data", f"sales={tmp_path / 'missing.csv'}"
    )
    assert code == 2
    assert error_of(out)["code"] == "file_not_found"


def test_tool_run_attaches_data(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "history.csv"
    data.write_text("user_id,revenue\n001,5.0\n002,7.5\n", encoding="utf-8")
    code, out = run_cli(capsys, "tool", "run", "power", "--json", json.dumps(POWER), "--data", f"history={data}")
    assert code == 0  # power ignores data; the file was still loaded and validated
    assert json.loads(out)["n_per_arm"] == 64


def test_demo_prints_numbers_from_the_power_tool(capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.demo import DEMO_REQUEST
    from tools.power import PowerRequest, power

    expected = power(PowerRequest.model_validate(DEMO_REQUEST))
    code, out = run_cli(capsys, "demo")
    assert code == 0
    assert expected.summary in " ".join(out.split())  # wrapped for the terminal, same words
    assert f"{expected.n_total:,}" in out
    assert f"{expected.duration_days:,}" in out
    assert "whyscope tool run power" in out
    # the plot's bottom axis spans the curve
    assert f"{expected.curve[0].n_per_arm:,}" in out


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert "whyscope 0." in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "tool" in out and "demo" in out


def test_console_script_is_installed_and_works() -> None:
    script = shutil.which("whyscope", path=str(Path(sys.executable).parent))
    assert script, "the whyscope console script is not installed next to this python"
    completed = subprocess.run(
        [script, "tool", "run", "power", "--json", json.dumps(POWER)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["n_per_arm"] == 64
    completed = subprocess.run(
        [script, "tool", "run", "power", "--json", "{"], capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 2
    assert json.loads(completed.stdout)["error"]["code"] == "invalid_json"
    assert "Traceback" not in completed.stderr


def _experiment_frame() -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(42)
    n = 4_000
    arm = rng.choice(["control", "treatment"], size=n)
    return pd.DataFrame(
        {
            "user_id": [f"u{i:05d}" for i in range(n)],
            "arm": arm,
            "converted": rng.binomial(1, np.where(arm == "treatment", 0.13, 0.10)),
            "revenue": rng.gamma(2.0, 5.0, size=n),
        }
    )


AB_REQUEST = {
    "dataset": "exp",
    "arm_column": "arm",
    "metrics": [
        {"name": "converted", "kind": "binary"},
        {"name": "revenue", "role": "guardrail", "non_inferiority_margin": 0.2},
    ],
}


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_ab_test_from_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path, suffix: str) -> None:
    frame = _experiment_frame()
    path = tmp_path / f"experiment.{suffix}"
    if suffix == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    code, out = run_cli(capsys, "tool", "run", "ab_test", "--json", json.dumps(AB_REQUEST), "--data", f"exp={path}")
    assert code == 0, out
    result = json.loads(out)
    assert result["source"] == "rows"
    assert result["control_arm"] == "control"
    assert result["n_obs"] == 4_000
    assert result["srm"]["status"] == "pass"
    converted = result["comparisons"][0]
    expected = frame.groupby("arm").converted.mean()
    assert converted["control_mean"] == pytest.approx(expected["control"])
    assert converted["treatment_mean"] == pytest.approx(expected["treatment"])
    assert result["decision"] in {"ship", "don't ship", "inconclusive", "investigate"}


def test_ab_test_from_summary_numbers_matches_the_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    frame = _experiment_frame()
    path = tmp_path / "experiment.csv"
    frame.to_csv(path, index=False)
    request = {**AB_REQUEST, "metrics": AB_REQUEST["metrics"][:1]}
    _, rows_out = run_cli(capsys, "tool", "run", "ab_test", "--json", json.dumps(request), "--data", f"exp={path}")
    counts = frame.groupby("arm").converted.agg(["size", "sum"])
    summaries = [
        {"arm": arm, "metric": "converted", "n": int(row["size"]), "conversions": int(row["sum"])}
        for arm, row in counts.iterrows()
    ]
    summary_request = {"summaries": summaries, "metrics": [{"name": "converted", "kind": "binary"}]}
    code, summary_out = run_cli(capsys, "tool", "run", "ab_test", "--json", json.dumps(summary_request))
    assert code == 0, summary_out
    from_rows, from_summaries = json.loads(rows_out), json.loads(summary_out)
    assert from_summaries["source"] == "summaries"
    assert from_summaries["comparisons"][0]["absolute"] == from_rows["comparisons"][0]["absolute"]
    assert from_summaries["comparisons"][0]["relative"] == from_rows["comparisons"][0]["relative"]


def test_ab_test_bad_column_from_the_shell(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "experiment.csv"
    _experiment_frame().to_csv(path, index=False)
    request = {**AB_REQUEST, "arm_column": "variant"}
    code, out = run_cli(capsys, "tool", "run", "ab_test", "--json", json.dumps(request), "--data", f"exp={path}")
    assert code == 2
    assert error_of(out)["code"] == "unknown_column"
    code, out = run_cli(capsys, "tool", "run", "ab_test", "--json", json.dumps(AB_REQUEST))
    assert code == 2
    assert error_of(out)["code"] == "no_data"
    code, out = run_cli(
        capsys,
        "tool",
        "run",
        "ab_test",
        "--json",
        json.dumps({**AB_REQUEST, "dataset": "expt"}),
        "--data",
        f"exp={path}",
    )
    assert code == 2
    assert error_of(out)["code"] == "unknown_dataset"
    assert "exp" in error_of(out)["hint"]


def test_tool_run_saves_the_figure_beside_the_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    figure = tmp_path / "power.png"
    code = main(["tool", "run", "power", "--json", json.dumps(POWER), "--plot", str(figure)])
    captured = capsys.readouterr()
    assert code == 0 and json.loads(captured.out)["curve"]
    assert figure.read_bytes()[:4] == b"\x89PNG" and f"[plot] saved {figure}" in captured.err


def test_tool_run_refuses_a_plot_name_that_is_not_png(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out = run_cli(capsys, "tool", "run", "power", "--json", json.dumps(POWER), "--plot", str(tmp_path / "a.pdf"))
    assert code == 2 and error_of(out)["code"] == "invalid_plot_path"
    assert not (tmp_path / "a.pdf").exists()


def test_tool_run_with_a_result_that_has_no_figure_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    request = {"can_randomize": True}
    code = main(["tool", "run", "recommend_method", "--json", json.dumps(request), "--plot", str(tmp_path / "r.png")])
    captured = capsys.readouterr()
    assert code == 0 and "[plot] not saved: This result has no figure" in captured.err
    assert not (tmp_path / "r.png").exists()


def test_prop99_reproduces_from_the_command_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Issue 19: California's Proposition 99 (the ADH panel, ';'-separated as published) from the shell, with the
    figure. SDID and DiD equal the synthdid R package's -15.60 and -27.35 (Arkhangelsky et al. 2021, Table 1);
    synthetic control is the exact optimum -19.51 (synthdid's early-stopped solver: -19.62)."""
    data = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "synth" / "california_prop99.csv"
    request = {
        "dataset": "prop99",
        "outcome": "PacksPerCapita",
        "unit": "State",
        "time": "Year",
        "treatment": "treated",
    }
    figure = tmp_path / "prop99.png"
    code, out = run_cli(
        capsys, "tool", "run", "synthetic_control", "--data", f"prop99={data}", "--plot", str(figure),
        "--json", json.dumps(request),
    )  # fmt: skip
    assert code == 0, out
    result = json.loads(out)
    comparison = {p["estimator"]: p["estimate"] for p in result["comparison"]}
    assert comparison["synthetic_did"] == pytest.approx(-15.60, abs=0.01)
    assert comparison["did"] == pytest.approx(-27.35, abs=0.01)
    assert comparison["synthetic_control"] == pytest.approx(-19.51, abs=0.01)
    assert result["placebo"]["n_placebos"] == 38 and result["n_pre_periods"] == 19
    assert figure.stat().st_size > 10_000


@pytest.mark.parametrize(
    ("name", "request_fields", "published"),
    [
        # Wooldridge, Introductory Econometrics, Example 15.1: return to education instrumented by father's education
        ("mroz", {"outcome": "lwage", "treatment": "educ", "instruments": ["fatheduc"]}, (0.0592, 0.0351)),
        # Example 15.4 (Card 1995): college proximity, with experience, race, region and city controls
        (
            "card",
            {
                "outcome": "lwage",
                "treatment": "educ",
                "instruments": ["nearc4"],
                "covariates": ["exper", "expersq", "black", "smsa", "south", "smsa66"]
                + [f"reg66{i}" for i in range(2, 10)],
            },
            (0.1315, 0.0550),
        ),
    ],
)
def test_mroz_and_card_reproduce_from_the_command_line(
    capsys: pytest.CaptureFixture[str], name: str, request_fields: dict[str, Any], published: tuple[float, float]
) -> None:
    """Issue 20: the textbook IV examples from the shell, classical standard errors as the book reports them."""
    data = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "iv" / f"{name}.csv"
    request = {"dataset": name, "standard_errors": "classical", **request_fields}
    code, out = run_cli(
        capsys, "tool", "run", "instrumental_variables", "--data", f"{name}={data}", "--json", json.dumps(request)
    )
    assert code == 0, out
    effect = json.loads(out)["effect"]
    assert (round(effect["estimate"], 4), round(effect["std_error"], 4)) == published
