"""Row-level covariate adjustments of a two-arm comparison, on numpy arrays.

- :func:`lin_fit`: Lin's (2013) fully interacted OLS, y on treatment, the covariates centred at the two arms'
  pooled mean and their interactions with treatment. Its column space is that of a separate regression per arm,
  so the hat matrix is block diagonal: the treatment coefficient is the difference of the two arms' intercepts,
  with the HC2 (or HC1) variance the sum of theirs; with clusters, CR1 (Stata's). Equal to R estimatr's ``lm_lin``.
- :func:`logistic_fit`: logistic regression of y on treatment and the covariates, then standardisation
  (g-computation): the mean predicted probability with everyone treated, and with everyone in control. Its
  variance is the influence function's (the sampling of the covariates included, as Stata's
  ``margins, vce(unconditional)``; Ye, Shao, Yi & Zhao 2023).
- :func:`ratio_cuped_fit`: CUPED on a ratio metric from each arm's means and covariance of the four per-unit
  values (numerator, denominator, their pre-period values): the delta method on the post and pre ratios, theta
  minimising the variance of the adjusted difference (GrowthBook's ratio regression adjustment).
- :func:`stratified_fit`: post-stratification, sum_s w_s (mean_1s - mean_0s) with w_s the stratum's share of the
  units and variance sum_s w_s^2 (s_1s^2 / n_1s + s_0s^2 / n_0s) (Miratrix, Sekhon & Yu 2013); estimatr's blocked
  ``difference_in_means``.

Each returns a :class:`Fit`: the arms' adjusted means with their variances, the difference, its variance and
degrees of freedom (None: normal), and the covariance of the arm means (only the logistic one's is not zero).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

__all__ = ["Fit", "Singular", "lin_fit", "logistic_fit", "ratio_cuped_fit", "stratified_fit"]

FloatArray = NDArray[np.float64]

#: Newton steps of the logistic fit before it is declared not to converge (separation).
MAX_NEWTON = 50
#: A fitted coefficient beyond this many units on the logit scale means (quasi-)separation.
SEPARATED = 30.0


class Singular(Exception):
    """The design cannot be fitted: collinear or constant covariates within an arm, or separation."""


@dataclass(frozen=True)
class Fit:
    """An adjusted two-arm comparison: arm means (control, treatment), their variances and covariance."""

    control: float
    treatment: float
    control_variance: float
    treatment_variance: float
    covariance: float
    df: float | None
    theta: float | None = None

    @property
    def difference(self) -> float:
        return self.treatment - self.control

    @property
    def variance(self) -> float:
        return self.control_variance + self.treatment_variance - 2 * self.covariance


def _arm_regression(
    y: FloatArray, z: FloatArray, se_type: str, clusters: NDArray[np.intp] | None = None
) -> tuple[float, float]:
    """OLS of ``y`` on ``z`` (first column the constant) within one arm: the intercept and its HC2 variance (or the
    HC0 one, for HC1 to scale; with ``clusters``, the cluster sums' CR0 one, for CR1 to scale). Raises
    :class:`Singular` when ``z`` has less than full column rank."""
    q, r = np.linalg.qr(z)
    diag = np.abs(np.diag(r))
    if len(y) <= z.shape[1] or diag.min() <= 1e-10 * max(diag.max(), 1.0) * np.sqrt(len(y)):
        raise Singular("collinear")
    beta = np.linalg.solve(r, q.T @ y)
    resid = y - z @ beta
    weights = resid * resid
    if se_type == "HC2":
        leverage = np.einsum("ij,ij->i", q, q)
        weights = weights / np.maximum(1.0 - leverage, 1e-12)
    r_inv = np.linalg.inv(r)
    bread_rows = q @ r_inv.T  # z (z'z)^-1 = q r^-T
    first = bread_rows[:, 0]  # the intercept's row of (z'z)^-1 z'
    if clusters is not None:  # the intercept's score summed within each cluster
        sums = np.bincount(clusters, weights=first * resid)
        return float(beta[0]), float(np.sum(sums * sums))
    return float(beta[0]), float(np.sum(first * first * weights))


def lin_fit(
    y: FloatArray,
    treated: NDArray[np.bool_],
    covariates: FloatArray,
    se_type: str,
    clusters: NDArray[np.intp] | None = None,
) -> Fit:
    """Lin's estimator on one comparison's rows: ``covariates`` (rows x k) centred at their pooled mean; HC2 or
    HC1 standard errors; degrees of freedom n - 2(k + 1) as estimatr's. With ``clusters`` (codes of the randomized
    units, each within one arm): the cluster-robust CR1 variance with Stata's factor G/(G - 1) (n - 1)/(n - 2(k + 1))
    and G - 1 degrees of freedom, as estimatr's ``lm_lin(..., clusters, se_type = "stata")``; the clusters of
    the two arms are disjoint, so the sandwich's meat is block diagonal as its bread is."""
    centred = covariates - covariates.mean(axis=0)
    n, k = centred.shape
    means, variances = [], []
    dense = None if clusters is None else np.unique(clusters, return_inverse=True)[1]
    for arm in (~treated, treated):
        z = np.column_stack([np.ones(int(arm.sum())), centred[arm]])
        mean, variance = _arm_regression(y[arm], z, se_type, None if dense is None else dense[arm])
        means.append(mean)
        variances.append(variance)
    params = 2 * (k + 1)
    if dense is not None:
        groups = int(dense.max()) + 1
        if groups < 3:
            raise Singular("fewer than 3 clusters")
        factor = groups / (groups - 1) * (n - 1) / (n - params)
        variances = [v * factor for v in variances]
        return Fit(means[0], means[1], variances[0], variances[1], 0.0, float(groups - 1))
    if se_type == "HC1":
        variances = [v * n / (n - params) for v in variances]
    return Fit(means[0], means[1], variances[0], variances[1], 0.0, float(n - params))


def logistic_fit(y: FloatArray, treated: NDArray[np.bool_], covariates: FloatArray) -> Fit:
    """The standardised risk difference from the logistic regression of ``y`` (0/1) on treatment and
    ``covariates``, with its influence-function variance (arm means' covariance included)."""
    centred = covariates - covariates.mean(axis=0)
    n = len(y)
    t = treated.astype(np.float64)
    z = np.column_stack([np.ones(n), t, centred])
    start = np.clip(y.mean(), 1e-3, 1 - 1e-3)
    beta = np.zeros(z.shape[1])
    beta[0] = np.log(start / (1 - start))
    for _ in range(MAX_NEWTON):
        p = special.expit(z @ beta)
        w = p * (1 - p)
        information = (z * w[:, None]).T @ z
        try:
            step = np.linalg.solve(information, z.T @ (y - p))
        except np.linalg.LinAlgError as error:
            raise Singular("collinear") from error
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10 * (1 + np.max(np.abs(beta))):
            break
    else:
        raise Singular("no convergence")
    if not np.all(np.isfinite(beta)) or np.max(np.abs(beta[1:])) > SEPARATED:
        raise Singular("separation")
    p = special.expit(z @ beta)
    information = (z * (p * (1 - p))[:, None]).T @ z / n
    scores = z * (y - p)[:, None]
    influence_beta = np.linalg.solve(information, scores.T).T  # rows: each unit's influence on beta
    arms = []
    for value in (0.0, 1.0):
        za = z.copy()
        za[:, 1] = value
        pa = special.expit(za @ beta)
        gradient = (za * (pa * (1 - pa))[:, None]).mean(axis=0)
        arms.append((float(pa.mean()), pa - pa.mean() + influence_beta @ gradient))
    (mean0, if0), (mean1, if1) = arms
    return Fit(
        mean0,
        mean1,
        float(if0 @ if0) / n**2,
        float(if1 @ if1) / n**2,
        float(if0 @ if1) / n**2,
        None,
    )


def _ratio_moments(values: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Means and the covariance of the means (covariance with n - 1, over n) of the columns of ``values``."""
    n = len(values)
    means = values.mean(axis=0)
    deviations = values - means
    return means, deviations.T @ deviations / (n - 1) / n


def ratio_cuped_fit(values: FloatArray, treated: NDArray[np.bool_]) -> Fit:
    """``values``: rows x 4 (numerator, denominator, pre-period numerator, pre-period denominator). Each arm's
    post ratio R and pre ratio P by the delta method; theta = sum_a cov(R_a, P_a) / sum_a var(P_a); arm values
    R_a - theta (P_a - P), P the two arms' pooled pre ratio. Raises :class:`Singular` when P has no variance."""
    pooled_pre = values[:, 2].sum() / values[:, 3].sum()
    parts = []
    for arm in (~treated, treated):
        means, covariance = _ratio_moments(values[arm])
        post = np.array([1 / means[1], -means[0] / means[1] ** 2, 0.0, 0.0])
        pre = np.array([0.0, 0.0, 1 / means[3], -means[2] / means[3] ** 2])
        parts.append(
            (
                means[0] / means[1],
                means[2] / means[3],
                float(post @ covariance @ post),
                float(pre @ covariance @ pre),
                float(post @ covariance @ pre),
            )
        )
    pre_variance = parts[0][3] + parts[1][3]
    if not pre_variance > 0:
        raise Singular("constant pre-period ratio")
    theta = (parts[0][4] + parts[1][4]) / pre_variance
    arms = [
        (ratio - theta * (pre_ratio - pooled_pre), var_post - 2 * theta * cov + theta * theta * var_pre)
        for ratio, pre_ratio, var_post, var_pre, cov in parts
    ]
    return Fit(arms[0][0], arms[1][0], max(arms[0][1], 0.0), max(arms[1][1], 0.0), 0.0, None, theta)


def stratified_fit(y: FloatArray, treated: NDArray[np.bool_], strata: NDArray[np.intp]) -> Fit:
    """Post-stratified difference; every stratum must hold at least two units of each arm (the caller checks).
    Degrees of freedom n - 2 S, as estimatr's blocked difference in means."""
    n_strata = int(strata.max()) + 1
    weights = np.bincount(strata, minlength=n_strata) / len(y)
    means, variances = [], []
    for arm in (~treated, treated):
        codes, values = strata[arm], y[arm]
        counts = np.bincount(codes, minlength=n_strata).astype(np.float64)
        mean = np.bincount(codes, weights=values, minlength=n_strata) / counts
        spread = np.bincount(codes, weights=(values - mean[codes]) ** 2, minlength=n_strata) / (counts - 1)
        means.append(float(weights @ mean))
        variances.append(float(weights**2 @ (spread / counts)))
    return Fit(means[0], means[1], variances[0], variances[1], 0.0, float(len(y) - 2 * n_strata))
