"""A request's columns looked up in a frame and read as numbers, with the same errors from every tool."""

from __future__ import annotations

import difflib
import re

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tools.data.names import display_name
from tools.errors import ToolError

__all__ = ["column", "find_label", "label_value", "numeric", "treated_indicator", "unknown_column", "value_label"]


def unknown_column(name: str, role: str, columns: list[str]) -> ToolError:
    """``unknown_column``: the closest names, and the dataset's columns when there are few."""
    close = difflib.get_close_matches(name, columns, n=3)
    return ToolError(
        "unknown_column",
        f"The {role} column '{display_name(name)}' is not in the dataset.",
        # every name quoted: a name from a file is then one span the model's view can mark as data
        (f"Did you mean {', '.join(_quoted(c) for c in close)}? " if close else "")
        + f"The dataset has {len(columns)} columns"
        + (f": {', '.join(_quoted(c) for c in columns[:20])}." if len(columns) <= 20 else "."),
    )


def _quoted(name: str) -> str:
    return f"'{display_name(name, 40)}'"


def column(frame: pd.DataFrame, name: str, role: str) -> pd.Series:
    """The column ``name`` (its ``role`` names it in the error when it is missing)."""
    if name not in frame.columns:
        raise unknown_column(name, role, [str(c) for c in frame.columns])
    return frame[name]


def numeric(series: pd.Series, name: str, role: str) -> NDArray[np.float64]:
    """A column as float64 with NaN for missing values; text (``non_numeric_column``, with examples) and
    infinities (``non_finite_values``) are ToolErrors."""
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        values = np.asarray(series.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    else:
        text = series.dropna().astype(str)
        bad = text[pd.to_numeric(text, errors="coerce").isna()]
        examples = ", ".join(f"'{display_name(str(v), 30)}'" for v in bad.iloc[:3])
        raise ToolError(
            "non_numeric_column",
            f"The {role} column '{display_name(name)}' is not numeric: {examples or 'it holds text'}.",
            "Clean the column so every value is a number (or empty for missing), or pick another column.",
        )
    infinite = np.isinf(values)
    if infinite.any():
        raise ToolError(
            "non_finite_values",
            f"The {role} column '{display_name(name)}' has {int(infinite.sum()):,} infinite value(s).",
            "Replace or remove the infinite values; they usually come from a division by zero upstream.",
        )
    return values


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?")


def label_value(label: str) -> float | None:
    """The number a label stands for ('0', '0.0', ' 1 ', 'false' = 0, 'True' = 1), else None."""
    text = label.strip().lower()
    if text in ("false", "true"):
        return float(text == "true")
    return float(text) if _NUMBER.fullmatch(text) else None


def find_label(given: str, labels: list[str]) -> str | None:
    """The label ``given`` names among a column's ``labels``: the same text, else the one label with the same numeric
    value ('0.0' and '0' name '0', as a 0/1 column with blanks loads as floats; '1' names 'True' in a false/true
    column); None when none (or several) match."""
    if given in labels:
        return given
    value = label_value(given)
    if value is None:
        return None
    same = [label for label in labels if label_value(label) == value]
    return same[0] if len(same) == 1 else None


def value_label(value: object) -> str:
    """A value as a label: integral floats without '.0' (a 0/1 column with blanks loads as floats)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def treated_indicator(
    series: pd.Series, name: str, treated_value: str | None, example: str = "yes"
) -> tuple[NDArray[np.bool_], str]:
    """A two-valued treatment column as a treated indicator (False for missing rows too: the caller drops them) and
    the treated label: ``treated_value`` matched by value (:func:`find_label`), else 1 of 0/1 or True of
    false/true. ``example`` is the label the hint suggests for ``treated_value``."""
    values = pd.unique(series.dropna())
    labels = sorted({value_label(v) for v in values.tolist()})
    shown = ", ".join(f"'{display_name(v, 40)}'" for v in labels[:10]) + (", …" if len(labels) > 10 else "")
    quoted = f"'{display_name(name)}'"
    if len(labels) != 2:
        raise ToolError(
            "treatment_not_binary",
            f"The treatment column {quoted} has {len(labels)} distinct value(s) ({shown or 'none'}); it needs "
            "exactly two, treated and control"
            + (" — with one value there are no treated or no control units to compare." if len(labels) == 1 else "."),
            "Give a column with two values (0/1, or two labels with treated_value), or filter the data to two groups.",
        )
    if treated_value is not None:
        found = find_label(treated_value, labels)
        if found is None:
            raise ToolError(
                "unknown_treated_value",
                f"treated_value '{display_name(treated_value)}' is not a value of {quoted} ({shown}).",
                "Give one of the two values exactly as it appears in the data.",
            )
        treated_label = found
    elif set(labels) in ({"0", "1"}, {"False", "True"}):
        treated_label = "1" if "1" in labels else "True"
    else:
        raise ToolError(
            "treated_value_needed",
            f"The treatment column {quoted} has the values {shown}; it is not clear which one is treated.",
            f"Give treated_value with the label of the treated units (e.g. '{example}').",
        )
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)
        match = next(float(v) for v in values.tolist() if value_label(v) == treated_label)
        return np.asarray(numbers == match, dtype=bool), treated_label
    text = series.astype("string")
    return np.asarray((text == treated_label).to_numpy(dtype=bool, na_value=False), dtype=bool), treated_label
