"""From a request and its frame to validated arrays: every bad input a ToolError naming the column and the fix.

Rows with a missing value in any column the request uses are dropped and counted. Numeric and true/false columns
enter the models as they are; text columns are one-hot encoded (every level, at most ``MAX_LEVELS``). Constant
features are dropped with a note; a modifier list that is constant throughout is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tools.data.columns import numeric, treated_indicator, unknown_column, value_label
from tools.data.names import display_name
from tools.errors import ToolError
from tools.heterogeneity.models import GATES_GROUPS, MAX_LEVELS, HeterogeneityRequest
from tools.propensity.inputs import POST_TREATMENT

__all__ = [
    "MIN_LEVEL_ARM",
    "MIN_PER_ARM_PER_FOLD",
    "MIN_PER_GROUP",
    "HeterogeneityData",
    "prepare",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

#: Each arm needs at least this many units per fold, so that every training set and held-out fold has both arms.
MIN_PER_ARM_PER_FOLD = 10
#: Units per GATES group in each evaluation half (half the data in five groups): at least 200 units in all.
MIN_PER_GROUP = 20
#: Treated and control units each level of a subgroup column needs.
MIN_LEVEL_ARM = 5


@dataclass(frozen=True)
class Subgroup:
    """One pre-specified subgroup column: a level code per unit and the level labels."""

    column: str
    codes: IntArray
    levels: list[str]


@dataclass(frozen=True)
class HeterogeneityData:
    """The arrays of one analysis, on the rows left after dropping missing values.

    ``modifiers`` (n x p) are the encoded effect modifiers (the CATE model's inputs, CLAN's rows) named by
    ``modifier_names``; ``features`` (n x q) the nuisance models' inputs: the encoded covariates and modifiers.
    """

    outcome: FloatArray
    treated: NDArray[np.bool_]
    modifiers: FloatArray
    modifier_names: list[str]
    features: FloatArray
    covariate_columns: list[str]
    subgroups: list[Subgroup]
    treated_value: str
    n_dropped: int
    notes: list[str] = field(default_factory=list)
    post_treatment: list[str] = field(default_factory=list)


def _q(name: str) -> str:
    return f"'{display_name(name)}'"


def _is_numeric(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype))


def _levels(series: pd.Series, name: str, role: str) -> tuple[IntArray, list[str]]:
    """Level codes (-1 for missing) and labels of a categorical column, refusing more than ``MAX_LEVELS``."""
    codes, uniques = pd.factorize(series, sort=True)
    labels = [value_label(v) for v in list(uniques)]
    if len(labels) > MAX_LEVELS:
        raise ToolError(
            "too_many_levels",
            f"The {role} column {_q(name)} has {len(labels):,} distinct values; at most {MAX_LEVELS} can be "
            "compared level by level.",
            f"Bin {_q(name)} into a few pre-specified ranges first"
            + (" (or give it as a number: numeric modifiers need no binning)." if role == "subgroup" else "."),
        )
    return np.asarray(codes, dtype=np.intp), labels


def _roles(request: HeterogeneityRequest, columns: list[str]) -> tuple[list[str], list[str], list[str]]:
    modifiers = list(dict.fromkeys(request.effect_modifiers))
    covariates = list(dict.fromkeys(request.covariates)) if request.covariates is not None else list(modifiers)
    subgroups = list(dict.fromkeys(request.subgroups or []))
    named = [(request.outcome, "outcome"), (request.treatment, "treatment")]
    named += [(c, "effect modifier") for c in modifiers] + [(c, "covariate") for c in covariates]
    named += [(c, "subgroup") for c in subgroups]
    for name, role in named:
        if name not in columns:
            raise unknown_column(name, role, columns)
    if request.outcome == request.treatment:
        raise ToolError(
            "overlapping_columns",
            "The outcome and the treatment are the same column.",
            "Give the outcome and the treatment as two different columns.",
        )
    for role, name in (("outcome", request.outcome), ("treatment", request.treatment)):
        for listed, what in ((modifiers, "effect_modifiers"), (covariates, "covariates"), (subgroups, "subgroups")):
            if name in listed:
                raise ToolError(
                    "overlapping_columns",
                    f"The {role} column {_q(name)} is also listed in {what}.",
                    f"Remove {_q(name)} from {what}: they must be traits measured before the treatment.",
                )
    if request.propensity is not None and not request.randomized:
        raise ToolError(
            "propensity_unused",
            f"A known assignment probability ({request.propensity:g}) is given but randomized is false, so a "
            "propensity model would be fitted and the value ignored.",
            "Set randomized to true for an A/B test with that design share, or drop `propensity`.",
        )
    return modifiers, covariates, subgroups


def _encode(frame: pd.DataFrame, names: list[str], role: str) -> tuple[list[str], list[FloatArray], NDArray[np.bool_]]:
    """Encoded columns (numeric as is, text one-hot) with their labels, and the rows with a missing value."""
    labels: list[str] = []
    values: list[FloatArray] = []
    missing = np.zeros(len(frame), dtype=bool)
    for name in names:
        series = frame[name]
        if _is_numeric(series):
            column = numeric(series, name, role)
            missing |= np.isnan(column)
            labels.append(name)
            values.append(column)
            continue
        codes, levels = _levels(series, name, role)
        missing |= codes < 0
        for j, level in enumerate(levels):
            labels.append(f"{name}={level}")
            values.append((codes == j).astype(np.float64))
    return labels, values, missing


def _constant(x: FloatArray) -> NDArray[np.bool_]:
    return np.asarray(np.ptp(x, axis=0) == 0, dtype=bool) if len(x) else np.ones(x.shape[1], dtype=bool)


def set_by_treatment(frame: pd.DataFrame, treated: NDArray[np.bool_], columns: list[str]) -> list[tuple[str, str]]:
    """The columns that take a single value in one arm and several others in the other arm, never that one, with
    that value: quantities the treatment sets (an incentive's amount is 0 for every control unit and positive for
    every treated one), not traits of the units. A rare trait missing from one arm by chance keeps its common value
    in both arms, so it is not caught."""
    found: list[tuple[str, str]] = []
    for name in columns:
        series = frame[name]
        inside, outside = series[treated].dropna(), series[~treated].dropna()
        for one, other in ((inside, outside), (outside, inside)):
            if (
                len(one)
                and len(other)
                and one.nunique() == 1
                and other.nunique() > 1
                and not (other == one.iloc[0]).any()
            ):
                found.append((name, value_label(one.iloc[0])))
                break
    return found


def prepare(request: HeterogeneityRequest, data: pd.DataFrame | None) -> HeterogeneityData:
    """Validate the request against the data and read the columns as arrays (rows with missing values dropped)."""
    if data is None:
        raise ToolError(
            "no_data",
            "The heterogeneity tool needs row-level data: one row per unit with the outcome, the treatment and the "
            "effect modifiers.",
            "Attach the dataset and give its name in `dataset`.",
        )
    columns = [str(c) for c in data.columns]
    modifiers, covariates, subgroup_columns = _roles(request, columns)
    treated, treated_label = treated_indicator(
        data[request.treatment], request.treatment, request.treated_value, "variant"
    )
    y = numeric(data[request.outcome], request.outcome, "outcome")
    missing = np.isnan(y) | data[request.treatment].isna().to_numpy(dtype=bool)
    counts: list[tuple[str, int]] = []
    for name, absent in ((request.outcome, np.isnan(y)), (request.treatment, data[request.treatment].isna())):
        count = int(np.asarray(absent).sum())
        if count:
            counts.append((name, count))
    mod_labels, mod_values, mod_missing = _encode(data, modifiers, "effect modifier")
    extra = [c for c in covariates if c not in modifiers]
    _, cov_values, cov_missing = _encode(data, extra, "covariate")
    groups: list[tuple[str, IntArray, list[str]]] = []
    group_missing = np.zeros(len(data), dtype=bool)
    for name in subgroup_columns:
        codes, levels = _levels(data[name], name, "subgroup")
        group_missing |= codes < 0
        groups.append((name, codes, levels))
    for name in dict.fromkeys(modifiers + extra + subgroup_columns):
        count = int(data[name].isna().sum())
        if count:
            counts.append((name, count))
    missing |= mod_missing | cov_missing | group_missing
    n_dropped = int(missing.sum())
    notes: list[str] = []
    keep = ~missing
    if n_dropped:
        notes.append(
            f"{n_dropped:,} of {len(data):,} row(s) with a missing value were dropped ("
            + "; ".join(f"{_q(name)}: {count:,}" for name, count in counts)
            + ")."
        )
    set_by = set_by_treatment(data.loc[keep], treated[keep], list(dict.fromkeys(modifiers + extra)))
    if set_by:
        name, value = set_by[0]
        raise ToolError(
            "modifier_set_by_treatment",
            f"{_q(name)} takes one value ({display_name(value, 40)}) in one arm and varies in the other: it is set "
            "by the treatment (an incentive's amount, a dose, exposure), so it cannot say for whom the treatment "
            "works" + (f"; also: {', '.join(_q(n) for n, _ in set_by[1:])}" if len(set_by) > 1 else "") + ".",
            "Drop it from effect_modifiers and covariates; use only traits measured before the treatment.",
        )
    y, treated = y[keep], treated[keep]
    x = np.column_stack([v[keep] for v in mod_values])
    w = np.column_stack([v[keep] for v in cov_values]) if cov_values else np.empty((len(y), 0))
    n, n_treated = len(y), int(treated.sum())
    n_control = n - n_treated
    per_arm = MIN_PER_ARM_PER_FOLD * request.folds
    minimum = 2 * GATES_GROUPS * MIN_PER_GROUP
    if n < minimum or min(n_treated, n_control) < per_arm:
        raise ToolError(
            "too_few_units",
            f"{n:,} usable row(s) ({n_treated:,} treated, {n_control:,} control)"
            + (f" after dropping {n_dropped:,} with missing values" if n_dropped else "")
            + f"; heterogeneity needs at least {minimum} units ({MIN_PER_GROUP} per group of predicted effect in "
            f"each evaluation half) and {per_arm} per arm ({MIN_PER_ARM_PER_FOLD} per fold with {request.folds} "
            "folds).",
            "Use more data or fewer folds; with fewer units, estimate the average effect only (ab_test).",
        )
    if np.ptp(y) == 0:
        raise ToolError(
            "constant_outcome",
            f"The outcome {_q(request.outcome)} takes the same value ({y[0]:g}) for every unit, so there is no effect "
            "to estimate.",
            "Check that the outcome column is the metric you meant.",
        )
    constant_x = _constant(x)
    if constant_x.all():
        raise ToolError(
            "constant_modifiers",
            "Every effect modifier takes one value in the rows used, so the effect cannot vary with them.",
            "Give modifiers that differ between units (tenure, plan, country, past activity).",
        )
    dropped = [mod_labels[j] for j in np.flatnonzero(constant_x)]
    if dropped:
        notes.append("Constant modifier feature(s) dropped: " + ", ".join(_q(c) for c in dropped) + ".")
        x = np.ascontiguousarray(x[:, ~constant_x])
        mod_labels = [label for label, c in zip(mod_labels, constant_x, strict=True) if not c]
    if w.shape[1]:
        constant_w = _constant(w)
        w = w[:, ~constant_w]
    features = np.ascontiguousarray(np.column_stack([x, w]) if w.shape[1] else x)
    subgroups: list[Subgroup] = []
    for name, codes, levels in groups:
        kept_codes = codes[keep]
        for j, level in enumerate(levels):
            inside = kept_codes == j
            arms = int((inside & treated).sum()), int((inside & ~treated).sum())
            if min(arms) < MIN_LEVEL_ARM:
                raise ToolError(
                    "subgroup_too_small",
                    f"The level '{display_name(level, 40)}' of the subgroup column {_q(name)} has {arms[0]:,} treated "
                    f"and {arms[1]:,} control unit(s); each level needs at least {MIN_LEVEL_ARM} of each.",
                    f"Merge the rare levels of {_q(name)} before the analysis, or drop it from subgroups.",
                )
        subgroups.append(Subgroup(name, kept_codes, levels))
    used = list(dict.fromkeys(modifiers + covariates))
    post = [c for c in used if POST_TREATMENT.search(c)]
    return HeterogeneityData(
        outcome=y,
        treated=treated,
        modifiers=x,
        modifier_names=mod_labels,
        features=features,
        covariate_columns=covariates,
        subgroups=subgroups,
        treated_value=treated_label,
        n_dropped=n_dropped,
        notes=notes,
        post_treatment=post,
    )
