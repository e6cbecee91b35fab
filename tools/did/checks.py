"""Diagnostics of the diff_in_diff tool: the checks, the warnings, the method text and the summary sentence."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tools.did.models import DiffInDiffRequest, PretrendTest
from tools.did.panel import Panel
from tools.did.twfe import Sample
from tools.did.within import demean
from tools.results import Check, Estimate

__all__ = ["MIN_CLUSTERS", "Diagnostics", "diagnose", "method_text", "negative_weight_share", "summary_text"]

MIN_CLUSTERS = 30


@dataclass(frozen=True)
class Diagnostics:
    checks: list[Check]
    warnings: list[str]


def negative_weight_share(sample: Sample) -> tuple[int, int]:
    """Treated rows that the static TWFE coefficient weights negatively (de Chaisemartin & D'Haultfoeuille 2020):
    its weight on each treated row is proportional to the row's two-way-demeaned treatment indicator."""
    treated = (sample.time >= sample.cohort_row).astype(np.float64)
    residual = demean(treated, sample.fe)
    on = treated > 0
    return int((residual[on] < -1e-12).sum()), int(on.sum())


def diagnose(
    request: DiffInDiffRequest,
    panel: Panel,
    sample: Sample,
    estimator: str,
    staggered: bool,
    att: Estimate,
    twfe: Estimate,
    pretrend: PretrendTest | None,
    placebo: Estimate | None,
    n_clusters: int,
    treated_clusters: int,
    notes: list[str],
    untested_reason: str = "",
) -> Diagnostics:
    checks: list[Check] = []
    warnings = list(notes)
    if pretrend is None:
        checks.append(
            Check(
                name="parallel_trends",
                status="not_tested",
                detail=f"{untested_reason}, so pre-trends were not tested; parallel trends is an untested "
                "assumption here (a sensitivity analysis such as Rambachan-Roth bounds speaks to it).",
            )
        )
        warnings.append(f"Parallel trends not tested: {untested_reason}.")
    else:
        source = "event-study leads" if pretrend.source == "twfe_event_study" else "pre-adoption event-time effects"
        dist = f"F({pretrend.df}, {pretrend.df_denominator}) = {pretrend.statistic:.3g}"
        checks.append(
            Check(
                name="parallel_trends",
                status="pass" if pretrend.status == "pass" else "fail",
                detail=f"Joint Wald test that all {pretrend.df} {source} are zero: {dist}, p = {pretrend.p_value:.3g} "
                f"({'no evidence against' if pretrend.status == 'pass' else 'rejects'} parallel pre-trends at "
                f"alpha = {request.alpha:g}). Passing does not prove parallel trends; the test may lack power.",
            )
        )
        if pretrend.status == "fail":
            warnings.insert(
                0,
                f"PRE-TRENDS: treated and comparison units already diverged before adoption (p = "
                f"{pretrend.p_value:.2g}); the effect estimate mixes the treatment with that divergence.",
            )
    if placebo is None:
        checks.append(
            Check(
                name="placebo_in_time",
                status="not_tested",
                detail="Needs at least two periods before the first adoption and never-treated units.",
            )
        )
    else:
        ok = placebo.p_value >= request.alpha
        checks.append(
            Check(
                name="placebo_in_time",
                status="pass" if ok else "warn",
                detail="TWFE on the periods before any adoption, with a fake adoption half-way: "
                f"{placebo.estimate:.4g} "
                f"(CI {placebo.ci_lower:.4g} to {placebo.ci_upper:.4g}, p = {placebo.p_value:.3g}); should be near 0.",
            )
        )
        if not ok:
            warnings.append(
                f"The placebo in time is significant ({placebo.estimate:.3g}, p = {placebo.p_value:.2g}): outcomes "
                "moved apart before the change."
            )
    checks.append(_clusters(n_clusters, treated_clusters, warnings))
    checks.append(_balance(panel))
    checks.append(
        Check(
            name="treatment_stays_on",
            status="pass",
            detail="Every treated unit stays treated after adoption (switching off is refused by the tool).",
        )
    )
    negative, treated_rows = negative_weight_share(sample)
    if staggered:
        checks.append(_disagreement(estimator, att, twfe, negative, treated_rows, warnings))
    checks.append(
        Check(
            name="no_anticipation",
            status="not_tested",
            detail="Units must not react before adoption; leads near 0 in the event study are consistent with it.",
        )
    )
    if sample.dropped_singletons:
        warnings.append(
            f"{sample.dropped_singletons:,} row(s) alone in their unit or period were left out of the regressions "
            "(they carry no information once the fixed effects are estimated)."
        )
    return Diagnostics(checks, warnings)


def _clusters(n_clusters: int, treated_clusters: int, warnings: list[str]) -> Check:
    detail = f"{n_clusters:,} clusters, {treated_clusters:,} of them with treated units"
    if treated_clusters <= 1:
        warnings.insert(
            0,
            "A SINGLE TREATED CLUSTER: cluster-robust standard errors cannot be trusted with one treated cluster "
            "(Conley & Taber 2011); the interval is far too narrow. Treat the result as descriptive.",
        )
        return Check(name="clusters", status="fail", detail=detail + " (one treated cluster: inference invalid).")
    if n_clusters < MIN_CLUSTERS or treated_clusters < 5:
        warnings.append(
            f"Only {n_clusters:,} clusters ({treated_clusters:,} treated): cluster-robust standard errors are "
            "unreliable with few clusters; read the intervals as rough."
        )
        return Check(
            name="clusters", status="warn", detail=detail + f" (warning below {MIN_CLUSTERS}, or < 5 treated)."
        )
    return Check(name="clusters", status="pass", detail=detail + ".")


def _balance(panel: Panel) -> Check:
    if panel.balanced:
        return Check(
            name="panel_balance",
            status="pass",
            detail=f"Balanced: all {panel.n_units:,} units observed in all {panel.n_periods} periods.",
        )
    first = np.full(panel.n_units, panel.n_periods, dtype=np.int64)
    last = np.full(panel.n_units, -1, dtype=np.int64)
    np.minimum.at(first, panel.unit, panel.time)
    np.maximum.at(last, panel.unit, panel.time)
    count = np.bincount(panel.unit, minlength=panel.n_units)
    late = int((first > 0).sum())
    early = int((last < panel.n_periods - 1).sum())
    gaps = int((count < last - first + 1).sum())
    return Check(
        name="panel_balance",
        status="warn",
        detail=f"Unbalanced: {int((count < panel.n_periods).sum()):,} of {panel.n_units:,} units miss periods "
        f"({late:,} enter late, {early:,} leave early, {gaps:,} have gaps). If units leave because of the treatment, "
        "the composition change biases the estimate.",
    )


def _disagreement(
    estimator: str, att: Estimate, twfe: Estimate, negative: int, treated_rows: int, warnings: list[str]
) -> Check:
    share = negative / treated_rows if treated_rows else 0.0
    weights = (
        f"TWFE gives negative weight to {negative:,} of {treated_rows:,} treated unit-periods ({share:.0%}): it "
        "uses already-treated units as comparisons for later adopters."
        if negative
        else f"TWFE gives none of the {treated_rows:,} treated unit-periods a negative weight here, although it "
        "also compares later adopters with already-treated units."
    )
    if estimator != "callaway_santanna":
        return Check(name="twfe_vs_robust", status="warn" if negative else "pass", detail=weights)
    disagree = not (att.ci_lower <= twfe.estimate <= att.ci_upper) or (np.sign(att.estimate) != np.sign(twfe.estimate))
    detail = (
        f"Static TWFE {twfe.estimate:.4g} vs Callaway-Sant'Anna {att.estimate:.4g} "
        f"(CI {att.ci_lower:.4g} to {att.ci_upper:.4g}). " + weights
    )
    if disagree:
        warnings.append(
            f"TWFE ({twfe.estimate:.3g}) and Callaway-Sant'Anna ({att.estimate:.3g}) disagree: with staggered "
            "adoption TWFE compares later adopters with units already treated, so effects that change over time "
            "leak into its comparisons and bias it (Goodman-Bacon 2021). Trust the Callaway-Sant'Anna estimate."
        )
    return Check(name="twfe_vs_robust", status="warn" if disagree else "pass", detail=detail)


def method_text(
    request: DiffInDiffRequest,
    estimator: str,
    staggered: bool,
    n_clusters: int,
    band: bool = False,
    exact: bool = True,
    by_cohort: bool = True,
    periods: str = "",
    assignment: str = "",
) -> str:
    """The estimators, their inference and corrections in words; ``periods`` says how a time column that is not
    integers was read (dates, quarters, months ...), ``assignment`` how treatment was defined."""
    cluster = request.cluster or request.unit
    parts = []
    if estimator == "callaway_santanna":
        base = "each period against the one before" if request.base_period == "varying" else "g - 1"
        if request.inference == "bootstrap" and exact:
            errors = (
                f"multiplier-bootstrap standard errors ({request.bootstrap:,} draws, "
                f"{request.bootstrap_weights.capitalize()} weights, one per '{cluster}' cluster, seed {request.seed}; "
                "IQR-based as R did)"
            )
        elif request.inference == "bootstrap":
            errors = (
                f"the multiplier bootstrap's Gaussian limit ({n_clusters:,} clusters, too many for "
                f"{request.bootstrap:,} exact draws; {request.bootstrap_weights.capitalize()} and Gaussian weights "
                f"agree to under a percent there): influence-function standard errors clustered by '{cluster}'"
            )
        else:
            errors = f"influence-function standard errors clustered by '{cluster}'"
        parts.append(
            "Callaway-Sant'Anna (2021): ATT(g, t) from 2x2 comparisons of each adoption cohort with "
            f"{request.control_group.replace('_', '-')} units on the balanced panel (post periods against g - 1, "
            f"pre periods: {base})"
            + (_covariate_text(request) if request.covariates else "")
            + "; headline = post-period cells averaged with cohort-size weights ('simple'); "
            f"event study = 'dynamic' aggregation; {errors}, "
            + (
                "small-sample corrected as Welch's test (each cohort's variance scaled by G_k / (G_k - 1)), t "
                f"intervals with Welch-Satterthwaite degrees of freedom (at most G - 1, G = {n_clusters:,} clusters)"
                if by_cohort
                else f"small-sample corrected by G / (G - 1) (clusters span cohorts), t(G - 1) intervals, G = "
                f"{n_clusters:,} clusters"
            )
            + (
                "; simultaneous sup-t band for the event study ("
                + ("bootstrap" if request.inference == "bootstrap" and exact else "Gaussian")
                + f" critical value, seed {request.seed}, mapped to each event time's t)"
                if band
                else ""
            )
            + "; joint pre-trend test over pre-adoption event times with at least two treated clusters"
        )
    parts.append(
        "static two-way fixed effects (unit and period effects swept out by demeaning"
        + (", weighted" if request.weights else "")
        + (f", controls {', '.join(request.covariates)}" if request.covariates else "")
        + f"), CRV1 standard errors clustered by '{cluster}' ({n_clusters:,} clusters) with fixest's small-sample "
        "correction, t(G - 1) intervals"
    )
    if estimator != "callaway_santanna":
        parts.append(
            f"event study: TWFE with relative-period indicators for treated units, period {request.reference_period} "
            "omitted, endpoints binned; joint F test of the leads"
            + (f"; simultaneous sup-t band (Gaussian critical value, seed {request.seed}, on t(G - 1))" if band else "")
            + ("; ATT = post-period coefficients averaged by treated rows" if estimator == "event_study" else "")
        )
    if staggered and estimator != "callaway_santanna":
        parts.append("adoption is staggered: TWFE can be biased (see the twfe_vs_robust check)")
    if assignment:
        parts.append(assignment)
    if periods:
        parts.append(periods)
    return "; ".join(parts) + "."


def _covariate_text(request: DiffInDiffRequest) -> str:
    """How Callaway-Sant'Anna adjusted each cell for the covariates (R did's ``est_method``)."""
    names = ", ".join(request.covariates or [])
    kind = {
        "dr": "doubly robust (Sant'Anna & Zhao 2020: logit propensity score and linear outcome regression of the "
        "change on the comparison units; right if either model is)",
        "ipw": "inverse probability weighting (logit propensity score, normalised weights)",
        "reg": "outcome regression (linear regression of the change on the comparison units)",
    }[request.covariate_method]
    return (
        f", conditional on {names} in each comparison's earlier period, {kind}, propensities capped and comparison "
        "units with a score of 0.995 or more trimmed as R did does; the influence functions include the "
        "estimated models' terms"
    )


def summary_text(
    request: DiffInDiffRequest,
    estimator: str,
    att: Estimate,
    twfe: Estimate,
    n_treated: int,
    n_cohorts: int,
    pretrend: PretrendTest | None,
) -> str:
    name = {"twfe": "TWFE", "event_study": "Event-study", "callaway_santanna": "Callaway-Sant'Anna"}[estimator]
    level = f"{1 - request.alpha:.0%}"
    text = (
        f"{name} ATT on '{request.outcome}': {att.estimate:+.4g} ({level} CI {att.ci_lower:+.4g} to "
        f"{att.ci_upper:+.4g}, p = {att.p_value:.3g}) over {n_treated:,} treated "
        f"{'unit' if n_treated == 1 else 'units'} in {n_cohorts} {'cohort' if n_cohorts == 1 else 'cohorts'}"
    )
    if estimator != "twfe":
        text += f"; static TWFE {twfe.estimate:+.4g}"
    if pretrend is None:
        text += "; pre-trends not testable"
    else:
        text += f"; pre-trend test p = {pretrend.p_value:.3g} ({pretrend.status})"
    return text + "."
