"""refute on generated data with known effects and known failures: sound analyses pass, designed failures fail.

Tolerances: the placebo, random-common-cause and subset figures are means over 100 draws; with the estimate's
standard error about 0.05 at these sizes, the Monte-Carlo SE of a placebo mean is about 0.005, so "within 0.02 of
0" (the issue's bar) is four Monte-Carlo SEs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from tools.refute.models import RefuteCheck, RefuteRequest, RefuteResult
from tools.refute.tool import refute

#: Seeded simulations: `python3 dev.py test --fast` skips them.
pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread() -> Iterator[None]:
    """Small linear algebra on a shared 2-core machine: OpenBLAS's spinning threads only slow it down."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def run(tool: str, target: dict[str, Any], frame: pd.DataFrame, **fields: Any) -> RefuteResult:
    return refute(RefuteRequest.model_validate({"target": {"tool": tool, "request": target}, **fields}), frame)


def by_name(result: RefuteResult) -> dict[str, RefuteCheck]:
    return {c.name: c for c in result.checks}


# --- propensity --------------------------------------------------------------------------------------------


def observational(n: int = 2_000, seed: int = 0, effect: float = 1.0, overlap: float = 1.0) -> pd.DataFrame:
    """x1 (strong) and x2 (weaker) drive both the choice to be treated and the outcome."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    d = rng.binomial(1, 1 / (1 + np.exp(-overlap * (0.8 * x1 + 0.4 * x2))))
    y = effect * d + 0.8 * x1 + 0.4 * x2 + rng.normal(size=n)
    return pd.DataFrame({"x1": x1, "x2": x2, "d": d, "y": y})


def propensity_target(covariates: list[str]) -> dict[str, Any]:
    return {"dataset": "obs", "outcome": "y", "treatment": "d", "covariates": covariates}


def test_correctly_adjusted_propensity_analysis_is_robust() -> None:
    result = run("propensity", propensity_target(["x1", "x2"]), observational(), simulations=100)
    checks = by_name(result)
    placebo, cause, subset = checks["placebo_treatment"], checks["random_common_cause"], checks["data_subset"]
    assert placebo.distribution is not None and cause.distribution is not None and subset.distribution is not None
    assert abs(placebo.distribution.mean) < 0.02
    assert (
        max(
            abs(cause.distribution.minimum - result.original.estimate),
            abs(cause.distribution.maximum - result.original.estimate),
        )
        < 0.02
    )
    assert abs(subset.distribution.mean - result.original.estimate) < 0.02
    assert [c.verdict for c in result.checks] == ["pass"] * 8  # rosenbaum_bounds joined the battery
    assert result.verdict == "robust"
    assert abs(result.original.estimate - 1.0) < 3 * result.original.std_error  # the known effect


def test_omitted_confounder_is_flagged_as_fragile() -> None:
    # no effect at all; leaving x2 out creates a spurious one, which a confounder as strong as x1 explains away
    result = run("propensity", propensity_target(["x1"]), observational(effect=0.0), simulations=20)
    assert result.original.ci_lower > 0  # the spurious "effect" is significant
    ovb = by_name(result)["omitted_variable_bounds"]
    assert ovb.verdict == "fail"
    bounds = result.sensitivity.omitted_variable_bounds
    assert bounds is not None and bounds.benchmark_covariate == "x1"
    assert bounds.benchmark_adjusted_ci_lower is not None and bounds.benchmark_adjusted_ci_lower < 0
    assert result.verdict == "fragile"
    assert "omitted_variable_bounds" in result.decided_by
    assert "FRAGILE" in result.summary


def test_poor_overlap_fails() -> None:
    frame = observational(overlap=5.0)
    result = run("propensity", propensity_target(["x1", "x2"]), frame, checks=["overlap", "covariate_balance"])
    assert by_name(result)["overlap"].verdict == "fail"
    assert result.verdict == "failed" and "overlap" in result.decided_by


# --- diff_in_diff ----------------------------------------------------------------------------------------


def panel(pre_trend: float = 0.0, seed: int = 2, units: int = 40, periods: int = 8) -> pd.DataFrame:
    """Half the units adopt in period 5 (effect 1); with pre_trend, they also drift apart from the start."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(units), periods)
    period = np.tile(np.arange(periods), units)
    treated_unit = unit < units // 2
    level = rng.normal(size=units)[unit]
    post = treated_unit & (period >= 5)
    y = level + 0.3 * period + 1.0 * post + pre_trend * period * treated_unit + rng.normal(scale=0.5, size=len(unit))
    return pd.DataFrame({"unit": unit, "period": period, "treated": post.astype(np.int64), "y": y})


DID = {"dataset": "panel", "outcome": "y", "unit": "unit", "time": "period", "treatment": "treated"}


def test_parallel_panel_is_robust_and_pre_trend_fails() -> None:
    sound = run("diff_in_diff", DID, panel(), simulations=40)
    assert sound.verdict == "robust", sound.summary
    assert abs(sound.original.estimate - 1.0) < 3 * sound.original.std_error
    placebo = by_name(sound)["placebo_treatment"]
    assert (
        placebo.distribution is not None and abs(placebo.distribution.mean) < 4 * placebo.distribution.std_dev / 40**0.5
    )
    assert sound.sensitivity.breakdown_mbar is not None and sound.sensitivity.breakdown_mbar >= 1

    drifting = run("diff_in_diff", DID, panel(pre_trend=0.3), simulations=20)
    checks = by_name(drifting)
    assert checks["pre_trends"].verdict == "fail"
    assert checks["placebo_time"].verdict == "fail"
    assert drifting.verdict == "failed"
    assert set(drifting.decided_by) == {"pre_trends", "placebo_time"}


# --- rdd -----------------------------------------------------------------------------------------------------


def discontinuity(n: int = 3_000, seed: int = 4, bunching: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    if bunching:  # most units just below the cutoff push themselves just above it
        moved = (x > -0.1) & (x < 0) & (rng.random(n) < 0.7)
        x = np.where(moved, -0.5 * x, x)
    y = 0.5 * x + 0.4 * (x >= 0) + rng.normal(scale=0.3, size=n)
    return pd.DataFrame({"x": x, "y": y})


RDD = {"dataset": "rd", "outcome": "y", "running": "x"}


def test_clean_discontinuity_passes_and_bunching_fails() -> None:
    clean = run("rdd", RDD, discontinuity())
    checks = by_name(clean)
    assert checks["density_test"].verdict == "pass"
    assert checks["covariate_continuity"].verdict == "inconclusive"  # no covariates were given
    assert clean.verdict == "robust", clean.summary
    bunched = run("rdd", RDD, discontinuity(bunching=True))
    assert by_name(bunched)["density_test"].verdict == "fail"
    assert bunched.verdict == "failed" and "density_test" in bunched.decided_by


# --- ab_test ---------------------------------------------------------------------------------------------------


def experiment(n: int = 3_000, seed: int = 0, lift: float = 0.0, srm: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = rng.choice(["control", "treatment"], size=n, p=[0.56, 0.44] if srm else [0.5, 0.5])
    pre = rng.gamma(2.0, 10.0, size=n)
    revenue = 0.8 * pre + rng.normal(0, 10, size=n) + np.where(arm == "treatment", lift, 0.0)
    return pd.DataFrame({"arm": arm, "revenue": revenue, "pre_revenue": pre})


AB = {
    "dataset": "exp",
    "arm_column": "arm",
    "metrics": [{"name": "revenue", "kind": "continuous", "covariate_column": "pre_revenue"}],
}


def test_ab_test_battery_on_a_real_lift_a_null_and_a_broken_split() -> None:
    lifted = run("ab_test", AB, experiment(lift=2.0), simulations=100)
    checks = by_name(lifted)
    assert [c.verdict for c in lifted.checks] == ["pass"] * 4 and lifted.verdict == "robust"
    placebo = checks["placebo_treatment"]
    assert placebo.distribution is not None and abs(placebo.distribution.mean) < 0.02 * 20  # revenue units
    assert "A/A:" in placebo.detail

    null = run("ab_test", AB, experiment(seed=5), simulations=100)
    assert by_name(null)["placebo_treatment"].verdict == "inconclusive"  # the estimate is within the placebos

    planned = [{"arm": "control", "share": 1}, {"arm": "treatment", "share": 1}]
    broken = run("ab_test", {**AB, "expected_split": planned}, experiment(srm=True), simulations=20)
    assert by_name(broken)["sample_ratio"].verdict == "fail"
    assert broken.verdict == "failed" and broken.decided_by == ["sample_ratio"]
    # no planned split: the equal split is only assumed, so the same sizes cannot fail the battery
    assumed = run("ab_test", AB, experiment(srm=True), simulations=20)
    assert by_name(assumed)["sample_ratio"].verdict == "inconclusive" and assumed.verdict != "failed"
