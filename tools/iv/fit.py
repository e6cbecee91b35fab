"""Two-stage least squares for one endogenous regressor, on numpy: the covariates partialled out once.

By Frisch-Waugh-Lovell every quantity the tool reports depends on the covariates only through the outcome, the
treatment and the instruments residualised on them (with the constant): ``partial_out`` does that once, by the
centred and scaled normal equations with one step of iterative refinement (corrected semi-normal equations,
Bjorck 1987: as accurate as a QR factorisation whenever the covariates are not nearly collinear, at a fraction of
its cost on a million rows). The rest is vector arithmetic on those residuals:

* first stage ``pi_d`` and reduced form ``pi_y`` (regressions of the treatment and the outcome on the residualised
  instruments), their joint covariance with the requested standard errors (``Covariances``);
* 2SLS ``beta = (d_hat'y) / (d_hat'd)`` with ``d_hat = Z pi_d``, and its standard error from the sandwich whose bread
  is ``d_hat`` (identical to the full model's, covariates included);
* the naive OLS regression, Sargan's and Hansen's J tests.

Small-sample conventions (Stata's, R's AER::ivreg / sandwich HC1, and linearmodels' with ``debiased=True``): the
classical variance uses ``e'e / (n - k)``, HC1 multiplies the sandwich by ``n / (n - k)``, and the clustered one
(CR1) by ``G / (G - 1) * (n - 1) / (n - k)``, where ``k`` counts the regressors of the regression concerned (the
constant, the kept covariates and the treatment, or the instruments for the first stage and reduced form).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import linalg

from tools.literals import IVStandardErrors

__all__ = [
    "COLLINEAR_TOLERANCE",
    "CONSTANT_TOLERANCE",
    "Covariances",
    "Partialled",
    "StageFit",
    "TwoSLS",
    "first_stage_prediction",
    "hansen_j",
    "independent_columns",
    "meat",
    "ols",
    "partial_out",
    "sargan",
    "stages",
    "two_sls",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

#: A column whose variance left after regressing it on the columns before it is below this share of its own
#: variance is collinear with them.
COLLINEAR_TOLERANCE = 1e-9
#: Relative size below which a centred column is constant (rounding error of a mean).
CONSTANT_TOLERANCE = 1e-12


def independent_columns(gram: FloatArray) -> tuple[list[int], list[int]]:
    """Columns kept and dropped by an in-order Cholesky of a Gram matrix with unit diagonal: a pivot below
    COLLINEAR_TOLERANCE means the column is (numerically) a combination of the kept ones before it."""
    kept: list[int] = []
    dropped: list[int] = []
    for j in range(gram.shape[0]):
        if kept:
            sub = gram[np.ix_(kept, kept)]
            cross = gram[kept, j]
            try:
                residual = float(gram[j, j] - cross @ linalg.solve(sub, cross, assume_a="pos"))
            except (linalg.LinAlgError, ValueError):
                residual = 0.0
        else:
            residual = float(gram[j, j])
        if residual < COLLINEAR_TOLERANCE:
            dropped.append(j)
        else:
            kept.append(j)
    return kept, dropped


#: Rows whose mean shifts every column before the cross-products (so that the centred Gram matrix is computed
#: without cancellation even for columns such as years or timestamps whose mean dwarfs their spread).
SHIFT_ROWS = 4096


def _shifted(values: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``values`` (n x p) minus the mean of its first rows, as a new Fortran-ordered array, and that shift."""
    shift = values[:SHIFT_ROWS].mean(axis=0)
    out = np.empty(values.shape, order="F")
    np.subtract(values, shift, out=out)
    return out, shift


@dataclass(frozen=True)
class Partialled:
    """Outcome, treatment and instruments residualised on the constant and the kept covariates, with what the
    screening of the covariates found."""

    y: FloatArray
    d: FloatArray
    z: FloatArray  # n x k_z
    k_exog: int  # the constant plus the kept covariates
    original_ss: FloatArray  # centred sums of squares of y, d and each instrument (before the covariates)
    magnitude: FloatArray  # a typical absolute value of y, d and each instrument (for the constant tests)
    kept: list[int]  # covariates kept, and those dropped as constant or collinear with earlier ones
    constant: list[int]
    collinear: list[int]


def _screen(gram: FloatArray, magnitude: FloatArray, n: int) -> tuple[list[int], list[int], list[int]]:
    """Covariates kept, constant, and collinear with earlier ones, from their centred Gram matrix."""
    spread = np.sqrt(np.maximum(np.diag(gram), 0.0) / n)
    constant = [j for j in range(gram.shape[0]) if not spread[j] > CONSTANT_TOLERANCE * magnitude[j]]
    varying = [j for j in range(gram.shape[0]) if j not in constant]
    if not varying:
        return [], constant, []
    scale = np.sqrt(np.diag(gram)[varying])
    kept, dropped = independent_columns(gram[np.ix_(varying, varying)] / np.outer(scale, scale))
    return [varying[j] for j in kept], constant, [varying[j] for j in dropped]


def partial_out(y: FloatArray, d: FloatArray, z: FloatArray, w: FloatArray) -> Partialled:
    """Screen the covariates ``w`` (n x k_w, without the constant) and residualise ``[y, d, z]`` on the constant
    and the kept ones.

    Every column is shifted by the mean of its first rows; the centred cross-products follow from the shifted
    ones without cancellation, the residuals from the normal equations, and one refinement step (the correction
    solved from the residuals' own cross-products with the covariates) brings them to QR accuracy.
    """
    n = len(y)
    x, x_shift = _shifted(np.column_stack([y, d, z]))
    x_sum = x.sum(axis=0)
    x_raw_ss = np.einsum("ij,ij->j", x, x)
    original_ss = x_raw_ss - x_sum**2 / n
    magnitude = np.abs(x_shift) + np.sqrt(x_raw_ss / n)
    if w.shape[1] == 0:
        residual = x - x_sum / n
        kept: list[int] = []
        constant: list[int] = []
        collinear: list[int] = []
    else:
        ws, w_shift = _shifted(w)
        w_sum = ws.sum(axis=0)
        w_raw = ws.T @ ws
        w_gram = w_raw - np.outer(w_sum, w_sum) / n
        kept, constant, collinear = _screen(w_gram, np.abs(w_shift) + np.sqrt(np.diag(w_raw) / n), n)
        if kept:
            if len(kept) < w.shape[1]:
                ws, w_sum, w_gram = np.asfortranarray(ws[:, kept]), w_sum[kept], w_gram[np.ix_(kept, kept)]
            w_mean = w_sum / n
            factor = linalg.cho_factor(w_gram)
            cross = ws.T @ x - np.outer(w_sum, x_sum) / n
            coefficients = linalg.cho_solve(factor, cross)
            residual = x - ws @ coefficients
            residual -= x_sum / n - w_mean @ coefficients
            # one refinement step: the residuals' cross-products with the centred covariates, solved again
            correction = linalg.cho_solve(factor, ws.T @ residual - np.outer(w_mean, residual.sum(axis=0)))
            residual -= ws @ correction - w_mean @ correction
        else:
            residual = x - x_sum / n
    return Partialled(
        y=residual[:, 0],
        d=residual[:, 1],
        z=residual[:, 2:],
        k_exog=1 + len(kept),
        original_ss=np.maximum(original_ss, 0.0),
        magnitude=magnitude,
        kept=kept,
        constant=constant,
        collinear=collinear,
    )


def meat(scores: FloatArray, clusters: IntArray | None, n_clusters: int | None) -> FloatArray:
    """The sum of outer products of the rows of ``scores`` (n x p), or of their per-cluster sums."""
    if clusters is None or n_clusters is None:
        return scores.T @ scores
    sums: FloatArray = np.column_stack(
        [np.bincount(clusters, weights=scores[:, j], minlength=n_clusters) for j in range(scores.shape[1])]
    ).astype(np.float64)
    return sums.T @ sums


def _scale(kind: IVStandardErrors, n: int, k: int, n_clusters: int | None) -> float:
    """The small-sample factor of the sandwich (robust: n / (n - k); cluster: G/(G-1) (n-1)/(n-k))."""
    if kind == "cluster" and n_clusters is not None:
        return n_clusters / (n_clusters - 1) * (n - 1) / (n - k)
    return n / (n - k)


def _variance_of_slope(
    regressor: FloatArray,
    residual: FloatArray,
    kind: IVStandardErrors,
    k: int,
    clusters: IntArray | None,
    n_clusters: int | None,
) -> float:
    """Variance of the coefficient on one (residualised) regressor whose residual is ``residual``."""
    n = len(residual)
    bread = float(regressor @ regressor)
    if kind == "classical":
        return float(residual @ residual) / (n - k) / bread
    scores = (regressor * residual).reshape(-1, 1)
    return float(meat(scores, clusters, n_clusters)[0, 0]) * _scale(kind, n, k, n_clusters) / bread**2


@dataclass(frozen=True)
class Covariances:
    """Joint covariance of the reduced-form (``y``) and first-stage (``d``) instrument coefficients."""

    yy: FloatArray
    yd: FloatArray  # cov(pi_y, pi_d)
    dd: FloatArray


@dataclass(frozen=True)
class StageFit:
    """First stage and reduced form on the residualised instruments."""

    pi_y: FloatArray
    pi_d: FloatArray
    resid_y: FloatArray
    resid_d: FloatArray
    d_hat: FloatArray  # z pi_d: the treatment's part the instruments predict
    zz: FloatArray
    covariances: Covariances
    df_resid: int  # n - (k_exog + k_z)


def stages(data: Partialled, kind: IVStandardErrors, clusters: IntArray | None, n_clusters: int | None) -> StageFit:
    """The first stage and the reduced form with the joint covariance of their instrument coefficients."""
    z, n = data.z, len(data.y)
    k_z = z.shape[1]
    zz = z.T @ z
    factor = linalg.cho_factor(zz)
    pi_y = linalg.cho_solve(factor, z.T @ data.y)
    pi_d = linalg.cho_solve(factor, z.T @ data.d)
    d_hat = z @ pi_d
    resid_y = data.y - z @ pi_y
    resid_d = data.d - d_hat
    k = data.k_exog + k_z
    inverse = linalg.cho_solve(factor, np.eye(k_z))
    if kind == "classical":
        dof = n - k
        yy = float(resid_y @ resid_y) / dof * inverse
        yd = float(resid_y @ resid_d) / dof * inverse
        dd = float(resid_d @ resid_d) / dof * inverse
    else:
        scores = np.concatenate([z * resid_y[:, None], z * resid_d[:, None]], axis=1)
        middle = meat(scores, clusters, n_clusters) * _scale(kind, n, k, n_clusters)
        yy = inverse @ middle[:k_z, :k_z] @ inverse
        yd = inverse @ middle[:k_z, k_z:] @ inverse
        dd = inverse @ middle[k_z:, k_z:] @ inverse
    return StageFit(pi_y, pi_d, resid_y, resid_d, d_hat, zz, Covariances(yy, yd, dd), n - k)


@dataclass(frozen=True)
class TwoSLS:
    """The 2SLS coefficient, its standard error and residuals."""

    estimate: float
    std_error: float
    residual: FloatArray


def two_sls(
    data: Partialled,
    stage: StageFit,
    kind: IVStandardErrors,
    clusters: IntArray | None,
    n_clusters: int | None,
) -> TwoSLS:
    """2SLS of the outcome on the treatment with the instruments (covariates partialled out)."""
    d_hat = stage.d_hat
    beta = float(d_hat @ data.y) / float(d_hat @ data.d)
    residual = data.y - beta * data.d
    # the structural residual (with the treatment, not its prediction) and the bread d_hat'd_hat
    variance = _variance_of_slope(d_hat, residual, kind, data.k_exog + 1, clusters, n_clusters)
    return TwoSLS(beta, float(np.sqrt(max(variance, 0.0))), residual)


def first_stage_prediction(data: Partialled) -> FloatArray:
    """``z pi_d``: the treatment's part the (residualised) instruments predict, as in ``stages``."""
    z = data.z
    return z @ linalg.cho_solve(linalg.cho_factor(z.T @ z), z.T @ data.d)


def ols(
    data: Partialled, kind: IVStandardErrors, clusters: IntArray | None, n_clusters: int | None
) -> tuple[float, float]:
    """The naive regression of the outcome on the treatment and the covariates: coefficient and standard error."""
    beta = float(data.d @ data.y) / float(data.d @ data.d)
    residual = data.y - beta * data.d
    variance = _variance_of_slope(data.d, residual, kind, data.k_exog + 1, clusters, n_clusters)
    return beta, float(np.sqrt(max(variance, 0.0)))


def sargan(data: Partialled, residual: FloatArray) -> float:
    """Sargan's statistic: n times the R-squared of the 2SLS residual on all instruments (chi-square, k_z - 1)."""
    z = data.z
    fitted = z @ linalg.lstsq(z, residual)[0]
    return len(residual) * float(fitted @ fitted) / float(residual @ residual)


def hansen_j(data: Partialled, residual: FloatArray, clusters: IntArray | None, n_clusters: int | None) -> float:
    """Hansen's J: the two-step efficient GMM objective, its weight from the 2SLS residuals (robust or
    clustered, no small-sample factor), at the GMM estimate (chi-square, k_z - 1)."""
    z, n = data.z, len(residual)
    weight = linalg.pinvh(meat(z * residual[:, None], clusters, n_clusters) / n)
    zd, zy = z.T @ data.d, z.T @ data.y
    beta = float(zd @ weight @ zy) / float(zd @ weight @ zd)
    moments = z.T @ (data.y - beta * data.d) / n
    return n * float(moments @ weight @ moments)
