"""The words of a propensity result: estimand, method, checks, warnings and the summary sentence."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tools.data.names import display_name
from tools.propensity.models import BalanceRow, MethodEstimate, Overlap, PropensityRequest
from tools.results import Check, Estimate

if TYPE_CHECKING:
    from tools.propensity.inputs import Prepared
    from tools.propensity.matching import MatchResult

__all__ = ["checks_and_warnings", "describe_estimand", "describe_method", "summary_sentence"]

SMD_LIMIT = 0.1
#: A single unit carrying more than this share of its arm's weight makes the weighted estimate fragile.
WEIGHT_SHARE_LIMIT = 0.05

_METHODS = {
    "ipw": "IPW: normalised (Hajek) inverse-probability weights{att}; standard error from the stacked "
    "M-estimation sandwich, which accounts for the estimated propensity score",
    "matching": "matching: {k} nearest neighbour(s) on the logit of the score, with replacement, ties at the "
    "k-th distance all used and averaged{caliper}; Abadie-Imbens (2006) standard error with conditional variances "
    "from the four nearest same-arm units, adjusted for the estimated score (Abadie and Imbens 2016)",
    "aipw": "AIPW (doubly robust): {outcome} outcome regression{arms} on the same covariate terms, augmented with "
    "normalised inverse-probability weights{att}; influence-function standard error including the estimation of "
    "the propensity and outcome models",
}


def describe_method(method: str, request: PropensityRequest) -> str:
    """One method in words, or all requested methods (method='all') with the propensity model."""
    att = " (ATT: controls weighted e/(1-e))" if request.estimand == "ATT" else ""
    caliper = f", caliper {request.caliper:g} SD of the logit score" if request.caliper is not None else ""
    arms = " in the control arm" if request.estimand == "ATT" else " in each arm"
    if method != "all":
        return (
            _METHODS[method].format(
                att=att, k=request.neighbors, caliper=caliper, outcome="linear (logistic for a 0/1 outcome)", arms=arms
            )
            + "."
        )
    parts = ["Propensity score: unpenalised logistic regression (maximum likelihood by Newton's method)"]
    parts += [describe_method(m, request).rstrip(".") for m in dict.fromkeys(request.methods)]
    return "; ".join(parts) + f". Intervals: normal, {1 - request.alpha:.0%}."


def describe_estimand(request: PropensityRequest, treated_value: str, trim: float | None, auto: bool) -> str:
    outcome = display_name(request.outcome)
    treatment = display_name(request.treatment)
    if request.estimand == "ATT":
        text = (
            f"ATT: the average effect on '{outcome}' among the treated units ({treatment} = {treated_value}), "
            "compared with what they would have had untreated"
        )
    else:
        text = f"ATE: the average effect on '{outcome}' of {treatment} = {treated_value} versus not, over all units"
    if trim is not None:
        if auto and request.estimand == "ATT":
            text += f"; restricted to units with propensity scores up to {1 - trim:g} (trimmed)"
        else:
            text += f"; restricted to units with propensity scores in [{trim:g}, {1 - trim:g}] (trimmed)"
    return text + "."


def _balance_check(name: str, rows: list[BalanceRow], attribute: str, label: str) -> Check:
    values = [(row.term, getattr(row, attribute)) for row in rows]
    worst_term, worst = max(values, key=lambda item: abs(item[1]))
    over = [term for term, value in values if abs(value) > SMD_LIMIT]
    before = max(abs(row.smd_before) for row in rows)
    detail = (
        f"Largest |SMD| after {label}: {abs(worst):.3f} ('{display_name(worst_term)}'), before: {before:.3f}; "
        f"fails above {SMD_LIMIT}."
    )
    if over:
        detail += f" Unbalanced: {', '.join(display_name(t) for t in over[:8])}."
    return Check(name=name, status="fail" if over else "pass", detail=detail)


def checks_and_warnings(
    request: PropensityRequest,
    prepared: Prepared,
    converged: bool,
    iterations: int,
    trim: float | None,
    auto_trimmed: bool,
    trimmed: int,
    balance: list[BalanceRow],
    overlap: Overlap,
    match: MatchResult | None,
) -> tuple[list[Check], list[str]]:
    checks: list[Check] = []
    warnings: list[str] = []
    ranges = (
        f"scores: treated {overlap.min_treated:.3f} to {overlap.max_treated:.3f}, control {overlap.min_control:.3f} "
        f"to {overlap.max_control:.3f}; {overlap.share_below_05:.1%} below 0.05, {overlap.share_above_95:.1%} above "
        f"0.95; largest weight {overlap.largest_weight_share:.1%} of its arm"
    )
    if auto_trimmed:
        assert trim is not None
        where = f"above {1 - trim:g}" if request.estimand == "ATT" else f"outside [{trim:g}, {1 - trim:g}]"
        checks.append(
            Check(
                name="overlap",
                status="fail",
                detail=f"Partial overlap: {trimmed:,} unit(s) had propensity scores {where} and "
                f"were trimmed, so the estimate covers only the units with comparable counterparts. After trimming, "
                f"{ranges}.",
            )
        )
        warnings.append(
            f"OVERLAP FAILED: {trimmed:,} unit(s) with propensity scores {where} have no "
            "comparable units in the other arm and were trimmed; the estimate describes the remaining units only."
        )
    else:
        fragile = overlap.largest_weight_share > WEIGHT_SHARE_LIMIT
        status = "warn" if fragile or trimmed else "pass"
        detail = ranges + "."
        if trimmed and trim is not None:
            detail = f"{trimmed:,} unit(s) trimmed at [{trim:g}, {1 - trim:g}] as requested. " + detail
        if fragile:
            detail += (
                f" One unit carries over {WEIGHT_SHARE_LIMIT:.0%} of its arm's weight: weighted estimates are fragile."
            )
            warnings.append(
                f"A single unit carries {overlap.largest_weight_share:.1%} of its arm's weight; consider trim (e.g. "
                "0.05) or compare with matching."
            )
        checks.append(Check(name="overlap", status=status, detail=detail))
    checks.append(
        Check(
            name="propensity_model",
            status="pass" if converged else "fail",
            detail=f"Logistic maximum likelihood converged in {iterations} Newton iteration(s).",
        )
    )
    if balance and balance[0].smd_weighted is not None:
        checks.append(_balance_check("balance_weighted", balance, "smd_weighted", "weighting"))
    if balance and balance[0].smd_matched is not None:
        checks.append(_balance_check("balance_matched", balance, "smd_matched", "matching"))
    for check in checks:
        if check.name.startswith("balance") and check.status == "fail":
            warnings.append(
                f"Covariates remain unbalanced after {'weighting' if check.name.endswith('weighted') else 'matching'} "
                "(|SMD| > 0.1): add terms (squares, interactions) to the propensity model or trust AIPW over IPW."
            )
    if prepared.post_treatment:
        names = ", ".join(f"'{display_name(c)}'" for c in prepared.post_treatment)
        warnings.insert(
            0 if not auto_trimmed else 1,
            f"The covariate(s) {names} look measured after the treatment (by name). A covariate the treatment can "
            "change biases every estimate here; use only values measured before the treatment started.",
        )
        checks.append(
            Check(
                name="pre_treatment_covariates",
                status="warn",
                detail=f"Covariate(s) {names} may be post-treatment by their names.",
            )
        )
    else:
        checks.append(
            Check(
                name="pre_treatment_covariates",
                status="not_tested",
                detail="Assumed: every covariate was measured before the treatment and cannot be changed by it.",
            )
        )
    checks.append(
        Check(
            name="no_unmeasured_confounding",
            status="not_tested",
            detail="Assumed: the covariates include every reason for taking the treatment that also affects the "
            "outcome. The data cannot test this; the refute tool's sensitivity analysis shows how strong an omitted "
            "confounder would have to be to explain the estimate away.",
        )
    )
    if match is not None and match.unmatched_treated + match.unmatched_control:
        warnings.append(
            f"Matching left {match.unmatched_treated:,} treated and {match.unmatched_control:,} control unit(s) "
            "without a match within the caliper; its estimate covers the matched units only."
        )
    warnings.extend(prepared.notes)
    return checks, warnings


def summary_sentence(
    request: PropensityRequest,
    headline: MethodEstimate,
    naive: Estimate,
    n_treated: int,
    n_control: int,
    checks: list[Check],
) -> str:
    level = f"{1 - request.alpha:.0%}"
    failed = [c.name for c in checks if c.status == "fail"]
    verdict = f"checks failed: {', '.join(failed)}" if failed else "overlap and balance checks passed"
    return (
        f"{request.estimand} of {display_name(request.treatment)} on {display_name(request.outcome)}: "
        f"{headline.estimate:+.4g} by {headline.method.upper()} ({level} CI {headline.ci_lower:+.4g} to "
        f"{headline.ci_upper:+.4g}, p = {headline.p_value:.3g}) against a naive difference of {naive.estimate:+.4g}; "
        f"{n_treated:,} treated and {n_control:,} control units; {verdict}."
    )
