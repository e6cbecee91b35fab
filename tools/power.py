"""Power and sample size for A/B and A/B/n tests on a proportion or a mean.

Means use the exact two-sample t-test power (noncentral t), so Cohen's d = 0.5 at alpha = 0.05 and 80%
power gives 64 per group, as G*Power and R's ``power.t.test`` do. Proportions use the normal
approximation with the pooled variance under H0 and the unpooled variance under H1 (R's
``power.prop.test``, statsmodels' ``power_proportions_2indep``). Cluster randomisation enters through the
design effect, CUPED through the variance it removes, several treatment arms through Bonferroni.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field
from scipy import special

from tools.errors import ToolError
from tools.results import Check, ToolRequest, ToolResult

__all__ = ["PowerCurvePoint", "PowerRequest", "PowerResult", "power"]

Alternative = Literal["two-sided", "larger", "smaller"]
FloatArray = NDArray[np.float64]

DEFAULT_POWER = 0.8
MAX_UNITS = 10**12
CURVE_POINTS = 100
MIN_CLUSTERS_PER_ARM = 20


class PowerRequest(ToolRequest):
    """Power and sample size for a randomized experiment (A/B or A/B/n test) on a conversion rate or a mean.

    Use it before an experiment starts to answer "how many units and how many days do we need?", "what is the
    smallest effect we can detect with the traffic we have?" or "what power does this design have?". Set
    `solve_for` to the one unknown: "sample_size" (give `mde`), "mde" (give `n_per_arm`) or "power" (give `mde`
    and `n_per_arm`). Leave every field that does not apply null. Never compute these numbers yourself.
    """

    metric: Literal["proportion", "mean"] = Field(
        description="'proportion' for a rate of 0/1 outcomes (conversion, retention); 'mean' for a continuous "
        "metric (revenue per user, minutes watched)."
    )
    baseline: float = Field(
        description="The control arm's expected value: the conversion rate as a fraction in (0, 1) for a "
        "proportion (0.12 for 12%), or the control mean for a mean."
    )
    std_dev: float | None = Field(
        default=None,
        gt=0,
        description="Standard deviation of the metric per unit (required for metric='mean'; null for a "
        "proportion, whose variance follows from the rate).",
    )
    solve_for: Literal["sample_size", "mde", "power"] = Field(
        default="sample_size",
        description="The one unknown to compute: 'sample_size', 'mde' (minimum detectable effect) or 'power'.",
    )
    mde: float | None = Field(
        default=None,
        description="The effect to detect, signed (positive = increase, negative = decrease), in the units "
        "set by mde_kind. Required unless solve_for='mde', where it must be null.",
    )
    mde_kind: Literal["absolute", "relative"] = Field(
        default="absolute",
        description="'absolute': mde is in the metric's units (0.01 = one percentage point for a rate); "
        "'relative': mde is a fraction of the baseline (0.05 = a 5% lift).",
    )
    n_per_arm: int | None = Field(
        default=None,
        ge=2,
        le=MAX_UNITS,
        description="Units in the control arm (each treatment arm has allocation_ratio times as many). "
        "Required when solve_for is 'mde' or 'power'; null when solving for sample_size.",
    )
    power: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="Target power, the chance of detecting the mde if it is real (null means 0.8). Must be "
        "null when solve_for='power'.",
    )
    alpha: float = Field(
        default=0.05,
        gt=0,
        le=0.5,
        description="Significance level (false-positive rate) for the whole experiment; with more than one "
        "treatment arm it is split across the comparisons (Bonferroni).",
    )
    alternative: Alternative = Field(
        default="two-sided",
        description="'two-sided' (detect a change either way), 'larger' (only an increase) or 'smaller' "
        "(only a decrease).",
    )
    allocation_ratio: float = Field(
        default=1.0,
        ge=0.01,
        le=100,
        description="Units in each treatment arm per unit in control (1 = equal split; 0.5 = a treatment "
        "arm half the size of control).",
    )
    arms: int = Field(
        default=2,
        ge=2,
        le=26,
        description="Number of arms including control (2 for an A/B test; 3 for A/B/C).",
    )
    daily_units: float | None = Field(
        default=None,
        gt=0,
        le=MAX_UNITS,
        description="Eligible units entering the experiment per day, all arms together; gives the duration in "
        "days. Null if unknown.",
    )
    cluster_size: float | None = Field(
        default=None,
        ge=1,
        le=MAX_UNITS,
        description="Average units per randomized cluster (e.g. users per team) for a cluster-randomized "
        "design; give icc with it. Null for individual randomization.",
    )
    icc: float | None = Field(
        default=None,
        ge=0,
        lt=1,
        description="Intra-cluster correlation of the metric, in [0, 1); required with cluster_size.",
    )
    variance_reduction: float | None = Field(
        default=None,
        ge=0,
        lt=1,
        description="Share of the metric's variance a pre-period covariate is expected to explain with CUPED "
        "(its R-squared, in [0, 1)). Null for no variance reduction.",
    )


class PowerCurvePoint(ToolResult):
    """One point of a power curve."""

    n_per_arm: int = Field(description="Units in the control arm.")
    n_total: int = Field(description="Units across all arms.")
    mde_absolute: float = Field(description="Effect in the metric's units.")
    mde_relative: float | None = Field(description="Effect as a fraction of the baseline (null if baseline <= 0).")
    power: float = Field(description="Chance of detecting that effect with that many units.")


class PowerResult(ToolResult):
    """The answer of the power tool: sample sizes, the minimum detectable effect, power and duration."""

    solve_for: Literal["sample_size", "mde", "power"] = Field(description="What was computed.")
    metric: Literal["proportion", "mean"] = Field(description="Kind of metric.")
    baseline: float = Field(description="The control arm's rate or mean, as given.")
    std_dev: float | None = Field(description="The metric's standard deviation, as given (means).")
    alternative: Alternative = Field(description="Direction of the test.")
    alpha: float = Field(description="Significance level for the whole experiment.")
    alpha_per_comparison: float = Field(description="Level of each treatment-vs-control test (Bonferroni).")
    arms: int = Field(description="Arms including control.")
    allocation_ratio: float = Field(description="Units in each treatment arm per control unit.")
    n_per_arm: int = Field(description="Units in the control arm.")
    n_treatment: int = Field(description="Units in each treatment arm.")
    n_total: int = Field(description="Units across all arms.")
    clusters_per_arm: int | None = Field(description="Clusters in the control arm (cluster designs only).")
    mde_absolute: float = Field(description="Minimum detectable effect in the metric's units (signed).")
    mde_relative: float | None = Field(description="The same effect as a fraction of the baseline.")
    standardized_effect: float = Field(
        description="The effect in standard units: Cohen's d for means, Cohen's h for proportions."
    )
    power: float = Field(description="Power of the design at the reported sample size and effect.")
    target_power: float | None = Field(description="The power asked for (null when power was solved for).")
    design_effect: float = Field(description="Variance inflation from clustering, 1 + (m - 1) * ICC.")
    variance_reduction: float = Field(description="Share of variance removed by CUPED that was assumed.")
    daily_units: float | None = Field(description="Units entering per day, as given.")
    duration_days: int | None = Field(description="Days to collect n_total, rounded up (null without daily_units).")
    method: str = Field(description="The exact formula used, in words.")
    curve_kind: Literal["power_vs_n", "mde_vs_n"] = Field(
        description="'power_vs_n': power against control-arm size at the fixed effect; 'mde_vs_n': the minimum "
        "detectable effect against control-arm size at the target power."
    )
    curve: list[PowerCurvePoint] = Field(description="Points for a plot, ordered by n_per_arm.")
    checks: list[Check] = Field(description="Diagnostics of the design and the assumptions behind it.")
    warnings: list[str] = Field(description="Things the user should know before relying on the numbers.")
    summary: str = Field(description="One sentence stating the answer, built from the numbers above.")


@dataclass(frozen=True)
class _Design:
    """Everything the power function needs besides sample sizes and the effect."""

    metric: Literal["proportion", "mean"]
    baseline: float
    sigma: float  # standard deviation per unit after CUPED (means only)
    variance_factor: float  # 1 - R^2
    design_effect: float
    ratio: float
    alpha: float  # per comparison
    alternative: Alternative

    @property
    def min_control_n(self) -> float:
        """Smallest control arm for which the test is defined: 2 effective units in every arm."""
        return self.design_effect * max(2.0, 2.0 / self.ratio)


def power(request: PowerRequest, data: object = None) -> PowerResult:
    """Solve the power equation for the one unknown in ``request``; ``data`` is not used."""
    design, delta, target = _validate(request)
    ratio = request.allocation_ratio

    if request.solve_for == "sample_size":
        assert delta is not None and target is not None
        n_continuous = _solve_sample_size(design, delta, target)
        n1 = max(math.ceil(n_continuous - 1e-9), math.ceil(design.min_control_n))
        n2 = _treatment_n(n1, ratio)
        while _power_at(design, n1, n2, delta) < target:  # float safety: never report less than asked
            n1 += 1
            n2 = _treatment_n(n1, ratio)
        achieved = _power_at(design, n1, n2, delta)
    else:
        assert request.n_per_arm is not None
        n1 = request.n_per_arm
        n2 = _treatment_n(n1, ratio)
        if n1 < design.min_control_n or n2 < design.design_effect * 2:
            raise ToolError(
                "too_few_units",
                f"{n1} units in control and {n2} per treatment arm leave fewer than 2 effective units per arm"
                + (f" after the design effect of {design.design_effect:.3g}" if design.design_effect > 1 else "")
                + ".",
                "Increase n_per_arm (or the allocation_ratio), or solve_for='sample_size' to see what is needed.",
            )
        if request.solve_for == "mde":
            assert target is not None
            delta = _solve_mde(design, n1, n2, target)
            achieved = target
        else:
            assert delta is not None
            achieved = _power_at(design, n1, n2, delta)

    curve_kind, curve = _curve(request, design, n1, delta, target)
    n_total = n1 + (request.arms - 1) * n2
    duration = math.ceil(n_total / request.daily_units - 1e-9) if request.daily_units else None
    clusters = math.ceil(n1 / request.cluster_size - 1e-9) if request.cluster_size else None
    mde_relative = delta / request.baseline if request.baseline > 0 else None
    checks, warnings = _diagnose(request, design, n1, n2, delta, achieved, duration, clusters, mde_relative)

    fields = {
        "solve_for": request.solve_for,
        "metric": request.metric,
        "baseline": request.baseline,
        "std_dev": request.std_dev if request.metric == "mean" else None,
        "alternative": request.alternative,
        "alpha": request.alpha,
        "alpha_per_comparison": design.alpha,
        "arms": request.arms,
        "allocation_ratio": ratio,
        "n_per_arm": n1,
        "n_treatment": n2,
        "n_total": n_total,
        "clusters_per_arm": clusters,
        "mde_absolute": delta,
        "mde_relative": mde_relative,
        "standardized_effect": _standardized(design, request, delta),
        "power": achieved,
        "target_power": target,
        "design_effect": design.design_effect,
        "variance_reduction": 1.0 - design.variance_factor,
        "daily_units": request.daily_units,
        "duration_days": duration,
        "method": _method_text(request, design),
        "curve_kind": curve_kind,
        "curve": curve,
        "checks": checks,
        "warnings": warnings,
    }
    return PowerResult(**fields, summary=_summary(request, n1, n2, n_total, delta, mde_relative, achieved, duration))


# --- validation ------------------------------------------------------------------------------------------


def _validate(request: PowerRequest) -> tuple[_Design, float | None, float | None]:
    """Semantic checks pydantic cannot express; returns the design, the absolute effect and target power."""
    metric, baseline, solve_for = request.metric, request.baseline, request.solve_for
    if metric == "proportion" and not 0 < baseline < 1:
        raise ToolError(
            "baseline_out_of_range",
            f"A proportion's baseline must be a rate strictly between 0 and 1; got {baseline:g}.",
            "Give the control conversion rate as a fraction: 0.12 for 12%.",
        )
    if metric == "mean" and request.std_dev is None:
        raise ToolError(
            "missing_std_dev",
            "metric='mean' needs the metric's standard deviation per unit (std_dev).",
            "Take it from historical data (describe_data on a pre-period dataset), or use metric='proportion' "
            "for a 0/1 outcome.",
        )

    # exactly one unknown
    if solve_for == "sample_size" and request.n_per_arm is not None:
        raise ToolError(
            "conflicting_unknowns",
            "n_per_arm was given but solve_for='sample_size' computes it.",
            "Set n_per_arm to null, or solve_for='mde' or 'power' for a fixed sample size.",
        )
    if solve_for in ("mde", "power") and request.n_per_arm is None:
        raise ToolError(
            "missing_n_per_arm",
            f"solve_for='{solve_for}' needs the sample size: n_per_arm (units in control) is missing.",
            "Give n_per_arm, or solve_for='sample_size' to compute it.",
        )
    if solve_for == "mde" and request.mde is not None:
        raise ToolError(
            "conflicting_unknowns",
            "mde was given but solve_for='mde' computes it.",
            "Set mde to null, or solve_for='power' to get the power for that effect.",
        )
    if solve_for != "mde" and request.mde is None:
        raise ToolError(
            "missing_mde",
            f"solve_for='{solve_for}' needs the effect to detect (mde) and none was given.",
            "Give mde (e.g. 0.05 with mde_kind='relative' for a 5% lift), or solve_for='mde' to compute the "
            "smallest detectable effect.",
        )
    if solve_for == "power" and request.power is not None:
        raise ToolError(
            "conflicting_unknowns",
            "power was given but solve_for='power' computes it.",
            "Set power to null, or solve_for='sample_size' to reach that power.",
        )
    target = None if solve_for == "power" else (request.power if request.power is not None else DEFAULT_POWER)
    if target is not None and target <= request.alpha:
        raise ToolError(
            "power_not_above_alpha",
            f"Target power {target:g} is not above alpha {request.alpha:g}: a test with no effect at all "
            "already rejects alpha of the time, so no sample size is needed or possible.",
            "Use a target power well above alpha; 0.8 or 0.9 are usual.",
        )

    # clustering
    if (request.cluster_size is None) != (request.icc is None):
        given, missing = ("cluster_size", "icc") if request.icc is None else ("icc", "cluster_size")
        raise ToolError(
            "incomplete_cluster_design",
            f"{given} was given without {missing}; a cluster design needs both.",
            "Give the average cluster size and the intra-cluster correlation (ICC), or neither for individual "
            "randomization.",
        )
    design_effect = 1.0
    if request.cluster_size is not None and request.icc is not None:
        design_effect = 1.0 + (request.cluster_size - 1.0) * request.icc

    delta = None
    if request.mde is not None:
        delta = _absolute_effect(request)

    variance_factor = 1.0 - (request.variance_reduction or 0.0)
    sigma = (request.std_dev or 0.0) * math.sqrt(variance_factor)
    design = _Design(
        metric=metric,
        baseline=baseline,
        sigma=sigma,
        variance_factor=variance_factor,
        design_effect=design_effect,
        ratio=request.allocation_ratio,
        alpha=request.alpha / (request.arms - 1),
        alternative=request.alternative,
    )
    return design, delta, target


def _absolute_effect(request: PowerRequest) -> float:
    assert request.mde is not None
    mde, baseline = request.mde, request.baseline
    if mde == 0:
        raise ToolError(
            "zero_mde",
            "An mde of 0 cannot be detected with any sample size.",
            "Give the smallest effect that would change the decision, e.g. mde=0.02 with mde_kind='relative'.",
        )
    if request.mde_kind == "relative":
        if baseline <= 0:
            raise ToolError(
                "relative_mde_needs_positive_baseline",
                f"A relative mde is a fraction of the baseline, which is {baseline:g}.",
                "Give the mde in the metric's units with mde_kind='absolute'.",
            )
        delta = mde * baseline
    else:
        delta = mde
    if request.alternative == "larger" and delta < 0:
        raise ToolError(
            "mde_sign_mismatch",
            f"alternative='larger' tests for an increase, but the mde ({mde:g}) is a decrease.",
            "Give a positive mde, or use alternative='smaller' (or 'two-sided') for a decrease.",
        )
    if request.alternative == "smaller" and delta > 0:
        raise ToolError(
            "mde_sign_mismatch",
            f"alternative='smaller' tests for a decrease, but the mde ({mde:g}) is an increase.",
            "Give a negative mde (e.g. -0.02), or use alternative='larger' (or 'two-sided') for an increase.",
        )
    if request.metric == "proportion" and not 0 < baseline + delta < 1:
        raise ToolError(
            "mde_out_of_range",
            f"An effect of {delta:+g} moves the rate from {baseline:g} to {baseline + delta:g}, outside (0, 1).",
            "Check mde and mde_kind: an absolute mde is in rate units (0.01 = one percentage point), a relative "
            "one a fraction of the baseline (0.05 = 5%).",
        )
    return delta


# --- the power function ----------------------------------------------------------------------------------


def _power_vec(design: _Design, n1: FloatArray, n2: FloatArray, delta: FloatArray) -> FloatArray:
    """Power of the treatment-vs-control test, vectorised over sample sizes and (signed) effects."""
    n1e = n1 / design.design_effect
    n2e = n2 / design.design_effect
    alt = design.alternative
    tail_alpha = design.alpha / 2 if alt == "two-sided" else design.alpha
    if design.metric == "mean":
        df = n1e + n2e - 2.0
        noncentrality = delta / (design.sigma * np.sqrt(1.0 / n1e + 1.0 / n2e))
        critical = special.stdtrit(df, 1.0 - tail_alpha)
        upper = _nct_sf(df, noncentrality, critical)
        lower = _nct_sf(df, -noncentrality, critical)  # P(T' < -c) by symmetry
    else:
        p1 = design.baseline
        p2 = p1 + delta
        pooled = (n1e * p1 + n2e * p2) / (n1e + n2e)
        sd_null = np.sqrt(design.variance_factor * pooled * (1.0 - pooled) * (1.0 / n1e + 1.0 / n2e))
        sd_alt = np.sqrt(design.variance_factor * (p1 * (1.0 - p1) / n1e + p2 * (1.0 - p2) / n2e))
        critical = special.ndtri(1.0 - tail_alpha)
        upper = special.ndtr((delta - critical * sd_null) / sd_alt)
        lower = special.ndtr((-delta - critical * sd_null) / sd_alt)
    if alt == "larger":
        result = upper
    elif alt == "smaller":
        result = lower
    else:
        result = upper + lower
    return np.asarray(np.clip(result, 0.0, 1.0), dtype=np.float64)


def _nct_sf(df: FloatArray, noncentrality: FloatArray, x: FloatArray) -> FloatArray:
    """P(T > x) for noncentral t; falls back to a normal approximation where scipy's tail gives NaN."""
    exact = 1.0 - special.nctdtr(df, noncentrality, x)
    bad = ~np.isfinite(exact)
    if np.any(bad):
        # Abramowitz & Stegun 26.7.10-style approximation; only reached deep in a tail, where it is 0 or 1.
        approx = special.ndtr((noncentrality - x * (1.0 - 1.0 / (4.0 * df))) / np.sqrt(1.0 + x * x / (2.0 * df)))
        exact = np.where(bad, approx, exact)
    return np.asarray(exact, dtype=np.float64)


def _power_at(design: _Design, n1: float, n2: float, delta: float) -> float:
    return float(_power_vec(design, np.array([n1], float), np.array([n2], float), np.array([delta], float))[0])


def _treatment_n(n1: int, ratio: float) -> int:
    return max(1, math.ceil(n1 * ratio - 1e-9))


# --- solvers ---------------------------------------------------------------------------------------------


def _solve_increasing(
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


def _solve_sample_size(design: _Design, delta: float, target: float) -> float:
    """Continuous control-arm size at which power equals ``target``."""
    ratio = design.ratio

    def func(n: FloatArray) -> FloatArray:
        return _power_vec(design, n, n * ratio, np.full_like(n, delta))

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
    return float(_solve_increasing(func, np.array([lo]), np.array([hi]), target)[0])


def _mde_bounds(design: _Design) -> tuple[float, float]:
    """Sign of the MDE and the largest admissible magnitude (the rate must stay inside (0, 1))."""
    sign = -1.0 if design.alternative == "smaller" else 1.0
    if design.metric == "mean":
        return sign, math.inf
    room = design.baseline if sign < 0 else 1.0 - design.baseline
    return sign, room * (1.0 - 1e-9)


def _solve_mde_vec(design: _Design, n1: FloatArray, n2: FloatArray, target: float) -> FloatArray:
    """Signed MDE at each (n1, n2); NaN where even the largest admissible effect falls short of ``target``."""
    sign, limit = _mde_bounds(design)

    def func(magnitude: FloatArray) -> FloatArray:
        return _power_vec(design, n1, n2, sign * magnitude)

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
    magnitude = _solve_increasing(func, lo, hi, target)
    return np.where(feasible, sign * magnitude, np.nan)


def _solve_mde(design: _Design, n1: int, n2: int, target: float) -> float:
    mde = float(_solve_mde_vec(design, np.array([n1], float), np.array([n2], float), target)[0])
    if not math.isfinite(mde):
        raise ToolError(
            "no_detectable_effect",
            f"With {n1:,} units in control and {n2:,} per treatment arm, no change of the rate from "
            f"{design.baseline:g} reaches {target:.0%} power.",
            "Increase n_per_arm, lower the target power, or solve_for='sample_size' for a given mde.",
        )
    return mde


# --- curve, diagnostics and text -------------------------------------------------------------------------


def _curve_grid(design: _Design, reference_n: float) -> FloatArray:
    low = max(math.ceil(design.min_control_n), math.floor(reference_n * 0.1))
    high = max(math.ceil(reference_n * 2.5), low + CURVE_POINTS - 1)
    return np.unique(np.round(np.linspace(low, high, CURVE_POINTS)))


def _curve(
    request: PowerRequest, design: _Design, n1: int, delta: float, target: float | None
) -> tuple[Literal["power_vs_n", "mde_vs_n"], list[PowerCurvePoint]]:
    ratio, arms, baseline = request.allocation_ratio, request.arms, request.baseline
    if request.solve_for == "mde":
        assert target is not None
        grid = _curve_grid(design, n1)
        n2 = np.ceil(grid * ratio - 1e-9)
        effects = _solve_mde_vec(design, grid, n2, target)
        powers = np.full_like(grid, target)
        kind: Literal["power_vs_n", "mde_vs_n"] = "mde_vs_n"
    else:
        reference = float(n1)
        if request.solve_for == "power":
            # reach past the size that would give 80% (or the target) so the curve shows the plateau
            goal = DEFAULT_POWER if request.power is None else request.power
            reference = max(reference, _solve_sample_size_or_cap(design, delta, goal))
        grid = _curve_grid(design, reference)
        n2 = np.ceil(grid * ratio - 1e-9)
        effects = np.full_like(grid, delta)
        powers = _power_vec(design, grid, n2, effects)
        kind = "power_vs_n"
    points = [
        PowerCurvePoint(
            n_per_arm=int(a),
            n_total=int(a + (arms - 1) * b),
            mde_absolute=float(e),
            mde_relative=float(e / baseline) if baseline > 0 else None,
            power=float(p),
        )
        for a, b, e, p in zip(grid, n2, effects, powers, strict=True)
        if math.isfinite(e)
    ]
    return kind, points


def _solve_sample_size_or_cap(design: _Design, delta: float, goal: float) -> float:
    try:
        return _solve_sample_size(design, delta, goal)
    except ToolError:
        return float(MAX_UNITS) / 10.0


def _standardized(design: _Design, request: PowerRequest, delta: float) -> float:
    if design.metric == "mean":
        assert request.std_dev is not None
        return delta / request.std_dev
    p1 = design.baseline
    return 2.0 * math.asin(math.sqrt(p1 + delta)) - 2.0 * math.asin(math.sqrt(p1))


def _diagnose(
    request: PowerRequest,
    design: _Design,
    n1: int,
    n2: int,
    delta: float,
    achieved: float,
    duration: int | None,
    clusters: int | None,
    mde_relative: float | None,
) -> tuple[list[Check], list[str]]:
    checks: list[Check] = []
    warnings: list[str] = []
    if design.metric == "proportion":
        p1, p2 = design.baseline, design.baseline + delta
        expected = min(n1 * p1, n1 * (1 - p1), n2 * p2, n2 * (1 - p2)) / design.design_effect
        ok = expected >= 10
        checks.append(
            Check(
                name="normal_approximation",
                status="pass" if ok else "warn",
                detail=f"Smallest expected count of successes or failures in an arm: {expected:,.1f} "
                f"({'at least' if ok else 'below'} 10, the usual floor for the normal approximation).",
            )
        )
        if not ok:
            warnings.append(
                "Few expected conversions per arm: the normal approximation is rough here; treat the sample "
                "size as a lower bound."
            )
    else:
        ok = min(n1, n2) / design.design_effect >= 30
        checks.append(
            Check(
                name="sample_size_floor",
                status="pass" if ok else "warn",
                detail=f"Effective units in the smallest arm: {min(n1, n2) / design.design_effect:,.1f} "
                f"({'at least' if ok else 'below'} 30). Heavy-tailed metrics such as revenue need far more "
                "for the t-test's normality to hold.",
            )
        )
    if duration is not None:
        full_week = duration >= 7
        checks.append(
            Check(
                name="full_week",
                status="pass" if full_week else "warn",
                detail=f"Duration {duration} day(s) {'covers' if full_week else 'does not cover'} a full week.",
            )
        )
        if not full_week:
            warnings.append(
                f"The sample is reached in {duration} day(s), less than one full week: run at least 7 days so "
                "that weekday/weekend cycles and novelty effects are averaged out."
            )
    if clusters is not None:
        enough = clusters >= MIN_CLUSTERS_PER_ARM
        checks.append(
            Check(
                name="clusters_per_arm",
                status="pass" if enough else "warn",
                detail=f"{clusters} clusters in control with design effect {design.design_effect:.3g} "
                f"({'at least' if enough else 'fewer than'} {MIN_CLUSTERS_PER_ARM}).",
            )
        )
        if not enough:
            warnings.append(
                f"Only {clusters} clusters per arm: with fewer than {MIN_CLUSTERS_PER_ARM}, cluster-robust "
                "inference is unreliable; add clusters rather than units per cluster."
            )
        checks.append(
            Check(
                name="icc_assumption",
                status="not_tested",
                detail=f"The ICC of {request.icc:g} is an assumption; if the real ICC is higher, power is lower. "
                "Estimate it from pre-period data and rerun with the upper end of its range.",
            )
        )
    if request.variance_reduction:
        checks.append(
            Check(
                name="variance_reduction_assumption",
                status="not_tested",
                detail=f"CUPED is assumed to remove {request.variance_reduction:.0%} of the variance; if the "
                "pre-period covariate explains less, power is lower. Rerun with variance_reduction=null for the "
                "no-CUPED bound.",
            )
        )
    if request.arms > 2:
        checks.append(
            Check(
                name="multiple_comparisons",
                status="pass",
                detail=f"{request.arms - 1} treatment-vs-control comparisons, each tested at "
                f"alpha = {design.alpha:.4g} (Bonferroni) so the family-wise error stays at {request.alpha:g}.",
            )
        )
    if request.solve_for == "power":
        adequate = achieved >= DEFAULT_POWER
        checks.append(
            Check(
                name="adequate_power",
                status="pass" if adequate else "warn",
                detail=f"Power {achieved:.1%} is {'at least' if adequate else 'below'} the usual 80%.",
            )
        )
        if not adequate:
            warnings.append(
                f"Underpowered: a real effect of this size would be missed {1 - achieved:.0%} of the time, and a "
                "significant result would likely overstate the effect."
            )
    if request.solve_for == "mde" and mde_relative is not None and abs(mde_relative) > 0.2:
        warnings.append(
            f"The smallest detectable change is {abs(mde_relative):.1%} of the baseline; most product changes "
            "move a metric far less, so a null result would say little."
        )
    return checks, warnings


def _method_text(request: PowerRequest, design: _Design) -> str:
    sided = {"two-sided": "two-sided", "larger": "one-sided (increase)", "smaller": "one-sided (decrease)"}
    if design.metric == "mean":
        parts = [
            f"{sided[design.alternative]} two-sample t-test with a common standard deviation: exact power from "
            "the noncentral t distribution, df = n_control + n_treatment - 2, noncentrality = "
            "effect / (sd * sqrt(1/n_control + 1/n_treatment))"
        ]
    else:
        parts = [
            f"{sided[design.alternative]} two-proportion z-test, normal approximation with the pooled variance "
            "under H0 and the unpooled variance under H1 (as R's power.prop.test and statsmodels' "
            "power_proportions_2indep)"
        ]
        if request.solve_for == "mde" and design.alternative == "two-sided":
            parts.append("the MDE is reported for an increase")
    if request.variance_reduction:
        parts.append(f"variance multiplied by 1 - R^2 = {design.variance_factor:.4g} for CUPED")
    if design.design_effect != 1.0:
        parts.append(
            f"sample sizes divided by the design effect 1 + (m - 1) * ICC = {design.design_effect:.4g} "
            f"(m = {request.cluster_size:g}, ICC = {request.icc:g})"
        )
    if request.arms > 2:
        parts.append(f"Bonferroni: alpha {request.alpha:g} / {request.arms - 1} comparisons = {design.alpha:.4g}")
    if request.solve_for == "sample_size":
        parts.append("sample sizes rounded up to whole units")
    return "; ".join(parts) + "."


def _summary(
    request: PowerRequest,
    n1: int,
    n2: int,
    n_total: int,
    delta: float,
    mde_relative: float | None,
    achieved: float,
    duration: int | None,
) -> str:
    effect = f"{delta:+.4g}" + (f" ({mde_relative:+.2%} relative)" if mde_relative is not None else "")
    test = f"alpha = {request.alpha:g} ({request.alternative})"
    arms = f"{n1:,} units in control and {n2:,} in " + ("treatment" if request.arms == 2 else "each treatment arm")
    days = f", about {duration:,} day(s) at {request.daily_units:,.6g} units a day" if duration else ""
    if request.solve_for == "sample_size":
        return (
            f"To detect a change of {effect} from a baseline of {request.baseline:g} with {achieved:.1%} power at "
            f"{test}, you need {arms} ({n_total:,} in total){days}."
        )
    if request.solve_for == "mde":
        return (
            f"With {arms} ({n_total:,} in total{days}), the smallest change detectable with {achieved:.0%} power "
            f"at {test} is {effect} from a baseline of {request.baseline:g}."
        )
    return (
        f"With {arms} ({n_total:,} in total{days}), the power to detect a change of {effect} from a baseline of "
        f"{request.baseline:g} at {test} is {achieved:.1%}."
    )
