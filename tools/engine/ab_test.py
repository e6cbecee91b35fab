"""ab_test pushed down: the moments per arm computed inside the engine in one query, O(arms x metrics) numbers back.

Rows without an arm are left out. Without ``cluster_column`` one scan groups the rows by arm; with it, a first
grouping sums each unit's rows (its arms counted, so units seen in more than one arm and rows without a unit are
left out and counted, as the in-memory path does) and a second groups the units by arm. Each metric's rows are those
where its columns are present (its value, a ratio's denominator, the CUPED covariate): per arm COUNT, AVG, VAR_POP
and COVAR_POP of the value, the denominator (or the row count per unit) and the covariate. Centred sums are
``VAR_POP * n`` and ``COVAR_POP * n``, which the engines compute with updating (Welford-type) algorithms, so no raw
sum of squares is differenced. The checks the in-memory path makes on values — 0/1 for a binary metric, no negative
denominator, the largest row's share of a total — are sums in the same query. The result is the
:class:`~tools.ab_test.inputs.Prepared` the in-memory path builds; the statistics that follow are the same code.
Only ANSI SQL: CASE inside aggregates (no FILTER clause), CAST to DOUBLE, quoted identifiers from the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tools.ab_test.inputs import MetricData, Prepared, choose_control, label_text
from tools.ab_test.metric_columns import missing_denominator, negative_denominator, not_binary, unsupported_cuped
from tools.ab_test.models import AbTestRequest, MetricSpec
from tools.ab_test.stats import Moments
from tools.data.names import display_name
from tools.engine.table import EngineTable
from tools.errors import ToolError

__all__ = ["EngineMetric", "check_values", "engine_metric", "prepare_engine"]


@dataclass(frozen=True)
class EngineMetric:
    """One metric's quoted columns (None when not used) and its presence condition."""

    spec: MetricSpec
    y: str
    d: str | None
    x: str | None

    @property
    def valid(self) -> str:
        return " AND ".join(f"{c} IS NOT NULL" for c in (self.y, self.d, self.x) if c is not None)

    def when(self, expression: str) -> str:
        """``expression`` on the metric's rows, NULL elsewhere (aggregates skip it)."""
        return f"CASE WHEN {self.valid} THEN {expression} END"


def prepare_engine(request: AbTestRequest, table: EngineTable) -> Prepared:
    """The request's arms, SRM counts and per-metric moments, computed in ``table``'s engine."""
    _refuse_unsupported(request)
    assert request.arm_column is not None
    table.require(request.arm_column, "arm")
    if request.cluster_column is not None:
        table.require(request.cluster_column, "cluster")
    metrics = [engine_metric(table, spec, clustered=request.cluster_column is not None) for spec in request.metrics]
    if request.cluster_column is not None:
        return _clustered(request, table, metrics)
    return _rows(request, table, metrics)


# -- one row per unit --------------------------------------------------------------------------------------------


def _rows(request: AbTestRequest, table: EngineTable, metrics: list[EngineMetric]) -> Prepared:
    arm = table.quote(request.arm_column or "")
    parts = ["COUNT(*)"]
    for m in metrics:
        y = f"CAST({m.y} AS DOUBLE)"
        parts += [f"COUNT({m.when('1')})", f"AVG({m.when(y)})", f"VAR_POP({m.when(y)})"]
        if m.d is not None:
            d = f"CAST({m.d} AS DOUBLE)"
            parts += [f"AVG({m.when(d)})", f"VAR_POP({m.when(d)})", f"COVAR_POP({m.when(y)}, {m.when(d)})"]
        if m.x is not None:
            x = f"CAST({m.x} AS DOUBLE)"
            parts += [f"AVG({m.when(x)})", f"VAR_POP({m.when(x)})", f"COVAR_POP({m.when(x)}, {m.when(y)})"]
        parts += _value_checks(m, f"ABS({y})")
    fetched = table.execute(
        f"SELECT {arm}, {', '.join(parts)} FROM {table.relation} WHERE {arm} IS NOT NULL GROUP BY {arm}"
    )
    by_label = {label_text(row[0]): list(row[1:]) for row in fetched}
    arms = choose_control(sorted(by_label), request.control)  # control first, then by label, as in memory
    rows = {a: int(by_label[a][0]) for a in arms}
    notes: list[str] = []
    data = _metric_data(table, request, metrics, arms, {a: by_label[a][1:] for a in arms}, rows, notes, False)
    return Prepared(arms=arms, units=[rows[a] for a in arms], metrics=data, source="rows", notes=notes)


# -- rows summed per unit ----------------------------------------------------------------------------------------


def _clustered(request: AbTestRequest, table: EngineTable, metrics: list[EngineMetric]) -> Prepared:
    arm, unit = table.quote(request.arm_column or ""), table.quote(request.cluster_column or "")
    # k: 1 when the unit's rows are all in one arm (MIN = MAX is far cheaper than COUNT(DISTINCT) per unit)
    inner = [
        f"{unit} AS u",
        f"MIN({arm}) AS a",
        f"CASE WHEN MIN({arm}) = MAX({arm}) THEN 1 ELSE 2 END AS k",
        "COUNT(*) AS n_rows",
    ]
    outer = ["COUNT(*)", "SUM(n_rows)"]
    for i, m in enumerate(metrics):
        y = f"CAST({m.y} AS DOUBLE)"
        d = f"CAST({m.d} AS DOUBLE)" if m.d is not None else None
        inner += [f"COUNT({m.when('1')}) AS c{i}", f"SUM({m.when(y)}) AS y{i}"]
        inner += [f"SUM({m.when(d)}) AS d{i}" if d is not None else f"CAST(COUNT({m.when('1')}) AS DOUBLE) AS d{i}"]
        inner += [f"{check} AS v{i}_{j}" for j, check in enumerate(_value_checks(m, f"ABS({y})"))]
        on = f"CASE WHEN c{i} > 0 THEN {{}} END"
        outer += [
            f"COUNT({on.format('1')})",
            f"AVG({on.format(f'y{i}')})",
            f"VAR_POP({on.format(f'y{i}')})",
            f"AVG({on.format(f'd{i}')})",
            f"VAR_POP({on.format(f'd{i}')})",
            f"COVAR_POP({on.format(f'y{i}')}, {on.format(f'd{i}')})",
        ]
        outer += [_combine(j, f"v{i}_{j}") for j in range(len(_value_checks(m, "0")))]
        outer += [f"SUM(n_rows - c{i})"]
    status = "CASE WHEN u IS NULL THEN 'missing' WHEN k > 1 THEN 'crossed' ELSE 'kept' END"
    fetched = table.execute(
        f"SELECT {status} AS status, CASE WHEN u IS NOT NULL AND k = 1 THEN a END AS arm_value, {', '.join(outer)} "
        f"FROM (SELECT {', '.join(inner)} FROM {table.relation} WHERE {arm} IS NOT NULL GROUP BY {unit}) AS units "
        f"GROUP BY {status}, CASE WHEN u IS NOT NULL AND k = 1 THEN a END"
    )
    notes: list[str] = []
    crossover = 0
    kept: dict[str, list[Any]] = {}
    for row in fetched:
        state, value, count, n_rows = row[0], row[1], int(row[2]), int(row[3] or 0)
        if state == "missing":
            notes.append(f"{n_rows:,} row(s) with no '{request.cluster_column}' were left out.")
        elif state == "crossed":
            crossover = count
            notes.append(
                f"{count:,} '{request.cluster_column}' unit(s) appear in more than one arm; their {n_rows:,} "
                "row(s) were left out."
            )
        else:
            kept[label_text(value)] = list(row[2:])
    arms = choose_control(sorted(kept), request.control)
    units = {a: int(kept[a][0]) for a in arms}
    data = _metric_data(table, request, metrics, arms, {a: kept[a][2:] for a in arms}, units, notes, True)
    return Prepared(
        arms=arms,
        units=[units[a] for a in arms],
        metrics=data,
        source="rows",
        notes=notes,
        unit_label=f"'{display_name(request.cluster_column or '')}' units",
        crossover_units=crossover,
    )


def _combine(j: int, column: str) -> str:
    """Per-unit check values combined over units: counts summed, the largest row's size the maximum."""
    return f"MAX({column})" if j == 2 else f"SUM({column})"


# -- per metric --------------------------------------------------------------------------------------------------


def _value_checks(m: EngineMetric, size: str) -> list[str]:
    """Aggregates of the metric's rows that the in-memory path checks: values that are not 0/1 (binary), negative
    denominators (ratio), and for a continuous metric the largest row's size and the sum of sizes."""
    if m.spec.kind == "binary":
        return [f"SUM(CASE WHEN {m.valid} AND CAST({m.y} AS DOUBLE) NOT IN (0, 1) THEN 1 ELSE 0 END)"]
    if m.spec.kind == "ratio":
        return [f"SUM(CASE WHEN {m.valid} AND {m.d} < 0 THEN 1 ELSE 0 END)"]
    return [f"SUM({m.when(size)})", "0", f"MAX({m.when(size)})"]


def _metric_data(
    table: EngineTable,
    request: AbTestRequest,
    metrics: list[EngineMetric],
    arms: list[str],
    values: dict[str, list[Any]],
    units: dict[str, int],
    notes: list[str],
    clustered: bool,
) -> list[MetricData]:
    """The per-arm values, metric by metric (their layout as the query wrote them), as ab_test's MetricData."""
    found: list[MetricData] = []
    at = 0
    for m in metrics:
        with_d = clustered or m.d is not None
        with_x = not clustered and m.x is not None
        width = 3 + (3 if with_d else 0) + (3 if with_x else 0)
        checks = len(_value_checks(m, "0"))
        moments = {a: values[a][at : at + width] for a in arms}
        check = [[values[a][at + width + j] for a in arms] for j in range(checks)]
        excluded = 0
        if clustered:
            excluded = sum(int(values[a][at + width + checks] or 0) for a in arms)
            at += width + checks + 1
        else:
            excluded = sum(units[a] - int(values[a][at] or 0) for a in arms)
            at += width + checks
        _refuse_values(table, m, check, f"{table.quote(request.arm_column or '')} IS NOT NULL")
        data = MetricData(
            spec=m.spec,
            moments=[_moments(moments[a], with_d, with_x) for a in arms],
            ratio=clustered or m.spec.kind == "ratio",
        )
        data.excluded_rows = excluded
        if excluded:
            notes.append(f"Metric '{m.spec.name}': {excluded:,} row(s) with missing values were left out.")
        if m.spec.kind == "continuous":
            total = sum(float(v or 0.0) for v in check[0])
            largest = max((float(v or 0.0) for v in check[2]), default=0.0)
            data.largest_unit_share = largest / total if total > 0 else None
        found.append(data)
    return found


def _moments(row: list[Any], with_d: bool, with_x: bool) -> Moments:
    n = int(row[0] or 0)
    values = [float(v) if v is not None else 0.0 for v in row[1:]]
    moments: dict[str, Any] = {"n": n, "mean_y": values[0], "m2_y": values[1] * n}
    if with_d:
        moments.update(mean_d=values[2], m2_d=values[3] * n, c_yd=values[4] * n)
    if with_x:
        moments.update(mean_x=values[2], m2_x=values[3] * n, c_xy=values[4] * n)
    return Moments(**moments)


def check_values(table: EngineTable, m: EngineMetric, where: str = "TRUE") -> None:
    """The in-memory path's refusals of the metric's values on the rows ``where`` selects, in one query (for a
    caller whose own query does not carry :func:`_value_checks`)."""
    found = table.execute(f"SELECT {', '.join(_value_checks(m, '0'))} FROM {table.relation} WHERE {where}")[0]
    _refuse_values(table, m, [[v] for v in found], where)


def _refuse_values(table: EngineTable, m: EngineMetric, check: list[list[Any]], where: str) -> None:
    """The in-memory path's refusals of values, from the check sums (the bad values listed by a second query)."""
    if m.spec.kind == "binary" and _total(check[0]) > 0:
        bad = table.execute(
            f"SELECT DISTINCT CAST({m.y} AS DOUBLE) AS v FROM {table.relation} WHERE {where} AND "
            f"{m.valid} AND CAST({m.y} AS DOUBLE) NOT IN (0, 1) ORDER BY v LIMIT 6"
        )
        raise not_binary(m.spec, [float(v[0]) for v in bad])
    if m.spec.kind == "ratio" and _total(check[0]) > 0:
        raise negative_denominator(m.spec)


def engine_metric(table: EngineTable, spec: MetricSpec, *, clustered: bool) -> EngineMetric:
    """The metric's quoted columns, checked against the table's schema with the in-memory path's codes and words
    (``clustered``: rows summed per unit, where CUPED is refused)."""
    name = spec.column or spec.name
    table.require(name, f"metric '{spec.name}'")
    if not table.is_numeric(name):
        raise ToolError(
            "non_numeric_metric",
            f"The metric column '{display_name(name)}' is not numeric ({table.schema()[name]} in the engine).",
            "Cast it to a number in the table (or a view), or pick another column.",
        )
    d = None
    if spec.kind == "ratio":
        if spec.denominator_column is None:
            raise missing_denominator(spec)
        table.require(spec.denominator_column, "denominator")
        d = table.quote(spec.denominator_column)
    x = None
    if spec.covariate_column is not None:
        if spec.kind == "ratio" or clustered:
            raise unsupported_cuped(spec)
        table.require(spec.covariate_column, "covariate")
        x = table.quote(spec.covariate_column)
    return EngineMetric(spec, table.quote(name), d, x)


def _refuse_unsupported(request: AbTestRequest) -> None:
    for name, value in (
        ("winsorize", request.winsorize),
        ("exposure_column", request.exposure_column),
        ("exposure_time_column", request.exposure_time_column),
    ):
        if value is not None:
            raise ToolError(
                "not_in_engine",
                f"ab_test's {name} does not run inside the engine yet.",
                "Run without it on the engine table, or attach an extract of the table as a file.",
            )


def _total(values: list[Any]) -> int:
    """The sum of a check's counts over arms (NULL counts as 0)."""
    return sum(int(v) for v in values if v is not None)
