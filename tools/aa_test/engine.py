"""aa_test on a table in an engine: the per-unit sums the re-randomisation needs, computed where the rows are.

A split assigns randomised units, so everything a split's arm moments need is a sum over units of per-unit sums
(:class:`~tools.aa_test.simulate.AnalysedMetric`): the engine groups the rows by unit and only those sums come back,
one row per unit, never a row per session. The units are numbered by their sorted values (``ROW_NUMBER() OVER
(ORDER BY unit)``), as the in-memory path numbers them (``pd.factorize(sort=True)``), so the same seed draws the same
splits and both paths give the same figures. Rows analysed one by one (no unit) have nothing to sum: the caller pulls
their columns instead.

Per metric, rows count when its columns are present (as ab_test reads them). Analysed per row, each unit's sums of
the centred row values and their products (the centres, the means over the metric's rows, bound as parameters);
analysed per unit (``cluster``), each unit's total and its denominator (or row count), whose centred products over
the units present are then formed in numpy exactly as in memory.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from tools.aa_test.simulate import AnalysedMetric, per_unit
from tools.ab_test.models import MetricSpec
from tools.data.names import display_name
from tools.engine.ab_test import check_values, engine_metric
from tools.engine.table import EngineTable
from tools.errors import ToolError

__all__ = ["analysed_in_engine"]

FloatArray = NDArray[np.float64]
Found = list[tuple[AnalysedMetric, int]]


def analysed_in_engine(
    table: EngineTable, metrics: list[MetricSpec], unit: str, *, cluster: bool, fixed: list[MetricSpec]
) -> tuple[int, Found, Found]:
    """(units, each metric as requested, each of ``fixed`` analysed per unit: rows of a repeated unit analysed per
    row are shown beside their analysis per unit)."""
    q = table.quote(unit)
    missing = int(table.execute(f"SELECT COUNT(*) FROM {table.relation} WHERE {q} IS NULL")[0][0])
    if missing:
        raise ToolError(
            "missing_unit",
            f"{missing:,} row(s) have no value in the unit column '{display_name(unit)}'.",
            "Drop those rows, or fill in the unit they belong to.",
        )
    n_groups = int(table.execute(f"SELECT COUNT(DISTINCT {q}) FROM {table.relation}")[0][0])
    codes = (
        f"(SELECT {q} AS unit_value, ROW_NUMBER() OVER (ORDER BY {q}) - 1 AS code "
        f"FROM (SELECT DISTINCT {q} FROM {table.relation}) AS d) AS units"
    )
    as_requested = [_metric(table, spec, q, codes, n_groups, cluster=cluster) for spec in metrics]
    per_unit = [_metric(table, spec, q, codes, n_groups, cluster=True) for spec in fixed]
    return n_groups, as_requested, per_unit


def _metric(
    table: EngineTable, spec: MetricSpec, unit: str, codes: str, n_groups: int, *, cluster: bool
) -> tuple[AnalysedMetric, int]:
    y, d, x = _columns(table, spec, cluster)
    valid = " AND ".join(f"{c} IS NOT NULL" for c in (y, d, x) if c is not None)
    rows = f"SELECT * FROM {table.relation} WHERE {valid}"
    joined = f"FROM ({rows}) AS r JOIN {codes} ON r.{unit} = units.unit_value GROUP BY units.code ORDER BY units.code"
    if cluster:
        denominator = f"SUM(CAST({d} AS DOUBLE))" if d is not None else "CAST(COUNT(*) AS DOUBLE)"
        found = table.arrays(f"SELECT units.code AS code, SUM(CAST({y} AS DOUBLE)) AS y, {denominator} AS d {joined}")
        y_unit, d_unit = np.zeros(n_groups), np.zeros(n_groups)
        present = np.zeros(n_groups, dtype=bool)
        code = np.asarray(found["code"], dtype=np.intp)
        y_unit[code], d_unit[code], present[code] = found["y"], found["d"], True
        return per_unit(spec.kind, y_unit, d_unit, present)
    means = table.execute(
        "SELECT COUNT(*), "
        + ", ".join(f"AVG(CAST({c} AS DOUBLE))" if c is not None else "0" for c in (y, d, x))
        + f" FROM ({rows}) AS r"
    )[0]
    n_rows = int(means[0])
    centres = (
        float(means[1] or 0.0),
        float(means[2] or 0.0) if d is not None else 1.0,
        float(means[3] or 0.0) if x is not None else 0.0,
    )
    cy = _centred(y, centres[0])
    cd = _centred(d, centres[1])
    cx = _centred(x, centres[2])
    terms = [cy, cd, cx, _times(cy, cy), _times(cd, cd), _times(cy, cd), _times(cx, cx), _times(cx, cy), _times(cx, cd)]
    parameters = [p for _, bound in terms for p in bound]
    columns = ", ".join(f"SUM({term}) AS s{i}" for i, (term, _) in enumerate(terms))
    found = table.arrays(f"SELECT units.code AS code, CAST(COUNT(*) AS DOUBLE) AS n, {columns} {joined}", parameters)
    full = np.zeros((n_groups, 10))
    code = np.asarray(found["code"], dtype=np.intp)
    full[code, 0] = found["n"]
    for i in range(9):
        full[code, i + 1] = found[f"s{i}"]
    return AnalysedMetric(spec.kind, spec.kind == "ratio", x is not None, full, centres), n_rows


def _centred(column: str | None, centre: float) -> tuple[str, list[float]]:
    """A column minus its centre (bound as a parameter), or 0 for a column not used; with its parameters."""
    if column is None:
        return "0.0", []
    return f"(CAST({column} AS DOUBLE) - ?)", [centre]


def _times(a: tuple[str, list[float]], b: tuple[str, list[float]]) -> tuple[str, list[float]]:
    return f"{a[0]} * {b[0]}", [*a[1], *b[1]]


def _columns(table: EngineTable, spec: MetricSpec, cluster: bool) -> tuple[str, str | None, str | None]:
    """The metric's quoted columns, refused as ab_test refuses them, and its values checked (0/1, denominators)."""
    metric = engine_metric(table, spec, clustered=cluster)
    check_values(table, metric)
    return metric.y, metric.d, metric.x
