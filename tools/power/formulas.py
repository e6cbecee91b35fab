"""The power equations and their solvers, vectorised with numpy over sample sizes and effects.

Means: exact two-sample t-test power from the noncentral t distribution. Proportions: the two-proportion
z-test's normal approximation, pooled variance under H0 and unpooled under H1. Cluster designs divide every
sample size by the design effect; CUPED multiplies the variance by 1 - R^2; several treatment arms lower
alpha per comparison (Bonferroni) before anything here is called.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

from tools.errors import ToolError
from tools.literals import Alternative, PowerMetric
from tools.power.models import DEFAULT_POWER, MAX_UNITS

__all__ = ["DEFAULT_POWER", "MAX_UNITS", "Alternative", "Design", "FloatArray", "power_vec", "solve_sample_size"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Design:
    """Everything the power function needs besides sample sizes and the effect."""

    metric: PowerMetric
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
    if design.metric == "mean":
        df, critical, std_error = t_test_terms(design, n1, n2)
        return t_test_power(design.alternative, df, critical, delta / std_error)
    n1e = n1 / design.design_effect
    n2e = n2 / design.design_effect
    p1 = design.baseline
    p2 = p1 + delta
    pooled = (n1e * p1 + n2e * p2) / (n1e + n2e)
    sd_null = np.sqrt(design.variance_factor * pooled * (1.0 - pooled) * (1.0 / n1e + 1.0 / n2e))
    sd_alt = np.sqrt(design.variance_factor * (p1 * (1.0 - p1) / n1e + p2 * (1.0 - p2) / n2e))
    z = float(special.ndtri(1.0 - _tail_alpha(design)))
    if design.alternative == "larger":
        result = special.ndtr((delta - z * sd_null) / sd_alt)
    elif design.alternative == "smaller":
        result = special.ndtr((-delta - z * sd_null) / sd_alt)
    else:
        result = special.ndtr((delta - z * sd_null) / sd_alt) + special.ndtr((-delta - z * sd_null) / sd_alt)
    return np.asarray(np.clip(result, 0.0, 1.0), dtype=np.float64)


def _tail_alpha(design: Design) -> float:
    return design.alpha / 2 if design.alternative == "two-sided" else design.alpha


def t_test_terms(design: Design, n1: FloatArray, n2: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Degrees of freedom, critical value and standard error (per unit of effect) of the two-sample t-test."""
    n1e = n1 / design.design_effect
    n2e = n2 / design.design_effect
    # a cluster-randomized t-test compares cluster means: its degrees of freedom count clusters
    df = (n1 + n2) / design.cluster_size - 2.0 if design.cluster_size else n1e + n2e - 2.0
    critical = np.asarray(special.stdtrit(df, 1.0 - _tail_alpha(design)), dtype=np.float64)
    std_error = design.sigma * np.sqrt(1.0 / n1e + 1.0 / n2e)
    return np.asarray(df, dtype=np.float64), critical, np.asarray(std_error, dtype=np.float64)


def t_test_power(
    alternative: Alternative, df: FloatArray, critical: FloatArray, noncentrality: FloatArray
) -> FloatArray:
    """Exact power of the t-test from the noncentral t distribution; only the tails that count are computed."""
    if alternative == "larger":
        result = nct_sf(df, noncentrality, critical)
    elif alternative == "smaller":
        result = nct_sf(df, -noncentrality, critical)  # P(T' < -c) by symmetry
    else:
        result = nct_sf(df, noncentrality, critical) + nct_sf(df, -noncentrality, critical)
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
    func: Callable[[FloatArray], FloatArray],
    lo: FloatArray,
    hi: FloatArray,
    target: float,
    *,
    ftol: float = 1e-13,
    rtol: float = 1e-13,
    max_iter: int = 100,
    f_lo: FloatArray | None = None,
    f_hi: FloatArray | None = None,
) -> FloatArray:
    """Vectorised Illinois (regula falsi) root of ``func(x) = target`` for increasing ``func`` on [lo, hi].

    Needs ``func(lo) <= target <= func(hi)`` elementwise. Stops when every power is within ``ftol`` of the
    target or every bracket is narrower than ``rtol`` relative; from a good bracket that takes a handful of
    iterations, each one vectorised call of ``func``. ``f_lo`` and ``f_hi`` are ``func`` at the ends, if known.
    """
    lo, hi = lo.astype(np.float64, copy=True), hi.astype(np.float64, copy=True)
    f_lo = (func(lo) if f_lo is None else f_lo) - target
    f_hi = (func(hi) if f_hi is None else f_hi) - target
    side = np.zeros(lo.shape, dtype=np.int8)
    x = hi.copy()
    for _ in range(max_iter):
        denom = f_hi - f_lo
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(denom != 0, (lo * f_hi - hi * f_lo) / denom, 0.5 * (lo + hi))
        x = np.where((x <= lo) | (x >= hi) | ~np.isfinite(x), 0.5 * (lo + hi), x)
        f_x = func(x) - target
        if np.all(np.abs(f_x) <= ftol):
            break
        above = f_x > 0
        # the root is in [lo, x] (move hi) or in [x, hi] (move lo); Illinois halves a stale end's value
        hi = np.where(above, x, hi)
        f_hi = np.where(above, f_x, np.where(side == -1, f_hi / 2, f_hi))
        lo = np.where(above, lo, x)
        f_lo = np.where(above, np.where(side == 1, f_lo / 2, f_lo), f_x)
        side = np.where(above, 1, -1).astype(np.int8)
        if np.all(hi - lo <= rtol * np.abs(hi)):
            break
    return np.asarray(x, dtype=np.float64)


def _z_sum(design: Design, target: float) -> float:
    """z_(1 - alpha) + z_(power), the normal approximation's multiplier of the standard error."""
    tail = design.alpha / 2 if design.alternative == "two-sided" else design.alpha
    return float(special.ndtri(1.0 - tail) + special.ndtri(target))


def _variance_per_unit(design: Design, delta: float) -> float:
    """Variance of the estimated difference times the control arm's size (normal approximation)."""
    if design.metric == "mean":
        return design.sigma**2 * (1.0 + 1.0 / design.ratio) * design.design_effect
    p1, p2 = design.baseline, design.baseline + delta
    return design.variance_factor * (p1 * (1 - p1) + p2 * (1 - p2) / design.ratio) * design.design_effect


def solve_sample_size(design: Design, delta: float, target: float) -> float:
    """Continuous control-arm size at which power equals ``target``."""
    ratio = design.ratio

    def func(n: FloatArray) -> FloatArray:
        return power_vec(design, n, n * ratio, np.full_like(n, delta))

    def at(n: float) -> float:
        return float(func(np.array([n]))[0])

    smallest = design.min_control_n
    if at(smallest) >= target:
        return smallest
    # bracket the root around the normal approximation, widening only if the t correction needs it
    scale = _z_sum(design, target) * math.sqrt(_variance_per_unit(design, delta))
    if abs(delta) * math.sqrt(MAX_UNITS) < scale:  # the guess alone is past the cap (and may not be a float)
        raise _too_large(delta)
    guess = (scale / delta) ** 2
    lo = max(smallest, 0.7 * guess)
    if at(lo) > target:
        lo = smallest
    hi = max(1.5 * guess, lo + 8.0)
    while at(hi) < target:
        hi *= 2.0
        if hi > 4 * MAX_UNITS:
            raise _too_large(delta)
    return float(solve_increasing(func, np.array([lo]), np.array([hi]), target)[0])


def _too_large(delta: float) -> ToolError:
    return ToolError(
        "sample_size_too_large",
        f"Detecting an effect of {delta:+.4g} would need more than {MAX_UNITS:,} units per arm.",
        "The effect is too small relative to the metric's noise: choose a larger mde, reduce variance "
        "(variance_reduction with CUPED), or consider a different metric.",
    )


def mde_bounds(design: Design) -> tuple[float, float]:
    """Sign of the MDE and the largest admissible magnitude (the rate must stay inside (0, 1))."""
    sign = -1.0 if design.alternative == "smaller" else 1.0
    if design.metric == "mean":
        return sign, math.inf
    room = design.baseline if sign < 0 else 1.0 - design.baseline
    return sign, room * (1.0 - 1e-9)


def solve_mde_vec(design: Design, n1: FloatArray, n2: FloatArray, target: float, *, ftol: float = 1e-13) -> FloatArray:
    """Signed MDE at each (n1, n2); NaN where even the largest admissible effect falls short of ``target``.

    ``ftol`` is how close to the target the power at the returned effect must be (a plot needs less).
    """
    sign, limit = mde_bounds(design)
    if design.metric == "mean":
        # df, critical value and standard error do not depend on the effect: compute them once
        df, critical, std_error = t_test_terms(design, n1, n2)

        def func(magnitude: FloatArray) -> FloatArray:
            return t_test_power(design.alternative, df, critical, sign * magnitude / std_error)

        unit_variance = design.sigma**2
    else:

        def func(magnitude: FloatArray) -> FloatArray:
            return power_vec(design, n1, n2, sign * magnitude)

        unit_variance = design.variance_factor * design.baseline * (1.0 - design.baseline)

    # bracket the root around the normal approximation (variance at the baseline), widening where needed
    guess = _z_sum(design, target) * np.sqrt(unit_variance * design.design_effect * (1.0 / n1 + 1.0 / n2))
    lo = np.minimum(0.7 * guess, 0.5 * limit)
    f_lo = func(lo)
    if np.any(f_lo > target):
        lo = np.where(f_lo > target, 0.0, lo)
        f_lo = func(lo)
    hi = np.minimum(np.maximum(1.5 * guess, 2.0 * lo), limit)
    f_hi = func(hi)
    for _ in range(80):
        short = (f_hi < target) & (hi < limit)
        if not np.any(short):
            break
        hi = np.where(short, np.minimum(hi * 2.0, limit), hi)
        f_hi = func(hi)
    feasible = f_hi >= target
    if np.all(feasible):
        return sign * solve_increasing(func, lo, hi, target, ftol=ftol, f_lo=f_lo, f_hi=f_hi)
    mde = np.full_like(n1, np.nan)
    if np.any(feasible):  # only proportions can be infeasible: the rate cannot leave (0, 1)
        m1, m2 = n1[feasible], n2[feasible]
        magnitude = solve_increasing(
            lambda m: power_vec(design, m1, m2, sign * m),
            lo[feasible],
            hi[feasible],
            target,
            ftol=ftol,
            f_lo=f_lo[feasible],
            f_hi=f_hi[feasible],
        )
        mde[feasible] = sign * magnitude
    return mde


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
