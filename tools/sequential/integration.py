"""The recursive numerical integration of Armitage, McPherson & Rowe (1969), laid out as Jennison & Turnbull (2000,
ch. 19) do: the distribution of the z statistics Z_1, ..., Z_K of a group-sequential test, exactly up to quadrature.

With information fractions t_1 < ... < t_K, the score B_k = Z_k sqrt(t_k) has independent normal increments,
B_k - B_(k-1) ~ N(eta (t_k - t_(k-1)), t_k - t_(k-1)), where the drift eta = theta sqrt(I_max) is the effect in units
of its standard error at the maximum information. The sub-density of Z_k on the continuation region (the paths that
have not stopped) is the previous one integrated against that normal transition:

    h_k(z) = integral h_(k-1)(u) sqrt(t_k / d_k) phi((z sqrt(t_k) - u sqrt(t_(k-1)) - eta d_k) / sqrt(d_k)) du,

and the probability of crossing the boundary c_k at look k is the same integral of a normal tail. The integrals are
Simpson's rule on a grid of the continuation region, fine enough for the transition's spread (J&T's grid is
centred on the mean under one drift; this one is uniform over the region so that one H0 pass serves every drift).

Every drift comes from the H0 pass by exponential tilting, exactly: the likelihood ratio of drift eta against 0 is
exp(eta B_k - eta^2 t_k / 2), a function of the current score alone, so h_k under eta is h_k under H0 times that
factor at the same grid points. Power curves and drift solving then cost one vector operation per look.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

__all__ = ["GRID_REACH", "FloatArray", "Recursion", "simpson_grid"]

FloatArray = NDArray[np.float64]

#: How far below 0 a one-sided design's grid reaches: the continuation region has no lower boundary, and the H0
#: density of Z below -9 (1e-19) is nothing next to any probability reported; positive drifts only lower it.
GRID_REACH = 9.0
#: Grid points per standard deviation of the next look's transition, and the coarsest step on the z scale.
POINTS_PER_SD = 8.0
MAX_STEP = 0.05
MAX_POINTS = 2001
#: The largest exponent a tilt may reach (exp(700) is 1e304): a drift this far out has power 1 to the last digit.
MAX_EXPONENT = 700.0
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def simpson_grid(lower: float, upper: float, step: float) -> tuple[FloatArray, FloatArray]:
    """An odd number of equally spaced points from ``lower`` to ``upper`` at most ``step`` apart, with Simpson
    weights (h/3 times 1, 4, 2, 4, ..., 4, 1)."""
    intervals = max(2, math.ceil((upper - lower) / step))
    intervals += intervals % 2
    intervals = min(intervals, MAX_POINTS - 1)
    points = np.linspace(lower, upper, intervals + 1)
    h = (upper - lower) / intervals
    weights = np.full(intervals + 1, 2.0)
    weights[1::2] = 4.0
    weights[0] = weights[-1] = 1.0
    return points, weights * (h / 3.0)


@dataclass(frozen=True)
class _Stage:
    """What look k leaves for look k + 1 under H0: the continuation grid and Simpson weight times sub-density."""

    fraction: float
    grid: FloatArray
    mass: FloatArray  # w_i * h_k(z_i) under H0


class Recursion:
    """The H0 pass of the recursion, built look by look: ``add_look`` takes the boundaries just found.

    ``crossing(k, upper, lower, drifts)`` is the probability, under each drift, of reaching look k (not stopping
    before it) and then leaving the continuation region (lower, upper) through either side; k counts from 0.
    """

    def __init__(self, fractions: FloatArray) -> None:
        self.fractions = np.asarray(fractions, dtype=np.float64)
        self._stages: list[_Stage] = []

    @property
    def looks_done(self) -> int:
        return len(self._stages)

    def _step(self, k: int) -> float:
        """Grid step at look k: fine enough for the narrower of the transitions into and out of look k (each one's
        standard deviation on the z scale of its later look, the smaller of its two)."""
        t = self.fractions
        spreads = [1.0]
        if k > 0:
            spreads.append(math.sqrt((t[k] - t[k - 1]) / t[k]))
        if k + 1 < len(t):
            spreads.append(math.sqrt((t[k + 1] - t[k]) / t[k + 1]))
        return min(MAX_STEP, min(spreads) / POINTS_PER_SD)

    def add_look(self, upper: float, lower: float) -> None:
        """Record the boundaries of the next look (``lower`` = -inf for a one-sided design) and carry the H0
        sub-density over its continuation region."""
        k = len(self._stages)
        t = float(self.fractions[k])
        low = max(lower, -GRID_REACH) if math.isfinite(lower) else -GRID_REACH
        high = upper if upper > low else low + 1e-9
        grid, weights = simpson_grid(low, high, self._step(k))
        if k == 0:
            density = np.exp(-0.5 * grid * grid) * _INV_SQRT_2PI
        else:
            previous = self._stages[-1]
            d = t - previous.fraction
            scale = math.sqrt(t / d)
            arg = (grid[:, None] * math.sqrt(t) - previous.grid[None, :] * math.sqrt(previous.fraction)) / math.sqrt(d)
            density = np.exp(-0.5 * arg * arg) @ previous.mass * (scale * _INV_SQRT_2PI)
        self._stages.append(_Stage(fraction=t, grid=grid, mass=weights * density))

    def crossing(self, k: int, upper: float, lower: float, drifts: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(P(reach look k and Z_k >= upper), P(reach look k and Z_k <= lower)) for each drift."""
        t = float(self.fractions[k])
        drifts = np.asarray(drifts, dtype=np.float64)
        if k == 0:
            mean = drifts * math.sqrt(t)
            up = special.ndtr(mean - upper)
            down = special.ndtr(lower - mean) if math.isfinite(lower) else np.zeros_like(drifts)
            return np.asarray(up, dtype=np.float64), np.asarray(down, dtype=np.float64)
        previous = self._stages[k - 1]
        d = t - previous.fraction
        sd = math.sqrt(d)
        start = previous.grid * math.sqrt(previous.fraction)  # B_(k-1) at the grid points
        weights = self._tilted(previous, start, drifts)  # (drifts, points)
        centre = start[None, :] + drifts[:, None] * d  # mean of B_k given B_(k-1)
        up = special.ndtr((centre - upper * math.sqrt(t)) / sd)
        result_up = np.sum(weights * up, axis=1)
        if math.isfinite(lower):
            down = special.ndtr((lower * math.sqrt(t) - centre) / sd)
            result_down = np.sum(weights * down, axis=1)
        else:
            result_down = np.zeros_like(drifts)
        return np.asarray(result_up, dtype=np.float64), np.asarray(result_down, dtype=np.float64)

    @staticmethod
    def _tilted(stage: _Stage, score: FloatArray, drifts: FloatArray) -> FloatArray:
        """Simpson weight times sub-density under each drift: the H0 one times exp(eta B - eta^2 t / 2)."""
        if not np.any(drifts):
            return np.broadcast_to(stage.mass, (len(drifts), len(stage.mass)))
        exponent = drifts[:, None] * score[None, :] - 0.5 * drifts[:, None] ** 2 * stage.fraction
        return np.asarray(stage.mass[None, :] * np.exp(np.minimum(exponent, MAX_EXPONENT)), dtype=np.float64)
