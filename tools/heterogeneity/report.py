"""The heterogeneity tool's estimand, method text, checks, warnings and summary (numbers quoted are the result's
own)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from tools.data.names import display_name
from tools.heterogeneity.inputs import MIN_PER_GROUP, HeterogeneityData
from tools.heterogeneity.learners import PROPENSITY_CLIP
from tools.heterogeneity.models import BLP, GatesGroup, HeterogeneityRequest, NuisanceFit, TargetingRow
from tools.propensity.models import Overlap
from tools.results import Check, Estimate

__all__ = ["Findings", "checks_and_warnings", "describe_estimand", "describe_method", "summary"]

#: Units per GATES group below which the groups' estimates are noisy (warn).
SMALL_GROUP: Final = 100
#: Repetitions below which the median rule has little to work with (warn).
FEW_REPETITIONS: Final = 5
#: A designed assignment probability the observed share contradicts at this p-value (fail).
SHARE_P: Final = 0.001
#: Share of units with propensities outside [0.05, 0.95] that makes the overlap check warn.
EXTREME_SHARE: Final = 0.05
#: A single unit's share of its arm's inverse-propensity weight that makes the overlap check warn.
WEIGHT_SHARE: Final = 0.05


@dataclass(frozen=True)
class Findings:
    """The numbers the words are built from."""

    effect: Estimate
    blp: BLP
    heterogeneity_found: bool
    gates: list[GatesGroup]
    targeting: list[TargetingRow]
    recommended_share: float | None
    nuisance: NuisanceFit
    overlap: Overlap | None
    n_obs: int
    n_treated: int
    known_propensity: float | None
    split_rejections: int
    group_size: int


def _q(name: str) -> str:
    return f"'{display_name(name, 40)}'"


def _names(names: list[str]) -> str:
    return ", ".join(_q(n) for n in names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")


def describe_estimand(request: HeterogeneityRequest, data: HeterogeneityData) -> str:
    """Whom the numbers speak for."""
    return (
        f"The average effect (ATE) of {_q(request.treatment)} = {data.treated_value!r} on {_q(request.outcome)}, and "
        f"how it varies with {_names(list(dict.fromkeys(request.effect_modifiers)))}: the conditional average "
        "treatment effect (CATE), summarised by what a model trained on other units can reliably find (BLP, GATES, "
        "CLAN), the effects in the pre-specified subgroups, and the value of targeting the units predicted to "
        "benefit most."
    )


def describe_method(request: HeterogeneityRequest, data: HeterogeneityData) -> str:
    """Learners, cross-fitting, splits and tests, in words."""
    if request.randomized:
        score = (
            f"the designed assignment probability {request.propensity:g}"
            if request.propensity is not None
            else "the observed treated share as the (constant) assignment probability"
        )
    else:
        score = (
            f"a cross-fitted propensity model (gradient boosting, clipped to [{PROPENSITY_CLIP:g}, "
            f"{1 - PROPENSITY_CLIP:g}])"
        )
    return (
        f"Doubly robust scores: outcome models per arm (scikit-learn histogram gradient boosting with early "
        f"stopping) on {len(data.covariate_columns) + len(request.effect_modifiers)} column(s) of covariates and "
        f"modifiers, cross-fitted on {request.folds} folds stratified by arm, with {score}; the ATE is their mean "
        "(AIPW) with a normal interval. DR-learner (Kennedy): a gradient boosting regression of the scores on the "
        f"modifiers. Inference that holds under the cross-fitting (Chernozhukov, Demirer, Duflo & Fernández-Val): "
        f"{request.repetitions} random splits, each training the DR-learner on one half (stratified by arm) and "
        "evaluating its predictions on the other: BLP (the scores regressed on the centred prediction, HC1), GATES "
        "(mean score by fifth of prediction), CLAN (modifier means of the top and bottom fifths, Welch), targeting "
        "gains and the Qini coefficient (QINI RATE of Yadlowsky et al.); the splits combined by the median rule "
        f"(medians of the estimates and of the splits' {1 - request.alpha / 2:.4g} bounds, p = 2 x median p). "
        "T-learner baseline: mu1 - mu0 from the outcome models, evaluated fold by fold, same rule. Subgroups: the "
        "mean score per level, Holm over every level, a Wald chi-square test of equal effects per column. No "
        "segment is searched for after the fact: only pre-specified subgroups are tested."
    )


def _assignment_check(request: HeterogeneityRequest, findings: Findings) -> tuple[Check, str | None]:
    share = findings.n_treated / findings.n_obs
    if request.propensity is None:
        return (
            Check(
                name="assignment",
                status="not_tested",
                detail=f"Randomized with a constant probability, estimated by the treated share {share:.4g}; the "
                "design's own share (give `propensity`) would let the sample ratio be checked.",
            ),
            None,
        )
    p = request.propensity
    z = (share - p) / math.sqrt(p * (1 - p) / findings.n_obs)
    p_value = math.erfc(abs(z) / math.sqrt(2))
    broken = p_value < SHARE_P
    detail = f"Treated share {share:.4g} against the designed {p:g} (binomial z = {z:.3g}, p = {p_value:.3g}); " + (
        "a sample ratio mismatch: the assignment may not be what was designed." if broken else "consistent."
    )
    warning = (
        f"SAMPLE RATIO MISMATCH: {share:.4g} of units are treated but the design says {p:g} (p = {p_value:.3g}); "
        "check the assignment and logging before trusting any comparison."
        if broken
        else None
    )
    return Check(name="assignment", status="fail" if broken else "pass", detail=detail), warning


def _overlap_check(overlap: Overlap, clipped: int, auc: float | None) -> tuple[Check, list[str]]:
    ranges = (
        f"propensity scores: treated {overlap.min_treated:.3f} to {overlap.max_treated:.3f}, control "
        f"{overlap.min_control:.3f} to {overlap.max_control:.3f}; {overlap.share_below_05:.1%} below 0.05, "
        f"{overlap.share_above_95:.1%} above 0.95; largest weight {overlap.largest_weight_share:.1%} of its arm"
        + (f"; propensity model AUC {auc:.3f}" if auc is not None else "")
    )
    warnings: list[str] = []
    extreme = overlap.share_below_05 + overlap.share_above_95
    if clipped:
        status = "fail"
        warnings.append(
            f"OVERLAP: {clipped:,} unit(s) have propensity scores beyond [{PROPENSITY_CLIP:g}, "
            f"{1 - PROPENSITY_CLIP:g}] (clipped): almost nobody like them is in the other arm, so their effects rest "
            "on extrapolation. Restrict the data to comparable units or add what explains the choice."
        )
    elif extreme > EXTREME_SHARE or overlap.largest_weight_share > WEIGHT_SHARE:
        status = "warn"
        warnings.append(
            f"Weak overlap: {extreme:.1%} of units have propensity scores outside [0.05, 0.95]; effects there are "
            "noisy."
        )
    else:
        status = "pass"
    detail = ranges + (f"; {clipped:,} clipped to [{PROPENSITY_CLIP:g}, {1 - PROPENSITY_CLIP:g}]." if clipped else ".")
    return Check(name="overlap", status=status, detail=detail), warnings


def checks_and_warnings(
    request: HeterogeneityRequest, data: HeterogeneityData, findings: Findings
) -> tuple[list[Check], list[str]]:
    """Assignment or overlap, nuisance fit, group sizes, split stability, the assumptions, and their warnings."""
    checks: list[Check] = []
    warnings: list[str] = []
    if request.randomized:
        check, warning = _assignment_check(request, findings)
        checks.append(check)
        if warning:
            warnings.append(warning)
    elif findings.overlap is not None:
        check, found = _overlap_check(
            findings.overlap, findings.nuisance.propensity_clipped, findings.nuisance.propensity_auc
        )
        checks.append(check)
        warnings.extend(found)
    fit = findings.nuisance
    poor = min(fit.outcome_r2_control, fit.outcome_r2_treated) < 0
    checks.append(
        Check(
            name="outcome_models",
            status="warn" if poor else "pass",
            detail=f"Out-of-fold R-squared of the outcome models: control {fit.outcome_r2_control:.3g}, treated "
            f"{fit.outcome_r2_treated:.3g}"
            + (
                " — below 0, worse than the arm's mean: the scores are noisier than they need be (valid, less precise)."
                if poor
                else "."
            ),
        )
    )
    small = findings.group_size < SMALL_GROUP
    checks.append(
        Check(
            name="group_size",
            status="warn" if small else "pass",
            detail=f"{findings.group_size:,} units per GATES group in each evaluation half (at least "
            f"{MIN_PER_GROUP} required, {SMALL_GROUP} advised)"
            + ("; the group estimates are noisy." if small else "."),
        )
    )
    few = request.repetitions < FEW_REPETITIONS
    checks.append(
        Check(
            name="split_stability",
            status="warn" if few else "pass",
            detail=f"{findings.split_rejections} of {request.repetitions} split(s) find heterogeneity on their own "
            f"(positive loading, two-sided p below {request.alpha / 2:g}); the median rule needs more than half."
            + (" Few repetitions: the answer still depends on the random split." if few else ""),
        )
    )
    if data.post_treatment:
        names = _names(data.post_treatment)
        checks.append(
            Check(
                name="pre_treatment_modifiers",
                status="warn",
                detail=f"Column(s) {names} may be measured after the treatment, by their names.",
            )
        )
        warnings.insert(
            0,
            f"The column(s) {names} look measured after the treatment (by name). A modifier or covariate the "
            "treatment can change makes every effect here uninterpretable; use values from before the treatment.",
        )
    else:
        checks.append(
            Check(
                name="pre_treatment_modifiers",
                status="not_tested",
                detail="Assumed: every modifier and covariate was measured before the treatment.",
            )
        )
    if not request.randomized:
        checks.append(
            Check(
                name="no_unmeasured_confounding",
                status="not_tested",
                detail="Assumed: the covariates hold every reason for taking the treatment that also affects the "
                "outcome; the refute tool's sensitivity analysis of the propensity tool speaks to it.",
            )
        )
    checks.append(
        Check(
            name="post_hoc_segments",
            status="not_tested",
            detail="Segments found by slicing the results until one lights up are not offered: with enough slices "
            "one always does. GATES groups come from a model trained on other units, and only the pre-specified "
            "subgroups are tested (Holm over all their levels).",
        )
    )
    if fit.outcome_r2_control < 0 or fit.outcome_r2_treated < 0:
        warnings.append(
            "An outcome model predicts worse than the arm's mean out of fold: drop covariates that do not matter, "
            "or use more data; the estimates stay valid but lose precision."
        )
    if not findings.heterogeneity_found:
        warnings.append(
            "No heterogeneity the model can detect: the differences between GATES groups, CLAN and subgroups are "
            "within what noise produces; act on the average effect, and do not target on these predictions."
        )
    elif findings.recommended_share is None:
        warnings.append(
            "The effect varies, but treating only a top share does not beat treating everyone significantly: the "
            "least affected units still benefit (or the difference is too uncertain)."
        )
    warnings.extend(data.notes)
    return checks, warnings


def summary(request: HeterogeneityRequest, findings: Findings) -> str:
    """One sentence from the result's own numbers."""
    level = f"{1 - request.alpha:.0%}"
    effect, het = findings.effect, findings.blp.heterogeneity
    low, high = findings.gates[0], findings.gates[-1]
    text = (
        f"Average effect of {_q(request.treatment)} on {_q(request.outcome)}: {effect.estimate:+.4g} ({level} CI "
        f"{effect.ci_lower:+.4g} to {effect.ci_upper:+.4g}); "
    )
    splits = f"median over {request.repetitions} split(s)"
    if findings.heterogeneity_found:
        text += (
            f"the effect varies: heterogeneity loading {het.estimate:.3g} (p = {het.p_value:.3g}, {splits}), from "
            f"{low.estimate:+.4g} in the least to {high.estimate:+.4g} in the most affected fifth"
        )
        chosen = next((r for r in findings.targeting if r.share == findings.recommended_share), None)
        if chosen is not None:
            gain = chosen.gain_vs_all
            text += (
                f"; treating only the top {chosen.share:.0%} instead of everyone gains {gain.estimate:+.4g} per unit "
                f"({level} CI {gain.ci_lower:+.4g} to {gain.ci_upper:+.4g})"
            )
        else:
            text += "; no top share beats treating everyone significantly"
    else:
        text += (
            f"no heterogeneity the model can detect (loading {het.estimate:.3g}, p = {het.p_value:.3g}, {splits}); "
            f"the spread from {low.estimate:+.4g} to {high.estimate:+.4g} across fifths is within noise, so act on "
            "the average effect"
        )
    return text + "."
