"""The power tool against independent references: published tables, R's documented examples, statsmodels.

Published values cited:
- G*Power 3 (Faul et al., 2007), t tests - means: difference between two independent means, a priori,
  two tails, alpha = .05, power = .80: d = 0.2 -> 394, d = 0.5 -> 64, d = 0.8 -> 26 per group; one tail,
  d = 0.5 -> 51 per group.
- R 4.x ``?power.t.test`` examples: power.t.test(n = 20, delta = 1) -> power = 0.8689528;
  power.t.test(power = .90, delta = 1) -> n = 22.02110; power.t.test(power = .90, delta = 1,
  alternative = "one.sided") -> n = 17.84713.
- R 4.x ``?power.prop.test`` examples: power.prop.test(n = 50, p1 = .50, p2 = .75) -> power = 0.7401659;
  power.prop.test(p1 = .50, p2 = .75, power = .90) -> n = 76.65294.
R's defaults use strict = FALSE (the far rejection tail is ignored for two-sided tests); whyscope counts both
tails, which moves these powers by less than 1e-5.
"""

from __future__ import annotations

import itertools
import math
import re
from typing import Any

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import TTestIndPower
from statsmodels.stats.proportion import power_proportions_2indep

from tools.power import PowerRequest, PowerResult, power


def run(**fields: Any) -> PowerResult:
    return power(PowerRequest(**fields))


# --- published tables ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("d", "expected"), [(0.2, 394), (0.5, 64), (0.8, 26)])
def test_gpower_two_sided_sample_sizes(d: float, expected: int) -> None:
    result = run(metric="mean", baseline=100.0, std_dev=10.0, mde=10.0 * d)
    assert result.n_per_arm == expected
    assert result.n_treatment == expected
    assert result.n_total == 2 * expected
    assert result.power >= 0.8
    np.testing.assert_allclose(result.standardized_effect, d, rtol=1e-12)


def test_gpower_one_sided_sample_size() -> None:
    result = run(metric="mean", baseline=100.0, std_dev=10.0, mde=5.0, alternative="larger")
    assert result.n_per_arm == 51


def test_r_power_t_test_examples() -> None:
    result = run(metric="mean", baseline=0.0, std_dev=1.0, mde=1.0, n_per_arm=20, solve_for="power")
    np.testing.assert_allclose(result.power, 0.8689528, atol=1e-6)
    # n = 22.02110 and 17.84713 in R: whole units round up
    assert run(metric="mean", baseline=0.0, std_dev=1.0, mde=1.0, power=0.9).n_per_arm == 23
    assert run(metric="mean", baseline=0.0, std_dev=1.0, mde=1.0, power=0.9, alternative="larger").n_per_arm == 18


def test_r_power_prop_test_examples() -> None:
    result = run(metric="proportion", baseline=0.5, mde=0.25, n_per_arm=50, solve_for="power")
    np.testing.assert_allclose(result.power, 0.7401659, atol=1e-5)
    assert run(metric="proportion", baseline=0.5, mde=0.25, power=0.9).n_per_arm == 77  # R: 76.65294


# --- statsmodels on a grid -------------------------------------------------------------------------------

MEAN_GRID = [
    (d, n, ratio, alternative)
    for d in (0.05, 0.2, 0.5, 1.0)
    for n in (10, 64, 500, 20_000)
    for ratio in (0.5, 1.0, 2.0)
    for alternative in ("two-sided", "larger", "smaller")
]


@pytest.mark.parametrize(("d", "n", "ratio", "alternative"), MEAN_GRID)
def test_mean_power_matches_statsmodels(d: float, n: int, ratio: float, alternative: str) -> None:
    signed = -d if alternative == "smaller" else d
    expected = TTestIndPower().power(effect_size=signed, nobs1=n, alpha=0.05, ratio=ratio, alternative=alternative)
    result = run(
        metric="mean",
        baseline=50.0,
        std_dev=4.0,
        mde=4.0 * signed,
        n_per_arm=n,
        allocation_ratio=ratio,
        alternative=alternative,
        solve_for="power",
    )
    if math.isfinite(expected):
        np.testing.assert_allclose(result.power, expected, rtol=1e-9, atol=1e-12)
    else:
        # statsmodels itself returns NaN where scipy's noncentral t fails deep in a tail (large df and effect);
        # there the normal approximation is exact to well within 1e-4
        z = stats.norm.ppf(1 - (0.025 if alternative == "two-sided" else 0.05))
        noncentrality = abs(d) / math.sqrt(1 / n + 1 / (ratio * n))
        np.testing.assert_allclose(result.power, stats.norm.cdf(noncentrality - z), atol=1e-4)


@pytest.mark.parametrize(
    ("d", "ratio", "target"), [(0.1, 1.0, 0.8), (0.25, 2.0, 0.9), (0.6, 0.5, 0.8), (0.04, 1.0, 0.95)]
)
def test_mean_sample_size_is_statsmodels_rounded_up(d: float, ratio: float, target: float) -> None:
    continuous = TTestIndPower().solve_power(effect_size=d, alpha=0.05, power=target, ratio=ratio)
    result = run(metric="mean", baseline=10.0, std_dev=1.0, mde=d, power=target, allocation_ratio=ratio)
    assert result.n_per_arm == math.ceil(continuous)
    assert result.n_treatment == math.ceil(ratio * result.n_per_arm - 1e-9)


@pytest.mark.parametrize(("n", "ratio", "target"), [(30, 1.0, 0.8), (400, 2.0, 0.9), (5_000, 0.5, 0.8)])
def test_mean_mde_matches_statsmodels(n: int, ratio: float, target: float) -> None:
    d = TTestIndPower().solve_power(nobs1=n, alpha=0.05, power=target, ratio=ratio)
    result = run(
        metric="mean", baseline=10.0, std_dev=3.0, n_per_arm=n, allocation_ratio=ratio, power=target, solve_for="mde"
    )
    # statsmodels' own root finder stops at about 1e-6 relative; its power function is exact
    np.testing.assert_allclose(result.mde_absolute, 3.0 * d, rtol=5e-5)
    np.testing.assert_allclose(result.mde_relative, 3.0 * d / 10.0, rtol=5e-5)
    at_mde = TTestIndPower().power(effect_size=result.mde_absolute / 3.0, nobs1=n, alpha=0.05, ratio=ratio)
    np.testing.assert_allclose(at_mde, target, rtol=1e-9)


PROPORTION_GRID = [
    (p, rel, n, ratio, alternative)
    for p in (0.02, 0.1, 0.5, 0.9)
    for rel in (0.05, 0.1)
    for n in (200, 5_000, 100_000)
    for ratio in (0.5, 1.0, 3.0)
    for alternative in ("two-sided", "larger", "smaller")
]


@pytest.mark.parametrize(("p", "rel", "n", "ratio", "alternative"), PROPORTION_GRID)
def test_proportion_power_matches_statsmodels(p: float, rel: float, n: int, ratio: float, alternative: str) -> None:
    diff = (-rel if alternative == "smaller" else rel) * p
    # statsmodels' sample 1 is the treatment arm (prop1 = prop2 + diff); nobs2 = ratio * nobs1 is control.
    treatment_n = ratio * n
    expected = power_proportions_2indep(
        diff, p, nobs1=treatment_n, ratio=1 / ratio, alpha=0.05, alternative=alternative, return_results=False
    )
    result = run(
        metric="proportion",
        baseline=p,
        mde=diff,
        n_per_arm=n,
        allocation_ratio=ratio,
        alternative=alternative,
        solve_for="power",
    )
    np.testing.assert_allclose(result.power, expected, rtol=1e-9, atol=1e-12)


# --- closed forms and internal consistency ---------------------------------------------------------------


def test_proportion_sample_size_is_the_smallest_reaching_target() -> None:
    result = run(metric="proportion", baseline=0.1, mde=0.1, mde_kind="relative")
    below = run(metric="proportion", baseline=0.1, mde=0.01, n_per_arm=result.n_per_arm - 1, solve_for="power")
    at = run(metric="proportion", baseline=0.1, mde=0.01, n_per_arm=result.n_per_arm, solve_for="power")
    assert below.power < 0.8 <= at.power
    np.testing.assert_allclose(at.power, result.power, rtol=1e-12)
    # the textbook normal-approximation closed form (Fleiss) for equal arms gives the same n up to rounding
    p1, p2 = 0.1, 0.11
    pbar = (p1 + p2) / 2
    z_a, z_b = 1.959963984540054, 0.8416212335729143
    n = (z_a * math.sqrt(2 * pbar * (1 - pbar)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / 0.01**2
    assert abs(result.n_per_arm - n) <= 1.5


def test_solving_round_trips_between_unknowns() -> None:
    sized = run(metric="mean", baseline=20.0, std_dev=8.0, mde=0.03, mde_kind="relative", power=0.85)
    mde = run(metric="mean", baseline=20.0, std_dev=8.0, n_per_arm=sized.n_per_arm, power=sized.power, solve_for="mde")
    np.testing.assert_allclose(mde.mde_absolute, sized.mde_absolute, rtol=1e-8)
    powered = run(metric="mean", baseline=20.0, std_dev=8.0, mde=0.6, n_per_arm=sized.n_per_arm, solve_for="power")
    np.testing.assert_allclose(powered.power, sized.power, rtol=1e-12)


def test_relative_and_absolute_mde_agree() -> None:
    relative = run(metric="proportion", baseline=0.2, mde=0.05, mde_kind="relative")
    absolute = run(metric="proportion", baseline=0.2, mde=0.01)
    assert relative.n_per_arm == absolute.n_per_arm
    np.testing.assert_allclose(relative.mde_relative, 0.05)


def test_cluster_design_matches_a_t_test_on_cluster_means() -> None:
    # With equal clusters of m units, the cluster means have variance sd^2 * (ICC + (1 - ICC) / m), so the design
    # is a two-sample t-test on k clusters per arm: statsmodels solves it in clusters.
    m, icc, delta, sd = 25.0, 0.05, 0.2, 1.0
    cluster_d = delta / (sd * math.sqrt(icc + (1 - icc) / m))
    clusters = TTestIndPower().solve_power(effect_size=cluster_d, alpha=0.05, power=0.8)
    result = run(metric="mean", baseline=5.0, std_dev=sd, mde=delta, cluster_size=m, icc=icc)
    design_effect = 1 + 24 * 0.05
    np.testing.assert_allclose(result.design_effect, design_effect)
    assert result.n_per_arm == math.ceil(m * clusters)
    assert result.clusters_per_arm == math.ceil(result.n_per_arm / m)
    assert "design effect" in result.method
    # and the power at that size agrees with the cluster-level t-test
    check = TTestIndPower().power(effect_size=cluster_d, nobs1=result.n_per_arm / m, alpha=0.05)
    np.testing.assert_allclose(result.power, check, rtol=1e-9)
    # it is roughly the individual sample size times the design effect (df differ slightly)
    individual = TTestIndPower().solve_power(effect_size=delta / sd, alpha=0.05, power=0.8)
    assert design_effect * individual <= result.n_per_arm <= design_effect * individual * 1.03


def test_variance_reduction_scales_sample_size_by_one_minus_r_squared() -> None:
    base = TTestIndPower().solve_power(effect_size=0.1, alpha=0.05, power=0.8)
    reduced = TTestIndPower().solve_power(effect_size=0.1 / math.sqrt(1 - 0.4), alpha=0.05, power=0.8)
    result = run(metric="mean", baseline=5.0, std_dev=1.0, mde=0.1, variance_reduction=0.4)
    assert result.n_per_arm == math.ceil(reduced)
    assert result.n_per_arm < math.ceil(base) * 0.61
    assert any(c.name == "variance_reduction_assumption" and c.status == "not_tested" for c in result.checks)


def test_more_arms_use_bonferroni() -> None:
    result = run(metric="mean", baseline=5.0, std_dev=1.0, mde=0.3, arms=4)
    expected = TTestIndPower().solve_power(effect_size=0.3, alpha=0.05 / 3, power=0.8)
    assert result.alpha_per_comparison == pytest.approx(0.05 / 3)
    assert result.n_per_arm == math.ceil(expected)
    assert result.n_total == 4 * result.n_per_arm
    assert any(c.name == "multiple_comparisons" for c in result.checks)


def test_unequal_allocation_and_duration() -> None:
    result = run(metric="proportion", baseline=0.3, mde=0.03, allocation_ratio=0.5, daily_units=1_000.0, arms=3)
    assert result.n_treatment == math.ceil(0.5 * result.n_per_arm - 1e-9)
    assert result.n_total == result.n_per_arm + 2 * result.n_treatment
    assert result.duration_days == math.ceil(result.n_total / 1_000)


def test_short_duration_warns_and_rounds_up_to_whole_days() -> None:
    result = run(metric="mean", baseline=10.0, std_dev=2.0, mde=1.0, daily_units=50.0)  # 128 units
    assert result.duration_days == 3  # 128 / 50 = 2.56 days
    assert any("full week" in w for w in result.warnings)
    assert [c.status for c in result.checks if c.name == "full_week"] == ["warn"]
    long_enough = run(metric="mean", baseline=10.0, std_dev=2.0, mde=1.0, daily_units=10.0)
    assert long_enough.duration_days == 13
    assert not any("full week" in w for w in long_enough.warnings)


def test_decrease_for_two_sided_proportion_and_smaller_alternative() -> None:
    down = run(metric="proportion", baseline=0.3, mde=-0.03)
    one_sided = run(metric="proportion", baseline=0.3, mde=-0.03, alternative="smaller")
    assert one_sided.n_per_arm < down.n_per_arm
    mde = run(metric="proportion", baseline=0.3, n_per_arm=one_sided.n_per_arm, alternative="smaller", solve_for="mde")
    assert mde.mde_absolute < 0
    np.testing.assert_allclose(mde.mde_absolute, -0.03, rtol=1e-3)


@pytest.mark.parametrize("solve_for", ["sample_size", "mde", "power"])
def test_curve_has_enough_ordered_points(solve_for: str) -> None:
    fields: dict[str, Any] = {"metric": "proportion", "baseline": 0.1, "solve_for": solve_for}
    if solve_for != "mde":
        fields["mde"] = 0.01
    if solve_for != "sample_size":
        fields["n_per_arm"] = 8_000
    result = run(**fields)
    sizes = [p.n_per_arm for p in result.curve]
    assert len(sizes) >= 50
    assert sizes == sorted(sizes)
    assert len(set(sizes)) == len(sizes)
    if solve_for == "mde":
        assert result.curve_kind == "mde_vs_n"
        effects = [p.mde_absolute for p in result.curve]
        assert all(a > b for a, b in itertools.pairwise(effects))  # more units, smaller MDE
        at_n = [p for p in result.curve if p.n_per_arm == 8_000]
        assert at_n
        np.testing.assert_allclose(at_n[0].mde_absolute, result.mde_absolute, rtol=1e-8)
    else:
        assert result.curve_kind == "power_vs_n"
        powers = [p.power for p in result.curve]
        assert all(a <= b for a, b in itertools.pairwise(powers))
        assert powers[0] < result.power < powers[-1]


def test_huge_sample_sizes_stay_finite() -> None:
    # scipy's noncentral t returns NaN deep in its tails at large df; the fallback must keep power exact enough
    result = run(metric="mean", baseline=100.0, std_dev=50.0, mde=0.1)
    expected = TTestIndPower().solve_power(effect_size=0.002, alpha=0.05, power=0.8)
    assert result.n_per_arm == math.ceil(expected)
    assert all(0.0 <= p.power <= 1.0 for p in result.curve)


def test_result_is_deterministic_byte_for_byte() -> None:
    fields: dict[str, Any] = {"metric": "proportion", "baseline": 0.05, "n_per_arm": 12_345, "solve_for": "mde"}
    assert run(**fields).model_dump_json() == run(**fields).model_dump_json()


SUMMARY_CASES: list[dict[str, Any]] = [
    {"metric": "proportion", "baseline": 0.042, "mde": 0.05, "mde_kind": "relative", "daily_units": 12_000.0},
    {"metric": "proportion", "baseline": 0.3, "mde": 0.02, "cluster_size": 40.0, "icc": 0.02, "arms": 3},
    {"metric": "mean", "baseline": 25.0, "std_dev": 40.0, "n_per_arm": 5_000, "solve_for": "mde"},
    {"metric": "mean", "baseline": 25.0, "std_dev": 40.0, "n_per_arm": 5_000, "mde": 1.0, "solve_for": "power"},
]


@pytest.mark.parametrize("fields", SUMMARY_CASES)
def test_every_number_in_the_summary_is_a_field_of_the_result(fields: dict[str, Any]) -> None:
    result = run(**fields)
    values = [v for v in result.model_dump().values() if isinstance(v, int | float) and not isinstance(v, bool)]
    for token in re.findall(r"[+-]?\d[\d,]*\.?\d*%?", result.summary):
        number = float(token.rstrip("%").replace(",", ""))
        candidates = [number / 100, number] if token.endswith("%") else [number]
        assert any(math.isclose(c, v, rel_tol=5e-3, abs_tol=5e-4) for c in candidates for v in values), (
            f"{token} in the summary is not one of the result's numbers"
        )
    if "cluster_size" in fields:
        assert f"{result.clusters_per_arm:,} clusters of 40 units" in result.summary
