"""Bandwidths for local polynomial RD, as rdrobust selects them: MSE-optimal (``mserd``, ``msetwo``) for the point
estimate, coverage-error-optimal (``cerrd``, ``certwo``) for the robust interval.

The selector works on the standardized running variable and outcome (rdrobust's ``stdvars``). Each side gives,
for a polynomial of order o estimating derivative nu with a bias term from order o_B, a variance constant V, a
bias constant B and a regularization term R (Calonico, Cattaneo & Titiunik 2014, section 4; Calonico, Cattaneo,
Farrell & Titiunik 2019). Three steps: a pilot d for the order-(q+1) derivative, then b (the bias bandwidth),
then h. Variance pieces use the nearest-neighbour residuals (or cluster-robust ones) of a fit at the rule-of-thumb
pilot bandwidth c_bw, which is enlarged to hold at least 10 distinct values when the running variable has mass
points (rdrobust's ``masspoints='adjust'``).

The CER-optimal h is the MSE-optimal h times n^(-p / ((p + 3)(2p + 3))) (Calonico, Cattaneo & Farrell 2020,
"Optimal bandwidth choice for robust bias-corrected inference in regression discontinuity designs", Econometrics
Journal 23(2); rdrobust's rdbwselect: n is the number of rows, or of clusters counted per side when clustered), and
b is left at its MSE-optimal value. The MSE-optimal h makes the point estimate's error smallest but shrinks too
slowly for the robust interval's coverage error, which the smaller CER-optimal h makes smallest. ``cer_bandwidths``
can also scale b with h, keeping rho = h / b fixed as the CER expansion assumes (the tool's default inference).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from tools.literals import Kernel
from tools.rdd.local import Fit, FloatArray, Side, fit, meat, window

if TYPE_CHECKING:
    from tools.rdd.models import RdSelector as Selector  # a Literal: the models module is not imported at run time

__all__ = ["Bandwidths", "cer_bandwidths", "cer_factor", "select_bandwidths"]

_MSE_SELECTOR: dict[str, Literal["mserd", "msetwo"]] = {
    "mserd": "mserd",
    "msetwo": "msetwo",
    "cerrd": "mserd",
    "certwo": "msetwo",
}

_KERNEL_CONSTANT = {"triangular": 2.576, "uniform": 1.843, "epanechnikov": 2.34}
_EPS = math.sqrt(np.finfo(np.float64).eps)
MASS_POINT_SHARE = 0.2
BWCHECK = 10


@dataclass(frozen=True)
class Bandwidths:
    h_left: float
    h_right: float
    b_left: float
    b_right: float
    mass_points: bool  # the pilot was enlarged for mass points


class BandwidthError(ValueError):
    """The selector is not identified (too few distinct values, or a degenerate pilot).

    ``reason`` is "variance" when the outcome has no variation to select a bandwidth from (constant, or fitted
    exactly near the cutoff), else where the selector stopped ("pilot", "bias", "degenerate", "first_stage").
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _mse_bandwidth(variance: float, bias2: float, rate: float, cap: float) -> float:
    """(V / B^2)^rate capped at ``cap``, with rdrobust's arithmetic at the edges: no bias (B = 0) makes the optimum
    infinite, so the cap applies, as R's ``min(Inf, bw_max)`` gives; no variance (V = 0: the outcome is constant or
    fitted exactly near the cutoff) leaves nothing to trade bias against, so no bandwidth is selected."""
    if not (math.isfinite(variance) and math.isfinite(bias2)) or variance <= 0 or bias2 < 0:
        raise BandwidthError("variance")
    if bias2 == 0:
        return cap
    return min(float((variance / bias2) ** rate), cap)


class _SidePieces:
    """rdrobust_bw's computations on one standardized side, with the pilot-fit pieces cached."""

    def __init__(self, side: Side, c: float, kernel: Kernel, pilot: float, fuzzy: bool) -> None:
        self.side = side
        self.c = c
        self.kernel = kernel
        self.pilot = pilot
        self.fuzzy = fuzzy
        self._v: dict[tuple[int, int], tuple[float, float, FloatArray]] = {}

    def _residuals(self, sl: slice, f: Fit) -> FloatArray:
        side = self.side
        if side.cluster is None:
            return side.residuals(sl)
        return f.residuals(side.y[sl])

    def variance_fit(self, o: int, nu: int) -> tuple[float, float, FloatArray]:
        """(V, BConst, s) of the order-o fit at the pilot bandwidth for derivative nu."""
        key = (o, nu)
        if key in self._v:
            return self._v[key]
        side, h = self.side, self.pilot
        sl, u, w = window(side, self.c, h, self.kernel)
        if side.distinct(sl) < o + 1:
            raise BandwidthError("pilot")
        f = fit(u, w, side.y[sl], o)
        s = np.ones(1)
        if self.fuzzy:
            tau_y, tau_t = f.beta[nu, 0], f.beta[nu, 1]  # the scaling by h^nu and nu! cancels in s's use
            if tau_t == 0:
                raise BandwidthError("first_stage")  # take-up is flat in the pilot window: s is undefined
            scale = math.factorial(nu) / h**nu
            tau_y, tau_t = tau_y * scale, tau_t * scale
            s = np.array([1 / tau_t, -tau_y / tau_t**2])
        res = self._residuals(sl, f)
        ell = f.row_weights(nu)
        scores = (ell * np.einsum("ij,j->i", res, s))[:, None]
        cl = side.cluster[sl] if side.cluster is not None else None
        v_scaled = float(meat(scores, cl, o + 1)[0, 0])
        v_nu = v_scaled / h ** (2 * nu)
        bconst = float((f.inv_gram @ f.moments[o + 1 : 2 * o + 2])[nu])  # R'W u^(o+1) are moments o+1..2o+1
        value = ((2 * nu + 1) * h ** (2 * nu + 1) * v_nu, bconst, s)
        self._v[key] = value
        return value

    def constants(self, o: int, nu: int, o_b: int, h_b: float, scale: float) -> tuple[float, float, float, float]:
        """(V, B, R, rate) as rdrobust_bw returns them."""
        v, bconst, s = self.variance_fit(o, nu)
        if not (math.isfinite(v) and math.isfinite(h_b) and h_b > 0):
            raise BandwidthError("pilot")
        side = self.side
        sl, u, w = window(side, self.c, h_b, self.kernel)
        if side.distinct(sl) < o_b + 1:
            raise BandwidthError("bias")
        f = fit(u, w, side.y[sl], o_b)
        beta_last = f.beta[-1] / h_b**o_b
        reg = 0.0
        if scale > 0:
            res = self._residuals(sl, f)
            ell = f.row_weights(o_b)
            scores = (ell * np.einsum("ij,j->i", res, s))[:, None]
            cl = side.cluster[sl] if side.cluster is not None else None
            v_b = float(meat(scores, cl, o_b + 1)[0, 0]) / h_b ** (2 * o_b)
            reg = 3 * bconst**2 * v_b
        bias = math.sqrt(2 * (o + 1 - nu)) * bconst * float(np.dot(s, beta_last))
        return v, bias, scale * 2 * (o + 1 - nu) * reg, 1 / (2 * o + 3)


def cer_factor(left: Side, right: Side, p: int) -> float:
    """h_CER / h_MSE = n^(-p / ((p + 3)(2p + 3))), with n the rows, or with clusters the clusters of each side
    summed (a cluster on both sides counts twice), exactly as rdrobust's rdbwselect computes it. 1 for p = 0."""
    if left.cluster is not None and right.cluster is not None:
        n = len(np.unique(left.cluster)) + len(np.unique(right.cluster))
    else:
        n = left.n + right.n
    return float(n ** (-(p / ((3 + p) * (3 + 2 * p)))))


def cer_bandwidths(mse: Bandwidths, factor: float, *, keep_rho: bool = False) -> Bandwidths:
    """The CER-optimal bandwidths from the MSE-optimal ones: h scaled by ``factor``; b unchanged as rdrobust's
    cerrd / certwo leave it, or (``keep_rho``) scaled too, keeping rho = h / b, as the CER theory holds it fixed."""
    b_factor = factor if keep_rho else 1.0
    return Bandwidths(
        mse.h_left * factor, mse.h_right * factor, mse.b_left * b_factor, mse.b_right * b_factor, mse.mass_points
    )


def _standardized(side: Side, x_sd: float, y_sd: float) -> Side:
    scale = np.ones(side.y.shape[1])
    scale[0] = 1 / y_sd  # the outcome is standardized, take-up is not
    return side.derived(side.x / x_sd, scale, side.y.shape[1])


def _quantile_type2(x: FloatArray, prob: float) -> float:
    """Hyndman-Fan type 2 quantile of sorted x (R's type=2, as rdrobust uses)."""
    n = len(x)
    h = n * prob
    j = math.floor(h)
    if h == j:
        return float(0.5 * (x[j - 1] + x[j]))
    return float(x[j])


def select_bandwidths(
    left: Side, right: Side, c: float, p: int, kernel: Kernel, selector: Selector, fuzzy: bool
) -> Bandwidths:
    """rdrobust's mserd / msetwo / cerrd / certwo bandwidths (h and b each side) for a sharp or fuzzy RD at c."""
    mse = _mse_bandwidths(left, right, c, p, kernel, _MSE_SELECTOR[selector], fuzzy)
    if selector in ("cerrd", "certwo"):
        return cer_bandwidths(mse, cer_factor(left, right, p))
    return mse


def _mse_bandwidths(
    left: Side, right: Side, c: float, p: int, kernel: Kernel, selector: Literal["mserd", "msetwo"], fuzzy: bool
) -> Bandwidths:
    """rdrobust's mserd / msetwo bandwidths (h and b each side) for a sharp or fuzzy RD at c."""
    q = p + 1
    x_all = np.concatenate([left.x, right.x])  # sorted: left below c, right above
    x_sd = float(np.std(x_all, ddof=1))
    y_all = np.concatenate([left.y[:, 0], right.y[:, 0]])
    y_sd = float(np.std(y_all, ddof=1))
    if not (math.isfinite(y_sd) and y_sd > 0):
        raise BandwidthError("variance")  # a constant outcome: nothing to standardize or select from
    iqr = _quantile_type2(x_all, 0.75) - _quantile_type2(x_all, 0.25)
    bwp = min(1.0, (iqr / x_sd) / 1.349)
    sl_, sr_ = _standardized(left, x_sd, y_sd), _standardized(right, x_sd, y_sd)
    cs = c / x_sd
    m_l, m_r = left.distinct(), right.distinct()
    c_bw = _KERNEL_CONSTANT[kernel] * bwp * (m_l + m_r) ** (-1 / 5)
    x_min, x_max = float(sl_.x[0]), float(sr_.x[-1])
    bw_max_l, bw_max_r = abs(cs - x_min), abs(cs - x_max)
    bw_max = max(bw_max_l, bw_max_r)
    c_bw = min(c_bw, bw_max)
    mass = (1 - m_l / left.n) >= MASS_POINT_SHARE or (1 - m_r / right.n) >= MASS_POINT_SHARE
    bw_min_l = bw_min_r = 0.0
    if mass:
        uniq_l = sl_.x[sl_.dupsid == 1][::-1]
        uniq_r = sr_.x[sr_.dupsid == 1]
        bw_min_l = abs(uniq_l[min(BWCHECK, m_l) - 1] - cs) * (1 + _EPS)
        bw_min_r = abs(uniq_r[min(BWCHECK, m_r) - 1] - cs) * (1 + _EPS)
        c_bw = max(c_bw, bw_min_l, bw_min_r)
    range_l = abs(cs - float(sl_.x[0])) * (1 + _EPS)
    range_r = abs(cs - float(sr_.x[-1])) * (1 + _EPS)
    pl = _SidePieces(sl_, cs, kernel, c_bw, fuzzy)
    pr = _SidePieces(sr_, cs, kernel, c_bw, fuzzy)
    d_l = pl.constants(q + 1, q + 1, q + 2, range_l, 0.0)
    d_r = pr.constants(q + 1, q + 1, q + 2, range_r, 0.0)
    if selector == "msetwo":
        dl = _mse_bandwidth(d_l[0], d_l[1] ** 2, d_l[3], bw_max_l)
        dr = _mse_bandwidth(d_r[0], d_r[1] ** 2, d_r[3], bw_max_r)
        if mass:
            dl, dr = max(dl, bw_min_l), max(dr, bw_min_r)
        b_l = pl.constants(q, p + 1, q + 1, dl, 1.0)
        b_r = pr.constants(q, p + 1, q + 1, dr, 1.0)
        bl = _mse_bandwidth(b_l[0], b_l[1] ** 2 + b_l[2], b_l[3], bw_max_l)
        br = _mse_bandwidth(b_r[0], b_r[1] ** 2 + b_r[2], b_r[3], bw_max_r)
        h_l = pl.constants(p, 0, q, bl, 1.0)
        h_r = pr.constants(p, 0, q, br, 1.0)
        hl = _mse_bandwidth(h_l[0], h_l[1] ** 2 + h_l[2], h_l[3], bw_max_l)
        hr = _mse_bandwidth(h_r[0], h_r[1] ** 2 + h_r[2], h_r[3], bw_max_r)
    else:
        d = _mse_bandwidth(d_l[0] + d_r[0], (d_r[1] - d_l[1]) ** 2, d_l[3], bw_max)
        if mass:
            d = max(d, bw_min_l, bw_min_r)
        b_l = pl.constants(q, p + 1, q + 1, d, 1.0)
        b_r = pr.constants(q, p + 1, q + 1, d, 1.0)
        bl = br = _mse_bandwidth(b_l[0] + b_r[0], (b_r[1] - b_l[1]) ** 2 + b_r[2] + b_l[2], b_l[3], bw_max)
        h_l = pl.constants(p, 0, q, bl, 1.0)
        h_r = pr.constants(p, 0, q, br, 1.0)
        hl = hr = _mse_bandwidth(h_l[0] + h_r[0], (h_r[1] - h_l[1]) ** 2 + h_r[2] + h_l[2], h_l[3], bw_max)
    values = (x_sd * hl, x_sd * hr, x_sd * bl, x_sd * br)
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise BandwidthError("degenerate")
    return Bandwidths(*values, mass_points=mass)
