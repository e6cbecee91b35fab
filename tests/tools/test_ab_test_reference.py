"""The ab_test tool against independent references, on seeded generated data.

Every number the tool reports is recomputed here by code that does not share the tool's implementation:

- continuous metrics: ``scipy.stats.ttest_ind(treatment, control, equal_var=False)`` (Welch);
- binary metrics: statsmodels ``test_proportions_2indep`` (score test at a zero difference: the pooled z-test)
  and ``proportions_ztest``; the score interval of the difference by a brute-force inversion written here
  (constrained maximum likelihood by numerical search, not the closed-form cubic); the risk ratio's score
  interval by statsmodels ``confint_proportions_2indep(compare="ratio", method="score", correction=False)``;
- CUPED: ``np.cov`` for theta, scipy's Welch test on the adjusted values, statsmodels OLS with HC2 errors;
- relative lift: the delta-method formula written out here, and a seeded nonparametric bootstrap;
- ratio metrics: statsmodels WLS of y/d on [1, treat] with weights d and HC0 errors;
- clustered rows: statsmodels OLS with cluster-robust (CR0 and CR1) errors grouped by the randomized unit;
- multiple testing: ``statsmodels.stats.multitest.multipletests`` (``holm``, ``fdr_bh``);
- sample ratio mismatch: ``scipy.stats.chisquare``.

Tolerances are stated at each assertion: 1e-10 relative where the reference computes the same quantity by a
different route (only rounding differs), a few ulps for the p-value corrections, and a documented looser
tolerance where the reference is a different (asymptotically equivalent) estimator.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray
from scipy import stats
from statsmodels.regression.linear_model import OLS, WLS
from statsmodels.stats import proportion
from statsmodels.stats.multitest import multipletests

from tests.tools.binary_reference import score_bounds_by_search
from tools.ab_test.decision import adjust
from tools.ab_test.models import AbTestRequest, AbTestResult, ArmShare, ArmSummary, Comparison, MetricSpec
from tools.ab_test.tool import ab_test
from tools.data import Catalog
from tools.registry import dispatch
from tools.results import Estimate

FloatArray = NDArray[np.float64]

#: Same quantity, different arithmetic: only floating-point rounding may differ.
EXACT = 1e-10

SCIPY_ALTERNATIVE: dict[str, Literal["two-sided", "less", "greater"]] = {
    "two-sided": "two-sided",
    "larger": "greater",
    "smaller": "less",
}


def run(frame: pd.DataFrame, metrics: Sequence[MetricSpec | dict[str, Any]], **fields: Any) -> AbTestResult:
    request = AbTestRequest.model_validate(
        {"dataset": "experiment", "arm_column": "arm", "metrics": list(metrics), **fields}
    )
    return ab_test(request, frame)


def two_arm_frame(control: FloatArray, treatment: FloatArray, column: str = "y") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "arm": ["control"] * len(control) + ["treatment"] * len(treatment),
            column: np.concatenate([control, treatment]),
        }
    )


def only(result: AbTestResult, metric: str, arm: str = "treatment") -> Comparison:
    [comparison] = [c for c in result.comparisons if c.metric == metric and c.arm == arm]
    return comparison


def welch(treatment: FloatArray, control: FloatArray, alternative: str = "two-sided") -> Any:
    return stats.ttest_ind(treatment, control, equal_var=False, alternative=SCIPY_ALTERNATIVE[alternative])


def assert_matches_welch(estimate: Estimate, treatment: FloatArray, control: FloatArray, alternative: str) -> None:
    """The tool's absolute estimate equals scipy's Welch test, interval included (tolerance EXACT)."""
    alpha = estimate.alpha
    diff = treatment.mean() - control.mean()
    ref = welch(treatment, control, alternative)
    two_sided = welch(treatment, control).confidence_interval(1 - alpha)
    np.testing.assert_allclose(estimate.estimate, diff, rtol=EXACT)
    np.testing.assert_allclose(estimate.std_error, diff / ref.statistic, rtol=EXACT)
    np.testing.assert_allclose(estimate.p_value, ref.pvalue, rtol=EXACT)
    # A one-sided test's interval is one-sided; the tool reports the two-sided bound on the infinite side.
    ci = ref.confidence_interval(1 - alpha)
    low = ci.low if alternative != "smaller" else two_sided.low
    high = ci.high if alternative != "larger" else two_sided.high
    np.testing.assert_allclose([estimate.ci_lower, estimate.ci_upper], [low, high], rtol=EXACT)


# --- 1. continuous metric: Welch t-test ----------------------------------------------------------------------

CONTINUOUS_CASES = [
    ("two-sided", 0.05),
    ("larger", 0.05),
    ("smaller", 0.05),
    ("two-sided", 0.1),
    ("larger", 0.1),
    ("smaller", 0.1),
]


@pytest.mark.parametrize(("alternative", "alpha"), CONTINUOUS_CASES)
def test_continuous_matches_scipy_welch(alternative: str, alpha: float) -> None:
    rng = np.random.default_rng(101)
    control = rng.normal(10.0, 3.0, 900)
    treatment = rng.normal(10.3, 4.0, 700)  # unequal n and variances: Welch, not Student
    result = run(two_arm_frame(control, treatment), [{"name": "y"}], alpha=alpha, alternative=alternative)
    c = only(result, "y")
    assert c.test == "Welch t-test"
    assert (c.n_control, c.n_treatment) == (900, 700)
    np.testing.assert_allclose([c.control_mean, c.treatment_mean], [control.mean(), treatment.mean()], rtol=EXACT)
    assert_matches_welch(c.absolute, treatment, control, alternative)
    assert c.absolute.alpha == alpha
    assert c.p_value_raw == c.absolute.p_value


# --- 2. binary metric: pooled two-proportion z-test, score interval ------------------------------------------
# Until issue 17 this compared with statsmodels' Wald test and interval (unpooled standard error): with few events
# and unequal arms those reject ~7% of A/A experiments and cover ~92.5%. The p-value is now the pooled z-test
# (statsmodels' score test at a zero difference, without the N / (N - 1) factor: correction=False) and the interval
# the score interval inverting it; the reported standard error is still the unpooled one. At these counts
# (597/5,200 vs 475/5,000) the two-sided p moves from 0.001083 (Wald) to 0.001111 and the 95% bounds from
# (0.007928, 0.031688) to (0.007921, 0.031706): large samples barely move.


@pytest.mark.parametrize(("alternative", "alpha"), CONTINUOUS_CASES)
def test_binary_matches_statsmodels_pooled_z_and_score_interval(alternative: str, alpha: float) -> None:
    rng = np.random.default_rng(202)
    control = (rng.random(5000) < 0.10).astype(np.float64)
    treatment = (rng.random(5200) < 0.115).astype(np.float64)
    result = run(
        two_arm_frame(control, treatment), [{"name": "y", "kind": "binary"}], alpha=alpha, alternative=alternative
    )
    c = only(result, "y").absolute
    # statsmodels' first sample is (count1, nobs1): the treatment, so that it reports treatment - control.
    counts = (int(treatment.sum()), len(treatment), int(control.sum()), len(control))
    score = {"method": "score", "compare": "diff", "correction": False}
    ref = proportion.test_proportions_2indep(*counts, alternative=alternative, **score)
    wald = proportion.test_proportions_2indep(*counts, method="wald", compare="diff", alternative=alternative)
    diff = counts[0] / counts[1] - counts[2] / counts[3]
    np.testing.assert_allclose(c.estimate, diff, rtol=EXACT)
    np.testing.assert_allclose(wald.diff, diff, rtol=EXACT)  # the argument order is the one intended
    np.testing.assert_allclose(c.std_error, np.sqrt(wald.variance), rtol=EXACT)  # the unpooled standard error
    np.testing.assert_allclose(c.p_value, ref.pvalue, rtol=EXACT)
    # ... which is the classical pooled z-test (statsmodels' proportions_ztest pools by default)
    z_pooled = proportion.proportions_ztest(counts[::2], counts[1::2], alternative="two-sided")[0]
    np.testing.assert_allclose(ref.statistic, z_pooled, rtol=EXACT)
    # The interval: statsmodels 0.15's score interval for a difference cannot be the reference (its restricted
    # estimate at a non-zero difference is not the constrained maximum, see test_ab_test_small_counts), so it is
    # the inversion of the score statistic computed by brute force (``score_bounds_by_search``).
    low, high = score_bounds_by_search(*counts, alpha=alpha, alternative=alternative)
    np.testing.assert_allclose([c.ci_lower, c.ci_upper], [low, high], rtol=1e-7)  # numerical search: ~1e-9 abs
    assert only(result, "y").test == "two-proportion z-test (pooled variance under H0), score interval"


# --- 3. CUPED --------------------------------------------------------------------------------------------

RHO = 0.6  # corr(y, x) by construction: y = 20 + 6 z + 8 e, x = 50 + 10 z, 6 / sqrt(6^2 + 8^2) = 0.6


def cuped_data(seed: int = 303, n: int = 20_000, effect: float = 0.5) -> tuple[pd.DataFrame, FloatArray]:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(2 * n)
    x = 50.0 + 10.0 * z
    treat = np.repeat([0.0, 1.0], n)
    y = 20.0 + 6.0 * z + 8.0 * rng.standard_normal(2 * n) + effect * treat
    frame = pd.DataFrame({"arm": np.where(treat == 1, "treatment", "control"), "y": y, "pre_y": x})
    return frame, treat


def test_cuped_theta_is_pooled_np_cov_and_estimate_is_welch_on_adjusted_values() -> None:
    frame, treat = cuped_data()
    y, x = frame["y"].to_numpy(), frame["pre_y"].to_numpy()
    result = run(frame, [{"name": "y", "covariate_column": "pre_y"}])
    c = only(result, "y")
    assert c.cuped is not None
    assert c.test == "Welch t-test on CUPED-adjusted values"
    # theta over every unit of every arm (ddof cancels in the ratio)
    theta = np.cov(y, x)[0, 1] / np.var(x, ddof=1)
    np.testing.assert_allclose(c.cuped.theta, theta, rtol=EXACT)
    adjusted = y - theta * (x - x.mean())
    t, k = adjusted[treat == 1], adjusted[treat == 0]
    assert_matches_welch(c.absolute, t, k, "two-sided")
    np.testing.assert_allclose([c.control_mean, c.treatment_mean], [k.mean(), t.mean()], rtol=EXACT)
    # the unadjusted comparison is plain Welch on y
    raw_t, raw_c = y[treat == 1], y[treat == 0]
    assert_matches_welch(c.cuped.unadjusted, raw_t, raw_c, "two-sided")
    plain_se = (raw_t.mean() - raw_c.mean()) / welch(raw_t, raw_c).statistic
    adjusted_se = (t.mean() - k.mean()) / welch(t, k).statistic
    np.testing.assert_allclose(c.cuped.variance_reduction, 1 - adjusted_se**2 / plain_se**2, rtol=EXACT)
    # ... which is rho^2 for a known correlation: 1 - (1 - rho^2); sampling error at n = 40,000 is ~0.005
    np.testing.assert_allclose(c.cuped.variance_reduction, RHO**2, atol=0.02)


def test_cuped_close_to_ols_with_hc2() -> None:
    """CUPED against the regression y ~ 1 + treat + (x - xbar) with HC2 standard errors.

    Not identical: OLS fits the covariate's slope within arms (the pooled within-arm slope, partialling out
    treat), CUPED uses theta from all units ignoring the arms, which also absorbs the (tiny, by randomization)
    between-arm covariance; OLS's HC2 leverages also differ from Welch's n - 1. Both differences vanish as
    n grows: at 20,000 per arm estimate and SE agree to ~3e-6 relative. The tolerance, 1e-3, is tighter than
    the ~1e-2 such a comparison usually gets, yet a wrong theta (e.g. 0, or a within-arm slope from one arm)
    would still fail it by far.
    """
    frame, treat = cuped_data()
    y, x = frame["y"].to_numpy(), frame["pre_y"].to_numpy()
    c = only(run(frame, [{"name": "y", "covariate_column": "pre_y"}]), "y")
    design = np.column_stack([np.ones_like(y), treat, x - x.mean()])
    ols = OLS(y, design).fit(cov_type="HC2")
    np.testing.assert_allclose(c.absolute.estimate, ols.params[1], rtol=1e-3)
    np.testing.assert_allclose(c.absolute.std_error, ols.bse[1], rtol=1e-3)


# --- 4. relative lift ----------------------------------------------------------------------------------------


def delta_method_lift(treatment: FloatArray, control: FloatArray, binary: bool = False) -> tuple[float, float]:
    """t / c - 1 and its delta-method SE: var_t / c^2 + t^2 var_c / c^4, with var_* the variances of the means."""
    t, c = treatment.mean(), control.mean()
    if binary:
        var_t, var_c = t * (1 - t) / len(treatment), c * (1 - c) / len(control)
    else:
        var_t, var_c = treatment.var(ddof=1) / len(treatment), control.var(ddof=1) / len(control)
    return t / c - 1, float(np.sqrt(var_t / c**2 + t**2 * var_c / c**4))


def lift_data() -> tuple[FloatArray, FloatArray]:
    rng = np.random.default_rng(404)
    return rng.gamma(2.0, 10.0, 1500), rng.gamma(2.0, 10.5, 1400)  # skewed, means 20 and 21


@pytest.mark.parametrize("alternative", ["two-sided", "larger", "smaller"])
def test_relative_lift_is_delta_method(alternative: str) -> None:
    control, treatment = lift_data()
    rel = only(run(two_arm_frame(control, treatment), [{"name": "y"}], alternative=alternative), "y").relative
    assert rel is not None
    lift, se = delta_method_lift(treatment, control)
    np.testing.assert_allclose(rel.estimate, lift, rtol=EXACT)
    np.testing.assert_allclose(rel.std_error, se, rtol=EXACT)
    # a z-test and z-interval on the lift
    z2, z1 = stats.norm.ppf(0.975), stats.norm.ppf(0.95)
    expected_p = {
        "two-sided": 2 * stats.norm.sf(abs(lift / se)),
        "larger": stats.norm.sf(lift / se),
        "smaller": stats.norm.cdf(lift / se),
    }[alternative]
    np.testing.assert_allclose(rel.p_value, expected_p, rtol=EXACT)
    low = lift - (z1 if alternative == "larger" else z2) * se
    high = lift + (z1 if alternative == "smaller" else z2) * se
    np.testing.assert_allclose([rel.ci_lower, rel.ci_upper], [low, high], rtol=EXACT)


def test_relative_lift_binary_is_delta_method() -> None:
    rng = np.random.default_rng(405)
    control = (rng.random(4000) < 0.2).astype(np.float64)
    treatment = (rng.random(4100) < 0.22).astype(np.float64)
    rel = only(run(two_arm_frame(control, treatment), [{"name": "y", "kind": "binary"}]), "y").relative
    assert rel is not None
    lift, se = delta_method_lift(treatment, control, binary=True)
    np.testing.assert_allclose([rel.estimate, rel.std_error], [lift, se], rtol=EXACT)  # the SE is still reported
    # Since issue 17 the interval is the score interval of the risk ratio (Farrington-Manning restricted MLE,
    # inverted), no longer lift +- 1.96 se, and the p-value is the difference's (pooled z-test).
    counts = (int(treatment.sum()), len(treatment), int(control.sum()), len(control))
    ratio_ci = proportion.confint_proportions_2indep(*counts, compare="ratio", method="score", correction=False)
    np.testing.assert_allclose([rel.ci_lower, rel.ci_upper], np.asarray(ratio_ci) - 1, rtol=1e-8)
    pooled = proportion.test_proportions_2indep(*counts, method="score", correction=False)
    np.testing.assert_allclose(rel.p_value, pooled.pvalue, rtol=EXACT)


def test_relative_lift_se_close_to_bootstrap() -> None:
    """The delta-method SE against a seeded nonparametric bootstrap of t / c - 1 (2,000 resamples per arm).

    Fieller's interval or a log-ratio interval would not be expected to match the delta method (they are not
    symmetric around the estimate); the bootstrap SE estimates the same large-sample quantity. Its own Monte
    Carlo error is ~1/sqrt(2 * 2000) = 1.6%, plus the delta method's first-order error: 10% is generous.
    """
    control, treatment = lift_data()
    rel = only(run(two_arm_frame(control, treatment), [{"name": "y"}]), "y").relative
    assert rel is not None
    rng = np.random.default_rng(4040)
    reps = 2000
    lifts = np.empty(reps)
    for start in range(0, reps, 500):  # in chunks, to keep the index arrays small
        size = min(500, reps - start)
        t = treatment[rng.integers(0, len(treatment), (size, len(treatment)))].mean(axis=1)
        c = control[rng.integers(0, len(control), (size, len(control)))].mean(axis=1)
        lifts[start : start + size] = t / c - 1
    np.testing.assert_allclose(rel.std_error, lifts.std(ddof=1), rtol=0.10)


# --- 5. ratio metric ---------------------------------------------------------------------------------------


def ratio_data(seed: int = 505) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_c, n_t = 3100, 2900
    treat = np.repeat([0.0, 1.0], [n_c, n_t])
    sessions = 1.0 + rng.poisson(3.0, n_c + n_t)  # at least one session per user
    revenue = sessions * rng.gamma(2.0, 5.0, n_c + n_t) * (1 + 0.05 * treat)
    revenue[rng.random(n_c + n_t) < 0.2] = 0.0  # users who bought nothing
    return pd.DataFrame({"arm": np.where(treat == 1, "treatment", "control"), "revenue": revenue, "sessions": sessions})


def test_ratio_metric_matches_wls_hc0() -> None:
    """Difference of sum(y)/sum(d) per arm; SE against WLS of y/d on [1, treat] with weights d and HC0.

    Per arm, HC0 gives sum((y - R d)^2) / (n mean_d)^2 and the delta method the same sum over (n - 1) n
    mean_d^2: they differ by exactly n / (n - 1). With [1, treat] the intercept's variance is control's and
    the slope's is control's plus treatment's, so the factor can be applied per arm and the match is exact.
    """
    frame = ratio_data()
    y, d = frame["revenue"].to_numpy(), frame["sessions"].to_numpy()
    treat = (frame["arm"] == "treatment").to_numpy(dtype=np.float64)
    c = only(
        run(frame, [{"name": "rps", "column": "revenue", "kind": "ratio", "denominator_column": "sessions"}]), "rps"
    )
    assert c.test == "z-test on a ratio of means, delta-method standard error"
    t_mask, c_mask = treat == 1, treat == 0
    r_t, r_c = y[t_mask].sum() / d[t_mask].sum(), y[c_mask].sum() / d[c_mask].sum()
    np.testing.assert_allclose([c.control_mean, c.treatment_mean], [r_c, r_t], rtol=1e-12)
    np.testing.assert_allclose(c.absolute.estimate, r_t - r_c, rtol=1e-12)

    wls = WLS(y / d, np.column_stack([np.ones_like(y), treat]), weights=d).fit(cov_type="HC0")
    np.testing.assert_allclose(wls.params[1], r_t - r_c, rtol=EXACT)
    cov = wls.cov_params()
    var_c, var_t = cov[0, 0], cov[1, 1] - cov[0, 0]
    n_c, n_t = int(c_mask.sum()), int(t_mask.sum())
    se = np.sqrt(var_c * n_c / (n_c - 1) + var_t * n_t / (n_t - 1))
    np.testing.assert_allclose(c.absolute.std_error, se, rtol=EXACT)
    # without the factor: HC0 itself is within n / (n - 1) - 1 ~ 3e-4 of the tool
    np.testing.assert_allclose(c.absolute.std_error, wls.bse[1], rtol=1e-3)
    np.testing.assert_allclose(c.absolute.p_value, 2 * stats.norm.sf(abs((r_t - r_c) / se)), rtol=EXACT)
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose(
        [c.absolute.ci_lower, c.absolute.ci_upper], [r_t - r_c - z * se, r_t - r_c + z * se], rtol=EXACT
    )
    assert c.relative is not None
    np.testing.assert_allclose(c.relative.estimate, r_t / r_c - 1, rtol=EXACT)


# --- 6. rows finer than the randomized unit (cluster_column) ------------------------------------------------


def session_data(seed: int = 606) -> tuple[pd.DataFrame, int, int]:
    """Sessions of users; users are randomized. A user effect makes sessions of one user correlated."""
    rng = np.random.default_rng(seed)
    g_c, g_t = 1520, 1480
    users = np.arange(g_c + g_t)
    user_treat = (users >= g_c).astype(np.float64)
    user_effect = rng.normal(0.0, 2.0, len(users))
    per_user = 1 + rng.poisson(2.0, len(users))
    user = np.repeat(users, per_user)
    treat = user_treat[user]
    y = 10.0 + user_effect[user] + 0.3 * treat + rng.normal(0.0, 3.0, len(user))
    order = rng.permutation(len(user))  # rows in no particular order
    frame = pd.DataFrame(
        {"arm": np.where(treat == 1, "treatment", "control")[order], "user_id": user[order], "y": y[order]}
    )
    return frame, g_c, g_t


def test_cluster_column_matches_ols_cluster_robust() -> None:
    """Estimate: per-arm totals over per-arm sessions. SE against OLS of y on [1, treat] clustered by user.

    Per arm, CR0 (no small-sample correction) is sum_u (y_u - R d_u)^2 / (n_a mean_d)^2 and the tool's delta
    method divides by (n_a - 1) n_a mean_d^2 instead: exactly n_a / (n_a - 1) apart, applied per arm as for
    ratio metrics. statsmodels' default CR1 multiplies CR0 by G / (G - 1) * (N - 1) / (N - K) overall, which
    at 3,000 users differs from the per-arm factors by ~5e-4 in variance: rtol 1e-2 on the SE.
    """
    frame, g_c, g_t = session_data()
    result = run(frame, [{"name": "y"}], cluster_column="user_id")
    c = only(result, "y")
    y, user = frame["y"].to_numpy(), frame["user_id"].to_numpy()
    treat = (frame["arm"] == "treatment").to_numpy(dtype=np.float64)
    m_t, m_c = y[treat == 1].mean(), y[treat == 0].mean()  # total over sessions, per arm
    np.testing.assert_allclose([c.control_mean, c.treatment_mean], [m_c, m_t], rtol=1e-12)
    np.testing.assert_allclose(c.absolute.estimate, m_t - m_c, rtol=1e-10)
    assert (c.n_control, c.n_treatment) == (g_c, g_t)  # users, not sessions
    assert result.n_obs == g_c + g_t
    assert [o.count for o in result.srm.observed] == [g_c, g_t]

    design = np.column_stack([np.ones_like(y), treat])
    cr0 = OLS(y, design).fit(cov_type="cluster", cov_kwds={"groups": user, "use_correction": False})
    np.testing.assert_allclose(cr0.params[1], m_t - m_c, rtol=EXACT)
    cov = cr0.cov_params()
    var_c, var_t = cov[0, 0], cov[1, 1] - cov[0, 0]
    se = np.sqrt(var_c * g_c / (g_c - 1) + var_t * g_t / (g_t - 1))
    np.testing.assert_allclose(c.absolute.std_error, se, rtol=EXACT)
    cr1 = OLS(y, design).fit(cov_type="cluster", cov_kwds={"groups": user})
    np.testing.assert_allclose(c.absolute.std_error, cr1.bse[1], rtol=1e-2)
    # and the naive row-level SE would be clearly too small (sessions of a user are correlated)
    naive = OLS(y, design).fit(cov_type="HC0")
    assert c.absolute.std_error > 1.2 * naive.bse[1]


# --- 7. multiple testing ---------------------------------------------------------------------------------

P_VECTORS = [
    [0.01, 0.04, 0.03, 0.005],  # unsorted
    [0.02, 0.02, 0.01, 0.04, 0.04],  # ties
    [0.03],  # length 1
    [1.0, 1.0, 1.0],  # all ones
    [0.5, 0.001, 0.9, 0.2, 0.049, 0.051, 0.049],  # mixed, a tie not adjacent in input order
    [0.0, 0.3, 0.0, 1.0],  # exact zeros and a one
    [0.04, 0.03, 0.02, 0.01],  # descending
]
METHODS = [("holm", "holm"), ("benjamini-hochberg", "fdr_bh")]


def seeded_p_vectors() -> list[list[float]]:
    rng = np.random.default_rng(707)
    vectors = []
    for size in (2, 3, 10, 50):
        p = rng.beta(0.5, 2.0, size)
        vectors.append(p.tolist())
        vectors.append(np.round(p, 2).tolist())  # many ties
    return vectors


@pytest.mark.parametrize(("ours", "theirs"), METHODS)
@pytest.mark.parametrize("p", P_VECTORS + seeded_p_vectors())
def test_adjust_matches_multipletests(p: list[float], ours: str, theirs: str) -> None:
    expected = multipletests(p, method=theirs)[1]
    # the same arithmetic up to operation order (m / k * p against p / (k / m)): a few ulps
    np.testing.assert_allclose(adjust(p, ours), expected, rtol=1e-15, atol=0)
    assert adjust(p, "none") == p


def family_frame() -> pd.DataFrame:
    rng = np.random.default_rng(717)
    sizes = {"control": 2000, "variant_b": 2000, "variant_c": 2000}
    parts = []
    for arm, lift, rate in zip(sizes, (0.0, 0.04, 0.07), (0.10, 0.105, 0.13), strict=True):
        n = sizes[arm]
        parts.append(
            pd.DataFrame(
                {
                    "arm": arm,
                    "converted": (rng.random(n) < rate).astype(float),
                    "revenue": rng.gamma(2.0, 10.0 * (1 + lift), n),
                    "minutes": rng.normal(30.0 * (1 + lift / 2), 12.0, n),
                    "latency": rng.normal(200.0 * (1 + lift / 4), 40.0, n),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


FAMILY_METRICS = [
    {"name": "converted", "kind": "binary"},
    {"name": "revenue", "role": "secondary"},
    {"name": "minutes", "role": "secondary"},
    {"name": "latency", "role": "guardrail", "direction": "decrease"},
]


@pytest.mark.parametrize(("ours", "theirs"), METHODS)
def test_ab_test_adjusts_each_family_like_multipletests(ours: str, theirs: str) -> None:
    result = run(family_frame(), FAMILY_METRICS, correction=ours)
    assert result.arms == ["control", "variant_b", "variant_c"]
    for role, size in (("primary", 2), ("secondary", 4)):  # 2 treatment arms x 1 primary; x 2 secondary metrics
        family = [c for c in result.comparisons if c.role == role]
        assert len(family) == size
        raw = [c.p_value_raw for c in family]
        expected = multipletests(raw, method=theirs)[1]
        np.testing.assert_allclose([c.p_value_adjusted for c in family], expected, rtol=1e-15, atol=0)
    # informative families: distinct p-values on both sides of 0.05, and adjusted values below 1
    for role in ("primary", "secondary"):
        family = [c for c in result.comparisons if c.role == role]
        raw = [c.p_value_raw for c in family]
        assert len(set(raw)) == len(raw) and min(raw) < 0.05 < max(raw)
        assert all(c.p_value_raw <= c.p_value_adjusted < 1 for c in family)
    for c in result.comparisons:
        if c.role == "guardrail":
            assert c.p_value_adjusted == c.p_value_raw  # guardrails are not corrected
    unadjusted = run(family_frame(), FAMILY_METRICS, correction="none")
    assert all(c.p_value_adjusted == c.p_value_raw for c in unadjusted.comparisons)


# --- 8. sample ratio mismatch --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "split"),
    [
        ({"control": 5100, "treatment": 4900}, None),
        ({"control": 5500, "treatment": 4500}, None),  # a clear mismatch
        ({"control": 3400, "variant_b": 3250, "variant_c": 3350}, None),
        (
            {"control": 5050, "variant_b": 2450, "variant_c": 2500},
            {"control": 2.0, "variant_b": 1.0, "variant_c": 1.0},
        ),  # shares normalised
        ({"control": 900, "treatment": 1100}, {"control": 0.45, "treatment": 0.55}),
    ],
)
def test_srm_matches_scipy_chisquare(counts: dict[str, int], split: dict[str, float] | None) -> None:
    rng = np.random.default_rng(808)
    frame = pd.DataFrame(
        {"arm": np.repeat(list(counts), list(counts.values())), "y": rng.normal(0.0, 1.0, sum(counts.values()))}
    )
    fields: dict[str, Any] = {}
    if split is not None:
        fields["expected_split"] = [ArmShare(arm=arm, share=share) for arm, share in split.items()]
    result = run(frame, [{"name": "y"}], **fields)
    srm = result.srm
    arms = [o.arm for o in srm.observed]
    observed = np.array([counts[a] for a in arms], dtype=np.float64)
    shares = np.array([split[a] if split else 1.0 for a in arms])
    expected = observed.sum() * shares / shares.sum()
    ref = stats.chisquare(observed, expected)
    np.testing.assert_allclose([o.count for o in srm.observed], observed, rtol=0)
    np.testing.assert_allclose([e.count for e in srm.expected], expected, rtol=1e-12)
    np.testing.assert_allclose(srm.chi2, ref.statistic, rtol=1e-12)
    np.testing.assert_allclose(srm.p_value, ref.pvalue, rtol=1e-10)
    assert srm.df == len(counts) - 1
    # against a planned split a mismatch fails; against the equal split assumed for want of one it warns
    assert srm.status == ("pass" if ref.pvalue >= 0.001 else "fail" if split is not None else "warn")
    assert (result.decision == "investigate") == (srm.status in ("fail", "warn"))


# --- 9. summaries give the same answer as rows ---------------------------------------------------------------


@pytest.mark.parametrize("alternative", ["two-sided", "larger"])
def test_summaries_equal_rows(alternative: str) -> None:
    rng = np.random.default_rng(909)
    sizes = {"control": 1200, "treatment": 1300}
    frame = pd.concat(
        [
            pd.DataFrame(
                {
                    "arm": arm,
                    "converted": (rng.random(n) < 0.12 + 0.015 * i).astype(float),
                    "revenue": rng.gamma(2.0, 10.0 + i, n),
                }
            )
            for i, (arm, n) in enumerate(sizes.items())
        ],
        ignore_index=True,
    )
    metrics = [{"name": "converted", "kind": "binary"}, {"name": "revenue", "role": "secondary"}]
    rows = run(frame, metrics, alternative=alternative)
    summaries = []
    for arm, group in frame.groupby("arm"):
        n = len(group)
        summaries.append(ArmSummary(arm=str(arm), metric="converted", n=n, conversions=int(group["converted"].sum())))
        revenue = group["revenue"]
        summaries.append(
            ArmSummary(arm=str(arm), metric="revenue", n=n, mean=float(revenue.mean()), std_dev=float(revenue.std()))
        )
    dashboard = ab_test(
        AbTestRequest.model_validate({"summaries": summaries, "metrics": metrics, "alternative": alternative})
    )
    assert (rows.source, dashboard.source) == ("rows", "summaries")
    assert rows.arms == dashboard.arms
    assert len(rows.comparisons) == len(dashboard.comparisons) == 2
    for a, b in zip(rows.comparisons, dashboard.comparisons, strict=True):
        assert (a.metric, a.arm, a.n_control, a.n_treatment) == (b.metric, b.arm, b.n_control, b.n_treatment)
        assert a.relative is not None and b.relative is not None
        for mine, theirs in ((a.absolute, b.absolute), (a.relative, b.relative)):
            x, y = mine.model_dump(), theirs.model_dump()
            assert x.keys() == y.keys()
            np.testing.assert_allclose(list(x.values()), list(y.values()), rtol=1e-12, atol=0)
        np.testing.assert_allclose(
            [a.control_mean, a.treatment_mean, a.p_value_raw, a.p_value_adjusted],
            [b.control_mean, b.treatment_mean, b.p_value_raw, b.p_value_adjusted],
            rtol=1e-12,
            atol=0,
        )
        assert a.verdict == b.verdict
    np.testing.assert_allclose([rows.srm.chi2, rows.srm.p_value], [dashboard.srm.chi2, dashboard.srm.p_value])


# --- 10. A/B/n ---------------------------------------------------------------------------------------------


def abn_frame(
    labels: tuple[str, str, str] = ("control", "variant_b", "variant_c"),
) -> tuple[pd.DataFrame, dict[str, FloatArray]]:
    rng = np.random.default_rng(1010)
    control, b, c = labels
    values = {
        control: rng.normal(50.0, 10.0, 1000),
        b: rng.normal(51.0, 11.0, 1100),
        c: rng.normal(49.5, 9.0, 900),
    }
    frame = pd.DataFrame({"arm": np.repeat(list(values), [len(v) for v in values.values()])})
    frame["y"] = np.concatenate(list(values.values()))
    return frame.sample(frac=1.0, random_state=1010).reset_index(drop=True), values


def test_abn_each_treatment_against_control_through_dispatch(tmp_path: Path) -> None:
    frame, values = abn_frame()
    path = tmp_path / "abn.parquet"
    frame.to_parquet(path)
    catalog = Catalog()
    catalog.add(path, name="abn")
    result = dispatch("ab_test", {"dataset": "abn", "arm_column": "arm", "metrics": [{"name": "y"}]}, catalog)
    assert isinstance(result, AbTestResult), result
    assert result.control_arm == "control"  # inferred from the label
    assert result.arms == ["control", "variant_b", "variant_c"]
    assert result.n_obs == 3000
    assert not any(w.startswith("Library warning") for w in result.warnings)
    assert [c.arm for c in result.comparisons] == ["variant_b", "variant_c"]
    for c in result.comparisons:
        assert c.control_arm == "control"
        assert (c.n_control, c.n_treatment) == (len(values["control"]), len(values[c.arm]))
        assert_matches_welch(c.absolute, values[c.arm], values["control"], "two-sided")
    assert [d.arm for d in result.decisions] == ["variant_b", "variant_c"]


def test_abn_with_explicit_control_label() -> None:
    frame, values = abn_frame(("v2", "v1", "v3"))
    result = run(frame, [{"name": "y"}], control="v2")
    assert result.control_arm == "v2"
    assert result.arms == ["v2", "v1", "v3"]  # control first, then the others by label
    for c in result.comparisons:
        assert c.control_arm == "v2"
        assert (c.n_control, c.n_treatment) == (1000, len(values[c.arm]))
        assert_matches_welch(c.absolute, values[c.arm], values["v2"], "two-sided")


@pytest.mark.parametrize("labels", [("control", "B", "C"), ("A", "B", "C")])
def test_abn_control_inferred_when_another_arm_is_named_c(labels: tuple[str, str, str]) -> None:
    frame, _ = abn_frame(labels)
    result = run(frame, [{"name": "y"}])
    assert result.control_arm == labels[0]
    assert [c.arm for c in result.comparisons] == list(labels[1:])
