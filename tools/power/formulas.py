"""The power equations and their solvers, vectorised with numpy over sample sizes and effects.

Means: exact two-sample t-test power from the noncentral t distribution. Proportions: the two-proportion
z-test's normal approximation, pooled variance under H0 and unpooled under H1. Cluster designs divide every
sample size by the design effect; CUPED multiplies the variance by 1 - R^2; several treatment arms lower
alpha per comparison (Bonferroni) before anything here is called.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import special

from tools.errors import ToolError

Alternative = Literal["two-sided", "larger", "smaller"]
FloatArray = NDArray[np.float64]

DEFAULT_POWER = 0.8
MAX_UNITS = 10**12


@dataclass(frozen=True)
class Design:
    """Everything the power function needs besides sample sizes and the effect."""

    metric: Literal["proportion", "mean"]
    baseline: float
    sigma: float  # standard deviation per unit after CUPED (means only)
    variance_factor: float  # 1 - R^2
    design_effect: float
    cluster_size: float | None  # units per randomized cluster; the t-test's df then count clusters
    ratio: float
    alpha: float  # per comparison
    alternative: Alternative

    @property
    def min_control_n(self) -> float:
        """Smallest control arm for which the test is defined: 2 effective units (and clusters) in every arm."""
        per_unit = max(self.design_effect, self.cluster_size or 1.0)
        return per_unit * max(2.0, 2.0 / self.ratio)


def power_vec(design: Design, n1: FloatArray, n2: FloatArray, delta: FloatArray) -> FloatArray:
    """Power of the treatment-vs-control test, vectorised over sample sizes and (signed) effects."""
    n1e = n1 / design.design_effect
    n2e = n2 / design.design_effect
    alt = design.alternative
    tail_alpha = design.alpha / 2 if alt == "two-sided" else design.alpha
    if design.metric == "mean":
        # a cluster-randomized t-test compares cluster means: its degrees of freedom count clusters
        df = (n1 + n2) / design.cluster_size - 2.0 if design.cluster_size else n1e + n2e - 2.0
        noncentrality = delta / (design.sigma * np.sqrt(1.0 / n1e + 1.0 / n2e))
        critical: FloatArray = np.asarray(special.stdtrit(df, 1.0 - tail_alpha), dtype=np.float64)
        upper = nct_sf(df, noncentrality, critical)
        lower = nct_sf(df, -noncentrality, critical)  # P(T' < -c) by symmetry
    else:
        p1 = design.baseline
        p2 = p1 + delta
        pooled = (n1e * p1 + n2e * p2) / (n1e + n2e)
        sd_null = np.sqrt(design.variance_factor * pooled * (1.0 - pooled) * (1.0 / n1e + 1.0 / n2e))
        sd_alt = np.sqrt(design.variance_factor * (p1 * (1.0 - p1) / n1e + p2 * (1.0 - p2) / n2e))
        z = float(special.ndtri(1.0 - tail_alpha))
        upper = np.asarray(special.ndtr((delta - z * sd_null) / sd_alt), dtype=np.float64)
        lower = np.asarray(special.ndtr((-delta - z * sd_null) / sd_alt), dtype=np.float64)
    if alt == "larger":
        result = upper
    elif alt == "smaller":
        result = lower
    else:
        result = upper + lower
    return np.asarray(np.clip(result, 0.0, 1.0), dtype=np.float64)


def nct_sf(df: FloatArray, noncentrality: FloatArray, x: FloatArray) -> FloatArray:
    """P(T > x) for noncentral t; falls back to a normal approximation where scipy's tail gives NaN."""
    exact = 1.0 - special.nctdtr(df, noncentrality, x)
    bad = ~np.isfinite(exact)
    if np.any(bad):
        # Abramowitz & Stegun 26.7.10-style approximation; only reached deep in a tail, where it is 0 or 1.
        approx = special.ndtr((noncentrality - x * (1.0 - 1.0 / (4.0 * df))) / np.sqrt(1.0 + x * x / (2.0 * df)))
        exact = np.where(bad, approx, exact)
    return np.asarray(exact, dtype=np.float64)


def power_at(design: Design, n1: float, n2: float, delta: float) -> float:
    return float(power_vec(design, np.array([n1], float), np.array([n2], float), np.array([delta], float))[0])


def treatment_n(n1: int, ratio: float) -> int:
    return max(1, math.ceil(n1 * ratio - 1e-9))


# --- solvers ---------------------------------------------------------------------------------------------


def solve_increasing(
    func: object,
    lo: FloatArray,
    hi: FloatArray,
    target: float,
    *,
    rtol: float = 1e-12,
    max_iter: int = 200,
) -> FloatArray:
    """Vectorised Illinois (regula falsi) root of ``func(x) = target`` for increasing ``func`` on [lo, hi].

    Needs ``func(lo) <= target <= func(hi)`` elementwise; converges superlinearly, a few iterations each.
    """
    assert callable(func)
    lo, hi = lo.astype(float).copy(), hi.astype(float).copy()
    f_lo = func(lo) - target
    f_hi = func(hi) - target
    side = np.zeros(lo.shape, dtype=int)
    x = hi.copy()
    for _ in range(max_iter):
        denom = f_hi - f_lo
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(denom != 0, (lo * f_hi - hi * f_lo) / denom, 0.5 * (lo + hi))
        x = np.where((x <= lo) | (x >= hi) | ~np.isfinite(x), 0.5 * (lo + hi), x)
        f_x = func(x) - target
        above = f_x > 0
        # root in [lo, x]: move hi; otherwise move lo. Illinois: halve the stale end's value.
        hi = np.where(above, x, hi)
        f_hi = np.where(above, f_x, np.where(side == -1, f_hi / 2, f_hi))
        lo = np.where(above, lo, x)
        f_lo = np.where(above, np.where(side == 1, f_lo / 2, f_lo), f_x)
        side = np.where(above, 1, -1)
        if np.all((hi - lo) <= rtol * np.maximum(np.abs(hi), 1e-300)) or np.all(f_x == 0):
            break
    return np.asarray(x, dtype=np.float64)


def solve_sample_size(design: Design, delta: float, target: float) -> float:
    """Continuous control-arm size at which power equals ``target``."""
    ratio = design.ratio

    def func(n: FloatArray) -> FloatArray:
        return power_vec(design, n, n * ratio, np.full_like(n, delta))

    lo = design.min_control_n
    if func(np.array([lo]))[0] >= target:
        return lo
    hi = max(2.0 * lo, 16.0)
    while func(np.array([hi]))[0] < target:
        hi *= 4.0
        if hi > MAX_UNITS:
            raise ToolError(
                "sample_size_too_large",
                f"Detecting an effect of {delta:+.4g} would need more than {MAX_UNITS:,} units per arm.",
                "The effect is too small relative to the metric's noise: choose a larger mde, reduce variance "
                "(variance_reduction with CUPED), or consider a different metric.",
            )
    return float(solve_increasing(func, np.array([lo]), np.array([hi]), target)[0])


def mde_bounds(design: Design) -> tuple[float, float]:
    """Sign of the MDE and the largest admissible magnitude (the rate must stay inside (0, 1))."""
    sign = -1.0 if design.alternative == "smaller" else 1.0
    if design.metric == "mean":
        return sign, math.inf
    room = design.baseline if sign < 0 else 1.0 - design.baseline
    return sign, room * (1.0 - 1e-9)


def solve_mde_vec(design: Design, n1: FloatArray, n2: FloatArray, target: float) -> FloatArray:
    """Signed MDE at each (n1, n2); NaN where even the largest admissible effect falls short of ``target``."""
    sign, limit = mde_bounds(design)

    def func(magnitude: FloatArray) -> FloatArray:
        return power_vec(design, n1, n2, sign * magnitude)

    lo = np.zeros_like(n1)
    if math.isinf(limit):
        # normal-approximation guess, then widen until power exceeds the target
        se = design.sigma * np.sqrt(design.design_effect * (1.0 / n1 + 1.0 / n2))
        hi = 2.0 * se * (special.ndtri(1 - design.alpha / 2) + special.ndtri(target)) + 1e-300
        for _ in range(60):
            short = func(hi) < target
            if not np.any(short):
                break
            hi = np.where(short, hi * 4.0, hi)
        feasible = np.ones(n1.shape, dtype=bool)
    else:
        hi = np.full_like(n1, limit)
        feasible = func(hi) >= target
    magnitude = solve_increasing(func, lo, hi, target)
    return np.where(feasible, sign * magnitude, np.nan)


def solve_mde(design: Design, n1: int, n2: int, target: float) -> float:
    mde = float(solve_mde_vec(design, np.array([n1], float), np.array([n2], float), target)[0])
    if not math.isfinite(mde):
        raise ToolError(
            "no_detectable_effect",
            f"With {n1:,} units in control and {n2:,} per treatment arm, no change of the rate from "
            f"{design.baseline:g} reaches {target:.0%} power.",
            "Increase n_per_arm, lower the target power, or solve_for='sample_size' for a given mde.",
        )
    return mde
