"""Multiple-testing corrections, guardrail tests, per-comparison verdicts, and the ship / don't ship decision."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import special

from tools.ab_test.binary import TwoByTwo, binary_p, ratio_margin_z
from tools.ab_test.models import AdjustmentDetail, ArmDecision, CaceDetail, Comparison, CupedDetail, MetricSpec
from tools.ab_test.stats import ArmEstimate
from tools.literals import Decision
from tools.results import Estimate

__all__ = ["adjust", "decide", "guardrail_tests", "metric_label", "new_comparison", "quantile_label", "verdict"]


def new_comparison(
    spec: MetricSpec,
    arm: str,
    control_arm: str,
    control: ArmEstimate,
    treatment: ArmEstimate,
    absolute: Estimate,
    relative: Estimate | None,
    test: str,
    *,
    uncapped: Estimate | None = None,
    margin_p: float | None = None,
    cuped: CupedDetail | None = None,
    adjustment: AdjustmentDetail | None = None,
    cace: CaceDetail | None = None,
) -> Comparison:
    """One metric in one arm against control as tested, before the multiple-testing correction (the adjusted
    p-value is the raw one until :func:`adjust`) and the verdict (:func:`verdict`)."""
    guardrail = spec.role == "guardrail"
    return Comparison(
        metric=spec.name,
        role=spec.role,
        kind=spec.kind,
        quantile=spec.quantile,
        direction=spec.direction,
        arm=arm,
        control_arm=control_arm,
        n_control=control.n,
        n_treatment=treatment.n,
        control_mean=control.value,
        treatment_mean=treatment.value,
        absolute=absolute,
        relative=relative,
        test=test,
        cuped=cuped,
        adjustment=adjustment,
        cace=cace,
        uncapped=uncapped,
        p_value_raw=absolute.p_value,
        p_value_adjusted=absolute.p_value,
        non_inferiority_margin=spec.non_inferiority_margin if guardrail else None,
        non_inferiority_p_value=margin_p,
        verdict="no_detectable_change",
    )


def quantile_label(q: float) -> str:
    """``0.95`` as ``p95``, ``0.999`` as ``p99.9``."""
    return f"p{round(100 * q, 6):g}"


def metric_label(c: Comparison) -> str:
    """A comparison's metric as the reasons and the summary name it: 'latency', or p95 of 'latency'."""
    name = f"'{c.metric}'"
    return name if c.quantile is None else f"{quantile_label(c.quantile)} of {name}"


def adjust(p_values: Sequence[float], method: str) -> list[float]:
    """Holm's step-down or Benjamini-Hochberg's step-up adjusted p-values (``none`` returns them as given)."""
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    if method == "none" or m <= 1:
        return [float(v) for v in p]
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if method == "holm":
        steps = np.maximum.accumulate((m - np.arange(m)) * ranked)
    elif method == "benjamini-hochberg":
        steps = np.minimum.accumulate(m / np.arange(m, 0, -1) * ranked[::-1])[::-1]
    else:  # pragma: no cover - the request model restricts the choices
        raise ValueError(f"unknown correction {method!r}")
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(steps, 1.0)
    return [float(v) for v in adjusted]


def guardrail_tests(
    spec: MetricSpec,
    control: ArmEstimate,
    treatment: ArmEstimate,
    absolute: Estimate,
    relative: Estimate | None,
    counts: bool,
) -> tuple[float | None, float]:
    """A guardrail's one-sided p-values at its relative margin: (non-inferiority, harm beyond the margin); with
    no margin, or no relative lift to hold it against, (None, any significant harm).

    ``counts`` (a plain binary metric): the margin is tested on the risk ratio by the Farrington-Manning score
    test, whose variance is estimated under the margin (a margin is not a zero difference), and any harm by the
    metric's own test (pooled z or Fisher's exact). Other metrics: z-tests with the delta-method or unpooled
    standard errors. Either way the harm p-value is below alpha exactly when the one-sided interval lies beyond
    the margin."""
    sign = 1.0 if spec.direction == "increase" else -1.0
    margin = spec.non_inferiority_margin
    if margin is not None and relative is not None:
        if counts:
            z = sign * ratio_margin_z(control, treatment, 1.0 - sign * margin)
        else:
            z = (sign * relative.estimate + margin) / relative.std_error
        return float(special.ndtr(-z)), float(special.ndtr(z))
    if counts:
        return None, binary_p(TwoByTwo.of(control, treatment), "smaller" if sign > 0 else "larger")
    return None, float(special.ndtr(sign * absolute.estimate / absolute.std_error))


def verdict(alpha: float, c: Comparison, p_adjusted: float, harm_p: float | None) -> str:
    """Primary and secondary metrics: the corrected two- (or one-) sided test. Guardrails (``harm_p`` from
    ``guardrail_tests``): a one-sided question about harm at alpha, beyond the margin when one is tested."""
    if harm_p is None:
        if p_adjusted >= alpha:
            return "no_detectable_change"
        good = c.absolute.estimate > 0 if c.direction == "increase" else c.absolute.estimate < 0
        return "improvement" if good else "regression"
    if harm_p < alpha:
        return "breached"
    if c.non_inferiority_p_value is None:
        return "no_detectable_change"
    return "non_inferior" if c.non_inferiority_p_value < alpha else "not_shown_non_inferior"


def _good(comparison: Comparison) -> bool:
    """Whether the point estimate moved in the metric's good direction."""
    delta = comparison.absolute.estimate
    return delta > 0 if comparison.direction == "increase" else delta < 0


def _pct(value: float) -> str:
    return f"{value:+.2%}"


def decide_arm(arm: str, comparisons: list[Comparison], decision_rule: float | None, srm: str) -> ArmDecision:
    """One treatment arm's decision from its primary metrics and guardrails (``srm``: the sample-ratio check's
    status; a mismatch against the planned split, or against an equal split assumed for want of one, comes first)."""
    reasons: list[str] = []
    if srm == "fail":
        reasons.append("The sample ratio does not match the plan (SRM): the assignment cannot be trusted.")
        return ArmDecision(arm=arm, decision="investigate", reasons=reasons)
    if srm == "warn":  # not "broken": the design may be unequal on purpose, which only the user can say
        reasons.append(
            "The arms' sizes differ from an equal split, which the sample-ratio check assumed because no planned "
            "split was given: confirm the planned split (expected_split) before acting on this result."
        )
        return ArmDecision(arm=arm, decision="investigate", reasons=reasons)
    primaries = [c for c in comparisons if c.role == "primary"]
    guardrails = [c for c in comparisons if c.role == "guardrail"]
    blocked = False
    harmful = False
    for g in guardrails:
        if g.verdict == "breached":
            harmful = True
            reasons.append(f"Guardrail {metric_label(g)} is breached (relative change {_lift(g)}).")
        elif g.verdict == "not_shown_non_inferior":
            blocked = True
            reasons.append(
                f"Guardrail {metric_label(g)} is not shown to be within its {g.non_inferiority_margin:.2%} margin "
                f"(relative change {_lift(g)}, non-inferiority p = {g.non_inferiority_p_value:.3g})."
            )
    outcome: list[Decision] = []
    for c in primaries:
        rel = c.relative
        evidence = _evidence(c)
        if c.verdict == "regression":
            outcome.append("don't ship")
            reasons.append(f"Primary metric {metric_label(c)} got worse ({_lift(c)}, {evidence}).")
        elif c.verdict == "improvement":
            if decision_rule is not None and rel is not None and rel.estimate * _sign(c) < decision_rule:
                too_small = _rules_out(c, decision_rule)
                outcome.append("don't ship" if too_small else "inconclusive")
                reasons.append(
                    f"Primary metric {metric_label(c)} improved ({_lift(c)}, {evidence}) but by less "
                    f"than the {decision_rule:.2%} the decision rule requires"
                    + (" (the interval excludes it)." if too_small else ".")
                )
            else:
                outcome.append("ship")
                reasons.append(f"Primary metric {metric_label(c)} improved ({_lift(c)}, {evidence}).")
        else:
            rules_out = decision_rule is not None and rel is not None and _rules_out(c, decision_rule)
            outcome.append("don't ship" if rules_out else "inconclusive")
            change = "has not crossed its boundary yet" if _running(c) else "shows no detectable change"
            reasons.append(
                f"Primary metric {metric_label(c)} {change} ({_lift(c)}, {evidence})"
                + (f"; the interval rules out the {decision_rule:.2%} lift required." if rules_out else ".")
            )
    running = any(_running(c) for c in primaries)
    if harmful or "don't ship" in outcome:
        decision: Decision = "don't ship"
    elif outcome and all(o == "ship" for o in outcome) and not blocked:
        decision = "ship"
    elif running:
        decision = "continue"
        reasons.append("More data is planned: keep the experiment running; do not ship before a boundary is crossed.")
    else:
        decision = "inconclusive"
    if not primaries:
        reasons.append("No primary metric was given, so there is nothing to ship on.")
    return ArmDecision(arm=arm, decision=decision, reasons=reasons)


def _running(c: Comparison) -> bool:
    """Whether more data is planned for this primary comparison: an interim look of a sequential plan, or a
    confidence sequence short of the planned size."""
    if c.sequential is not None:
        return c.sequential.look < c.sequential.looks
    return c.always_valid is not None and not c.always_valid.stop


def _relative_bounds(c: Comparison) -> tuple[float | None, float | None]:
    """The relative lift's interval the decision reads: the repeated interval at a sequential look, the confidence
    sequence when monitored always-valid, else the fixed-horizon one."""
    if c.sequential is not None:
        return c.sequential.relative_ci_lower, c.sequential.relative_ci_upper
    if c.always_valid is not None:
        sequence = c.always_valid.relative
        return (sequence.ci_lower, sequence.ci_upper) if sequence is not None else (None, None)
    if c.relative is None:
        return None, None
    return c.relative.ci_lower, c.relative.ci_upper


def _rules_out(c: Comparison, decision_rule: float) -> bool:
    """Whether the interval excludes a lift as large as ``decision_rule`` in the good direction."""
    low, high = _relative_bounds(c)
    if c.direction == "increase":
        return high is not None and high < decision_rule
    return low is not None and -low < decision_rule


def _evidence(c: Comparison) -> str:
    """The test behind a primary verdict, in words: the p-value, or the look's boundary, or the sequence."""
    look = c.sequential
    if look is not None:
        return f"z = {look.statistic:.3g}, boundary {look.z_boundary:.3g} at look {look.look} of {look.looks}"
    if c.always_valid is not None:
        sequence = c.always_valid.absolute
        ends = [f"{x:+.4g}" if x is not None else "unbounded" for x in (sequence.ci_lower, sequence.ci_upper)]
        return f"confidence sequence {ends[0]} to {ends[1]}"
    return f"p = {c.p_value_adjusted:.3g}"


def _sign(comparison: Comparison) -> float:
    return 1.0 if comparison.direction == "increase" else -1.0


def _lift(comparison: Comparison) -> str:
    if comparison.relative is None:
        return f"{comparison.absolute.estimate:+.4g} absolute"
    return f"{_pct(comparison.relative.estimate)} relative"


def decide(
    arms: list[str],
    comparisons: list[Comparison],
    decision_rule: float | None,
    srm: str,
) -> tuple[list[ArmDecision], Decision, list[str]]:
    """Per-arm decisions and the overall one: ship the best shippable arm; otherwise say why not. A sample-ratio
    mismatch (``srm`` "fail", or "warn" against an assumed equal split) makes it "investigate" first."""
    per_arm = [decide_arm(arm, [c for c in comparisons if c.arm == arm], decision_rule, srm) for arm in arms]
    if srm in ("fail", "warn"):
        return per_arm, "investigate", per_arm[0].reasons
    shippable = [d for d in per_arm if d.decision == "ship"]
    if shippable:
        best = max(shippable, key=lambda d: _primary_gain(d.arm, comparisons))
        reasons = [f"Ship arm '{best.arm}'.", *best.reasons]
        if len(shippable) > 1:
            reasons.append(
                f"{len(shippable)} arms qualify; '{best.arm}' has the largest primary lift (the arms were not "
                "compared with each other)."
            )
        return per_arm, "ship", reasons
    if all(d.decision == "don't ship" for d in per_arm):
        return per_arm, "don't ship", [r for d in per_arm for r in (f"Arm '{d.arm}':", *d.reasons)]
    overall: Decision = "continue" if any(d.decision == "continue" for d in per_arm) else "inconclusive"
    return per_arm, overall, [r for d in per_arm for r in (f"Arm '{d.arm}':", *d.reasons)]


def _primary_gain(arm: str, comparisons: list[Comparison]) -> float:
    gains = [
        (c.relative.estimate if c.relative is not None else c.absolute.estimate) * _sign(c)
        for c in comparisons
        if c.arm == arm and c.role == "primary"
    ]
    return min(gains) if gains else 0.0
