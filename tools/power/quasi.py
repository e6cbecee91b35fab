"""The power tool's quasi-experimental designs: validate the request, simulate, solve for the one unknown, and
assemble the :class:`~tools.power.models.PowerResult` (the simulation's details in its ``quasi`` field).

The designs' units fill the result's arms: ``n_per_arm`` holds the control units (DiD), the units within the
bandwidth below the cutoff (RDD) or the donors (synthetic control), ``n_treatment`` the treated units, the units
above the cutoff, or 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from tools.bounds import relative_to
from tools.errors import ToolError
from tools.power.models import DEFAULT_POWER, PowerCurvePoint, PowerRequest, PowerResult
from tools.power.quasi_did import DidPanel, cohort_counts, simulate_did
from tools.power.quasi_models import DEFAULT_SIMULATIONS, EchoedDesign, QuasiDesign, QuasiPower
from tools.power.quasi_rdd import rdd_std_error, simulate_rdd
from tools.power.quasi_report import Findings, did_findings, method_text, rdd_findings, summary, synth_findings
from tools.power.quasi_sim import mc_standard_error, smallest_effect, smallest_units
from tools.power.quasi_synth import rejections_allowed, simulate_synth
from tools.power.tool import _absolute_effect

__all__ = ["quasi_power"]

#: Normal draws one RDD evaluation may use at the default precision (about a second on a 2-core machine); a larger
#: design runs fewer simulations, never fewer than MIN_SIMULATIONS, and says so.
RDD_BUDGET = 4 * 10**6
MIN_SIMULATIONS = 200
CURVE_POINTS = 30
MAX_SOLVED_UNITS = 10**7
#: The largest designs simulated at interactive speed: an RDD's units within the bandwidth (each simulated data set
#: holds them all), a DiD's periods (the covariance is periods x periods), a synthetic control's (donors + 1) x
#: periods gaps per data set.
MAX_RDD_UNITS = 100_000
MAX_DID_PERIODS = 500
MAX_SYNTH_CELLS = 100_000
#: Gaps one synthetic control evaluation may draw (a larger design runs fewer simulations, at least MIN_SIMULATIONS).
SYNTH_BUDGET = 2 * 10**7
MIN_RDD_SIDE = 5


@dataclass
class Solved:
    """One design's answer before it becomes a result."""

    control: int
    treated: int
    effect: float
    power: float
    simulations: int
    analytic_power: float | None
    std_error: float | None
    curve: list[PowerCurvePoint]
    min_p_value: float | None = None
    findings: Findings = field(default_factory=Findings)


def quasi_power(request: PowerRequest) -> PowerResult:
    """Size a DiD, RDD or synthetic control by simulation (``request.design`` is set)."""
    design = request.design
    assert design is not None
    effect, target = _validate(request, design)
    if design.kind == "did":
        solved = _did(request, design, effect, target)
    elif design.kind == "rdd":
        solved = _rdd(request, design, effect, target)
    else:
        solved = _synth(request, design, effect, target)
    std_dev = request.std_dev
    assert std_dev is not None
    mc_se = mc_standard_error(solved.power, solved.simulations)
    quasi = QuasiPower(
        design=EchoedDesign.of(design),
        simulations=solved.simulations,
        seed=design.seed,
        power_mc_se=mc_se,
        analytic_power=solved.analytic_power,
        std_error=solved.std_error,
        min_p_value=solved.min_p_value,
        assumptions=solved.findings.assumptions,
    )
    mde_relative = relative_to(solved.effect, request.baseline)
    fields = {
        "solve_for": request.solve_for,
        "metric": request.metric,
        "baseline": request.baseline,
        "std_dev": std_dev,
        "alternative": request.alternative,
        "alpha": request.alpha,
        "alpha_per_comparison": request.alpha,
        "arms": 2,
        "allocation_ratio": solved.treated / solved.control,
        "n_per_arm": solved.control,
        "n_treatment": solved.treated,
        "n_total": solved.control + solved.treated,
        "clusters_per_arm": solved.control if design.kind == "did" else None,
        "mde_absolute": solved.effect,
        "mde_relative": mde_relative,
        "standardized_effect": solved.effect / std_dev,
        "power": solved.power,
        "target_power": target if request.solve_for != "power" else None,
        "cluster_size": None,
        "icc": (design.icc or 0.0) if design.kind == "did" else None,
        "design_effect": 1.0,
        "variance_reduction": 0.0,
        "daily_units": None,
        "duration_days": None,
        "sequential": None,
        "quasi": quasi,
        "method": method_text(design, solved.simulations),
        "curve_kind": "power_vs_n",
        "curve": solved.curve,
        "checks": solved.findings.checks,
        "warnings": solved.findings.warnings,
    }
    sentence = summary(request, design, solved.control, solved.treated, solved.effect, solved.power, mc_se)
    return PowerResult(**fields, summary=sentence)


# --- the three designs -------------------------------------------------------------------------------------


def _did(request: PowerRequest, design: QuasiDesign, effect: float, target: float) -> Solved:
    assert design.pre is not None and design.post is not None and request.std_dev is not None
    pre, post, sigma = design.pre, design.post, request.std_dev
    icc, ar1 = design.icc or 0.0, design.ar1 or 0.0
    simulations = design.simulations or DEFAULT_SIMULATIONS
    share = design.treated / (design.treated + design.control)

    def panel(treated: int, control: int) -> DidPanel:
        return DidPanel.build(control, pre, post, icc, ar1, sigma, cohort_counts(treated, design.adoption, post))

    def split(units: int) -> tuple[int, int]:
        treated = min(max(1, round(units * share)), units - 1)
        return treated, units - treated

    def simulate(treated: int, control: int) -> tuple[DidPanel, float]:
        built = panel(treated, control)
        test = simulate_did(built, simulations, design.seed, request.alpha, request.alternative)
        return built, test.power(effect)

    treated, control = design.treated, design.control
    if request.solve_for == "sample_size":
        start_se = panel(treated, control).std_error() * math.sqrt(treated + control)
        start = math.ceil((start_se * _z_sum(request, target) / abs(effect)) ** 2)
        units = smallest_units(lambda n: simulate(*split(n))[1], target, start, 4, MAX_SOLVED_UNITS)
        treated, control = split(units)
    built = panel(treated, control)
    test = simulate_did(built, simulations, design.seed, request.alpha, request.alternative)
    if request.solve_for == "mde":
        effect = smallest_effect(test.power, target, built.std_error() * _z_sum(request, target), _sign(request))
    power = test.power(effect)
    analytic = built.analytic_power(effect, request.alpha, request.alternative)
    findings = did_findings(design, treated, control, power, analytic, mc_standard_error(power, simulations))

    def curve_power(c: int, t: int) -> float:
        return panel(t, c).analytic_power(effect, request.alpha, request.alternative)

    curve = _curve(control, treated, request.baseline, effect, curve_power, minimum=2)
    return Solved(control, treated, effect, power, simulations, analytic, built.std_error(), curve, findings=findings)


def _rdd(request: PowerRequest, design: QuasiDesign, effect: float, target: float) -> Solved:
    assert request.std_dev is not None
    sigma = request.std_dev
    share = design.treated / (design.treated + design.control)
    given = design.simulations

    def sims(units: int, budget: int = RDD_BUDGET) -> int:
        return given or max(MIN_SIMULATIONS, min(DEFAULT_SIMULATIONS, budget // units))

    def split(units: int) -> tuple[int, int]:
        above = min(max(MIN_RDD_SIDE, round(units * share)), units - MIN_RDD_SIDE)
        return units - above, above

    below, above = design.control, design.treated
    simulations = sims(below + above)
    if request.solve_for == "sample_size":
        start_se = rdd_std_error(below, above, sigma, 2) * math.sqrt(below + above)
        start = math.ceil((start_se * _z_sum(request, target) / abs(effect)) ** 2)
        # every step of the search, and the answer, run the same simulations (common random numbers) on a quarter
        # of the budget, sized for the closed form's answer
        if start > MAX_RDD_UNITS:
            raise ToolError(
                "sample_size_too_large",
                f"The closed form needs about {start:,} units within the bandwidth to detect {effect:g} with power "
                f"{target:g}, more than the {MAX_RDD_UNITS:,} this tool simulates.",
                "Accept a larger mde, or rely on the closed form: SE = sqrt((72/7) std_dev² (1/n_below + 1/n_above)).",
            )
        simulations = sims(start, RDD_BUDGET // 4)

        def power_of(units: int) -> float:
            low, high = split(units)
            test, _, _ = simulate_rdd(low, high, sigma, simulations, design.seed, request.alpha, request.alternative)
            return test.power(effect)

        below, above = split(smallest_units(power_of, target, start, 2 * MIN_RDD_SIDE, MAX_RDD_UNITS))
    test, linear, _ = simulate_rdd(below, above, sigma, simulations, design.seed, request.alpha, request.alternative)
    std_error = rdd_std_error(below, above, sigma, 2)
    if request.solve_for == "mde":
        effect = smallest_effect(test.power, target, std_error * _z_sum(request, target), _sign(request))
    power = test.power(effect)
    analytic = _normal_power(effect / std_error, request)
    findings = rdd_findings(
        below,
        above,
        power,
        analytic,
        mc_standard_error(power, simulations),
        float(np.std(linear)),
        rdd_std_error(below, above, sigma, 1),
        simulations < (given or DEFAULT_SIMULATIONS),
    )

    def curve_power(b: int, a: int) -> float:
        return _normal_power(effect / rdd_std_error(b, a, sigma, 2), request)

    curve = _curve(below, above, request.baseline, effect, curve_power, minimum=MIN_RDD_SIDE)
    return Solved(below, above, effect, power, simulations, analytic, std_error, curve, findings=findings)


def _synth(request: PowerRequest, design: QuasiDesign, effect: float, target: float) -> Solved:
    assert design.pre is not None and design.post is not None and request.std_dev is not None
    donors = design.control
    cells = (donors + 1) * (design.pre + design.post)
    simulations = design.simulations or max(MIN_SIMULATIONS, min(DEFAULT_SIMULATIONS, SYNTH_BUDGET // cells))
    draws = simulate_synth(request.std_dev, design.pre, design.post, donors, simulations, design.seed, request.alpha)
    if request.solve_for == "mde":
        effect = smallest_effect(draws.power, target, request.std_dev, _sign(request))
    power = draws.power(effect)
    findings = synth_findings(design, request.alpha, request.alternative)
    if simulations < (design.simulations or DEFAULT_SIMULATIONS):
        findings.warnings.append(
            f"A design this large ran {simulations:,} simulations to stay fast: the power's simulation error is "
            "larger (see power_mc_se); give simulations to run more."
        )
    return Solved(donors, 1, effect, power, simulations, None, None, [], 1.0 / (donors + 1), findings)


# --- shared pieces -----------------------------------------------------------------------------------------


def _tail(request: PowerRequest) -> float:
    return request.alpha / 2 if request.alternative == "two-sided" else request.alpha


def _z_sum(request: PowerRequest, target: float) -> float:
    """z_(1-alpha) + z_power: the effect in standard errors that a normal test detects with the target power."""
    return float(special.ndtri(1.0 - _tail(request)) + special.ndtri(target))


def _sign(request: PowerRequest) -> float:
    return -1.0 if request.alternative == "smaller" else 1.0


def _normal_power(noncentrality: float, request: PowerRequest) -> float:
    z = float(special.ndtri(1.0 - _tail(request)))
    if request.alternative == "larger":
        return float(special.ndtr(noncentrality - z))
    if request.alternative == "smaller":
        return float(special.ndtr(-noncentrality - z))
    return float(special.ndtr(noncentrality - z) + special.ndtr(-noncentrality - z))


def _curve(
    control: int, treated: int, baseline: float, effect: float, power_of: Callable[[int, int], float], *, minimum: int
) -> list[PowerCurvePoint]:
    """The closed-form power against the control count, the treated count scaled with it (the design's point
    included): a plot of the power curve without simulating each point."""
    ratio = treated / control
    grid = np.unique(
        np.append(
            np.round(np.geomspace(max(minimum, control / 4), max(minimum + 1, control * 2.5), CURVE_POINTS)), control
        )
    ).astype(int)
    points = []
    for c in grid:
        t = max(minimum if minimum > 2 else 1, round(c * ratio))
        points.append(
            PowerCurvePoint(
                n_per_arm=int(c),
                n_total=int(c + t),
                mde_absolute=effect,
                mde_relative=relative_to(effect, baseline),
                power=float(power_of(int(c), int(t))),
            )
        )
    return points


# --- validation --------------------------------------------------------------------------------------------


def _validate(request: PowerRequest, design: QuasiDesign) -> tuple[float, float]:
    """Semantic checks of a quasi-experimental request; returns the effect (0 when solved for) and target power."""
    if request.metric != "mean":
        raise ToolError(
            "quasi_design_needs_mean",
            "A design is sized on the outcome's standard deviation: use metric='mean' (a rate too: its SD is "
            "sqrt(p(1 - p))).",
            "Set metric='mean' and std_dev to the outcome's SD (synth: the pre-period RMSPE).",
        )
    unused = [
        name
        for name, value in (
            ("n_per_arm", request.n_per_arm),
            ("cluster_size", request.cluster_size),
            ("icc", request.icc),
            ("variance_reduction", request.variance_reduction),
            ("daily_units", request.daily_units),
            ("information_fractions", request.information_fractions),
        )
        if value is not None
    ]
    unused += [name for name, bad in (("looks", request.looks != 1), ("arms", request.arms != 2)) if bad]
    unused += ["allocation_ratio"] if request.allocation_ratio != 1.0 else []
    kind = design.kind
    for name in ("pre", "post", "icc", "ar1", "adoption"):
        applies = kind == "did" or (kind == "synth" and name in ("pre", "post"))
        if not applies and getattr(design, name) is not None:
            unused.append(f"design.{name}")
    if unused:
        raise ToolError(
            "field_not_used_with_design",
            f"{', '.join(unused)} do not apply to a '{kind}' design and would be ignored.",
            "Leave them null (their defaults): the design's own fields give its units, periods and correlation.",
        )
    if request.std_dev is None:
        raise ToolError(
            "missing_std_dev",
            "A design needs std_dev: the outcome's SD per unit and period"
            + (" (for synth: the pre-period RMSPE of the fit)." if kind == "synth" else "."),
            "Take it from historical data (describe_data), or from the synthetic_control result's pre-period RMSPE.",
        )
    if kind in ("did", "synth") and (design.pre is None or design.post is None):
        raise ToolError(
            "missing_periods",
            f"A '{kind}' design needs design.pre and design.post (the numbers of pre and post periods).",
            "Give both, e.g. pre=8 and post=4.",
        )
    if kind == "synth":
        _validate_synth(request, design)
    _validate_size(design)
    if kind == "rdd" and min(design.treated, design.control) < MIN_RDD_SIDE:
        raise ToolError(
            "too_few_units_near_cutoff",
            f"A local quadratic fit needs at least {MIN_RDD_SIDE} units within the bandwidth on each side; got "
            f"{design.control} below and {design.treated} above.",
            "Widen the bandwidth or give the counts within it on each side (treated = above, control = below).",
        )
    if kind == "did" and design.treated + design.control < 3:
        raise ToolError(
            "too_few_units",
            "A unit-clustered DiD needs at least 3 units.",
            "Add units, or solve_for='sample_size' to see how many are needed.",
        )
    if request.solve_for == "mde" and request.mde is not None:
        raise ToolError("conflicting_unknowns", "mde was given but solve_for='mde' computes it.", "Set mde to null.")
    if request.solve_for != "mde" and request.mde is None:
        raise ToolError(
            "missing_mde",
            f"solve_for='{request.solve_for}' needs the effect (mde, absolute, in the outcome's units).",
            "Give mde, or solve_for='mde' to compute the smallest detectable effect.",
        )
    if request.solve_for == "power" and request.power is not None:
        raise ToolError(
            "conflicting_unknowns", "power was given but solve_for='power' computes it.", "Set power to null."
        )
    target = request.power if request.power is not None else DEFAULT_POWER
    if target <= request.alpha:
        raise ToolError(
            "power_not_above_alpha",
            f"Target power {target:g} is not above alpha {request.alpha:g}.",
            "Use a target power well above alpha; 0.8 or 0.9 are usual.",
        )
    effect = _absolute_effect(request) if request.mde is not None else 0.0
    return effect, target


def _validate_synth(request: PowerRequest, design: QuasiDesign) -> None:
    if design.treated != 1:
        raise ToolError(
            "synth_one_treated_unit",
            f"A synthetic control has one treated unit; design.treated is {design.treated}.",
            "Set treated=1 and control to the number of donors.",
        )
    if request.solve_for == "sample_size":
        raise ToolError(
            "synth_no_sample_size",
            "A synthetic control's size is its donor pool: solve_for='sample_size' does not apply.",
            "Use solve_for='mde' (the smallest detectable effect) or 'power' (for a given mde).",
        )
    if rejections_allowed(design.control, request.alpha) < 1:
        needed = math.ceil(1.0 / request.alpha - 1.0 - 1e-9)
        raise ToolError(
            "placebo_test_cannot_reject",
            f"With {design.control} donors the smallest placebo p-value is 1/{design.control + 1} = "
            f"{1.0 / (design.control + 1):.3g}, above alpha {request.alpha:g}: no effect, however large, can be "
            "declared significant.",
            f"Use at least {needed} donors, or a larger alpha (a p-value of 1/(J+1) is the best this test gives).",
        )


def _validate_size(design: QuasiDesign) -> None:
    """Refuse a design too large to simulate at interactive speed, with the closed form's way out."""
    periods = (design.pre or 0) + (design.post or 0)
    if design.kind == "rdd" and design.treated + design.control > MAX_RDD_UNITS:
        raise ToolError(
            "design_too_large_to_simulate",
            f"{design.treated + design.control:,} units within the bandwidth: more than the {MAX_RDD_UNITS:,} "
            "this tool simulates.",
            "At this size the closed form is accurate: SE = sqrt((72/7) std_dev² (1/n_below + 1/n_above)) for the "
            "robust test; or size a narrower bandwidth.",
        )
    if design.kind == "did" and periods > MAX_DID_PERIODS:
        raise ToolError(
            "design_too_large_to_simulate",
            f"{periods:,} periods: more than the {MAX_DID_PERIODS} this tool simulates.",
            "Aggregate the periods (days to weeks, weeks to months) and give the correlation at that scale.",
        )
    if design.kind == "synth" and (design.control + 1) * periods > MAX_SYNTH_CELLS:
        raise ToolError(
            "design_too_large_to_simulate",
            f"{design.control + 1:,} units x {periods:,} periods: more than the {MAX_SYNTH_CELLS:,} gaps per "
            "simulated placebo test this tool draws.",
            "Aggregate the periods, or keep the donors that fit the treated unit's pre-period well.",
        )
