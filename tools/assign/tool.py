"""assign: design-time randomisation of an attached unit list, reproducible from a salt.

Complete, stratified (blocked) or cluster randomisation with exact counts per arm in every stratum (see
:mod:`tools.assign.draw` for the hash rule), a balance table (means per arm and standardised mean differences) and
the Mahalanobis omnibus imbalance with its chi-square p-value; with ``rerandomize_acceptance`` p_a, draws are redrawn
(salts ``salt#2``, ``salt#3``, ...) until the imbalance is at most the chi-square p_a-quantile (Morgan & Rubin 2012).

The full assignment is not in the result (the model never reads rows): :func:`assignment_frame` and
:func:`assignments_csv` give it to the command line and the app, which write the file; the result carries the counts,
the first rows and the SHA-256 digest of that CSV, which the plan entry records.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from tools.assign.draw import allocate, draw_salt, mahalanobis, variance_reduction
from tools.assign.models import ArmCount, AssignedUnit, AssignRequest, AssignResult, BalanceRow, StratumCount
from tools.assign.report import checks, plan, summary, warnings
from tools.assign.units import Units, read_units
from tools.errors import ToolError

__all__ = ["MAX_HASHES", "PREVIEW_ROWS", "STRATA_ROWS", "assign", "assignment_frame", "assignments_csv"]

#: Units shown in the result (the rest: the CSV).
PREVIEW_ROWS = 20
#: Strata listed in the result (the largest).
STRATA_ROWS = 50
#: The most unit hashes a rerandomisation may take (draws x randomised units: about 20 s on one core).
MAX_HASHES = 20_000_000


@dataclass(frozen=True)
class Drawn:
    """An accepted draw: the arm per randomised unit, the per-row arms, and the imbalance."""

    units: Units
    arms: NDArray[np.int64]  # per randomised unit
    row_arms: NDArray[np.int64]  # per row (sorted by unit id)
    draw: int
    draw_salt: str
    distance: float | None
    df: int | None
    threshold: float | None


def assign(request: AssignRequest, data: pd.DataFrame | None) -> AssignResult:
    """Assign every unit of ``data`` to an arm and report the balance, the counts and the plan entry."""
    drawn = _draw(request, data)
    units = drawn.units
    table = _table(request, drawn)
    csv = _csv(table)
    digest = hashlib.sha256(csv.encode()).hexdigest()
    n_arms = len(request.arms)
    n_units = len(units.unit_ids)
    row_counts = np.bincount(drawn.row_arms, minlength=n_arms)
    cluster_counts = np.bincount(drawn.arms, minlength=n_arms) if units.cluster_ids is not None else None
    arm_counts = [
        ArmCount(
            arm=arm,
            target_share=units.shares[a],
            n_units=int(row_counts[a]),
            share=float(row_counts[a] / n_units),
            n_clusters=int(cluster_counts[a]) if cluster_counts is not None else None,
        )
        for a, arm in enumerate(request.arms)
    ]
    strata = _strata_counts(units, drawn, n_arms)
    balance = _balance(request, units, drawn.row_arms)
    p_value = float(stats.chi2.sf(drawn.distance, drawn.df)) if drawn.distance is not None and drawn.df else None
    reduction = variance_reduction(drawn.threshold, drawn.df) if drawn.threshold is not None and drawn.df else None
    entry = plan(request, units, drawn.draw_salt, drawn.threshold, n_units, digest)
    return AssignResult(
        dataset=request.dataset,
        method=units.method,
        arms=list(request.arms),
        shares=units.shares,
        salt=request.salt,
        draw_salt=drawn.draw_salt,
        n_units=n_units,
        n_clusters=len(units.ids) if units.cluster_ids is not None else None,
        n_strata=len(units.stratum_labels),
        arm_counts=arm_counts,
        strata_counts=strata,
        balance=balance,
        mahalanobis=drawn.distance,
        mahalanobis_df=drawn.df,
        p_value=p_value,
        rerandomize_acceptance=request.rerandomize_acceptance,
        threshold=drawn.threshold,
        draws=drawn.draw,
        variance_reduction=reduction,
        assignments=[
            AssignedUnit(unit=r.unit, arm=r.arm, stratum=r.stratum, cluster=r.cluster)
            for r in table.head(PREVIEW_ROWS).itertuples(index=False)
        ],
        assignment_digest=digest,
        plan=entry,
        n_obs=n_units,
        checks=checks(request, units, arm_counts, strata, balance, drawn.distance, drawn.df, p_value, drawn.draw),
        warnings=warnings(request, units, drawn.threshold),
        summary=summary(request, units, arm_counts, balance, drawn.distance, drawn.df, p_value, drawn.draw),
    )


def assignment_frame(request: AssignRequest, data: pd.DataFrame | None) -> pd.DataFrame:
    """The full assignment, one row per unit sorted by unit id: ``unit, arm, stratum, cluster`` (the last two
    empty when not used). The same draw as :func:`assign`; its CSV (:func:`assignments_csv`) has the result's
    ``assignment_digest``."""
    return _table(request, _draw(request, data))


def assignments_csv(request: AssignRequest, data: pd.DataFrame | None) -> str:
    """The full assignment as CSV text (``\\n`` line ends, UTF-8 when written): what the command line and the app
    write to a file the user names."""
    return _csv(assignment_frame(request, data))


# -- the draw -------------------------------------------------------------------------------------------------------


def _draw(request: AssignRequest, data: pd.DataFrame | None) -> Drawn:
    if data is None:
        raise ToolError(
            "no_data",
            "assign needs the unit list: one row per unit, with its id and any strata and covariates.",
            "Attach the list (a CSV or Parquet file) and give its name in `dataset`.",
        )
    units = read_units(request, data)
    n_arms = len(request.arms)
    k = len(units.covariates)
    if request.rerandomize_acceptance is not None and k == 0:
        raise ToolError(
            "no_covariates",
            "Rerandomisation needs at least one numeric covariate to balance, and there is none.",
            "Name numeric columns in balance_covariates, or set rerandomize_acceptance to null.",
        )
    threshold = None
    last = 1 if request.rerandomize_acceptance is None else min(request.max_draws, max(1, MAX_HASHES // len(units.ids)))
    for draw in range(1, last + 1):
        salt = draw_salt(request.salt, draw)
        arms = allocate(units.ids, units.groups, units.stratum_labels, units.shares, salt)
        distance, df = mahalanobis(units.x_randomised, arms[units.complete], n_arms) if k else (0.0, 0)
        if request.rerandomize_acceptance is None:
            break
        if threshold is None:
            threshold = float(stats.chi2.ppf(request.rerandomize_acceptance, df))
        if distance <= threshold:
            break
    else:
        raise ToolError(
            "rerandomization_failed",
            f"None of {last:,} draws had a Mahalanobis imbalance at most {threshold:.4g} (the "
            f"{request.rerandomize_acceptance:g} quantile): stratification or clusters leave too little room.",
            "Raise rerandomize_acceptance, or balance fewer covariates"
            + (" or raise max_draws." if last == request.max_draws else f" (at most {last:,} draws for this list)."),
        )
    return Drawn(
        units=units,
        arms=arms,
        row_arms=arms[units.row_to_randomised],
        draw=draw,
        draw_salt=salt,
        distance=distance if k else None,
        df=df if k else None,
        threshold=threshold,
    )


def _table(request: AssignRequest, drawn: Drawn) -> pd.DataFrame:
    units = drawn.units
    stratified = bool(request.strata)
    return pd.DataFrame(
        {
            "unit": units.unit_ids,
            "arm": [request.arms[a] for a in drawn.row_arms],
            "stratum": [units.stratum_labels[g] for g in units.groups[units.row_to_randomised]]
            if stratified
            else [None] * len(units.unit_ids),
            "cluster": units.cluster_ids if units.cluster_ids is not None else [None] * len(units.unit_ids),
        }
    )


def _csv(table: pd.DataFrame) -> str:
    text: str = table.to_csv(index=False, lineterminator="\n")
    return text


def _strata_counts(units: Units, drawn: Drawn, n_arms: int) -> list[StratumCount]:
    row_groups = units.groups[units.row_to_randomised]
    n_strata = len(units.stratum_labels)
    counts = np.zeros((n_strata, n_arms), dtype=np.int64)
    np.add.at(counts, (row_groups, drawn.row_arms), 1)
    sizes = counts.sum(axis=1)
    largest = np.argsort(-sizes, kind="stable")[:STRATA_ROWS]
    return [
        StratumCount(stratum=units.stratum_labels[g], n_units=int(sizes[g]), counts=[int(c) for c in counts[g]])
        for g in largest
    ]


def _balance(request: AssignRequest, units: Units, row_arms: NDArray[np.int64]) -> list[BalanceRow]:
    rows = []
    for j, name in enumerate(units.covariates):
        x = units.x_rows[:, j]
        present = ~np.isnan(x)
        control = x[present & (row_arms == 0)]
        for a, arm in enumerate(request.arms[1:], start=1):
            treated = x[present & (row_arms == a)]
            if len(control) < 2 or len(treated) < 2:
                continue
            spread = float(np.sqrt((np.var(treated, ddof=1) + np.var(control, ddof=1)) / 2))
            difference = float(treated.mean() - control.mean())
            rows.append(
                BalanceRow(
                    covariate=name,
                    arm=arm,
                    mean=float(treated.mean()),
                    control_mean=float(control.mean()),
                    smd=difference / spread if spread > 0 else 0.0,
                    n_missing=int((~present).sum()),
                )
            )
    return rows
