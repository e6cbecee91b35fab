"""Novelty and primacy effects: each comparison's effect by exposure period, and a test for a trend in it (the
words about them: ``novelty_report``).

A change that users notice first and then ignore (novelty) looks best in its first days; one they have to learn
(primacy) looks worst. The average over the experiment then mixes effects that no longer hold. With
``exposure_time_column`` (days since the unit's first exposure, or a calendar period: a date or a label) every
comparison of a row-level analysis is repeated within each period:

- **Periods.** The column's distinct values in order (numbers, dates, timedeltas in days, an ordered categorical's
  categories, text in natural order: 'week 2' before 'week 10') when there are at most :data:`MAX_PERIODS`; else
  the values are grouped in order into at most that many bins holding about equal numbers of rows, a value never
  split between two bins.
- **Per-period effect.** Within a period, unit i of arm a contributes Y (the metric, capped and CUPED-adjusted as
  the comparison is: y - theta (x - mean x) with the comparison's theta) and D (1; a ratio metric's denominator;
  with ``cluster_column`` the unit's sums over its rows in the period, D then its row count or denominator sum).
  The arm's value is R = sum Y / sum D and its variance the delta method's with n - 1,

      var(R) = sum (Y - R D)^2 / ((n - 1) n mean(D)^2),

  which for a plain metric is s^2 / n: the effect's standard error is Welch's (the HC2 one of the regression of
  the metric on the arm indicator within the period). Intervals and p-values are two-sided normal.
- **Covariance.** Without clusters a row belongs to one period, so the periods' effects are independent. With
  ``cluster_column`` a unit has rows in several periods: the covariance of periods k and l in an arm is
  s_k s_l sum_i phi_ik phi_il, phi_ik = (Y_ik - R_k D_ik) / sum_k D, s_k = sqrt(n_k / (n_k - 1)) (the cluster
  sandwich; its diagonal is the variance above).
- **Trend.** Generalised least squares of the per-period effects on (1, period index 0..K-1) with that covariance,
  known (no scale estimated): without clusters exactly the inverse-variance weighted regression. The slope's
  z-test is the trend test; under a constant effect it rejects at alpha (``tests/tools/test_ab_test_novelty.py``
  checks the rate by simulation). The index counts periods, not days.
- **Early and late.** The first and the last ceil(K / 3) periods pooled by the same weighted least squares (the
  generalised least-squares mean), and their difference with its covariance: the warning when the early effect is
  better than the late one beyond chance, and the long-run effect (``late``) the decision should rest on.

No correction for testing several metrics and arms is applied to the trend tests.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tools.ab_test.inputs import MetricData, Prepared, arm_labels, label_text
from tools.ab_test.models import (
    AbTestRequest,
    Comparison,
    MetricSpec,
    NoveltyDetail,
    PeriodEffect,
)
from tools.data import Dataset
from tools.data.columns import column as frame_column
from tools.data.columns import numeric, unknown_column
from tools.data.names import display_name
from tools.errors import ToolError
from tools.results import Estimate, zero_error

__all__ = ["MAX_PERIODS", "check_novelty", "period_effects"]

#: The most periods: more distinct values are grouped into this many bins.
MAX_PERIODS: Final = 8

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

_DIGITS = re.compile(r"(\d+)")


def _q(name: str) -> str:
    return f"'{display_name(name, 40)}'"


# --- the periods ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Periods:
    """Each row's period (``codes``, -1 without one) and the periods' labels, earliest first."""

    codes: IntArray
    labels: list[str]
    binned: bool
    distinct: int  # distinct values among the rows analysed
    kind: str  # "numbers", "dates", "days" (timedeltas), "categories" or "labels"


def check_novelty(request: AbTestRequest, data: pd.DataFrame | Dataset | None) -> None:
    """Refuse an exposure-time column that cannot work, before any analysis runs: summaries, no rows, the arm
    column itself, an unknown column."""
    name = request.exposure_time_column
    assert name is not None
    if data is None:
        raise ToolError(
            "needs_rows",
            "exposure_time_column needs row-level data: the effect by period needs each row's period beside its "
            "metric, which summaries do not hold.",
            "Attach the experiment's rows as a dataset with arm_column, or drop exposure_time_column.",
        )
    if name == request.arm_column:
        raise ToolError(
            "exposure_time_is_arm",
            f"exposure_time_column {_q(name)} is the arm column: periods must be times (days since first exposure, "
            "a date, a week label), each holding units of every arm.",
            "Name the column of days since each unit's first exposure, or of the calendar date or period.",
        )
    columns = list(data.columns)
    if name not in columns:
        raise unknown_column(name, "exposure time", [str(c) for c in columns])


def _natural(text: str) -> tuple[tuple[int, int, str], ...]:
    """A key ordering text the way people read it: 'week 2' before 'week 10'."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in _DIGITS.split(text) if part)


def _ordered(series: pd.Series, name: str) -> tuple[IntArray, list[str], str]:
    """Each row's position among the column's distinct values in time order (-1 where missing), their labels and
    what they are."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype) and dtype.ordered:
        codes = np.asarray(series.cat.codes.to_numpy(), dtype=np.intp)
        return codes, [label_text(c) for c in dtype.categories], "categories"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return _dates(series)
    if pd.api.types.is_timedelta64_dtype(dtype):
        days = series.dt.total_seconds() / 86400.0
        return _numbers(np.asarray(days.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64), "days")
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return _numbers(numeric(series, name, "exposure time"), "numbers")
    text = series.astype("string")
    present = text.notna().to_numpy()
    as_number = pd.to_numeric(text, errors="coerce")
    if (as_number.notna().to_numpy() == present).all():
        return _numbers(numeric(as_number, name, "exposure time"), "numbers")
    as_date = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
    if (as_date.notna().to_numpy() == present).all():
        return _dates(as_date)
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    labels = [str(u) for u in uniques]
    order = sorted(range(len(labels)), key=lambda i: _natural(labels[i]))
    rank = np.empty(len(labels) + 1, dtype=np.intp)
    rank[np.asarray(order, dtype=np.intp)] = np.arange(len(labels))
    rank[-1] = -1
    return rank[np.asarray(codes, dtype=np.intp)], [labels[i] for i in order], "labels"


def _numbers(values: FloatArray, kind: str) -> tuple[IntArray, list[str], str]:
    codes, uniques = pd.factorize(values, sort=True, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.intp), [label_text(float(u)) for u in uniques], kind


def _dates(series: pd.Series) -> tuple[IntArray, list[str], str]:
    if getattr(series.dtype, "tz", None) is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    codes, uniques = pd.factorize(series, sort=True, use_na_sentinel=True)
    stamps = pd.DatetimeIndex(uniques)
    daily = bool((stamps == stamps.normalize()).all())
    labels = [s.strftime("%Y-%m-%d") if daily else s.isoformat() for s in stamps]
    return np.asarray(codes, dtype=np.intp), labels, "dates"


def _periods(request: AbTestRequest, frame: pd.DataFrame, keep: NDArray[np.bool_]) -> Periods:
    """The periods of the rows analysed (``keep``): the distinct values, or bins of them."""
    name = request.exposure_time_column
    assert name is not None
    codes, labels, kind = _ordered(frame_column(frame, name, "exposure time"), name)
    used = keep & (codes >= 0)
    counts = np.bincount(codes[used], minlength=len(labels)).astype(np.float64)
    present = np.flatnonzero(counts > 0)
    if len(present) < 2:
        found = f"only the value {_q(labels[present[0]])}" if len(present) else "no value"
        raise ToolError(
            "one_period",
            f"The exposure-time column {_q(name)} holds {found} in the rows analysed: a trend over time needs at "
            "least two periods.",
            "Name the column of days since each unit's first exposure (or its date), or drop exposure_time_column.",
        )
    if len(present) <= MAX_PERIODS:
        period_of = np.full(len(labels) + 1, -1, dtype=np.intp)
        period_of[present] = np.arange(len(present))
        return Periods(period_of[codes], [labels[i] for i in present], False, len(present), kind)
    # bins of about equal rows: a value goes to the bin of its rows' middle position, so none is split
    weights = counts[present]
    middle = np.cumsum(weights) - weights / 2
    bins = np.minimum((middle * MAX_PERIODS / weights.sum()).astype(np.intp), MAX_PERIODS - 1)
    _, dense = np.unique(bins, return_inverse=True)
    period_of = np.full(len(labels) + 1, -1, dtype=np.intp)
    period_of[present] = dense
    names = []
    for b in range(int(dense.max()) + 1):
        members = present[dense == b]
        first, last = labels[members[0]], labels[members[-1]]
        names.append(first if first == last else f"{first} to {last}")
    return Periods(period_of[codes], names, True, len(present), kind)


# --- the rows ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rows:
    """The rows the comparisons used: each row's arm (index into the arms, -1 when left out) and its randomized
    unit (dense codes, or None: a row is a unit)."""

    arm: IntArray
    cluster: IntArray | None


def _rows(request: AbTestRequest, frame: pd.DataFrame, arms: list[str]) -> Rows:
    """Rows as the comparisons' general path keeps them: with an arm; with clusters, with a cluster seen in one
    arm only."""
    assert request.arm_column is not None
    label_codes, found = pd.factorize(arm_labels(frame_column(frame, request.arm_column, "arm")), use_na_sentinel=True)
    lookup = np.array([*(arms.index(u) if u in arms else -1 for u in found), -1], dtype=np.intp)
    arm = lookup[np.asarray(label_codes, dtype=np.intp)]
    if request.cluster_column is None:
        return Rows(arm, None)
    codes, uniques = pd.factorize(frame_column(frame, request.cluster_column, "cluster"), use_na_sentinel=True)
    cluster = np.asarray(codes, dtype=np.intp)
    arm = np.where(cluster >= 0, arm, -1)
    kept = arm >= 0
    low = np.full(len(uniques), len(arms), dtype=np.intp)
    high = np.full(len(uniques), -1, dtype=np.intp)
    np.minimum.at(low, cluster[kept], arm[kept])
    np.maximum.at(high, cluster[kept], arm[kept])
    mixed = low != high
    arm = np.where(kept & ~mixed[np.maximum(cluster, 0)], arm, -1)
    return Rows(arm, cluster)


@dataclass(frozen=True)
class Cells:
    """One metric's units per arm and period: counts, values R, and the arms' covariance matrices of R over the
    periods (K x K each)."""

    n: IntArray  # (arms, periods)
    value: FloatArray  # (arms, periods)
    cov: FloatArray  # (arms, periods, periods)


def _metric_values(
    request: AbTestRequest, frame: pd.DataFrame, metric: MetricData, keep: NDArray[np.bool_], theta: float | None
) -> tuple[FloatArray, FloatArray | None, NDArray[np.bool_]]:
    """The metric as the comparison tested it (capped, CUPED-adjusted), the ratio's denominator, and the rows with
    every value present."""
    spec: MetricSpec = metric.spec
    column = spec.column or spec.name
    y = numeric(frame_column(frame, column, f"metric '{spec.name}'"), column, "metric")
    valid = keep & ~np.isnan(y)
    d = None
    if spec.kind == "ratio" and spec.denominator_column is not None:
        d = numeric(frame_column(frame, spec.denominator_column, "denominator"), spec.denominator_column, "denominator")
        valid &= ~np.isnan(d)
    if metric.cap is not None:  # capped first, then adjusted: the comparison's CUPED runs on the capped values
        y = np.minimum(y, metric.cap)
    if spec.covariate_column is not None:
        x = numeric(frame_column(frame, spec.covariate_column, "covariate"), spec.covariate_column, "covariate")
        valid &= ~np.isnan(x)
        if theta is not None:
            y = y - theta * (x - float(x[valid].mean()))
    return y, d, valid


def _cells(
    y: FloatArray,
    d: FloatArray | None,
    arm: IntArray,
    period: IntArray,
    cluster: IntArray | None,
    shape: tuple[int, int],
) -> Cells:
    """Per arm and period: units, R = sum Y / sum D and the covariance of R over periods. ``y``, ``d``, ``arm``,
    ``period``, ``cluster`` hold only the rows used."""
    arms, periods = shape
    denominator = d if d is not None else np.ones_like(y)
    if cluster is None:
        unit_y, unit_d, unit_arm, unit_period, unit_id = y, denominator, arm, period, None
    else:
        key = cluster.astype(np.int64) * periods + period
        keys, dense = np.unique(key, return_inverse=True)
        unit_y = np.asarray(np.bincount(dense, weights=y, minlength=len(keys)), dtype=np.float64)
        unit_d = np.asarray(np.bincount(dense, weights=denominator, minlength=len(keys)), dtype=np.float64)
        unit_arm = np.empty(len(keys), dtype=np.intp)
        unit_arm[dense] = arm
        unit_period = (keys % periods).astype(np.intp)
        _, unit_id = np.unique(keys // periods, return_inverse=True)
    cell = unit_arm * periods + unit_period
    size = arms * periods
    n = np.bincount(cell, minlength=size).reshape(arms, periods)
    sum_y = np.bincount(cell, weights=unit_y, minlength=size)
    sum_d = np.bincount(cell, weights=unit_d, minlength=size)
    cov = np.zeros((arms, periods, periods))
    # a cell with fewer than 2 units gives NaN or infinity here: ``_require_cells`` refuses it before any use
    with np.errstate(divide="ignore", invalid="ignore"):
        value = sum_y / sum_d
        phi = (unit_y - value[cell] * unit_d) / sum_d[cell]
        scale = np.sqrt(n / (n - 1.0)).reshape(size)
        if unit_id is None:
            variance = np.bincount(cell, weights=phi * phi, minlength=size) * scale * scale
            for a in range(arms):
                cov[a] = np.diag(variance.reshape(arms, periods)[a])
        else:
            units = int(unit_id.max()) + 1 if len(unit_id) else 0
            owner = np.full(units, -1, dtype=np.intp)
            owner[unit_id] = unit_arm
            influence = np.zeros(units * periods)
            influence[unit_id.astype(np.int64) * periods + unit_period] = phi * scale[cell]
            matrix = influence.reshape(units, periods)
            for a in range(arms):
                mine = matrix[owner == a]
                cov[a] = mine.T @ mine
    return Cells(n=n, value=value.reshape(arms, periods), cov=cov)


def _require_cells(cells: Cells, metric: str, arms: list[str], labels: list[str], column: str) -> None:
    """Every period needs two units in control and in each treatment arm, and a ratio a positive denominator in
    each: refuse, naming the period."""
    for k, label in enumerate(labels):
        counts = cells.n[:, k]
        if (counts >= 2).all():
            if not np.isfinite(cells.value[:, k]).all():
                raise ToolError(
                    "zero_denominator",
                    f"Metric {_q(metric)}: the denominator sums to zero in an arm in period {_q(label)} of "
                    f"{_q(column)}, so the ratio there is undefined.",
                    "Use coarser periods, so that each holds a positive denominator in every arm, or drop "
                    "exposure_time_column.",
                )
            continue
        absent = [arms[a] for a in range(len(arms)) if counts[a] == 0]
        if absent:
            present = [arms[a] for a in range(len(arms)) if counts[a] > 0]
            raise ToolError(
                "period_one_arm",
                f"Period {_q(label)} of {_q(column)} has units of metric {_q(metric)} in arm(s) "
                f"{', '.join(map(_q, present))} only, none in {', '.join(map(_q, absent))}: its effect cannot be "
                "estimated. Randomization should put every arm in every period.",
                "Check that the column is the time since each unit's first exposure or the calendar period (not "
                "something set by the arm), and that every arm ran over the whole period; otherwise drop those rows.",
            )
        few = [f"{_q(arms[a])} ({int(counts[a])})" for a in range(len(arms)) if counts[a] < 2]
        raise ToolError(
            "too_few_units",
            f"Period {_q(label)} of {_q(column)} has a single unit of metric {_q(metric)} in arm(s) "
            f"{', '.join(few)}: a variance within the period needs at least 2 per arm.",
            "Use coarser periods (weeks rather than days), or drop the sparse period's rows.",
        )


# --- the tests --------------------------------------------------------------------------------------------------


def _gls(effects: FloatArray, cov: FloatArray, design: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Generalised least squares with a known covariance: the coefficients and their covariance."""
    weighted = np.linalg.solve(cov, design)  # V^-1 X
    information = design.T @ weighted
    coef_cov = np.linalg.inv(information)
    return coef_cov @ (weighted.T @ effects), coef_cov


def _pooled_weights(cov: FloatArray, members: list[int]) -> FloatArray:
    """The weights over all periods of the generalised least-squares mean of ``members``' effects."""
    sub = cov[np.ix_(members, members)]
    raw = np.linalg.solve(sub, np.ones(len(members)))
    weights = np.zeros(len(cov))
    weights[members] = raw / raw.sum()
    return weights


def _combination(weights: FloatArray, effects: FloatArray, cov: FloatArray, alpha: float) -> Estimate:
    return Estimate.normal(float(weights @ effects), math.sqrt(max(float(weights @ cov @ weights), 0.0)), alpha)


def _detail(
    request: AbTestRequest,
    periods: Periods,
    cells: Cells,
    treatment: int,
    comparison: Comparison,
    rows_without_period: int,
) -> NoveltyDetail:
    """One treatment arm against control over the periods."""
    alpha = request.alpha
    count = len(periods.labels)
    effects = cells.value[treatment] - cells.value[0]
    cov = cells.cov[treatment] + cells.cov[0]
    entries = []
    for k, label in enumerate(periods.labels):
        se = math.sqrt(max(float(cov[k, k]), 0.0))
        scale = max(abs(cells.value[0, k]), abs(cells.value[treatment, k]))
        if zero_error(se, float(effects[k]), scale):
            raise ToolError(
                "zero_variance",
                f"Metric {_q(comparison.metric)} does not vary within the arms in period {_q(label)} of "
                f"{_q(request.exposure_time_column or '')}: its effect there has no standard error.",
                "Use coarser periods, so that each holds varying values in every arm, or drop exposure_time_column.",
            )
        entries.append(
            PeriodEffect(
                period=label,
                n_control=int(cells.n[0, k]),
                n_treatment=int(cells.n[treatment, k]),
                control_mean=float(cells.value[0, k]),
                treatment_mean=float(cells.value[treatment, k]),
                effect=Estimate.normal(float(effects[k]), se, alpha),
            )
        )
    design = np.column_stack([np.ones(count), np.arange(count, dtype=np.float64)])
    coef, coef_cov = _gls(effects, cov, design)
    trend = Estimate.normal(float(coef[1]), math.sqrt(float(coef_cov[1, 1])), alpha)
    size = max(1, math.ceil(count / 3))
    early_w = _pooled_weights(cov, list(range(size)))
    late_w = _pooled_weights(cov, list(range(count - size, count)))
    sign = 1.0 if comparison.direction == "increase" else -1.0
    pattern = "no_trend" if trend.p_value >= alpha else "rising" if sign * trend.estimate > 0 else "declining"
    clustered = request.cluster_column is not None
    return NoveltyDetail(
        exposure_time_column=request.exposure_time_column or "",
        periods_from="bins" if periods.binned else "values",
        bin_method=_bin_method(request, periods),
        periods=entries,
        test="generalised least squares of the per-period effects on the period index (0 to "
        f"{count - 1}) with their covariance known"
        + (
            " (cluster sandwich over periods: a unit has rows in several)"
            if clustered
            else " (diagonal: inverse-variance weighted regression)"
        )
        + "; z-test of the slope, two-sided",
        trend=trend,
        trend_verdict=pattern,
        early_periods=size,
        late_periods=size,
        early=_combination(early_w, effects, cov, alpha),
        late=_combination(late_w, effects, cov, alpha),
        early_minus_late=_combination(early_w - late_w, effects, cov, alpha),
        rows_without_period=rows_without_period,
    )


def _bin_method(request: AbTestRequest, periods: Periods) -> str:
    column = _q(request.exposure_time_column or "")
    order = {
        "numbers": "in numeric order",
        "dates": "in date order",
        "days": "in days, in order",
        "categories": "in the categories' order",
        "labels": "in natural order of the labels ('week 2' before 'week 10')",
    }[periods.kind]
    if not periods.binned:
        return f"each of the {periods.distinct} distinct values of {column} is a period, {order}"
    return (
        f"the {periods.distinct} distinct values of {column}, {order}, grouped into {len(periods.labels)} bins of "
        f"about equal numbers of rows (at most {MAX_PERIODS}; a value is never split between bins)"
    )


def period_effects(
    request: AbTestRequest,
    data: pd.DataFrame | Dataset,
    prepared: Prepared,
    comparisons: list[Comparison],
) -> list[Comparison]:
    """``comparisons`` with their ``novelty``: every metric in every treatment arm against control, by period."""
    frame = data.frame if isinstance(data, Dataset) else data
    arms = prepared.arms
    rows = _rows(request, frame, arms)
    keep = rows.arm >= 0
    periods = _periods(request, frame, keep)
    shape = (len(arms), len(periods.labels))
    details: dict[tuple[str, str], NoveltyDetail] = {}
    for metric in prepared.metrics:
        mine = [c for c in comparisons if c.metric == metric.spec.name]
        theta = next((c.cuped.theta for c in mine if c.cuped is not None), None)
        y, d, valid = _metric_values(request, frame, metric, keep, theta)
        used = valid & (periods.codes >= 0)
        cells = _cells(
            y[used],
            d[used] if d is not None else None,
            rows.arm[used],
            periods.codes[used],
            rows.cluster[used] if rows.cluster is not None else None,
            shape,
        )
        column = request.exposure_time_column or ""
        _require_cells(cells, metric.spec.name, arms, periods.labels, column)
        without = int(np.count_nonzero(valid & (periods.codes < 0)))
        for c in mine:
            details[(c.metric, c.arm)] = _detail(request, periods, cells, arms.index(c.arm), c, without)
    return [c.model_copy(update={"novelty": details.get((c.metric, c.arm))}) for c in comparisons]
