"""The RD estimate from sorted arrays: bandwidths, conventional and robust bias-corrected inference (numpy only).

``rd_fit`` is the whole estimator at one pair of bandwidths, on plain arrays, so that the refute tool, the
diagnostics and the benchmark can call it without pandas. ``rd_analysis`` pairs two fits as Calonico, Cattaneo &
Farrell (2020) recommend: the point estimate at the MSE-optimal bandwidth, the robust bias-corrected estimate,
interval and p-value at the coverage-error-optimal one. Effects are right minus left here; the tool turns them into
treated minus untreated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from tools.literals import Kernel
from tools.rdd.bandwidth import Bandwidths, cer_bandwidths, cer_factor, select_bandwidths
from tools.rdd.local import FloatArray, NotIdentified, Side, SideEstimate, intercept_variance, side_estimate
from tools.results import zero_error

if TYPE_CHECKING:  # Literals only: the estimator core runs without pydantic
    from tools.rdd.models import InferenceBandwidth, RdRule
    from tools.rdd.models import RdSelector as Selector

__all__ = [
    "Inference",
    "NoFirstStage",
    "RdAnalysis",
    "RdFit",
    "degenerate",
    "exact_first_stage",
    "normal_p_value",
    "normal_quantile",
    "perfect_jump",
    "rd_analysis",
    "rd_fit",
    "split_sides",
]


class NoFirstStage(NotIdentified):
    """Fuzzy design: take-up has exactly the same fitted value on both sides, so the ratio is undefined."""


def normal_quantile(alpha: float) -> float:
    """The two-sided critical value z_{1 - alpha/2}."""
    return NormalDist().inv_cdf(1 - alpha / 2)


def normal_p_value(z: float) -> float:
    """Two-sided p-value of a standard normal statistic."""
    return math.erfc(abs(z) / math.sqrt(2))


@dataclass(frozen=True)
class Inference:
    estimate: float
    std_error: float
    ci_lower: float
    ci_upper: float
    p_value: float


def _inference(estimate: float, se: float, alpha: float) -> Inference:
    z = normal_quantile(alpha)
    p = normal_p_value(estimate / se) if se > 0 else (0.0 if estimate != 0 else 1.0)
    return Inference(estimate, se, estimate - z * se, estimate + z * se, p)


@dataclass(frozen=True)
class RdFit:
    """Right-minus-left RD estimates at the cutoff (the LATE for a fuzzy design)."""

    conventional: Inference
    robust: Inference  # bias-corrected point, robust standard error
    first_stage: Inference | None  # take-up jump (fuzzy), conventional point and robust interval
    first_stage_conventional: Inference | None
    bandwidths: Bandwidths
    n_h_left: int
    n_h_right: int
    n_b_left: int
    n_b_right: int
    left: SideEstimate
    right: SideEstimate
    n_clusters: int | None


def split_sides(
    x: FloatArray, y: FloatArray, c: float, cluster: NDArray[np.intp] | None = None, *, presorted: bool = False
) -> tuple[Side, Side]:
    """Split at c (x < c left, x >= c right, as rdrobust does) and sort each side once by x. y is (n, k)."""
    if presorted:
        cut = int(np.searchsorted(x, c, side="left"))
        parts = [np.arange(cut), np.arange(cut, len(x))]
    else:
        below = x < c
        parts = []
        for mask in (below, ~below):
            rows = np.flatnonzero(mask)
            parts.append(rows[np.argsort(x[rows])])  # ties in any order: every result is invariant to it
    left_rows, right_rows = parts
    left = Side(x=x[left_rows], y=y[left_rows], cluster=cluster[left_rows] if cluster is not None else None, below=True)
    right = Side(x=x[right_rows], y=y[right_rows], cluster=cluster[right_rows] if cluster is not None else None)
    return left, right


def rd_fit(
    left: Side,
    right: Side,
    c: float,
    *,
    p: int = 1,
    kernel: Kernel = "triangular",
    selector: Selector = "mserd",
    h: float | None = None,
    b: float | None = None,
    alpha: float = 0.05,
    fuzzy: bool = False,
    bandwidths: Bandwidths | None = None,
) -> RdFit:
    """rdrobust's sharp or fuzzy RD on two sorted sides (y columns: outcome[, take-up]).

    Bandwidths: ``bandwidths`` as given, else h (and b, default h) on both sides, else selected by ``selector``.
    Raises BandwidthError when the selector is not identified and NotIdentified when a bandwidth holds too few
    distinct values.
    """
    if bandwidths is not None:
        bw = bandwidths
    elif h is None:
        # rdrobust selects sharp-style bandwidths when take-up does not vary on a side
        sharp_bw = fuzzy and (np.var(left.y[:, 1]) == 0 or np.var(right.y[:, 1]) == 0)
        if fuzzy and not sharp_bw:
            bw = select_bandwidths(left, right, c, p, kernel, selector, True)
        else:
            bw = select_bandwidths(_outcome_only(left), _outcome_only(right), c, p, kernel, selector, False)
        if b is not None:
            bw = Bandwidths(bw.h_left, bw.h_right, b, b, bw.mass_points)
    else:
        bb = h if b is None else b
        bw = Bandwidths(h, h, bb, bb, mass_points=False)
    est_l = side_estimate(left, c, bw.h_left, bw.b_left, p, kernel)
    est_r = side_estimate(right, c, bw.h_right, bw.b_right, p, kernel)
    tau_cl = est_r.conventional - est_l.conventional
    tau_bc = est_r.bias_corrected - est_l.bias_corrected
    first = first_cl = None
    if fuzzy:
        ty, tt = float(tau_cl[0]), float(tau_cl[1])
        if tt == 0:
            raise NoFirstStage("take-up does not jump within the bandwidth")
        s = np.array([1 / tt, -ty / tt**2])
        point_cl = ty / tt
        bias = np.array([ty - float(tau_bc[0]), tt - float(tau_bc[1])])
        point_bc = point_cl - float(s @ bias)
        s_t = np.array([0.0, 1.0])
        v_t_cl = _variance(est_l, est_r, s_t, "cl")
        v_t_rb = _variance(est_l, est_r, s_t, "rb")
        first_cl = _inference(tt, math.sqrt(v_t_cl), alpha)
        first = _inference(float(tau_bc[1]), math.sqrt(v_t_rb), alpha)
    else:
        s = np.ones(1)
        point_cl, point_bc = float(tau_cl[0]), float(tau_bc[0])
    v_cl = _variance(est_l, est_r, s, "cl")
    v_rb = _variance(est_l, est_r, s, "rb")
    n_clusters = None
    if left.cluster is not None and right.cluster is not None:
        used = [sc for sc in (est_l.cluster, est_r.cluster) if sc is not None]
        n_clusters = len(np.unique(np.concatenate(used))) if used else 0
    return RdFit(
        conventional=_inference(point_cl, math.sqrt(v_cl), alpha),
        robust=_inference(point_bc, math.sqrt(v_rb), alpha),
        first_stage=first,
        first_stage_conventional=first_cl,
        bandwidths=bw,
        n_h_left=est_l.n_h,
        n_h_right=est_r.n_h,
        n_b_left=est_l.n_b,
        n_b_right=est_r.n_b,
        left=est_l,
        right=est_r,
        n_clusters=n_clusters,
    )


#: The inference rule paired with each MSE-optimal selector by default: its CER-optimal h with rho = h / b kept.
INFERENCE_RULE: dict[str, RdRule] = {"mserd": "cerrd_rho", "msetwo": "certwo_rho"}
#: rdrobust's own CER rule (b left at its MSE-optimal value), tried when the default's smaller b cannot be fitted.
CER_RULE: dict[str, RdRule] = {"mserd": "cerrd", "msetwo": "certwo"}


@dataclass(frozen=True)
class RdAnalysis:
    """An RD estimated at one pair of bandwidths and inferred at another (the same object when they coincide).

    ``estimation`` (MSE-optimal, or given) gives the conventional point estimate; ``inference`` gives the robust
    bias-corrected estimate, its standard error, interval and p-value, all from one fit so that the interval is
    centred on the estimate reported with it. ``rule`` names the inference bandwidths: "cerrd_rho"/"certwo_rho"
    (see :func:`rd_analysis`), or the estimation rule ("mserd", "msetwo", "cerrd", "certwo", "manual") when they
    are the same. ``fallback`` says why the CER bandwidths were not used when they were asked for but could not be
    fitted.
    """

    estimation: RdFit
    inference: RdFit
    rule: RdRule
    cer_factor: float
    fallback: str | None = None


def rd_analysis(
    left: Side,
    right: Side,
    c: float,
    *,
    p: int = 1,
    kernel: Kernel = "triangular",
    selector: Selector = "mserd",
    h: float | None = None,
    alpha: float = 0.05,
    fuzzy: bool = False,
    inference: InferenceBandwidth = "cer",
    scale: float | None = None,
) -> RdAnalysis:
    """The RD at the ``selector``'s bandwidths (or h on both sides) with, when ``inference`` is "cer" and the
    selector is MSE-optimal, robust inference at the coverage-error-optimal bandwidths.

    The CER-optimal h is the MSE-optimal h times n^(-p/((p+3)(2p+3))) (Calonico, Cattaneo & Farrell 2020, as
    rdrobust's cerrd / certwo compute it), and b is scaled by the same factor so that rho = h / b stays at its
    data-driven value: the CER expansion behind that h holds rho fixed (nprobust, the same authors' local polynomial
    package, ties b to h with rho = 1). rdrobust's cerrd keeps b at its MSE-optimal value instead; on
    Calonico-Cattaneo-Titiunik's model 1 (n = 1,000) its 95% interval covers about 93%, this one about 94%, the
    MSE-optimal one about 92% (tests/tools/test_rdd_cer.py). The selectors "cerrd" / "certwo" are rdrobust's exactly
    and, like a given h, are used for inference as they are; p = 0 has a factor of 1.

    When these CER bandwidths hold too few distinct values, leave no take-up jump, or (with ``scale``, the fitted
    magnitude) give no usable standard error while the estimation bandwidths do, rdrobust's cerrd / certwo (b left
    at its MSE-optimal value) are tried; failing those too, the inference falls back to the estimation bandwidths
    and ``fallback`` says so. Raises as :func:`rd_fit` does for the estimation fit.
    """
    est = rd_fit(left, right, c, p=p, kernel=kernel, selector=selector, h=h, alpha=alpha, fuzzy=fuzzy)
    if h is not None:
        return RdAnalysis(est, est, "manual", 1.0)
    factor = cer_factor(left, right, p)
    if inference == "same" or selector not in INFERENCE_RULE or factor == 1.0:
        return RdAnalysis(est, est, selector, 1.0)
    why = ""
    for keep_rho, rule in ((True, INFERENCE_RULE[selector]), (False, CER_RULE[selector])):
        try:
            bw = cer_bandwidths(est.bandwidths, factor, keep_rho=keep_rho)
            inf = rd_fit(left, right, c, p=p, kernel=kernel, alpha=alpha, fuzzy=fuzzy, bandwidths=bw)
        except NotIdentified as error:
            no_jump = isinstance(error, NoFirstStage)
            why = f"the CER-optimal bandwidths {'leave no take-up jump' if no_jump else 'hold too few distinct values'}"
            continue
        if scale is not None and _unusable(inf, scale, fuzzy) and not _unusable(est, scale, fuzzy):
            why = "within the CER-optimal bandwidths the outcome is fitted exactly or a side has a single cluster"
            continue
        return RdAnalysis(est, inf, rule, factor)
    return RdAnalysis(est, est, selector, 1.0, why)


def _unusable(fit: RdFit, scale: float, fuzzy: bool) -> bool:
    """No standard error to report: an exact fit, or a non-finite (single-cluster) one."""
    parts = (fit.conventional, fit.robust, fit.first_stage, fit.first_stage_conventional)
    if not all(math.isfinite(i.std_error) for i in parts if i is not None):
        return True
    return degenerate(fit, scale) or (fuzzy and exact_first_stage(fit))


def degenerate(fit: RdFit, scale: float, *, first_stage: bool = False) -> bool:
    """True when a standard error of the effect (or of the first stage) is not finite, zero or numerically zero
    relative to its estimate and the magnitude ``scale`` of what was fitted: an exact fit, never a finding."""
    parts = (fit.first_stage, fit.first_stage_conventional) if first_stage else (fit.conventional, fit.robust)
    return any(zero_error(i.std_error, i.estimate, scale) for i in parts if i is not None)


def perfect_jump(take_up: Inference | None) -> float | None:
    """A first stage (conventional or bias-corrected) fitted exactly at a jump of one unit: within its bandwidth
    every row on one side takes the treatment and none on the other. +1.0 or -1.0 (right minus left); None
    otherwise. The fuzzy estimate's denominator is then exactly 1, so it is the sharp one, and the first stage has no
    standard error because there is nothing to estimate, not because it is weak."""
    if take_up is None or not math.isfinite(take_up.std_error):
        return None
    if not zero_error(take_up.std_error, take_up.estimate, 1.0):
        return None
    if abs(abs(take_up.estimate) - 1.0) >= 1e-9:
        return None
    return 1.0 if take_up.estimate > 0 else -1.0


def exact_first_stage(fit: RdFit) -> bool:
    """A fuzzy fit whose first stage (conventional or bias-corrected) has no usable standard error and is not
    perfect compliance (:func:`perfect_jump`): take-up fitted exactly without switching from 0 to 1, or a
    non-finite error. Never true of a sharp fit."""
    parts = [part for part in (fit.first_stage_conventional, fit.first_stage) if part is not None]
    return any(zero_error(part.std_error, part.estimate, 1.0) and perfect_jump(part) is None for part in parts)


def _variance(left: SideEstimate, right: SideEstimate, s: FloatArray, kind: str) -> float:
    total = 0.0
    for est in (left, right):
        scores = est.cl_scores if kind == "cl" else est.rb_scores
        k_df = est.p + 1 if kind == "cl" else est.q + 1
        total += intercept_variance(scores, s, est.cluster, k_df)
    return total


def _outcome_only(side: Side) -> Side:
    if side.y.shape[1] == 1:
        return side
    return side.derived(side.x, None, 1)
