"""ab_test's words about the effects by exposure period (``novelty``): the checks, the warnings when the effect
changes, the decision's reasons to ship on the long-run effect, the summary's clause and the method."""

from __future__ import annotations

from tools.ab_test.models import AbTestRequest, ArmDecision, Comparison
from tools.ab_test.novelty import MAX_PERIODS
from tools.data.names import display_name
from tools.results import Check, Estimate

__all__ = ["novelty_checks", "novelty_method", "novelty_reasons", "novelty_summary"]


def _q(name: str) -> str:
    return f"'{display_name(name, 40)}'"


def _where(c: Comparison, arms: int) -> str:
    return f"{_q(c.metric)}" + (f" in {_q(c.arm)}" if arms > 1 else "")


def _range(e: Estimate) -> str:
    return f"{e.estimate:+.4g} ({1 - e.alpha:.0%} CI {e.ci_lower:+.4g} to {e.ci_upper:+.4g})"


def _late_reading(c: Comparison, alpha: float) -> str:
    detail = c.novelty
    assert detail is not None
    late = detail.late
    if late.p_value >= alpha:
        return "which shows no detectable change"
    good = late.estimate > 0 if c.direction == "increase" else late.estimate < 0
    return "which shows an improvement" if good else "which shows harm"


def novelty_checks(request: AbTestRequest, comparisons: list[Comparison]) -> tuple[list[Check], list[str]]:
    """A check per comparison (its trend and early-against-late test) and warnings when the effect changes: the
    early effect better than the late one beyond chance (novelty), or worse (primacy, learning)."""
    checks: list[Check] = []
    warnings: list[str] = []
    treated = len({c.arm for c in comparisons})
    alpha = request.alpha
    notes = {c.novelty.rows_without_period for c in comparisons if c.novelty is not None}
    if any(notes):
        warnings.append(
            f"Rows without a value of {_q(request.exposure_time_column or '')} were left out of the effects by "
            f"period (up to {max(notes):,} per metric); the overall comparisons use them."
        )
    for c in comparisons:
        detail = c.novelty
        if detail is None:
            continue
        where = _where(c, treated)
        gap = detail.early_minus_late
        sign = 1.0 if c.direction == "increase" else -1.0
        changed = gap.p_value < alpha
        flagged = detail.trend.p_value < alpha or changed
        checks.append(
            Check(
                name=f"effect_trend:{c.metric}" + (f":{c.arm}" if treated > 1 else ""),
                status="warn" if flagged else "pass",
                detail=f"Effect of {where} over {len(detail.periods)} periods of {_q(detail.exposure_time_column)}: "
                f"trend {detail.trend.estimate:+.4g} per period (p = {detail.trend.p_value:.3g}); first "
                f"{detail.early_periods} period(s) {_range(detail.early)}, last {detail.late_periods} "
                f"{_range(detail.late)}, difference p = {gap.p_value:.3g} (warns below alpha {alpha:g}).",
            )
        )
        if changed and sign * gap.estimate > 0:
            warnings.append(
                f"NOVELTY EFFECT in {where}: the early effect {_range(detail.early)} exceeds the late one "
                f"{_range(detail.late)} beyond chance (difference p = {gap.p_value:.3g}): the effect fades with "
                "exposure, so the average over the experiment overstates what shipping will bring. Read `late`; "
                "run longer if the latest periods are short."
            )
        elif changed:
            warnings.append(
                f"GROWING EFFECT in {where}: the late effect {_range(detail.late)} is better than the early one "
                f"{_range(detail.early)} beyond chance (difference p = {gap.p_value:.3g}): users are still "
                "learning the change (primacy), so the average understates its long-run effect. Read `late`."
            )
    return checks, warnings


def novelty_reasons(
    request: AbTestRequest, comparisons: list[Comparison], decisions: list[ArmDecision], reasons: list[str]
) -> tuple[list[ArmDecision], list[str]]:
    """The decision's reasons with, for each primary comparison whose effect trends, that the long-run effect (the
    latest periods') is the one to ship on."""
    alpha = request.alpha
    added: dict[str, list[str]] = {}
    for c in comparisons:
        detail = c.novelty
        if c.role != "primary" or detail is None or detail.trend_verdict == "no_trend":
            continue
        moves = "declines" if detail.trend_verdict == "declining" else "grows"
        added.setdefault(c.arm, []).append(
            f"The effect of primary metric {_q(c.metric)} in {_q(c.arm)} {moves} over exposure time (trend "
            f"{detail.trend.estimate:+.4g} per period, p = {detail.trend.p_value:.3g}): ship on the long-run "
            f"effect, the latest {detail.late_periods} period(s)' {_range(detail.late)}, {_late_reading(c, alpha)}, "
            f"not on the average {c.absolute.estimate:+.4g}."
        )
    if not added:
        return decisions, reasons
    updated = [d.model_copy(update={"reasons": [*d.reasons, *added.get(d.arm, [])]}) for d in decisions]
    return updated, [*reasons, *(r for d in decisions for r in added.get(d.arm, []))]


def novelty_summary(comparisons: list[Comparison]) -> str:
    """A sentence for the summary when a primary comparison's effect trends (empty otherwise)."""
    parts = [
        f"{_q(c.metric)} in {_q(c.arm)}: trend p = {detail.trend.p_value:.3g}, latest periods {_range(detail.late)}"
        for c in comparisons
        if c.role == "primary" and (detail := c.novelty) is not None and detail.trend_verdict != "no_trend"
    ]
    if not parts:
        return ""
    return " The effect changes over exposure time (" + "; ".join(parts) + "): ship on the latest periods' effect."


def novelty_method(request: AbTestRequest) -> str:
    """The method's words for the effects by period."""
    return (
        f"effects by period of {_q(request.exposure_time_column or '')} (its distinct values, or up to "
        f"{MAX_PERIODS} bins of about equal rows): difference of means (ratio of sums) per period with the unpooled "
        "delta-method standard error (n - 1) and a normal interval, the comparison's capping and CUPED theta kept; "
        "trend test: generalised least squares of the per-period effects on the period index with their covariance "
        "known (inverse-variance weights; a cluster sandwich across periods with cluster_column), z-test of the "
        "slope; early and late: the first and last ceil(periods / 3) periods pooled the same way; not corrected "
        "for multiple testing"
    )
