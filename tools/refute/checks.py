"""The generic simulation checks: from the re-estimates to a stated null, the numbers and a verdict.

Thresholds (stated in every check's detail):
- "centres on 0" (placebo, dummy outcome): the mean of the draws is within 3.29 Monte-Carlo standard errors of 0
  (a two-sided test at 0.001, so a sound analysis fails it about once in a thousand runs);
- "does not move" (random common cause) and "stable" (subsets): within half the original standard error;
- bootstrap: the bootstrap standard error at most 1.5 times the analytic one, and both intervals agreeing on
  whether 0 is excluded.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from tools.refute.engine import Draws
from tools.refute.models import Distribution, RefuteCheck
from tools.results import Estimate

__all__ = [
    "CENTRE_Z",
    "MIN_SHARE_OK",
    "bootstrap_check",
    "distribution",
    "dummy_outcome_check",
    "inconclusive",
    "placebo_check",
    "random_cause_check",
    "subset_check",
]

CENTRE_Z = 3.29  # two-sided 0.001
STABLE_SE = 0.5
BOOTSTRAP_RATIO = 1.5
MIN_SHARE_OK = 0.5
MIN_DRAWS = 10

NULLS = {
    "placebo_treatment": "With the treatment re-assigned at random, there is no effect: the placebo estimates centre "
    "on 0 and the real estimate lies outside them.",
    "random_common_cause": "Adding an independent random covariate does not move the estimate.",
    "data_subset": "Re-estimated on random subsets of units, the estimate stays where it was.",
    "bootstrap": "Resampling units gives the same uncertainty as the analytic standard error.",
    "dummy_outcome": "With the outcome replaced by independent noise, the estimated effect is 0.",
}


def distribution(draws: Draws, alpha: float) -> Distribution | None:
    values = draws.estimates
    if len(values) < 2:
        return None
    return Distribution(
        draws=len(values),
        failed_draws=len(draws.values) - len(values),
        mean=float(values.mean()),
        std_dev=float(values.std(ddof=1)),
        lower=float(np.quantile(values, alpha / 2)),
        upper=float(np.quantile(values, 1 - alpha / 2)),
        minimum=float(values.min()),
        maximum=float(values.max()),
    )


def inconclusive(name: str, procedure: str, reason: str, dist: Distribution | None = None) -> RefuteCheck:
    return RefuteCheck(
        name=name,
        null=NULLS.get(name, ""),
        procedure=procedure,
        estimate=None,
        distribution=dist,
        p_value=None,
        verdict="inconclusive",
        detail=reason,
        explanation="This check cannot speak for or against the estimate here; rely on the others.",
    )


def _usable(name: str, procedure: str, draws: Draws, alpha: float) -> tuple[Distribution | None, RefuteCheck | None]:
    dist = distribution(draws, alpha)
    total = len(draws.values)
    ok = 0 if dist is None else dist.draws
    if ok < max(MIN_DRAWS, math.ceil(MIN_SHARE_OK * total)):
        why = f" (e.g. {draws.failures[0]})" if draws.failures else ""
        return dist, inconclusive(
            name, procedure, f"Only {ok} of {total} draws produced an estimate{why}; too few to judge.", dist
        )
    return dist, None


def _centre(dist: Distribution) -> tuple[float, float, bool]:
    mc_se = dist.std_dev / math.sqrt(dist.draws)
    z = dist.mean / mc_se if mc_se > 0 else (0.0 if dist.mean == 0 else math.inf)
    p = float(2 * stats.norm.sf(abs(z))) if math.isfinite(z) else 0.0
    return mc_se, p, abs(z) <= CENTRE_Z


def placebo_check(
    draws: Draws, original: Estimate, alpha: float, procedure: str, *, aa_style: bool = False
) -> RefuteCheck:
    name = "placebo_treatment"
    dist, refused = _usable(name, procedure, draws, alpha)
    if refused is not None or dist is None:
        return refused or inconclusive(name, procedure, "No draws.")
    values = draws.estimates
    mc_se, p_centre, centred = _centre(dist)
    ri_p = float((1 + np.sum(np.abs(values) >= abs(original.estimate))) / (len(values) + 1))
    detail = (
        f"{dist.draws} placebo estimates: mean {dist.mean:.4g} (Monte-Carlo SE {mc_se:.2g}, p = {p_centre:.3g} "
        f"against 0), middle {1 - alpha:.0%} from {dist.lower:.4g} to {dist.upper:.4g}; the real estimate "
        f"{original.estimate:.4g} is at least as extreme as {ri_p:.1%} of them (randomisation p = {ri_p:.3g})."
    )
    false_positive_fail = False
    if aa_style:
        p_values = draws.p_values
        if len(p_values):
            rejections = int(np.sum(p_values < alpha))
            binom_p = float(stats.binomtest(rejections, len(p_values), alpha, alternative="greater").pvalue)
            false_positive_fail = binom_p < 0.001
            detail += (
                f" A/A: {rejections} of {len(p_values)} placebo tests were significant at {alpha:g} (expected "
                f"{alpha:.0%}; binomial p = {binom_p:.3g}, fails below 0.001)."
            )
    if not centred or false_positive_fail:
        verdict, explanation = (
            "fail",
            "The analysis finds effects where there can be none, so its estimate is biased or its test is "
            "miscalibrated: do not act on it until that is explained.",
        )
    elif ri_p < alpha:
        verdict, explanation = (
            "pass",
            "A random assignment does not produce an effect this large, so the estimate is not an artefact of "
            "the method.",
        )
    else:
        verdict, explanation = (
            "inconclusive",
            "The placebo estimates are sound, but the real estimate is within their range: it is not "
            "distinguishable from what a chance assignment gives.",
        )
    return RefuteCheck(
        name=name,
        null=NULLS[name],
        procedure=procedure,
        estimate=dist.mean,
        distribution=dist,
        p_value=ri_p,
        verdict=verdict,
        detail=detail + f" Centred means within {CENTRE_Z} Monte-Carlo SEs of 0.",
        explanation=explanation,
    )


def dummy_outcome_check(draws: Draws, original: Estimate, alpha: float, procedure: str) -> RefuteCheck:
    name = "dummy_outcome"
    dist, refused = _usable(name, procedure, draws, alpha)
    if refused is not None or dist is None:
        return refused or inconclusive(name, procedure, "No draws.")
    mc_se, p_centre, centred = _centre(dist)
    return RefuteCheck(
        name=name,
        null=NULLS[name],
        procedure=procedure,
        estimate=dist.mean,
        distribution=dist,
        p_value=p_centre,
        verdict="pass" if centred else "fail",
        detail=f"{dist.draws} estimates on noise outcomes: mean {dist.mean:.4g} (Monte-Carlo SE {mc_se:.2g}, p = "
        f"{p_centre:.3g} against 0; fails beyond {CENTRE_Z} SEs), middle {1 - alpha:.0%} from {dist.lower:.4g} to "
        f"{dist.upper:.4g}.",
        explanation="The method reports no effect on an outcome the treatment cannot touch."
        if centred
        else "The method reports an effect on pure noise, so part of the real estimate may be an artefact.",
    )


def random_cause_check(draws: Draws, original: Estimate, alpha: float, procedure: str) -> RefuteCheck:
    name = "random_common_cause"
    dist, refused = _usable(name, procedure, draws, alpha)
    if refused is not None or dist is None:
        return refused or inconclusive(name, procedure, "No draws.")
    shifts = draws.estimates - original.estimate
    largest = float(np.max(np.abs(shifts)))
    limit = STABLE_SE * original.std_error
    ok = largest <= limit
    return RefuteCheck(
        name=name,
        null=NULLS[name],
        procedure=procedure,
        estimate=dist.mean,
        distribution=dist,
        p_value=None,
        verdict="pass" if ok else "fail",
        detail=f"{dist.draws} refits with a random covariate: mean shift {float(shifts.mean()):+.3g}, largest "
        f"{largest:.3g} (limit {STABLE_SE} x SE = {limit:.3g}); estimates from {dist.minimum:.4g} to "
        f"{dist.maximum:.4g} against {original.estimate:.4g}.",
        explanation="The estimate does not react to irrelevant covariates."
        if ok
        else "An irrelevant covariate moves the estimate noticeably, so it is sensitive to the model's details.",
    )


def subset_check(draws: Draws, original: Estimate, alpha: float, procedure: str, fraction: float) -> RefuteCheck:
    name = "data_subset"
    dist, refused = _usable(name, procedure, draws, alpha)
    if refused is not None or dist is None:
        return refused or inconclusive(name, procedure, "No draws.")
    values = draws.estimates
    shift = dist.mean - original.estimate
    limit = STABLE_SE * original.std_error
    same_sign = float(np.mean(np.sign(values) == np.sign(original.estimate)))
    expected_sd = original.std_error * math.sqrt((1 - fraction) / fraction)
    ok = abs(shift) <= limit
    return RefuteCheck(
        name=name,
        null=NULLS[name],
        procedure=procedure,
        estimate=dist.mean,
        distribution=dist,
        p_value=None,
        verdict="pass" if ok else "fail",
        detail=f"{dist.draws} subsets of {fraction:.0%}: mean {dist.mean:.4g} against {original.estimate:.4g} "
        f"(shift {shift:+.3g}, limit {limit:.3g} = {STABLE_SE} x SE), spread SD {dist.std_dev:.3g} (about "
        f"{expected_sd:.3g} expected from the SE), middle {1 - alpha:.0%} from {dist.lower:.4g} to {dist.upper:.4g}; "
        f"{same_sign:.0%} have the same sign.",
        explanation="The estimate does not hinge on a few units."
        if ok
        else "The estimate moves when some units are left out, so a few units may be driving it.",
    )


def bootstrap_check(draws: Draws, original: Estimate, alpha: float, procedure: str) -> RefuteCheck:
    name = "bootstrap"
    dist, refused = _usable(name, procedure, draws, alpha)
    if refused is not None or dist is None:
        return refused or inconclusive(name, procedure, "No draws.")
    ratio = dist.std_dev / original.std_error if original.std_error > 0 else math.inf
    analytic_excludes = original.ci_lower > 0 or original.ci_upper < 0
    boot_excludes = dist.lower > 0 or dist.upper < 0
    ok = ratio <= BOOTSTRAP_RATIO and analytic_excludes == boot_excludes
    values = draws.estimates
    tail = float(np.mean(values <= 0) if original.estimate > 0 else np.mean(values >= 0))
    p_value = min(1.0, 2 * max(tail, 1 / (len(values) + 1)))
    return RefuteCheck(
        name=name,
        null=NULLS[name],
        procedure=procedure,
        estimate=dist.mean,
        distribution=dist,
        p_value=p_value,
        verdict="pass" if ok else "fail",
        detail=f"{dist.draws} bootstrap samples: SE {dist.std_dev:.3g} against the analytic {original.std_error:.3g} "
        f"(ratio {ratio:.2f}, fails above {BOOTSTRAP_RATIO}); percentile interval {dist.lower:.4g} to {dist.upper:.4g} "
        f"against the analytic {original.ci_lower:.4g} to {original.ci_upper:.4g}"
        f"{'' if analytic_excludes == boot_excludes else ' (they disagree on whether 0 is excluded)'}.",
        explanation="The reported uncertainty is trustworthy."
        if ok
        else "The analytic interval understates the uncertainty or disagrees with the bootstrap on significance: "
        "use the wider interval.",
    )
