"""Quantile metrics: the difference of an arm's q-th quantile (p50, p90, p95 latency) and its confidence interval.

The sample quantile of an arm is the ``ceil(n q)``-th smallest row (the inverse of the empirical distribution
function, R's ``quantile(type = 1)``). Its standard error comes from Woodruff's (1952) interval: the share of rows
at or below the quantile, ``F(q_hat)``, is a mean of 0/1 indicators whose standard error ``s`` is known (``sqrt(q(1 -
q) / n)`` for independent rows, the cluster-robust variance of the indicators' mean when rows are events of
randomized units); the rows at the ranks ``q -/+ z s`` bracket the quantile, and their distance over ``2 z`` is its
standard error (the order-statistic form of ``sqrt(q (1 - q) / n) / f(quantile)``, with no density to estimate).
GrowthBook's stats engine computes quantile metrics this way. The arms are independent, so the difference's
variance is the sum of the arms'; the relative difference ``t / c - 1`` takes the delta method.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from tools.ab_test.stats import interval, p_of_z
from tools.bounds import MAX_RATIO
from tools.errors import ToolError
from tools.results import Estimate, zero_error

__all__ = [
    "MIN_TAIL_ROWS",
    "QuantileArm",
    "QuantileComparison",
    "compare_quantiles",
    "min_rows_for_quantile",
    "quantile_arm",
    "quantile_difference",
    "quantile_position",
]

#: A quantile needs at least this many rows expected beyond it, in its smaller tail (n min(q, 1 - q) >= 10): fewer,
#: and Woodruff's bracket reaches past the first or last row, and the normal approximation fails.
MIN_TAIL_ROWS = 10

#: Woodruff's bracket is q -/+ 1.96 standard errors of the share (a 95% bracket), whatever alpha the test uses: it
#: only measures the local slope of the quantile function, as in GrowthBook.
BRACKET_Z = float(special.ndtri(0.975))

#: Below this many clusters the cluster-robust variance of the indicators' mean is unreliable.
MIN_CLUSTERS = 30

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class QuantileArm:
    """One arm's quantile and its standard error.

    ``lower_value`` and ``upper_value`` are the rows at Woodruff's ranks (the bracket); ``share_std_error`` is the
    standard error of the share of rows at or below the quantile (cluster-robust with clusters) and
    ``design_effect`` its variance over the independent-rows one (1 without clusters).
    """

    q: float
    quantile: float
    std_error: float
    n_rows: int
    n_clusters: int | None
    lower_value: float
    upper_value: float
    share_std_error: float
    design_effect: float


@dataclass(frozen=True)
class QuantileComparison:
    """Treatment minus control of the q-th quantile (``absolute``) and ``t / c - 1`` (``relative``; None when the
    control quantile is 0 or negligible beside the treatment's)."""

    q: float
    control: QuantileArm
    treatment: QuantileArm
    absolute: Estimate
    relative: Estimate | None
    method: str


def min_rows_for_quantile(q: float) -> int:
    """Rows an arm needs for the q-th quantile: ``MIN_TAIL_ROWS / min(q, 1 - q)``, rounded up (200 for p95)."""
    return math.ceil(MIN_TAIL_ROWS / min(q, 1 - q) - 1e-9)


def quantile_position(n: int | NDArray[np.int64], q: float) -> NDArray[np.int64]:
    """0-based position of the q-th sample quantile among n sorted rows: ``ceil(n q) - 1`` (at least 0).

    The 1e-9 guard keeps ``n q`` that is an integer in exact arithmetic (0.95 x 1000) from rounding up a rank.
    """
    ranks = np.ceil(np.asarray(n, dtype=np.float64) * q - 1e-9).astype(np.int64)
    return np.maximum(ranks - 1, 0)


def _validated(values: ArrayLike, q: float, arm: str) -> FloatArray:
    if not 0 < q < 1:
        raise ToolError("invalid_quantile", f"The quantile {q} is not between 0 and 1.", "Give q as 0.5, 0.9, 0.95.")
    y = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(y)):
        bad = int(np.count_nonzero(~np.isfinite(y)))
        raise ToolError(
            "non_finite_values",
            f"The {arm} arm has {bad} missing or infinite values of the quantile metric.",
            "Drop or fill the rows without a value before the analysis.",
        )
    needed = min_rows_for_quantile(q)
    if len(y) < needed:
        raise ToolError(
            "too_few_rows_for_quantile",
            f"The {arm} arm has {len(y)} rows; its {q:g} quantile needs at least {needed} (about {MIN_TAIL_ROWS} "
            "rows beyond the quantile) for a standard error.",
            f"Collect more data, or use a less extreme quantile (the median needs {min_rows_for_quantile(0.5)}).",
        )
    return y


def _design_effect(below: NDArray[np.bool_], clusters: ArrayLike | None, arm: str) -> tuple[int | None, float]:
    """The number of clusters and the design effect of the share of rows at or below the quantile: its
    cluster-robust variance over the independent-rows one (None and 1 without clusters)."""
    if clusters is None:
        return None, 1.0
    n = len(below)
    share = float(np.count_nonzero(below)) / n
    iid_variance = share * (1 - share) / (n - 1)
    ids = np.asarray(clusters).ravel()
    if len(ids) != n:
        raise ToolError("cluster_length", f"The {arm} arm has {n} rows but {len(ids)} cluster ids.", "")
    _, codes = np.unique(ids, return_inverse=True)
    n_clusters = int(codes.max()) + 1
    if n_clusters < MIN_CLUSTERS:
        raise ToolError(
            "too_few_clusters",
            f"The {arm} arm has {n_clusters} randomized units; a clustered quantile needs at least {MIN_CLUSTERS}.",
            "Analyse more units, or drop cluster_column if rows are independent.",
        )
    rows = np.bincount(codes).astype(np.float64)
    hits = np.bincount(codes, weights=below.astype(np.float64))
    # Delta method for a ratio of cluster sums: sum_c (hits_c - share rows_c)^2 / (C (C - 1) mean_rows^2)
    resid = hits - share * rows
    mean_rows = n / n_clusters
    variance = float(resid @ resid) / (n_clusters * (n_clusters - 1) * mean_rows * mean_rows)
    design_effect = variance / iid_variance if iid_variance > 0 else 1.0
    return n_clusters, design_effect


def quantile_arm(values: ArrayLike, q: float, clusters: ArrayLike | None = None, *, arm: str = "") -> QuantileArm:
    """The q-th quantile of one arm's rows with Woodruff's standard error.

    Parameters
    ----------
    values
        The metric per row (latency of each request), finite.
    q
        The quantile, 0 < q < 1 (0.95 for p95).
    clusters
        The randomized unit of each row when rows are finer (requests of users): the share's variance is then
        cluster-robust, so the quantile's standard error accounts for rows of a unit being alike.
    arm
        The arm's label, for messages.

    Raises
    ------
    ToolError
        ``invalid_quantile``, ``non_finite_values``, ``too_few_rows_for_quantile`` (fewer than
        :func:`min_rows_for_quantile` rows), ``too_few_clusters``, ``quantile_ties`` (the rows around the quantile
        are all equal, so its density cannot be measured).
    """
    label = arm or "an"
    y = _validated(values, q, label)
    n = len(y)
    ordered = np.sort(y)
    position = int(quantile_position(n, q))
    estimate = float(ordered[position])
    n_clusters, design_effect = _design_effect(y <= estimate, clusters, label)
    share_se = math.sqrt(q * (1 - q) / n * design_effect)
    low_share, high_share = q - BRACKET_Z * share_se, q + BRACKET_Z * share_se
    if low_share <= 0 or high_share >= 1:
        raise ToolError(
            "too_few_rows_for_quantile",
            f"The {label} arm's rows are too few or too clustered for its {q:g} quantile (design effect "
            f"{design_effect:.3g}): the interval for the share below it reaches past 0 or 1.",
            "Collect more randomized units, or use a less extreme quantile.",
        )
    lower = float(ordered[int(quantile_position(n, low_share))])
    upper = float(ordered[min(int(quantile_position(n, high_share)), n - 1)])
    std_error = (upper - lower) / (2 * BRACKET_Z)
    if zero_error(std_error, estimate, float(np.abs(ordered[[0, -1]]).max())):
        raise ToolError(
            "quantile_ties",
            f"In the {label} arm every row from the {low_share:.3g} to the {high_share:.3g} quantile equals "
            f"{estimate:g}: the values are too coarse (tied) to measure the {q:g} quantile's uncertainty.",
            "Use a finer-grained measurement, or analyse the share of rows above a threshold as a binary metric.",
        )
    return QuantileArm(
        q=q,
        quantile=estimate,
        std_error=std_error,
        n_rows=n,
        n_clusters=n_clusters,
        lower_value=lower,
        upper_value=upper,
        share_std_error=share_se,
        design_effect=design_effect,
    )


def compare_quantiles(
    control: QuantileArm, treatment: QuantileArm, *, alpha: float = 0.05, alternative: str = "two-sided"
) -> QuantileComparison:
    """Treatment minus control, and ``t / c - 1``, with z intervals and p-values (arms independent).

    The relative difference's variance is the delta method's, ``(var_t + r^2 var_c) / c^2`` with ``r = t / c``;
    it is None when the control quantile is 0 or negligible beside the treatment's (``bounds.MAX_RATIO``).
    """
    if control.q != treatment.q:
        raise ValueError("the arms' quantiles differ")
    diff = treatment.quantile - control.quantile
    se = math.hypot(treatment.std_error, control.std_error)
    low, high = interval(diff, se, alpha, None, alternative)
    absolute = Estimate(
        estimate=diff, std_error=se, ci_lower=low, ci_upper=high, p_value=p_of_z(diff / se, alternative), alpha=alpha
    )
    relative = None
    c, t = control.quantile, treatment.quantile
    if c != 0 and abs(t) <= MAX_RATIO * abs(c):
        ratio = t / c
        lift_se = math.hypot(treatment.std_error, ratio * control.std_error) / abs(c)
        lift = ratio - 1
        if 0 < lift_se < math.inf and not zero_error(lift_se, lift):
            low, high = interval(lift, lift_se, alpha, None, alternative)
            relative = Estimate(
                estimate=lift,
                std_error=lift_se,
                ci_lower=low,
                ci_upper=high,
                p_value=p_of_z(lift / lift_se, alternative),
                alpha=alpha,
            )
    clustered = control.n_clusters is not None
    method = (
        f"Difference of the {control.q:g} quantiles (the ceil(n q)-th smallest row per arm); Woodruff standard "
        "errors from the rows at the ranks q -/+ 1.96 standard errors of the share below the quantile"
        + (" (cluster-robust share: rows grouped by randomized unit)" if clustered else "")
        + "; arms independent, z test; relative difference by the delta method."
    )
    return QuantileComparison(
        q=control.q, control=control, treatment=treatment, absolute=absolute, relative=relative, method=method
    )


def quantile_difference(
    control: ArrayLike,
    treatment: ArrayLike,
    q: float,
    *,
    control_clusters: ArrayLike | None = None,
    treatment_clusters: ArrayLike | None = None,
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> QuantileComparison:
    """The q-th quantile of treatment minus control's from rows: :func:`quantile_arm` per arm, then
    :func:`compare_quantiles`. Give both arms' cluster ids or neither."""
    if (control_clusters is None) != (treatment_clusters is None):
        raise ValueError("give cluster ids for both arms or for neither")
    return compare_quantiles(
        quantile_arm(control, q, control_clusters, arm="control"),
        quantile_arm(treatment, q, treatment_clusters, arm="treatment"),
        alpha=alpha,
        alternative=alternative,
    )
