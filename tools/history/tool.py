"""metric_history: the figures power needs, measured on past rows.

Everything comes from a few sums, taken in memory (numpy) or inside the engine (one query per level): over rows,
the count, mean, variance and — with a covariate — the correlation of the metric with it; with ``unit_column``, per
unit the row count and the metric's sum and sum of squares, from which the one-way ANOVA estimator of the
intra-class correlation for unequal group sizes (Donner 1986; the estimator statsmodels and R's ICC packages give for
a one-way random-effects model):

    MSB = sum n_i (mean_i - mean)^2 / (k - 1),  MSW = sum (n_i - 1) s_i^2 / (N - k),
    n0 = (N - sum n_i^2 / N) / (k - 1),  ICC = (MSB - MSW) / (MSB + (n0 - 1) MSW), floored at 0.

The design effect 1 + (m - 1) ICC uses the mean rows per unit m, as power's cluster design does; CUPED's variance
reduction is the squared correlation of the metric with its pre-period value (Deng et al. 2013).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tools.data import Dataset
from tools.data.columns import column, numeric
from tools.data.names import display_name
from tools.engine.table import EngineTable
from tools.errors import ToolError
from tools.history.models import MetricHistoryRequest, MetricHistoryResult
from tools.results import Check

__all__ = ["metric_history"]


@dataclass(frozen=True)
class _Sums:
    """The figures every estimate here comes from."""

    n: int
    mean: float
    variance: float  # sample variance (n - 1)
    correlation: float | None
    units: tuple[np.ndarray, np.ndarray, np.ndarray] | None  # per unit: rows, sum, sum of squared deviations


def metric_history(request: MetricHistoryRequest, data: pd.DataFrame | Dataset | None) -> MetricHistoryResult:
    """Measure the metric's figures on ``data`` (a frame, or an attached dataset: an engine table is queried)."""
    if data is None:
        raise ToolError(
            "no_data",
            "metric_history needs past rows of the metric.",
            "Attach the history (a file, or duckdb:FILE#TABLE) and give its name in `dataset`.",
        )
    engine = data.engine if isinstance(data, Dataset) else None
    if engine is not None:  # the sums come from the engine: no row is pulled
        sums = _engine_sums(request, engine)
    else:
        sums = _frame_sums(request, data.frame if isinstance(data, Dataset) else data)
    if sums.n < 2:
        raise ToolError(
            "too_few_rows",
            f"Metric '{display_name(request.metric)}' has {sums.n} row(s) with values; at least 2 are needed.",
            "Use a longer window of history.",
        )
    if request.kind == "binary" and not 0 < sums.mean < 1:
        raise ToolError(
            "constant_metric",
            f"Metric '{display_name(request.metric)}' is {sums.mean:g} in every row: there is no rate to size for.",
            "Check that the column is the metric you meant, or use a longer window.",
        )
    icc, m, k = _icc(sums)
    std_dev = math.sqrt(sums.variance)
    reduction = sums.correlation**2 if sums.correlation is not None else None
    power: dict[str, Any] = (
        {"metric": "proportion", "baseline": sums.mean}
        if request.kind == "binary"
        else {"metric": "mean", "baseline": sums.mean, "std_dev": std_dev}
    )
    if icc is not None and m is not None:
        power.update(cluster_size=m, icc=min(icc, 0.999))
    if reduction is not None and reduction > 0:
        power["variance_reduction"] = min(reduction, 0.999)
    checks, warnings = _checks(request, sums, icc, m, reduction)
    design = 1 + (m - 1) * icc if icc is not None and m is not None else None
    return MetricHistoryResult(
        dataset=request.dataset,
        metric=request.metric,
        kind=request.kind,
        n_rows=sums.n,
        baseline=sums.mean,
        std_dev=std_dev,
        n_units=k,
        rows_per_unit=m,
        icc=icc,
        design_effect=design,
        variance_reduction=reduction,
        power_request=power,
        engine=engine is not None,
        checks=checks,
        warnings=warnings,
        summary=_summary(request, sums, std_dev, icc, m, design, reduction),
    )


# -- the sums ------------------------------------------------------------------------------------------------------


def _frame_sums(request: MetricHistoryRequest, frame: pd.DataFrame) -> _Sums:
    y = numeric(column(frame, request.metric, "metric"), request.metric, "metric")
    valid = ~np.isnan(y)
    x = None
    if request.covariate_column is not None:
        x = numeric(column(frame, request.covariate_column, "covariate"), request.covariate_column, "covariate")
        valid &= ~np.isnan(x)
    codes = None
    if request.unit_column is not None:
        unit = column(frame, request.unit_column, "unit")
        valid &= unit.notna().to_numpy()
        codes = pd.factorize(unit[valid])[0]
    _check_binary(request, y[valid])
    yv = y[valid]
    n = len(yv)
    correlation = None
    if x is not None and n > 2:
        xv = x[valid]
        correlation = float(np.corrcoef(xv, yv)[0, 1]) if np.std(xv) > 0 and np.std(yv) > 0 else 0.0
    units = None
    if codes is not None and n:
        k = int(codes.max()) + 1
        rows = np.bincount(codes, minlength=k).astype(np.float64)
        sums = np.bincount(codes, weights=yv, minlength=k)
        means = sums / rows
        deviations = np.bincount(codes, weights=(yv - means[codes]) ** 2, minlength=k)
        units = (rows, sums, deviations)
    return _Sums(n, float(np.mean(yv)) if n else 0.0, float(np.var(yv, ddof=1)) if n > 1 else 0.0, correlation, units)


def _engine_sums(request: MetricHistoryRequest, table: EngineTable) -> _Sums:
    table.require(request.metric, "metric")
    q = table.quote
    y = f"CAST({q(request.metric)} AS DOUBLE)"
    present = [f"{q(request.metric)} IS NOT NULL"]
    if request.covariate_column is not None:
        table.require(request.covariate_column, "covariate")
        present.append(f"{q(request.covariate_column)} IS NOT NULL")
    if request.unit_column is not None:
        table.require(request.unit_column, "unit")
        present.append(f"{q(request.unit_column)} IS NOT NULL")
    for name in (request.metric, request.covariate_column):
        if name is not None and not table.is_numeric(name):
            raise ToolError(
                "non_numeric_column",
                f"The column '{display_name(name)}' is not numeric ({table.schema()[name]} in the engine).",
                "Cast it to a number in the table (or a view), or pick another column.",
            )
    where = " AND ".join(present)
    parts = ["COUNT(*)", f"AVG({y})", f"VAR_SAMP({y})"]
    if request.covariate_column is not None:
        parts.append(f"CORR(CAST({q(request.covariate_column)} AS DOUBLE), {y})")
    if request.kind == "binary":
        parts.append(f"SUM(CASE WHEN {y} NOT IN (0, 1) THEN 1 ELSE 0 END)")
    row = table.execute(f"SELECT {', '.join(parts)} FROM {table.relation} WHERE {where}")[0]
    n = int(row[0] or 0)
    if request.kind == "binary" and int(row[-1] or 0):
        raise ToolError(
            "not_binary",
            f"Metric '{display_name(request.metric)}' is binary but holds values other than 0 and 1.",
            "A binary metric is 0/1 per row; use kind='continuous' for counts or amounts.",
        )
    correlation = None
    if request.covariate_column is not None:
        correlation = float(row[3]) if row[3] is not None else 0.0
    units = None
    if request.unit_column is not None and n:
        unit = q(request.unit_column)
        rows = table.execute(
            f"SELECT COUNT(*), SUM({y}), VAR_POP({y}) * COUNT(*) FROM {table.relation} WHERE {where} GROUP BY {unit}"
        )
        counts = np.array([float(r[0]) for r in rows])
        units = (counts, np.array([float(r[1]) for r in rows]), np.array([float(r[2] or 0.0) for r in rows]))
    mean = float(row[1]) if row[1] is not None else 0.0
    variance = float(row[2]) if row[2] is not None else 0.0
    return _Sums(n, mean, variance, correlation, units)


def _check_binary(request: MetricHistoryRequest, y: np.ndarray) -> None:
    if request.kind == "binary" and ((y != 0) & (y != 1)).any():
        raise ToolError(
            "not_binary",
            f"Metric '{display_name(request.metric)}' is binary but holds values other than 0 and 1.",
            "A binary metric is 0/1 per row; use kind='continuous' for counts or amounts.",
        )


# -- the ICC -------------------------------------------------------------------------------------------------------


def _icc(sums: _Sums) -> tuple[float | None, float | None, int | None]:
    """(ICC floored at 0, mean rows per unit, units) from the per-unit sums; (None, None, None) without units."""
    if sums.units is None:
        return None, None, None
    rows, totals, within = sums.units
    k, big_n = len(rows), float(rows.sum())
    if k < 2 or big_n <= k:
        return 0.0, big_n / k if k else None, k
    grand = totals.sum() / big_n
    means = totals / rows
    msb = float(np.sum(rows * (means - grand) ** 2)) / (k - 1)
    msw = float(np.sum(within)) / (big_n - k)
    n0 = (big_n - float(np.sum(rows**2)) / big_n) / (k - 1)
    denominator = msb + (n0 - 1) * msw
    icc = (msb - msw) / denominator if denominator > 0 else 0.0
    return max(icc, 0.0), big_n / k, k


def _checks(
    request: MetricHistoryRequest, sums: _Sums, icc: float | None, m: float | None, reduction: float | None
) -> tuple[list[Check], list[str]]:
    checks = [Check(name="rows", status="pass", detail=f"{sums.n:,} rows with the metric present.")]
    warnings: list[str] = []
    if icc is not None and m is not None:
        inflated = icc > 0.01 and m > 1
        checks.append(
            Check(
                name="intra_class_correlation",
                status="warn" if inflated else "pass",
                detail=f"ICC {icc:.3g} with {m:.3g} rows per unit: design effect {1 + (m - 1) * icc:.3g}.",
            )
        )
        if inflated:
            warnings.append(
                f"Rows of the same '{request.unit_column}' are correlated (ICC {icc:.3g}): an experiment that "
                "assigns units and analyses rows must count units (cluster_column), and needs about "
                f"{1 + (m - 1) * icc:.3g} times the rows an independent sample would."
            )
    if reduction is not None:
        checks.append(
            Check(
                name="cuped_variance_reduction",
                status="pass",
                detail=f"The covariate removes {reduction:.1%} of the variance (squared correlation).",
            )
        )
    return checks, warnings


def _summary(
    request: MetricHistoryRequest,
    sums: _Sums,
    std_dev: float,
    icc: float | None,
    m: float | None,
    design: float | None,
    reduction: float | None,
) -> str:
    what = (
        f"rate {sums.mean:.4g}"
        if request.kind == "binary"
        else f"mean {sums.mean:.4g}, standard deviation {std_dev:.4g}"
    )
    text = f"'{request.metric}' over {sums.n:,} rows: {what}"
    if icc is not None and m is not None and design is not None:
        text += f"; {m:.3g} rows per '{request.unit_column}', ICC {icc:.3g} (design effect {design:.3g})"
    if reduction is not None:
        text += f"; CUPED with '{request.covariate_column}' removes {reduction:.1%} of the variance"
    return text + "."
