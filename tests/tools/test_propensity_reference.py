"""The propensity tool against independent references.

- the propensity model: statsmodels ``Logit`` (Newton, run to a tight tolerance) on the same design;
- IPW and AIPW point estimates: the textbook formulas written out here with statsmodels' fitted scores and
  statsmodels OLS outcome regressions;
- IPW and AIPW standard errors: the stacked M-estimation sandwich A^-1 B A^-T built here from the estimating
  equations, with A by central finite differences (no shared code with the tool's analytic influence functions);
- matching: a brute-force O(n^2) nearest-neighbour search with ties and the Abadie-Imbens (2006) variance written
  from its definition;
- balance and the naive difference: numpy weighted moments and scipy's Welch t-test;
- the job-training data (NSW treated with CPS-1 comparison units, Dehejia and Wahba 1999): the experimental
  benchmark $1,794 computed from the fixture's NSW controls.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from numpy.typing import NDArray
from scipy import special, stats

from tools.propensity import PropensityRequest, PropensityResult, design, propensity
from tools.propensity.logit import fit_logit
from tools.propensity.matching import match_estimate

FloatArray = NDArray[np.float64]
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "propensity" / "nsw_dw_cps.csv"

#: Same quantity computed by a different route: only floating-point rounding differs.
EXACT = 1e-9


def request(**fields: Any) -> PropensityRequest:
    base: dict[str, Any] = {"dataset": "d", "outcome": "y", "treatment": "d", "covariates": ["x1", "x2", "x3"]}
    return PropensityRequest.model_validate({**base, **fields})


def confounded(n: int, seed: int) -> pd.DataFrame:
    """Three covariates (one on a large scale), confounded treatment, heterogeneous effect."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    x3 = rng.gamma(2.0, 5_000.0, size=n)
    d = rng.random(n) < special.expit(-0.4 + 0.8 * x1 - 0.6 * x2 + 0.00005 * (x3 - 10_000))
    y = 1.0 + x1 + 0.5 * x2 + 0.0002 * x3 + d * (1.0 + 0.5 * x1) + rng.normal(size=n)
    return pd.DataFrame({"y": y, "d": d.astype(int), "x1": x1, "x2": x2, "x3": x3})


def statsmodels_logit(frame: pd.DataFrame, columns: list[str]) -> Any:
    exog = sm.add_constant(frame[columns].to_numpy(dtype=float))
    return sm.Logit(frame["d"].to_numpy(dtype=float), exog).fit(disp=0, method="newton", tol=1e-14, maxiter=200)


def by_method(result: PropensityResult) -> dict[str, Any]:
    return {e.method: e for e in result.estimates}


# --- the propensity model ---------------------------------------------------------------------------------


def test_logit_equals_statsmodels() -> None:
    frame = confounded(3_000, seed=1)
    result = propensity(request(), frame)
    reference = statsmodels_logit(frame, ["x1", "x2", "x3"])
    ours = result.propensity_model
    assert ours.converged
    np.testing.assert_allclose([t.coefficient for t in ours.terms], reference.params, rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose([t.std_error for t in ours.terms], reference.bse, rtol=1e-6)
    assert ours.log_likelihood == pytest.approx(reference.llf, rel=1e-10)


def test_logit_equals_statsmodels_on_the_job_training_specification() -> None:
    # cubic age, squared education, an interaction on a 1e5 scale: an ill-conditioned design
    frame = pd.read_csv(FIXTURE)
    frame = frame[frame["sample"] != "nsw_control"].rename(columns={"treat": "d", "re78": "y"})
    terms = ["age", "age^2", "age^3", "educ", "educ^2", "marr", "re74", "re75", "re74==0", "educ*re74"]
    result = propensity(request(covariates=terms), frame)
    exog = pd.DataFrame(
        {
            "age": frame.age,
            "age2": frame.age**2,
            "age3": frame.age**3,
            "educ": frame.educ,
            "educ2": frame.educ**2,
            "marr": frame.marr,
            "re74": frame.re74,
            "re75": frame.re75,
            "u74": (frame.re74 == 0).astype(float),
            "educ_re74": frame.educ * frame.re74,
        }
    )
    reference = sm.Logit(frame["d"].to_numpy(float), sm.add_constant(exog.to_numpy(float))).fit(
        # tol on the step: 1e-14 sat at the rounding noise of this ill-conditioned design and failed to converge on
        # some machines (BLAS summation order); Newton's last steps are quadratic, so 1e-10 is far inside rtol 1e-6
        disp=0,
        method="newton",
        tol=1e-10,
        maxiter=500,
    )
    assert reference.mle_retvals["converged"]
    coefficients = [t.coefficient for t in result.propensity_model.terms]
    np.testing.assert_allclose(coefficients, reference.params, rtol=1e-6)


# --- IPW and AIPW point estimates by hand -----------------------------------------------------------------


def hand_estimates(frame: pd.DataFrame, estimand: str) -> dict[str, float]:
    x = frame[["x1", "x2", "x3"]].to_numpy(float)
    d = frame["d"].to_numpy(float)
    y = frame["y"].to_numpy(float)
    e = statsmodels_logit(frame, ["x1", "x2", "x3"]).predict()
    exog = sm.add_constant(x)
    m0 = sm.OLS(y[d == 0], exog[d == 0]).fit().predict(exog)
    m1 = sm.OLS(y[d == 1], exog[d == 1]).fit().predict(exog)
    if estimand == "ATT":
        w = (1 - d) * e / (1 - e)
        ipw = y[d == 1].mean() - np.sum(w * y) / np.sum(w)
        aipw = np.mean((y - m0)[d == 1]) - np.sum(w * (y - m0)) / np.sum(w)
    else:
        w1, w0 = d / e, (1 - d) / (1 - e)
        ipw = np.sum(w1 * y) / np.sum(w1) - np.sum(w0 * y) / np.sum(w0)
        aipw = np.mean(m1 - m0) + np.sum(w1 * (y - m1)) / np.sum(w1) - np.sum(w0 * (y - m0)) / np.sum(w0)
    return {"ipw": float(ipw), "aipw": float(aipw)}


@pytest.mark.parametrize("estimand", ["ATT", "ATE"])
def test_ipw_and_aipw_equal_the_written_out_formulas(estimand: str) -> None:
    frame = confounded(2_000, seed=2)
    result = by_method(propensity(request(estimand=estimand, methods=["ipw", "aipw"]), frame))
    for method, value in hand_estimates(frame, estimand).items():
        assert result[method].estimate == pytest.approx(value, rel=1e-7, abs=1e-9)


# --- IPW and AIPW standard errors: the stacked sandwich by finite differences -------------------------------


def sandwich_se(psi: Callable[[FloatArray], FloatArray], theta: FloatArray, gradient: FloatArray) -> float:
    """sqrt(g' A^-1 B A^-T g / n) with A = mean d psi / d theta (central differences) and B = mean psi psi'."""
    n = len(psi(theta))
    jacobian = np.empty((len(theta), len(theta)))
    for j in range(len(theta)):
        step = 1e-6 * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += step
        down[j] -= step
        jacobian[:, j] = (psi(up).mean(axis=0) - psi(down).mean(axis=0)) / (2 * step)
    values = psi(theta)
    meat = values.T @ values / n
    bread = np.linalg.inv(jacobian)
    covariance = bread @ meat @ bread.T / n
    return float(np.sqrt(gradient @ covariance @ gradient))


def stacked_reference(frame: pd.DataFrame, estimand: str, augmented: bool) -> float:
    """The SE of IPW (augmented=False) or AIPW from the stacked estimating equations of every fitted piece."""
    x = sm.add_constant(frame[["x1", "x2", "x3"]].to_numpy(float))
    x[:, 3] /= 10_000.0  # rescale so finite differences are well conditioned (the estimate is unchanged)
    d = frame["d"].to_numpy(float)
    y = frame["y"].to_numpy(float)
    k = x.shape[1]
    beta = sm.Logit(d, x).fit(disp=0, tol=1e-14, method="newton").params
    gamma0 = sm.OLS(y[d == 0], x[d == 0]).fit().params if augmented else np.zeros(k)
    gamma1 = sm.OLS(y[d == 1], x[d == 1]).fit().params if augmented else np.zeros(k)
    use_g1 = augmented and estimand == "ATE"

    def split(theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        b, rest = theta[:k], theta[k:]
        g0 = rest[:k] if augmented else np.zeros(k)
        rest = rest[k:] if augmented else rest
        g1 = rest[:k] if use_g1 else np.zeros(k)
        rest = rest[k:] if use_g1 else rest
        return b, g0, g1, rest

    def psi(theta: FloatArray) -> FloatArray:
        b, g0, g1, means = split(theta)
        e = special.expit(x @ b)
        m0, m1 = x @ g0, x @ g1
        columns = [x * (d - e)[:, None]]
        if augmented:
            columns.append(x * ((1 - d) * (y - m0))[:, None])
        if use_g1:
            columns.append(x * (d * (y - m1))[:, None])
        if estimand == "ATT":
            w0 = (1 - d) * e / (1 - e)
            a, r0 = means
            columns.append((d * (y - m0 - a))[:, None])
            columns.append((w0 * (y - m0 - r0))[:, None])
        else:
            w1, w0 = d / e, (1 - d) / (1 - e)
            shift, r1, r0 = means
            columns.append((m1 - m0 - shift)[:, None])
            columns.append((w1 * (y - m1 - r1))[:, None])
            columns.append((w0 * (y - m0 - r0))[:, None])
        return np.column_stack(columns)

    e = special.expit(x @ beta)
    m0, m1 = x @ gamma0, x @ gamma1
    if estimand == "ATT":
        w0 = (1 - d) * e / (1 - e)
        means = [np.mean((y - m0)[d == 1]), np.sum(w0 * (y - m0)) / np.sum(w0)]
        gradient_tail = [1.0, -1.0]
    else:
        w1, w0 = d / e, (1 - d) / (1 - e)
        means = [np.mean(m1 - m0), np.sum(w1 * (y - m1)) / np.sum(w1), np.sum(w0 * (y - m0)) / np.sum(w0)]
        gradient_tail = [1.0, 1.0, -1.0]
    pieces = [beta] + ([gamma0] if augmented else []) + ([gamma1] if use_g1 else []) + [np.array(means)]
    theta = np.concatenate(pieces)
    gradient = np.concatenate((np.zeros(len(theta) - len(gradient_tail)), gradient_tail))
    return sandwich_se(psi, theta, gradient)


@pytest.mark.parametrize("estimand", ["ATT", "ATE"])
def test_sandwich_standard_errors_equal_the_stacked_estimating_equations(estimand: str) -> None:
    frame = confounded(1_500, seed=3)
    result = by_method(propensity(request(estimand=estimand, methods=["ipw", "aipw"]), frame))
    # finite differences of smooth equations: about 1e-8 relative; 1e-6 leaves room for the conditioning
    assert result["ipw"].std_error == pytest.approx(stacked_reference(frame, estimand, augmented=False), rel=1e-6)
    assert result["aipw"].std_error == pytest.approx(stacked_reference(frame, estimand, augmented=True), rel=1e-6)


def test_logistic_outcome_model_for_a_binary_outcome() -> None:
    frame = confounded(2_000, seed=4)
    frame["y"] = (frame["y"] > frame["y"].median()).astype(int)
    result = by_method(propensity(request(methods=["aipw"]), frame))
    x = frame[["x1", "x2", "x3"]].to_numpy(float)
    d, y = frame["d"].to_numpy(float), frame["y"].to_numpy(float)
    e = statsmodels_logit(frame, ["x1", "x2", "x3"]).predict()
    exog = sm.add_constant(x)
    m0 = sm.Logit(y[d == 0], exog[d == 0]).fit(disp=0, tol=1e-14, method="newton").predict(exog)
    w = (1 - d) * e / (1 - e)
    expected = np.mean((y - m0)[d == 1]) - np.sum(w * (y - m0)) / np.sum(w)
    assert result["aipw"].estimate == pytest.approx(expected, rel=1e-7, abs=1e-10)


# --- matching: brute force --------------------------------------------------------------------------------


def brute_force_matching(
    score: FloatArray, treated: NDArray[np.bool_], y: FloatArray, estimand: str, k: int, caliper: float | None
) -> tuple[float, float]:
    """O(n^2) nearest neighbours (all ties at the k-th distance) and the Abadie-Imbens (2006) variance."""
    n = len(score)
    use = np.zeros(n)
    use_squared = np.zeros(n)
    own = np.zeros(n, dtype=bool)
    gaps = []
    queries = np.flatnonzero(treated) if estimand == "ATT" else np.arange(n)
    for i in queries:
        pool = np.flatnonzero(treated != treated[i])
        distance = np.abs(score[i] - score[pool])
        kth = np.sort(distance)[k - 1]
        chosen = pool[distance <= kth]
        if caliper is not None:
            chosen = chosen[np.abs(score[i] - score[chosen]) <= caliper]
        if len(chosen) == 0:
            continue
        own[i] = True
        use[chosen] += 1.0 / len(chosen)
        use_squared[chosen] += 1.0 / len(chosen) ** 2
        counterfactual = y[chosen].mean()
        gaps.append(y[i] - counterfactual if treated[i] else counterfactual - y[i])
    estimate = float(np.mean(gaps))
    sigma2 = np.zeros(n)
    for unit in range(n):
        same = np.flatnonzero(treated == treated[unit])
        distance = np.abs(score[unit] - score[same])
        # four neighbours beyond the unit itself (at distance 0): the module's VARIANCE_NEIGHBOURS, raised from two
        # for issue 17 (the K^2-weighted conditional variances were too noisy; see test_propensity_matching_se.py)
        kth = np.sort(distance)[4]
        group = same[(distance <= kth) & (same != unit)]
        sigma2[unit] = len(group) / (len(group) + 1.0) * (y[unit] - y[group].mean()) ** 2
    if estimand == "ATT":
        extra = np.sum(((use**2 - use_squared) * sigma2)[~treated])
    else:
        extra = np.sum((use**2 + 2 * use * own - use_squared) * sigma2)
    variance = (np.sum((np.array(gaps) - estimate) ** 2) + extra) / len(gaps) ** 2
    return estimate, float(np.sqrt(variance))


@pytest.mark.parametrize(
    ("estimand", "k", "caliper"), [("ATT", 1, None), ("ATT", 3, None), ("ATE", 2, None), ("ATT", 2, 0.6)]
)
def test_matching_equals_brute_force_with_ties(estimand: str, k: int, caliper: float | None) -> None:
    rng = np.random.default_rng(5)
    n = 300
    # integer-valued scores: many exact ties, including units at equal distance on both sides
    score = rng.integers(-6, 7, size=n).astype(float) + rng.choice([0.0, 0.5], size=n)
    treated = rng.random(n) < special.expit(score / 4)
    y = score + rng.normal(size=n)
    result = match_estimate(score, treated, y, estimand=estimand, k=k, caliper=caliper)
    estimate, std_error = brute_force_matching(score, treated, y, estimand, k, caliper)
    assert result.estimate == pytest.approx(estimate, rel=1e-12, abs=1e-12)
    assert result.std_error == pytest.approx(std_error, rel=1e-10)


def test_matching_in_the_tool_matches_on_the_logit_score() -> None:
    frame = confounded(400, seed=6)
    frame["x1"] = np.round(frame["x1"], 1)  # duplicated covariate rows give tied scores
    frame["x2"] = np.round(frame["x2"], 0)
    frame["x3"] = np.round(frame["x3"], -3)
    result = by_method(propensity(request(methods=["matching"], neighbors=2), frame))
    # the linear predictor of the logit (checked against statsmodels above): statsmodels' own values differ in
    # the last bits, which can break exact distance ties differently, so the brute force runs on the tool's fit
    built = design(request(), frame)
    eta = fit_logit(built.covariates, built.treatment).linear_predictor
    np.testing.assert_allclose(eta, statsmodels_logit(frame, ["x1", "x2", "x3"]).fittedvalues, rtol=1e-8, atol=1e-9)
    treated = frame["d"].to_numpy() == 1
    estimate, _ = brute_force_matching(eta, treated, frame["y"].to_numpy(float), "ATT", 2, None)
    assert result["matching"].estimate == pytest.approx(estimate, rel=1e-12)


# --- balance and the naive difference ---------------------------------------------------------------------


def test_balance_and_naive_difference_by_hand() -> None:
    frame = confounded(2_000, seed=7)
    result = propensity(request(methods=["ipw"]), frame)
    d = frame["d"].to_numpy() == 1
    x1 = frame["x1"].to_numpy(float)
    e = statsmodels_logit(frame, ["x1", "x2", "x3"]).predict()
    pooled = np.sqrt((x1[d].var() + x1[~d].var()) / 2)
    row = result.balance[0]
    assert row.term == "x1"
    assert row.smd_before == pytest.approx((x1[d].mean() - x1[~d].mean()) / pooled, rel=1e-9)
    assert row.variance_ratio_before == pytest.approx(x1[d].var() / x1[~d].var(), rel=1e-9)
    w = e[~d] / (1 - e[~d])
    weighted_mean = np.average(x1[~d], weights=w)
    weighted_var = np.average((x1[~d] - weighted_mean) ** 2, weights=w)
    assert row.smd_weighted == pytest.approx((x1[d].mean() - weighted_mean) / pooled, rel=1e-7)
    assert row.variance_ratio_weighted == pytest.approx(x1[d].var() / weighted_var, rel=1e-7)
    y = frame["y"].to_numpy(float)
    welch = stats.ttest_ind(y[d], y[~d], equal_var=False)
    assert result.naive.estimate == pytest.approx(y[d].mean() - y[~d].mean(), rel=1e-12)
    assert result.naive.estimate / result.naive.std_error == pytest.approx(welch.statistic, rel=1e-10)
    kish = np.sum(w) ** 2 / np.sum(w**2)
    assert result.overlap.effective_sample_size_control == pytest.approx(kish, rel=1e-9)


def test_design_is_the_matrix_the_tool_fits() -> None:
    frame = confounded(500, seed=8)
    frame.loc[3, "x2"] = np.nan
    built = design(request(covariates=["x1", "x2^2", "x1*x3"]), frame)
    kept = frame.drop(index=3)
    assert built.terms == ["x1", "x2^2", "x1*x3"]
    np.testing.assert_array_equal(built.covariates[:, 1], kept["x2"].to_numpy() ** 2)
    np.testing.assert_array_equal(built.covariates[:, 2], (kept["x1"] * kept["x3"]).to_numpy())
    np.testing.assert_array_equal(built.treatment, kept["d"].to_numpy(float))
    np.testing.assert_array_equal(built.outcome, kept["y"].to_numpy())


# --- the job-training data --------------------------------------------------------------------------------

EXPERIMENTAL_BENCHMARK = 1794  # Dehejia and Wahba (1999): NSW treated minus NSW controls, 1978 earnings
SPECIFICATIONS = {
    "linear": ["age", "educ", "black", "hisp", "marr", "nodegree", "re74", "re75"],
    "Dehejia-Wahba": [
        "age",
        "age^2",
        "age^3",
        "educ",
        "educ^2",
        "marr",
        "nodegree",
        "black",
        "hisp",
        "re74",
        "re75",
        "re74==0",
        "re75==0",
        "educ*re74",
    ],
}


def test_job_training_naive_is_far_from_the_experiment_and_adjusted_estimates_come_near() -> None:
    data = pd.read_csv(FIXTURE)
    treated = data[data["sample"] == "nsw_treated"]
    experiment = treated["re78"].mean() - data.loc[data["sample"] == "nsw_control", "re78"].mean()
    assert experiment == pytest.approx(EXPERIMENTAL_BENCHMARK, abs=1)  # the fixture reproduces the published number
    observational = data[data["sample"] != "nsw_control"]
    rows = [f"experimental benchmark: {experiment:,.0f}"]
    results = {}
    for name, terms in SPECIFICATIONS.items():
        result = propensity(
            PropensityRequest(dataset="nsw_cps", outcome="re78", treatment="treat", covariates=terms),
            observational,
        )
        results[name] = result
        rows.append(
            f"{name:>14}: naive {result.naive.estimate:,.0f} | "
            + " | ".join(f"{e.method} {e.estimate:,.0f} (SE {e.std_error:,.0f})" for e in result.estimates)
        )
    table = "\n".join(rows)
    print(table)  # noqa: T201 - shown with pytest -s: the estimates side by side
    for result in results.values():
        assert result.n_treated == 185 and result.n_control == 15_992
        assert abs(result.naive.estimate - experiment) > 10_000, table  # naive: -8,498
        for estimate in result.estimates:
            # every adjusted estimate lands within about 1.5 of its standard errors of the benchmark
            assert abs(estimate.estimate - experiment) < 1_100, table
            assert estimate.ci_lower < experiment + 300 and estimate.ci_upper > 0, table
