"""Unpenalised logistic regression by Newton's method (IRLS) with a Cholesky solve: the propensity model.

The columns are centred and scaled before fitting (the answer is the same maximum-likelihood fit; the scaling
only keeps ``X'WX`` well conditioned) and the coefficients are mapped back to the original units. Large
samples start from a fit on a subsample, so that only two or three Newton steps touch every row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import linalg, special

__all__ = ["LogitFit", "fit_logit"]

FloatArray = NDArray[np.float64]

MAX_ITERATIONS = 60
STEP_TOLERANCE = 1e-9
#: Above this many rows, once the steps are small, later steps reuse the last X'WX (a chord step: linear but
#: fast convergence near the optimum, and the costliest product is skipped); the final X'WX is recomputed.
REUSE_HESSIAN_ROWS = 20_000
REUSE_BELOW_STEP = 0.02
#: X'WX is accumulated over blocks of rows whose weighted copy stays in cache.
BLOCK_ROWS = 1 << 14
#: Separation: this many consecutive steps longer than STALL_STEP that raise the log-likelihood by less than
#: STALL_GAIN mean the likelihood has no maximum (the fit drifts off to infinity).
STALL_ITERATIONS = 4
STALL_STEP = 0.5
STALL_GAIN = 1e-6
WARM_START_ROWS = 25_000
#: Steps larger than this (in log-odds per standard deviation) are checked against the likelihood and halved
#: until it rises; smaller steps are near the optimum, where Newton's method is safe.
SAFE_STEP = 0.1
MAX_HALVINGS = 30


@dataclass(frozen=True)
class LogitFit:
    """A fitted logistic model; ``coefficients`` in the original units, intercept first."""

    coefficients: FloatArray
    linear_predictor: FloatArray  # X @ coefficients, every row
    converged: bool
    iterations: int
    log_likelihood: float
    separated: bool  # the maximum does not exist (complete or quasi-complete separation)
    transform: FloatArray  # original coefficients = transform @ scaled coefficients
    scaled_hessian: FloatArray | None  # X'WX of the centred/scaled design at the optimum (with intercept)

    def covariance(self) -> FloatArray:
        """Inverse Fisher information in the original units (intercept first)."""
        assert self.scaled_hessian is not None
        inverse = linalg.cho_solve(linalg.cho_factor(self.scaled_hessian), np.eye(len(self.scaled_hessian)))
        return np.asarray(self.transform @ inverse @ self.transform.T, dtype=np.float64)


def _log_likelihood(eta: FloatArray, d: FloatArray) -> float:
    softplus = np.maximum(eta, 0.0) + np.log1p(np.exp(-np.abs(eta)))  # log(1 + exp(eta)), stably
    return float(d @ eta - softplus.sum())


def _raw_hessian(x: FloatArray, w: FloatArray) -> FloatArray:
    """[1, x]' diag(w) [1, x] without building the column of ones."""
    k = x.shape[1]
    hessian = np.empty((k + 1, k + 1))
    weighted_sum = w @ x
    hessian[0, 0] = w.sum()
    hessian[0, 1:] = weighted_sum
    hessian[1:, 0] = weighted_sum
    block = np.zeros((k, k))
    for first in range(0, len(x), BLOCK_ROWS):
        rows = x[first : first + BLOCK_ROWS]
        block += (rows * w[first : first + BLOCK_ROWS, None]).T @ rows
    hessian[1:, 1:] = block
    return hessian


def _newton(
    x: FloatArray, d: FloatArray, transform: FloatArray, start: FloatArray, max_iterations: int
) -> tuple[FloatArray, FloatArray, int, bool, bool, FloatArray | None]:
    """Newton iterations in scaled coordinates ``beta_scaled`` (original ones: ``transform @ beta_scaled``).

    Products run on the original columns; gradient and X'WX are mapped to the scaled coordinates, whose
    X'WX is well conditioned.
    """
    beta = start.copy()
    raw = transform @ beta
    eta = x @ raw[1:] + raw[0]
    last_step = np.inf
    factor: tuple[FloatArray, bool] | None = None
    reuse = len(x) > REUSE_HESSIAN_ROWS
    stalled = 0
    for iteration in range(1, max_iterations + 1):
        p = special.expit(eta)
        residual = d - p
        gradient = transform.T @ np.concatenate(([residual.sum()], residual @ x))
        if factor is None or not (reuse and last_step < REUSE_BELOW_STEP):
            try:
                factor = linalg.cho_factor(transform.T @ _raw_hessian(x, p * (1.0 - p)) @ transform, check_finite=False)
            except linalg.LinAlgError:
                return beta, eta, iteration, False, True, None
        step = linalg.cho_solve(factor, gradient, check_finite=False)
        last_step = float(np.max(np.abs(step)))
        candidate = beta + step
        raw = transform @ candidate
        new_eta = x @ raw[1:] + raw[0]
        if last_step > SAFE_STEP:
            # far from the optimum a full Newton step can overshoot: halve it until the likelihood rises
            current = _log_likelihood(eta, d)
            for _ in range(MAX_HALVINGS):
                new = _log_likelihood(new_eta, d)
                if new >= current:
                    break
                step = step / 2.0
                candidate = beta + step
                raw = transform @ candidate
                new_eta = x @ raw[1:] + raw[0]
            # separation: the coefficients keep moving while the likelihood no longer changes
            stalled = stalled + 1 if new - current < STALL_GAIN and last_step > STALL_STEP else 0
            if stalled >= STALL_ITERATIONS:
                return candidate, new_eta, iteration, False, True, None
        beta, eta = candidate, new_eta
        if not np.all(np.isfinite(beta)):
            return beta, eta, iteration, False, True, None
        if last_step < STEP_TOLERANCE:
            p = special.expit(eta)
            return beta, eta, iteration, True, False, transform.T @ _raw_hessian(x, p * (1.0 - p)) @ transform
    return beta, eta, max_iterations, False, True, None


def _transform(center: FloatArray, scale: FloatArray) -> FloatArray:
    """Maps scaled coefficients to original ones: beta = T @ beta_scaled (intercept first)."""
    k = len(scale)
    transform = np.zeros((k + 1, k + 1))
    transform[0, 0] = 1.0
    transform[0, 1:] = -center / scale
    transform[1:, 1:] = np.diag(1.0 / scale)
    return transform


def fit_logit(x: FloatArray, d: FloatArray) -> LogitFit:
    """Maximum-likelihood logistic regression of ``d`` (0/1) on ``x`` (n x k, no intercept column)."""
    n, k = x.shape
    stride = n // WARM_START_ROWS if n >= 8 * WARM_START_ROWS else 1
    sample = np.ascontiguousarray(x[::stride])
    # any centring and scaling gives the same maximum; a subsample's moments are cheap and good enough
    center = sample.mean(axis=0) if k else np.zeros(0)
    scale = sample.std(axis=0) if k else np.ones(0)
    scale = np.where(scale > 0, scale, 1.0)
    transform = _transform(center, scale)
    share = float(d.mean())
    start = np.zeros(k + 1)
    start[0] = np.log(share / (1.0 - share)) if 0.0 < share < 1.0 else 0.0
    if stride > 1:
        # an evenly spread subsample gives a start within a step or two of the full optimum
        sub_beta, _, _, sub_ok, _, _ = _newton(sample, d[::stride], transform, start, MAX_ITERATIONS)
        if sub_ok:
            start = sub_beta
    beta, eta, iterations, converged, separated, hessian = _newton(x, d, transform, start, MAX_ITERATIONS)
    p = special.expit(eta)
    with np.errstate(divide="ignore"):
        log_likelihood = float(np.sum(np.log(np.where(d > 0, p, 1.0 - p))))
    return LogitFit(
        coefficients=transform @ beta,
        linear_predictor=eta,
        converged=converged,
        iterations=iterations,
        log_likelihood=log_likelihood,
        separated=separated,
        transform=transform,
        scaled_hessian=hessian,
    )
