"""Local polynomial regression at a cutoff, as rdrobust defines it (numpy only, no pandas, no JIT).

One side of the cutoff is a ``Side``: its rows sorted by the running variable once, so that every kernel window
is a slice, the nearest-neighbour variance runs on that slice, and tied running-variable values (mass points) are
runs of equal values. Designs are built in the scaled variable ``(x - c) / h`` (better conditioned than raw
powers of x); intercepts and their variances do not depend on the scaling, and the bandwidth selector converts
the higher-order coefficients back.

References: Calonico, Cattaneo & Titiunik (2014), "Robust nonparametric confidence intervals for regression-
discontinuity designs", Econometrica 82(6); Calonico, Cattaneo, Farrell & Titiunik (2017), "rdrobust: Software for
regression-discontinuity designs", Stata Journal 17(2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "Fit",
    "NNCache",
    "NotIdentified",
    "Side",
    "SideEstimate",
    "kernel_weights",
    "nn_ranges",
    "side_estimate",
    "window",
]

Kernel = Literal["triangular", "uniform", "epanechnikov"]
FloatArray = NDArray[np.float64]
NN_MATCHES = 3
_NN_TOL = math.sqrt(np.finfo(np.float64).eps)


class NNCache:
    """Nearest-neighbour ranges and residuals of one side, computed on the widest window asked so far.

    A row's neighbours within a narrower window are the same as within the wider one unless its neighbour range
    reaches past the narrower window's edge; only those few rows are recomputed.
    """

    def __init__(self, x: FloatArray, y: FloatArray, dups: NDArray[np.intp], dupsid: NDArray[np.intp]) -> None:
        self.x, self.y, self.dups, self.dupsid = x, y, dups, dupsid
        self.centre = y.mean(axis=0) if len(y) else np.zeros(y.shape[1])
        self.start = self.stop = 0
        self.lo = self.hi = np.zeros(0, dtype=np.intp)
        self.sums = np.zeros((1, y.shape[1]))

    def residuals(self, sl: slice) -> FloatArray:
        a, e = int(sl.start), int(sl.stop)
        if not (self.start <= a and e <= self.stop and self.stop > self.start):
            self.start, self.stop = a, e
            self.lo, self.hi = nn_ranges(self.x, self.dups, self.dupsid, np.arange(a, e), a, e)
            centred = self.y[a:e] - self.centre
            self.sums = np.vstack([np.zeros((1, self.y.shape[1])), np.cumsum(centred, axis=0)])
            lo, hi = self.lo, self.hi
        else:
            lo = self.lo[a - self.start : e - self.start].copy()
            hi = self.hi[a - self.start : e - self.start].copy()
            outside = np.flatnonzero((lo < a) | (hi > e))
            if len(outside):
                lo[outside], hi[outside] = nn_ranges(self.x, self.dups, self.dupsid, outside + a, a, e)
        centred = self.y[a:e] - self.centre
        j = (hi - lo - 1).astype(np.float64)
        sums = self.sums[hi - self.start] - self.sums[lo - self.start]
        neighbours = (sums - centred) / j[:, None]
        return np.asarray(np.sqrt(j / (j + 1))[:, None] * (centred - neighbours), dtype=np.float64)


@dataclass
class Side:
    """The rows on one side of the cutoff, sorted by the running variable (ascending).

    ``dups`` counts the rows sharing each row's x value and ``dupsid`` is the row's 1-based position in that tie
    run. ``y_scale`` multiplies the nearest-neighbour residuals of the shared cache (a standardized copy of a
    side reuses the raw side's cache).
    """

    x: FloatArray
    y: FloatArray  # (n, k): the outcome, then take-up for a fuzzy design
    cluster: NDArray[np.intp] | None
    below: bool = False  # True for the side below the cutoff (windows are suffixes)
    dups: NDArray[np.intp] = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    dupsid: NDArray[np.intp] = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    nn: NNCache | None = None
    y_scale: FloatArray | None = None

    def __post_init__(self) -> None:
        n = len(self.x)
        if len(self.dups) != n:
            if n == 0:
                self.dups = self.dupsid = np.zeros(0, dtype=np.intp)
            else:
                starts = np.flatnonzero(np.concatenate(([True], self.x[1:] != self.x[:-1])))
                lengths = np.diff(np.append(starts, n))
                run = np.repeat(np.arange(len(starts)), lengths)
                self.dups = lengths[run]
                self.dupsid = np.arange(n) - starts[run] + 1
        if self.nn is None:
            self.nn = NNCache(self.x, self.y, self.dups, self.dupsid)

    @property
    def n(self) -> int:
        return len(self.x)

    def distinct(self, sl: slice | None = None) -> int:
        """Distinct x values (in a window slice: windows hold whole tie runs)."""
        ids = self.dupsid if sl is None else self.dupsid[sl]
        return int(np.count_nonzero(ids == 1))

    def residuals(self, sl: slice) -> FloatArray:
        """Nearest-neighbour residuals of the rows in the window slice (rdrobust's vce='nn', 3 matches)."""
        assert self.nn is not None
        res = self.nn.residuals(sl)[:, : self.y.shape[1]]
        return res if self.y_scale is None else res * self.y_scale[: self.y.shape[1]]

    def derived(self, x: FloatArray, y_scale: FloatArray | None, columns: int) -> Side:
        """A copy with rescaled x (and outcome), or fewer outcome columns, sharing ties and the NN cache."""
        y = self.y[:, :columns]
        if y_scale is not None:
            y = y * y_scale[:columns]
        return Side(
            x=x,
            y=y,
            cluster=self.cluster,
            below=self.below,
            dups=self.dups,
            dupsid=self.dupsid,
            nn=self.nn,
            y_scale=y_scale,
        )


def kernel_weights(u: FloatArray, h: float, kernel: Kernel) -> FloatArray:
    """rdrobust's kernel weights at ``u = (x - c) / h`` (divided by h, as rdrobust does)."""
    a = np.abs(u)
    if kernel == "epanechnikov":
        return np.asarray(0.75 * (1 - u**2) * (a <= 1) / h, dtype=np.float64)
    if kernel == "uniform":
        return np.asarray(0.5 * (a <= 1) / h, dtype=np.float64)
    return np.asarray((1 - a) * (a <= 1) / h, dtype=np.float64)


def window(side: Side, c: float, h: float, kernel: Kernel) -> tuple[slice, FloatArray, FloatArray]:
    """The rows with positive kernel weight at bandwidth h: their slice, ``u = (x - c) / h`` and weights."""
    x = side.x
    if side.below:
        start = int(np.searchsorted(x, c - h * (1 + 1e-9), side="left"))
        sl = slice(start, side.n)
    else:
        stop = int(np.searchsorted(x, c + h * (1 + 1e-9), side="right"))
        sl = slice(0, stop)
    u = (x[sl] - c) / h
    w = kernel_weights(u, h, kernel)
    positive = np.flatnonzero(w > 0)
    if len(positive) == 0:
        return slice(sl.start, sl.start), u[:0], w[:0]
    lo, hi = int(positive[0]), int(positive[-1]) + 1  # a contiguous run: w is monotone in |u|
    return slice(sl.start + lo, sl.start + hi), u[lo:hi], w[lo:hi]


def nn_ranges(
    x: FloatArray,
    dups: NDArray[np.intp],
    dupsid: NDArray[np.intp],
    positions: NDArray[np.intp],
    start: int,
    stop: int,
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """For rows at ``positions`` (absolute, x sorted), the range [lo, hi) of themselves and their nearest
    neighbours within rows [start, stop): at least 3 neighbours, whole tie runs at a time, both directions when
    equally close (within a relative tolerance), as rdrobust's nearest-neighbour variance chooses them."""
    pos = np.asarray(positions, dtype=np.intp)
    rpos = dups[pos] - dupsid[pos]
    lpos = dupsid[pos] - 1
    cap = min(NN_MATCHES, stop - start - 1)
    active = np.flatnonzero(lpos + rpos < cap)
    last = len(x) - 1
    while len(active):
        p, lp, rp = pos[active], lpos[active], rpos[active]
        left_out = p - lp - 1 < start
        right_out = p + rp + 1 >= stop
        li = np.clip(p - lp - 1, 0, last)
        ri = np.clip(p + rp + 1, 0, last)
        xp = x[p]
        dleft = xp - x[li]
        dright = x[ri] - xp
        tol = np.maximum(dleft, dright) * _NN_TOL
        inside = ~left_out & ~right_out
        closer_right = inside & (dleft - dright > tol)
        closer_left = inside & ~closer_right & (dright - dleft > tol)
        tie = inside & ~closer_right & ~closer_left
        go_right = left_out | closer_right | tie
        go_left = (~left_out & right_out) | closer_left | tie
        rpos[active] = rp + np.where(go_right, dups[ri], 0)
        lpos[active] = lp + np.where(go_left, dups[li], 0)
        active = active[lpos[active] + rpos[active] < cap]
    return pos - lpos, pos + rpos + 1


def vander(u: FloatArray, order: int) -> FloatArray:
    """Columns 1, u, ..., u^order."""
    out = np.empty((len(u), order + 1))
    out[:, 0] = 1.0
    for j in range(1, order + 1):
        np.multiply(out[:, j - 1], u, out=out[:, j])
    return out


def inverse(gram: FloatArray) -> FloatArray:
    """Inverse of a symmetric positive-definite matrix (pseudo-inverse when singular)."""
    try:
        lower = np.linalg.cholesky(gram)
    except np.linalg.LinAlgError:
        return np.asarray(np.linalg.pinv(gram), dtype=np.float64)
    inv_lower = np.linalg.inv(lower)
    return np.asarray(inv_lower.T @ inv_lower, dtype=np.float64)


def meat(scores: FloatArray, cluster: NDArray[np.intp] | None, k_df: int) -> FloatArray:
    """Sum of outer products of the rows of ``scores`` (n, k); per cluster with the CR1 factor when clustered."""
    if cluster is None:
        if scores.shape[1] == 1:
            column = scores[:, 0]
            return np.array([[float(np.dot(column, column))]])
        return np.asarray(scores.T @ scores, dtype=np.float64)
    codes, dense = np.unique(cluster, return_inverse=True)
    g = len(codes)
    n = len(cluster)
    sums = np.column_stack([np.bincount(dense, weights=scores[:, j], minlength=g) for j in range(scores.shape[1])])
    factor = ((n - 1) / (n - k_df)) * (g / (g - 1)) if g > 1 else math.nan
    return np.asarray(factor * (sums.T @ sums), dtype=np.float64)


@dataclass
class Fit:
    """A kernel-weighted polynomial fit in the scaled variable u = (x - c) / scale."""

    beta: FloatArray  # (order + 1, k) coefficients in u
    inv_gram: FloatArray  # (R'WR)^-1
    design: FloatArray  # R (n, order + 1)
    weights: FloatArray  # kernel weights (n,)


def fit(u: FloatArray, w: FloatArray, y: FloatArray, order: int) -> Fit:
    design = vander(u, order)
    weighted = design * w[:, None]
    inv_gram = inverse(weighted.T @ design)
    beta = inv_gram @ (weighted.T @ y)
    return Fit(beta=np.asarray(beta), inv_gram=inv_gram, design=design, weights=w)


class NotIdentified(ValueError):
    """Too few distinct running-variable values with positive weight to fit the polynomials."""


@dataclass
class SideEstimate:
    """One side's conventional and bias-corrected intercepts with the pieces of their variances."""

    conventional: FloatArray  # (k,) intercepts of the order-p fit at h, per outcome column
    bias_corrected: FloatArray  # (k,)
    n_h: int  # rows with positive weight at h
    n_b: int  # rows with positive weight at b
    poly: FloatArray  # (p + 1, k) order-p coefficients in u = (x - c) / h
    cl_scores: FloatArray  # (n, k) linear weights times residuals for each column (conventional)
    rb_scores: FloatArray  # (n, k) the same for the bias-corrected estimator
    cluster: NDArray[np.intp] | None
    p: int
    q: int


def side_estimate(side: Side, c: float, h: float, b: float, p: int, kernel: Kernel) -> SideEstimate:
    """The order-p fit at h and its bias correction from the order-(p+1) fit at b, on one side."""
    q = p + 1
    wide = h if h > b else b
    sl, _, _ = window(side, c, wide, kernel)
    x = side.x[sl]
    y = side.y[sl]
    u_h = (x - c) / h
    u_b = (x - c) / b
    w_h = kernel_weights(u_h, h, kernel)
    w_b = kernel_weights(u_b, b, kernel)
    ids = side.dupsid[sl]
    if np.count_nonzero(ids[w_h > 0] == 1) < p + 1 or np.count_nonzero(ids[w_b > 0] == 1) < q + 1:
        raise NotIdentified(f"fewer than {q + 1} distinct values within the bandwidth")
    fit_p = fit(u_h, w_h, y, p)
    fit_q = fit(u_b, w_b, y, q)
    # bias-corrected linear weights: Q = R_p W_h - (h/b)^(p+1) * (R_q invG_q[p+1]) W_b * L'
    rw_p = fit_p.design * w_h[:, None]
    lvec = rw_p.T @ (u_h ** (p + 1))
    m = (fit_q.design @ fit_q.inv_gram[p + 1, :]) * w_b
    q_weights = rw_p - (h / b) ** (p + 1) * np.outer(m, lvec)
    beta_bc = fit_p.inv_gram @ (q_weights.T @ y)
    cluster = side.cluster[sl] if side.cluster is not None else None
    if cluster is None:
        res_p = res_q = side.residuals(sl)
    else:
        res_p = y - fit_p.design @ fit_p.beta
        res_q = y - fit_q.design @ fit_q.beta
    ell_p = rw_p @ fit_p.inv_gram[:, 0]  # row i's weight in the intercept (conventional)
    ell_q = q_weights @ fit_p.inv_gram[:, 0]
    return SideEstimate(
        conventional=np.asarray(fit_p.beta[0]),
        bias_corrected=np.asarray(beta_bc[0]),
        n_h=int(np.count_nonzero(w_h > 0)),
        n_b=int(np.count_nonzero(w_b > 0)),
        poly=np.asarray(fit_p.beta),
        cl_scores=ell_p[:, None] * res_p,
        rb_scores=ell_q[:, None] * res_q,
        cluster=cluster,
        p=p,
        q=q,
    )


def intercept_variance(scores: FloatArray, s: FloatArray, cluster: NDArray[np.intp] | None, k_df: int) -> float:
    """Variance of the combination s of the intercepts whose per-row scores are given."""
    combined = scores @ s
    return float(meat(combined[:, None], cluster, k_df)[0, 0])
