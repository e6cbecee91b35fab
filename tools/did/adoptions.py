"""``adoptions``: who was treated when, said unit by unit when no column of the data says it.

Each adoption names a unit by its value in the unit column, written as text (matched exactly, else regardless of
case when only one value matches), and its first treated period in the time column's form: an integer for integer
periods, a period of the column's kind for text periods ('Q32011', '2011 Q3' and '2011-Q3' are one quarter), and
for dates an ISO date or a month, quarter, half-year or ISO week (read as its first day). Units not listed are never
treated. A unit or a period the data do not have is refused, naming it and the closest values the data do have;
a date between two periods counts from the next period on, and says so. Deterministic; no statistics.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tools.data.names import display_name
from tools.did.models import Adoption
from tools.did.periods import PeriodKind, examples, kind_words, read_period, start_date
from tools.errors import ToolError

__all__ = ["Resolved", "first_period_key", "resolve_adoptions", "unit_text"]

_INTEGER = re.compile(r"[+-]?\d+")
#: Units and periods named in the method text before "and N more".
_SHOWN = 5


@dataclass(frozen=True)
class Resolved:
    """The adoptions read against the data: per distinct unit value, whether it is treated and from which period
    key (the time column's key; 0 for units not listed)."""

    keys: NDArray[np.int64]
    listed: NDArray[np.bool_]
    #: How treatment was defined, for the method text.
    note: str
    #: What the user should know (a date between two periods).
    notes: list[str] = field(default_factory=list)


def unit_text(value: object) -> str:
    """A unit value as the user writes it: integral numbers without '.0', text stripped."""
    if isinstance(value, float | np.floating) and math.isfinite(float(value)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def first_period_key(value: int | str, kind: PeriodKind) -> int | None:
    """The time column's key of a first period as given, or None when it is not one of the column's kind."""
    if kind == "integer":
        if isinstance(value, int):
            return value
        text = value.strip()
        return int(text) if _INTEGER.fullmatch(text) else None
    if isinstance(value, int):
        return None
    if kind != "date":
        read = read_period(value, kind)
        return None if read is None else read[1]
    read = read_period(value)
    if read is not None:
        start = start_date(read[1], read[0])
        return None if start is None else int(start.value)
    try:
        stamp = pd.Timestamp(pd.to_datetime(value.strip(), format="ISO8601"))
    except (ValueError, TypeError, OverflowError):
        return None
    if stamp.tz is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return int(stamp.as_unit("ns").value)


def _forms(kind: PeriodKind) -> str:
    """How a first period of this kind may be written, for a hint."""
    if kind == "integer":
        return "an integer"
    if kind == "date":
        return "an ISO date (2024-03-01) or a month, quarter or week (2024-03, 2024Q1, 2024-W09)"
    return f"one of the {kind_words(kind)} (any spelling: 2011Q3, Q3 2011, 2011-Q3)"


def _closest_units(name: str, texts: Sequence[str]) -> list[str]:
    lowered = {t.casefold(): t for t in texts}
    found = difflib.get_close_matches(name.casefold(), list(lowered), n=3, cutoff=0.6)
    found = [lowered[f] for f in found]
    if not found:  # 'CA' for 'California': values that start with it
        found = [t for t in texts if t.casefold().startswith(name.casefold())][:3]
    return found


def _match_units(adoptions: Sequence[Adoption], unit: str, texts: Sequence[str]) -> list[int]:
    """Per adoption, the index of its unit among the distinct unit values; a ToolError naming the units that are
    not there (with the closest values) or listed twice."""
    exact: dict[str, int] = {}
    folded: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        exact.setdefault(text, i)
        folded.setdefault(text.casefold(), []).append(i)
    found: list[int] = []
    unknown: list[str] = []
    for adoption in adoptions:
        name = adoption.unit.strip()
        index = exact.get(name)
        if index is None:
            matches = folded.get(name.casefold(), [])
            index = matches[0] if len(matches) == 1 else None
        if index is None:
            unknown.append(name)
        else:
            found.append(index)
    if unknown:
        parts = []
        for name in unknown[:_SHOWN]:
            close = _closest_units(name, texts)
            parts.append(
                f"'{display_name(name, 40)}'"
                + (f" (closest: {', '.join(repr(display_name(c, 40)) for c in close)})" if close else "")
            )
        more = f" and {len(unknown) - _SHOWN:,} more" if len(unknown) > _SHOWN else ""
        raise ToolError(
            "unknown_adoption_unit",
            f"The unit column '{display_name(unit)}' has no unit {', '.join(parts)}{more}.",
            f"Write each treated unit as it appears in '{display_name(unit)}' (such as {examples(list(texts))}), or "
            "check that it is the unit column.",
        )
    seen: dict[int, int] = {}
    for position, index in enumerate(found):
        if index in seen:
            raise ToolError(
                "duplicate_adoption",
                f"The unit '{display_name(texts[index], 40)}' is listed twice in `adoptions`.",
                "List each treated unit once, with the first period it was treated.",
            )
        seen[index] = position
    return found


def resolve_adoptions(
    adoptions: Sequence[Adoption],
    unit: str,
    uniques: Sequence[object],
    time: str,
    kind: PeriodKind,
    periods: NDArray[np.int64],
    shown: Callable[[int], str],
) -> Resolved:
    """Read ``adoptions`` against the data: ``uniques`` are the unit column's distinct values, ``periods`` the
    time column's distinct keys (sorted), ``shown`` writes a key as the data write it."""
    texts = [unit_text(v) for v in uniques]
    indexes = _match_units(adoptions, unit, texts)
    keys = np.zeros(len(texts), dtype=np.int64)
    listed = np.zeros(len(texts), dtype=bool)
    said: list[str] = []
    notes: list[str] = []
    for adoption, index in zip(adoptions, indexes, strict=True):
        name = display_name(texts[index], 40)
        given = adoption.first_period
        written = display_name(str(given), 30)
        key = first_period_key(given, kind)
        if key is None:
            raise ToolError(
                "unknown_adoption_period",
                f"The first period '{written}' given for '{name}' is not a period of the time column "
                f"'{display_name(time)}', which holds {kind_words(kind)} (from {shown(int(periods[0]))} to "
                f"{shown(int(periods[-1]))}).",
                f"Give the first treated period as {_forms(kind)}, as the time column writes it.",
            )
        position = int(np.searchsorted(periods, key, side="left"))
        exact = position < len(periods) and int(periods[position]) == key
        if not exact and (kind != "date" or position == len(periods)):
            order = np.argsort(np.abs(periods.astype(np.float64) - float(key)), kind="stable")[:3]
            close = ", ".join(shown(int(periods[i])) for i in sorted(order))
            raise ToolError(
                "unknown_adoption_period",
                f"The first period '{written}' given for '{name}' is not in the time column "
                f"'{display_name(time)}' (closest: {close}).",
                f"Give a period the data have ({shown(int(periods[0]))} to {shown(int(periods[-1]))}); a unit "
                "first treated after the last period is untreated in these data: leave it out.",
            )
        if not exact:
            notes.append(
                f"'{name}' was first treated on {written}, between two periods of '{display_name(time)}': it counts "
                f"as treated from {shown(int(periods[position]))} on."
            )
        keys[index] = key
        listed[index] = True
        said.append(f"{name} from {'period ' if kind == 'integer' else ''}{shown(int(periods[position]))}")
    listing = ", ".join(said[:_SHOWN]) + (f" and {len(said) - _SHOWN:,} more" if len(said) > _SHOWN else "")
    return Resolved(
        keys, listed, f"treated units given as adoptions: {listing} (units not listed: never treated)", notes
    )
