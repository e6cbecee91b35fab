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

import numpy as np
from numpy.typing import NDArray

from tools.literals import Kernel

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

    def _compute(self, a: int, e: int) -> None:
        self.start, self.stop = a, e
        self.lo, self.hi = nn_ranges(self.x, self.dups, self.dupsid, np.arange(a, e), a, e)
        self._sums()

    def _extend(self, a: int, e: int) -> None:
        """Widen the cached window to [a, e): new rows, and rows whose neighbours reached the old edges."""
        if not (self.dups[a:e] > 1).any():
            self._compute(a, e)  # without repeated values the vectorized full pass is the faster one
            return
        lo = np.empty(e - a, dtype=np.intp)
        hi = np.empty(e - a, dtype=np.intp)
        old = slice(self.start - a, self.stop - a)
        lo[old], hi[old] = self.lo, self.hi
        redo = np.zeros(e - a, dtype=bool)
        redo[: self.start - a] = True
        redo[self.stop - a :] = True
        if a < self.start:
            redo[old] |= self.lo <= self.start
        if e > self.stop:
            redo[old] |= self.hi >= self.stop
        rows = np.flatnonzero(redo)
        lo[rows], hi[rows] = nn_ranges(self.x, self.dups, self.dupsid, rows + a, a, e)
        self.start, self.stop, self.lo, self.hi = a, e, lo, hi
        self._sums()

    def _sums(self) -> None:
        centred = self.y[self.start : self.stop] - self.centre
        self.sums = np.vstack([np.zeros((1, self.y.shape[1])), np.cumsum(centred, axis=0)])

    def residuals(self, sl: slice) -> FloatArray:
        a, e = int(sl.start), int(sl.stop)
        if self.stop <= self.start or e <= self.start or a >= self.stop:
            self._compute(a, e)
        elif a < self.start or e > self.stop:
            self._extend(min(a, self.start), max(e, self.stop))
        lo = self.lo[a - self.start : e - self.start]
        hi = self.hi[a - self.start : e - self.start]
        outside = np.flatnonzero((lo < a) | (hi > e))
        if len(outside):
            lo, hi = lo.copy(), hi.copy()
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
            elif not (repeated := self.x[1:] == self.x[:-1]).any():
                self.dups = np.ones(n, dtype=np.intp)
                self.dupsid = self.dups
            else:
                starts = np.flatnonzero(np.concatenate(([True], ~repeated)))
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
    if len(pos) == stop - start and len(pos) > 2 * NN_MATCHES and not (dups[start:stop] > 1).any():
        return _nn_ranges_distinct(x[start:stop], start)
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


def _nn_ranges_distinct(x: FloatArray, offset: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """nn_ranges for every row of a window without repeated values: the same choices, from shifted slices."""
    n = len(x)
    gaps_left = np.full((NN_MATCHES + 1, n), np.inf)  # gaps_left[k - 1][i] = x[i] - x[i - k]
    gaps_right = np.full((NN_MATCHES + 1, n), np.inf)  # gaps_right[k - 1][i] = x[i + k] - x[i]
    for k in range(1, NN_MATCHES + 2):
        gaps_left[k - 1, k:] = x[k:] - x[:-k]
        gaps_right[k - 1, :-k] = x[k:] - x[:-k]
    rows = np.arange(n)
    lpos = np.zeros(n, dtype=np.intp)
    rpos = np.zeros(n, dtype=np.intp)
    for _ in range(NN_MATCHES):
        active = lpos + rpos < NN_MATCHES
        dleft = gaps_left[lpos, rows]
        dright = gaps_right[rpos, rows]
        left_out = np.isinf(dleft)
        right_out = np.isinf(dright)
        inside = ~left_out & ~right_out
        with np.errstate(invalid="ignore"):
            tol = np.maximum(dleft, dright) * _NN_TOL
            closer_right = inside & (dleft - dright > tol)
            closer_left = inside & ~closer_right & (dright - dleft > tol)
        tie = inside & ~closer_right & ~closer_left
        rpos += active & (left_out | closer_right | tie)
        lpos += active & ((~left_out & right_out) | closer_left | tie)
    return rows - lpos + offset, rows + rpos + 1 + offset


def horner(coefs: FloatArray, u: FloatArray) -> FloatArray:
    """The polynomial sum_j coefs[j] u^j at every u."""
    out = np.full(len(u), float(coefs[-1]))
    for c in coefs[-2::-1]:
        out *= u
        out += c
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
    """Sum of outer products of the rows of ``scores`` (n, k); per cluster with the CR1 factor when clustered.

    Products over rows use einsum, not BLAS: threaded BLAS on tall, thin data is slower on a busy machine.
    """
    if cluster is None:
        if scores.shape[1] == 1:
            column = scores[:, 0]
            return np.array([[float(np.einsum("i,i->", column, column))]])
        return np.asarray(np.einsum("ij,ik->jk", scores, scores), dtype=np.float64)
    codes, dense = np.unique(cluster, return_inverse=True)
    g = len(codes)
    n = len(cluster)
    sums = np.column_stack([np.bincount(dense, weights=scores[:, j], minlength=g) for j in range(scores.shape[1])])
    # CR1 is undefined with one cluster or no residual degrees of freedom: NaN, which the callers refuse
    factor = ((n - 1) / (n - k_df)) * (g / (g - 1)) if g > 1 and n > k_df else math.nan
    return np.asarray(factor * (sums.T @ sums), dtype=np.float64)


@dataclass
class Fit:
    """A kernel-weighted polynomial fit in the scaled variable u = (x - c) / scale, built from power sums.

    The Gram matrix sum_i w_i u_i^(j+k) and the cross-products sum_i w_i u_i^j y_i come from one pass of powers,
    without forming the n x (order + 1) design: the same numbers as R'WR and R'Wy, at a fraction of the cost.
    """

    beta: FloatArray  # (order + 1, k) coefficients in u
    inv_gram: FloatArray  # (R'WR)^-1
    moments: FloatArray  # sum_i w_i u_i^m for m = 0 .. 2 * order + 1
    xwy: FloatArray  # (order + 1, k): R'Wy
    u: FloatArray
    weights: FloatArray

    def row_weights(self, j: int) -> FloatArray:
        """Each row's weight in coefficient j: w_i * (e_j' (R'WR)^-1 r_i)."""
        return self.weights * horner(self.inv_gram[:, j], self.u)

    def residuals(self, y: FloatArray) -> FloatArray:
        """y minus the fitted polynomial, per column."""
        return np.column_stack([y[:, k] - horner(self.beta[:, k], self.u) for k in range(y.shape[1])])


def fit(u: FloatArray, w: FloatArray, y: FloatArray, order: int) -> Fit:
    power = w.copy()
    moments = np.empty(2 * order + 2)
    xwy = np.empty((order + 1, y.shape[1]))
    for m in range(2 * order + 2):
        if m:
            power *= u
        moments[m] = power.sum()
        if m <= order:
            xwy[m] = np.einsum("i,ik->k", power, y)
    gram = np.array([[moments[i + j] for j in range(order + 1)] for i in range(order + 1)])
    inv_gram = inverse(gram)
    return Fit(beta=inv_gram @ xwy, inv_gram=inv_gram, moments=moments, xwy=xwy, u=u, weights=w)


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
    # bias-corrected linear weights: Q = R_p W_h - (h/b)^(p+1) * m * L' with m = (R_q invG_q[p+1]) W_b and
    # L = R_p' W_h u_h^(p+1) (moments p+1 .. 2p+1 of the order-p fit)
    lvec = fit_p.moments[p + 1 : 2 * p + 2]
    m = fit_q.row_weights(p + 1)
    ratio = (h / b) ** (p + 1)
    beta_bc = fit_p.inv_gram @ (fit_p.xwy - ratio * np.outer(lvec, np.einsum("i,ik->k", m, y)))
    cluster = side.cluster[sl] if side.cluster is not None else None
    if cluster is None:
        res_p = res_q = side.residuals(sl)
    else:
        res_p = fit_p.residuals(y)
        res_q = fit_q.residuals(y)
    ell_p = fit_p.row_weights(0)  # row i's weight in the intercept (conventional)
    ell_q = ell_p - ratio * float(lvec @ fit_p.inv_gram[:, 0]) * m
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
    combined = np.einsum("ij,j->i", scores, s)
    return float(meat(combined[:, None], cluster, k_df)[0, 0])
