"""Balance (standardized mean differences, variance ratios), overlap, the score histogram and the naive gap."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from tools.propensity.models import BalanceRow, Overlap, ScoreHistogram
from tools.results import Estimate

__all__ = ["balance_table", "naive_difference", "overlap_summary", "score_histogram"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

HISTOGRAM_BINS = 20
BLOCK_ROWS = 1 << 14


def _weighted_moments(x: FloatArray, weights: list[FloatArray]) -> tuple[FloatArray, FloatArray]:
    """Weighted means and variances of every column of ``x`` under each weight vector (one pass over x)."""
    center = x[:: max(1, len(x) // 50_000)].mean(axis=0)
    k = x.shape[1]
    first_moment = np.zeros((len(weights), k))
    second_moment = np.zeros((len(weights), k))
    for first in range(0, len(x), BLOCK_ROWS):
        block = x[first : first + BLOCK_ROWS] - center
        w = np.column_stack([column[first : first + BLOCK_ROWS] for column in weights])
        first_moment += w.T @ block
        second_moment += w.T @ (block * block)
    totals = np.array([column.sum() for column in weights])[:, None]
    mean = first_moment / totals
    variance = np.maximum(second_moment / totals - mean**2, 0.0)
    return mean + center, variance


def balance_table(
    labels: list[str],
    x: FloatArray,
    treated: BoolArray,
    ipw_weights: FloatArray | None,
    match_weights: FloatArray | None,
) -> list[BalanceRow]:
    """SMD (difference in means over the unweighted pooled standard deviation) and variance ratio per term."""
    d = treated.astype(np.float64)
    columns = [d, 1.0 - d]
    if ipw_weights is not None:
        columns += [ipw_weights * d, ipw_weights * (1.0 - d)]
    if match_weights is not None:
        columns += [match_weights * d, match_weights * (1.0 - d)]
    mean, variance = _weighted_moments(x, columns)
    pooled = np.sqrt((variance[0] + variance[1]) / 2.0)

    def smd(row: int) -> FloatArray:
        return np.where(pooled > 0, (mean[row] - mean[row + 1]) / np.where(pooled > 0, pooled, 1.0), 0.0)

    def ratio(row: int) -> list[float | None]:
        return [
            float(variance[row, j] / variance[row + 1, j]) if variance[row + 1, j] > 0 else None
            for j in range(len(labels))
        ]

    before, ratio_before = smd(0), ratio(0)
    weighted = smd(2) if ipw_weights is not None else None
    ratio_weighted = ratio(2) if ipw_weights is not None else None
    row_m = 4 if ipw_weights is not None else 2
    matched = smd(row_m) if match_weights is not None else None
    ratio_matched = ratio(row_m) if match_weights is not None else None
    return [
        BalanceRow(
            term=label,
            mean_treated=float(mean[0, j]),
            mean_control=float(mean[1, j]),
            smd_before=float(before[j]),
            variance_ratio_before=ratio_before[j],
            smd_weighted=float(weighted[j]) if weighted is not None else None,
            variance_ratio_weighted=ratio_weighted[j] if ratio_weighted is not None else None,
            smd_matched=float(matched[j]) if matched is not None else None,
            variance_ratio_matched=ratio_matched[j] if ratio_matched is not None else None,
        )
        for j, label in enumerate(labels)
    ]


def _ess(w: FloatArray) -> float:
    total = float(w.sum())
    return total**2 / float(w @ w) if total > 0 else 0.0


def overlap_summary(score: FloatArray, treated: BoolArray, weights: FloatArray) -> Overlap:
    """Score ranges per arm, shares near 0 and 1, and the weights' effective sample sizes."""
    t_scores, c_scores = score[treated], score[~treated]
    t_weights, c_weights = weights[treated], weights[~treated]
    largest = max(float(t_weights.max() / t_weights.sum()), float(c_weights.max() / c_weights.sum()))
    return Overlap(
        min_treated=float(t_scores.min()),
        max_treated=float(t_scores.max()),
        min_control=float(c_scores.min()),
        max_control=float(c_scores.max()),
        share_below_05=float(np.mean(score < 0.05)),
        share_above_95=float(np.mean(score > 0.95)),
        effective_sample_size_treated=_ess(t_weights),
        effective_sample_size_control=_ess(c_weights),
        largest_weight_share=largest,
    )


def score_histogram(score: FloatArray, treated: BoolArray) -> ScoreHistogram:
    """Counts per arm on 20 equal bins of [0, 1]."""
    bins = np.minimum((score * HISTOGRAM_BINS).astype(np.intp), HISTOGRAM_BINS - 1)
    treated_counts = np.bincount(bins[treated], minlength=HISTOGRAM_BINS)
    control_counts = np.bincount(bins[~treated], minlength=HISTOGRAM_BINS)
    return ScoreHistogram(
        bin_edges=[i / HISTOGRAM_BINS for i in range(HISTOGRAM_BINS + 1)],
        treated=[int(c) for c in treated_counts],
        control=[int(c) for c in control_counts],
    )


def naive_difference(y: FloatArray, treated: BoolArray, alpha: float) -> Estimate:
    """Treated minus control mean with a Welch standard error and normal interval."""
    yt, yc = y[treated], y[~treated]
    difference = float(yt.mean() - yc.mean())
    std_error = float(np.sqrt(yt.var(ddof=1) / len(yt) + yc.var(ddof=1) / len(yc)))
    return Estimate.normal(difference, std_error, alpha)
