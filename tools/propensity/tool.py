"""The propensity tool: the effect of a self-selected treatment by weighting, matching and AIPW."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import special

from tools.data.names import display_name
from tools.errors import ToolError
from tools.propensity.diagnostics import (
    balance_table,
    naive_difference,
    overlap_summary,
    score_histogram,
)
from tools.propensity.inputs import Prepared, PropensityDesign, prepare
from tools.propensity.logit import LogitFit, fit_logit
from tools.propensity.matching import MatchResult, match_estimate
from tools.propensity.models import (
    DroppedRows,
    MethodEstimate,
    ModelTerm,
    PropensityModel,
    PropensityRequest,
    PropensityResult,
)
from tools.propensity.pairs import DisjointPairs, disjoint_pairs
from tools.propensity.report import checks_and_warnings, describe_estimand, describe_method, summary_sentence
from tools.propensity.weighting import OutcomeModel, WeightedEstimate, fit_outcome, weighted_estimate
from tools.results import Estimate, require_inference

__all__ = ["BOUNDS_CALIPER", "bounds_pairs", "design", "headline", "propensity"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: The caliper of the disjoint pairs Rosenbaum bounds read when the request sets none, in standard deviations of the
#: logit score (Austin 2011): without it, 60% treated units paired without replacement reject 93% of A/A data sets
#: at Gamma 1 (poor late pairs); with it, 2%.
BOUNDS_CALIPER = 0.2
#: Scores beyond [AUTO_TRIM, 1 - AUTO_TRIM] mean the arms barely overlap: such units are trimmed (and the
#: overlap check fails) unless the request set its own trim.
AUTO_TRIM = 0.01


@dataclass(frozen=True)
class Fitted:
    """The analysed sample (after trimming) with its propensity model."""

    x: FloatArray
    treated: BoolArray
    y: FloatArray
    fit: LogitFit
    trim: float | None
    auto_trimmed: bool
    trimmed: int


def _separation_error(labels: list[str], x: FloatArray, treated: BoolArray, fit: LogitFit | None) -> ToolError:
    separating = []
    for j, label in enumerate(labels):
        t_values, c_values = x[treated, j], x[~treated, j]
        if t_values.min() >= c_values.max() or t_values.max() <= c_values.min():
            separating.append(label)
    if separating:
        cause = (
            "the treated and control units do not overlap on "
            + ", ".join(f"'{display_name(s)}'" for s in separating[:5])
            + " (every value of it seen in one arm lies at or beyond the other arm's range)"
        )
    else:
        cause = "a combination of the covariates predicts the treatment exactly"
        if fit is not None:
            scaled = fit.coefficients[1:] / np.diag(fit.transform)[1:]
            largest = np.argsort(-np.abs(scaled))[:3]
            cause += " (largest coefficients: " + ", ".join(f"'{display_name(labels[j])}'" for j in largest) + ")"
    return ToolError(
        "no_overlap",
        f"No common support: {cause}, so the propensity model has no maximum-likelihood fit and no comparison of "
        "like with like exists.",
        "Restrict the data to the range where both arms occur (for example drop units outside the other arm's range "
        "of that covariate), coarsen or drop the separating covariate, or answer the question with another design.",
    )


def _fit(labels: list[str], x: FloatArray, treated: BoolArray) -> LogitFit:
    fit = fit_logit(x, treated.astype(np.float64))
    if fit.separated or not fit.converged:
        raise _separation_error(labels, x, treated, fit)
    return fit


def _fitted(request: PropensityRequest, prepared: Prepared) -> Fitted:
    design = prepared.design
    x, treated, y = design.covariates, design.treatment > 0.5, design.outcome
    fit = _fit(design.terms, x, treated)
    score = special.expit(fit.linear_predictor)
    trim = request.trim
    auto = False
    if trim is None:
        extreme = score > 1 - AUTO_TRIM if request.estimand == "ATT" else (score < AUTO_TRIM) | (score > 1 - AUTO_TRIM)
        if extreme.any():
            trim, auto = AUTO_TRIM, True
    if trim is None:
        return Fitted(x, treated, y, fit, None, False, 0)
    upper_only = auto and request.estimand == "ATT"  # for the ATT, controls with tiny scores do no harm
    keep = score <= 1 - trim if upper_only else (score >= trim) & (score <= 1 - trim)
    trimmed = int((~keep).sum())
    if trimmed == 0:
        return Fitted(x, treated, y, fit, trim, auto, 0)
    x, treated, y = np.ascontiguousarray(x[keep]), treated[keep], y[keep]
    n_treated = int(treated.sum())
    if n_treated < 2 or len(treated) - n_treated < 2:
        raise ToolError(
            "no_overlap",
            f"After trimming units with propensity scores outside [{trim:g}, {1 - trim:g}], {n_treated:,} treated and "
            f"{len(treated) - n_treated:,} control units remain: the arms barely overlap.",
            "The treated and control units are too different to compare; restrict the question to a population "
            "where both occur, or use another design.",
        )
    return Fitted(x, treated, y, _fit(design.terms, x, treated), trim, auto, trimmed)


def _caliper_width(request: PropensityRequest, fitted: Fitted) -> float | None:
    if request.caliper is None:
        return None
    return float(request.caliper * np.std(fitted.fit.linear_predictor))


def _outcome_models(
    request: PropensityRequest, prepared: Prepared, fitted: Fitted
) -> tuple[OutcomeModel | None, OutcomeModel]:
    binary = prepared.binary_outcome
    transform = fitted.fit.transform
    m0 = fit_outcome(fitted.x, fitted.y, fitted.treated, False, binary, transform)
    m1 = None
    if request.estimand == "ATE":
        m1 = fit_outcome(fitted.x, fitted.y, fitted.treated, True, binary, transform)
    return m1, m0


def _run(
    request: PropensityRequest,
    prepared: Prepared,
    fitted: Fitted,
    method: str,
    with_se: bool,
    notes: list[str] | None = None,
) -> WeightedEstimate | MatchResult:
    if method == "matching":
        smaller = int(min(fitted.treated.sum(), len(fitted.treated) - fitted.treated.sum()))
        if notes is not None and request.neighbors > smaller:
            notes.append(
                f"Matching: {request.neighbors} neighbours were asked for but an arm has only {smaller:,} units, so "
                "every unit of that arm is a match (the estimate is then close to a difference of means)."
            )
        result = match_estimate(
            fitted.fit.linear_predictor,
            fitted.treated,
            fitted.y,
            estimand=request.estimand,
            k=request.neighbors,
            caliper=_caliper_width(request, fitted),
            with_se=with_se,
            model=(fitted.x, fitted.fit.covariance()) if with_se else None,
        )
        if result.n_used == 0:
            raise ToolError(
                "no_overlap",
                f"No unit has a match within the caliper of {request.caliper:g} standard deviations of the logit "
                "score.",
                "Widen the caliper, or leave it out and read the balance and overlap diagnostics.",
            )
        return result
    m1, m0 = _outcome_models(request, prepared, fitted) if method == "aipw" else (None, None)
    if notes is not None:
        notes.extend(f"AIPW: {m.note}." for m in (m0, m1) if m is not None and m.note)
    return weighted_estimate(
        fitted.x, fitted.treated, fitted.y, fitted.fit, estimand=request.estimand, m1=m1, m0=m0, with_se=with_se
    )


def _headline_method(request: PropensityRequest) -> str:
    return "aipw" if "aipw" in request.methods else request.methods[0]


def headline(request: PropensityRequest, data: pd.DataFrame | None) -> float:
    """The headline estimate of ``propensity(request, data)`` exactly, without standard errors or diagnostics.

    The propensity model is refitted on every call (the refute tool calls this on altered data many times).
    """
    prepared = prepare(request, data)
    fitted = _fitted(request, prepared)
    return _run(request, prepared, fitted, _headline_method(request), with_se=False).estimate


def bounds_pairs(request: PropensityRequest, data: pd.DataFrame | None) -> DisjointPairs:
    """Disjoint 1:1 pairs of treated units and controls (greedy, without replacement, within the request's caliper,
    else :data:`BOUNDS_CALIPER`) on the same fitted score as the matching estimate: what Rosenbaum bounds read
    (:mod:`tools.propensity.pairs`)."""
    prepared = prepare(request, data)
    fitted = _fitted(request, prepared)
    width = _caliper_width(request, fitted)
    if width is None:  # without replacement, the last treated units would take far-off controls: Austin's caliper
        width = float(BOUNDS_CALIPER * np.std(fitted.fit.linear_predictor))
    return disjoint_pairs(fitted.fit.linear_predictor, fitted.treated, fitted.y, width)


def design(request: PropensityRequest, data: pd.DataFrame | None) -> PropensityDesign:
    """The design matrix, treatment and outcome the propensity tool analyses (before any trimming)."""
    return prepare(request, data).design


def _model(prepared: Prepared, fitted: Fitted) -> PropensityModel:
    fit = fitted.fit
    std_errors = np.sqrt(np.maximum(np.diag(fit.covariance()), 0.0))
    names = ["(intercept)", *prepared.design.terms]
    return PropensityModel(
        terms=[
            ModelTerm(term=name, coefficient=float(c), std_error=float(s))
            for name, c, s in zip(names, fit.coefficients, std_errors, strict=True)
        ],
        converged=fit.converged,
        iterations=fit.iterations,
        log_likelihood=fit.log_likelihood,
        n_obs=len(fitted.y),
    )


def propensity(request: PropensityRequest, data: pd.DataFrame | None) -> PropensityResult:
    """Estimate the ATT or ATE of a self-selected treatment with IPW, matching and AIPW, with diagnostics."""
    prepared = prepare(request, data)
    fitted = _fitted(request, prepared)
    score = special.expit(fitted.fit.linear_predictor)
    estimates: list[MethodEstimate] = []
    ipw_weights: FloatArray | None = None
    match: MatchResult | None = None
    model_notes: list[str] = []
    for method in dict.fromkeys(request.methods):
        result = _run(request, prepared, fitted, method, with_se=True, notes=model_notes)
        assert result.std_error is not None
        if isinstance(result, MatchResult):
            match = result
            n_used = int(np.count_nonzero(result.weights))  # matched units and the units used as their matches
        else:
            ipw_weights = result.weights
            n_used = len(fitted.y)
        require_inference(
            result.std_error,
            result.estimate,
            float(np.max(np.abs(fitted.y))),
            what=f"the {method} estimate",
            reason=f"{len(fitted.y):,} units, and the {'outcome models fit' if method == 'aipw' else 'estimator fits'}"
            " them exactly: a perfect fit, or an outcome that does not vary within the arms",
            hint=f"Use more units (dozens per arm at least), leave '{method}' out of `methods`, or check that "
            "`outcome` is the metric you meant.",
        )
        base = Estimate.normal(result.estimate, result.std_error, request.alpha)
        estimates.append(
            MethodEstimate(
                **base.model_dump(),
                method=method,
                n_obs=n_used,
                detail=describe_method(method, request),
            )
        )
    if ipw_weights is None:
        ipw_weights = weighted_estimate(
            fitted.x, fitted.treated, fitted.y, fitted.fit, estimand=request.estimand, with_se=False
        ).weights
    balance = balance_table(
        prepared.design.terms,
        fitted.x,
        fitted.treated,
        ipw_weights if {"ipw", "aipw"} & set(request.methods) else None,
        match.weights if match is not None else None,
    )
    overlap = overlap_summary(score, fitted.treated, ipw_weights)
    naive = naive_difference(fitted.y, fitted.treated, request.alpha)
    n_missing = len(data) - len(prepared.design.outcome) if data is not None else 0
    dropped = [DroppedRows(reason=reason, count=count) for reason, count in prepared.dropped]
    if fitted.trimmed and fitted.trim is not None:
        dropped.append(
            DroppedRows(
                reason=f"propensity score outside [{fitted.trim:g}, {1 - fitted.trim:g}] (trimmed)"
                if not (fitted.auto_trimmed and request.estimand == "ATT")
                else f"propensity score above {1 - fitted.trim:g} (trimmed: no comparable controls)",
                count=fitted.trimmed,
            )
        )
    if match is not None and (match.unmatched_treated or match.unmatched_control):
        dropped.append(
            DroppedRows(
                reason="matching only: no match within the caliper "
                f"({match.unmatched_treated:,} treated, {match.unmatched_control:,} control)",
                count=match.unmatched_treated + match.unmatched_control,
            )
        )
    headline_estimate = next(e for e in estimates if e.method == _headline_method(request))
    n_treated = int(fitted.treated.sum())
    checks, warnings = checks_and_warnings(
        request,
        prepared,
        fitted.fit.converged,
        fitted.fit.iterations,
        fitted.trim,
        fitted.auto_trimmed,
        fitted.trimmed,
        balance,
        overlap,
        match,
    )
    warnings.extend(model_notes)
    return PropensityResult(
        estimand=describe_estimand(request, prepared.treated_value, fitted.trim, fitted.auto_trimmed),
        method=describe_method("all", request),
        dataset=request.dataset,
        outcome=request.outcome,
        treatment=request.treatment,
        treated_value=prepared.treated_value,
        covariates=list(request.covariates),
        alpha=request.alpha,
        effect=headline_estimate,
        estimates=estimates,
        naive=naive,
        propensity_model=_model(prepared, fitted),
        balance=balance,
        overlap=overlap,
        score_histogram=score_histogram(score, fitted.treated),
        n_obs=len(fitted.y),
        n_treated=n_treated,
        n_control=len(fitted.y) - n_treated,
        n_dropped=n_missing + fitted.trimmed,
        dropped=dropped,
        trim=fitted.trim,
        checks=checks,
        warnings=warnings,
        summary=summary_sentence(request, headline_estimate, naive, n_treated, len(fitted.y) - n_treated, checks),
    )
