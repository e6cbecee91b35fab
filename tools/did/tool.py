"""The diff_in_diff tool: validate the panel, pick the estimator, estimate, diagnose.

``diff_in_diff`` is the full analysis; ``headline`` recomputes only its ``effect.estimate`` (same code, no
diagnostics, no placebo, no standard errors) for simulations that refit many times; ``event_study_fit`` returns
the event-study coefficients with their covariance for sensitivity analysis (Rambachan-Roth bounds).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from tools.did.checks import diagnose, method_text, summary_text
from tools.did.cs import Aggregate, CsResult, callaway_santanna
from tools.did.inference import band_critical, band_critical_t, bootstrap_cs, event_band
from tools.did.models import (
    CohortEffect,
    CohortInfo,
    DiffInDiffRequest,
    DiffInDiffResult,
    EventTimeEstimate,
    GroupTimeEstimate,
    PretrendTest,
)
from tools.did.panel import NEVER, Panel, dense_codes, prepare_panel
from tools.did.twfe import (
    EventStudy,
    EventStudyFit,
    estimate_t,
    event_fit,
    event_study,
    post_average,
    post_value,
    pretrend_f,
    regression_sample,
    static_twfe,
    wald_f,
)
from tools.errors import ToolError
from tools.literals import Estimator, EventSource
from tools.results import Estimate, zero_error

__all__ = ["diff_in_diff", "event_study_fit", "headline"]


@dataclass(frozen=True)
class Plan:
    estimator: Estimator
    staggered: bool


def _panel(request: DiffInDiffRequest, data: pd.DataFrame | None) -> Panel:
    if data is None:
        raise ToolError(
            "no_data",
            "diff_in_diff needs a panel dataset (one row per unit and period).",
            "Attach the data and give its name as dataset, with the outcome, unit, time and treatment columns.",
        )
    return prepare_panel(request, data)


def _plan(request: DiffInDiffRequest, panel: Panel) -> Plan:
    ever = panel.cohort != NEVER
    if not ever.any():
        raise ToolError(
            "no_treated_units",
            "No unit is ever treated in the data.",
            "Check the treatment (or cohort) column and the filters applied to the data.",
        )
    timings = np.unique(panel.cohort[ever])
    if ever.all() and len(timings) == 1:
        raise ToolError(
            "no_comparison_units",
            f"All {panel.n_units:,} units are treated from the same period: there is no untreated comparison.",
            "Add units that were not treated (or were treated later); otherwise the effect cannot be separated "
            "from what happened to everyone at that time.",
        )
    staggered = len(timings) > 1
    auto: Estimator = "callaway_santanna" if staggered else "twfe"
    estimator: Estimator = auto if request.estimator == "auto" else request.estimator
    return Plan(estimator, staggered)


def headline(request: DiffInDiffRequest, data: pd.DataFrame | None) -> float:
    """Exactly ``diff_in_diff(request, data).effect.estimate``, without diagnostics or standard errors."""
    panel = _panel(request, data)
    plan = _plan(request, panel)
    if plan.estimator == "callaway_santanna":
        cs = callaway_santanna(
            panel, request.control_group, request.base_period, inference=False,
            covariate_method=request.covariate_method,
        )  # fmt: skip
        return cs.simple.estimate
    sample = regression_sample(panel)
    names = panel.covariate_names
    if plan.estimator == "twfe":
        return float(static_twfe(sample, names, with_covariance=False).coefficients[0])
    study = event_study(sample, names, request.reference_period, request.leads, request.lags, with_covariance=False)
    return post_value(study)


def event_study_fit(request: DiffInDiffRequest, data: pd.DataFrame | None) -> EventStudyFit:
    """Event-study coefficients (reference omitted) and their cluster-robust covariance.

    Staggered adoption under 'auto' or 'callaway_santanna': Callaway-Sant'Anna 'dynamic' effects with a universal
    base period (every relative period against g - 1, so -1 is the zero reference), covariance from the influence
    functions. Otherwise the TWFE event study with its CRV1 covariance.
    """
    panel = _panel(request, data)
    plan = _plan(request, panel)
    if plan.estimator == "callaway_santanna":
        cs = callaway_santanna(
            panel, request.control_group, "universal", request.leads, request.lags,
            covariate_method=request.covariate_method,
        )  # fmt: skip
        periods = sorted(e for e in cs.dynamic if e != -1)
        aggregates = [cs.dynamic[e] for e in periods]
        return EventStudyFit(
            relative_periods=periods,
            coefficients=np.array([a.estimate for a in aggregates], dtype=np.float64),
            covariance=cs.covariance(aggregates),
            reference_period=-1,
            n_pre=sum(1 for e in periods if e < 0),
        )
    sample = regression_sample(panel)
    study = event_study(sample, panel.covariate_names, request.reference_period, request.leads, request.lags)
    return event_fit(study)


def diff_in_diff(request: DiffInDiffRequest, data: pd.DataFrame | None = None) -> DiffInDiffResult:
    """Analyse the panel ``data`` as described by ``request``."""
    panel = _panel(request, data)
    plan = _plan(request, panel)
    notes = list(panel.notes)
    sample = regression_sample(panel)
    names = panel.covariate_names
    alpha = request.alpha
    static = static_twfe(sample, names, drop_absorbed=plan.estimator == "callaway_santanna")
    scale = _scale(panel)
    _require_error(
        panel,
        "the difference-in-differences estimate",
        float(static.coefficients[0]),
        float(static.covariance[0, 0]),
        scale,
    )
    twfe = estimate_t(float(static.coefficients[0]), float(static.covariance[0, 0]), static.df_t, alpha)

    study: EventStudy | None = None
    if plan.estimator != "callaway_santanna":
        try:
            study = event_study(sample, names, request.reference_period, request.leads, request.lags)
        except ToolError as error:
            if plan.estimator == "event_study" or error.code != "bad_reference_period":
                raise
            notes.append(f"No event study: {error.message}")
        if study is not None and _saturated(study, scale):
            if plan.estimator == "event_study":
                raise _exact_fit(panel, "the event-study estimate")
            notes.append(
                "No event study: with one coefficient per relative period it reproduces every row exactly (too few "
                "units or periods), so its coefficients have no standard errors."
            )
            study = None
        if study is not None and study.dropped:
            notes.append(
                "Event-study period(s) "
                + ", ".join(str(e) for e in study.dropped)
                + " could not be separated from the fixed effects (no never-treated units) and were left out."
            )
    cs: CsResult | None = None
    band: float | None = None
    exact = True
    excluded: list[int] = []
    if plan.estimator == "callaway_santanna":
        cs = callaway_santanna(
            panel, request.control_group, request.base_period, request.leads, request.lags,
            covariate_method=request.covariate_method,
        )  # fmt: skip
        notes.extend(cs.notes)
    elif request.inference == "bootstrap":
        notes.append(
            "The multiplier bootstrap applies to Callaway-Sant'Anna only: the regression estimators use their CRV1 "
            "standard errors with t(G - 1) intervals."
        )

    if cs is not None:
        _require_error(panel, "the Callaway-Sant'Anna ATT", cs.simple.estimate, cs.simple.std_error**2, scale)
        if request.inference == "bootstrap":
            run = bootstrap_cs(cs, request.bootstrap, request.bootstrap_weights, request.seed, alpha)
            cs, band, exact = run.cs, run.band, run.exact
        else:
            band = event_band(cs, alpha, request.seed)
        att = _agg(cs.simple, alpha)
        events = _cs_events(cs, alpha, request.base_period, band)
        excluded = [e for e in sorted(cs.dynamic) if e < 0 and cs.dynamic_clusters[e] < 2]
        if any(cs.dynamic_clusters[e] < 2 for e in cs.dynamic):
            notes.append(_single_cluster_note(cs, excluded))
        pretrend = _pretrend(_cs_pretrend(cs, excluded), "callaway_santanna", alpha, excluded)
        source: EventSource = "callaway_santanna"
        n_obs, n_units, n_clusters, treated_clusters = cs.n_obs, cs.n_units, cs.n_clusters, cs.treated_clusters
        cohort_sizes = cs.cohort_sizes
        n_never = cs.n_never
    else:
        if plan.estimator == "event_study":
            assert study is not None
            att = post_average(study, alpha)
        else:
            att = twfe
        band = _twfe_band(study, alpha, request.seed) if study is not None else None
        events = _twfe_events(study, alpha, band) if study is not None else []
        pretrend = None if study is None else _pretrend(pretrend_f(study, sample.n_clusters), "twfe_event_study", alpha)
        source = "twfe_event_study"
        n_obs, n_units, n_clusters = len(sample.y), sample.fe.n_units, sample.n_clusters
        treated_clusters = int(np.count_nonzero(np.bincount(sample.cluster[sample.cohort_row != NEVER])))
        codes, sizes = np.unique(panel.cohort[panel.cohort != NEVER], return_counts=True)
        cohort_sizes = {int(c): int(s) for c, s in zip(codes, sizes, strict=True)}
        n_never = int((panel.cohort == NEVER).sum())
    placebo = _placebo(panel, alpha)
    n_leads = sum(1 for e in events if e.relative_period < 0 and not e.reference)
    untested = (
        "there is no pre-adoption period besides the reference"
        if n_leads == 0
        else f"every lead ({', '.join(map(str, excluded))}) rests on a single treated cluster"
        if len(excluded) == n_leads
        else f"{n_leads} leads but only {n_clusters} clusters, too many to test jointly (set `leads` lower)"
    )
    diagnostics = diagnose(
        request, panel, sample, plan.estimator, plan.staggered, att, twfe, pretrend, placebo, n_clusters,
        treated_clusters, notes, untested,
    )  # fmt: skip
    n_treated = sum(cohort_sizes.values())
    by_cohort = cs is None or cs.groups is None or cs.groups.by_cohort
    return DiffInDiffResult(
        estimand="ATT",
        estimator=plan.estimator,
        method=method_text(
            request,
            plan.estimator,
            plan.staggered,
            n_clusters,
            band is not None,
            exact,
            by_cohort,
            panel.period_note,
            panel.assignment_note,
        ),
        dataset=request.dataset,
        outcome=request.outcome,
        covariates=list(request.covariates or []),
        effect=att,
        twfe=twfe,
        att_dynamic=None if cs is None or cs.dynamic_overall is None else _agg(cs.dynamic_overall, alpha),
        att_group=None if cs is None or cs.group_overall is None else _agg(cs.group_overall, alpha),
        event_study=events,
        event_study_source=source,
        pretrend=pretrend,
        placebo=placebo,
        group_time=[] if cs is None else _group_time(cs, panel, alpha),
        cohort_effects=[]
        if cs is None
        else [CohortEffect(cohort=panel.periods[g], effect=_agg(a, alpha)) for g, a in cs.group.items()],
        control_group=request.control_group,
        reference_period=request.reference_period,
        alpha=alpha,
        inference=request.inference if cs is not None else "analytic",
        band_critical_value=band,
        n_obs=n_obs,
        n_units=n_units,
        n_periods=panel.n_periods,
        n_treated_units=n_treated,
        n_clusters=n_clusters,
        n_treated_clusters=treated_clusters,
        cohorts=[CohortInfo(cohort=panel.periods[g], n_units=s) for g, s in sorted(cohort_sizes.items())],
        never_treated_units=n_never,
        balanced=panel.balanced,
        checks=diagnostics.checks,
        warnings=diagnostics.warnings,
        summary=summary_text(request, plan.estimator, att, twfe, n_treated, len(cohort_sizes), pretrend),
    )


def _scale(panel: Panel) -> float:
    """The outcome's magnitude: rounding noise is relative to it (see :func:`tools.results.zero_error`)."""
    return float(np.max(np.abs(panel.y))) if len(panel.y) else 0.0


def _exact_fit(panel: Panel, what: str) -> ToolError:
    """The refusal of a headline whose standard error is (numerically) zero, naming the panel's size."""
    return ToolError(
        "degenerate_fit",
        f"The standard error of {what} is zero ({panel.n_units:,} units over {panel.n_periods:,} periods in "
        f"{panel.n_clusters:,} clusters: the unit and period effects absorb all the variation the cluster-robust "
        "standard error is measured from), so there is no confidence interval or p-value to report.",
        "A difference-in-differences needs several units on each side (20 or more clusters for reliable standard "
        "errors) or more periods; with this panel the difference of differences is only descriptive.",
    )


def _require_error(panel: Panel, what: str, estimate: float, variance: float, scale: float) -> None:
    """Refuse a headline whose cluster-robust standard error is (numerically) zero (see ``zero_error``)."""
    if zero_error(float(np.sqrt(max(variance, 0.0))), estimate, scale):
        raise _exact_fit(panel, what)


def _saturated(study: EventStudy, scale: float) -> bool:
    """True when an event-study coefficient has a (numerically) zero standard error: the model fits exactly."""
    variances = np.diag(study.fit.covariance)[: len(study.relative_periods)]
    return any(
        zero_error(float(np.sqrt(max(v, 0.0))), float(b), scale)
        for b, v in zip(study.fit.coefficients, variances, strict=False)
    )


def _agg(aggregate: Aggregate, alpha: float) -> Estimate:
    """A Callaway-Sant'Anna estimate with its t interval and p-value (Welch-Satterthwaite df, at most G - 1)."""
    return estimate_t(aggregate.estimate, aggregate.std_error**2, aggregate.df, alpha)


def _event(e: int, est: Estimate, n_obs: int, band: float | None, df: float) -> EventTimeEstimate:
    """An event-study point; with a band, its simultaneous interval at the band's level on its own t(df)."""
    low = high = None
    if band is not None:
        half = band_critical_t(band, df) * est.std_error
        low, high = est.estimate - half, est.estimate + half
    return EventTimeEstimate(
        **est.model_dump(), relative_period=e, n_obs=n_obs, reference=False, band_lower=low, band_upper=high
    )


def _reference(e: int, n_obs: int, alpha: float) -> EventTimeEstimate:
    """The omitted period: fixed at 0, with a zero-width interval and p = 1."""
    return EventTimeEstimate(
        estimate=0.0, std_error=0.0, ci_lower=0.0, ci_upper=0.0, p_value=1.0, alpha=alpha, relative_period=e,
        n_obs=n_obs, reference=True,
    )  # fmt: skip


def _twfe_events(study: EventStudy, alpha: float, band: float | None) -> list[EventTimeEstimate]:
    out = [_reference(study.reference_period, study.counts.get(study.reference_period, 0), alpha)]
    for i, e in enumerate(study.relative_periods):
        est = estimate_t(float(study.fit.coefficients[i]), float(study.fit.covariance[i, i]), study.fit.df_t, alpha)
        out.append(_event(e, est, study.counts[e], band, study.fit.df_t))
    return sorted(out, key=lambda x: x.relative_period)


def _twfe_band(study: EventStudy, alpha: float, seed: int) -> float | None:
    """Sup-t critical value of the regression event study, from its CRV1 covariance on t(G - 1)."""
    k = len(study.relative_periods)
    return band_critical(study.fit.covariance[:k, :k], alpha, seed)


def _cs_events(cs: CsResult, alpha: float, base_period: str, band: float | None) -> list[EventTimeEstimate]:
    out = [_event(e, _agg(a, alpha), cs.dynamic_counts[e], band, a.df) for e, a in sorted(cs.dynamic.items())]
    if base_period == "universal" and out and out[0].relative_period < -1:
        out = sorted([*out, _reference(-1, cs.dynamic_counts.get(0, 0), alpha)], key=lambda x: x.relative_period)
    return out


def _pretrend(
    test: tuple[float, float, int, int, float] | None,
    source: EventSource,
    alpha: float,
    excluded: list[int] | None = None,
) -> PretrendTest | None:
    if test is None:
        return None
    wald, f_value, q, dfd, p = test
    return PretrendTest(
        source=source, wald=wald, statistic=f_value, df=q, df_denominator=dfd, p_value=p,
        excluded_periods=excluded or [], status="pass" if p >= alpha else "fail",
    )  # fmt: skip


def _single_cluster_note(cs: CsResult, excluded: list[int]) -> str:
    """Event times resting on one treated cluster: their standard error lacks the treated side's variance (the
    cluster's deviations from its own mean sum to zero), so it is too small and their intervals too narrow."""
    single = [e for e in sorted(cs.dynamic) if cs.dynamic_clusters[e] < 2]
    text = (
        f"{_event_times(single).capitalize()} {'rest' if len(single) > 1 else 'rests'} on a single treated "
        f"cluster: {'their standard errors leave' if len(single) > 1 else 'its standard error leaves'} out the "
        f"treated side's variance, so {'their intervals are' if len(single) > 1 else 'its interval is'} too narrow"
    )
    if excluded:
        text += (
            f"; {_event_times(excluded)} {'were' if len(excluded) > 1 else 'was'} left out of the joint pre-trend test"
        )
    return text + "."


def _event_times(times: list[int]) -> str:
    """'event time -9' or 'event times -9, -8 and 4'."""
    if len(times) == 1:
        return f"event time {times[0]}"
    return f"event times {', '.join(map(str, times[:-1]))} and {times[-1]}"


def _cs_pretrend(cs: CsResult, excluded: list[int]) -> tuple[float, float, int, int, float] | None:
    """Callaway-Sant'Anna's event-time effects before adoption (the plotted leads), jointly zero; event times with
    fewer than two treated clusters (``excluded``) are left out: with a near-zero standard error they would decide
    the test alone (castle data: p = 5e-13 from the one-state event time -9 alone)."""
    leads = [cs.dynamic[e] for e in sorted(cs.dynamic) if e < 0 and e not in excluded and cs.dynamic[e].std_error > 0]
    if not leads:
        return None
    b = np.array([a.estimate for a in leads])
    return wald_f(b, cs.covariance(leads), cs.n_clusters)


def _group_time(cs: CsResult, panel: Panel, alpha: float) -> list[GroupTimeEstimate]:
    out = []
    for g, t, value, se, df in zip(cs.cohorts, cs.periods, cs.att, cs.std_error, cs.df, strict=True):
        est = estimate_t(float(value), float(se) ** 2, float(df), alpha)
        out.append(
            GroupTimeEstimate(
                **est.model_dump(),
                cohort=panel.periods[int(g)],
                period=panel.periods[int(t)],
                relative_period=int(t - g),
                post=bool(t >= g),
            )
        )
    return out


def _placebo(panel: Panel, alpha: float) -> Estimate | None:
    """TWFE on the periods before the first adoption, with every eventually-treated unit 'adopting' half-way."""
    ever = (panel.cohort != NEVER) & (panel.cohort > 0)
    if not ever.any() or not (panel.cohort == NEVER).any():
        return None
    first = int(panel.cohort[ever].min())
    if first < 2:
        return None
    rows = np.flatnonzero((panel.time < first) & (panel.cohort[panel.unit] != 0))
    fake = np.where(ever, first // 2, NEVER).astype(np.int64)
    present = np.bincount(panel.unit[rows], minlength=panel.n_units) > 0
    unit, n_units = dense_codes(panel.unit[rows])
    cluster, n_clusters = dense_codes(panel.cluster[rows])
    sub = replace(
        panel,
        y=panel.y[rows],
        unit=unit,
        n_units=n_units,
        time=panel.time[rows],
        n_periods=first,
        cohort=fake[present],
        weights=None if panel.weights is None else panel.weights[rows],
        cluster=cluster,
        n_clusters=n_clusters,
        covariates=None if panel.covariates is None else panel.covariates[rows],
    )
    try:
        sample = regression_sample(sub)
        fit = static_twfe(sample, panel.covariate_names, drop_absorbed=True)
    except ToolError:
        return None
    value, variance = float(fit.coefficients[0]), float(fit.covariance[0, 0])
    if zero_error(float(np.sqrt(max(variance, 0.0))), value, _scale(sub)):
        return None  # the pre-period fit is exact: no placebo test (never a zero-width "finding")
    return estimate_t(value, variance, fit.df_t, alpha)
