"""From a request and its frame to a validated panel on integer codes.

Every problem with the input is a ToolError naming the column, the values and the fix; rows left out (missing
values) are counted and reported, never dropped silently. The panel is factorized once: units, periods and
clusters become dense integer codes, so the estimators work with ``np.bincount`` and never with pandas groupby.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tools.data.columns import column, numeric
from tools.data.names import display_name
from tools.did.models import DiffInDiffRequest, PeriodLabel
from tools.errors import ToolError

__all__ = ["NEVER", "Panel", "dense_codes", "prepare_panel"]

#: Cohort code of a never-treated unit: later than any period, so ``period >= cohort`` is never true.
NEVER = np.int64(1) << 40

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

_DATE_FORMATS = ("%Y/%m/%d", "%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y", "%m-%d-%Y", "%d-%m-%Y")


@dataclass(frozen=True)
class Panel:
    """Validated panel rows on dense codes (periods coded in calendar order)."""

    y: FloatArray
    unit: IntArray
    time: IntArray
    n_units: int
    n_periods: int
    periods: list[PeriodLabel]
    cohort: IntArray  # per unit: the period code of adoption, or NEVER
    weights: FloatArray | None
    cluster: IntArray
    n_clusters: int
    covariates: FloatArray | None  # (rows, k)
    covariate_names: list[str]
    balanced: bool
    notes: list[str] = field(default_factory=list)


def _factorize(series: pd.Series) -> tuple[IntArray, int]:
    """Dense integer codes (-1 for missing) and their count. Integer IDs in a compact range are coded by offset
    (an O(n) bincount, no hashing); anything else goes through ``pandas.factorize``."""
    if pd.api.types.is_integer_dtype(series.dtype) and isinstance(series.dtype, np.dtype) and len(series):
        values = series.to_numpy()
        low, high = int(values.min()), int(values.max())
        if high - low <= 4 * len(values) + 1024:
            offset = (values - low).astype(np.int64)
            present = np.bincount(offset) > 0
            dense = np.cumsum(present) - 1
            return dense[offset].astype(np.int64), int(present.sum())
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.int64), len(uniques)


# --- periods ---------------------------------------------------------------------------------------------


def _as_dates(text: pd.Series, name: str) -> pd.Series:
    """Text as timestamps: ISO 8601, or one day/month order that all values agree on; else a ToolError."""
    try:
        return pd.Series(pd.to_datetime(text, format="ISO8601"), index=text.index)
    except (ValueError, TypeError):
        pass
    parsed: dict[str, pd.Series] = {}
    for fmt in _DATE_FORMATS:
        try:
            parsed[fmt] = pd.Series(pd.to_datetime(text, format=fmt), index=text.index)
        except (ValueError, TypeError):
            continue
    distinct = {tuple(p.to_numpy()) for p in parsed.values()}
    examples = ", ".join(f"'{display_name(str(v), 30)}'" for v in text.drop_duplicates().iloc[:3])
    if not parsed:
        raise ToolError(
            "unparseable_time",
            f"The time column '{display_name(name)}' holds values that are neither integers nor dates: {examples}.",
            "Use integer periods (2021, 202103, week numbers) or ISO dates like 2021-03-01.",
        )
    if len(distinct) > 1:
        raise ToolError(
            "ambiguous_dates",
            f"The dates in '{display_name(name)}' ({examples}) read differently day-first and month-first.",
            "Write the dates as ISO (YYYY-MM-DD) or as integer periods, so that no order has to be guessed.",
        )
    return next(iter(parsed.values()))


def _period_values(series: pd.Series, name: str) -> tuple[NDArray[np.int64], bool]:
    """Per row an int64 sort key (NaN rows get the minimum int and are masked by the caller), and whether the
    column holds dates. Raises for fractions, text and ambiguous dates."""
    if pd.api.types.is_bool_dtype(series.dtype):
        raise ToolError(
            "unparseable_time",
            f"The time column '{display_name(name)}' is true/false, not periods.",
            "Pick the column with the period (integer or date).",
        )
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        stamps = pd.Series(pd.to_datetime(series), index=series.index)
        if stamps.dt.tz is not None:
            stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
        return np.asarray(stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64)), True
    if pd.api.types.is_integer_dtype(series.dtype) and isinstance(series.dtype, np.dtype):
        return np.asarray(series.to_numpy(), dtype=np.int64), False
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        present = values[~np.isnan(values)]
        if len(present) and (not np.isfinite(present).all() or (present != np.round(present)).any()):
            bad = present[~np.isfinite(present) | (present != np.round(present))][:3]
            raise ToolError(
                "non_integer_time",
                f"The time column '{display_name(name)}' has non-integer values ({', '.join(f'{v:g}' for v in bad)}).",
                "Periods must be integers (year, month number) or dates; round or recode the column.",
            )
        return np.where(np.isnan(values), np.iinfo(np.int64).min, values).astype(np.int64), False
    text = series.astype("string").str.strip()
    present = text.dropna()
    numeric = pd.to_numeric(present, errors="coerce")
    if len(present) and numeric.notna().all():
        return _period_values(pd.to_numeric(text, errors="coerce"), name)
    stamps = _as_dates(present, name)
    out = np.full(len(series), np.iinfo(np.int64).min, dtype=np.int64)
    out[np.flatnonzero(text.notna().to_numpy())] = stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    return out, True


def _label(value: int, dates: bool) -> PeriodLabel:
    if not dates:
        return int(value)
    stamp = pd.Timestamp(value)
    return stamp.date().isoformat() if stamp == stamp.normalize() else stamp.isoformat()


# --- the panel -------------------------------------------------------------------------------------------


def prepare_panel(request: DiffInDiffRequest, frame: pd.DataFrame) -> Panel:
    """Validate ``frame`` against ``request`` and code it as a panel."""
    if (request.treatment is None) == (request.cohort is None):
        raise ToolError(
            "treatment_or_cohort",
            "Give exactly one of `treatment` (0/1 per row) or `cohort` (first treated period per row)."
            if request.treatment is None
            else "Both `treatment` and `cohort` were given.",
            "Name the 0/1 treated-in-this-period column as treatment, or the adoption-period column as cohort.",
        )
    notes: list[str] = []
    y_all = numeric(column(frame, request.outcome, "outcome"), request.outcome, "outcome")
    unit_codes, _ = _factorize(column(frame, request.unit, "unit"))
    time_raw = column(frame, request.time, "time")
    time_key, dates = _period_values(time_raw, request.time)
    keep = (unit_codes >= 0) & time_raw.notna().to_numpy()
    for label, missing in (("unit", unit_codes < 0), ("time", ~time_raw.notna().to_numpy())):
        if missing.any():
            notes.append(f"{int(missing.sum()):,} row(s) with no {label} were left out.")
    missing_y = np.isnan(y_all) & keep
    if missing_y.any():
        notes.append(f"{int(missing_y.sum()):,} row(s) with a missing outcome were left out.")
    keep &= ~np.isnan(y_all)

    treat_values: FloatArray | None = None
    cohort_key: NDArray[np.int64] | None = None
    cohort_never: NDArray[np.bool_] | None = None
    if request.treatment is not None:
        treat_values = numeric(column(frame, request.treatment, "treatment"), request.treatment, "treatment")
        present = ~np.isnan(treat_values)
        odd = present & (treat_values != 0) & (treat_values != 1)
        if odd.any():
            bad = np.unique(treat_values[odd])
            raise ToolError(
                "treatment_not_binary",
                f"The treatment column '{display_name(request.treatment)}' must be 0/1 but holds "
                f"{', '.join(f'{v:g}' for v in bad[:5])}" + (" …" if len(bad) > 5 else "") + ".",
                "Code treatment as 1 in the periods a unit is treated and 0 otherwise, or give the adoption "
                "period as `cohort` instead.",
            )
        if (keep & ~present).any():
            notes.append(f"{int((keep & ~present).sum()):,} row(s) with a missing treatment were left out.")
        keep &= present
    else:
        assert request.cohort is not None
        cohort_raw = column(frame, request.cohort, "cohort")
        cohort_key, cohort_never = _cohort_values(cohort_raw, request.cohort, dates)

    weights_all = None
    if request.weights is not None:
        weights_all = numeric(column(frame, request.weights, "weights"), request.weights, "weights")
        bad_w = (weights_all <= 0) & keep
        if bad_w.any():
            raise ToolError(
                "invalid_weights",
                f"The weights column '{display_name(request.weights)}' has {int(bad_w.sum()):,} zero or negative "
                "value(s).",
                "Weights must be positive (e.g. population); drop the rows you want to exclude instead.",
            )
        if (keep & np.isnan(weights_all)).any():
            notes.append(f"{int((keep & np.isnan(weights_all)).sum()):,} row(s) with missing weights were left out.")
        keep &= ~np.isnan(weights_all)

    covariate_names = list(request.covariates or [])
    if len(set(covariate_names)) != len(covariate_names):
        raise ToolError("duplicate_covariates", "A covariate is listed twice.", "List each covariate once.")
    cov_columns = []
    for name in covariate_names:
        values = numeric(column(frame, name, "covariate"), name, "covariate")
        if (keep & np.isnan(values)).any():
            notes.append(f"{int((keep & np.isnan(values)).sum()):,} row(s) with missing '{name}' were left out.")
        keep &= ~np.isnan(values)
        cov_columns.append(values)

    cluster_all: IntArray | None = None
    if request.cluster is not None and request.cluster != request.unit:
        cluster_all, _ = _factorize(column(frame, request.cluster, "cluster"))
        if (keep & (cluster_all < 0)).any():
            notes.append(f"{int((keep & (cluster_all < 0)).sum()):,} row(s) with no cluster were left out.")
        keep &= cluster_all >= 0

    everything = bool(keep.all())
    rows = None if everything else np.flatnonzero(keep)

    def take(values: NDArray[np.generic]) -> NDArray[np.generic]:
        return values if rows is None else values[rows]

    if not keep.any():  # every row lacks a value, or the frame has none
        raise ToolError("no_data_rows", "No row has all the needed values.", "Check the columns for missing values.")
    y_kept = np.asarray(take(y_all), dtype=np.float64)
    if float(y_kept.max()) == float(y_kept.min()):
        raise ToolError(
            "constant_outcome",
            f"The outcome '{display_name(request.outcome)}' has the same value ({y_kept[0]:g}) in every row used.",
            "Check that the outcome column is the metric you meant; a constant shows no effect to estimate.",
        )
    unit_raw = take(unit_codes)
    unit, n_units = dense_codes(np.asarray(unit_raw, dtype=np.int64))
    keys = np.asarray(take(time_key), dtype=np.int64)
    low, high = int(keys.min()), int(keys.max())
    if high - low <= 4 * len(keys) + 1024:  # integer periods: codes by offset, in calendar order
        offset = keys - low
        present = np.bincount(offset) > 0
        period_keys = np.flatnonzero(present).astype(np.int64) + low
        time = (np.cumsum(present) - 1)[offset].astype(np.int64)
    else:  # timestamps (nanoseconds): hash, then order the few distinct periods
        first_seen, uniques = pd.factorize(keys)
        order = np.argsort(uniques)
        period_keys = np.asarray(uniques, dtype=np.int64)[order]
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        time = rank[first_seen]
    n_periods = len(period_keys)
    if n_periods < 2:
        raise ToolError(
            "single_period",
            f"The data have a single period ({_label(int(period_keys[0]), dates)}); difference-in-differences "
            "compares changes over time.",
            "Include periods before and after the change.",
        )
    _refuse_duplicates(unit, time, n_units, n_periods, frame, request, rows)

    if treat_values is not None:
        treated_rows = np.asarray(take(treat_values)) == 1
        cohort = _cohort_from_treatment(unit, time, treated_rows, n_units, frame, request, rows, notes)
    else:
        assert cohort_key is not None and cohort_never is not None
        cohort = _cohort_from_column(
            unit, np.asarray(take(cohort_key)), np.asarray(take(cohort_never)), period_keys, n_units, request, notes
        )
    if cluster_all is not None:
        cluster, n_clusters = dense_codes(np.asarray(take(cluster_all), dtype=np.int64))
    else:
        cluster, n_clusters = unit, n_units
    weights = None if weights_all is None else np.asarray(take(weights_all), dtype=np.float64)
    covariates = np.column_stack([take(c) for c in cov_columns]).astype(np.float64) if cov_columns else None
    return Panel(
        y=y_kept,
        unit=unit,
        time=time,
        n_units=n_units,
        n_periods=n_periods,
        periods=[_label(int(k), dates) for k in period_keys],
        cohort=cohort,
        weights=weights,
        cluster=cluster,
        n_clusters=n_clusters,
        covariates=covariates,
        covariate_names=covariate_names,
        balanced=len(unit) == n_units * n_periods,
        notes=notes,
    )


def dense_codes(codes: IntArray) -> tuple[IntArray, int]:
    """Non-negative codes renumbered 0..k-1 in their sorted order (a bincount, no hashing), and k."""
    present = np.bincount(codes)
    if (present > 0).all():
        return codes, len(present)
    renumber = np.cumsum(present > 0) - 1
    return renumber[codes].astype(np.int64), int((present > 0).sum())


def _refuse_duplicates(
    unit: IntArray,
    time: IntArray,
    n_units: int,
    n_periods: int,
    frame: pd.DataFrame,
    request: DiffInDiffRequest,
    rows: NDArray[np.intp] | None,
) -> None:
    key = unit * n_periods + time
    if n_units * n_periods <= 1 << 28:
        counts = np.bincount(key, minlength=n_units * n_periods)
        duplicated = int((counts > 1).sum())
        first = int(np.flatnonzero(counts > 1)[0]) if duplicated else -1
    else:
        ordered = np.sort(key)
        dup = ordered[1:][ordered[1:] == ordered[:-1]]
        duplicated = len(np.unique(dup))
        first = int(dup[0]) if duplicated else -1
    if duplicated:
        row = int(np.flatnonzero(key == first)[0])
        original = row if rows is None else int(rows[row])
        raise ToolError(
            "duplicate_rows",
            f"{duplicated:,} unit-period pair(s) appear more than once, e.g. unit "
            f"'{display_name(str(frame[request.unit].iloc[original]), 40)}' in period "
            f"'{display_name(str(frame[request.time].iloc[original]), 40)}'.",
            "Aggregate to one row per unit and period first (e.g. sum or average the outcome), or check that "
            "the unit and time columns are the right ones.",
        )


def _cohort_from_treatment(
    unit: IntArray,
    time: IntArray,
    treated: NDArray[np.bool_],
    n_units: int,
    frame: pd.DataFrame,
    request: DiffInDiffRequest,
    rows: NDArray[np.intp] | None,
    notes: list[str],
) -> IntArray:
    cohort = np.full(n_units, NEVER, dtype=np.int64)
    np.minimum.at(cohort, unit[treated], time[treated])
    reverted = (time >= cohort[unit]) & ~treated
    if reverted.any():
        bad_units = np.unique(unit[reverted])
        row = int(np.flatnonzero(reverted)[0])
        original = row if rows is None else int(rows[row])
        raise ToolError(
            "treatment_switches_off",
            f"Treatment switches off for {len(bad_units):,} unit(s), e.g. unit "
            f"'{display_name(str(frame[request.unit].iloc[original]), 40)}' is untreated in period "
            f"'{display_name(str(frame[request.time].iloc[original]), 40)}' after being treated. These estimators "
            "assume that treatment stays on once it starts, so nothing was computed.",
            "If the change was permanent, code treatment as 1 from the first treated period on (or give `cohort`); "
            "if it really turned off, this design does not fit.",
        )
    ever = cohort[unit] != NEVER
    seen_before = np.zeros(n_units, dtype=bool)
    seen_before[unit[ever & (time == cohort[unit] - 1)]] = True
    unclear = int(((cohort != NEVER) & (cohort > 0) & ~seen_before).sum())
    if unclear:
        notes.append(
            f"{unclear:,} treated unit(s) are not observed in the period just before their first treated row, so "
            "their adoption may have been earlier than the data show; give `cohort` if it is known."
        )
    return cohort


def _cohort_values(series: pd.Series, name: str, dates: bool) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Per row a period key and whether the row's unit is never treated (missing, empty or 0)."""
    if dates and not pd.api.types.is_numeric_dtype(series.dtype):
        text = series.astype("string").str.strip()
        never = (text.isna() | text.isin(["", "0"])).to_numpy(dtype=bool, na_value=True)
        keys = np.zeros(len(series), dtype=np.int64)
        if (~never).any():
            keys[~never], _ = _period_values(series[~never], name)
        return keys, never
    if dates:
        raise ToolError(
            "cohort_mismatch",
            f"The time column holds dates but the cohort column '{display_name(name)}' holds numbers.",
            "Give the first treated period in the same form as the time column (a date), empty if never treated.",
        )
    values = numeric(series, name, "cohort")
    never = np.isnan(values) | (values == 0)
    present = values[~never]
    if (present != np.round(present)).any():
        raise ToolError(
            "cohort_mismatch",
            f"The cohort column '{display_name(name)}' has non-integer values.",
            "Give the first treated period in the same units as the time column, 0 or empty if never treated.",
        )
    return np.where(never, 0, values).astype(np.int64), never


def _cohort_from_column(
    unit: IntArray,
    keys: NDArray[np.int64],
    never: NDArray[np.bool_],
    period_keys: NDArray[np.int64],
    n_units: int,
    request: DiffInDiffRequest,
    notes: list[str],
) -> IntArray:
    code = np.searchsorted(period_keys, keys, side="left").astype(np.int64)  # the first period >= the cohort
    code = np.where(never, NEVER, code)
    beyond = (code >= len(period_keys)) & ~never
    if beyond.any():
        notes.append(
            f"{len(np.unique(unit[beyond])):,} unit(s) adopt after the last period in the data; they count as "
            "never treated here."
        )
        code[beyond] = NEVER
    cohort = np.full(n_units, -1, dtype=np.int64)
    cohort[unit] = code
    if (cohort[unit] != code).any():
        bad = int(np.unique(unit[cohort[unit] != code]).size)
        raise ToolError(
            "cohort_varies",
            f"The cohort column '{display_name(str(request.cohort))}' changes within {bad:,} unit(s); it must hold "
            "the same first treated period on every row of a unit.",
            "Use the unit's first treated period on all its rows (empty or 0 if never treated).",
        )
    return cohort
