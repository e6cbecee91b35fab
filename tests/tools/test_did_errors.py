"""One test per ToolError code of the diff_in_diff tool: bad input is refused with a message and a hint, and
nothing is computed from it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from tools.did import DiffInDiffRequest, diff_in_diff, event_study_fit, headline, within
from tools.did import cs as cs_module
from tools.errors import ToolError


def panel(n_units: int = 40, n_periods: int = 6, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n_units), n_periods)
    period = np.tile(np.arange(n_periods), n_units) + 2001
    cohort = np.where(np.arange(n_units) % 3 == 0, 2004, np.where(np.arange(n_units) % 3 == 1, 2005, 0))[unit]
    d = ((cohort > 0) & (period >= cohort)).astype(int)
    return pd.DataFrame(
        {
            "unit": unit,
            "period": period,
            "y": rng.normal(size=len(unit)) + d,
            "d": d,
            "cohort": cohort,
            "x": rng.normal(size=len(unit)),
            "w": rng.uniform(1, 2, len(unit)),
            "region": unit % 5,
        }
    )


def run(frame: pd.DataFrame | None, **fields: Any) -> None:
    base: dict[str, Any] = {"dataset": "p", "outcome": "y", "unit": "unit", "time": "period"}
    if "treatment" not in fields and "cohort" not in fields:
        base["treatment"] = "d"
    diff_in_diff(DiffInDiffRequest.model_validate({**base, **fields}), frame)


def expect(code: str, frame: pd.DataFrame | None, **fields: Any) -> ToolError:
    with pytest.raises(ToolError) as info:
        run(frame, **fields)
    error = info.value
    assert error.code == code, error
    assert error.message and error.hint
    return error


def test_no_data() -> None:
    expect("no_data", None)
    request = DiffInDiffRequest(dataset="p", outcome="y", unit="unit", time="period", treatment="d")
    for function in (headline, event_study_fit):
        with pytest.raises(ToolError, match="panel dataset"):
            function(request, None)


def test_treatment_or_cohort() -> None:
    expect("treatment_or_cohort", panel(), treatment=None)
    expect("treatment_or_cohort", panel(), treatment="d", cohort="cohort")


def test_unknown_column_suggests_close_names() -> None:
    error = expect("unknown_column", panel(), outcome="yy")
    assert "'y'" in error.hint


def test_non_numeric_column() -> None:
    frame = panel().astype({"y": "string"})
    frame.loc[3, "y"] = "n/a"
    assert "n/a" in expect("non_numeric_column", frame).message


def test_non_finite_values() -> None:
    frame = panel()
    frame.loc[5, "y"] = np.inf
    expect("non_finite_values", frame)


def test_unparseable_time() -> None:
    frame = panel().astype({"period": "string"})
    frame["period"] = "week " + frame["period"]
    expect("unparseable_time", frame)


def test_ambiguous_dates() -> None:
    frame = panel(n_periods=6)
    frame["period"] = frame["period"].map(lambda p: f"0{p - 2000}/0{p - 1999}/2024")  # 01/02/2024 ...
    frame["d"] = ((frame["cohort"] > 0) & (frame["period"] >= "04")).astype(int)
    expect("ambiguous_dates", frame)


def test_non_integer_time() -> None:
    frame = panel().astype({"period": float})
    frame.loc[0, "period"] = 2001.5
    expect("non_integer_time", frame)


def test_treatment_not_binary_names_the_values() -> None:
    frame = panel()
    frame.loc[frame["d"] == 1, "d"] = 2
    assert "2" in expect("treatment_not_binary", frame).message


def test_invalid_weights() -> None:
    frame = panel()
    frame.loc[0, "w"] = 0.0
    expect("invalid_weights", frame, weights="w")


def test_duplicate_covariates() -> None:
    expect("duplicate_covariates", panel(), covariates=["x", "x"])


def test_no_data_rows() -> None:
    frame = panel()
    frame["y"] = np.nan
    expect("no_data_rows", frame)


def test_constant_outcome() -> None:
    frame = panel()
    frame["y"] = 3.0
    expect("constant_outcome", frame)


def test_single_period() -> None:
    expect("single_period", panel().query("period == 2004"))


def test_duplicate_rows() -> None:
    frame = panel()
    frame = pd.concat([frame, frame.iloc[[7]]], ignore_index=True)
    assert "more than once" in expect("duplicate_rows", frame).message


def test_treatment_switches_off() -> None:
    frame = panel()
    frame.loc[(frame["unit"] == 0) & (frame["period"] == 2006), "d"] = 0
    expect("treatment_switches_off", frame)


def test_cohort_mismatch() -> None:
    frame = panel()
    frame["cohort"] = frame["cohort"] + 0.5
    expect("cohort_mismatch", frame, cohort="cohort")


def test_cohort_varies() -> None:
    frame = panel()
    frame.loc[(frame["unit"] == 0) & (frame["period"] == 2006), "cohort"] = 2005
    expect("cohort_varies", frame, cohort="cohort")


def test_too_few_clusters() -> None:
    frame = panel()
    frame["one"] = 1
    expect("too_few_clusters", frame, cluster="one")


def test_no_treated_units() -> None:
    frame = panel()
    frame["d"] = 0
    expect("no_treated_units", frame)


def test_no_comparison_units() -> None:
    frame = panel()
    frame["d"] = (frame["period"] >= 2004).astype(int)
    expect("no_comparison_units", frame)


def test_collinear_covariate() -> None:
    frame = panel()
    frame["x"] = frame["unit"] * 2.0  # constant within units: absorbed by the unit effects
    assert "'x'" in expect("collinear", frame, estimator="twfe", covariates=["x"]).message


def test_bad_reference_period() -> None:
    frame = panel().query("period >= 2004")  # the 2004 cohort has no lead; -4 is outside every window
    expect("bad_reference_period", frame, estimator="event_study", reference_period=-4)


def test_no_post_periods() -> None:
    """Defensive: the tool cannot reach it (a treated unit always has a row at or after adoption, or there is no
    treated row at all), so the event-study average is called directly."""
    from tools.did.twfe import EventStudy, post_average

    study = EventStudy(
        fit=within.Fit(["rel_-2"], np.zeros(1), np.eye(1), 10, []), relative_periods=[-2], counts={-2: 5},
        reference_period=-1, dropped=[],
    )  # fmt: skip
    with pytest.raises(ToolError) as info:
        post_average(study, 0.05)
    assert info.value.code == "no_post_periods"


def test_no_convergence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(within, "EXACT_GRID_LIMIT", 0)  # force alternating projections
    monkeypatch.setattr(within, "MAX_SWEEPS", 1)
    expect("no_convergence", panel().sample(frac=0.8, random_state=1), estimator="twfe")


def test_unbalanced_panel_for_callaway_santanna() -> None:
    frame = panel()
    frame = frame[~(frame["period"] == 2001 + frame["unit"] % 6)]  # every unit misses one period
    expect("unbalanced_panel", frame, cohort="cohort")


def test_weights_vary_within_unit() -> None:
    expect("weights_vary_within_unit", panel(), cohort="cohort", weights="w")


def test_cluster_varies_within_unit() -> None:
    frame = panel()
    frame["region"] = frame["period"] % 2
    expect("cluster_varies_within_unit", frame, cohort="cohort", cluster="region")


def test_no_never_treated() -> None:
    frame = panel()
    frame = frame[frame["cohort"] > 0]
    error = expect("no_never_treated", frame, cohort="cohort")
    assert "not_yet_treated" in error.hint


def test_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cs_module, "MAX_IF_ENTRIES", 10)
    expect("too_large", panel(), cohort="cohort")


def test_callaway_santanna_with_covariates_runs_and_refuses_collinear_ones() -> None:
    """Refused as covariates_unsupported before issue 26; now adjusted for (doubly robust by default), and
    covariates that cannot be adjusted for are refused with a hint (see test_did_covariates.py)."""
    run(panel(), covariates=["x"])
    run(panel(), covariates=["x"], estimator="callaway_santanna", covariate_method="reg")
    frame = panel()
    frame["x2"] = 2 * frame["x"]
    expect("collinear_covariates", frame, covariates=["x", "x2"], estimator="callaway_santanna")


def test_a_frame_without_rows_is_a_tool_error_not_a_numpy_error() -> None:
    import pandas as pd

    from tools.did.models import DiffInDiffRequest
    from tools.did.tool import diff_in_diff
    from tools.errors import ToolError

    empty = pd.DataFrame({name: pd.Series([], dtype="float64") for name in ("unit", "period", "d", "y")})
    request = DiffInDiffRequest(dataset="p", outcome="y", unit="unit", time="period", treatment="d")
    with pytest.raises(ToolError) as info:
        diff_in_diff(request, empty)
    assert info.value.code == "no_data_rows"
