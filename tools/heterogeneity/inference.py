"""BLP, GATES and CLAN on one sample split, and the median rule that combines the splits.

Chernozhukov, Demirer, Duflo & Fernández-Val (2025, "Fisher-Schultz Lecture: Generic machine learning inference on
heterogeneous treatment effects in randomized experiments", Econometrica 93(4)), CDDF below. Each split divides the
units into an auxiliary half, where the DR-learner is trained, and a main half, where its predictions S are
evaluated against the doubly robust scores phi of units it never saw. On the main half:

- BLP: the least-squares fit phi = b1 + b2 (S - mean S); b1 is the average effect, b2 the loading on the
  prediction (0: no heterogeneity the model can find; 1: a calibrated prediction). HC1 standard errors.
- GATES: the mean of phi in each fifth of S (ties broken at random), with its standard error.
- CLAN: the mean of each modifier in the top and the bottom fifth, and their difference (Welch).

Pooling cross-fitted predictions of several models into one regression is not valid (each unit's noise is in the
other folds' training data: under no heterogeneity the test rejects far too often); one split is valid but depends on
the split, so the splits are repeated and combined by CDDF's median rule, valid whatever the dependence between the
splits: the estimate is the median over splits, the (1 - alpha) interval runs from the median of the lower to the
median of the upper bounds of the splits' (1 - alpha/2) intervals, and the p-value is min(1, 2 x median p-value).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

from tools.results import Estimate, require_inference

__all__ = [
    "SplitEstimates",
    "blp",
    "clan",
    "gates",
    "groups_of",
    "median_adjusted",
    "split_p_values",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


@dataclass(frozen=True)
class SplitEstimates:
    """One quantity over the splits: estimates and standard errors (arrays of the same shape, splits first)."""

    estimate: FloatArray
    std_error: FloatArray


def blp(phi: FloatArray, predicted: FloatArray) -> tuple[float, float, float, float]:
    """(b1, se1, b2, se2) of phi = b1 + b2 (S - mean S) by least squares with HC1 standard errors. ``predicted``
    must vary (the caller breaks a constant prediction first)."""
    n = len(phi)
    centred = predicted - predicted.mean()
    sxx = float(centred @ centred)
    b1 = float(phi.mean())
    b2 = float(centred @ phi) / sxx
    residual = phi - b1 - b2 * centred
    factor = n / (n - 2)
    r2 = residual * residual
    se1 = float(np.sqrt(factor * r2.sum())) / n
    se2 = float(np.sqrt(factor * float(r2 @ (centred * centred)))) / sxx
    return b1, se1, b2, se2


def groups_of(predicted: FloatArray, tiebreak: FloatArray, groups: int) -> IntArray:
    """Group 0 (smallest predictions) to groups - 1 (largest), of equal sizes; ties broken by ``tiebreak``."""
    order = np.lexsort((tiebreak, predicted))
    labels = np.empty(len(predicted), dtype=np.intp)
    labels[order] = (np.arange(len(predicted)) * groups) // len(predicted)
    return labels


def _means(values: FloatArray, labels: IntArray, groups: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per group: mean, sample variance (ddof 1) and count of ``values`` (1-D)."""
    counts = np.bincount(labels, minlength=groups).astype(np.float64)
    sums = np.bincount(labels, weights=values, minlength=groups)
    mean = sums / counts
    squares = np.bincount(labels, weights=(values - mean[labels]) ** 2, minlength=groups)
    return mean, squares / np.maximum(counts - 1.0, 1.0), counts


def gates(phi: FloatArray, labels: IntArray, predicted: FloatArray, groups: int) -> tuple[FloatArray, ...]:
    """(estimate, standard error, mean prediction, count) per group: the mean of phi in each group."""
    mean, variance, counts = _means(phi, labels, groups)
    prediction = np.bincount(labels, weights=predicted, minlength=groups) / counts
    return mean, np.sqrt(variance / counts), prediction, counts


def clan(x: FloatArray, labels: IntArray, groups: int) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """(most, least, difference, standard error) per modifier column: the means in the top and bottom groups.

    Welch's standard error; when both groups are constant in a column (an indicator that is 1 in one group and 0 in
    the other) the column's variance on the whole evaluation half stands in for both, so the difference keeps an
    honest, non-zero standard error."""
    top, bottom = labels == groups - 1, labels == 0
    n_top, n_bottom = float(top.sum()), float(bottom.sum())
    most, least = x[top].mean(axis=0), x[bottom].mean(axis=0)
    v_top, v_bottom = x[top].var(axis=0, ddof=1), x[bottom].var(axis=0, ddof=1)
    se = np.sqrt(v_top / n_top + v_bottom / n_bottom)
    pooled = np.sqrt(x.var(axis=0, ddof=1) * (1.0 / n_top + 1.0 / n_bottom))
    se = np.where(se > 0, se, pooled)
    return most, least, most - least, se


def split_p_values(estimate: FloatArray, std_error: FloatArray) -> FloatArray:
    """Two-sided normal p-values per split (1 where the standard error is zero and the estimate is too)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(std_error > 0, np.abs(estimate) / np.where(std_error > 0, std_error, 1.0), np.inf)
    p = np.minimum(1.0, 2.0 * special.ndtr(-z))
    return np.where((std_error == 0) & (estimate == 0), 1.0, p)


def median_adjusted(values: SplitEstimates, alpha: float, *, what: str, scale: float) -> Estimate:
    """CDDF's median over splits: estimate and standard error are medians, the interval the medians of the splits'
    (1 - alpha/2) bounds, the p-value min(1, 2 x median p) (see the module docstring). 1-D inputs."""
    estimate, std_error = values.estimate, values.std_error
    z = float(special.ndtri(1.0 - alpha / 4.0))
    middle = float(np.median(estimate))
    se = float(np.median(std_error))
    require_inference(
        se,
        middle,
        scale,
        what=what,
        reason="the outcome models reproduce the outcome exactly in most splits",
        hint="Check that the outcome is not computed from the treatment or the modifiers.",
    )
    lower = float(np.median(estimate - z * std_error))
    upper = float(np.median(estimate + z * std_error))
    p_value = min(1.0, 2.0 * float(np.median(split_p_values(estimate, std_error))))
    return Estimate(
        estimate=middle,
        std_error=se,
        ci_lower=min(lower, upper),
        ci_upper=max(lower, upper),
        p_value=p_value,
        alpha=alpha,
    )
