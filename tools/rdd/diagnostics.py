"""Falsification checks of an RD: covariate continuity, placebo cutoffs and bandwidth sensitivity."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tools.data.columns import column, numeric
from tools.data.names import display_name
from tools.rdd.bandwidth import BandwidthError, Bandwidths
from tools.rdd.estimate import Inference, RdFit, degenerate, rd_analysis, rd_fit, split_sides
from tools.rdd.inputs import MIN_PER_SIDE
from tools.rdd.local import FloatArray, NotIdentified, Side
from tools.rdd.models import CovariateBalance, PlaceboCutoff, RddRequest, SensitivityRow
from tools.results import Estimate

__all__ = ["SENSITIVITY", "covariate_balance", "estimate_model", "placebo_cutoffs", "sensitivity"]

SENSITIVITY = (0.5, 0.75, 1.0, 1.5, 2.0)


def estimate_model(inference: Inference, sign: float, alpha: float) -> Estimate:
    """An Inference (above minus below) as an Estimate of treated minus untreated."""
    if sign > 0:
        lo, hi, point = inference.ci_lower, inference.ci_upper, inference.estimate
    else:
        lo, hi, point = -inference.ci_upper, -inference.ci_lower, -inference.estimate
    return Estimate(
        estimate=point,
        std_error=inference.std_error,
        ci_lower=lo,
        ci_upper=hi,
        p_value=min(1.0, max(0.0, inference.p_value)),
        alpha=alpha,
    )


def _scale(left: Side, right: Side) -> float:
    """The largest magnitude of the fitted column (the first): rounding noise is measured against it."""
    return float(max((np.max(np.abs(side.y[:, 0])) for side in (left, right) if side.n), default=0.0))


def _identified(side: Side, p: int) -> bool:
    return side.n >= MIN_PER_SIDE and side.distinct() >= p + 2


def covariate_balance(
    request: RddRequest,
    data: pd.DataFrame,
    x: FloatArray,
    rows: NDArray[np.intp],
    cluster: NDArray[np.intp] | None,
    sign: float,
) -> list[CovariateBalance]:
    """The sharp RD on each covariate, with its own bandwidths and the request's inference rule (rows: the data
    rows kept for the main fit): a balance test is inference, so it uses the same calibrated interval as `effect`."""
    out = []
    for name in request.covariates or []:
        values = numeric(column(data, name, "covariate"), name, "covariate")[rows]
        present = ~np.isnan(values)
        left, right = split_sides(
            x[present], values[present][:, None], request.cutoff, cluster[present] if cluster is not None else None
        )
        n = int(np.count_nonzero(present))
        label = display_name(name)
        if not (_identified(left, request.polynomial) and _identified(right, request.polynomial)):
            out.append(_untested_covariate(name, n, f"'{label}' has too few values on one side of the cutoff."))
            continue
        try:
            fit = rd_analysis(
                left,
                right,
                request.cutoff,
                p=request.polynomial,
                kernel=request.kernel,
                selector=request.bandwidth_selector,
                alpha=request.alpha,
                inference=request.inference_bandwidth,
                scale=_scale(left, right),
            ).inference
        except (BandwidthError, NotIdentified):
            out.append(_untested_covariate(name, n, f"No bandwidth could be selected for '{label}'."))
            continue
        if degenerate(fit, _scale(left, right)):
            out.append(_untested_covariate(name, n, f"'{label}' does not vary around the fit near the cutoff."))
            continue
        est = estimate_model(fit.robust, sign, request.alpha)
        jumps = est.p_value < request.alpha
        out.append(
            CovariateBalance(
                covariate=name,
                robust=est,
                bandwidth=fit.bandwidths.h_left,
                n_obs=n,
                status="warn" if jumps else "pass",
                detail=f"'{label}' {'jumps' if jumps else 'does not jump detectably'} at the cutoff: "
                f"{est.estimate:+.4g} (robust {1 - request.alpha:.0%} CI {est.ci_lower:+.4g} to "
                f"{est.ci_upper:+.4g}, p = {est.p_value:.3g}).",
            )
        )
    return out


def _untested_covariate(name: str, n: int, why: str) -> CovariateBalance:
    return CovariateBalance(
        covariate=name, robust=None, bandwidth=None, n_obs=n, status="not_tested", detail=why + " Not tested."
    )


def placebo_cutoffs(request: RddRequest, left: Side, right: Side, sign: float) -> list[PlaceboCutoff]:
    """The sharp RD of the outcome at the median of each side, using only that side's rows (inferred at the
    request's inference bandwidths, as `effect` is: a placebo that under-covers would flag jumps that are not there)."""
    out = []
    treated_below = request.treatment_side == "below"
    for side, is_left in ((left, True), (right, False)):
        label = "treated" if is_left == treated_below else "untreated"
        placebo = float(np.median(side.x))
        outcome = side.y[:, :1]
        inner_left, inner_right = split_sides(side.x, outcome, placebo, side.cluster, presorted=True)
        if not (
            _identified(inner_left, request.polynomial)
            and _identified(inner_right, request.polynomial)
            and inner_left.n > 0
            and placebo > side.x[0]
        ):
            out.append(_untested_placebo(placebo, label, "too few distinct values either side of it"))
            continue
        try:
            fit = rd_analysis(
                inner_left,
                inner_right,
                placebo,
                p=request.polynomial,
                kernel=request.kernel,
                selector=request.bandwidth_selector,
                alpha=request.alpha,
                inference=request.inference_bandwidth,
                scale=_scale(inner_left, inner_right),
            ).inference
        except (BandwidthError, NotIdentified):
            out.append(_untested_placebo(placebo, label, "no bandwidth could be selected"))
            continue
        if degenerate(fit, _scale(inner_left, inner_right)):
            out.append(_untested_placebo(placebo, label, "the outcome does not vary around the fit there"))
            continue
        est = estimate_model(fit.robust, sign, request.alpha)
        jumps = est.p_value < request.alpha
        out.append(
            PlaceboCutoff(
                cutoff=placebo,
                side=label,
                robust=est,
                status="warn" if jumps else "pass",
                detail=f"At the placebo cutoff {placebo:.6g} ({label} side) the outcome "
                f"{'jumps' if jumps else 'does not jump detectably'}: {est.estimate:+.4g} (p = {est.p_value:.3g}).",
            )
        )
    return out


def _untested_placebo(placebo: float, label: str, why: str) -> PlaceboCutoff:
    return PlaceboCutoff(
        cutoff=placebo, side=label, robust=None, status="not_tested", detail=f"Placebo cutoff {placebo:.6g}: {why}."
    )


def sensitivity(
    request: RddRequest, left: Side, right: Side, main: RdFit, sign: float, fuzzy: bool
) -> list[SensitivityRow]:
    """The robust estimate with h and b both scaled by 0.5, 0.75, 1, 1.5 and 2 from ``main``, the fit behind
    `effect` (its inference bandwidths), so that the row at 1 is the headline."""
    bw = main.bandwidths
    scale = _scale(left, right)
    rows = []
    for m in SENSITIVITY:
        scaled = Bandwidths(m * bw.h_left, m * bw.h_right, m * bw.b_left, m * bw.b_right, bw.mass_points)
        if m == 1.0:
            fit: RdFit | None = main
        else:
            try:
                fit = rd_fit(
                    left,
                    right,
                    request.cutoff,
                    p=request.polynomial,
                    kernel=request.kernel,
                    alpha=request.alpha,
                    fuzzy=fuzzy,
                    bandwidths=scaled,
                )
            except NotIdentified:
                fit = None
        if fit is not None and degenerate(fit, scale):
            fit = None  # an exact fit at this bandwidth: no interval to show
        if fit is None:
            rows.append(
                SensitivityRow(
                    multiplier=m,
                    h_below=scaled.h_left,
                    h_above=scaled.h_right,
                    robust=None,
                    detail="Too few distinct values within this bandwidth, or an exact fit (no standard error).",
                )
            )
            continue
        rows.append(
            SensitivityRow(
                multiplier=m,
                h_below=scaled.h_left,
                h_above=scaled.h_right,
                robust=estimate_model(fit.robust, 1.0 if fuzzy else sign, request.alpha),
                detail=f"{fit.n_h_left:,} below and {fit.n_h_right:,} above within h.",
            )
        )
    return rows
