"""Rambachan & Roth (2023) relative-magnitudes sensitivity for an event study (pure functions).

Delta^RM(Mbar): the change in the parallel-trends violation between consecutive post-treatment periods is at most
Mbar times the largest such change between consecutive pre-treatment periods. The confidence set for the first
post-period effect is the union, over the pre-period difference s that attains the maximum and its sign, of the
conditional-least-favourable hybrid tests of Andrews, Roth & Pakes (ARP) on the moment inequalities
A (beta - theta e_post) <= 0, using only the moments that involve the post period (the "C-LF" method, with
kappa = alpha / 10 and a 1,000-draw least-favourable critical value, as in the HonestDiD packages).

Scope: one post period, the first (HonestDiD's default ``l_vec``); later post periods are dropped before the
analysis, which keeps the test free of nuisance parameters.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats

__all__ = ["RelativeMagnitudes", "breakdown_mbar", "rm_constraints", "rm_interval"]

LF_DRAWS = 1_000


def rm_constraints(n_pre: int, mbar: float, s: int, positive: bool) -> NDArray[np.float64]:
    """A with A delta <= 0 for Delta^RM_{s,sign}(Mbar), one post period, post-period rows only.

    Columns are the event-study coefficients without the reference period: n_pre pre periods, then the post one.
    """
    total = n_pre + 1  # differences, reference period included
    diffs = np.zeros((total, total + 1))
    for r in range(total):
        diffs[r, r], diffs[r, r + 1] = -1.0, 1.0
    anchor = np.zeros(total + 1)
    anchor[n_pre + s - 1], anchor[n_pre + s] = -1.0, 1.0
    if not positive:
        anchor = -anchor
    bound = np.vstack([np.tile(anchor, (n_pre, 1)), mbar * anchor[None, :]])
    a = np.vstack([diffs - bound, -diffs - bound])
    a = a[np.sum(a**2, axis=1) > 1e-10]
    a = np.delete(a, n_pre, axis=1)
    post_rows: NDArray[np.float64] = a[a[:, -1] != 0]
    return post_rows


def _truncated_normal_quantile(p: float, lower: float, upper: float, mu: float, sd: float) -> float:
    if sd <= 0:
        return mu
    lo, hi = (lower - mu) / sd, (upper - mu) / sd
    if lo >= hi:
        return mu + lo * sd
    if math.isinf(lo) and math.isinf(hi):
        return float(stats.norm.ppf(p) * sd + mu)
    return float(mu + stats.truncnorm.ppf(p, lo, hi) * sd)


@dataclass(frozen=True)
class _Test:
    """The hybrid test of one (s, sign) restriction, set up once for every theta."""

    a_norm: NDArray[np.float64]  # rows scaled to unit standard deviation
    sigma: NDArray[np.float64]
    lf_cv: float
    alpha_tilde: float

    def accepts(self, y: NDArray[np.float64]) -> bool:
        moments = self.a_norm @ y
        k = int(np.argmax(moments))
        top = float(moments[k])
        if top > self.lf_cv:
            return False
        gamma = self.a_norm[k]
        variance = float(gamma @ self.sigma @ gamma)
        c = self.sigma @ gamma / variance
        z = y - c * float(gamma @ y)
        a_bar = self.a_norm - self.a_norm[k][None, :]
        ac = a_bar @ c
        objective = np.divide(-(a_bar @ z), ac, out=np.zeros_like(ac), where=ac != 0)
        v_lo = float(objective[ac < 0].max()) if np.any(ac < 0) else -math.inf
        v_up = float(objective[ac > 0].min()) if np.any(ac > 0) else math.inf
        critical = max(0.0, _truncated_normal_quantile(1 - self.alpha_tilde, v_lo, v_up, 0.0, math.sqrt(variance)))
        return not top > critical


def _tests(sigma: NDArray[np.float64], n_pre: int, mbar: float, alpha: float, seed: int) -> list[_Test]:
    kappa = alpha / 10
    tests = []
    for s in range(-(n_pre - 1), 1):
        for positive in (True, False):
            a = rm_constraints(n_pre, mbar, s, positive)
            cov = a @ sigma @ a.T
            sd = np.sqrt(np.diag(cov))
            draws = np.random.RandomState(seed).multivariate_normal(np.zeros(len(a)), cov, size=LF_DRAWS)
            lf_cv = float(np.quantile((draws / sd[None, :]).max(axis=1), 1 - kappa))
            tests.append(_Test(a / sd[:, None], sigma, lf_cv, (alpha - kappa) / (1 - kappa)))
    return tests


@dataclass(frozen=True)
class RelativeMagnitudes:
    mbar: float
    ci_lower: float
    ci_upper: float
    open_ended: bool  # the accepted set reaches the edge of the grid


def _prepare(
    betahat: NDArray[np.float64], sigma: NDArray[np.float64], n_pre: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Keep the pre periods and the first post period."""
    if n_pre < 1:
        raise ValueError("relative magnitudes need at least one pre-period coefficient")
    keep = n_pre + 1
    beta = np.asarray(betahat, dtype=float)[:keep]
    cov = np.asarray(sigma, dtype=float)[:keep, :keep]
    return beta, cov


def rm_interval(
    betahat: NDArray[np.float64],
    sigma: NDArray[np.float64],
    n_pre: int,
    mbar: float,
    alpha: float = 0.05,
    grid: NDArray[np.float64] | None = None,
    seed: int = 0,
) -> RelativeMagnitudes:
    """The robust confidence interval for the first post-period effect under Delta^RM(Mbar).

    ``betahat`` and ``sigma`` hold the pre-period coefficients (reference period excluded, earliest first) and
    then the post-period ones. With ``grid``, the interval runs from the first to the last accepted grid point
    (as HonestDiD reports it); by default a 201-point grid at the estimate +- 20 standard errors locates the
    ends, which bisection then refines to 1e-6 standard errors.
    """
    beta, cov = _prepare(betahat, sigma, n_pre)
    tests = _tests(cov, n_pre, mbar, alpha, seed)
    post = np.zeros(len(beta))
    post[-1] = 1.0

    def accepted(theta: float) -> bool:
        return any(t.accepts(beta - theta * post) for t in tests)

    sd = math.sqrt(cov[-1, -1])
    points = grid if grid is not None else np.linspace(beta[-1] - 20 * sd, beta[-1] + 20 * sd, 201)
    mask = np.array([accepted(float(theta)) for theta in points])
    if not mask.any():
        return RelativeMagnitudes(mbar, math.nan, math.nan, open_ended=False)
    first, last = int(np.argmax(mask)), len(mask) - 1 - int(np.argmax(mask[::-1]))
    lower, upper = float(points[first]), float(points[last])
    if grid is None:
        if first > 0:
            lower = _edge(accepted, float(points[first - 1]), lower, 1e-6 * sd)
        if last < len(points) - 1:
            upper = _edge(accepted, float(points[last + 1]), upper, 1e-6 * sd)
    return RelativeMagnitudes(mbar, lower, upper, open_ended=bool(mask[0] or mask[-1]))


def _edge(accepted: Callable[[float], bool], outside: float, inside: float, tolerance: float) -> float:
    """Bisection between a rejected and an accepted value; returns the accepted end."""
    while abs(inside - outside) > tolerance:
        middle = (inside + outside) / 2
        if accepted(middle):
            inside = middle
        else:
            outside = middle
    return inside


def accepts_zero(
    betahat: NDArray[np.float64], sigma: NDArray[np.float64], n_pre: int, mbar: float, alpha: float
) -> bool:
    """Whether 0 is inside the robust confidence set at Mbar."""
    beta, cov = _prepare(betahat, sigma, n_pre)
    post = np.zeros(len(beta))
    post[-1] = 1.0
    return any(t.accepts(beta - 0.0 * post) for t in _tests(cov, n_pre, mbar, alpha, 0))


def breakdown_mbar(
    betahat: NDArray[np.float64],
    sigma: NDArray[np.float64],
    n_pre: int,
    alpha: float = 0.05,
    upper: float = 10.0,
    tolerance: float = 0.01,
) -> float | None:
    """The smallest Mbar at which the robust interval includes 0 (bisection; None if not even at ``upper``)."""
    if accepts_zero(betahat, sigma, n_pre, 0.0, alpha):
        return 0.0
    if not accepts_zero(betahat, sigma, n_pre, upper, alpha):
        return None
    low, high = 0.0, upper
    while high - low > tolerance:
        middle = (low + high) / 2
        if accepts_zero(betahat, sigma, n_pre, middle, alpha):
            high = middle
        else:
            low = middle
    return high
