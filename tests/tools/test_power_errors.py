"""Bad power requests get a ToolError with a code, a message naming the problem and a hint; never a number."""

from __future__ import annotations

from typing import Any

import pytest

from tools.errors import ToolError
from tools.power import PowerRequest, power
from tools.registry import dispatch

MEAN: dict[str, Any] = {"metric": "mean", "baseline": 10.0, "std_dev": 2.0}
RATE: dict[str, Any] = {"metric": "proportion", "baseline": 0.1}


def error_of(**fields: Any) -> ToolError:
    with pytest.raises(ToolError) as caught:
        power(PowerRequest(**fields))
    error = caught.value
    assert error.message and error.hint
    return error


@pytest.mark.parametrize("baseline", [0.0, 1.0, 1.2, -0.1])
def test_rate_outside_unit_interval(baseline: float) -> None:
    error = error_of(metric="proportion", baseline=baseline, mde=0.01)
    assert error.code == "baseline_out_of_range"
    assert "0.12 for 12%" in error.hint


def test_mean_without_std_dev() -> None:
    error = error_of(metric="mean", baseline=10.0, mde=1.0)
    assert error.code == "missing_std_dev"


def test_zero_mde() -> None:
    assert error_of(**MEAN, mde=0.0).code == "zero_mde"


@pytest.mark.parametrize(("mde", "kind"), [(0.95, "absolute"), (-0.2, "absolute"), (10.0, "relative")])
def test_mde_pushing_rate_outside(mde: float, kind: str) -> None:
    error = error_of(**RATE, mde=mde, mde_kind=kind)
    assert error.code == "mde_out_of_range"
    assert "outside (0, 1)" in error.message


def test_relative_mde_needs_positive_baseline() -> None:
    error = error_of(metric="mean", baseline=0.0, std_dev=1.0, mde=0.1, mde_kind="relative")
    assert error.code == "relative_mde_needs_positive_baseline"


@pytest.mark.parametrize(("alternative", "mde"), [("larger", -0.01), ("smaller", 0.01)])
def test_wrong_sign_one_sided(alternative: str, mde: float) -> None:
    error = error_of(**RATE, mde=mde, alternative=alternative)
    assert error.code == "mde_sign_mismatch"
    assert alternative in error.message


@pytest.mark.parametrize(("target", "alpha"), [(0.05, 0.05), (0.04, 0.05), (0.1, 0.2)])
def test_power_not_above_alpha(target: float, alpha: float) -> None:
    error = error_of(**MEAN, mde=1.0, power=target, alpha=alpha)
    assert error.code == "power_not_above_alpha"


def test_missing_unknown_and_two_unknowns() -> None:
    assert error_of(**MEAN).code == "missing_mde"  # solve for sample size without an effect
    assert error_of(**MEAN, solve_for="power", n_per_arm=100).code == "missing_mde"
    assert error_of(**MEAN, solve_for="mde").code == "missing_n_per_arm"
    assert error_of(**MEAN, solve_for="power", mde=1.0).code == "missing_n_per_arm"
    assert error_of(**MEAN, mde=1.0, n_per_arm=100).code == "conflicting_unknowns"
    assert error_of(**MEAN, solve_for="mde", n_per_arm=100, mde=1.0).code == "conflicting_unknowns"
    assert error_of(**MEAN, solve_for="power", n_per_arm=100, mde=1.0, power=0.8).code == "conflicting_unknowns"


def test_cluster_needs_both_size_and_icc() -> None:
    assert error_of(**MEAN, mde=1.0, cluster_size=10.0).code == "incomplete_cluster_design"
    assert error_of(**MEAN, mde=1.0, icc=0.1).code == "incomplete_cluster_design"


def test_too_few_units_for_a_test() -> None:
    error = error_of(**MEAN, mde=1.0, n_per_arm=15, cluster_size=10.0, icc=0.1, solve_for="power")
    assert error.code == "too_few_units"
    assert "has 20 units" in error.message  # 2 clusters of 10 units in control at the smallest


def test_effect_too_small_for_any_sample() -> None:
    error = error_of(metric="mean", baseline=1.0, std_dev=1e6, mde=1e-6)
    assert error.code == "sample_size_too_large"


def test_no_detectable_rate_change_with_tiny_sample() -> None:
    error = error_of(metric="proportion", baseline=0.5, n_per_arm=3, solve_for="mde", power=0.99)
    assert error.code == "no_detectable_effect"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({**MEAN, "mde": 1.0, "icc": 1.0, "cluster_size": 5.0}, "icc"),
        ({**MEAN, "mde": 1.0, "icc": -0.1, "cluster_size": 5.0}, "icc"),
        ({**MEAN, "mde": 1.0, "power": 1.0}, "power"),
        ({**MEAN, "mde": 1.0, "alpha": 0.0}, "alpha"),
        ({**MEAN, "mde": 1.0, "arms": 1}, "arms"),
        ({**MEAN, "mde": 1.0, "variance_reduction": 1.0}, "variance_reduction"),
        ({**MEAN, "mde": 1.0, "daily_units": 0}, "daily_units"),
        ({**MEAN, "solve_for": "power", "mde": 1.0, "n_per_arm": 10**13}, "n_per_arm"),
        ({"metric": "mean", "baseline": 10.0, "std_dev": -2.0, "mde": 1.0}, "std_dev"),
        ({**MEAN, "mde": 1.0, "metric": "median"}, "metric"),
    ],
)
def test_out_of_bounds_fields_are_named(fields: dict[str, Any], field: str) -> None:
    outcome = dispatch("power", fields)
    assert isinstance(outcome, ToolError)
    assert outcome.code == "invalid_arguments"
    assert f"'{field}'" in outcome.message


def test_non_finite_numbers_are_rejected_before_any_computation() -> None:
    outcome = dispatch("power", '{"metric": "mean", "baseline": 10, "std_dev": 2, "mde": NaN}')
    assert isinstance(outcome, ToolError)
    assert outcome.code == "invalid_json"
    outcome = dispatch("power", {**MEAN, "mde": float("inf")})
    assert isinstance(outcome, ToolError)
    assert outcome.code == "invalid_arguments"


def test_std_dev_for_a_proportion_is_ignored_not_used() -> None:
    with_sd = power(PowerRequest(**RATE, mde=0.01, std_dev=5.0))
    without = power(PowerRequest(**RATE, mde=0.01))
    assert with_sd.n_per_arm == without.n_per_arm
    assert with_sd.std_dev is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({**MEAN, "std_dev": 1e200, "mde": 1.0}, "std_dev"),
        ({**MEAN, "std_dev": 5e-324, "mde": 1.0}, "std_dev"),
        ({**MEAN, "mde": 1e200}, "mde"),
        ({**MEAN, "baseline": -1e300, "mde": 1.0}, "baseline"),
        ({**MEAN, "mde": 1.0, "alpha": 1e-300}, "alpha"),
    ],
)
def test_magnitudes_beyond_any_measurement_are_refused_by_the_schema(fields: dict[str, Any], field: str) -> None:
    """Issue 16, item 7: std_dev 1e200 raised OverflowError, a subnormal std_dev made the effect size infinite."""
    outcome = dispatch("power", fields)
    assert isinstance(outcome, ToolError)
    assert outcome.code == "invalid_arguments"
    assert f"'{field}'" in outcome.message


@pytest.mark.parametrize("fields", [{**MEAN, "mde": 1e-200}, {**MEAN, "std_dev": 1e15, "mde": 1e-15}])
def test_an_effect_negligible_beside_the_noise_needs_too_many_units(fields: dict[str, Any]) -> None:
    assert error_of(**fields).code == "sample_size_too_large"


@pytest.mark.parametrize("daily_units", [1e-320, 1e-300, 0.003])
def test_a_duration_beyond_a_century_is_refused(daily_units: float) -> None:
    """Issue 16, items 7 and 10: daily_units 1e-320 overflowed, 1e-300 reported a 303-digit number of days."""
    error = error_of(**MEAN, mde=1.0, daily_units=daily_units)
    assert error.code == "duration_too_long"
    assert "the 128 units of this design take more than 100 years" in error.message
    assert "daily_units" in error.hint


def test_a_duration_within_a_century_is_reported() -> None:
    result = power(PowerRequest(**MEAN, mde=1.0, daily_units=128 / 36_000))
    assert result.n_total == 128 and result.duration_days == 36_000


def test_a_relative_mde_over_a_negligible_baseline_is_null_not_infinite() -> None:
    """Found by the fuzz: a rate of 5e-324 made mde_relative = 0.2 / 5e-324 infinite (a numerical_failure)."""
    result = power(PowerRequest(metric="proportion", baseline=5e-324, mde=0.2))
    assert result.mde_relative is None and all(point.mde_relative is None for point in result.curve)
    assert result.mde_absolute == 0.2 and "relative" not in result.summary
