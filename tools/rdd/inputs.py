"""From a request and its data frame to validated, sorted arrays on each side of the cutoff.

Every problem is a ToolError naming the column and the fix; rows with missing values are dropped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tools.data.columns import column, numeric
from tools.data.names import display_name
from tools.errors import ToolError
from tools.rdd.estimate import split_sides
from tools.rdd.local import FloatArray, Side
from tools.rdd.models import RddRequest

__all__ = ["MIN_PER_SIDE", "Prepared", "column", "numeric", "prepare"]

MIN_PER_SIDE = 10


@dataclass
class Prepared:
    left: Side
    right: Side
    x_sorted: FloatArray  # the running variable of the rows analysed, ascending
    x_density: FloatArray  # every non-missing running-variable value, ascending (for the density test)
    x: FloatArray  # the running variable of the rows kept, in data order
    rows: NDArray[np.intp]  # positions of the rows kept in the data
    cluster: NDArray[np.intp] | None  # cluster codes of the rows kept
    notes: list[str] = field(default_factory=list)
    n_dropped: int = 0
    n_obs: int = 0

    @property
    def outcome_scale(self) -> float:
        """The outcome's largest magnitude: what rounding noise in a standard error is measured against."""
        return float(max(np.max(np.abs(side.y[:, 0])) for side in (self.left, self.right)))


def _cluster_codes(series: pd.Series) -> NDArray[np.intp]:
    codes, _ = pd.factorize(series, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.intp)


def prepare(request: RddRequest, data: pd.DataFrame | None) -> Prepared:
    """Validate the columns, drop incomplete rows (counted), check the cutoff, split and sort the two sides."""
    if data is None:
        raise ToolError(
            "no_data",
            "rdd needs row-level data: one row per unit with the running variable and the outcome.",
            "Attach the dataset and give its name as `dataset`.",
        )
    names = [request.running, request.outcome, *([request.fuzzy] if request.fuzzy else [])]
    if len(set(names)) != len(names):
        raise ToolError(
            "same_column",
            "The running variable, the outcome and the take-up column must be different columns.",
            "Give the score that decides treatment as `running` and what you measure afterwards as `outcome`.",
        )
    x = numeric(column(data, request.running, "running-variable"), request.running, "running-variable")
    x_all = x
    y = numeric(column(data, request.outcome, "outcome"), request.outcome, "outcome")
    parts = [y]
    if request.fuzzy is not None:
        parts.append(numeric(column(data, request.fuzzy, "take-up"), request.fuzzy, "take-up"))
    has_x = ~np.isnan(x)
    keep = has_x.copy()
    for values in parts:
        keep &= ~np.isnan(values)
    cluster = None
    if request.cluster is not None:
        cluster = _cluster_codes(column(data, request.cluster, "cluster"))
        keep &= cluster >= 0
    notes = []
    dropped = int(len(x) - np.count_nonzero(keep))
    if dropped:
        used = ", ".join(f"'{display_name(n)}'" for n in [*names, *([request.cluster] if request.cluster else [])])
        notes.append(f"{dropped:,} row(s) with a missing value in {used} were left out.")
    rows = np.flatnonzero(keep)
    if not keep.all():
        x = x[keep]
        parts = [v[keep] for v in parts]
        cluster = cluster[keep] if cluster is not None else None
    c = request.cutoff
    if len(x) == 0:
        raise ToolError(
            "too_few_observations",
            "No row has both the running variable and the outcome.",
            "Check the columns; they may be empty or entirely missing.",
        )
    lo, hi = float(np.min(x)), float(np.max(x))
    if not lo < c < hi:
        raise ToolError(
            "cutoff_outside_data",
            f"The cutoff {c:g} is outside the running variable's range ({lo:g} to {hi:g}), so there is no data on "
            "one side.",
            "Give the cutoff in the running variable's units, strictly between its smallest and largest value.",
        )
    if request.fuzzy is not None:
        take_up = parts[1]
        odd = np.unique(take_up[(take_up != 0) & (take_up != 1)])
        if len(odd):
            raise ToolError(
                "take_up_not_binary",
                f"The take-up column '{display_name(request.fuzzy)}' holds values other than 0 and 1: "
                f"{', '.join(f'{v:g}' for v in odd[:5])}.",
                "Give a 0/1 column saying whether each unit actually received the treatment.",
            )
    y_matrix = np.column_stack(parts)
    left, right = split_sides(x, y_matrix, c, cluster)
    for side, where in ((left, "below"), (right, "at or above")):
        if side.n < MIN_PER_SIDE:
            raise ToolError(
                "too_few_observations",
                f"Only {side.n} row(s) {where} the cutoff {c:g}; the RD needs at least {MIN_PER_SIDE} on each side.",
                "Check the cutoff and the running variable, or collect more data near the cutoff.",
            )
        if side.distinct() < request.polynomial + 2:
            raise ToolError(
                "too_few_distinct_values",
                f"The running variable takes only {side.distinct()} distinct value(s) {where} the cutoff; a "
                f"polynomial of order {request.polynomial} with its bias correction needs {request.polynomial + 2}.",
                "Use a lower polynomial order, or a finer running variable; with very few values an RD is not "
                "identified.",
            )
    _check_outcome_varies(request, left, right)
    if request.cluster is not None:
        for side, where in ((left, "below"), (right, "at or above")):
            assert side.cluster is not None
            if len(np.unique(side.cluster)) < 2:
                raise ToolError(
                    "too_few_clusters",
                    f"All rows {where} the cutoff belong to one '{display_name(request.cluster)}' cluster, so "
                    "cluster-robust standard errors cannot be computed.",
                    "Cluster by a finer unit, or drop `cluster` if rows are independent.",
                )
    if request.fuzzy is not None:
        t_l, t_r = left.y[:, 1], right.y[:, 1]
        if np.var(t_l) == 0 and np.var(t_r) == 0 and abs(np.mean(t_l) - np.mean(t_r)) < 1e-8:
            raise ToolError(
                "no_first_stage",
                f"Take-up '{display_name(request.fuzzy)}' is the same on both sides of the cutoff, so crossing the "
                "cutoff does not change treatment and the fuzzy RD is not identified.",
                "Check the take-up column; if the cutoff does not change treatment, an RD cannot estimate its effect.",
            )
    x_sorted = np.concatenate([left.x, right.x])
    x_density = x_sorted if len(x_sorted) == int(np.count_nonzero(has_x)) else np.sort(x_all[has_x])
    return Prepared(
        left=left,
        right=right,
        x_sorted=x_sorted,
        x_density=x_density,
        x=x,
        rows=rows,
        cluster=cluster,
        notes=notes,
        n_dropped=dropped,
        n_obs=len(x_sorted),
    )


def _check_outcome_varies(request: RddRequest, left: Side, right: Side) -> None:
    """Refuse an outcome with no variation on either side: the local fits would be exact and no standard error,
    bandwidth or interval could be computed (a step from one constant to another is not an estimate)."""
    low, high = (float(side.y[:, 0].min()) for side in (left, right))
    if np.all(left.y[:, 0] == low) and np.all(right.y[:, 0] == high):
        name = display_name(request.outcome)
        what = (
            f"takes the single value {low:g} in every row analysed, so there is no jump to estimate"
            if low == high
            else f"is constant on each side of the cutoff ({low:g} below, {high:g} at or above), so there is no "
            "variation among units to measure the uncertainty of the jump"
        )
        raise ToolError(
            "degenerate_fit",
            f"The outcome '{name}' {what}.",
            "Check that `outcome` is the metric you meant; an RD needs an outcome that varies among units.",
        )
