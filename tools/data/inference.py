"""CSV columns typed from their text: the missing-value policy, then numbers only where that loses nothing.

The rules are per column (no leading zeros, no integers beyond 2**53, no non-numeric values; see
:mod:`tools.data.loading`), but the work is done for a block of columns at once with Arrow compute kernels: a
pandas string operation costs about half a millisecond of overhead whatever its length, and typing one column
took about fifteen of them, so a file with 10,000 columns spent minutes in overhead. A block holds about a
million cells, so a long file is still typed column by column with bounded memory.

The regular expressions run in RE2 with ``\\p{Nd}`` for Python's ``\\d`` and the whitespace Python's
``str.strip`` removes, so every cell is classified exactly as the per-column pandas code did (Unicode digits
included); values Arrow cannot cast (Unicode digits) are converted by Python's ``float``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from tools.data.names import display_name, quote_name

__all__ = ["NA_VALUES", "PY_WHITESPACE", "note_infinite", "type_columns"]

#: The only strings read as missing, exactly as written (no stripping, no case folding).
NA_VALUES = ("", "NA", "N/A", "null", "NULL", "NaN", "nan", "None", "-")

#: The characters ``str.strip()`` removes (those for which ``str.isspace()`` is true).
PY_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


@dataclass(frozen=True)
class _Patterns:
    """The RE2 patterns for one digit class: ``\\p{Nd}`` (Python's ``\\d`` on str: any Unicode decimal digit),
    or ``[0-9]`` for a block known to be ASCII (the same matches, found faster)."""

    number: str
    integer: str
    leading_zero: str
    decimal_comma: str

    @classmethod
    def of(cls, d: str) -> _Patterns:
        return cls(
            number=rf"^[+-]?(?:(?:{d}+\.?{d}*|\.{d}+)(?:[eE][+-]?{d}+)?|[iI]nf(?:inity)?|INF)$",
            integer=rf"^[+-]?{d}+$",
            leading_zero=rf"^[+-]?0{d}",
            decimal_comma=rf"^(?:[+-]?{d}{{1,3}}(?:\.{d}{{3}})*,{d}+|[+-]?{d}+,{d}+)$",
        )


_UNICODE, _ASCII = _Patterns.of(r"\p{Nd}"), _Patterns.of("[0-9]")
_ASCII_WHITESPACE = "".join(c for c in PY_WHITESPACE if c.isascii())
_MAX_EXACT_INT = 2**53

#: About how many cells are typed at once.
_BLOCK_CELLS = 1 << 20

_NA_SET = pa.array(NA_VALUES, type=pa.large_string())


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def note_infinite(values: pd.Series | NDArray[np.float64], label: str, notes: list[str]) -> None:
    """Add a note counting the infinite ``values``, if there are any."""
    array = values.to_numpy(dtype="float64", na_value=np.nan) if isinstance(values, pd.Series) else values
    count = int(np.isinf(array).sum())
    if count:
        notes.append(f"column {label} has {_count(count, 'infinite value')} (tools treat them as invalid)")


def type_columns(raw: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """``raw`` (every column text, no missing values yet) with each column typed; notes in column order.

    The columns are built as arrays and the frame once from all of them (a frame assembled from 10,000 Series
    took seconds by itself)."""
    step = max(1, _BLOCK_CELLS // max(len(raw), 1))
    items = list(raw.items())
    typed: dict[str, Any] = {}
    for start in range(0, len(items), step):
        typed.update(_type_block(items[start : start + step], len(raw), notes))
    return pd.DataFrame(typed, index=raw.index)


def _mask(array: pa.Array, shape: tuple[int, int]) -> NDArray[np.bool_]:
    """A boolean Arrow array (nulls as False) as a (columns, rows) numpy array."""
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool).reshape(shape)


def _floats(cells: pa.Array) -> NDArray[np.float64]:
    """Numeric text (nulls elsewhere) as float64, NaN for the nulls; Python's ``float`` where Arrow cannot."""
    try:
        return np.asarray(pc.cast(cells, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # e.g. Unicode digits, which float() reads
        return np.array([np.nan if v is None else float(v) for v in cells.to_pylist()], dtype=np.float64)


def _arrow(series: pd.Series) -> pa.Array:
    """A text column as one Arrow array (pandas may hold a long one in chunks)."""
    array = pa.array(series, type=pa.large_string())
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _type_block(items: list[tuple[Any, pd.Series]], n: int, notes: list[str]) -> dict[str, Any]:
    """The typed arrays of one block of columns (``(name, text series)`` pairs, ``n`` rows each)."""
    k = len(items)
    shape = (k, n)
    columns = [_arrow(series) for _name, series in items]
    flat = pa.concat_arrays(columns) if k > 1 else columns[0]
    missing = _mask(pc.is_in(flat, value_set=_NA_SET), shape)
    if pc.all(pc.string_is_ascii(flat)).as_py() is not False:
        patterns, stripped = _ASCII, pc.ascii_trim(flat, characters=_ASCII_WHITESPACE)
    else:
        patterns, stripped = _UNICODE, pc.utf8_trim(flat, characters=PY_WHITESPACE)
    numeric = _mask(pc.match_substring_regex(stripped, patterns.number), shape) & ~missing
    present = ~missing
    n_values = present.sum(axis=1)
    all_numeric = (numeric.sum(axis=1) == n_values) & (n_values > 0)
    numbers = _Numbers.of(stripped, np.flatnonzero(all_numeric), n, present, numeric, patterns)
    texts = np.flatnonzero(~all_numeric & (n_values > 0))
    decimal = _mask(pc.match_substring_regex(_rows(stripped, texts, n), patterns.decimal_comma), (texts.size, n))
    typed: dict[str, Any] = {}
    for j, (name, series) in enumerate(items):
        label = quote_name(name)
        miss = missing[j]
        if miss.any():
            tokens = ", ".join(repr(t) for t in sorted(pc.unique(columns[j].filter(pa.array(miss))).to_pylist()))
            notes.append(f"{_count(int(miss.sum()), 'value')} in column {label} read as missing ({tokens})")
        text = _text(columns[j], miss, series.dtype)
        if n_values[j] == 0:
            typed[name] = text()
        elif all_numeric[j]:
            r = numbers.row[j]
            if numbers.leading[r].any():
                notes.append(f"column {label} was kept as text: it has numbers with leading zeros (an identifier?)")
                typed[name] = text()
            elif numbers.beyond[r].any():
                notes.append(f"column {label} was kept as text: it has integers beyond 2**53 (an identifier?)")
                typed[name] = text()
            elif not miss.any() and numbers.integer[r].all():
                typed[name] = numbers.floats[r].astype(np.int64)
            else:
                typed[name] = numbers.floats[r].copy()  # its own array, not a view of the block's
                note_infinite(typed[name], label, notes)
        else:
            row = int(np.searchsorted(texts, j))
            _note_text(label, stripped.slice(j * n, n), columns[j], decimal[row], numeric[j], miss, notes)
            typed[name] = text()
    return typed


def _rows(array: pa.Array, columns: NDArray[np.intp], n: int) -> pa.Array:
    """The cells of the given columns of a block (``n`` rows each), as one array."""
    if columns.size == 0:
        return array.slice(0, 0)
    return pa.concat_arrays([array.slice(int(j) * n, n) for j in columns])


@dataclass(frozen=True)
class _Numbers:
    """What decides how the all-numeric columns of a block are kept, one row per such column (``row`` maps a
    block column to its row): integers, leading zeros, integers beyond 2**53, and the values as float64."""

    row: dict[int, int]
    integer: NDArray[np.bool_]
    leading: NDArray[np.bool_]
    beyond: NDArray[np.bool_]
    floats: NDArray[np.float64]

    @classmethod
    def of(
        cls,
        stripped: pa.Array,
        columns: NDArray[np.intp],
        n: int,
        present: NDArray[np.bool_],
        numeric: NDArray[np.bool_],
        patterns: _Patterns,
    ) -> _Numbers:
        cells, shape, kept = _rows(stripped, columns, n), (columns.size, n), present[columns]
        integer = _mask(pc.match_substring_regex(cells, patterns.integer), shape) & kept
        leading = _mask(pc.match_substring_regex(cells, patterns.leading_zero), shape) & kept
        chosen = pc.if_else(pa.array(numeric[columns].ravel()), cells, pa.scalar(None, cells.type))
        floats = _floats(chosen).reshape(shape)
        row = {int(j): r for r, j in enumerate(columns)}
        return cls(row, integer, leading, _beyond_exact(cells, integer, shape), floats)


def _text(column: pa.Array, missing: NDArray[np.bool_], dtype: Any) -> Callable[[], Any]:
    """The column kept as text, missing values as NA, built only if it is used (most columns are numbers)."""

    def build() -> Any:
        kept = pc.if_else(pa.array(missing), pa.scalar(None, column.type), column) if missing.any() else column
        return pd.array(kept, dtype=dtype)

    return build


def _beyond_exact(stripped: pa.Array, integer: NDArray[np.bool_], shape: tuple[int, int]) -> NDArray[np.bool_]:
    """Integer cells whose magnitude exceeds 2**53 (16 digits or more: the few with exactly 16 are compared)."""
    lengths = np.asarray(pc.utf8_length(stripped).to_numpy(zero_copy_only=False), dtype=np.int64).reshape(shape)
    signed = _mask(pc.match_substring_regex(stripped, r"^[+-]"), shape)
    digits = np.where(integer, lengths - signed, 0)
    beyond = digits > 16
    for j, i in zip(*np.nonzero(digits == 16), strict=True):
        beyond[j, i] = int(str(stripped[j * shape[1] + i].as_py()).lstrip("+-")) > _MAX_EXACT_INT
    return beyond


def _note_text(
    label: str,
    stripped: pa.Array,
    column: pa.Array,
    decimal: NDArray[np.bool_],
    numeric: NDArray[np.bool_],
    miss: NDArray[np.bool_],
    notes: list[str],
) -> None:
    """The note for a text column that looks numeric: a decimal comma, or mostly numbers with some text."""
    present = ~miss
    values = int(present.sum())
    if (decimal | miss).all():
        example = stripped[int(np.flatnonzero(present)[0])].as_py()
        notes.append(f"column {label} looks numeric with a decimal comma (e.g. '{example}'); kept as text")
    elif int(numeric.sum()) * 2 >= values:
        row = int(np.flatnonzero(~(numeric | miss))[0])
        example = display_name(str(column[row].as_py()), 30)
        notes.append(
            f"column {label} is mostly numeric but has non-numeric values, e.g. '{example}' (row {row + 1}); "
            "kept as text"
        )
