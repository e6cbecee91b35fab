"""The rdd tool's behaviour: one test per ToolError code, missing values, sign conventions, determinism, the
headline used by the refute tool, diagnostics and the example dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tools.data import Catalog
from tools.errors import ToolError
from tools.rdd import RddRequest, RddResult, density_test, headline, rdd, rdd_at_cutoff
from tools.rdd.diagnostics import SENSITIVITY

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "data" / "paywall_cutoff.csv"


def design(n: int = 1200, seed: int = 5, jump: float = 1.0, **extra: Any) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    frame = {
        "x": x,
        "y": 1 + x + jump * (x >= 0) + rng.normal(0, 0.5, n),
        "age": 30 + 5 * x + rng.normal(0, 3, n),  # smooth through the cutoff
        "tenure": 2 + x + 1.5 * (x >= 0) + rng.normal(0, 0.3, n),  # jumps: not pre-determined
    }
    frame.update(extra)
    return pd.DataFrame(frame)


def run(frame: pd.DataFrame | None, **fields: Any) -> RddResult:
    request = RddRequest.model_validate({"dataset": "d", "outcome": "y", "running": "x", **fields})
    return rdd(request, frame)


def error_code(frame: pd.DataFrame | None, **fields: Any) -> str:
    with pytest.raises(ToolError) as caught:
        run(frame, **fields)
    assert caught.value.message and caught.value.hint
    return caught.value.code


# --- one test per ToolError code ------------------------------------------------------------------------


def test_no_data() -> None:
    assert error_code(None) == "no_data"


def test_unknown_column_suggests_a_name() -> None:
    with pytest.raises(ToolError) as caught:
        run(design(), running="xx")
    assert caught.value.code == "unknown_column" and "'x'" in caught.value.hint


def test_same_column() -> None:
    assert error_code(design(), outcome="x") == "same_column"


def test_non_numeric_running_variable() -> None:
    frame = design()
    frame["x"] = frame["x"].map(lambda v: f"{v:.3f}").astype("string")
    frame.loc[3, "x"] = "high"
    assert error_code(frame) == "non_numeric_column"


def test_infinite_values() -> None:
    frame = design()
    frame.loc[7, "y"] = np.inf
    assert error_code(frame) == "non_finite_values"


def test_cutoff_outside_data() -> None:
    assert error_code(design(), cutoff=5.0) == "cutoff_outside_data"
    assert error_code(design(), cutoff=-1.0) == "cutoff_outside_data"  # at the minimum: nothing below


def test_too_few_observations_on_a_side() -> None:
    frame = design()
    frame = pd.concat([frame[frame["x"] >= 0], frame[frame["x"] < 0].head(5)])
    assert error_code(frame) == "too_few_observations"


def test_too_few_distinct_values() -> None:
    frame = design()
    frame["x"] = np.where(frame["x"] < 0, -0.5, frame["x"])
    assert error_code(frame) == "too_few_distinct_values"


def test_take_up_not_binary() -> None:
    frame = design(take=np.linspace(0, 2, 1200))
    assert error_code(frame, fuzzy="take") == "take_up_not_binary"


def test_no_first_stage() -> None:
    frame = design(take=np.ones(1200))
    assert error_code(frame, fuzzy="take") == "no_first_stage"


def test_bandwidth_selection_fails_on_a_handful_of_values() -> None:
    rng = np.random.default_rng(3)
    x = rng.choice([-0.4, -0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3], 600)
    frame = pd.DataFrame({"x": x, "y": x + (x >= 0) + rng.normal(0, 1, 600)})
    assert error_code(frame) == "bandwidth_failed"


def test_bandwidth_too_narrow() -> None:
    assert error_code(design(n=200), bandwidth=0.004) == "too_few_in_bandwidth"


def test_too_few_clusters() -> None:
    frame = design(account=np.where(design()["x"] < 0, "a", "b"))
    assert error_code(frame, cluster="account") == "too_few_clusters"


def test_constant_outcome_is_degenerate() -> None:
    frame = design()
    frame["y"] = 3.0
    assert error_code(frame, bandwidth=0.5) == "degenerate_fit"


def test_helpers_refuse_bad_input() -> None:
    with pytest.raises(ToolError) as caught:
        density_test(np.linspace(0, 1, 100), cutoff=2.0)
    assert caught.value.code == "cutoff_outside_data"
    with pytest.raises(ToolError) as caught:
        density_test(np.r_[np.linspace(-1, 0, 5, endpoint=False), np.linspace(0, 1, 100)], cutoff=0.0)
    assert caught.value.code == "too_few_observations"
    request = RddRequest(dataset="d", outcome="y", running="x")
    with pytest.raises(ToolError) as caught:
        rdd_at_cutoff(request, design(), cutoff=-0.999)
    assert caught.value.code == "too_few_observations"


# --- behaviour ------------------------------------------------------------------------------------------


def test_missing_values_are_dropped_and_counted() -> None:
    frame = design()
    frame.loc[[1, 2, 3], "y"] = np.nan
    frame.loc[[4], "x"] = np.nan
    result = run(frame)
    clean = run(frame.dropna(subset=["x", "y"]).reset_index(drop=True))
    assert result.n_obs == len(frame) - 4
    assert any("4 row(s) with a missing value" in w for w in result.warnings)
    assert result.robust == clean.robust


def test_treated_below_reports_treated_minus_untreated() -> None:
    frame = design()
    above = run(frame)
    below = run(frame, treatment_side="below")
    assert below.robust.estimate == -above.robust.estimate
    assert (below.robust.ci_lower, below.robust.ci_upper) == (-above.robust.ci_upper, -above.robust.ci_lower)
    assert below.robust.p_value == above.robust.p_value
    assert below.bins.jump == above.bins.jump  # the plot keeps the data's orientation (above minus below)


def test_fuzzy_late_and_first_stage_orientation() -> None:
    rng = np.random.default_rng(8)
    x = rng.uniform(-1, 1, 3000)
    take = (rng.random(3000) < np.where(x < 0, 0.9, 0.2)).astype(int)  # treated below the cutoff
    frame = pd.DataFrame({"x": x, "take": take, "y": 1 + x + 2.0 * take + rng.normal(0, 1, 3000)})
    result = run(frame, fuzzy="take", treatment_side="below")
    assert result.design == "fuzzy" and result.first_stage is not None
    assert result.first_stage.conventional.estimate == pytest.approx(0.7, abs=0.1)  # treated minus untreated take-up
    assert result.robust.ci_lower < 2.0 < result.robust.ci_upper
    assert not result.first_stage.weak
    assert headline(RddRequest(dataset="d", outcome="y", running="x", fuzzy="take", treatment_side="below"), frame) == (
        result.robust.estimate
    )


def test_weak_first_stage_is_warned_with_its_strength() -> None:
    rng = np.random.default_rng(9)
    x = rng.uniform(-1, 1, 1500)
    take = (rng.random(1500) < np.where(x >= 0, 0.33, 0.3)).astype(int)
    frame = pd.DataFrame({"x": x, "take": take, "y": x + take + rng.normal(0, 1, 1500)})
    result = run(frame, fuzzy="take")
    assert result.first_stage is not None and result.first_stage.weak
    assert any("Weak first stage (F = " in w for w in result.warnings)


def test_headline_is_the_robust_point_estimate() -> None:
    frame = design()
    for fields in ({}, {"treatment_side": "below"}, {"kernel": "uniform", "polynomial": 2}, {"bandwidth": 0.3}):
        request = RddRequest.model_validate({"dataset": "d", "outcome": "y", "running": "x", **fields})
        assert headline(request, frame) == rdd(request, frame).robust.estimate


def test_deterministic_byte_for_byte() -> None:
    frame = design()
    assert run(frame, covariates=["age"]).model_dump_json() == run(frame.copy(), covariates=["age"]).model_dump_json()


def test_diagnostics_flag_a_jumping_covariate_and_report_placebos_and_sensitivity() -> None:
    result = run(design(), covariates=["age", "tenure"])
    status = {c.covariate: c.status for c in result.covariate_balance}
    assert status == {"age": "pass", "tenure": "warn"}
    check = next(c for c in result.checks if c.name == "covariate_continuity")
    assert check.status == "warn" and any("'tenure'" in w for w in result.warnings)
    assert [p.side for p in result.placebo_cutoffs] == ["untreated", "treated"]
    assert all(p.status == "pass" for p in result.placebo_cutoffs)
    assert [r.multiplier for r in result.bandwidth_sensitivity] == list(SENSITIVITY)
    at_one = next(r for r in result.bandwidth_sensitivity if r.multiplier == 1.0)
    assert at_one.robust == result.robust
    assert [c.name for c in result.checks][:2] == ["continuity_at_cutoff", "density"]
    assert result.checks[0].status == "not_tested"


def test_diagnostics_off_skips_them() -> None:
    result = run(design(), covariates=["age"], diagnostics=False)
    assert result.covariate_balance == [] and result.placebo_cutoffs == [] and result.bandwidth_sensitivity == []
    assert result.density_test is not None


def test_rdd_at_cutoff_matches_the_placebo_report() -> None:
    frame = design()
    request = RddRequest(dataset="d", outcome="y", running="x")
    result = rdd(request, frame)
    for placebo in result.placebo_cutoffs:
        assert placebo.robust == rdd_at_cutoff(request, frame, placebo.cutoff)


def test_density_test_helper_accepts_a_series_with_missing_values() -> None:
    x = pd.Series(np.r_[np.random.default_rng(1).normal(0, 1, 2000), [np.nan]])
    result = density_test(x, 0.0)
    assert 0 <= result.p_value <= 1 and result.n_below > 0 and result.n_above > 0


def test_nullable_and_clustered_columns() -> None:
    rng = np.random.default_rng(4)
    x = rng.integers(-500, 500, 2000)
    frame = pd.DataFrame(
        {
            "x": pd.array(x, dtype="Int64"),
            "y": 3 + 0.002 * x + 1.0 * (x >= 0) + rng.normal(0, 1, 2000),
            "account": pd.array([f"a{i}" for i in rng.integers(0, 150, 2000)], dtype="string"),
        }
    )
    frame.loc[0, "account"] = pd.NA
    result = run(frame, cluster="account")
    assert result.n_obs == 1999 and result.n_clusters is not None and result.n_clusters > 100
    assert "cluster-robust" in result.method


def test_summary_numbers_are_result_fields() -> None:
    result = run(design())
    assert f"{result.robust.estimate:+.4g}" in result.summary
    assert f"{result.robust.ci_lower:+.4g}" in result.summary
    assert f"{result.conventional.estimate:+.4g}" in result.summary
    assert result.density_test is not None and f"{result.density_test.p_value:.3g}" in result.summary


def test_example_dataset_recovers_its_known_effects() -> None:
    """examples/data/paywall_cutoff.csv (examples/generate_cutoff.py): the paywall at 10 credits raises 30-day
    conversion by 12 points for users who see it; 15% above the cutoff are exempt, so the outcome jumps by 10.2."""
    catalog = Catalog()
    catalog.add(EXAMPLE, "paywall")
    frame = catalog.frame("paywall")
    common = {"dataset": "paywall", "outcome": "converted_30d", "running": "credits_used", "cutoff": 10.0}
    sharp = rdd(RddRequest.model_validate({**common, "covariates": ["signup_sessions", "account_age_days"]}), frame)
    assert sharp.robust.ci_lower <= 0.102 <= sharp.robust.ci_upper and sharp.robust.p_value < 0.01
    # Since issue 17 the covariate checks infer at the CER-optimal bandwidths, as `effect` does; there
    # 'signup_sessions' (smooth in the running variable by construction) crosses 5% by chance (p = 0.043, one of two
    # covariates tested; 0.058 at the MSE-optimal bandwidth), never 1%
    assert all(c.status in ("pass", "not_tested") for c in sharp.checks if c.name != "covariate_continuity")
    assert all(c.robust is not None and c.robust.p_value > 0.01 for c in sharp.covariate_balance)
    fuzzy = rdd(RddRequest.model_validate({**common, "fuzzy": "saw_paywall"}), frame)
    assert fuzzy.robust.ci_lower <= 0.12 <= fuzzy.robust.ci_upper
    assert fuzzy.first_stage is not None and fuzzy.first_stage.conventional.estimate == pytest.approx(0.85, abs=0.05)
