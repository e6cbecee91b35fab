"""ab_test pushed down: the moments per arm computed inside the engine, O(arms x metrics) numbers back.

For each metric one query: rows with an arm (and a unit, with ``cluster_column``) and the metric's columns present;
with ``cluster_column`` the rows are first summed per unit (``GROUP BY unit``, units seen in more than one arm left
out, as the in-memory path does); then per arm COUNT, AVG, VAR_POP and COVAR_POP of the value, the ratio's
denominator (or the row count per unit) and the CUPED covariate. Centred sums are ``VAR_POP * n`` and
``COVAR_POP * n``: the engines compute them with updating (Welford-type) algorithms, so no raw sum of squares is
differenced. The checks the in-memory path makes on values (0/1 for a binary metric, no negative denominator, the
largest unit's share of a total) are aggregates too. The result is the :class:`~tools.ab_test.inputs.Prepared` the
in-memory path builds, and the statistics that follow are the same code.
"""

from __future__ import annotations

from typing import Any

from tools.ab_test.inputs import MetricData, Prepared, choose_control, label_text
from tools.ab_test.models import AbTestRequest, MetricSpec
from tools.ab_test.stats import Moments
from tools.data.names import display_name
from tools.engine.table import EngineTable
from tools.errors import ToolError

__all__ = ["prepare_engine"]


def prepare_engine(request: AbTestRequest, table: EngineTable) -> Prepared:
    """The request's arms, SRM counts and per-metric moments, computed in ``table``'s engine."""
    _refuse_unsupported(request)
    assert request.arm_column is not None
    table.require(request.arm_column, "arm")
    if request.cluster_column is not None:
        table.require(request.cluster_column, "cluster")
    arm = table.quote(request.arm_column)
    base = f"SELECT * FROM {table.relation} WHERE {arm} IS NOT NULL"
    notes: list[str] = []
    crossover = 0
    if request.cluster_column is not None:
        unit = table.quote(request.cluster_column)
        missing = table.execute(f"SELECT COUNT(*) FROM ({base}) AS r WHERE {unit} IS NULL")[0][0]
        if missing:
            notes.append(f"{int(missing):,} row(s) with no '{request.cluster_column}' were left out.")
        single = (
            f"SELECT {unit} FROM ({base}) AS r WHERE {unit} IS NOT NULL GROUP BY {unit} "
            f"HAVING COUNT(DISTINCT {arm}) = 1"
        )
        crossed_units = (
            f"SELECT {unit} FROM ({base}) AS r WHERE {unit} IS NOT NULL GROUP BY {unit} "
            f"HAVING COUNT(DISTINCT {arm}) > 1"
        )
        crossed, crossed_rows = table.execute(
            f"SELECT COUNT(DISTINCT {unit}), COUNT(*) FROM ({base}) AS r WHERE {unit} IN ({crossed_units})"
        )[0]
        crossover = int(crossed)
        if crossover:
            notes.append(
                f"{crossover:,} '{request.cluster_column}' unit(s) appear in more than one arm; their "
                f"{int(crossed_rows):,} row(s) were left out."
            )
        base = f"SELECT * FROM ({base}) AS r WHERE {unit} IN ({single})"
        counted = table.execute(f"SELECT {arm}, COUNT(DISTINCT {unit}) FROM ({base}) AS r GROUP BY {arm}")
    else:
        counted = table.execute(f"SELECT {arm}, COUNT(*) FROM ({base}) AS r GROUP BY {arm}")
    units_by_label = {label_text(value): int(count) for value, count in counted}
    arms = choose_control(sorted(units_by_label), request.control)  # control first, then by label, as in memory
    metrics = [_metric(request, table, spec, base, arms, notes) for spec in request.metrics]
    return Prepared(
        arms=arms,
        units=[units_by_label[a] for a in arms],
        metrics=metrics,
        source="rows",
        notes=notes,
        unit_label=f"'{display_name(request.cluster_column)}' units" if request.cluster_column else "units",
        crossover_units=crossover,
    )


def _refuse_unsupported(request: AbTestRequest) -> None:
    for name, value in (
        ("winsorize", request.winsorize),
        ("exposure_column", request.exposure_column),
        ("exposure_time_column", getattr(request, "exposure_time_column", None)),
    ):
        if value is not None:
            raise ToolError(
                "not_in_engine",
                f"ab_test's {name} does not run inside the engine yet.",
                "Run without it on the engine table, or attach an extract of the table as a file.",
            )


def _metric(
    request: AbTestRequest,
    table: EngineTable,
    spec: MetricSpec,
    base: str,
    arms: list[str],
    notes: list[str],
) -> MetricData:
    name = spec.column or spec.name
    table.require(name, f"metric '{spec.name}'")
    if not table.is_numeric(name):
        raise ToolError(
            "non_numeric_metric",
            f"The metric column '{display_name(name)}' is not numeric ({table.schema()[name]} in the engine).",
            "Cast it to a number in the table (or a view), or pick another column.",
        )
    clustered = request.cluster_column is not None
    y = table.quote(name)
    d = None
    if spec.kind == "ratio":
        if spec.denominator_column is None:
            raise ToolError(
                "missing_denominator",
                f"Ratio metric '{display_name(spec.name)}' needs denominator_column.",
                "Name the column summed in the denominator (e.g. sessions), or use kind='continuous'.",
            )
        table.require(spec.denominator_column, "denominator")
        d = table.quote(spec.denominator_column)
    x = None
    if spec.covariate_column is not None:
        if spec.kind == "ratio" or clustered:
            raise ToolError(
                "unsupported_combination",
                "CUPED on a ratio metric or with cluster_column is not supported yet.",
                "Drop covariate_column for this metric, or aggregate the data to one row per unit first.",
            )
        table.require(spec.covariate_column, "covariate")
        x = table.quote(spec.covariate_column)
    present = " AND ".join(f"{c} IS NOT NULL" for c in (y, d, x) if c is not None)
    rows = f"SELECT * FROM ({base}) AS r WHERE {present}"
    _check_values(table, spec, rows, y, d)
    excluded = int(table.execute(f"SELECT COUNT(*) FROM ({base}) AS r WHERE NOT ({present})")[0][0])
    if excluded:
        notes.append(f"Metric '{spec.name}': {excluded:,} row(s) with missing values were left out.")
    arm = table.quote(request.arm_column or "")
    if clustered:
        unit = table.quote(request.cluster_column or "")
        denominator = f"SUM(CAST({d} AS DOUBLE))" if d is not None else "COUNT(*)"
        source = (
            f"SELECT MIN({arm}) AS a, SUM(CAST({y} AS DOUBLE)) AS y, CAST({denominator} AS DOUBLE) AS d "
            f"FROM ({rows}) AS r GROUP BY {unit}"
        )
        d_col: str | None = "d"
        x_col: str | None = None
        ratio = True
    else:
        source = (
            f"SELECT {arm} AS a, CAST({y} AS DOUBLE) AS y"
            + (f", CAST({d} AS DOUBLE) AS d" if d is not None else "")
            + (f", CAST({x} AS DOUBLE) AS x" if x is not None else "")
            + f" FROM ({rows}) AS r"
        )
        d_col = "d" if d is not None else None
        x_col = "x" if x is not None else None
        ratio = spec.kind == "ratio"
    y_col = "y"
    parts = ["COUNT(*)", f"AVG({y_col})", f"VAR_POP({y_col})"]
    if d_col is not None:
        parts += [f"AVG({d_col})", f"VAR_POP({d_col})", f"COVAR_POP({y_col}, {d_col})"]
    if x_col is not None:
        parts += [f"AVG({x_col})", f"VAR_POP({x_col})", f"COVAR_POP({x_col}, {y_col})"]
    if spec.kind == "continuous" and not clustered:
        parts += [f"MAX(ABS({y_col}))", f"SUM(ABS({y_col}))"]
    fetched = table.execute(f"SELECT a, {', '.join(parts)} FROM ({source}) AS s GROUP BY a")
    by_label = {label_text(row[0]): row[1:] for row in fetched}
    moments = [_moments(by_label.get(a), d_col is not None, x_col is not None) for a in arms]
    data = MetricData(spec=spec, moments=moments, ratio=ratio)
    data.excluded_rows = excluded
    if spec.kind == "continuous" and not clustered:
        largest = max((float(r[-2] or 0.0) for r in fetched), default=0.0)
        total = sum(float(r[-1] or 0.0) for r in fetched)
        data.largest_unit_share = largest / total if total > 0 else None
    return data


def _moments(row: tuple[Any, ...] | None, with_d: bool, with_x: bool) -> Moments:
    if row is None:
        return Moments(n=0, mean_y=0.0, m2_y=0.0)
    n = int(row[0])
    values = [float(v) if v is not None else 0.0 for v in row[1:]]
    mean_y, var_y = values[0], values[1]
    moments: dict[str, Any] = {"n": n, "mean_y": mean_y, "m2_y": var_y * n}
    at = 2
    if with_d:
        mean_d, var_d, cov_yd = values[at : at + 3]
        moments.update(mean_d=mean_d, m2_d=var_d * n, c_yd=cov_yd * n)
        at += 3
    if with_x:
        mean_x, var_x, cov_xy = values[at : at + 3]
        moments.update(mean_x=mean_x, m2_x=var_x * n, c_xy=cov_xy * n)
    return Moments(**moments)


def _check_values(table: EngineTable, spec: MetricSpec, rows: str, y: str, d: str | None) -> None:
    """The refusals the in-memory path makes on values, as aggregates."""
    if spec.kind == "binary":
        bad = table.execute(
            f"SELECT DISTINCT CAST({y} AS DOUBLE) AS v FROM ({rows}) AS r WHERE {y} NOT IN (0, 1) ORDER BY v LIMIT 6"
        )
        if bad:
            shown = ", ".join(f"{float(v[0]):g}" for v in bad[:5]) + (" …" if len(bad) > 5 else "")
            raise ToolError(
                "not_binary",
                f"Metric '{display_name(spec.name)}' is binary but column '{display_name(spec.column or spec.name)}' "
                f"holds {shown}.",
                "A binary metric is 0/1 per unit; use kind='continuous' for counts or amounts.",
            )
    if d is not None:
        negative = table.execute(f"SELECT COUNT(*) FROM ({rows}) AS r WHERE {d} < 0")[0][0]
        if negative:
            raise ToolError(
                "negative_denominator",
                f"The denominator column '{display_name(spec.denominator_column or '')}' has negative values.",
                "A ratio's denominator counts something (sessions, orders): it cannot be negative.",
            )
