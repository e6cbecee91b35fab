"""From a request and its data frame to validated arrays: the design the estimators share.

Every problem is a ToolError naming the column, the values and the fix; rows left out (missing values) are
counted per column and reported; constant and collinear covariate terms are dropped with a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import linalg

from tools.data.columns import treated_indicator, unknown_column
from tools.data.names import display_name
from tools.errors import ToolError
from tools.propensity.models import PropensityRequest
from tools.propensity.terms import Term, build_columns, check_columns, parse_term, term_columns

__all__ = ["Prepared", "PropensityDesign", "prepare"]

FloatArray = NDArray[np.float64]

POST_TREATMENT = re.compile(
    r"(^|[^a-z])(post|after|during|following|since|subsequent|outcome|result|later)([^a-z]|$)", re.I
)
#: A term whose variance left after regressing it on the earlier terms is below this share is collinear.
COLLINEAR_TOLERANCE = 1e-9
MIN_PER_ARM = 2
BLOCK_ROWS = 1 << 14


@dataclass(frozen=True)
class PropensityDesign:
    """The arrays every estimator (and the refute tool's omitted-variable bounds) works on.

    ``covariates`` holds the design columns named by ``terms`` (after the grammar, one-hot encoding and the
    removal of constant and collinear terms), one row per unit left after rows with missing values were dropped;
    ``treatment`` is 0/1 and ``outcome`` the outcome, on the same rows.
    """

    terms: list[str]
    covariates: FloatArray
    treatment: FloatArray
    outcome: FloatArray


@dataclass
class Prepared:
    design: PropensityDesign
    treated_value: str
    binary_outcome: bool
    dropped: list[tuple[str, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    post_treatment: list[str] = field(default_factory=list)


def _outcome(series: pd.Series, name: str) -> FloatArray:
    if not (pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype)):
        raise ToolError(
            "non_numeric_outcome",
            f"The outcome column '{display_name(name)}' is not numeric (it holds text such as "
            f"'{display_name(str(series.dropna().iloc[0]) if series.notna().any() else '', 30)}').",
            "Give a numeric outcome column (0/1 for a yes/no outcome).",
        )
    return np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


def centred_products(x: FloatArray, center: FloatArray) -> FloatArray:
    """(x - center)'(x - center), accumulated over blocks of rows."""
    k = x.shape[1]
    total = np.zeros((k, k))
    for first in range(0, len(x), BLOCK_ROWS):
        block = x[first : first + BLOCK_ROWS] - center
        total += block.T @ block
    return total


def _independent(labels: list[str], x: FloatArray) -> tuple[list[int], list[str], list[str]]:
    """Indices of the terms kept, and the labels of constant and of collinear terms (dropped)."""
    n = len(x)
    sample = x[:: max(1, n // 50_000)]
    products = centred_products(x, sample.mean(axis=0))
    means_shift = x.mean(axis=0) - sample.mean(axis=0)
    covariance = (products - n * np.outer(means_shift, means_shift)) / n
    variance = np.diag(covariance).copy()
    scale = np.sqrt(np.maximum(variance, 0.0))
    constant = [j for j in range(len(labels)) if not scale[j] > 1e-12 * max(1.0, float(np.abs(sample[:, j]).max()))]
    kept: list[int] = []
    collinear: list[str] = []
    for j in range(len(labels)):
        if j in constant:
            continue
        if kept:
            sub = covariance[np.ix_(kept, kept)] / np.outer(scale[kept], scale[kept])
            cross = covariance[kept, j] / (scale[kept] * scale[j])
            try:
                residual = 1.0 - float(cross @ linalg.solve(sub, cross, assume_a="pos"))
            except linalg.LinAlgError:
                residual = 0.0
            if residual < COLLINEAR_TOLERANCE:
                collinear.append(labels[j])
                continue
        kept.append(j)
    return kept, [labels[j] for j in constant], collinear


def prepare(request: PropensityRequest, data: pd.DataFrame | None) -> Prepared:
    """Validate the request against the data and build the design."""
    if data is None:
        raise ToolError(
            "no_data",
            "The propensity tool needs row-level data: one row per unit with the treatment, outcome and covariates.",
            "Attach the dataset and give its name in `dataset`.",
        )
    columns = [str(c) for c in data.columns]
    for name, role in ((request.outcome, "outcome"), (request.treatment, "treatment")):
        if name not in columns:
            raise unknown_column(name, role, columns)
    if request.outcome == request.treatment:
        raise ToolError(
            "invalid_columns",
            "The outcome and the treatment are the same column.",
            "Give the outcome and the treatment as two different columns.",
        )
    terms: list[Term] = [parse_term(text, columns) for text in dict.fromkeys(request.covariates)]
    check_columns(terms, columns)
    used = term_columns(terms)
    for role, name in (("treatment", request.treatment), ("outcome", request.outcome)):
        if name in used:
            raise ToolError(
                "invalid_covariate",
                f"The {role} column '{display_name(name)}' is also listed among the covariates.",
                f"Remove '{display_name(name)}' from covariates: they must be measured before the treatment.",
            )
    treated, treated_label = treated_indicator(data[request.treatment], request.treatment, request.treated_value)
    outcome = _outcome(data[request.outcome], request.outcome)
    missing = np.zeros(len(data), dtype=bool)
    dropped: list[tuple[str, int]] = []
    notes: list[str] = []
    for name, absent in (
        (request.outcome, np.isnan(outcome)),
        (request.treatment, data[request.treatment].isna().to_numpy()),
        *((c, data[c].isna().to_numpy()) for c in used),
    ):
        count = int(absent.sum())
        if count:
            dropped.append((f"missing value in '{display_name(name)}'", count))
            missing |= absent
    if np.isinf(outcome).any():
        raise ToolError(
            "non_finite",
            f"The outcome column '{display_name(request.outcome)}' holds {int(np.isinf(outcome).sum()):,} infinite "
            "value(s).",
            "Fix or remove those rows; infinity is not a valid outcome.",
        )
    if missing.any():
        notes.append(
            f"{int(missing.sum()):,} row(s) with missing values were dropped ("
            + "; ".join(f"{reason}: {count:,}" for reason, count in dropped)
            + ")."
        )
        keep = ~missing
        frame = data.loc[keep, used]
        treated, outcome = treated[keep], outcome[keep]
    else:
        frame = data[used]
    labels, values, encoding_notes = build_columns(frame, terms)
    notes.extend(encoding_notes)
    x: FloatArray = np.column_stack(values) if values else np.empty((len(frame), 0))
    if not np.all(np.isfinite(x)):
        bad = [labels[j] for j in range(x.shape[1]) if not np.all(np.isfinite(x[:, j]))]
        raise ToolError(
            "non_finite",
            f"The covariate term(s) {', '.join(repr(display_name(b)) for b in bad[:5])} take infinite values.",
            "Remove infinite values from the data, or use a smaller power.",
        )
    n_treated = int(treated.sum())
    n_control = len(treated) - n_treated
    if n_treated < MIN_PER_ARM or n_control < MIN_PER_ARM:
        raise ToolError(
            "too_few_units",
            f"After dropping rows with missing values there are {n_treated:,} treated and {n_control:,} control "
            f"units; each arm needs at least {MIN_PER_ARM}.",
            "Check the treatment column and the missing values in the covariates; drop covariates that are mostly "
            "missing.",
        )
    if np.ptp(outcome) == 0:
        raise ToolError(
            "constant_outcome",
            f"The outcome '{display_name(request.outcome)}' takes the same value ({outcome[0]:g}) for every unit, so "
            "there is no effect to estimate.",
            "Check that the outcome column is the metric you meant.",
        )
    kept, constant, collinear = _independent(labels, x)
    if constant:
        notes.append(f"Constant covariate term(s) dropped: {', '.join(display_name(c) for c in constant)}.")
    if collinear:
        notes.append(
            "Covariate term(s) dropped as perfectly collinear with earlier terms: "
            + ", ".join(display_name(c) for c in collinear)
            + "."
        )
    if not kept:
        raise ToolError(
            "no_covariates",
            "Every covariate term is constant after dropping missing rows, so nothing can explain who was treated.",
            "Give pre-treatment covariates that vary between units.",
        )
    if len(kept) < x.shape[1]:
        x = np.ascontiguousarray(x[:, kept])
        labels = [labels[j] for j in kept]
    post = [c for c in used if POST_TREATMENT.search(c)]
    binary = bool(np.all((outcome == 0) | (outcome == 1)))
    design = PropensityDesign(labels, x, treated.astype(np.float64), outcome)
    return Prepared(design, treated_label, binary, dropped, notes, post)
