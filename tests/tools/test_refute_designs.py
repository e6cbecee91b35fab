"""refute's design adapters: placebos respect the design, resampling respects units, figures are wired right."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from tools.refute.designs.did import DiffInDiffDesign
from tools.refute.models import RefuteRequest, RefuteResult
from tools.refute.sensitivity import e_value_risk_ratio
from tools.refute.tool import refute


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread() -> Iterator[None]:
    """Small linear algebra on a shared 2-core machine: OpenBLAS's spinning threads only slow it down."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def run(tool: str, target: dict[str, Any], frame: pd.DataFrame, **fields: Any) -> RefuteResult:
    return refute(RefuteRequest.model_validate({"target": {"tool": tool, "request": target}, **fields}), frame)


def staggered(units: int = 45, seed: int = 3) -> pd.DataFrame:
    """Three cohorts: never treated (0), adopting in period 4, adopting in period 6; effect 1."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(units), 8)
    period = np.tile(np.arange(1, 9), units)
    first = np.array([0, 4, 6])[unit % 3]
    post = (first > 0) & (period >= first)
    y = rng.normal(size=units)[unit] + 0.2 * period + 1.0 * post + rng.normal(scale=0.5, size=len(unit))
    return pd.DataFrame({"unit": unit, "period": period, "first": first, "y": y})


STAGGERED = {"dataset": "p", "outcome": "y", "unit": "unit", "time": "period", "cohort": "first"}


def test_did_placebo_moves_whole_units_between_cohorts_keeping_cohort_sizes() -> None:
    frame = staggered()
    design = DiffInDiffDesign(STAGGERED, frame, 0.05)
    seen: list[pd.DataFrame] = []
    original = design.estimate

    def capture(altered: pd.DataFrame, request: Any | None = None) -> tuple[float, float]:
        seen.append(altered)
        return original(altered, request)

    design.estimate = capture  # type: ignore[method-assign,assignment]
    design.placebo(np.random.default_rng(1))
    placebo = seen[0]
    per_unit = placebo.groupby("unit")["first"].nunique()
    assert (per_unit == 1).all()  # a unit keeps one adoption date for all its periods
    sizes = placebo.groupby("unit")["first"].first().value_counts().sort_index()
    assert sizes.to_dict() == {0: 15, 4: 15, 6: 15}
    assert not placebo["first"].equals(frame["first"])


def test_did_battery_on_staggered_adoption_drops_cohorts_and_resamples_clusters() -> None:
    result = run("diff_in_diff", STAGGERED, staggered(), checks=["leave_one_out", "bootstrap"], simulations=20)
    loo, boot = result.checks
    assert "Dropped each cohort in turn (2 refits)" in loo.procedure
    assert loo.estimate is not None and loo.verdict == "pass"
    assert boot.distribution is not None and boot.distribution.failed_draws == 0
    assert 0.5 < boot.distribution.std_dev / result.original.std_error < 1.5


def test_ab_test_pre_period_imbalance_fails_the_balance_check() -> None:
    rng = np.random.default_rng(0)
    n = 3_000
    arm = rng.choice(["control", "treatment"], size=n)
    pre = rng.gamma(2.0, 10.0, size=n) + np.where(arm == "treatment", 3.0, 0.0)  # measured after assignment
    frame = pd.DataFrame({"arm": arm, "revenue": 0.8 * pre + rng.normal(0, 10, size=n), "pre_revenue": pre})
    target = {
        "dataset": "exp",
        "arm_column": "arm",
        "metrics": [{"name": "revenue", "covariate_column": "pre_revenue"}],
    }
    result = run("ab_test", target, frame, checks=["covariate_balance"])
    assert result.checks[0].verdict == "fail"
    assert result.verdict == "failed"


def test_binary_outcome_e_value_is_on_the_risk_ratio_scale() -> None:
    rng = np.random.default_rng(2)
    n = 4_000
    x = rng.normal(size=n)
    d = rng.binomial(1, 1 / (1 + np.exp(-0.7 * x)))
    y = rng.binomial(1, 1 / (1 + np.exp(-(-1.5 + 0.8 * x + 0.9 * d))))
    frame = pd.DataFrame({"x": x, "d": d, "y": y})
    target = {"dataset": "o", "outcome": "y", "treatment": "d", "covariates": ["x"]}
    result = run("propensity", target, frame, checks=["e_value"])
    figures = result.sensitivity.e_value
    assert figures is not None and figures.scale == "risk_ratio"
    # ATT: the treated units' observed rate against their counterfactual rate (observed minus the effect)
    treated_rate = float(frame.loc[frame["d"] == 1, "y"].mean())
    o = result.original
    expected = e_value_risk_ratio(
        treated_rate / (treated_rate - o.estimate),
        treated_rate / (treated_rate - o.ci_lower),
        treated_rate / (treated_rate - o.ci_upper),
    )
    assert math.isclose(figures.point, expected.point, rel_tol=1e-12)
    assert math.isclose(figures.ci, expected.ci, rel_tol=1e-12)
    assert result.checks[0].verdict == "pass"
