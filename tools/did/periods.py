"""Periods written as text, as spreadsheets and BI tools export them, read into ordered integer keys.

Integer columns (years, 202103, week numbers) and dates are read by ``panel.py``; this module reads the text forms
that are neither: quarters ('Q42010', 'Q4 2010', '2010Q4', '2010-Q4', '2010 Q4'), half-years ('2010H1', 'H1 2010'),
months ('2010-04', '04/2010', 'Apr 2010', 'April 2010') and ISO weeks ('2010-W05'). Every value of a column must
be one of these kinds; each maps to one integer per period in calendar order (a quarter is 4 * year + quarter - 1),
so the panel codes them as it codes integer periods, and ``label`` writes a key back in one canonical spelling
('2010Q4', '2010H1', '2010-04', '2010-W05'). The column's distinct values are parsed once each (a panel has few
periods and many rows).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tools.data.names import display_name

__all__ = [
    "KINDS",
    "PeriodKind",
    "TextKind",
    "TextPeriods",
    "describe",
    "examples",
    "kind_words",
    "label",
    "read_period",
    "read_text_periods",
    "start_date",
]

#: How a period column was read: integers, dates, or one of the text kinds below.
PeriodKind = Literal["integer", "date", "quarter", "half", "month", "week"]
TextKind = Literal["quarter", "half", "month", "week"]

_SEP = r"[\s\-/_.,']*"
_YEAR = r"(?P<y>\d{4})"


def _forms(letter: str, number: str) -> list[re.Pattern[str]]:
    """'Q4 2010', 'Q42010', '2010Q4', '2010-Q4', '2010 Q4' and '4Q2010' (letter Q, H or W)."""
    n = f"(?P<n>{number})"
    return [
        re.compile(f"^{letter}{n}{_SEP}{_YEAR}$", re.IGNORECASE),
        re.compile(f"^{_YEAR}{_SEP}{letter}{n}$", re.IGNORECASE),
        re.compile(f"^{n}{letter}{_SEP}{_YEAR}$", re.IGNORECASE),
    ]


_MONTH_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_NAME = r"(?P<m>[A-Za-z]{3,9})\.?"
_PATTERNS: dict[TextKind, list[re.Pattern[str]]] = {
    "quarter": _forms("Q", "[1-4]"),
    "half": _forms("H", "[12]"),
    "week": _forms("W", r"\d{1,2}")[:2],
    "month": [
        re.compile(rf"^{_YEAR}[\-/.](?P<n>\d{{1,2}})$"),
        re.compile(rf"^(?P<n>\d{{1,2}})[\-/.]{_YEAR}$"),
        re.compile(rf"^{_NAME}{_SEP}{_YEAR}$"),
        re.compile(rf"^{_YEAR}{_SEP}{_NAME}$"),
    ],
}
#: Periods per year of each kind (a week key leaves room for ISO week 53).
_PER_YEAR: dict[TextKind, int] = {"quarter": 4, "half": 2, "month": 12, "week": 53}
KINDS: tuple[TextKind, ...] = ("quarter", "half", "month", "week")
_WORDS: dict[PeriodKind, str] = {
    "integer": "integers",
    "date": "dates",
    "quarter": "quarters",
    "half": "half-years",
    "month": "months",
    "week": "ISO weeks",
}


def _month(name: str) -> int | None:
    """1-12 for an English month name or its abbreviation ('Apr', 'Sept', 'April'), else None."""
    lowered = name.lower()
    if len(lowered) < 3:
        return None
    if lowered == "sept":
        return 9
    return next((number for number, full in enumerate(_MONTH_NAMES, start=1) if full.startswith(lowered)), None)


def _key(kind: TextKind, value: str) -> int | None:
    """The ordered key of one value read as ``kind``, or None when it is not one."""
    for pattern in _PATTERNS[kind]:
        match = pattern.match(value)
        if match is None:
            continue
        groups = match.groupdict()
        number = _month(groups["m"]) if groups.get("m") is not None else int(groups["n"])
        if number is None or not 1 <= number <= _PER_YEAR[kind]:
            return None
        return int(groups["y"]) * _PER_YEAR[kind] + number - 1
    return None


def read_period(value: str, kind: TextKind | None = None) -> tuple[TextKind, int] | None:
    """One period written as text ('Q32011', '2011 Q3', 'March 2024'), read as ``kind`` or, without it, as the
    first kind it reads as: the kind and its ordered key; None when it is no period of these kinds."""
    text = value.strip()
    for candidate in (kind,) if kind is not None else KINDS:
        key = _key(candidate, text)
        if key is not None:
            return candidate, key
    return None


def start_date(key: int, kind: TextKind) -> pd.Timestamp | None:
    """The first day of a text kind's period (a quarter's first month, an ISO week's Monday); None for a week 53
    the year does not have."""
    year, offset = divmod(int(key), _PER_YEAR[kind])
    if kind == "week":
        try:
            return pd.Timestamp(date.fromisocalendar(year, offset + 1, 1))
        except ValueError:
            return None
    month = {"quarter": 3 * offset + 1, "half": 6 * offset + 1, "month": offset + 1}[kind]
    return pd.Timestamp(year=year, month=month, day=1)


def label(key: int, kind: PeriodKind) -> str:
    """A text kind's key in its canonical spelling: '2010Q4', '2010H1', '2010-04', '2010-W05'."""
    assert kind in _PER_YEAR, kind
    year, offset = divmod(int(key), _PER_YEAR[kind])
    return {
        "quarter": f"{year}Q{offset + 1}",
        "half": f"{year}H{offset + 1}",
        "month": f"{year}-{offset + 1:02d}",
        "week": f"{year}-W{offset + 1:02d}",
    }[kind]


@dataclass(frozen=True)
class TextPeriods:
    """A text period column read as one kind: per row its key (rows that were missing hold 0)."""

    kind: TextKind
    keys: NDArray[np.int64]
    example: str  # a value as written, for the method text


def read_text_periods(text: pd.Series, kind: TextKind | None = None) -> TextPeriods | list[str]:
    """Read stripped, non-missing text values as one period kind (``kind`` when given, else the first kind every
    distinct value parses as; a kind the first value is not is not tried). Returns the periods, or, when no kind
    reads every value, the values the closest kind tried could not read (distinct, in order of appearance)."""
    codes, uniques = pd.factorize(text)
    values = [str(v) for v in uniques]
    best: list[str] | None = None
    for candidate in (kind,) if kind is not None else KINDS:
        if kind is None and values and _key(candidate, values[0]) is None:
            continue  # not this kind: a column of a million timestamps is not scanned four times
        keys = [_key(candidate, v) for v in values]
        unread = [v for v, k in zip(values, keys, strict=True) if k is None]
        if not unread:
            per_value = np.array(keys, dtype=np.int64)
            return TextPeriods(candidate, per_value[np.asarray(codes)], values[0] if values else "")
        if best is None or len(unread) < len(best):
            best = unread
    return best or []


def describe(kind: PeriodKind, column: str, example: str = "") -> str:
    """How a period column was read, for the method text ('' for integers, which need no reading)."""
    name = display_name(column)
    if kind == "integer":
        return ""
    if kind == "date":
        return f"periods: '{name}' read as dates, in calendar order"
    shown = f" ('{display_name(example, 30)}' = {label(_key(kind, example) or 0, kind)})" if example else ""
    return f"periods: '{name}' read as {_WORDS[kind]}{shown}, in calendar order"


def examples(values: list[str], limit: int = 3) -> str:
    """A few values, quoted and shortened, for an error message."""
    shown = ", ".join(f"'{display_name(v, 30)}'" for v in values[:limit])
    return shown + (f" and {len(values) - limit:,} more" if len(values) > limit else "")


def kind_words(kind: PeriodKind) -> str:
    """'quarters', 'dates', …: a kind in words."""
    return _WORDS[kind]
