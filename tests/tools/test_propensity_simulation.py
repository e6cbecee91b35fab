"""Seeded simulations: interval coverage under confounding, and AIPW's double robustness.

Coverage: 800 samples of 1,500 units, confounded treatment with a heterogeneous effect, for the ATT and the
ATE. The Monte-Carlo standard error of a 95% coverage rate from 800 samples is 0.77 points, so the issue's
tolerance of +-2 points is 2.6 standard errors. Truths come from Gauss-Hermite quadrature of the design, not
from the estimators. The estimators are called through their module functions (the tool's own code path,
without building result models) so that the simulation stays fast; ``test_the_tool_runs_the_same_estimators``
ties them to ``propensity``.

Double robustness: one large sample (200,000 units) per case, where the outcome model or the propensity model
is wrong; AIPW must stay within 4 of its standard errors of the truth while the estimator relying on the wrong
model is off by more than 10 of its standard errors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from numpy.typing import NDArray
from scipy import special
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from tools.propensity import PropensityRequest, propensity
from tools.propensity.logit import fit_logit
from tools.propensity.matching import match_estimate
from tools.propensity.weighting import fit_outcome, weighted_estimate

#: Seeded simulations: `python3 dev.py test --fast` skips them.
pytestmark = pytest.mark.slow

FloatArray = NDArray[np.float64]

REPS = 800
N = 1_500
TOLERANCE = 0.02
#: the propensity index: -0.3 + 0.8 x1 - 0.5 x2 + 0.3 x3 with x ~ N(0, I)
INDEX_MEAN, INDEX_COEFFICIENTS = -0.3, np.array([0.8, -0.5, 0.3])


def draw(rng: np.random.Generator, n: int) -> tuple[FloatArray, NDArray[np.bool_], FloatArray]:
    x = rng.normal(size=(n, 3))
    treated = rng.random(n) < special.expit(INDEX_MEAN + x @ INDEX_COEFFICIENTS)
    effect = 1.0 + 0.5 * x[:, 0]
    y = 1.0 + x[:, 0] + 0.5 * x[:, 1] - 0.5 * x[:, 2] + treated * effect + rng.normal(size=n)
    return x, treated, y


def true_effect(estimand: str) -> float:
    """ATE = 1 (E x1 = 0); ATT = 1 + 0.5 E[x1 | treated] = 1 + 0.5 (0.8 / v) E[(L - m) e(L)] / E[e(L)], L ~ N(m, v)."""
    if estimand == "ATE":
        return 1.0
    variance = float(INDEX_COEFFICIENTS @ INDEX_COEFFICIENTS)
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    index = INDEX_MEAN + np.sqrt(variance) * nodes
    score = special.expit(index)
    conditional_x1 = INDEX_COEFFICIENTS[0] / variance * (index - INDEX_MEAN)
    return float(1.0 + 0.5 * np.sum(weights * conditional_x1 * score) / np.sum(weights * score))


def estimate_all(x: FloatArray, treated: NDArray[np.bool_], y: FloatArray, estimand: str) -> dict[str, Any]:
    fit = fit_logit(x, treated.astype(np.float64))
    m0 = fit_outcome(x, y, treated, False, False, fit.transform)
    m1 = fit_outcome(x, y, treated, True, False, fit.transform) if estimand == "ATE" else None
    return {
        "ipw": weighted_estimate(x, treated, y, fit, estimand=estimand),
        "aipw": weighted_estimate(x, treated, y, fit, estimand=estimand, m1=m1, m0=m0),
        "matching": match_estimate(
            fit.linear_predictor, treated, y, estimand=estimand, k=1, caliper=None, model=(x, fit.covariance())
        ),
    }


@pytest.mark.parametrize("estimand", ["ATT", "ATE"])
def test_coverage_of_95_percent_intervals(estimand: str) -> None:
    truth = true_effect(estimand)
    rng = np.random.default_rng(20_240 + len(estimand))
    covered = {"ipw": 0, "aipw": 0, "matching": 0}
    with threadpool_limits(1):  # many small products: BLAS threads only add overhead here
        for _ in range(REPS):
            x, treated, y = draw(rng, N)
            for method, result in estimate_all(x, treated, y, estimand).items():
                covered[method] += abs(result.estimate - truth) <= 1.959963984540054 * result.std_error
    rates = {method: count / REPS for method, count in covered.items()}
    for method, rate in rates.items():
        assert abs(rate - 0.95) <= TOLERANCE, (method, rates)


def test_the_tool_runs_the_same_estimators() -> None:
    rng = np.random.default_rng(3)
    x, treated, y = draw(rng, N)
    frame = pd.DataFrame({"y": y, "d": treated.astype(int), "x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2]})
    for estimand in ("ATT", "ATE"):
        result = propensity(
            PropensityRequest(
                dataset="s", outcome="y", treatment="d", covariates=["x1", "x2", "x3"], estimand=estimand
            ),
            frame,
        )
        direct = estimate_all(x, treated, y, estimand)
        for estimate in result.estimates:
            assert estimate.estimate == direct[estimate.method].estimate
            assert estimate.std_error == direct[estimate.method].std_error


# --- double robustness ------------------------------------------------------------------------------------


def run(frame: pd.DataFrame) -> dict[str, Any]:
    result = propensity(
        PropensityRequest(dataset="s", outcome="y", treatment="d", covariates=["x1", "x2"], methods=["ipw", "aipw"]),
        frame,
    )
    return {e.method: e for e in result.estimates}


def test_aipw_is_consistent_when_only_the_outcome_model_is_wrong() -> None:
    rng = np.random.default_rng(11)
    n = 200_000
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    d = rng.random(n) < special.expit(0.3 + 0.8 * x1 - 0.6 * x2)  # logistic in x1, x2: the score model is right
    y = np.exp(x1) + x2**2 + 2.0 * d + rng.normal(size=n)  # not linear in x1, x2: the outcome model is wrong
    frame = pd.DataFrame({"y": y, "d": d.astype(int), "x1": x1, "x2": x2})
    estimates = run(frame)
    aipw = estimates["aipw"]
    assert abs(aipw.estimate - 2.0) < 4 * aipw.std_error, aipw
    # the wrong outcome model alone (regression imputation of the controls' outcomes) is far off
    exog = sm.add_constant(np.column_stack((x1, x2)))
    m0 = sm.OLS(y[~d], exog[~d]).fit().predict(exog[d])
    imputation = float(np.mean(y[d] - m0))
    assert abs(imputation - 2.0) > 10 * aipw.std_error, imputation


def test_aipw_is_consistent_when_only_the_propensity_model_is_wrong() -> None:
    rng = np.random.default_rng(12)
    n = 200_000
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    d = rng.random(n) < special.expit(-1.0 + x1 + 0.9 * x1**2 + 0.5 * x2)  # x1^2 is missing from the score model
    y = 1.0 + 3.0 * x1 + x2 + 2.0 * d + rng.normal(size=n)  # linear: the outcome model is right
    frame = pd.DataFrame({"y": y, "d": d.astype(int), "x1": x1, "x2": x2})
    estimates = run(frame)
    aipw, ipw = estimates["aipw"], estimates["ipw"]
    assert abs(aipw.estimate - 2.0) < 4 * aipw.std_error, aipw
    assert abs(ipw.estimate - 2.0) > 10 * ipw.std_error, ipw
