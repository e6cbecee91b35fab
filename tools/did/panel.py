"""From a request and its frame to a validated panel on integer codes.

Every problem with the input is a ToolError naming the column, the values and the fix; rows left out (missing
values) are counted and reported, never dropped silently. The panel is factorized once: units, periods and
clusters become dense integer codes, so the estimators work with ``np.bincount`` and never with pandas groupby.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tools.data.columns import column, numeric
from tools.data.names import display_name
from tools.did.adoptions import Resolved, resolve_adoptions
from tools.did.models import Adoption, DiffInDiffRequest, PeriodLabel
from tools.did.periods import KINDS, PeriodKind, TextPeriods, describe, examples, kind_words, read_text_periods
from tools.did.periods import label as period_label
from tools.errors import ToolError

__all__ = [
    "NEVER",
    "AdoptionRequest",
    "Panel",
    "PeriodRead",
    "adoption_indicator",
    "dense_codes",
    "period_codes",
    "period_text",
    "prepare_panel",
    "read_periods",
]

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
    period_note: str = ""  # how the time column was read (integers, dates, quarters, ...), for the method text
    assignment_note: str = ""  # how treatment was defined (a 0/1 column, a cohort column, adoptions), likewise


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


@dataclass(frozen=True)
class PeriodRead:
    """A period column read: per row an int64 sort key (missing rows hold the minimum int and are masked by the
    caller), the kind of values it held, and one value as written (for the method text)."""

    keys: NDArray[np.int64]
    kind: PeriodKind
    example: str = ""


def _as_dates(text: pd.Series, name: str) -> pd.Series | None:
    """Text as timestamps: ISO 8601, or one day/month order that all values agree on; None when no format reads
    every value; a ToolError when two orders read them differently."""
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
    if not parsed:
        return None
    if len({tuple(p.to_numpy()) for p in parsed.values()}) > 1:
        shown = ", ".join(f"'{display_name(str(v), 30)}'" for v in text.drop_duplicates().iloc[:3])
        raise ToolError(
            "ambiguous_dates",
            f"The dates in '{display_name(name)}' ({shown}) read differently day-first and month-first.",
            "Write the dates as ISO (YYYY-MM-DD) or as integer periods, so that no order has to be guessed.",
        )
    return next(iter(parsed.values()))


def _unreadable(present: pd.Series, name: str, role: str) -> ToolError:
    """The refusal of a period column no reader orders, naming the values the closest reader could not read."""
    distinct = present.drop_duplicates()
    candidates = [
        [str(v) for v in distinct[pd.to_numeric(distinct, errors="coerce").isna()]],
        [str(v) for v in distinct[pd.to_datetime(distinct, format="ISO8601", errors="coerce").isna()]],
    ]
    for kind in KINDS:
        read = read_text_periods(distinct, kind)
        candidates.append([] if isinstance(read, TextPeriods) else read)
    unread = min(candidates, key=len) or [str(v) for v in distinct]
    mixed = len(unread) < len(distinct)
    return ToolError(
        "unparseable_time",
        f"The {role} column '{display_name(name)}' holds "
        + ("values that do not read like the others" if mixed else "values that cannot be read as ordered periods")
        + f": {examples(unread)}"
        + (f" ({len(unread):,} of {len(distinct):,} distinct values)" if mixed else "")
        + ". Periods can be integers (2021, 202103), dates (2021-03-01), quarters (2021Q1, Q1 2021), half-years "
        "(2021H1), months (2021-03, Mar 2021) or ISO weeks (2021-W09), one kind per column.",
        "Give an integer period column instead (1, 2, 3, … in calendar order, or years), or rewrite the periods "
        "in one of those forms.",
    )


def _period_values(series: pd.Series, name: str, role: str = "time") -> PeriodRead:
    """Per row an int64 sort key and the kind of values the column holds. Raises for fractions, booleans, text
    that reads as no kind of period, and ambiguous dates."""
    if pd.api.types.is_bool_dtype(series.dtype):
        raise ToolError(
            "unparseable_time",
            f"The {role} column '{display_name(name)}' is true/false, not periods.",
            "Pick the column with the period (integer or date).",
        )
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        stamps = pd.Series(pd.to_datetime(series), index=series.index)
        if stamps.dt.tz is not None:
            stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
        return PeriodRead(np.asarray(stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64)), "date")
    if pd.api.types.is_integer_dtype(series.dtype) and isinstance(series.dtype, np.dtype):
        return PeriodRead(np.asarray(series.to_numpy(), dtype=np.int64), "integer")
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        present = values[~np.isnan(values)]
        if len(present) and (not np.isfinite(present).all() or (present != np.round(present)).any()):
            bad = present[~np.isfinite(present) | (present != np.round(present))][:3]
            raise ToolError(
                "non_integer_time",
                f"The {role} column '{display_name(name)}' has non-integer values "
                f"({', '.join(f'{v:g}' for v in bad)}).",
                "Periods must be integers (year, month number) or dates; round or recode the column.",
            )
        return PeriodRead(np.where(np.isnan(values), np.iinfo(np.int64).min, values).astype(np.int64), "integer")
    text = series.astype("string").str.strip()
    present = text.dropna()
    numeric = pd.to_numeric(present, errors="coerce")
    if len(present) and numeric.notna().all():
        return _period_values(pd.to_numeric(text, errors="coerce"), name, role)
    rows = np.flatnonzero(text.notna().to_numpy())
    out = np.full(len(series), np.iinfo(np.int64).min, dtype=np.int64)
    read = read_text_periods(present)
    if isinstance(read, TextPeriods):
        out[rows] = read.keys
        return PeriodRead(out, read.kind, read.example)
    dates = _as_dates(present, name)
    if dates is None:
        raise _unreadable(present, name, role)
    out[rows] = dates.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    return PeriodRead(out, "date")


def _label(value: int, kind: PeriodKind) -> PeriodLabel:
    if kind == "integer":
        return int(value)
    if kind != "date":
        return period_label(value, kind)
    stamp = pd.Timestamp(value)
    return stamp.date().isoformat() if stamp == stamp.normalize() else stamp.isoformat()


class AdoptionRequest(Protocol):
    """What the adoption reading needs of a request (diff_in_diff's, synthetic_control's)."""

    @property
    def unit(self) -> str | None: ...
    @property
    def time(self) -> str: ...
    @property
    def adoptions(self) -> Sequence[Adoption] | None: ...


# --- the panel -------------------------------------------------------------------------------------------


def prepare_panel(request: DiffInDiffRequest, frame: pd.DataFrame) -> Panel:
    """Validate ``frame`` against ``request`` and code it as a panel."""
    given = [name for name in ("treatment", "cohort", "adoptions") if getattr(request, name) is not None]
    if len(given) != 1:
        raise ToolError(
            "treatment_or_cohort",
            "Give exactly one of `treatment` (0/1 per row), `cohort` (first treated period per row) or `adoptions` "
            "(the treated units and their first treated periods)."
            if not given
            else f"{' and '.join(f'`{name}`' for name in given)} were {'both' if len(given) == 2 else 'all'} given; "
            "they say the same thing twice.",
            "Name the 0/1 treated-in-this-period column as treatment, or the adoption-period column as cohort; "
            "when no column says it, list the treated units with their first treated period as adoptions.",
        )
    notes: list[str] = []
    y_all = numeric(column(frame, request.outcome, "outcome"), request.outcome, "outcome")
    unit_codes, _ = _factorize(column(frame, request.unit, "unit"))
    time_raw = column(frame, request.time, "time")
    period_read = _period_values(time_raw, request.time)
    time_key, kind = period_read.keys, period_read.kind
    keep = (unit_codes >= 0) & time_raw.notna().to_numpy()
    for label, missing in (("unit", unit_codes < 0), ("time", ~time_raw.notna().to_numpy())):
        if missing.any():
            notes.append(f"{int(missing.sum()):,} row(s) with no {label} were left out.")
    missing_y = np.isnan(y_all) & keep
    if missing_y.any():
        notes.append(f"{int(missing_y.sum()):,} row(s) with a missing outcome were left out.")
    keep &= ~np.isnan(y_all)

    treat_values: FloatArray | None = None
    assignment = ""  # a column says who was treated when: the method names none (the request does)
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
    elif request.cohort is not None:
        cohort_raw = column(frame, request.cohort, "cohort")
        cohort_key, cohort_never = _cohort_values(cohort_raw, request.cohort, kind, request.time)
    else:
        resolved, row_unit = _adoptions(request, frame, time_key, time_raw.notna().to_numpy(), kind)
        cohort_key = np.where(row_unit >= 0, resolved.keys[np.maximum(row_unit, 0)], 0).astype(np.int64)
        cohort_never = (row_unit < 0) | ~resolved.listed[np.maximum(row_unit, 0)]
        notes.extend(resolved.notes)
        assignment = resolved.note

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
            f"The data have a single period ({_label(int(period_keys[0]), kind)}); difference-in-differences "
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
        periods=[_label(int(k), kind) for k in period_keys],
        period_note=describe(kind, request.time, period_read.example),
        assignment_note=assignment,
        cohort=cohort,
        weights=weights,
        cluster=cluster,
        n_clusters=n_clusters,
        covariates=covariates,
        covariate_names=covariate_names,
        balanced=len(unit) == n_units * n_periods,
        notes=notes,
    )


def _adoptions(
    request: AdoptionRequest, frame: pd.DataFrame, time_key: NDArray[np.int64], has_time: NDArray[np.bool_],
    kind: PeriodKind,
) -> tuple[Resolved, IntArray]:  # fmt: skip
    """The request's adoptions read against the data, and each row's index among the distinct unit values (-1 for
    a missing unit)."""
    assert request.adoptions is not None and request.unit is not None
    row_unit, uniques = pd.factorize(column(frame, request.unit, "unit"), use_na_sentinel=True)
    periods = np.unique(time_key[has_time])
    if not len(periods):
        raise ToolError("no_data_rows", "No row has a period.", f"Check the time column '{request.time}'.")
    resolved = resolve_adoptions(
        request.adoptions, request.unit, list(uniques), request.time, kind, periods, lambda key: str(_label(key, kind))
    )
    return resolved, np.asarray(row_unit, dtype=np.int64)


def adoption_indicator(request: AdoptionRequest, frame: pd.DataFrame) -> FloatArray:
    """Per row, 1.0 when the request's ``adoptions`` make the row's unit treated in the row's period, else 0.0:
    the 0/1 treatment column the adoptions stand for (the refutation battery refits on it)."""
    time_raw = column(frame, request.time, "time")
    read = _period_values(time_raw, request.time)
    has_time = time_raw.notna().to_numpy()
    resolved, row_unit = _adoptions(request, frame, read.keys, has_time, read.kind)
    known = row_unit >= 0
    listed = known & resolved.listed[np.maximum(row_unit, 0)]
    first = resolved.keys[np.maximum(row_unit, 0)]
    return (listed & has_time & (read.keys >= first)).astype(np.float64)


def read_periods(series: pd.Series, name: str) -> PeriodRead:
    """A period column read as the panel reads it: per row an ordered key (missing rows hold the minimum int), the
    kind of values it holds and one value as written. A ToolError when it reads as no kind of period."""
    return _period_values(series, name)


def period_text(key: int, kind: PeriodKind) -> str:
    """A period key written as the results write it: the integer, the ISO date, or '2011Q3', '2024-03' ..."""
    return str(_label(key, kind))


def period_codes(frame: pd.DataFrame, time: str) -> IntArray:
    """Per row, the rank of its period among the column's periods in calendar order (as the panel reads them:
    'Q42010' before 'Q12011'), -1 where the period is missing."""
    time_raw = column(frame, time, "time")
    keys = _period_values(time_raw, time).keys
    has_time = time_raw.notna().to_numpy()
    codes = np.full(len(keys), -1, dtype=np.int64)
    codes[has_time] = np.unique(keys[has_time], return_inverse=True)[1]
    return codes


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


#: Cohort values that mean "never treated" besides a missing value.
_NEVER_WORDS = ("", "0", "never", "none", "-")


def _cohort_values(
    series: pd.Series, name: str, kind: PeriodKind, time: str
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Per row a period key (read as the time column was) and whether the row's unit is never treated (missing,
    empty, 0 or 'never')."""
    if kind != "integer" and not pd.api.types.is_numeric_dtype(series.dtype):
        text = series.astype("string").str.strip()
        never = (text.isna() | text.str.lower().isin(_NEVER_WORDS)).to_numpy(dtype=bool, na_value=True)
        keys = np.zeros(len(series), dtype=np.int64)
        if not (~never).any():
            return keys, never
        given = text[~never]
        if kind == "date" or pd.api.types.is_datetime64_any_dtype(series.dtype):
            read = _period_values(series[~never], name, "cohort")
            if read.kind != kind:
                raise _cohort_mismatch(name, kind, time, [str(v) for v in given.drop_duplicates()], read.kind)
            keys[~never] = read.keys
            return keys, never
        parsed = read_text_periods(given, kind)
        if not isinstance(parsed, TextPeriods):
            raise _cohort_mismatch(name, kind, time, parsed, _guess_kind(given))
        keys[~never] = parsed.keys
        return keys, never
    if kind != "integer":
        values = numeric(series, name, "cohort")
        never = np.isnan(values) | (values == 0)
        if never.all():  # an empty column reads as numbers: every unit never treated
            return np.zeros(len(series), dtype=np.int64), never
        raise _cohort_mismatch(name, kind, time, [f"{v:g}" for v in np.unique(values[~never])], "integer")
    if not pd.api.types.is_numeric_dtype(series.dtype):
        text = series.astype("string").str.strip()
        given = text[text.notna() & ~text.str.lower().isin(_NEVER_WORDS).fillna(False)]
        odd = given[pd.to_numeric(given, errors="coerce").isna()].drop_duplicates()
        if len(odd):
            raise _cohort_mismatch(name, kind, time, [str(v) for v in odd], _guess_kind(odd))
        series = pd.to_numeric(text.where(~text.str.lower().isin(_NEVER_WORDS[2:]).fillna(False)), errors="coerce")
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


def _guess_kind(values: pd.Series) -> PeriodKind | None:
    """The kind of period every one of these text values reads as, if any (for an error message)."""
    read = read_text_periods(values)
    if isinstance(read, TextPeriods):
        return read.kind
    if pd.to_numeric(values, errors="coerce").notna().all():
        return "integer"
    return "date" if pd.to_datetime(values, format="ISO8601", errors="coerce").notna().all() else None


def _cohort_mismatch(
    name: str, kind: PeriodKind, time: str, values: list[str], found: PeriodKind | None = None
) -> ToolError:
    """The cohort column does not hold periods of the time column's kind."""
    holds = f"{kind_words(found)}" if found is not None else "other values"
    shown = f" ({examples(values)})" if values else ""
    return ToolError(
        "cohort_mismatch",
        f"The time column '{display_name(time)}' holds {kind_words(kind)}, but the cohort column "
        f"'{display_name(name)}' holds {holds}{shown}.",
        f"Give each unit's first treated period as {kind_words(kind)}, written as in '{display_name(time)}' "
        "(empty or 0 if never treated), or give a 0/1 `treatment` column instead.",
    )


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
