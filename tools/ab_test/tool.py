"""The ab_test tool: SRM first, then every metric in every treatment arm against control, then the decision."""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd
from scipy import special

from tools.ab_test.adjusted import (
    AdjustmentRows,
    adjustment_checks,
    adjustment_kind,
    check_adjustments,
    for_moments,
)
from tools.ab_test.binary import binary_compare, binary_lift
from tools.ab_test.checks import SRM_THRESHOLD, method_text
from tools.ab_test.checks import checks as checks_of
from tools.ab_test.decision import adjust, decide, guardrail_tests, new_comparison, verdict
from tools.ab_test.exposure import (
    complier_effect,
    exposure_checks,
    exposure_estimand,
)
from tools.ab_test.inputs import (
    MetricData,
    Prepared,
    expected_shares,
    prepare_rows,
)
from tools.ab_test.models import (
    AbTestRequest,
    AbTestResult,
    ArmCount,
    Comparison,
    CupedDetail,
    MetricSpec,
    SrmResult,
)
from tools.ab_test.monitoring import Tested, check_monitoring, monitor, monitoring_warnings
from tools.ab_test.novelty import check_novelty, period_effects
from tools.ab_test.novelty_report import novelty_checks, novelty_reasons, novelty_summary
from tools.ab_test.report import exact_test_warnings, no_lift_warnings, summary
from tools.ab_test.resampled import (
    check_resampled,
    compare_resampled,
    resampled_kind,
    resampled_warnings,
)
from tools.ab_test.stats import ArmEstimate, arm_estimate, compare, cuped_theta, pool, relative_lift
from tools.ab_test.summaries import prepare_summaries
from tools.data import Dataset
from tools.data.names import display_name
from tools.errors import ToolError
from tools.results import Check, Estimate, zero_error

__all__ = ["SRM_THRESHOLD", "ab_test", "headline_comparison"]

#: A standard error at most this fraction of the arms' means is rounding, not sampling: a metric constant within
#: each arm leaves about 1e-17 of its level from summing n equal values, while real data (a mean of 1e9 with a
#: standard deviation of 1 over a million units) give 1e-12. Stricter than ``results.NUMERICAL_ZERO`` because an
#: A/B metric's level can dwarf its spread.
ROUNDING_NOISE = 1e-14


def ab_test(request: AbTestRequest, data: pd.DataFrame | Dataset | None = None) -> AbTestResult:
    """Analyse the experiment described by ``request`` on ``data`` (rows: a frame, or an attached dataset that
    may stream from its file) or on ``request.summaries``."""
    check_resampled(request, data)
    check_monitoring(request)
    if request.exposure_time_column is not None:
        check_novelty(request, data)
    check_adjustments(request, data)
    if data is not None:
        prepared = prepare_rows(for_moments(request), data)
        prepared.metrics = [_restored(m, s) for m, s in zip(prepared.metrics, request.metrics, strict=True)]
    elif request.summaries is not None:
        prepared = prepare_summaries(request)
    else:
        raise ToolError(
            "no_input",
            "ab_test needs data: a dataset with arm_column, or summaries.",
            "Attach the experiment's rows and give dataset and arm_column, or give the dashboard numbers as summaries.",
        )
    arms = prepared.arms
    shares = expected_shares(request, arms)
    srm = _srm(arms, prepared.units, shares, planned=request.expected_split is not None)
    rows = None
    if data is not None and any(adjustment_kind(request, s) or resampled_kind(request, s) for s in request.metrics):
        rows = AdjustmentRows(request, data.frame if isinstance(data, Dataset) else data, arms)
    tested: list[Tested] = []
    resampled_checks: list[Check] = []
    for k, metric in enumerate(prepared.metrics):
        if rows is not None and resampled_kind(request, metric.spec) is not None:
            found, found_checks = compare_resampled(request, prepared, metric, rows, k * (len(arms) - 1))
            tested, resampled_checks = tested + found, resampled_checks + found_checks
        else:
            tested += _compare_metric(request, prepared, metric, rows)
    comparisons = _adjusted(request, tested)
    watched = request.sequential is not None or request.monitoring == "always_valid"
    if watched:
        tested = [replace(t, comparison=c) for t, c in zip(tested, comparisons, strict=True)]
        comparisons = monitor(request, tested, sum(prepared.units))
    timed = request.exposure_time_column is not None and data is not None
    if timed:
        assert data is not None
        comparisons = period_effects(request, data, prepared, comparisons)
    decisions, decision, reasons = decide(arms[1:], comparisons, request.decision_rule, srm.status)
    if timed and srm.status == "pass":
        decisions, reasons = novelty_reasons(request, comparisons, decisions, reasons)
    checks, warnings = checks_of(request, prepared, srm, data)
    checks += adjustment_checks(request)[0] + resampled_checks
    warnings += exact_test_warnings(comparisons) + no_lift_warnings(comparisons) + resampled_warnings(request)
    if watched:
        warnings += monitoring_warnings(request, comparisons)
    estimand = (
        "Average treatment effect of assignment (intention to treat): the difference in each metric's mean (or "
        "ratio of means) between each treatment arm and control."
    )
    if request.exposure_column is not None:
        exposure_found = exposure_checks(request, comparisons)
        checks, warnings = checks + exposure_found[0], warnings + exposure_found[1]
        estimand += exposure_estimand(request, comparisons)
    if timed:
        timed_found = novelty_checks(request, comparisons)
        checks, warnings = checks + timed_found[0], warnings + timed_found[1]
    return AbTestResult(
        estimand=estimand,
        method=method_text(request, prepared, comparisons),
        source="rows" if prepared.source == "rows" else "summaries",
        dataset=request.dataset if prepared.source == "rows" else None,
        exposure_column=request.exposure_column,
        exposure_time_column=request.exposure_time_column,
        control_arm=arms[0],
        arms=arms,
        n_obs=sum(prepared.units),
        alpha=request.alpha,
        alternative=request.alternative,
        correction=request.correction,
        monitoring=request.monitoring,
        planned_n_total=request.planned_n_total,
        srm=srm,
        effect=headline_comparison(comparisons).absolute,
        comparisons=comparisons,
        decisions=decisions,
        decision=decision,
        decision_reasons=reasons,
        checks=checks,
        warnings=warnings,
        summary=summary(request, comparisons, srm, decision) + (novelty_summary(comparisons) if timed else ""),
    )


def _restored(metric: MetricData, spec: MetricSpec) -> MetricData:
    """A metric's moments with the request's own spec (``for_moments`` read ratio-CUPED metrics without their
    covariates, quantile metrics as continuous ones); a quantile metric is never capped (``winsorize`` is for
    means)."""
    if spec.kind != "quantile":
        return replace(metric, spec=spec)
    return replace(metric, spec=spec, cap=None, uncapped=None, capped_values=0, largest_unit_share=None)


def headline_comparison(comparisons: list[Comparison]) -> Comparison:
    """The comparison behind the result's ``effect``: the first primary metric in the first treatment arm (the
    first comparison when no metric is primary). Comparisons run metric by metric, arm by arm within a metric."""
    return next((c for c in comparisons if c.role == "primary"), comparisons[0])


def _srm(arms: list[str], units: list[int], shares: list[float], *, planned: bool = True) -> SrmResult:
    """The chi-square of units per arm against ``shares``. A mismatch fails the check when the shares are the
    planned split (``planned``); against the equal split assumed for want of one it is a warning: the design may
    have been unequal on purpose (185 treated and 260 controls), which only the user can say."""
    total = sum(units)
    expected = [total * s for s in shares]
    chi2 = sum((o - e) ** 2 / e for o, e in zip(units, expected, strict=True)) if total else 0.0
    df = len(arms) - 1
    p_value = float(special.chdtrc(df, chi2)) if total else 1.0
    return SrmResult(
        observed=[ArmCount(arm=a, count=float(u)) for a, u in zip(arms, units, strict=True)],
        expected=[ArmCount(arm=a, count=e) for a, e in zip(arms, expected, strict=True)],
        chi2=chi2,
        df=df,
        p_value=p_value,
        status="pass" if p_value >= SRM_THRESHOLD else "fail" if planned else "warn",
    )


def _compare_metric(
    request: AbTestRequest, prepared: Prepared, metric: MetricData, rows: AdjustmentRows | None
) -> list[Tested]:
    """Every treatment arm against control on one metric, each with its guardrail harm p-value (None when the
    metric is not a guardrail), its degrees of freedom and (plain binary) its arms' counts: verdicts are set once
    the p-values are corrected (``_adjusted``)."""
    spec = metric.spec
    moments = metric.moments
    for arm, m in zip(prepared.arms, moments, strict=True):
        if m.n < 2:
            raise ToolError(
                "too_few_units",
                f"Metric '{display_name(spec.name)}' has {m.n} unit(s) in arm '{display_name(arm)}'; inference "
                "needs at least 2 per arm.",
                "Collect more data first; the power tool tells how many units the experiment needs.",
            )
        if metric.ratio and m.mean_d <= 0:
            raise ToolError(
                "zero_denominator",
                f"Metric '{display_name(spec.name)}': the denominator sums to zero in arm '{display_name(arm)}'.",
                "Check the denominator column; a ratio needs a positive denominator in every arm.",
            )
    theta = None
    pooled_x = 0.0
    adjusting = rows is not None and adjustment_kind(request, spec) is not None
    if spec.covariate_column is not None and not adjusting:
        everyone = pool(moments)
        theta = cuped_theta(everyone)
        pooled_x = everyone.mean_x
        if theta is None:
            raise ToolError(
                "constant_covariate",
                f"The covariate '{display_name(spec.covariate_column)}' of metric '{display_name(spec.name)}' does "
                "not vary, so CUPED cannot use it.",
                "Use a pre-period value that differs between units, or drop covariate_column.",
            )
    welch = spec.kind == "continuous" and not metric.ratio
    # counts: score intervals, pooled or exact test (an adjusted binary metric has its own estimate)
    binary = spec.kind == "binary" and not metric.ratio and not adjusting
    alpha, alternative = request.alpha, request.alternative

    def difference(
        control: ArmEstimate, treatment: ArmEstimate, plain_binary: bool
    ) -> tuple[Estimate, str, float | None]:
        if plain_binary:
            return (*binary_compare(control, treatment, alpha=alpha, alternative=alternative), None)
        found, df = compare(control, treatment, alpha=alpha, alternative=alternative, welch=welch)
        return found, _test_name(spec.kind, metric.ratio, theta is not None), df

    def estimate(moment_list: list[int], use_theta: float | None) -> list[ArmEstimate]:
        return [
            arm_estimate(moments[i], kind=spec.kind, ratio=metric.ratio, theta=use_theta, pooled_mean_x=pooled_x)
            for i in moment_list
        ]

    base_control = estimate([0], theta)[0]
    plain_control = estimate([0], None)[0]
    results = []
    for index, arm in enumerate(prepared.arms[1:], start=1):
        control, treatment = base_control, estimate([index], theta)[0]
        _require_finite(spec.name, [control, treatment, plain_control, estimate([index], None)[0]])
        _require_variance(spec.name, prepared.arms[0], arm, control, treatment)
        absolute, test, df = difference(control, treatment, binary and theta is None)
        adjustment = None
        if adjusting:
            assert rows is not None
            found = rows.comparison(spec, index, metric.cap)
            control, treatment, absolute, relative = found.control, found.treatment, found.absolute, found.relative
            test, df, adjustment = found.test, None, found.detail
        elif binary and theta is None:
            relative = binary_lift(control, treatment, alpha=alpha, alternative=alternative, p_value=absolute.p_value)
        else:
            relative = relative_lift(control, treatment, alpha=alpha, alternative=alternative)
        cuped = None
        if theta is not None:
            plain, _, _ = difference(plain_control, estimate([index], None)[0], binary)
            assert spec.covariate_column is not None
            cuped = CupedDetail(
                covariate_column=spec.covariate_column,
                theta=theta,
                variance_reduction=1.0 - (absolute.std_error / plain.std_error) ** 2 if plain.std_error > 0 else 0.0,
                unadjusted=plain,
            )
        cace = None
        if metric.exposure is not None:
            pair = (prepared.arms[0], arm)
            cace = complier_effect(request, spec.name, pair, metric.exposure[0], metric.exposure[index], theta)
        uncapped = None
        if metric.uncapped is not None:
            raw = [arm_estimate(metric.uncapped[i], kind=spec.kind, ratio=metric.ratio) for i in (0, index)]
            _require_finite(spec.name, raw)
            uncapped, _ = compare(raw[0], raw[1], alpha=alpha, alternative=alternative, welch=welch)
        margin_p, harm_p = None, None
        if spec.role == "guardrail":
            margin_p, harm_p = guardrail_tests(spec, control, treatment, absolute, relative, binary and theta is None)
        comparison = new_comparison(
            spec, arm, prepared.arms[0], control, treatment, absolute, relative, test,
            uncapped=uncapped, margin_p=margin_p, cuped=cuped, adjustment=adjustment, cace=cace,
        )  # fmt: skip
        counts = (control, treatment) if binary and theta is None else None
        results.append(Tested(comparison, harm_p, df, counts))
    return results


def _require_finite(metric: str, estimates: list[ArmEstimate]) -> None:
    """Refuse values whose means or variances leave floating point (row values near 1e300: their squares
    overflow), before any test is built on them."""
    if all(math.isfinite(e.value) and math.isfinite(e.variance) for e in estimates):
        return
    raise ToolError(
        "values_too_large",
        f"Metric '{display_name(metric)}' has values too large to analyse: their mean or variance is beyond "
        "floating point (about 1e308).",
        "Check the column for placeholder codes (such as 1e300 for missing) or a unit error, and rescale it "
        "(e.g. to thousands) if the values are real.",
    )


def _require_variance(metric: str, control_arm: str, arm: str, control: ArmEstimate, treatment: ArmEstimate) -> None:
    """Refuse a comparison whose difference has no sampling variance to speak of, saying which case it is: the
    metric does not vary at all, each arm is constant at its own value (up to rounding), or the arms vary so little
    that the difference is more than 1e10 standard errors (``results.zero_error``: no result may carry that)."""
    se = math.sqrt(control.variance + treatment.variance)
    difference = treatment.value - control.value
    scale = max(abs(control.value), abs(treatment.value))
    constant = se <= ROUNDING_NOISE * scale
    if not constant and not zero_error(se, difference):
        return
    name, treated, base = display_name(metric), display_name(arm), display_name(control_arm)
    values = f"{control.value:.10g} in control '{base}', {treatment.value:.10g} in '{treated}'"
    if constant and abs(difference) <= ROUNDING_NOISE * scale:
        raise ToolError(
            "zero_variance",
            f"Metric '{name}' does not vary: every unit in arm '{treated}' and in control '{base}' has the value "
            f"{control.value:.10g}, so there is no difference to test.",
            "Check that the column is the metric you meant and that the data are not a constant placeholder.",
        )
    spread = (
        "is constant within each arm" if constant else f"hardly varies within the arms (a standard error of {se:.3g})"
    )
    raise ToolError(
        "zero_variance",
        f"Metric '{name}' {spread} ({values}): the difference of {difference:+.10g} has too little variance "
        "within the arms to measure its uncertainty by, so no confidence interval or test can be computed.",
        "A metric that never varies within an arm is usually a placeholder or derived from the arm itself: check "
        "the column. If the values are real, report the difference as a description, without inference.",
    )


def _test_name(kind: str, ratio: bool, cuped: bool) -> str:
    if ratio:
        return "z-test on a ratio of means, delta-method standard error"
    base = "Welch t-test" if kind == "continuous" else "two-proportion z-test (unpooled standard error)"
    return base + (" on CUPED-adjusted values" if cuped else "")


def _adjusted(request: AbTestRequest, tested: list[Tested]) -> list[Comparison]:
    """Adjust p-values within the primary and within the secondary family; then set every verdict."""
    comparisons = [t.comparison for t in tested]
    adjusted = {id(c): c.p_value_raw for c in comparisons}
    for role in ("primary", "secondary"):
        family = [c for c in comparisons if c.role == role]
        for c, p in zip(family, adjust([c.p_value_raw for c in family], request.correction), strict=True):
            adjusted[id(c)] = p
    return [
        c.model_copy(
            update={"p_value_adjusted": adjusted[id(c)], "verdict": verdict(request.alpha, c, adjusted[id(c)], harm_p)}
        )
        for c, harm_p in ((t.comparison, t.harm_p) for t in tested)
    ]
