"""Quantile metrics (tools.ab_test.quantiles): Woodruff standard errors for the difference of arm quantiles."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tools.ab_test.quantiles import min_rows_for_quantile, quantile_arm, quantile_difference
from tools.errors import ToolError


def test_sample_quantile_is_the_inverse_empirical_cdf() -> None:
    """The estimate is numpy's ``inverted_cdf`` quantile (R's ``quantile(type = 1)``) on every size around a rank
    boundary, including n q an integer in exact arithmetic (0.95 x 1000)."""
    rng = np.random.default_rng(1)
    for n in (200, 999, 1000, 1001, 2345):
        y = rng.lognormal(size=n)
        for q in (0.5, 0.9, 0.95):
            assert quantile_arm(y, q).quantile == np.quantile(y, q, method="inverted_cdf")


@pytest.mark.parametrize(("distribution", "q"), [(stats.lognorm(1.0), 0.9), (stats.norm(), 0.5), (stats.expon(), 0.95)])
def test_standard_error_matches_the_asymptotic_closed_form(distribution: stats.rv_continuous, q: float) -> None:
    """The Woodruff standard error, averaged over 30 samples of 200,000 rows, equals sqrt(q (1 - q) / n) / f(xi_q),
    the asymptotic standard error of a sample quantile (e.g. Serfling 1980, section 2.3.3), within 4%; and so does
    the spread of the 30 estimates, within 35% (the standard deviation of 30 draws is itself uncertain by ~13%).
    One sample's bracket spans 2 x 1.96 sqrt(n q (1 - q)) rows (380 at p95), so a single standard error varies by
    about 1 / sqrt(380) = 5%: hence the average."""
    n, reps = 200_000, 30
    rng = np.random.default_rng(11)
    arms = [quantile_arm(distribution.rvs(size=n, random_state=rng), q) for _ in range(reps)]
    closed = np.sqrt(q * (1 - q) / n) / distribution.pdf(distribution.ppf(q))
    np.testing.assert_allclose(np.mean([a.std_error for a in arms]), closed, rtol=0.04)
    np.testing.assert_allclose(np.std([a.quantile for a in arms], ddof=1), closed, rtol=0.35)


def test_difference_and_relative_combine_independent_arms() -> None:
    """The difference's variance is the sum of the arms'; the relative's is the delta method's (closed forms)."""
    rng = np.random.default_rng(2)
    control, treatment = rng.lognormal(0, 1, 3000), rng.lognormal(0.1, 1, 4000)
    result = quantile_difference(control, treatment, 0.95)
    c, t = result.control, result.treatment
    np.testing.assert_allclose(result.absolute.estimate, t.quantile - c.quantile, rtol=1e-15)
    np.testing.assert_allclose(result.absolute.std_error, np.hypot(c.std_error, t.std_error), rtol=1e-12)
    assert result.relative is not None
    ratio = t.quantile / c.quantile
    se = np.sqrt(t.std_error**2 / c.quantile**2 + ratio**2 * c.std_error**2 / c.quantile**2)
    np.testing.assert_allclose(result.relative.std_error, se, rtol=1e-12)
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose(result.absolute.ci_upper - result.absolute.estimate, z * result.absolute.std_error)


def _users(rng: np.random.Generator, users: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Requests of users: 1-9 each, log-latency = user effect + request noise (+ shift): rows of a user alike."""
    rows = rng.integers(1, 10, users)
    user = np.repeat(np.arange(users), rows)
    log_latency = rng.normal(0, 0.7, users)[user] + rng.normal(0, 0.7, rows.sum()) + shift
    return np.exp(log_latency), user


def test_coverage_and_size_iid_lognormal() -> None:
    """Seeded simulation (seed 26, 1,000 experiments of 2,000 and 3,000 lognormal rows, p90): the 95% interval of
    the difference covers the true difference (shift of log-latency 0.1: xi (e^0.1 - 1)) 93-97% of the time, the
    relative's covers e^0.1 - 1 as often, and the test under no difference rejects 3.5-6.5% of the time."""
    rng = np.random.default_rng(26)
    q, reps = 0.9, 1000
    xi = stats.lognorm(1.0).ppf(q)
    covered = covered_relative = rejected = 0
    for _ in range(reps):
        control, treatment = rng.lognormal(0, 1, 2000), rng.lognormal(0.1, 1, 3000)
        result = quantile_difference(control, treatment, q)
        covered += result.absolute.ci_lower <= xi * (np.exp(0.1) - 1) <= result.absolute.ci_upper
        assert result.relative is not None
        covered_relative += result.relative.ci_lower <= np.exp(0.1) - 1 <= result.relative.ci_upper
        null = quantile_difference(rng.lognormal(0, 1, 2000), rng.lognormal(0, 1, 3000), q)
        rejected += null.absolute.p_value < 0.05
    assert 0.93 <= covered / reps <= 0.97
    assert 0.93 <= covered_relative / reps <= 0.97
    assert 0.035 <= rejected / reps <= 0.065


def test_coverage_clustered_rows() -> None:
    """Seeded simulation (seed 27, 600 experiments of 2,000 users x 1-9 requests per arm, p90): with the users as
    clusters the 95% interval covers 92.5-97.5% of the time; treating requests as independent under-covers (< 88%),
    as the design effect (> 1.5) says. The true p90 of the request mixture is taken from 4 million requests."""
    rng = np.random.default_rng(27)
    q, reps = 0.9, 600
    big, _ = _users(np.random.default_rng(0), 800_000, 0.0)
    truth = np.quantile(big, q) * (np.exp(0.1) - 1)
    covered = naive = 0
    for _ in range(reps):
        (control, c_ids), (treatment, t_ids) = _users(rng, 2000, 0.0), _users(rng, 2000, 0.1)
        result = quantile_difference(control, treatment, q, control_clusters=c_ids, treatment_clusters=t_ids)
        covered += result.absolute.ci_lower <= truth <= result.absolute.ci_upper
        plain = quantile_difference(control, treatment, q)
        naive += plain.absolute.ci_lower <= truth <= plain.absolute.ci_upper
    assert result.control.design_effect > 1.5
    assert 0.925 <= covered / reps <= 0.975
    assert naive / reps < 0.88


def test_clustered_singletons_equal_iid() -> None:
    """One row per cluster: the cluster-robust share has design effect 1, so the standard error is the iid one."""
    y = np.random.default_rng(3).lognormal(size=500)
    clustered = quantile_arm(y, 0.5, np.arange(500))
    assert clustered.design_effect == pytest.approx(1.0, rel=1e-12)
    assert clustered.std_error == pytest.approx(quantile_arm(y, 0.5).std_error, rel=1e-12)


def test_refuses_too_few_rows_and_says_how_many() -> None:
    assert min_rows_for_quantile(0.95) == 200
    assert min_rows_for_quantile(0.5) == 20
    with pytest.raises(ToolError) as error:
        quantile_arm(np.arange(199.0), 0.95, arm="control")
    assert error.value.code == "too_few_rows_for_quantile"
    assert "at least 200" in error.value.message


def test_refuses_ties_non_finite_and_few_clusters() -> None:
    tied = np.r_[np.zeros(100), np.ones(900), np.full(100, 2.0)]
    with pytest.raises(ToolError) as error:
        quantile_arm(tied, 0.5)
    assert error.value.code == "quantile_ties"
    with pytest.raises(ToolError) as error:
        quantile_arm(np.r_[np.arange(300.0), np.nan], 0.5)
    assert error.value.code == "non_finite_values"
    with pytest.raises(ToolError) as error:
        quantile_arm(np.arange(300.0), 0.5, np.arange(300) % 10)
    assert error.value.code == "too_few_clusters"
    with pytest.raises(ToolError) as error:
        quantile_arm(np.arange(300.0), 1.0)
    assert error.value.code == "invalid_quantile"
