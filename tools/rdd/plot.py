"""The RD plot's data: evenly spaced binned means either side (rdplot's mimicking-variance number of bins) and the
fitted local polynomials evaluated on a grid up to the bandwidth edge, meeting the cutoff with the estimated jump."""

from __future__ import annotations

import math

import numpy as np

from tools.rdd.local import FloatArray, Side
from tools.rdd.models import RdPlot, RdPlotSide

__all__ = ["MAX_BINS", "rd_plot"]

MAX_BINS = 200
GRID_POINTS = 40


def _mimicking_variance_bins(side: Side, length: float, n_total: int) -> int:
    """rdplot's 'esmv' choice: evenly spaced bins whose count mimics the data's variability (spacings estimator,
    Calonico, Cattaneo & Titiunik 2015, JASA 110(512))."""
    y = side.y[:, 0]
    if side.n < 2 or length <= 0:
        return 1
    var_y = float(np.var(y, ddof=1))
    dx = np.diff(side.x)
    dy = np.diff(y)
    v = (0.5 / length) * float(np.sum(dx * dy**2))
    if var_y == 0 or v <= 0:
        return 1
    return max(1, math.ceil((var_y / v) * (n_total / math.log(n_total) ** 2)))


def _side(side: Side, lo: float, hi: float, bins: int, c: float, h: float, poly: FloatArray) -> RdPlotSide:
    y = side.y[:, 0]
    width = (hi - lo) / bins
    index = np.clip(np.floor((side.x - lo) / width).astype(np.intp), 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    sums = np.bincount(index, weights=y, minlength=bins)
    used = counts > 0
    centers = lo + (np.arange(bins) + 0.5) * width
    edge = c - h if side.below else c + h
    edge = max(edge, lo) if side.below else min(edge, hi)
    grid = np.linspace(edge, c, GRID_POINTS) if side.below else np.linspace(c, edge, GRID_POINTS)
    u = (grid - c) / h
    fitted = sum(float(poly[j]) * u**j for j in range(len(poly)))
    return RdPlotSide(
        bin_centers=[float(v) for v in centers[used]],
        bin_means=[float(v) for v in sums[used] / counts[used]],
        bin_counts=[int(v) for v in counts[used]],
        fit_x=[float(v) for v in grid],
        fit_y=[float(v) for v in np.asarray(fitted)],
    )


def rd_plot(
    left: Side, right: Side, c: float, h_left: float, h_right: float, poly_left: FloatArray, poly_right: FloatArray
) -> RdPlot:
    """Binned means and fitted curves; ``poly_*`` are the outcome's order-p coefficients in u = (x - c) / h."""
    n_total = left.n + right.n
    x_min, x_max = float(left.x[0]), float(right.x[-1])
    capped = []
    counts = []
    for side, length in ((left, c - x_min), (right, x_max - c)):
        j = min(_mimicking_variance_bins(side, length, n_total), side.distinct())
        capped.append(j > MAX_BINS)
        counts.append(min(j, MAX_BINS))
    method = (
        "evenly spaced bins, number chosen to mimic the variance of the raw data (rdplot's 'esmv', spacings "
        "estimator), at most one per distinct running-variable value"
        + (f" and at most {MAX_BINS} per side" if any(capped) else "")
    )
    below = _side(left, x_min, c, counts[0], c, h_left, poly_left)
    above = _side(right, c, x_max, counts[1], c, h_right, poly_right)
    return RdPlot(
        cutoff=c,
        below=below,
        above=above,
        n_bins_below=counts[0],
        n_bins_above=counts[1],
        bin_method=method,
        jump=float(poly_right[0] - poly_left[0]),
    )
