"""Seeded simulations: run many experiments at the sample size the tool computes and count rejections.

At the computed n, the share of simulated experiments whose test rejects must equal the reported power
within 2 points (4,000 experiments each: the Monte Carlo standard error is about 0.6 points).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tools.power import PowerRequest, power

#: Seeded simulations: `python3 dev.py test --fast` skips them.
pytestmark = pytest.mark.slow

SIMULATIONS = 4_000
TOLERANCE = 0.02


def _pooled_t_rejects(
    control: np.ndarray, treatment: np.ndarray, alpha: float, alternative: str = "two-sided"
) -> np.ndarray:
    """Pooled two-sample t-test per row (the test the power formula describes)."""
    result = stats.ttest_ind(treatment, control, axis=1, equal_var=True, alternative=_scipy(alternative))
    return np.asarray(result.pvalue < alpha)


def _scipy(alternative: str) -> str:
    return {"two-sided": "two-sided", "larger": "greater", "smaller": "less"}[alternative]


def _pooled_z_rejects(x1: np.ndarray, n1: int, x2: np.ndarray, n2: int, alpha: float, alternative: str) -> np.ndarray:
    """Two-proportion z-test with the pooled variance, per simulated experiment (x = successes)."""
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    z = (p2 - p1) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if alternative == "two-sided":
        return np.asarray(np.abs(z) > stats.norm.ppf(1 - alpha / 2))
    if alternative == "larger":
        return np.asarray(z > stats.norm.ppf(1 - alpha))
    return np.asarray(z < -stats.norm.ppf(1 - alpha))


def test_mean_sample_size_reaches_its_power() -> None:
    result = power(PowerRequest(metric="mean", baseline=10.0, std_dev=2.0, mde=1.0))
    rng = np.random.default_rng(20261125)
    n = result.n_per_arm
    control = rng.normal(10.0, 2.0, size=(SIMULATIONS, n))
    treatment = rng.normal(11.0, 2.0, size=(SIMULATIONS, result.n_treatment))
    rate = _pooled_t_rejects(control, treatment, 0.05).mean()
    assert abs(rate - result.power) < TOLERANCE, (rate, result.power)


def test_proportion_sample_size_reaches_its_power() -> None:
    result = power(PowerRequest(metric="proportion", baseline=0.1, mde=0.2, mde_kind="relative", power=0.9))
    rng = np.random.default_rng(7)
    n1, n2 = result.n_per_arm, result.n_treatment
    x1 = rng.binomial(n1, 0.1, size=SIMULATIONS)
    x2 = rng.binomial(n2, 0.12, size=SIMULATIONS)
    rate = _pooled_z_rejects(x1, n1, x2, n2, 0.05, "two-sided").mean()
    assert abs(rate - result.power) < TOLERANCE, (rate, result.power)


def test_one_sided_unequal_allocation_proportion() -> None:
    result = power(
        PowerRequest(metric="proportion", baseline=0.3, mde=-0.03, alternative="smaller", allocation_ratio=2.0)
    )
    rng = np.random.default_rng(11)
    n1, n2 = result.n_per_arm, result.n_treatment
    assert n2 == 2 * n1
    x1 = rng.binomial(n1, 0.3, size=SIMULATIONS)
    x2 = rng.binomial(n2, 0.27, size=SIMULATIONS)
    rate = _pooled_z_rejects(x1, n1, x2, n2, 0.05, "smaller").mean()
    assert abs(rate - result.power) < TOLERANCE, (rate, result.power)


def test_mde_is_detected_at_the_target_power() -> None:
    result = power(PowerRequest(metric="proportion", baseline=0.05, n_per_arm=20_000, solve_for="mde"))
    rng = np.random.default_rng(3)
    x1 = rng.binomial(20_000, 0.05, size=SIMULATIONS)
    x2 = rng.binomial(result.n_treatment, 0.05 + result.mde_absolute, size=SIMULATIONS)
    rate = _pooled_z_rejects(x1, 20_000, x2, result.n_treatment, 0.05, "two-sided").mean()
    assert abs(rate - 0.8) < TOLERANCE, rate


def test_cluster_randomized_design_reaches_its_power() -> None:
    m, icc, sd = 10, 0.05, 1.0
    result = power(PowerRequest(metric="mean", baseline=0.0, std_dev=sd, mde=0.15, cluster_size=float(m), icc=icc))
    assert result.clusters_per_arm is not None and result.clusters_per_arm >= 20
    rng = np.random.default_rng(5)
    k = result.n_per_arm // m  # whole clusters of m units; the tool's n is within one cluster of k * m
    assert result.n_per_arm - k * m < m

    def units(shift: float, simulations: int = SIMULATIONS) -> np.ndarray:
        cluster_effects = rng.normal(0.0, sd * np.sqrt(icc), size=(simulations, k, 1))
        noise = rng.normal(0.0, sd * np.sqrt(1 - icc), size=(simulations, k, m))
        return np.asarray(shift + cluster_effects + noise)

    rate = _pooled_t_rejects(units(0.0).mean(axis=2), units(0.15).mean(axis=2), 0.05).mean()
    whole_clusters = PowerRequest(
        metric="mean",
        baseline=0.0,
        std_dev=sd,
        mde=0.15,
        cluster_size=float(m),
        icc=icc,
        n_per_arm=k * m,
        solve_for="power",
    )
    expected = power(whole_clusters).power
    assert abs(rate - expected) < TOLERANCE, (rate, expected)
    # analysing units as if they were independent is the classic mistake: well above 5% false positives
    naive = _pooled_t_rejects(units(0.0, 1_000).reshape(1_000, -1), units(0.0, 1_000).reshape(1_000, -1), 0.05)
    assert naive.mean() > 0.07


def test_cuped_variance_reduction_reaches_its_power() -> None:
    r_squared = 0.5
    result = power(PowerRequest(metric="mean", baseline=0.0, std_dev=1.0, mde=0.1, variance_reduction=r_squared))
    rng = np.random.default_rng(13)
    n1, n2 = result.n_per_arm, result.n_treatment
    rho = np.sqrt(r_squared)

    def arm(n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
        covariate = rng.normal(size=(SIMULATIONS, n))
        outcome = shift + rho * covariate + np.sqrt(1 - rho**2) * rng.normal(size=(SIMULATIONS, n))
        return covariate, outcome

    x1, y1 = arm(n1, 0.0)
    x2, y2 = arm(n2, 0.1)
    # CUPED with the pooled theta, as the ab_test tool will do
    x = np.concatenate([x1, x2], axis=1)
    y = np.concatenate([y1, y2], axis=1)
    xc = x - x.mean(axis=1, keepdims=True)
    theta = (xc * (y - y.mean(axis=1, keepdims=True))).sum(axis=1) / (xc**2).sum(axis=1)
    adjusted = y - theta[:, None] * xc
    rate = _pooled_t_rejects(adjusted[:, :n1], adjusted[:, n1:], 0.05).mean()
    assert abs(rate - result.power) < TOLERANCE, (rate, result.power)


def test_bonferroni_arms_keep_power_per_comparison() -> None:
    result = power(PowerRequest(metric="proportion", baseline=0.2, mde=0.02, arms=3))
    rng = np.random.default_rng(17)
    n1, n2 = result.n_per_arm, result.n_treatment
    x_control = rng.binomial(n1, 0.2, size=SIMULATIONS)
    x_treatment = rng.binomial(n2, 0.22, size=SIMULATIONS)
    rate = _pooled_z_rejects(x_control, n1, x_treatment, n2, 0.05 / 2, "two-sided").mean()
    assert abs(rate - result.power) < TOLERANCE, (rate, result.power)
    # and with no effect, the chance that either of the two comparisons rejects stays at or below alpha
    x_a = rng.binomial(n2, 0.2, size=SIMULATIONS)
    x_b = rng.binomial(n2, 0.2, size=SIMULATIONS)
    either = _pooled_z_rejects(x_control, n1, x_a, n2, 0.025, "two-sided") | _pooled_z_rejects(
        x_control, n1, x_b, n2, 0.025, "two-sided"
    )
    assert either.mean() < 0.05 + TOLERANCE / 2
