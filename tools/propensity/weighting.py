"""Normalised inverse-probability weighting (Hájek) and doubly robust AIPW, with stacked M-estimation SEs.

Both are one estimator: AIPW with outcome predictions m1, m0 is

    ATE: mean(m1 - m0) + sum w1 (y - m1) / sum w1 - sum w0 (y - m0) / sum w0,  w1 = d / e, w0 = (1 - d) / (1 - e)
    ATT: sum d (y - m0) / sum d - sum w0 (y - m0) / sum w0,                   w0 = (1 - d) e / (1 - e)

and IPW is the same with m1 = m0 = 0. The standard error is the sandwich of the stacked estimating equations
(propensity score, outcome regressions, the weighted means): each unit's influence on the estimate plus the
effect of its influence on the fitted coefficients (Lunceford and Davidian 2004; Sant'Anna and Zhao 2020).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import linalg, special

from tools.propensity.logit import LogitFit, fit_logit

__all__ = ["OutcomeModel", "fit_outcome", "weighted_estimate"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class OutcomeModel:
    """An outcome regression fitted in one arm, predicted for every unit."""

    prediction: FloatArray  # m(x) for every unit
    derivative: FloatArray  # dm/d(linear predictor): 1 (linear) or m (1 - m) (logistic)
    covariance_sum: FloatArray  # (sum over the arm of derivative * [1,x][1,x]')^-1: maps scores to coefficients
    logistic: bool
    note: str | None = None


def _design_products(x: FloatArray, weight: FloatArray) -> FloatArray:
    from tools.propensity.logit import _raw_hessian

    return _raw_hessian(x, weight)


def _linear(x: FloatArray, y: FloatArray, arm: FloatArray, transform: FloatArray) -> OutcomeModel:
    """OLS of y on [1, x] within the arm (arm = 0/1 indicator), solved in the scaled coordinates."""
    gram = transform.T @ _design_products(x, arm) @ transform
    weighted = arm * y
    moment = transform.T @ np.concatenate(([weighted.sum()], weighted @ x))
    note = None
    try:
        inverse = linalg.cho_solve(linalg.cho_factor(gram), np.eye(len(gram)))
    except linalg.LinAlgError:
        inverse = np.asarray(linalg.pinvh(gram), dtype=np.float64)
        note = "the covariates are collinear within one arm; its outcome regression used a pseudo-inverse"
    coefficients = transform @ (inverse @ moment)
    return OutcomeModel(
        prediction=x @ coefficients[1:] + coefficients[0],
        derivative=np.ones(len(y)),
        covariance_sum=transform @ inverse @ transform.T,
        logistic=False,
        note=note,
    )


def fit_outcome(
    x: FloatArray, y: FloatArray, treated: BoolArray, arm_is_treated: bool, binary: bool, transform: FloatArray
) -> OutcomeModel:
    """The outcome regression in one arm: logistic for a 0/1 outcome (linear if it separates), else linear."""
    arm = treated if arm_is_treated else ~treated
    if binary:
        rows = np.flatnonzero(arm)
        arm_y = y[rows]
        if 0 < arm_y.sum() < len(arm_y):
            fit: LogitFit = fit_logit(x[rows], arm_y)
            if fit.converged:
                eta = x @ fit.coefficients[1:] + fit.coefficients[0]
                m = special.expit(eta)
                return OutcomeModel(m, m * (1.0 - m), fit.covariance(), logistic=True)
        note = (
            f"the 0/1 outcome's logistic regression has no maximum in the {'treated' if arm_is_treated else 'control'}"
            " arm; a linear probability model was used there"
        )
        model = _linear(x, y, arm.astype(np.float64), transform)
        return OutcomeModel(model.prediction, model.derivative, model.covariance_sum, False, note)
    return _linear(x, y, arm.astype(np.float64), transform)


def _row_dot(x: FloatArray, vector: FloatArray) -> FloatArray:
    """[1, x_i] . vector for every row."""
    return np.asarray(x @ vector[1:] + vector[0], dtype=np.float64)


def _column_sums(x: FloatArray, weight: FloatArray) -> FloatArray:
    """sum_i weight_i [1, x_i]."""
    return np.concatenate(([weight.sum()], weight @ x))


@dataclass(frozen=True)
class WeightedEstimate:
    estimate: float
    std_error: float | None
    weights: FloatArray  # the normalising weights per unit: treated w1 (ATT: 1), controls w0


def weighted_estimate(
    x: FloatArray,
    treated: BoolArray,
    y: FloatArray,
    fit: LogitFit,
    *,
    estimand: str,
    m1: OutcomeModel | None = None,
    m0: OutcomeModel | None = None,
    with_se: bool = True,
) -> WeightedEstimate:
    """IPW (no outcome models) or AIPW (m0, and m1 for the ATE) with its sandwich standard error."""
    d = treated.astype(np.float64)
    eta = fit.linear_predictor
    e = special.expit(eta)
    n = len(y)
    if estimand == "ATT":
        w1 = d
        w0 = (1.0 - d) * np.exp(np.minimum(eta, 700.0))
        r1 = y
        r0 = y - m0.prediction if m0 is not None else y
    else:
        w1 = d / e
        w0 = (1.0 - d) / (1.0 - e)
        r1 = y - m1.prediction if m1 is not None else y
        r0 = y - m0.prediction if m0 is not None else y
    if estimand == "ATT" and m0 is not None:
        r1 = r0  # the treated term uses y - m0 too
    sum1, sum0 = w1.sum(), w0.sum()
    mean1 = float(w1 @ r1) / sum1
    mean0 = float(w0 @ r0) / sum0
    shift = 0.0
    if estimand == "ATE" and m1 is not None and m0 is not None:
        shift = float(np.mean(m1.prediction - m0.prediction))
    estimate = shift + mean1 - mean0
    weights = np.where(treated, w1, w0)
    if not with_se:
        return WeightedEstimate(estimate, None, weights)
    influence = w1 * (r1 - mean1) / sum1 - w0 * (r0 - mean0) / sum0
    if estimand == "ATE" and m1 is not None and m0 is not None:
        influence += (m1.prediction - m0.prediction - shift) / n
    # d estimate / d beta (propensity coefficients): d w0 = w0 * factor0 * [1,x], d w1 = w1 * factor1 * [1,x]
    if estimand == "ATT":
        gradient = -_column_sums(x, w0 * (r0 - mean0)) / sum0
    else:
        gradient = (
            -_column_sums(x, w1 * (1.0 - e) * (r1 - mean1)) / sum1 - _column_sums(x, w0 * e * (r0 - mean0)) / sum0
        )
    influence += _row_dot(x, fit.covariance() @ gradient) * (d - e)
    # d estimate / d gamma (outcome coefficients), then each unit's influence on gamma
    if m0 is not None:
        if estimand == "ATT":
            g0 = -_column_sums(x, d * m0.derivative) / sum1 + _column_sums(x, w0 * m0.derivative) / sum0
        else:
            g0 = -_column_sums(x, m0.derivative) / n + _column_sums(x, w0 * m0.derivative) / sum0
        influence += _row_dot(x, m0.covariance_sum @ g0) * (1.0 - d) * (y - m0.prediction)
    if m1 is not None and estimand == "ATE":
        g1 = _column_sums(x, m1.derivative) / n - _column_sums(x, w1 * m1.derivative) / sum1
        influence += _row_dot(x, m1.covariance_sum @ g1) * d * (y - m1.prediction)
    return WeightedEstimate(estimate, float(np.sqrt(influence @ influence)), weights)
