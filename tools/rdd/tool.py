"""The rdd tool: the RD estimate with robust bias-corrected inference, its diagnostics and the RD plot's data."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from tools.errors import ToolError
from tools.rdd.bandwidth import BandwidthError, Bandwidths
from tools.rdd.density import cjm_density
from tools.rdd.diagnostics import covariate_balance, estimate_model, placebo_cutoffs, sensitivity
from tools.rdd.estimate import (
    NoFirstStage,
    RdAnalysis,
    degenerate,
    exact_first_stage,
    perfect_jump,
    rd_analysis,
    split_sides,
)
from tools.rdd.inputs import MIN_PER_SIDE, Prepared, prepare
from tools.rdd.local import NotIdentified, Side
from tools.rdd.models import BandwidthChoice, DensityTest, FirstStage, RddRequest, RddResult, RdRule
from tools.rdd.plot import rd_plot
from tools.rdd.report import WEAK_F, PerfectCompliance, Scope, checks_and_warnings, estimand, method, summary
from tools.results import Estimate

__all__ = ["density_test", "f_statistic", "headline", "rdd", "rdd_at_cutoff"]


def _fit(request: RddRequest, prepared: Prepared) -> RdAnalysis:
    """The main fits, refused when the estimation fit's inference is degenerate (a zero standard error is never a
    finding; an unusable inference fit has already fallen back to the estimation bandwidths)."""
    analysis = _raw_fit(request, prepared)
    fit = analysis.estimation
    effect = (fit.conventional, fit.robust)
    if request.cluster is not None and not all(math.isfinite(e.std_error) for e in effect):
        raise ToolError(
            "too_few_clusters",
            f"Within the bandwidth one side of the cutoff has a single '{request.cluster}' cluster, so "
            "cluster-robust standard errors cannot be computed.",
            "Cluster by a finer unit, widen the bandwidth, or drop `cluster` if rows are independent.",
        )
    if request.fuzzy is not None and exact_first_stage(fit):
        raise ToolError(
            "exact_first_stage",
            f"Take-up '{request.fuzzy}' is fitted exactly near the cutoff but does not switch from 0 to 1 there (it "
            "follows the running variable within the bandwidth), so the first stage has no standard error.",
            "Check the take-up column; if treatment follows the cutoff exactly, drop `fuzzy`: the sharp RD "
            "estimates the same effect.",
        )
    if degenerate(fit, prepared.outcome_scale):
        raise ToolError(
            "degenerate_fit",
            "The outcome is fitted exactly near the cutoff (it does not vary around the local polynomials), so the "
            "standard error is zero and there is no interval or p-value to report.",
            "Check that the outcome column is the metric you meant, or give a wider `bandwidth` with more units.",
        )
    return analysis


def _raw_fit(request: RddRequest, prepared: Prepared) -> RdAnalysis:
    try:
        return rd_analysis(
            prepared.left,
            prepared.right,
            request.cutoff,
            p=request.polynomial,
            kernel=request.kernel,
            selector=request.bandwidth_selector,
            h=request.bandwidth,
            alpha=request.alpha,
            fuzzy=request.fuzzy is not None,
            inference=request.inference_bandwidth,
            scale=prepared.outcome_scale,
        )
    except BandwidthError as error:
        if error.reason == "first_stage":
            raise _no_first_stage(request) from error
        if error.reason == "variance":
            raise ToolError(
                "bandwidth_failed",
                "No bandwidth could be selected: near the cutoff the outcome does not vary around the fitted "
                "polynomials (it is constant, or fitted exactly, on one side), so there is no variance to trade "
                "against bias.",
                "Give `bandwidth` explicitly, or use bandwidth_selector='mserd' (one bandwidth from both sides); "
                "check that `outcome` is the metric you meant.",
            ) from error
        raise ToolError(
            "bandwidth_failed",
            "No bandwidth could be selected: the running variable has too little variation near the cutoff "
            "(typically a handful of repeated values).",
            "Give `bandwidth` explicitly, or use a finer running variable; with very few values an RD may not be "
            "identified.",
        ) from error
    except NoFirstStage as error:
        raise _no_first_stage(request) from error
    except NotIdentified as error:
        raise ToolError(
            "too_few_in_bandwidth",
            f"Within the bandwidth there are fewer than {request.polynomial + 2} distinct running-variable values "
            "on one side, too few to fit the polynomials.",
            "Give a wider `bandwidth` (or none, to select it from the data), or a lower `polynomial`.",
        ) from error


def _no_first_stage(request: RddRequest) -> ToolError:
    return ToolError(
        "no_first_stage",
        f"Take-up '{request.fuzzy}' does not change at the cutoff within the bandwidth, so the fuzzy RD (a ratio "
        "of the two jumps) is not identified.",
        "Check the take-up column; give a wider `bandwidth`; if the cutoff does not change treatment, an RD "
        "cannot estimate its effect.",
    )


def rdd(request: RddRequest, data: pd.DataFrame | None = None) -> RddResult:
    """Estimate the regression discontinuity described by ``request`` on ``data``."""
    prepared = prepare(request, data)
    assert data is not None
    fuzzy = request.fuzzy is not None
    analysis = _fit(request, prepared)
    fit, inf = analysis.estimation, analysis.inference
    compliance = _compliance(request, prepared, analysis)
    notes = list(prepared.notes)
    if compliance is not None and compliance.taken != request.treatment_side:
        notes.append(compliance.side_note(request.treatment_side))
        request = request.model_copy(update={"treatment_side": compliance.taken})
    sign = 1.0 if request.treatment_side == "above" else -1.0
    effect_sign = 1.0 if fuzzy else sign  # the LATE is a ratio of jumps: the same whichever side is treated
    conventional = estimate_model(fit.conventional, effect_sign, request.alpha)
    robust = estimate_model(inf.robust, effect_sign, request.alpha)
    manual = request.bandwidth is not None
    bandwidth = _choice(fit.bandwidths, "manual" if manual else request.bandwidth_selector)
    bandwidth_inference = _choice(inf.bandwidths, analysis.rule)
    first_stage = None
    if compliance is None and inf.first_stage is not None and fit.first_stage_conventional is not None:
        fs_conventional = estimate_model(fit.first_stage_conventional, sign, request.alpha)
        f_stat = f_statistic(fs_conventional)
        first_stage = FirstStage(
            conventional=fs_conventional,
            robust=estimate_model(inf.first_stage, sign, request.alpha),
            f_statistic=f_stat,
            weak=f_stat < WEAK_F,
        )
    density = _density(prepared.x_density, request.cutoff)
    if analysis.fallback is not None:
        notes.append(
            f"The robust interval uses the estimation bandwidths, not the coverage-error-optimal ones: "
            f"{analysis.fallback}. Its coverage may fall short of {1 - request.alpha:.0%}."
        )
    covariates, placebos, rows = [], [], []
    if request.diagnostics:
        covariates = covariate_balance(request, data, prepared.x, prepared.rows, prepared.cluster, sign)
        placebos = placebo_cutoffs(request, prepared.left, prepared.right, sign)
        rows = sensitivity(request, prepared.left, prepared.right, inf, sign, fuzzy)
    elif request.covariates:
        notes.append("Covariate, placebo and sensitivity checks were skipped (diagnostics=false).")
    n_effective = (fit.n_h_left, fit.n_h_right)
    n_inference = (inf.n_h_left, inf.n_h_right)
    checks, warnings = checks_and_warnings(
        request,
        robust=robust,
        n_effective=n_effective,
        distinct=(prepared.left.distinct(), prepared.right.distinct()),
        near=(
            _near(prepared.left, request.cutoff, fit.bandwidths.h_left),
            _near(prepared.right, request.cutoff, fit.bandwidths.h_right),
        ),
        bandwidth=bandwidth,
        first_stage=first_stage,
        density=density,
        covariates=covariates,
        placebos=placebos,
        sensitivity=rows,
        n_clusters=min((n for n in (fit.n_clusters, inf.n_clusters) if n is not None), default=None),
        notes=notes,
        compliance=compliance,
    )
    plot = rd_plot(
        prepared.left,
        prepared.right,
        request.cutoff,
        fit.bandwidths.h_left,
        fit.bandwidths.h_right,
        fit.left.poly[:, 0],
        fit.right.poly[:, 0],
    )
    return RddResult(
        estimand=estimand(request, compliance),
        method=method(request, bandwidth, bandwidth_inference, request.cluster is not None, compliance),
        design="fuzzy" if fuzzy and (compliance is None or compliance.scope == "partly") else "sharp",
        dataset=request.dataset,
        outcome=request.outcome,
        running=request.running,
        cutoff=request.cutoff,
        treatment_side=request.treatment_side,
        effect=robust,
        conventional=conventional,
        bandwidth=bandwidth,
        bandwidth_inference=bandwidth_inference,
        kernel=request.kernel,
        polynomial=request.polynomial,
        n_effective_below=fit.n_h_left,
        n_effective_above=fit.n_h_right,
        n_inference_below=inf.n_h_left,
        n_inference_above=inf.n_h_right,
        n_below=prepared.left.n,
        n_above=prepared.right.n,
        n_obs=prepared.n_obs,
        n_clusters=fit.n_clusters,
        first_stage=first_stage,
        density_test=density,
        covariate_balance=covariates,
        placebo_cutoffs=placebos,
        bandwidth_sensitivity=rows,
        bins=plot,
        checks=checks,
        warnings=warnings,
        summary=summary(
            request,
            robust,
            conventional,
            bandwidth_inference,
            n_inference,
            first_stage,
            density,
            bandwidth,
            compliance=compliance,
        ),
    )


def _compliance(request: RddRequest, prepared: Prepared, analysis: RdAnalysis) -> PerfectCompliance | None:
    """A fuzzy request whose take-up switches exactly from 0 to 1 at the cutoff within the bandwidths of a reported
    first stage (the conventional one at the estimation h, the bias-corrected one at the inference b). None for a
    sharp request or a first stage with a standard error on both counts."""
    if request.fuzzy is None:
        return None
    conventional = analysis.estimation.first_stage_conventional
    robust = analysis.inference.first_stage
    jumps = [perfect_jump(conventional), perfect_jump(robust)]
    jump = next((j for j in jumps if j is not None), None)
    if jump is None:
        return None
    if all(np.ptp(side.y[:, 1]) == 0 for side in (prepared.left, prepared.right)):
        scope: Scope = "everywhere"
    elif None not in jumps:
        scope = "bandwidths"
    else:
        scope = "partly"
    estimated = None
    if scope == "partly":
        part, which = (robust, "bias-correction") if jumps[0] is not None else (conventional, "estimation")
        assert part is not None
        sign = 1.0 if jump > 0 else -1.0  # as take-up runs: 0 to 1 across the cutoff
        estimated = (which, estimate_model(part, sign, request.alpha))
    return PerfectCompliance(request.fuzzy, "above" if jump > 0 else "below", scope, estimated)


def _near(side: Side, cutoff: float, h: float) -> tuple[int, int]:
    """Rows within h of the cutoff on one side, and their distinct running-variable values."""
    if side.below:
        x = side.x[int(np.searchsorted(side.x, cutoff - h, side="left")) :]
    else:
        x = side.x[: int(np.searchsorted(side.x, cutoff + h, side="right"))]
    return len(x), int(np.unique(x).size)


def f_statistic(first_stage: Estimate) -> float:
    """(jump / its standard error) squared. A first stage reaching here has a standard error (a zero one with a
    jump is refused by Estimate, and an exact jump of 1 is perfect compliance, reported as a sharp design); the
    only zero left is a zero jump with no error, which is no first stage at all: F = 0."""
    if first_stage.std_error > 0:
        return (first_stage.estimate / first_stage.std_error) ** 2
    return 0.0


def _choice(bw: Bandwidths, rule: RdRule) -> BandwidthChoice:
    return BandwidthChoice(
        h_below=bw.h_left,
        h_above=bw.h_right,
        b_below=bw.b_left,
        b_above=bw.b_right,
        selector=rule,
        mass_points_adjusted=bw.mass_points,
    )


def _density(x_sorted: np.ndarray[Any, np.dtype[np.float64]], cutoff: float) -> DensityTest | None:
    below = int(np.searchsorted(x_sorted, cutoff, side="left"))
    if min(below, len(x_sorted) - below) < MIN_PER_SIDE:
        return None
    try:
        with np.errstate(all="ignore"):
            d = cjm_density(x_sorted, cutoff)
    except (np.linalg.LinAlgError, ValueError, ZeroDivisionError):
        return None
    values = (d.density_left, d.density_right, d.t_statistic, d.p_value, d.h_left, d.h_right)
    if not all(math.isfinite(v) for v in values):
        return None
    return DensityTest(
        density_below=d.density_left,
        density_above=d.density_right,
        t_statistic=d.t_statistic,
        p_value=min(1.0, max(0.0, d.p_value)),
        h_below=d.h_left,
        h_above=d.h_right,
        n_below=d.n_left,
        n_above=d.n_right,
    )


def headline(request: RddRequest, data: pd.DataFrame | None) -> float:
    """The robust bias-corrected point estimate (treated minus untreated) alone, without diagnostics: the number
    the refute tool re-estimates. Equal to ``rdd(request, data).effect.estimate``."""
    prepared = prepare(request, data)
    analysis = _fit(request, prepared)
    sign = 1.0 if request.treatment_side == "above" or request.fuzzy is not None else -1.0
    return sign * analysis.inference.robust.estimate


def density_test(running: Any, cutoff: float = 0.0) -> DensityTest:
    """The Cattaneo-Jansson-Ma manipulation test on a running variable (array or Series; missing values ignored)."""
    x = np.asarray(pd.to_numeric(pd.Series(running), errors="raise"), dtype=np.float64)
    x = np.sort(x[~np.isnan(x)])
    if len(x) == 0 or not x[0] < cutoff < x[-1]:
        raise ToolError(
            "cutoff_outside_data",
            f"The cutoff {cutoff:g} is not inside the running variable's range.",
            "Give a cutoff strictly between the smallest and largest value.",
        )
    result = _density(x, cutoff)
    if result is None:
        raise ToolError(
            "too_few_observations",
            "Too few observations on one side of the cutoff for the density test.",
            "The test needs at least 10 observations on each side (and more for a useful answer).",
        )
    return result


def rdd_at_cutoff(request: RddRequest, data: pd.DataFrame | None, cutoff: float) -> Estimate:
    """A placebo RD: the outcome's jump (robust, treated minus untreated orientation) at a fake ``cutoff``, using
    only the rows on the same side of the real cutoff as the fake one (so the real jump cannot leak in)."""
    prepared = prepare(request, data)
    side = prepared.left if cutoff < request.cutoff else prepared.right
    inner_left, inner_right = split_sides(side.x, side.y[:, :1], cutoff, side.cluster, presorted=True)
    if min(inner_left.n, inner_right.n) < MIN_PER_SIDE:
        raise ToolError(
            "too_few_observations",
            f"Fewer than {MIN_PER_SIDE} rows on one side of the placebo cutoff {cutoff:g} (within the same side of "
            f"the real cutoff {request.cutoff:g}).",
            "Pick a placebo cutoff well inside one side of the data, e.g. the median of that side.",
        )
    placebo = request.model_copy(update={"cutoff": cutoff, "fuzzy": None, "bandwidth": None})
    try:
        analysis = rd_analysis(
            inner_left,
            inner_right,
            cutoff,
            p=placebo.polynomial,
            kernel=placebo.kernel,
            selector=placebo.bandwidth_selector,
            alpha=placebo.alpha,
            inference=placebo.inference_bandwidth,
            scale=prepared.outcome_scale,
        )
    except (BandwidthError, NotIdentified) as error:
        raise ToolError(
            "bandwidth_failed",
            f"No bandwidth could be selected at the placebo cutoff {cutoff:g}.",
            "Pick a placebo cutoff with more distinct running-variable values around it.",
        ) from error
    fit = analysis.inference
    if degenerate(fit, prepared.outcome_scale):
        raise ToolError(
            "degenerate_fit",
            f"The outcome is fitted exactly around the placebo cutoff {cutoff:g}, so the placebo jump has no "
            "standard error.",
            "Pick a placebo cutoff where the outcome varies among units.",
        )
    sign = 1.0 if request.treatment_side == "above" else -1.0
    return estimate_model(fit.robust, sign, request.alpha)
