"""The manipulation test at the cutoff: Cattaneo, Jansson & Ma's local polynomial density test (numpy only).

Cattaneo, Jansson & Ma (2020), "Simple local polynomial density estimators", JASA 115(531); the defaults of their
rddensity software: a local quadratic (p = 2) fit of the empirical distribution function on each side with a
triangular kernel, the test from the order-3 fit (q = p + 1), jackknife standard errors, the 'comb' bandwidths
(median of the each-side, difference and sum MSE-optimal bandwidths, with at least 23 observations and 23
distinct values on a side) and repeated values (mass points) handled as rddensity does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tools.rdd.estimate import normal_p_value
from tools.rdd.local import FloatArray, inverse

__all__ = ["DensityFit", "cjm_density"]

P = 2
# Rule-of-thumb constants of rddensity's pilot bandwidths for p = 2 (Cattaneo, Jansson & Ma's software).
_CB = 3430865.4551236177795
_CC = 548.57142857155463389
_LOCAL_MIN = 20 + P + 1


@dataclass(frozen=True)
class DensityFit:
    """The density just below and above the cutoff and the test of their equality."""

    density_left: float
    density_right: float
    t_statistic: float
    p_value: float
    h_left: float
    h_right: float
    n_left: int  # observations within the bandwidth
    n_right: int


@dataclass(frozen=True)
class _Fv:
    hat: FloatArray  # l, r, diff, sum
    jackknife: FloatArray  # variances: l, r, diff, sum
    deriv: FloatArray  # the s-th derivative: l, r, diff, sum


def _fv(y: FloatArray, x: FloatArray, n: int, hl: float, hr: float, p: int, s: int, mass: bool) -> _Fv:
    """rddensity's unrestricted fit of the distribution function y on x (x - c, sorted) in the window."""
    nlh = int(np.searchsorted(x, 0.0, side="left"))
    nh = len(x)
    w = np.empty(nh)
    w[:nlh] = (1 + x[:nlh] / hl) / hl
    w[nlh:] = (1 - x[nlh:] / hr) / hr
    xp = np.zeros((nh, 2 * p + 2))
    hp = np.zeros(2 * p + 2)
    for power in range(p + 1):
        xp[:nlh, 2 * power] = (x[:nlh] / hl) ** power
        xp[nlh:, 2 * power + 1] = (x[nlh:] / hr) ** power
        hp[2 * power] = hl**power
        hp[2 * power + 1] = hr**power
    xpw = xp * w[:, None]
    s_inv = inverse(np.einsum("ij,ik->jk", xpw, xp))  # einsum: no threaded BLAS on tall data
    b = (s_inv @ np.einsum("ij,i->j", xpw, y)) / hp
    # jackknife: row i's influence is the sum of the weighted design rows after it, over n - 1
    tail = np.cumsum(xpw[::-1], axis=0)[::-1]  # tail[i] = sum over rows k >= i
    lmat = (np.vstack([tail[1:], np.zeros((1, xp.shape[1]))])) / (n - 1)  # rows k > i
    if mass:
        first = np.flatnonzero(np.r_[True, x[1:] != x[:-1]])
        freq = np.diff(np.r_[first, nh])
        lmat = np.repeat(lmat[first], freq, axis=0)
    v = (s_inv @ np.einsum("ij,ik->jk", lmat, lmat) @ s_inv) / np.outer(hp, hp)
    hat = np.array([b[2], b[3], b[3] - b[2], b[3] + b[2]])
    jk = np.array([v[2, 2], v[3, 3], v[2, 2] + v[3, 3] - 2 * v[2, 3], v[2, 2] + v[3, 3] + 2 * v[2, 3]])
    dl, dr = b[2 * s], b[2 * s + 1]
    return _Fv(hat=hat, jackknife=jk, deriv=np.array([dl, dr, dr - dl, dr + dl]))


def _hermite(z: float, order: int) -> float:
    """Probabilists' Hermite polynomial He_order(z) for order 2 or 4."""
    return z**2 - 1 if order == 2 else z**4 - 6 * z**2 + 3


def _bias_constant(p: int) -> float:
    """(S^-1 C)[1] with S, C the triangular-kernel moments on [0, 1]: integral of (1 - l) l^m is 1/((m+1)(m+2))."""
    moment = [1 / ((m + 1) * (m + 2)) for m in range(2 * p + 3)]
    s = np.array([[moment[i + j] for j in range(p + 1)] for i in range(p + 1)])
    c = np.array([moment[i + p + 1] for i in range(p + 1)])
    return float(np.linalg.solve(s, c)[1])


def _kth(values: FloatArray, k: int) -> float:
    """The k-th smallest (1-based, capped at the length) of sorted values."""
    return float(values[min(k, len(values)) - 1])


def cjm_density(x_sorted: FloatArray, c: float) -> DensityFit:
    """The CJM density test at c on the sorted running variable (rddensity's defaults)."""
    p = P
    n = len(x_sorted)
    x = x_sorted - c
    nl = int(np.searchsorted(x, 0.0, side="left"))
    last = np.r_[x[1:] != x[:-1], True]
    uniq = x[last]
    mass = len(uniq) != n
    rank = np.arange(n) / (n - 1)
    if mass:
        index_last = np.flatnonzero(last)
        freq = np.diff(np.r_[-1, index_last])
        rank = np.repeat(rank[index_last], freq)
    abs_left = -x[:nl][::-1]  # |x| below the cutoff, ascending
    right = x[nl:]
    uniq_left = -uniq[uniq < 0][::-1]
    uniq_right = uniq[uniq >= 0]
    mu = float(np.mean(x))
    sd = float(np.std(x, ddof=1))
    z = mu / sd
    phi = math.exp(-(z**2) / 2) / math.sqrt(2 * math.pi)
    fhat_b = 1 / (_hermite(z, p + 2) ** 2 * phi)
    fhat_c = 1 / (_hermite(z, p) ** 2 * phi)
    bn = ((2 * p + 1) / 4 * fhat_b * _CB / n) ** (1 / (2 * p + 5)) * sd
    cn = (1 / (2 * p) * fhat_c * _CC / n) ** (1 / (2 * p + 1)) * sd
    max_abs = float(np.max(np.abs(uniq)))
    bn = min(bn, max_abs)
    cn = min(cn, max_abs)
    bn = max(bn, _kth(abs_left, 20 + p + 3), _kth(right, 20 + p + 3))
    cn = max(cn, _kth(abs_left, 20 + p + 1), _kth(right, 20 + p + 1))
    bn = max(bn, _kth(uniq_left, 20 + p + 3), _kth(uniq_right, 20 + p + 3))
    cn = max(cn, _kth(uniq_left, 20 + p + 1), _kth(uniq_right, 20 + p + 1))

    def window(lo: float, hi: float) -> slice:
        return slice(int(np.searchsorted(x, -lo, side="left")), int(np.searchsorted(x, hi, side="right")))

    sb = window(bn, bn)
    fb = _fv(rank[sb], x[sb], n, bn, bn, p + 2, p + 1, mass)
    sc = window(cn, cn)
    fc = _fv(rank[sc], x[sc], n, cn, cn, p, 1, mass)
    variance = n * cn * fc.jackknife
    bc = _bias_constant(p)
    bias_l = fb.deriv[0] * bc * (-1) ** p
    bias_r = fb.deriv[1] * bc
    bias_sq = np.array([bias_l, bias_r, bias_r - bias_l, bias_r + bias_l]) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        h = (1 / (2 * p) * variance / bias_sq / n) ** (1 / (2 * p + 1))
    h = np.where((variance < 0) | ~np.isfinite(h), 0.0, h)
    left_range, right_range = abs(float(uniq[0])), float(uniq[-1])
    h = np.minimum(h, [left_range, right_range, max(left_range, right_range), max(left_range, right_range)])
    hl_min = max(_kth(abs_left, _LOCAL_MIN), _kth(uniq_left, _LOCAL_MIN))
    hr_min = max(_kth(right, _LOCAL_MIN), _kth(uniq_right, _LOCAL_MIN))
    h = np.maximum(h, [hl_min, hr_min, max(hl_min, hr_min), max(hl_min, hr_min)])
    hl = float(np.median([h[0], h[2], h[3]]))
    hr = float(np.median([h[1], h[2], h[3]]))
    sh = window(hl, hr)
    xh = x[sh]
    ft = _fv(rank[sh], xh, n, hl, hr, p + 1, 1, mass)
    se = math.sqrt(ft.jackknife[2]) if ft.jackknife[2] > 0 else math.nan
    t = float(ft.hat[2] / se) if se == se and se > 0 else 0.0
    n_left = int(np.count_nonzero(xh < 0))
    return DensityFit(
        density_left=float(ft.hat[0]),
        density_right=float(ft.hat[1]),
        t_statistic=t,
        p_value=normal_p_value(t),
        h_left=hl,
        h_right=hr,
        n_left=n_left,
        n_right=len(xh) - n_left,
    )
