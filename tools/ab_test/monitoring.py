"""Looking before the end: a group-sequential look (``sequential``) or always-valid confidence sequences
(``monitoring="always_valid"``) for ab_test's primary comparisons.

A sequential look tests each primary comparison against the boundary of its look (``tools.sequential.monitoring``:
Lan-DeMets spending at the information fraction actually reached, the earlier looks' actual fractions, all the
remaining alpha at the final look) and reports the repeated confidence intervals valid at that look whatever
happened before (Jennison & Turnbull 2000, ch. 9). Each comparison keeps its own statistic: Welch's t on the t
scale at the look's nominal level (continuous metrics), the z of a ratio or a metric summed per unit (delta
method), and for a plain binary metric the pooled score z, with Farrington-Manning score intervals of the difference
and of the risk ratio inverted at the look's critical value. So the final look of a one-look design reproduces the
fixed-horizon intervals bit for bit, and a repeated interval excludes 0 exactly when the boundary is crossed.

Always-valid monitoring gives each primary comparison asymptotic confidence sequences for the difference and the
relative lift (its delta-method standard error), tuned for the planned size (``tools.sequential.confidence_sequence``);
the pair's planned units are the plan's total times the pair's share of the units so far.

With more than one primary comparison and a correction asked for, each comparison's schedule (or sequence) runs at
alpha over their number (Bonferroni: Holm's step-down does not carry over to repeated looks simply). Guardrails and
secondary metrics keep their fixed-horizon tests at every look: a guardrail alarm at an interim look errs on the
side of caution (looking often raises false alarms; it never hides a harm), and shipping waits for a primary
boundary anyway.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tools.ab_test.binary import TwoByTwo, score_bounds, score_z_diff
from tools.ab_test.models import AbTestRequest, AlwaysValid, Comparison, SequenceBounds, SequentialLook, SequentialPlan
from tools.ab_test.stats import ArmEstimate
from tools.errors import ToolError
from tools.sequential.models import LookDecision

__all__ = [
    "Tested",
    "check_monitoring",
    "monitor",
    "monitoring_method",
    "monitoring_summary",
    "monitoring_warnings",
]

SPENDING_NAMES = {"obrien_fleming": "O'Brien-Fleming", "pocock": "Pocock"}


@dataclass(frozen=True)
class Tested:
    """A comparison as tested, with what a sequential look needs besides: the guardrail harm p-value, the Welch
    degrees of freedom (None: a z statistic), and the arms' estimates when the metric is a plain binary one (its
    statistic and intervals are the score ones)."""

    comparison: Comparison
    harm_p: float | None
    df: float | None
    counts: tuple[ArmEstimate, ArmEstimate] | None


def check_monitoring(request: AbTestRequest) -> None:
    """Refuse contradictory monitoring requests before any data is read."""
    plan = request.sequential
    if plan is not None and request.monitoring == "always_valid":
        raise ToolError(
            "sequential_and_always_valid",
            "A sequential plan and always-valid monitoring are two different ways of looking early; give one.",
            "Keep `sequential` when the looks were planned in advance (its boundaries are narrower); use "
            "monitoring='always_valid' with sequential null to look at any time.",
        )
    if plan is not None and plan.look > plan.looks:
        raise ToolError(
            "look_out_of_range",
            f"Look {plan.look} is not one of the {plan.looks} planned looks.",
            "Number the looks from 1; the final analysis is look number `looks`.",
        )
    if request.monitoring == "always_valid" and request.alternative != "two-sided" and request.alpha >= 0.5:
        raise ToolError(
            "alpha_out_of_range",
            f"A one-sided always-valid bound at alpha = {request.alpha:g} has no fixed-horizon interval to compare "
            "with (its critical value is 0).",
            "Use a smaller alpha (0.05 is usual), or a two-sided test.",
        )
    if request.monitoring == "always_valid" and request.planned_n_total is None:
        raise ToolError(
            "planned_n_needed",
            "Always-valid monitoring needs the planned total units (planned_n_total): the confidence sequence is "
            "tuned for it in advance, and tuning it to the data seen would void its guarantee.",
            "Give planned_n_total, e.g. the power tool's n_total for the planned test.",
        )


def monitor(request: AbTestRequest, tested: list[Tested], n_obs: int) -> list[Comparison]:
    """The comparisons with each primary one's look (``sequential``) or confidence sequences (``always_valid``)
    and its verdict from them; the others unchanged."""
    primary = [t for t in tested if t.comparison.role == "primary"]
    if not primary:
        raise ToolError(
            "no_primary_metric",
            "A sequential look or always-valid monitoring decides on primary metrics, and none was given.",
            "Mark the decision metric role='primary', or drop `sequential` / monitoring='always_valid'.",
        )
    share = request.alpha / len(primary) if request.correction != "none" and len(primary) > 1 else request.alpha
    plan = request.sequential
    fraction = None if plan is None else _fraction(plan, request.planned_n_total, n_obs)
    z_scale: dict[str, LookDecision] = {}
    out = []
    for t in tested:
        c = t.comparison
        if c.role != "primary":
            out.append(c)
        elif plan is not None:
            look = _look(request, plan, t, share, fraction, z_scale)
            out.append(c.model_copy(update={"sequential": look, "verdict": _verdict(c, look.crossed)}))
        else:
            assert request.planned_n_total is not None  # check_monitoring
            sequences = _sequences(request, c, share, request.planned_n_total, n_obs)
            out.append(
                c.model_copy(update={"always_valid": sequences, "verdict": _verdict(c, sequences.absolute.crossed)})
            )
    return out


def _fraction(plan: SequentialPlan, planned_n: int | None, n_obs: int) -> float | None:
    """This look's information fraction: as given, else units so far over the planned total, else the plan's."""
    if plan.information_fraction is not None:
        return plan.information_fraction
    if planned_n is not None:
        return n_obs / planned_n
    return None


def _look(
    request: AbTestRequest,
    plan: SequentialPlan,
    t: Tested,
    share: float,
    fraction: float | None,
    z_scale: dict[str, LookDecision],
) -> SequentialLook:
    from tools.sequential.monitoring import look_decision  # the boundaries' integration: only when looking early

    c = t.comparison
    alternative = request.alternative

    def at_look(statistic: float, std_error: float, df: float | None = None) -> LookDecision:
        return look_decision(
            statistic,
            std_error,
            look=plan.look,
            looks=plan.looks,
            spending=plan.spending,
            alpha=share,
            alternative=alternative,
            information_fraction=fraction,
            previous_fractions=plan.previous_fractions,
            df=df,
        )

    lift: tuple[float | None, float | None] | None = None
    if t.counts is not None:  # the pooled score z, as the fixed test; intervals inverted at the look's critical z
        control, treatment = t.counts
        decision = at_look(score_z_diff(TwoByTwo.of(control, treatment), 0.0), 1.0)
        absolute, lift = score_bounds(control, treatment, decision.critical_value, alternative, c.relative is not None)
    else:
        decision = at_look(c.absolute.estimate, c.absolute.std_error, t.df)
        absolute = (decision.ci_lower, decision.ci_upper)
        if c.relative is not None:
            if t.df is not None and "z" not in z_scale:  # the lift is a z statistic (delta method), as when fixed
                z_scale["z"] = at_look(0.0, 1.0)
            critical = decision.critical_value if t.df is None else z_scale["z"].critical_value
            half = critical * c.relative.std_error
            lift = (
                c.relative.estimate - half if alternative != "smaller" else None,
                c.relative.estimate + half if alternative != "larger" else None,
            )
    if c.relative is None:
        lift = None
    words = decision.decision
    if decision.crossed and decision.look < decision.looks and _verdict(c, True) == "regression":
        words = f"stop for harm: the boundary is crossed at look {plan.look} of {plan.looks}, in the bad direction"
    return SequentialLook(
        **decision.model_dump(exclude={"ci_lower", "ci_upper", "decision"}),
        decision=words,
        ci_lower=absolute[0],
        ci_upper=absolute[1],
        relative_ci_lower=lift[0] if lift else None,
        relative_ci_upper=lift[1] if lift else None,
        alpha_share=share,
    )


def _sequences(request: AbTestRequest, c: Comparison, share: float, planned_n: int, n_obs: int) -> AlwaysValid:
    from tools.sequential.confidence_sequence import confidence_sequence

    n = c.n_control + c.n_treatment
    target = max(2, round(planned_n * n / n_obs))  # the pair's planned units: its share of the plan
    absolute = confidence_sequence(
        c.absolute.estimate, c.absolute.std_error, n, target_n=target, alpha=share, alternative=request.alternative
    )
    relative = None
    if c.relative is not None:
        relative = confidence_sequence(
            c.relative.estimate, c.relative.std_error, n, target_n=target, alpha=share, alternative=request.alternative
        )
    if absolute.crossed:
        words = "stop: the confidence sequence excludes 0"
    elif n_obs < planned_n:
        words = f"continue: {n_obs:,} of the planned {planned_n:,} units"
    else:
        words = "planned size reached: not significant"
    return AlwaysValid(
        absolute=SequenceBounds.of(absolute),
        relative=SequenceBounds.of(relative) if relative is not None else None,
        alpha_share=share,
        stop=absolute.crossed or n_obs >= planned_n,
        decision=words,
    )


def _verdict(c: Comparison, crossed: bool) -> str:
    if not crossed:
        return "no_detectable_change"
    good = c.absolute.estimate > 0 if c.direction == "increase" else c.absolute.estimate < 0
    return "improvement" if good else "regression"


# --- words ---------------------------------------------------------------------------------------------------------


def level(alpha: float) -> str:
    """A confidence level in percent without spurious digits: 95%, 97.5%."""
    return f"{100 * (1 - alpha):.4g}%"


def monitoring_method(request: AbTestRequest, comparisons: list[Comparison]) -> str | None:
    """The method text of the sequential look or the confidence sequences (None for a fixed analysis)."""
    primary = [c for c in comparisons if c.role == "primary"]
    share = _share_text(request, primary)
    plan = request.sequential
    if plan is not None:
        look = next(c.sequential for c in primary if c.sequential is not None)
        where = f"at information fraction {look.information_fraction:.4g}" + (
            " (boundary recomputed: the fractions differ from the plan)" if look.recomputed else ""
        )
        return (
            f"sequential: look {look.look} of {look.looks}, Lan-DeMets {SPENDING_NAMES[look.spending]}-type alpha "
            f"spending {where}; each primary comparison against this look's boundary (continuous: Welch t at the "
            "look's nominal level; binary: the pooled score z, score intervals at the boundary; ratio: z), with "
            f"repeated confidence intervals valid at this look{share}; guardrails and secondary metrics keep "
            "fixed-horizon tests"
        )
    if request.monitoring == "always_valid":
        first = next(c.always_valid for c in primary if c.always_valid is not None)
        return (
            f"always-valid monitoring: {first.absolute.method.rstrip('.')} (difference; the relative lift's with its "
            f"delta-method standard error){share}; guardrails and secondary metrics keep fixed-horizon tests"
        )
    return None


def _share_text(request: AbTestRequest, primary: list[Comparison]) -> str:
    if request.correction != "none" and len(primary) > 1:
        return f"; alpha {request.alpha:g} split equally over the {len(primary)} primary comparisons (Bonferroni)"
    return ""


def monitoring_warnings(request: AbTestRequest, comparisons: list[Comparison]) -> list[str]:
    """What the user must know about an interim look."""
    primary = [c for c in comparisons if c.role == "primary"]
    warnings = []
    interim = any(
        (c.sequential is not None and c.sequential.look < c.sequential.looks)
        or (c.always_valid is not None and not c.always_valid.stop)
        for c in primary
    )
    if interim:
        what = "`sequential`" if request.sequential is not None else "`always_valid`"
        warnings.append(
            "Interim analysis: the fixed-horizon p-values and intervals (absolute, relative, p_value_adjusted) are "
            f"not valid for a decision now, as looking early inflates false positives; decide on {what}."
        )
    if any(c.role == "guardrail" for c in comparisons):
        warnings.append(
            "Guardrails are tested fixed-horizon at every look: repeated looks raise false harm alarms (they never "
            "hide harm), so confirm an interim breach before stopping for it."
        )
    return warnings


def monitoring_summary(c: Comparison) -> str | None:
    """One primary comparison's clause of the summary under a sequential look or confidence sequences."""
    head = f"'{c.metric}' in {c.arm} vs {c.control_arm}"
    look = c.sequential
    if look is not None:
        effect = _effect(
            c,
            look.alpha_share,
            "repeated",
            (look.relative_ci_lower, look.relative_ci_upper),
            (look.ci_lower, look.ci_upper),
        )
        test = (
            f"look {look.look} of {look.looks} at {look.information_fraction:.0%} of the information: z = "
            f"{look.statistic:.3g} against the boundary {look.z_boundary:.3g} (nominal p {look.nominal_p:.3g})"
        )
        naive = ""
        if look.look < look.looks and not look.crossed and c.p_value_adjusted < look.alpha_share:
            naive = f" (a fixed-horizon test would say p = {c.p_value_adjusted:.3g}, not valid at an interim look)"
        return f"{head}: {effect}; {test}: {look.decision}{naive}"
    sequences = c.always_valid
    if sequences is not None:
        relative = sequences.relative
        effect = _effect(
            c,
            sequences.alpha_share,
            "always-valid",
            (relative.ci_lower, relative.ci_upper) if relative else (None, None),
            (sequences.absolute.ci_lower, sequences.absolute.ci_upper),
        )
        return (
            f"{head}: {effect}, {sequences.absolute.width_ratio:.3g} times as wide as the fixed-horizon interval "
            f"(tuned for {sequences.absolute.target_n:,} units): {sequences.decision}"
        )
    return None


Bounds = tuple[float | None, float | None]


def _effect(c: Comparison, alpha: float, kind: str, relative: Bounds, absolute: Bounds) -> str:
    """'+2.10% relative (repeated 95% CI -1.00% to +5.20%)', or the absolute difference when there is no lift."""
    name = f"{kind} {level(alpha)} {'CI' if kind == 'repeated' else 'CS'}"
    if c.relative is not None:
        low, high = relative
        return f"{c.relative.estimate:+.2%} relative ({name} {_end(low, '%')} to {_end(high, '%')})"
    low, high = absolute
    return f"{c.absolute.estimate:+.4g} ({name} {_end(low, 'g')} to {_end(high, 'g')})"


def _end(value: float | None, style: str) -> str:
    if value is None or not math.isfinite(value):
        return "unbounded"
    return f"{value:+.2%}" if style == "%" else f"{value:+.4g}"
