"""One Callaway-Sant'Anna cell with covariates: the 2x2 ATT and its influence function (Sant'Anna & Zhao 2020).

A cell compares the units first treated in g (D = 1) with its comparison units (D = 0) on the change
dY = Y_t - Y_base, given covariates X (with an intercept) measured in the earlier of the two periods, as R did
does. Three estimators, as R DRDID's panel ones (R did's ``est_method``):

- ``dr`` (``drdid_panel``, did's default): a logistic propensity score p(X) for D = 1 within the cell, a linear
  regression m(X) of dY on X among the comparison units, and
  ATT = mean_D(dY - m(X)) - sum_C w_C (dY - m(X)) / sum_C w_C with w_C = p / (1 - p): consistent if either model
  is right;
- ``reg`` (``reg_did_panel``): ATT = mean_D(dY - m(X)), outcome regression only;
- ``ipw`` (``std_ipw_did_panel``): ATT = mean_D(dY) - sum_C w_C dY / sum_C w_C, normalised inverse probability
  weighting.

Each returns the influence function psi on the cell's units, with ATT_hat - ATT ~ mean(psi), including the terms
for the estimated propensity score (its logit score times the inverse information) and regression coefficients.
Propensities are capped at 1 - 1e-6 and comparison units with p >= 0.995 are dropped from the weights (DRDID's
trimming); a cell whose largest propensity reaches 0.999 has no overlap and is refused (R did sets such a cell to
NA with the warning "overlap condition violated").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

__all__ = ["OVERLAP_LIMIT", "TRIM_LEVEL", "CellFit", "CovariateProblem", "fit_cell"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: Comparison units with a propensity at or above this get no weight (DRDID's ``trim.level``).
TRIM_LEVEL = 0.995
#: A largest propensity at or above this means the covariates separate the cohort from its comparison units.
OVERLAP_LIMIT = 0.999
#: Propensities are capped here, as DRDID does.
PS_CAP = 1 - 1e-6
MAX_NEWTON = 100


class CovariateProblem(Exception):
    """A cell the covariates make inestimable: ``kind`` is 'overlap' or 'collinear'."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class CellFit:
    att: float
    influence: FloatArray | None  # on the cell's units, ATT_hat - ATT ~ mean(influence)
    trimmed: int  # comparison units dropped by the propensity trimming
    max_propensity: float  # nan for 'reg'


def _logit(x: FloatArray, d: FloatArray, w: FloatArray) -> FloatArray:
    """Weighted logistic regression of d on x by Newton's method (step-halving on the log-likelihood)."""
    beta = np.zeros(x.shape[1])
    share = float(np.clip(w @ d / w.sum(), 1e-6, 1 - 1e-6))
    beta[0] = np.log(share / (1 - share))

    def loglik(b: FloatArray) -> float:
        eta = x @ b
        return float(w @ (d * eta - np.logaddexp(0.0, eta)))

    current = loglik(beta)
    for _ in range(MAX_NEWTON):
        p = special.expit(x @ beta)
        grad = x.T @ (w * (d - p))
        info = (x * (w * p * (1 - p))[:, None]).T @ x
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            break  # separation drives p to 0/1: caught by the overlap check
        size = 1.0
        while loglik(beta + size * step) < current - 1e-12 * (1 + abs(current)):
            size /= 2
            if size < 1e-8:
                return np.asarray(beta, dtype=np.float64)  # no ascent left: at the optimum numerically
        beta = beta + size * step
        current = loglik(beta)
        if np.max(np.abs(size * step)) < 1e-11:
            break
    return np.asarray(beta, dtype=np.float64)


def _check_rank(x: FloatArray, what: str) -> None:
    if np.linalg.matrix_rank(x) < x.shape[1]:
        raise CovariateProblem("collinear", what)


def fit_cell(
    dy: FloatArray,
    treated: BoolArray,
    x: FloatArray,
    w: FloatArray,
    method: str,
    influence: bool = True,
) -> CellFit:
    """The 2x2 ATT of one cell on its units (treated and comparison only), ``x`` without the intercept."""
    n = len(dy)
    d = treated.astype(np.float64)
    design = np.column_stack([np.ones(n), x])
    w = w / w.mean()
    control = ~treated
    trimmed = 0
    max_ps = float("nan")
    keep = np.ones(n)
    ps = np.zeros(n)
    if method != "ipw":
        _check_rank(design[control], "comparison units")
        xc = design[control] * w[control, None]
        coef = np.linalg.solve(xc.T @ design[control], xc.T @ dy[control])
        fitted = design @ coef
    if method != "reg":
        _check_rank(design, "cell")
        raw = special.expit(design @ _logit(design, d, w))
        max_ps = float(raw.max())
        if max_ps >= OVERLAP_LIMIT:
            raise CovariateProblem("overlap", f"largest propensity {max_ps:.4f}")
        ps = np.minimum(raw, PS_CAP)
        drop = control & (ps >= TRIM_LEVEL)
        trimmed = int(drop.sum())
        keep = (~drop).astype(np.float64)
    w_treat = keep * w * d
    if method == "reg":
        w_cont = w_treat
        treat_part, cont_part = w_treat * dy, w_cont * fitted
    else:
        w_cont = keep * w * ps * (1 - d) / (1 - ps)
        resid = dy - fitted if method == "dr" else dy
        treat_part, cont_part = w_treat * resid, w_cont * resid
    mean_wt, mean_wc = w_treat.mean(), w_cont.mean()
    if not mean_wc > 0:
        raise CovariateProblem("overlap", "every comparison unit trimmed")
    eta_treat, eta_cont = treat_part.mean() / mean_wt, cont_part.mean() / mean_wc
    att = float(eta_treat - eta_cont)
    if not influence:
        return CellFit(att, None, trimmed, max_ps)
    lin_ols = lin_ps = None
    if method != "ipw":
        w_ols = w * (1 - d)
        bread = np.linalg.inv((design * w_ols[:, None]).T @ design / n)
        lin_ols = (design * (w_ols * (dy - fitted))[:, None]) @ bread  # OLS coefficients' influence
    if method != "reg":
        hessian = np.linalg.inv((design * (w * ps * (1 - ps))[:, None]).T @ design / n)
        lin_ps = (design * (w * (d - ps))[:, None]) @ hessian  # logit coefficients' influence
    inf_treat = treat_part - w_treat * eta_treat
    inf_cont = cont_part - w_cont * eta_cont
    if method == "dr":
        assert lin_ols is not None and lin_ps is not None
        inf_treat = inf_treat - lin_ols @ (w_treat[:, None] * design).mean(axis=0)
        inf_cont = (
            inf_cont
            + lin_ps @ ((w_cont * (dy - fitted - eta_cont))[:, None] * design).mean(axis=0)
            - lin_ols @ (w_cont[:, None] * design).mean(axis=0)
        )
    elif method == "reg":
        assert lin_ols is not None
        inf_cont = inf_cont + lin_ols @ (w_cont[:, None] * design).mean(axis=0)
    else:
        assert lin_ps is not None
        inf_cont = inf_cont + lin_ps @ ((w_cont * (dy - eta_cont))[:, None] * design).mean(axis=0)
    psi = inf_treat / mean_wt - inf_cont / mean_wc
    return CellFit(att, np.asarray(psi, dtype=np.float64), trimmed, max_ps)
