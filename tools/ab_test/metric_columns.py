"""A metric's columns as ab_test reads them: the value (and the denominator of a ratio, the covariate of CUPED) as
float64 arrays, the rows where all are present, and the refusals of values no analysis of that kind can use.
``ab_test`` and ``aa_test`` read metrics through it, so both refuse the same inputs with the same words."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tools.ab_test.models import MetricSpec
from tools.data.columns import column as frame_column
from tools.data.names import display_name
from tools.errors import ToolError

__all__ = [
    "MetricColumns",
    "metric_values",
    "missing_denominator",
    "negative_denominator",
    "not_binary",
    "read_metric",
    "unsupported_cuped",
]


@dataclass(frozen=True)
class MetricColumns:
    """The metric's value ``y``, its ratio's denominator ``d`` and its CUPED covariate ``x`` (None when not used),
    and ``valid``: the rows kept (``keep``) where every one of them is present."""

    y: NDArray[np.float64]
    d: NDArray[np.float64] | None
    x: NDArray[np.float64] | None
    valid: NDArray[np.bool_]


def read_metric(frame: pd.DataFrame, spec: MetricSpec, keep: NDArray[np.bool_], *, clustered: bool) -> MetricColumns:
    """The metric's columns on ``frame`` (``keep``: the rows that may be used); ``clustered``: rows are summed per
    randomized unit (CUPED is then refused)."""
    column = spec.column or spec.name
    y = metric_values(frame_column(frame, column, f"metric '{spec.name}'"), column, "metric")
    valid = _and_present(keep, y)
    if spec.kind == "binary":
        odd = (y != 0) & (y != 1)
        odd &= valid
        bad = np.unique(y[odd]) if odd.any() else y[:0]  # the values other than 0 and 1, sorted
        if len(bad):
            raise not_binary(spec, [float(v) for v in bad[:6]])
    d = None
    if spec.kind == "ratio":
        if spec.denominator_column is None:
            raise missing_denominator(spec)
        denominator = frame_column(frame, spec.denominator_column, "denominator")
        d = metric_values(denominator, spec.denominator_column, "denominator")
        valid = _and_present(valid, d)
        if ((d < 0) & valid).any():
            raise negative_denominator(spec)
    x = None
    if spec.covariate_column is not None:
        if spec.kind == "ratio" or clustered:
            raise unsupported_cuped(spec)
        x = metric_values(frame_column(frame, spec.covariate_column, "covariate"), spec.covariate_column, "covariate")
        valid = _and_present(valid, x)
    return MetricColumns(y, d, x, valid)


# -- the refusals, in the words every reader of metrics uses (in memory and in an engine) -------------------------


def not_binary(spec: MetricSpec, bad: list[float]) -> ToolError:
    """A binary metric holding other values than 0 and 1 (``bad``: the first few, sorted; six or more: '…')."""
    column = spec.column or spec.name
    return ToolError(
        "not_binary",
        f"Metric '{display_name(spec.name)}' is binary but column '{display_name(column)}' holds "
        f"{', '.join(f'{v:g}' for v in bad[:5])}" + (" …" if len(bad) > 5 else "") + ".",
        "A binary metric is 0/1 per unit; use kind='continuous' for counts or amounts.",
    )


def missing_denominator(spec: MetricSpec) -> ToolError:
    return ToolError(
        "missing_denominator",
        f"Ratio metric '{display_name(spec.name)}' needs denominator_column.",
        "Name the column summed in the denominator (e.g. sessions), or use kind='continuous'.",
    )


def negative_denominator(spec: MetricSpec) -> ToolError:
    return ToolError(
        "negative_denominator",
        f"The denominator column '{display_name(spec.denominator_column or '')}' has negative values.",
        "A ratio's denominator counts something (sessions, orders): it cannot be negative.",
    )


def unsupported_cuped(spec: MetricSpec) -> ToolError:
    """CUPED on a ratio metric, or on a metric summed per randomized unit (cluster_column)."""
    if spec.kind == "ratio":
        return ToolError(
            "unsupported_combination",
            f"CUPED on the ratio metric '{display_name(spec.name)}' is not supported yet.",
            "Drop covariate_column for this metric, or analyse a per-unit metric (kind='continuous') with CUPED.",
        )
    return ToolError(
        "unsupported_combination",
        "CUPED with cluster_column is not supported yet.",
        "Run without covariate_column, or aggregate the data to one row per randomized unit first.",
    )


def _and_present(mask: NDArray[np.bool_], values: NDArray[np.float64]) -> NDArray[np.bool_]:
    """``mask & ~isnan(values)``, as a new array; ``mask`` itself when nothing is missing."""
    missing = np.isnan(values)
    return mask & ~missing if missing.any() else mask


def metric_values(series: pd.Series, name: str, what: str) -> NDArray[np.float64]:
    """A column as float64 with NaN for missing values; non-numbers and infinities are ToolErrors."""
    if pd.api.types.is_bool_dtype(series.dtype):
        values = series.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
    elif pd.api.types.is_integer_dtype(series.dtype):
        return np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)  # never infinite
    elif pd.api.types.is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        text = series.dropna().astype(str)
        bad = text[pd.to_numeric(text, errors="coerce").isna()]
        positions = np.flatnonzero(series.index.isin(bad.index))[:3]
        examples = ", ".join(f"'{display_name(str(series.iloc[i]), 30)}' (row {i + 1})" for i in positions)
        raise ToolError(
            "non_numeric_metric",
            f"The {what} column '{display_name(name)}' is not numeric: {examples or 'it holds text'}.",
            "Clean the column so every value is a number (or empty for missing), or pick another column.",
        )
    infinite = np.isinf(values)
    if infinite.any():
        rows = np.flatnonzero(infinite)[:3] + 1
        raise ToolError(
            "non_finite_values",
            f"The {what} column '{display_name(name)}' has {int(infinite.sum()):,} infinite value(s) "
            f"(rows {', '.join(map(str, rows))}).",
            "Replace or remove the infinite values; they usually come from a division by zero upstream.",
        )
    return np.asarray(values, dtype=np.float64)
