"""The power tool: validate the request, solve for the one unknown, and assemble the result."""

from __future__ import annotations

import math

import numpy as np

from tools.bounds import relative_to
from tools.errors import ToolError
from tools.literals import CurveKind
from tools.power.formulas import (
    DEFAULT_POWER,
    MAX_UNITS,
    Design,
    FloatArray,
    power_at,
    power_vec,
    solve_mde,
    solve_mde_vec,
    solve_sample_size,
    treatment_n,
)
from tools.power.models import PowerCurvePoint, PowerRequest, PowerResult
from tools.power.report import diagnose, method_text, standardized_effect, summary_sentence
from tools.power.sequential import SequentialPlan, plan

__all__ = ["power"]

CURVE_POINTS = 100
#: The longest duration reported: an experiment that needs more than a century to enrol its units cannot be run.
MAX_DURATION_YEARS = 100
MAX_DURATION_DAYS = round(MAX_DURATION_YEARS * 365.25)
CURVE_FTOL = 1e-9  # a plotted MDE whose power is within 1e-9 of the target


def power(request: PowerRequest, data: object = None) -> PowerResult:
    """Solve the power equation for the one unknown in ``request``; ``data`` is not used. A quasi-experimental
    ``request.design`` is sized by simulation (:mod:`tools.power.quasi`)."""
    if request.design is not None:
        from tools.power.quasi import quasi_power

        return quasi_power(request)
    design, delta, target = _validate(request)
    ratio = request.allocation_ratio
    sequential = plan(request, design, target)
    # the power the fixed equations must reach: with looks, the fixed test's power at the design's drift
    fixed_target = sequential.equivalent_power() if sequential is not None and target is not None else target
    n_fixed = None

    if request.solve_for == "sample_size":
        assert delta is not None and target is not None and fixed_target is not None
        n1 = _smallest_n(design, delta, fixed_target)
        n2 = treatment_n(n1, ratio)
        achieved = power_at(design, n1, n2, delta)
        if sequential is not None:
            n_fixed = _smallest_n(design, delta, target)
    else:
        assert request.n_per_arm is not None
        n1 = request.n_per_arm
        n2 = treatment_n(n1, ratio)
        if n1 < design.min_control_n:
            raise ToolError(
                "too_few_units",
                f"{n1:,} units in control and {n2:,} per treatment arm leave fewer than 2 effective units"
                + (" or clusters" if design.cluster_size else "")
                + " in an arm; the smallest testable control arm here has "
                + f"{math.ceil(design.min_control_n):,} units.",
                "Increase n_per_arm (or the allocation_ratio), or solve_for='sample_size' to see what is needed.",
            )
        if request.solve_for == "mde":
            assert fixed_target is not None
            delta = solve_mde(design, n1, n2, fixed_target)
            achieved = fixed_target
        else:
            assert delta is not None
            achieved = power_at(design, n1, n2, delta)

    fixed_achieved = achieved
    sequential_result = None
    if sequential is not None:
        if request.solve_for == "mde":
            assert target is not None
            achieved = target
        else:
            achieved = float(sequential.power_at(np.array([achieved]))[0])
        sequential_result = sequential.result(n1, n2, request.arms, fixed_achieved, n_fixed)
    curve_kind, curve = _curve(request, design, n1, delta, target, sequential, fixed_target)
    n_total = n1 + (request.arms - 1) * n2
    duration = _duration(n_total, request.daily_units)
    clusters = math.ceil(n1 / request.cluster_size - 1e-9) if request.cluster_size else None
    mde_relative = relative_to(delta, request.baseline)
    checks, warnings = diagnose(request, design, n1, n2, delta, achieved, duration, clusters, mde_relative)

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
        "standardized_effect": standardized_effect(design, request, delta),
        "power": achieved,
        "target_power": target,
        "cluster_size": request.cluster_size,
        "icc": request.icc,
        "design_effect": design.design_effect,
        "variance_reduction": 1.0 - design.variance_factor,
        "daily_units": request.daily_units,
        "duration_days": duration,
        "sequential": sequential_result,
        "method": method_text(request, design, sequential_result),
        "curve_kind": curve_kind,
        "curve": curve,
        "checks": checks,
        "warnings": warnings,
    }
    return PowerResult(
        **fields,
        summary=summary_sentence(
            request, n1, n2, n_total, delta, mde_relative, achieved, target, duration, clusters, sequential_result
        ),
    )


def _smallest_n(design: Design, delta: float, target: float) -> int:
    """The smallest whole control arm whose power reaches ``target``."""
    n1 = max(math.ceil(solve_sample_size(design, delta, target) - 1e-9), math.ceil(design.min_control_n))
    while power_at(design, n1, treatment_n(n1, design.ratio), delta) < target:  # float safety: never less than asked
        n1 += 1
    return n1


def _duration(n_total: int, daily_units: float | None) -> int | None:
    """Days to enrol ``n_total`` units; a ToolError beyond any horizon an experiment can have (a tiny daily_units
    gave a 303-digit number of days, or an overflow)."""
    if daily_units is None:
        return None
    if n_total > MAX_DURATION_DAYS * daily_units:  # multiplied, not divided: no overflow for any daily_units
        raise ToolError(
            "duration_too_long",
            f"At {daily_units:,.6g} units a day, the {n_total:,} units of this design take more than "
            f"{MAX_DURATION_YEARS} years to enrol: the experiment cannot reach its sample size.",
            "Find more eligible traffic (a larger daily_units), accept a larger mde, or leave daily_units null to "
            "get the sample size alone.",
        )
    return math.ceil(n_total / daily_units - 1e-9)


# --- validation ------------------------------------------------------------------------------------------


def _validate(request: PowerRequest) -> tuple[Design, float | None, float | None]:
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
    design = Design(
        metric=metric,
        baseline=baseline,
        sigma=sigma,
        variance_factor=variance_factor,
        design_effect=design_effect,
        cluster_size=request.cluster_size,
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


def _curve_grid(design: Design, reference_n: float) -> FloatArray:
    low = max(math.ceil(design.min_control_n), math.floor(reference_n * 0.1))
    high = max(math.ceil(reference_n * 2.5), low + CURVE_POINTS - 1)
    # the reference size itself is always a point, so the plot passes through the answer
    return np.unique(np.append(np.round(np.linspace(low, high, CURVE_POINTS)), round(reference_n)))


def _curve(
    request: PowerRequest,
    design: Design,
    n1: int,
    delta: float,
    target: float | None,
    sequential: SequentialPlan | None,
    fixed_target: float | None,
) -> tuple[CurveKind, list[PowerCurvePoint]]:
    """The power curve; with looks, each point is the sequential design's power at that maximum size."""
    ratio, arms, baseline = request.allocation_ratio, request.arms, request.baseline
    if request.solve_for == "mde":
        assert target is not None and fixed_target is not None
        grid = _curve_grid(design, n1)
        n2 = np.ceil(grid * ratio - 1e-9)
        effects = solve_mde_vec(design, grid, n2, fixed_target, ftol=CURVE_FTOL)
        powers = np.full_like(grid, target)
        kind: CurveKind = "mde_vs_n"
    else:
        reference = float(n1)
        if request.solve_for == "power":
            # reach past the size that would give 80% (or the target) so the curve shows the plateau
            reference = max(reference, _solve_sample_size_or_cap(design, delta, DEFAULT_POWER))
        grid = _curve_grid(design, reference)
        n2 = np.ceil(grid * ratio - 1e-9)
        effects = np.full_like(grid, delta)
        powers = power_vec(design, grid, n2, effects)
        if sequential is not None:
            powers = sequential.power_at(powers)
        kind = "power_vs_n"
    points = [
        PowerCurvePoint(
            n_per_arm=int(a),
            n_total=int(a + (arms - 1) * b),
            mde_absolute=float(e),
            mde_relative=relative_to(float(e), baseline),
            power=float(p),
        )
        for a, b, e, p in zip(grid, n2, effects, powers, strict=True)
        if math.isfinite(e)
    ]
    return kind, points


def _solve_sample_size_or_cap(design: Design, delta: float, goal: float) -> float:
    try:
        return solve_sample_size(design, delta, goal)
    except ToolError:
        return float(MAX_UNITS) / 10.0
