"""From a request and its frame to validated arrays: every bad input a ToolError naming the column and the fix.

Rows with a missing value in any column the request uses are dropped and counted; covariates that are constant or
collinear with earlier ones are dropped with a note (the estimate does not depend on them); an instrument or a
treatment that the covariates explain is refused, since nothing would be left to identify the effect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tools.data.columns import column, numeric, unknown_column
from tools.data.names import display_name
from tools.errors import ToolError
from tools.iv.models import InstrumentalVariablesRequest

__all__ = ["IVData", "prepare", "two_values"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


@dataclass(frozen=True)
class IVData:
    """The arrays of one analysis, on the rows left after dropping missing values.

    ``covariates`` holds the covariate columns as given (no constant); ``screening`` in :mod:`tools.iv.fit`
    drops the constant and collinear ones.
    """

    outcome: FloatArray
    treatment: FloatArray
    instruments: FloatArray  # n x k_z
    covariates: FloatArray  # n x k_w (without the constant)
    instrument_names: list[str]
    covariate_names: list[str]
    clusters: IntArray | None
    n_clusters: int | None
    n_dropped: int
    notes: list[str]


def _q(name: str) -> str:
    return f"'{display_name(name)}'"


def two_values(x: FloatArray) -> tuple[float, float] | None:
    """The two values of a column that takes exactly two (low, high), else None; one pass or two, no sort."""
    if x.size == 0:
        return None
    first = x[0]
    other = x != first
    if not other.any():
        return None
    second = x[int(np.argmax(other))]
    if not bool(np.all(other <= (x == second))):  # every row is first or second
        return None
    low, high = (first, second) if first < second else (second, first)
    return float(low), float(high)


def _roles(request: InstrumentalVariablesRequest, columns: list[str]) -> tuple[list[str], list[str]]:
    """The instruments and covariates (duplicates removed), after the role and option checks."""
    instruments = list(dict.fromkeys(request.instruments))
    covariates = list(dict.fromkeys(request.covariates or []))
    named = [(request.outcome, "outcome"), (request.treatment, "treatment")]
    named += [(name, "instrument") for name in instruments] + [(name, "covariate") for name in covariates]
    if request.cluster is not None:
        named.append((request.cluster, "cluster"))
    for name, role in named:
        if name not in columns:
            raise unknown_column(name, role, columns)
    if request.treatment in instruments:
        raise ToolError(
            "treatment_is_instrument",
            f"The treatment {_q(request.treatment)} is also listed among the instruments; an instrument must be "
            "something else that moved the treatment (the randomised invite, not the use it led to).",
            f"Remove {_q(request.treatment)} from instruments and give the column that was assigned "
            "(the encouragement, the rollout shard).",
        )
    if request.outcome == request.treatment or request.outcome in instruments:
        role = "treatment" if request.outcome == request.treatment else "an instrument"
        raise ToolError(
            "overlapping_columns",
            f"The outcome {_q(request.outcome)} is also given as {role}.",
            "Give the outcome, the treatment and the instruments as different columns.",
        )
    for name in covariates:
        if name in (request.outcome, request.treatment) or name in instruments:
            raise ToolError(
                "overlapping_columns",
                f"The column {_q(name)} is listed among the covariates and also as the outcome, the treatment or "
                "an instrument.",
                f"Remove {_q(name)} from covariates: covariates are controls measured before the instrument.",
            )
    if request.standard_errors == "cluster" and request.cluster is None:
        raise ToolError(
            "cluster_missing",
            "standard_errors is 'cluster' but no cluster column is given.",
            "Give `cluster` (the column the instrument was assigned by, such as the shard or team), or use "
            "standard_errors 'robust'.",
        )
    if request.cluster is not None and request.standard_errors != "cluster":
        raise ToolError(
            "cluster_unused",
            f"A cluster column ({_q(request.cluster)}) is given but standard_errors is "
            f"'{request.standard_errors}', so it would be ignored.",
            "Set standard_errors to 'cluster' to cluster on it, or drop `cluster`.",
        )
    return instruments, covariates


def prepare(request: InstrumentalVariablesRequest, data: pd.DataFrame | None) -> IVData:
    """Validate the request against the data and read the columns as arrays (rows with missing values dropped)."""
    if data is None:
        raise ToolError(
            "no_data",
            "The instrumental_variables tool needs row-level data: one row per unit with the outcome, the treatment "
            "and the instrument(s).",
            "Attach the dataset and give its name in `dataset`.",
        )
    columns = [str(c) for c in data.columns]
    instruments, covariates = _roles(request, columns)
    y = numeric(column(data, request.outcome, "outcome"), request.outcome, "outcome")
    d = numeric(column(data, request.treatment, "treatment"), request.treatment, "treatment")
    z = [numeric(column(data, name, "instrument"), name, "instrument") for name in instruments]
    w = [numeric(column(data, name, "covariate"), name, "covariate") for name in covariates]
    missing = np.zeros(len(data), dtype=bool)
    counts: list[tuple[str, int]] = []
    for name, values in (
        (request.outcome, y),
        (request.treatment, d),
        *zip(instruments + covariates, z + w, strict=False),
    ):
        absent = np.isnan(values)
        count = int(absent.sum())
        if count:
            counts.append((name, count))
            missing |= absent
    cluster_series = data[request.cluster] if request.cluster is not None else None
    if cluster_series is not None:
        absent = cluster_series.isna().to_numpy(dtype=bool)
        if absent.any():
            counts.append((str(request.cluster), int(absent.sum())))
            missing |= absent
    n_dropped = int(missing.sum())
    notes: list[str] = []
    if n_dropped:
        notes.append(
            f"{n_dropped:,} of {len(data):,} row(s) with a missing value were dropped ("
            + "; ".join(f"{_q(name)}: {count:,}" for name, count in counts)
            + ")."
        )
        keep = ~missing
        y, d = y[keep], d[keep]
        z = [v[keep] for v in z]
        w = [v[keep] for v in w]
        if cluster_series is not None:
            cluster_series = cluster_series[keep]
    n = len(y)
    z_matrix = np.column_stack(z) if len(z) > 1 else z[0].reshape(-1, 1)
    w_matrix = np.empty((n, len(w)), order="F")  # column by column: what the cross-products read
    for j, values in enumerate(w):
        w_matrix[:, j] = values
    parameters = 1 + len(w) + len(z)
    if n < parameters + 1:
        raise ToolError(
            "too_few_rows",
            f"Only {n:,} usable row(s)"
            + (f" after dropping {n_dropped:,} with missing values" if n_dropped else "")
            + f", but the first stage alone has {parameters} parameters (a constant, {len(w)} covariate(s) and "
            f"{len(z)} instrument(s)); at least {parameters + 1} rows are needed.",
            "Use fewer covariates, or fill in the missing values.",
        )
    clusters: IntArray | None = None
    n_clusters: int | None = None
    if cluster_series is not None:
        codes, uniques = pd.factorize(cluster_series, sort=False)
        clusters = np.asarray(codes, dtype=np.intp)
        n_clusters = len(uniques)
        needed = max(2, len(z) + 1)
        if n_clusters < needed:
            raise ToolError(
                "too_few_clusters",
                f"The cluster column {_q(str(request.cluster))} has {n_clusters} cluster(s) in the rows used; "
                f"clustered tests of {len(z)} instrument(s) need at least {needed}.",
                "Cluster on a finer unit, or use standard_errors 'robust'.",
            )
    return IVData(y, d, z_matrix, w_matrix, instruments, covariates, clusters, n_clusters, n_dropped, notes)
