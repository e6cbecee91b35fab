"""tools.synth inference: placebos (rank test, Algorithm 4), jackknife, bootstrap; Prop 99 and seeded simulations."""

from __future__ import annotations

import numpy as np
import pytest

from tests.tools.test_synth_estimators import prop99
from tools.errors import ToolError
from tools.synth import ESTIMATORS, bootstrap, fit, fit_donor_placebos, jackknife, placebo
from tools.validate.designs import factor_matrix


def factor_panel(
    n_donors: int, n_treated: int, n_periods: int, n_pre: int, effect: float, rng: np.random.Generator
) -> np.ndarray:
    """Unit and time effects, a rank-2 interactive factor term and noise; exchangeable units; effect added."""
    return factor_matrix(rng, n_donors, n_treated, n_periods, n_pre, effect)


# --- Prop 99 ----------------------------------------------------------------------------------------------------


def test_prop99_placebo_rank_and_variance() -> None:
    y, n_pre = prop99()
    sdid = fit(y, 1, n_pre, "synthetic_did")
    result = placebo(y, 1, n_pre, sdid)
    # California's post/pre RMSPE ratio is the largest of the 39 (as in ADH 2010): p = 1/39
    assert (result.rank, result.n_placebos) == (1, 38)
    assert result.p_value == pytest.approx(1 / 39) == result.min_p_value
    # Algorithm 4 over all 38 donors (its expectation); synthdid's 200 random draws gave 8.4 (Table 1), within the
    # 2.5-97.5% range (8.1, 10.6) of 200-draw estimates from these 38 placebo effects
    assert result.interval.std_error == pytest.approx(9.371, abs=0.01)
    assert result.interval.ci_lower < sdid.tau < result.interval.ci_upper
    did = fit(y, 1, n_pre, "did")
    assert placebo(y, 1, n_pre, did).interval.std_error == pytest.approx(17.287, abs=0.01)  # Table 1: 17.7


def test_batched_placebos_equal_one_fit_each() -> None:
    rng = np.random.default_rng(7)
    y = factor_panel(15, 3, 12, 8, 1.0, rng)
    for estimator in ESTIMATORS:
        original = fit(y, 3, 8, estimator)
        sets = np.array([[0, 4, 9], [2, 3, 14], [1, 5, 6]], dtype=np.intp)
        batched = fit_donor_placebos(y, 3, 8, original, sets, chunk=2)
        for row, members in enumerate(sets):
            rest = np.setdiff1d(np.arange(15), members)
            alone = fit(y[np.r_[rest, members]], 3, 8, estimator, penalties=original.penalties)
            np.testing.assert_allclose(batched.tau[row], alone.tau, atol=1e-6)
            np.testing.assert_allclose(batched.gap[row], alone.gap, atol=1e-5)


def test_single_treated_refuses_jackknife_and_bootstrap() -> None:
    y, n_pre = prop99()
    original = fit(y, 1, n_pre, "did")
    for method in (jackknife, bootstrap):
        with pytest.raises(ToolError) as error:
            method(y, 1, n_pre, original)
        assert error.value.code == "needs_several_treated"


def test_jackknife_of_did_is_the_leave_one_out_refit() -> None:
    rng = np.random.default_rng(2)
    y = factor_panel(10, 3, 9, 6, 0.5, rng)
    original = fit(y, 3, 6, "did")
    result = jackknife(y, 3, 6, original)
    loo = []
    for i in range(13):
        keep = np.delete(np.arange(13), i)
        loo.append(fit(y[keep], 3 - int(i >= 10), 6, "did").tau)
    u = np.array(loo)
    np.testing.assert_allclose(result.replicates, u, atol=1e-10)
    np.testing.assert_allclose(result.std_error, np.sqrt(12 / 13 * np.sum((u - u.mean()) ** 2)), rtol=1e-12)


def test_bootstrap_is_seeded_and_placebo_variance_uses_random_permutations() -> None:
    rng = np.random.default_rng(4)
    y = factor_panel(20, 4, 10, 7, 1.0, rng)
    original = fit(y, 4, 7, "synthetic_did")
    first = bootstrap(y, 4, 7, original, seed=9, replications=30)
    again = bootstrap(y, 4, 7, original, seed=9, replications=30)
    other = bootstrap(y, 4, 7, original, seed=10, replications=30)
    np.testing.assert_array_equal(first.replicates, again.replicates)
    assert first.std_error != other.std_error and first.replications == 30
    variance = placebo(y, 4, 7, original, seed=1, replications=40)
    assert variance.interval.replications == 40 and variance.n_placebos == 20
    np.testing.assert_allclose(variance.interval.std_error, np.std(variance.interval.replicates))


def test_bad_alpha_and_too_few_donors() -> None:
    y = np.random.default_rng(0).normal(size=(3, 6))
    original = fit(y, 1, 4, "did")
    with pytest.raises(ToolError, match="alpha"):
        placebo(y, 1, 4, original, alpha=1.5)
    with pytest.raises(ToolError) as error:
        placebo(y[1:], 1, 4, fit(y[1:], 1, 4, "did"))
    assert error.value.code == "too_few_donors"


# --- seeded simulations ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sdid_placebo_interval_covers_at_about_the_nominal_rate() -> None:
    # 300 panels, 30 donors, 5 treated, 20 periods (14 before); effect 1.0. Seed 2026: coverage 0.943 (the
    # fixed-weight jackknife on the same panels: 0.920).
    rng = np.random.default_rng(2026)
    covered, n_sims = 0, 300
    for _ in range(n_sims):
        y = factor_panel(30, 5, 20, 14, 1.0, rng)
        original = fit(y, 5, 14, "synthetic_did")
        interval = placebo(y, 5, 14, original, seed=int(rng.integers(1 << 31)), replications=100).interval
        covered += interval.ci_lower <= 1.0 <= interval.ci_upper
    coverage = covered / n_sims
    assert 0.92 <= coverage <= 0.98, coverage  # binomial sd at 0.95 and 300 draws: 0.0126


@pytest.mark.slow
def test_placebo_p_value_is_roughly_uniform_under_no_effect() -> None:
    # 300 panels, 19 donors and 1 treated unit drawn alike, no effect: p takes the values k/20; seed 77 gives
    # P(p <= 0.10) = 0.097, P(p <= 0.50) = 0.55, mean 0.496.
    rng = np.random.default_rng(77)
    p_values = []
    for _ in range(300):
        y = factor_panel(19, 1, 16, 10, 0.0, rng)
        p_values.append(placebo(y, 1, 10, fit(y, 1, 10, "synthetic_did")).p_value)
    p = np.array(p_values)
    assert abs(np.mean(p <= 0.10) - 0.10) < 0.05
    assert abs(np.mean(p <= 0.50) - 0.50) < 0.08
    assert abs(p.mean() - 0.525) < 0.05  # the mean of k/20, k = 1..20
