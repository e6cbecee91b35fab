"""ab_test's words: the warnings about particular comparisons and the summary sentence."""

from __future__ import annotations

from tools.ab_test.binary import EXACT_BELOW, FISHER_TEST
from tools.ab_test.decision import metric_label
from tools.ab_test.exposure import exposure_summary
from tools.ab_test.models import AbTestRequest, Comparison, SrmResult
from tools.ab_test.monitoring import monitoring_summary
from tools.data.names import display_name

__all__ = ["exact_test_warnings", "no_lift_warnings", "summary"]


def exact_test_warnings(comparisons: list[Comparison]) -> list[str]:
    """Say where a binary metric's counts were too small for the z-test, and what replaced it."""
    return [
        f"Metric '{c.metric}' in '{display_name(c.arm)}': an expected count is below {EXACT_BELOW:g} "
        f"({c.control_mean * c.n_control:.0f} events in {c.n_control:,} control units, "
        f"{c.treatment_mean * c.n_treatment:.0f} in {c.n_treatment:,}), too few for the z-test's normal "
        "approximation: its p-value is Fisher's exact test (conservative) and its intervals are score intervals."
        for c in comparisons
        if c.test == FISHER_TEST
    ]


def no_lift_warnings(comparisons: list[Comparison]) -> list[str]:
    """Say why a comparison has no relative lift, and what that changes for a guardrail's relative margin."""
    notes = []
    for c in comparisons:
        if c.relative is not None:
            continue
        note = (
            f"Metric '{c.metric}' in '{display_name(c.arm)}': no relative lift is reported, because the control mean "
            f"({c.control_mean:.6g}) is zero or negligible beside the treatment mean ({c.treatment_mean:.6g}) or "
            "the lift has no variance; read the absolute difference."
        )
        if c.non_inferiority_margin is not None:
            note += (
                f" Its non-inferiority margin ({c.non_inferiority_margin:g}, relative) could not be tested: the "
                "guardrail verdict is the one-sided test for any significant harm."
            )
        notes.append(note)
    return notes


def summary(request: AbTestRequest, comparisons: list[Comparison], srm: SrmResult, decision: str) -> str:
    """One sentence: the decision, each primary comparison (its look or confidence sequence when watched early), SRM."""
    if srm.status == "warn":
        srm_text = (
            f"SRM check: arm sizes differ from the equal split it assumed (p = {srm.p_value:.3g}); give the planned "
            "split (expected_split) to check it"
        )
    else:
        srm_text = f"SRM check {'FAILED' if srm.status == 'fail' else 'passed'} (p = {srm.p_value:.3g})"
    primary = [c for c in comparisons if c.role == "primary"]
    if not primary:
        return f"Decision: {decision}; {srm_text}; no primary metric was given."
    parts = []
    level = f"{1 - request.alpha:.0%}"
    for c in primary:
        watched = monitoring_summary(c)
        if watched is not None:
            parts.append(watched + exposure_summary(c, level))
            continue
        adjusted = f" ({c.adjustment.description})" if c.adjustment is not None else ""
        parts.append(
            f"{metric_label(c)} in {c.arm} vs {c.control_arm}: {_effect(c, level)}{adjusted}, "
            f"p = {c.p_value_adjusted:.3g}" + exposure_summary(c, level)
        )
    closing = ""
    for c in comparisons:  # why a winning primary metric does not ship: said in the same sentence as the decision
        if c.role == "guardrail" and c.verdict == "breached":
            closing += f" Guardrail {metric_label(c)} in {c.arm} is breached: {_effect(c, level)}."
    if decision == "continue":
        closing += " No ship before a boundary is crossed: keep the experiment running."
    if request.interval == "bootstrap":
        name = "BCa" if request.bootstrap_method == "bca" else "percentile"
        parts[-1] += f" (bootstrap {name}, {request.bootstrap_replicates:,} resamples, seed {request.seed})"
    return f"Decision: {decision}. " + "; ".join(parts) + f". {srm_text}.{closing}"


def _effect(c: Comparison, level: str) -> str:
    """A comparison's effect in words: the relative lift with its interval, else the difference with its own."""
    if c.relative is not None:
        return (
            f"{c.relative.estimate:+.2%} relative ({level} CI {c.relative.ci_lower:+.2%} to {c.relative.ci_upper:+.2%})"
        )
    return f"{c.absolute.estimate:+.4g} ({level} CI {c.absolute.ci_lower:+.4g} to {c.absolute.ci_upper:+.4g})"
