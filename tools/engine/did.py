"""diff_in_diff on a table in an engine: the unit x period panel aggregated where the rows are, then pulled.

Difference-in-differences needs one row per unit and period. A table of events or sessions is grouped by unit and
period inside the engine: the outcome's mean over the unit's rows in the period (and each covariate's), the
treatment (or first-treated cohort) and the cluster, which must not vary within a unit-period. Only the panel comes
back — units x periods rows — and it is refused above :data:`~tools.engine.table.PULL_LIMIT` rows, saying how many
it would pull. A table that is already a panel comes back as it is (the mean of one row is the row), so the estimate
equals the in-memory analysis of the same rows. Row weights over finer rows are not aggregated (refused).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from tools.data.names import display_name
from tools.engine import table as engine_table
from tools.engine.table import EngineTable
from tools.errors import ToolError

__all__ = ["panel_frame"]


def panel_frame(request: Any, table: EngineTable) -> tuple[pd.DataFrame, list[str]]:
    """The diff_in_diff request's panel from ``table``: (frame, notes for the result)."""
    q = table.quote
    for name, role in ((request.unit, "unit"), (request.time, "time"), (request.outcome, "outcome")):
        table.require(name, role)
    constant = [c for c in (request.treatment, request.cohort, request.cluster) if c is not None]
    averaged = [request.outcome, *(request.covariates or [])]
    for name in [*constant, *averaged[1:]]:
        table.require(name, "column")
    keys = f"{q(request.unit)}, {q(request.time)}"
    counted = table.execute(
        f"SELECT COUNT(*), COUNT(DISTINCT ({keys})) FROM {table.relation} "
        f"WHERE {q(request.unit)} IS NOT NULL AND {q(request.time)} IS NOT NULL"
    )[0]
    rows, cells = int(counted[0]), int(counted[1])
    limit = engine_table.PULL_LIMIT
    if cells > limit:
        raise ToolError(
            "table_too_large",
            f"The panel of {table.label} has {cells:,} unit-period rows; diff_in_diff pulls the panel into memory, "
            f"at most {limit:,}.",
            "Aggregate to coarser periods or fewer units (a view in the engine), or filter the table.",
        )
    if rows == cells:  # already a panel: the rows as they are
        names = list(dict.fromkeys([request.unit, request.time, *constant, *averaged, *_weights(request)]))
        frame = table.load_columns(names)
        return frame, [f"The panel ({cells:,} unit-period rows) was read from {table.label}."]
    if getattr(request, "weights", None) is not None:
        raise ToolError(
            "not_in_engine",
            f"{table.label} has several rows per unit and period; row weights are not aggregated in the engine.",
            "Aggregate the table to one row per unit and period with its weight (a view), or drop weights.",
        )
    parts = [f"{q(request.unit)} AS {q(request.unit)}", f"{q(request.time)} AS {q(request.time)}"]
    parts += [f"MIN({q(c)}) AS {q(c)}" for c in constant]
    parts += [f"AVG(CAST({q(c)} AS DOUBLE)) AS {q(c)}" for c in averaged]
    checks = [f"SUM(CASE WHEN MIN({q(c)}) <> MAX({q(c)}) THEN 1 ELSE 0 END) OVER ()" for c in constant]
    select = ", ".join([*parts, *(f"{c} AS varies_{i}" for i, c in enumerate(checks))])
    frame = table.pull(
        f"SELECT {select} FROM {table.relation} WHERE {q(request.unit)} IS NOT NULL AND "
        f"{q(request.time)} IS NOT NULL GROUP BY {keys}",
        rows=cells,
    )
    for i, name in enumerate(constant):
        column = f"varies_{i}"
        if len(frame) and int(frame[column].iloc[0]) > 0:
            raise ToolError(
                "varies_within_period",
                f"'{display_name(name)}' takes more than one value within a unit and period in "
                f"{int(frame[column].iloc[0]):,} unit-period(s) of {table.label}.",
                "It must be constant for a unit in a period (a treatment switched on mid-period: use finer periods).",
            )
    frame = frame.drop(columns=[f"varies_{i}" for i in range(len(constant))])
    note = (
        f"Aggregated inside the engine: {rows:,} rows of {table.label} to {cells:,} unit-period rows (the mean "
        f"outcome{' and covariates' if request.covariates else ''} of each unit's rows in a period)."
    )
    return frame, [note]


def _weights(request: Any) -> list[str]:
    weights = getattr(request, "weights", None)
    return [weights] if weights is not None else []
