"""Sensitivity to unmeasured confounding: E-values and Cinelli-Hazlett omitted-variable bounds (pure functions).

References: VanderWeele & Ding (2017), "Sensitivity analysis in observational research: introducing the
E-value", Ann. Intern. Med. 167(4); Cinelli & Hazlett (2020), "Making sense of sensitivity: extending omitted
variable bias", JRSS-B 82(1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats

__all__ = [
    "SMD_TO_LOG_RR",
    "BenchmarkBound",
    "EValueFigures",
    "OlsSensitivity",
    "adjusted_estimate",
    "benchmark_bound",
    "e_value",
    "e_value_difference",
    "e_value_risk_ratio",
    "ols_sensitivity",
    "partial_r2",
    "robustness_value",
]

#: VanderWeele & Ding: a standardized mean difference d corresponds to a risk ratio of about exp(0.91 d).
SMD_TO_LOG_RR = 0.91


@dataclass(frozen=True)
class EValueFigures:
    risk_ratio: float
    point: float
    ci: float


def e_value(risk_ratio: float) -> float:
    """E-value of a risk ratio: RR + sqrt(RR (RR - 1)), with RR < 1 inverted first."""
    if not risk_ratio > 0:
        raise ValueError("a risk ratio must be positive")
    rr = risk_ratio if risk_ratio >= 1 else 1.0 / risk_ratio
    return rr + math.sqrt(rr * (rr - 1.0))


def e_value_risk_ratio(risk_ratio: float, ci_lower: float, ci_upper: float) -> EValueFigures:
    """E-values of a risk ratio and of its confidence limit closest to 1 (1 when the interval contains 1)."""
    ci = 1.0 if ci_lower <= 1.0 <= ci_upper else e_value(ci_lower if risk_ratio > 1 else ci_upper)
    return EValueFigures(risk_ratio=risk_ratio, point=e_value(risk_ratio), ci=ci)


def e_value_difference(estimate: float, ci_lower: float, ci_upper: float, outcome_sd: float) -> EValueFigures:
    """E-values of a difference in means via d = estimate / sd and RR ~ exp(0.91 d) (VanderWeele & Ding, 2017)."""
    if not outcome_sd > 0:
        raise ValueError("the outcome's standard deviation must be positive")

    def rr(value: float) -> float:
        return math.exp(SMD_TO_LOG_RR * value / outcome_sd)

    return e_value_risk_ratio(rr(estimate), rr(ci_lower), rr(ci_upper))


def partial_r2(t_statistic: float, dof: int) -> float:
    """Partial R-squared of a regressor from its t-statistic: t^2 / (t^2 + dof)."""
    return t_statistic**2 / (t_statistic**2 + dof)


def robustness_value(t_statistic: float, dof: int, q: float = 1.0, alpha: float | None = None) -> float:
    """Cinelli-Hazlett robustness value: the partial R2 a confounder needs with both treatment and outcome to
    reduce the estimate by 100q% (alpha None) or to make the reduced estimate insignificant at alpha."""
    fq = q * abs(t_statistic) / math.sqrt(dof)
    if alpha is None:
        return 0.5 * (math.sqrt(fq**4 + 4 * fq**2) - fq**2)
    f_crit = abs(float(stats.t.ppf(alpha / 2, dof - 1))) / math.sqrt(dof - 1)
    fqa = fq - f_crit
    if fqa < 0:
        return 0.0
    if fq > 1 / f_crit:  # the bound on R2 with the outcome does not bind
        return (fq**2 - f_crit**2) / (1 + fq**2)
    return 0.5 * (math.sqrt(fqa**4 + 4 * fqa**2) - fqa**2)


@dataclass(frozen=True)
class BenchmarkBound:
    covariate: str
    r2_treatment: float  # bound on the confounder's partial R2 with treatment given the covariates
    r2_outcome: float  # bound on its partial R2 with the outcome given treatment and the covariates
    estimate: float
    std_error: float
    ci_lower: float
    ci_upper: float


def benchmark_bound(r2dxj_x: float, r2yxj_dx: float, kd: float = 1.0, ky: float = 1.0) -> tuple[float, float]:
    """Bounds (r2dz_x, r2yz_dx) on a confounder kd (ky) times as strong as covariate X_j, from X_j's partial R2
    with treatment (r2dxj_x, given the other covariates) and with the outcome (r2yxj_dx, given treatment and the
    other covariates) — Cinelli & Hazlett (2020), section 6."""
    r2dz_x = kd * r2dxj_x / (1 - kd * r2dxj_x)
    if r2dz_x >= 1:
        raise ValueError("the benchmark implies a confounder that explains all of the treatment")
    r2zxj_xd = kd * r2dxj_x**2 / ((1 - kd * r2dxj_x) * (1 - r2dxj_x))
    r2yz_dx = ((math.sqrt(ky) + math.sqrt(r2zxj_xd)) / math.sqrt(1 - r2zxj_xd)) ** 2 * (r2yxj_dx / (1 - r2yxj_dx))
    return r2dz_x, min(r2yz_dx, 1.0)


def adjusted_estimate(
    estimate: float, std_error: float, dof: int, r2dz_x: float, r2yz_dx: float, alpha: float
) -> tuple[float, float, float, float]:
    """The estimate, standard error and CI after adding a confounder with these partial R2s (bias towards 0)."""
    bias = std_error * math.sqrt(r2yz_dx * r2dz_x / (1 - r2dz_x)) * math.sqrt(dof)
    adjusted = (1.0 if estimate >= 0 else -1.0) * (abs(estimate) - bias)  # reduced towards 0, and beyond
    se = std_error * math.sqrt((1 - r2yz_dx) / (1 - r2dz_x)) * math.sqrt(dof / (dof - 1))
    critical = float(stats.t.ppf(1 - alpha / 2, dof - 1))
    return adjusted, se, adjusted - critical * se, adjusted + critical * se


@dataclass(frozen=True)
class OlsSensitivity:
    estimate: float
    std_error: float
    dof: int
    t_statistic: float
    partial_r2: float
    rv: float
    rv_alpha: float
    benchmarks: list[BenchmarkBound]

    @property
    def strongest(self) -> BenchmarkBound | None:
        """The benchmark that moves the estimate most: its adjusted confidence limit nearest 0 (or beyond it)."""
        if not self.benchmarks:
            return None
        if self.estimate >= 0:
            return min(self.benchmarks, key=lambda b: b.ci_lower)
        return max(self.benchmarks, key=lambda b: b.ci_upper)


def _ols_t(design: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64], int]:
    """Coefficients, standard errors (classical) and residual degrees of freedom of an OLS fit."""
    n, k = design.shape
    q, r = np.linalg.qr(design)
    if np.min(np.abs(np.diag(r))) < 1e-10 * np.max(np.abs(np.diag(r))):
        raise np.linalg.LinAlgError("collinear design")
    coef = np.linalg.solve(r, q.T @ y)
    resid = y - design @ coef
    dof = n - k
    sigma2 = float(resid @ resid) / dof
    r_inv = np.linalg.solve(r, np.eye(k))
    se = np.sqrt(sigma2 * np.sum(r_inv**2, axis=1))
    return coef, se, dof


def ols_sensitivity(
    outcome: NDArray[np.float64],
    treatment: NDArray[np.float64],
    covariates: NDArray[np.float64],
    names: list[str],
    alpha: float,
) -> OlsSensitivity:
    """Regress the outcome on treatment and covariates (with an intercept) and compute the Cinelli-Hazlett
    figures, with a 1x benchmark bound for every covariate."""
    n = outcome.shape[0]
    ones = np.ones((n, 1))
    x = covariates.reshape(n, -1)
    full = np.hstack([ones, treatment.reshape(n, 1), x])
    coef, se, dof = _ols_t(full, outcome)
    t_d = coef[1] / se[1]
    benchmarks: list[BenchmarkBound] = []
    if x.shape[1] > 0:
        dcoef, dse, ddof = _ols_t(np.hstack([ones, x]), treatment)
        for j, name in enumerate(names):
            r2dxj_x = partial_r2(float(dcoef[1 + j] / dse[1 + j]), ddof)
            r2yxj_dx = partial_r2(float(coef[2 + j] / se[2 + j]), dof)
            try:
                r2dz, r2yz = benchmark_bound(r2dxj_x, r2yxj_dx)
            except ValueError:
                continue
            est, adj_se, lower, upper = adjusted_estimate(float(coef[1]), float(se[1]), dof, r2dz, r2yz, alpha)
            benchmarks.append(BenchmarkBound(name, r2dz, r2yz, est, adj_se, lower, upper))
    return OlsSensitivity(
        estimate=float(coef[1]),
        std_error=float(se[1]),
        dof=dof,
        t_statistic=float(t_d),
        partial_r2=partial_r2(float(t_d), dof),
        rv=robustness_value(float(t_d), dof),
        rv_alpha=robustness_value(float(t_d), dof, alpha=alpha),
        benchmarks=benchmarks,
    )
