"""The assign tool's inputs read from the unit list: ids, clusters, strata and balance covariates, with the
ToolErrors a user can act on (unknown column, duplicated or missing ids, a unit in two clusters, a stratum smaller
than the number of arms, too few clusters)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tools.assign.models import AssignMethod, AssignRequest
from tools.data.columns import column, numeric, value_label
from tools.data.names import display_name
from tools.errors import ToolError

__all__ = ["BALANCE_CAP", "MIN_CLUSTERS_PER_ARM", "Units", "read_units"]

#: The most covariates the default balance check takes (the first numeric non-id columns).
BALANCE_CAP = 10
#: Fewer clusters than this per arm cannot be randomised into arms with any precision.
MIN_CLUSTERS_PER_ARM = 2
_ID_NAME = re.compile(r"(^|_)(id|uuid|key)$", re.I)


@dataclass(frozen=True)
class Units:
    """The unit list as the draw needs it. The randomised units are the units, or the clusters (cluster design)."""

    method: AssignMethod
    shares: list[float]
    unit_ids: list[str]  # one per row, sorted
    cluster_ids: list[str] | None  # per row (cluster design)
    ids: list[str]  # the randomised units (units or clusters), sorted
    row_to_randomised: NDArray[np.int64]  # per row: index into ids
    groups: NDArray[np.int64]  # per randomised unit: its stratum code
    stratum_labels: list[str]
    covariates: list[str]
    x_rows: NDArray[np.float64]  # per row x covariate (NaN: missing)
    x_randomised: NDArray[np.float64]  # per randomised unit (cluster means), complete cases only
    complete: NDArray[np.bool_]  # per randomised unit: used in the Mahalanobis imbalance
    notes: list[str]


def read_units(request: AssignRequest, frame: pd.DataFrame) -> Units:
    """Validate the request against the unit list and read what the draw needs, or raise a ToolError."""
    shares = _shares(request)
    method = _method(request)
    unit = column(frame, request.unit_column, "unit")
    cluster = column(frame, request.cluster_column, "cluster") if request.cluster_column is not None else None
    strata = [column(frame, name, "stratum") for name in request.strata or []]
    for series, role in ((unit, "unit"), (cluster, "cluster")):
        if series is not None and series.isna().any():
            raise ToolError(
                "missing_ids",
                f"{int(series.isna().sum()):,} row(s) have no {role} id in '{display_name(str(series.name))}'.",
                f"Remove those rows or give each one a {role} id; a unit without an id cannot be assigned.",
            )
    unit_text = unit.map(value_label).astype(str)
    cluster_text = cluster.map(value_label).astype(str) if cluster is not None else None
    _check_duplicates(unit_text, cluster_text)
    order = np.argsort(unit_text.to_numpy(dtype=object), kind="stable")
    frame = frame.iloc[order].reset_index(drop=True)
    unit_text = unit_text.iloc[order].reset_index(drop=True)
    if cluster_text is not None:
        cluster_text = cluster_text.iloc[order].reset_index(drop=True)
    strata = [s.iloc[order].reset_index(drop=True) for s in strata]
    notes: list[str] = []
    if cluster_text is None:
        ids = unit_text.tolist()
        row_to_randomised = np.arange(len(ids), dtype=np.int64)
        level = strata
    else:
        codes, uniques = pd.factorize(cluster_text, sort=True)
        ids = [str(u) for u in uniques]
        row_to_randomised = codes.astype(np.int64)
        if len(ids) < MIN_CLUSTERS_PER_ARM * len(shares):
            raise ToolError(
                "too_few_clusters",
                f"There are {len(ids)} clusters for {len(shares)} arms: at least {MIN_CLUSTERS_PER_ARM * len(shares)} "
                "are needed to randomise whole clusters.",
                "Use smaller clusters (or none, to randomise units), or fewer arms.",
            )
        level = [_per_cluster(s, codes, len(ids)) for s in strata]
    groups, labels = _strata(request, level, len(ids), notes)
    _check_strata_sizes(groups, labels, len(shares), cluster_text is not None)
    covariates = _covariates(request, frame, notes)
    x_rows = np.column_stack([numeric(frame[c], c, "balance covariate") for c in covariates]) if covariates else (
        np.empty((len(frame), 0))
    )  # fmt: skip
    x_randomised = x_rows
    if cluster_text is not None and covariates:  # the clusters' means (pandas' mean skips missing values)
        x_randomised = pd.DataFrame(x_rows).groupby(row_to_randomised).mean().to_numpy(dtype=np.float64)
    complete: NDArray[np.bool_] = (
        np.asarray(~np.isnan(x_randomised).any(axis=1), dtype=bool) if covariates else np.ones(len(ids), dtype=bool)
    )
    return Units(
        method=method,
        shares=shares,
        unit_ids=unit_text.tolist(),
        cluster_ids=cluster_text.tolist() if cluster_text is not None else None,
        ids=ids,
        row_to_randomised=row_to_randomised,
        groups=groups,
        stratum_labels=labels,
        covariates=covariates,
        x_rows=x_rows,
        x_randomised=x_randomised[complete] if covariates else np.empty((int(complete.sum()), 0)),
        complete=complete,
        notes=notes,
    )


def _shares(request: AssignRequest) -> list[float]:
    arms = request.arms
    if len(set(arms)) != len(arms):
        twice = sorted({a for a in arms if arms.count(a) > 1})
        raise ToolError(
            "duplicate_arms",
            f"Arm label(s) {', '.join(repr(a) for a in twice)} appear more than once.",
            "Give each arm once, with a distinct label.",
        )
    if request.shares is None:
        return [1.0 / len(arms)] * len(arms)
    shares = list(request.shares)
    if len(shares) != len(arms) or any(s <= 0 for s in shares) or abs(sum(shares) - 1) > 1e-6:
        raise ToolError(
            "bad_shares",
            f"shares must give one positive share per arm ({len(arms)}) summing to 1; got {shares}.",
            "Give e.g. [0.5, 0.5] for two arms, or null for equal shares.",
        )
    return shares


def _method(request: AssignRequest) -> AssignMethod:
    implied: AssignMethod = (
        "cluster" if request.cluster_column is not None else "stratified" if request.strata else "complete"
    )
    if request.method is None or request.method == implied:
        return implied
    needs = {
        "stratified": "strata (the columns to block on)",
        "cluster": "cluster_column",
        "complete": "neither strata nor cluster_column",
    }
    raise ToolError(
        "method_mismatch",
        f"method '{request.method}' needs {needs[request.method]}, but the request implies '{implied}'.",
        "Set method to null (it follows from strata and cluster_column), or give the columns that method needs.",
    )


def _check_duplicates(unit: pd.Series, cluster: pd.Series | None) -> None:
    repeated = unit[unit.duplicated(keep=False)]
    if repeated.empty:
        return
    if cluster is not None:
        spread = cluster[repeated.index].groupby(repeated).nunique()
        two = spread[spread > 1]
        if not two.empty:
            names = ", ".join(f"'{display_name(str(u), 30)}'" for u in two.index[:5])
            raise ToolError(
                "unit_in_two_clusters",
                f"{len(two):,} unit(s) belong to more than one cluster, e.g. {names}.",
                "Give each unit one cluster (the cluster it is randomised with), one row per unit.",
            )
    examples = ", ".join(f"'{display_name(str(u), 30)}'" for u in repeated.unique()[:5])
    raise ToolError(
        "duplicate_units",
        f"{repeated.nunique():,} unit id(s) appear on more than one row, e.g. {examples}.",
        "Give the unit list one row per unit (deduplicate it, or aggregate rows per unit first).",
    )


def _per_cluster(series: pd.Series, codes: NDArray[np.int64], k: int) -> pd.Series:
    """A stratum column at the cluster level: it must be one value per cluster."""
    spread = series.groupby(codes, dropna=False).nunique(dropna=False)
    if (spread > 1).any():
        raise ToolError(
            "strata_vary_within_cluster",
            f"The stratum column '{display_name(str(series.name))}' takes several values inside "
            f"{int((spread > 1).sum())} cluster(s): whole clusters are randomised, so a stratum must be a property "
            "of the cluster.",
            "Stratify on a cluster-level column (e.g. the cluster's region or size band), or drop it from strata.",
        )
    first = series.groupby(codes, dropna=False).first()
    result: pd.Series = first.reindex(range(k))
    result.name = series.name
    return result


def _strata(
    request: AssignRequest, columns: list[pd.Series], n: int, notes: list[str]
) -> tuple[NDArray[np.int64], list[str]]:
    """Each randomised unit's stratum code and the strata's labels (``col=value``, numeric columns with more than
    ``strata_bins`` values cut at their quantiles, ``col=missing`` for a missing value)."""
    if not columns:
        return np.zeros(n, dtype=np.int64), ["all units"]
    parts = []
    for series in columns:
        name = display_name(str(series.name), 30)
        values = series
        if pd.api.types.is_numeric_dtype(series.dtype) and series.nunique() > request.strata_bins:
            binned = pd.qcut(series, q=request.strata_bins, duplicates="drop")
            text = binned.map(lambda b, n=name: f"{n} in ({b.left:.4g}, {b.right:.4g}]").astype(object)
            notes.append(
                f"'{name}' is numeric with {series.nunique()} values: cut into {binned.cat.categories.size} quantile "
                "bins for stratification."
            )
        else:
            text = values.map(lambda v, n=name: f"{n}={value_label(v)}").astype(object)
        if series.isna().any():
            notes.append(f"{int(series.isna().sum()):,} missing value(s) of '{name}' form a stratum of their own.")
            text = text.where(series.notna(), f"{name}=missing")
        parts.append(text.astype(str))
    label = parts[0]
    for part in parts[1:]:
        label = label + " | " + part
    codes, uniques = pd.factorize(label, sort=True)
    return codes.astype(np.int64), [str(u) for u in uniques]


def _check_strata_sizes(groups: NDArray[np.int64], labels: list[str], n_arms: int, clusters: bool) -> None:
    sizes = np.bincount(groups, minlength=len(labels))
    small = [(labels[i], int(sizes[i])) for i in np.argsort(sizes, kind="stable") if sizes[i] < n_arms]
    if small:
        what = "clusters" if clusters else "units"
        listed = "; ".join(f"'{display_name(s, 60)}' ({n} {what})" for s, n in small[:5])
        raise ToolError(
            "small_stratum",
            f"{len(small)} stratum/strata have fewer {what} than the {n_arms} arms: {listed}.",
            "Merge small strata (group rare values together), use fewer quantile bins (strata_bins), or stratify on "
            "fewer columns.",
        )


def _covariates(request: AssignRequest, frame: pd.DataFrame, notes: list[str]) -> list[str]:
    if request.balance_covariates is not None:
        for name in request.balance_covariates:
            numeric(column(frame, name, "balance covariate"), name, "balance covariate")
        chosen = list(dict.fromkeys(request.balance_covariates))
    else:
        taken = {request.unit_column, request.cluster_column, *(request.strata or [])}
        candidates = [
            str(c)
            for c in frame.columns
            if c not in taken
            and not _ID_NAME.search(str(c))
            and (pd.api.types.is_numeric_dtype(frame[c].dtype) and not pd.api.types.is_bool_dtype(frame[c].dtype))
            and not (pd.api.types.is_integer_dtype(frame[c].dtype) and frame[c].is_unique and len(frame) > 20)
        ]
        chosen = candidates[:BALANCE_CAP]
        if len(candidates) > BALANCE_CAP:
            notes.append(
                f"The balance check takes the first {BALANCE_CAP} of {len(candidates)} numeric columns; name others "
                "in balance_covariates."
            )
    kept = []
    for name in chosen:
        values = numeric(frame[name], name, "balance covariate")
        present = values[~np.isnan(values)]
        if len(present) < 2 or np.ptp(present) == 0:
            notes.append(f"'{display_name(name)}' is constant (or missing): left out of the balance check.")
        else:
            kept.append(name)
    return kept
