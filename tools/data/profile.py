"""A column profile of a dataset: what each column holds, read from its values, not its name.

The guided mode proposes column roles from it (a 0/1 column for an arm, an ID-like column for a unit, a period
column for time, a continuous column for a running variable) and explains the proposal with its counts. Pure
pandas/numpy and deterministic: a frame of more than :data:`SAMPLE_ROWS` rows is profiled on evenly spaced rows
(``sampled`` says so; counts then describe the sample), and a unit x period check on a large frame looks at whole
units, so a duplicate it finds is real.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = [
    "SAMPLE_ROWS",
    "ColumnKind",
    "ColumnProfile",
    "FrameProfile",
    "constant_within",
    "profile_dataset",
    "profile_frame",
    "turns_on",
    "unit_period_unique",
]

#: Frames longer than this are profiled on this many evenly spaced rows.
SAMPLE_ROWS = 200_000
#: Text columns with at most this many distinct values are categories (else free text or IDs).
CATEGORY_LEVELS = 50

#: What a column holds:
#: - ``binary``: two values, 0/1 (integers or floats, blanks allowed), True/False, or yes/no;
#: - ``integer`` / ``float``: numbers (floats holding only whole numbers count as integers);
#: - ``category``: text with few distinct values (``levels``);
#: - ``id``: a different value on every row (integers or text);
#: - ``period``: text periods such as "Q42010", "2010Q4", "2010-04", "Apr 2010";
#: - ``date``: dates or timestamps (or text in ISO form);
#: - ``text``: other text; ``constant``: one value; ``empty``: no value.
ColumnKind = Literal["binary", "integer", "float", "category", "id", "period", "date", "text", "constant", "empty"]

_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}
_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*"
_PERIOD = re.compile(
    r"^(?:q[1-4][\s\-/]?\d{4}|\d{4}[\s\-/]?q[1-4]|\d{4}[\-/](?:0?[1-9]|1[0-2])|"
    rf"{_MONTHS}[\s\-/.]*\d{{4}}|\d{{4}}[\s\-/]?w\d{{1,2}}|\d{{4}}[\s\-/]?h[12]|h[12][\s\-/]?\d{{4}})$",
    re.I,
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")


@dataclass(frozen=True)
class ColumnProfile:
    """One column: its kind, how many distinct values and blanks, and for a few kinds what they are."""

    name: str
    kind: ColumnKind
    #: Rows looked at (all rows, or the sample).
    rows: int
    #: Distinct non-missing values among them.
    n_unique: int
    #: Blank (missing) values among them.
    missing: int
    #: For binary and category columns: the values as the data writes them (most frequent first for
    #: categories; a binary column's "0"/"False"/"no" level first), with their counts.
    levels: tuple[str, ...] = ()
    counts: tuple[int, ...] = ()
    #: For numbers: the smallest and largest value.
    minimum: float | None = None
    maximum: float | None = None

    @property
    def numeric(self) -> bool:
        """Numbers a tool can use as they are (0/1 columns included)."""
        return self.kind in ("integer", "float") or (self.kind in ("binary", "constant") and self.minimum is not None)

    @property
    def two_levels(self) -> bool:
        """Exactly two distinct values (a 0/1 column, or a category such as control / treatment)."""
        return self.n_unique == 2 and self.kind in ("binary", "category")

    @property
    def missing_share(self) -> float:
        return self.missing / self.rows if self.rows else 0.0

    @property
    def year_like(self) -> bool:
        """Whole numbers between 1800 and 2200 (calendar years)."""
        return (
            self.kind == "integer"
            and self.minimum is not None
            and self.maximum is not None
            and self.minimum >= 1800
            and self.maximum <= 2200
        )

    def describe(self) -> str:
        """A few words on what the column holds: ``0/1, 185 of 445 are 1`` or ``numbers from 0 to 60308``."""
        blanks = f", {self.missing:,} blank" if self.missing else ""
        if self.kind == "binary" and len(self.levels) == 2:
            low, high = self.levels
            return f"{low}/{high}, {self.counts[1]:,} of {sum(self.counts):,} are {high}{blanks}"
        if self.kind == "category":
            shown = ", ".join(self.levels[:4]) + (", …" if len(self.levels) > 4 else "")
            return f"{self.n_unique:,} values ({shown}){blanks}"
        if self.kind in ("integer", "float") and self.minimum is not None and self.maximum is not None:
            return f"numbers from {_number(self.minimum)} to {_number(self.maximum)}{blanks}"
        words = {
            "id": "a different value on every row",
            "period": f"{self.n_unique:,} periods",
            "date": f"{self.n_unique:,} dates",
            "text": f"text, {self.n_unique:,} values",
            "constant": "one value on every row",
            "empty": "no values",
        }
        return words.get(self.kind, self.kind) + blanks

    def facts(self) -> dict[str, Any]:
        """The numbers :meth:`describe` shows, as data (what the guided mode's sentences are checked against)."""
        return {
            "rows": self.rows,
            "n_unique": self.n_unique,
            "missing": self.missing,
            "counts": list(self.counts),
            "total": sum(self.counts),
            "minimum": self.minimum,
            "maximum": self.maximum,
        }


@dataclass(frozen=True)
class FrameProfile:
    """Every column's profile, in the frame's order."""

    n_rows: int
    #: Whether the columns were profiled on a sample of the rows.
    sampled: bool
    columns: Mapping[str, ColumnProfile]

    def __getitem__(self, name: str) -> ColumnProfile:
        return self.columns[name]

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    def of_kind(self, *kinds: ColumnKind) -> list[str]:
        return [name for name, column in self.columns.items() if column.kind in kinds]


def _number(value: float) -> str:
    """A whole number (or one of 1,000 or more) rounded, thousands separated from 10,000 (not a year); else four
    significant digits."""
    if float(value).is_integer() or abs(value) >= 1000:
        return f"{round(value):,}" if abs(value) >= 10_000 else str(round(value))
    return f"{value:.4g}"


def _sample(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """Evenly spaced rows (deterministic), or the frame itself when it is short enough."""
    if len(frame) <= rows:
        return frame
    step = len(frame) / rows
    return frame.iloc[(np.arange(rows) * step).astype(np.int64)]


def profile_frame(frame: pd.DataFrame, sample_rows: int = SAMPLE_ROWS) -> FrameProfile:
    """The profile of every column of ``frame``."""
    part = _sample(frame, sample_rows)
    columns = {str(name): profile_column(part[name], str(name)) for name in part.columns}
    return FrameProfile(n_rows=len(frame), sampled=len(part) < len(frame), columns=columns)


def profile_dataset(dataset: Any) -> FrameProfile:
    """The profile of a catalog dataset's frame, kept in its memo while the dataset stays attached."""
    memo = dataset.memo
    profile = memo.get("profile")
    if not isinstance(profile, FrameProfile):
        profile = profile_frame(dataset.frame)
        memo["profile"] = profile
    return profile


def profile_column(series: pd.Series, name: str) -> ColumnProfile:
    """One column's profile (see :data:`ColumnKind`)."""
    rows = len(series)
    present = series.dropna()
    missing = rows - len(present)
    if present.empty:
        return ColumnProfile(name, "empty", rows, 0, missing)
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return _binary(name, rows, missing, present.astype(bool), ("False", "True"), numbers=True)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return ColumnProfile(name, "date", rows, int(present.nunique()), missing)
    if pd.api.types.is_numeric_dtype(dtype):
        return _numeric(name, rows, missing, present)
    text = present.astype(str).str.strip()
    n_unique = int(text.nunique())
    if n_unique == 1:
        return ColumnProfile(name, "constant", rows, 1, missing)
    lowered = set(text.str.lower().unique()) if n_unique <= 2 else set()
    if n_unique == 2 and lowered <= _TRUE | _FALSE and lowered & _TRUE and lowered & _FALSE:
        values = sorted(text.unique(), key=lambda v: v.lower() in _TRUE)
        return _binary(name, rows, missing, text.str.lower().isin(_TRUE), (values[0], values[1]), numbers=False)
    head = text.iloc[:2000]
    if head.str.match(_ISO_DATE).mean() >= 0.95:
        return ColumnProfile(name, "date", rows, n_unique, missing)
    if head.str.match(_PERIOD).mean() >= 0.95:
        return ColumnProfile(name, "period", rows, n_unique, missing)
    if n_unique == len(text) and len(text) >= 20:
        return ColumnProfile(name, "id", rows, n_unique, missing)
    if n_unique <= max(CATEGORY_LEVELS, len(text) // 20) and n_unique <= len(text) // 2:
        counts = text.value_counts()
        levels = tuple(str(v) for v in counts.index[:20])
        return ColumnProfile(name, "category", rows, n_unique, missing, levels, tuple(int(c) for c in counts.iloc[:20]))
    return ColumnProfile(name, "text", rows, n_unique, missing)


def _binary(
    name: str, rows: int, missing: int, ones: pd.Series, labels: tuple[str, str], *, numbers: bool
) -> ColumnProfile:
    n_ones = int(ones.sum())
    low, high = (0.0, 1.0) if numbers else (None, None)
    return ColumnProfile(name, "binary", rows, 2, missing, labels, (len(ones) - n_ones, n_ones), low, high)


def _numeric(name: str, rows: int, missing: int, present: pd.Series) -> ColumnProfile:
    values = present.to_numpy(dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return ColumnProfile(name, "empty", rows, 0, missing)
    low, high = float(finite.min()), float(finite.max())
    distinct = np.unique(finite)
    n_unique = int(distinct.size)
    whole = bool(np.all(finite == np.round(finite)))
    if n_unique == 1:
        return ColumnProfile(name, "constant", rows, 1, missing, minimum=low, maximum=high)
    if n_unique == 2 and low == 0.0 and high == 1.0:
        ones = int(np.count_nonzero(finite == 1.0))
        labels = ("0", "1")
        return ColumnProfile(name, "binary", rows, 2, missing, labels, (finite.size - ones, ones), 0.0, 1.0)
    if whole and n_unique == finite.size and finite.size >= 20:
        return ColumnProfile(name, "id", rows, n_unique, missing, minimum=low, maximum=high)
    kind: ColumnKind = "integer" if whole else "float"
    return ColumnProfile(name, kind, rows, n_unique, missing, minimum=low, maximum=high)


# -- facts about several columns (a panel, a treatment that turns on) -------------------------------------------


def _whole_units(frame: pd.DataFrame, unit: str, rows: int) -> pd.DataFrame:
    """All rows of evenly chosen units, about ``rows`` of them (the frame itself when short enough)."""
    if len(frame) <= rows:
        return frame
    codes, uniques = pd.factorize(frame[unit], use_na_sentinel=True)
    keep = max(1, int(len(uniques) * rows / len(frame)))
    chosen = np.zeros(len(uniques), dtype=bool)
    chosen[(np.arange(keep) * (len(uniques) / keep)).astype(np.int64)] = True
    mask = np.zeros(len(codes), dtype=bool)
    valid = codes >= 0
    mask[valid] = chosen[codes[valid]]
    return frame[mask]


def unit_period_unique(frame: pd.DataFrame, unit: str, time: str, sample_rows: int = 2_000_000) -> bool:
    """Whether every (unit, period) pair occurs once and units repeat over periods: a panel.

    On a long frame, whole units are checked (all their rows): a duplicate found is real."""
    if unit == time or unit not in frame.columns or time not in frame.columns:
        return False
    part = _whole_units(frame, unit, sample_rows)[[unit, time]].dropna()
    if part.empty:
        return False
    units = part[unit].nunique()
    return bool(units < len(part) and not part.duplicated().any())


def constant_within(frame: pd.DataFrame, unit: str, column: str, sample_rows: int = 2_000_000) -> bool:
    """Whether ``column`` takes one value (or stays blank) within each unit (a first-treated period, a trait)."""
    if unit == column or unit not in frame.columns or column not in frame.columns:
        return False
    part = _whole_units(frame, unit, sample_rows)[[unit, column]]
    counts = part.dropna().groupby(unit, sort=False, observed=True)[column].nunique()
    return bool(len(counts) and (counts <= 1).all())


def turns_on(frame: pd.DataFrame, unit: str, time: str, column: str, sample_rows: int = 2_000_000) -> int:
    """How many units a 0/1 ``column`` switches on in over time and never off (a treatment that starts at some
    period and stays on); 0 when it is not such a column (it switches off somewhere, or never switches)."""
    names = {unit, time, column}
    if len(names) < 3 or not names <= set(frame.columns):
        return 0
    part = _whole_units(frame, unit, sample_rows)[[unit, time, column]].dropna()
    if part.empty or not pd.api.types.is_numeric_dtype(part[column].dtype):
        return 0
    values = part[column].astype("float64")
    if not values.isin((0.0, 1.0)).all():
        return 0
    try:
        ordered = part.assign(**{column: values}).sort_values([unit, time], kind="stable")
    except TypeError:  # periods of mixed types cannot be ordered
        return 0
    steps = ordered.groupby(unit, sort=False, observed=True)[column].diff()
    if (steps < 0).any():
        return 0
    return int(ordered.loc[steps > 0, unit].nunique())
