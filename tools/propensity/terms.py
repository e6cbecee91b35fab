"""The covariate grammar, parsed without eval, and the design matrix it builds.

A term is one of::

    age            a column (numeric; a text or categorical column is one-hot encoded, first level dropped)
    age^2          a power (integer 2 to 5) of a numeric column
    age*educ       a product of numeric factors (each factor may itself be a power, log or indicator)
    income==0      an indicator (1 where the column equals the value: a number, 'quoted text' or a bare word)
    log(income)    the natural log of a positive numeric column

Column names that are not plain identifiers are written in backquotes: `` `weekly sessions`^2 ``. A term that
is exactly the name of a column is always that column, whatever characters it holds.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tools.data.names import display_name
from tools.errors import ToolError

__all__ = ["Factor", "Term", "build_columns", "parse_term", "term_columns"]

FloatArray = NDArray[np.float64]

MAX_POWER = 5
MAX_LEVELS = 50

_TOKEN = re.compile(
    r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_.]*)|`(?P<quoted>[^`]+)`|(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
    r"|'(?P<text>[^']*)'|\"(?P<dtext>[^\"]*)\"|(?P<op>==|\*|\^|\(|\)))"
)


@dataclass(frozen=True)
class Factor:
    """One factor of a term: a column, optionally raised to a power, logged, or compared with a value."""

    column: str
    power: int = 1
    log: bool = False
    equals: str | float | None = None

    def label(self) -> str:
        name = self.column if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", self.column) else f"`{self.column}`"
        if self.log:
            return f"log({name})"
        if self.equals is not None:
            value = f"{self.equals:g}" if isinstance(self.equals, float) else f"'{self.equals}'"
            return f"{name}=={value}"
        return f"{name}^{self.power}" if self.power > 1 else name


@dataclass(frozen=True)
class Term:
    """A parsed covariate term: the product of its factors."""

    text: str
    factors: tuple[Factor, ...]

    def label(self) -> str:
        return "*".join(f.label() for f in self.factors)


def _invalid(text: str, why: str) -> ToolError:
    return ToolError(
        "invalid_term",
        f"The covariate term '{display_name(text)}' cannot be read: {why}.",
        "Write terms as a column (age), a power (age^2), a product (age*educ), an indicator (income==0) or "
        "log(income); put column names with spaces or symbols in backquotes.",
    )


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    stripped = text.rstrip()
    while position < len(stripped):
        match = _TOKEN.match(stripped, position)
        if match is None or match.end() == position:
            raise _invalid(text, f"unexpected character at position {position + 1}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def parse_term(text: str, columns: list[str]) -> Term:
    """Parse one term; a term that names a column exactly is that column."""
    if text in columns:
        return Term(text, (Factor(text),))
    tokens = _tokens(text)
    if not tokens:
        raise _invalid(text, "it is empty")
    factors: list[Factor] = []
    index = 0

    def column_at(i: int) -> tuple[str, int]:
        if i >= len(tokens) or tokens[i][0] not in ("name", "quoted"):
            raise _invalid(text, "expected a column name")
        return tokens[i][1], i + 1

    while True:
        if index < len(tokens) and tokens[index] == ("name", "log") and tokens[index + 1 : index + 2] == [("op", "(")]:
            column, index = column_at(index + 2)
            if tokens[index : index + 1] != [("op", ")")]:
                raise _invalid(text, "log( needs a closing parenthesis")
            factors.append(Factor(column, log=True))
            index += 1
        else:
            column, index = column_at(index)
            nxt = tokens[index] if index < len(tokens) else None
            if nxt == ("op", "^"):
                if index + 1 >= len(tokens) or tokens[index + 1][0] != "number":
                    raise _invalid(text, "^ needs a whole number")
                power_text = tokens[index + 1][1]
                if not re.fullmatch(r"\+?\d+", power_text) or not 2 <= int(power_text) <= MAX_POWER:
                    raise _invalid(text, f"powers must be whole numbers from 2 to {MAX_POWER}")
                factors.append(Factor(column, power=int(power_text)))
                index += 2
            elif nxt == ("op", "=="):
                if index + 1 >= len(tokens) or tokens[index + 1][0] == "op":
                    raise _invalid(text, "== needs a value")
                kind, value = tokens[index + 1]
                factors.append(Factor(column, equals=float(value) if kind == "number" else value))
                index += 2
            else:
                factors.append(Factor(column))
        if index == len(tokens):
            break
        if tokens[index] != ("op", "*"):
            raise _invalid(text, f"unexpected '{tokens[index][1]}'")
        index += 1
    return Term(text, tuple(factors))


def term_columns(terms: list[Term]) -> list[str]:
    """The data columns the terms use, in first-use order."""
    seen: dict[str, None] = {}
    for term in terms:
        for factor in term.factors:
            seen.setdefault(factor.column, None)
    return list(seen)


def check_columns(terms: list[Term], columns: list[str]) -> None:
    """ToolError for the first term that names a column the data lacks."""
    for term in terms:
        for factor in term.factors:
            if factor.column not in columns:
                close = difflib.get_close_matches(factor.column, columns, n=3)
                raise ToolError(
                    "unknown_column",
                    f"The covariate '{display_name(factor.column)}' (in term '{display_name(term.text)}') is not in "
                    "the dataset.",
                    (f"Did you mean {', '.join(repr(c) for c in close)}? " if close else "")
                    + "Give column names exactly as in the data.",
                )


def is_text(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype))


def _numeric(series: pd.Series, term: Term) -> FloatArray:
    if is_text(series):
        raise _invalid(
            term.text,
            f"column '{display_name(str(series.name))}' holds text; only a plain term or an "
            "indicator (column=='value') can use a text column",
        )
    values = np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    return values


def _factor_values(frame: pd.DataFrame, factor: Factor, term: Term) -> FloatArray:
    series = frame[factor.column]
    if factor.equals is not None:
        if is_text(series):
            return np.asarray((series.astype(str) == str(factor.equals)).to_numpy(dtype=np.float64), dtype=np.float64)
        if isinstance(factor.equals, str):
            raise _invalid(term.text, f"column '{display_name(factor.column)}' is numeric; compare it with a number")
        return np.asarray(_numeric(series, term) == factor.equals, dtype=np.float64)
    values = _numeric(series, term)
    if factor.log:
        if np.any(values <= 0):
            raise ToolError(
                "invalid_log",
                f"log({display_name(factor.column)}) needs positive values, but the column has "
                f"{int(np.sum(values <= 0)):,} zero or negative value(s).",
                f"Use '{display_name(factor.column)}' with an indicator such as {display_name(factor.column)}==0 "
                "instead, or a column that is always positive.",
            )
        return np.log(values)
    return values**factor.power if factor.power > 1 else values


def build_columns(frame: pd.DataFrame, terms: list[Term]) -> tuple[list[str], list[FloatArray], list[str]]:
    """The design columns of ``terms`` on ``frame`` (rows already free of missing values).

    Returns labels, columns and notes (one-hot encodings with their reference levels).
    """
    labels: list[str] = []
    values: list[FloatArray] = []
    notes: list[str] = []
    for term in terms:
        only = term.factors[0]
        if len(term.factors) == 1 and only.power == 1 and not only.log and only.equals is None:
            series = frame[only.column]
            if is_text(series):
                levels = sorted(series.astype(str).unique().tolist())
                if len(levels) > MAX_LEVELS:
                    raise ToolError(
                        "too_many_levels",
                        f"The text column '{display_name(only.column)}' has {len(levels):,} distinct values; "
                        f"one-hot encoding allows at most {MAX_LEVELS}.",
                        "Group rare values into a coarser column, or leave out ID-like columns.",
                    )
                text = series.astype(str).to_numpy()
                for level in levels[1:]:
                    labels.append(f"{only.label()}=={level!r}")
                    values.append((text == level).astype(np.float64))
                notes.append(
                    f"'{display_name(only.column)}' was one-hot encoded ({len(levels) - 1} indicator(s)); reference "
                    f"level '{display_name(levels[0])}' (dropped)."
                )
                continue
        column = _factor_values(frame, term.factors[0], term)
        for factor in term.factors[1:]:
            column = column * _factor_values(frame, factor, term)
        labels.append(term.label())
        values.append(column)
    return labels, values, notes
