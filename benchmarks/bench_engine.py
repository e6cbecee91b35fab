"""ab_test pushed down into DuckDB: the scaling table, and the same data loaded into pandas beside it.

    .venv/bin/python benchmarks/bench_engine.py [max_rows]          # default 100,000,000
    .venv/bin/python benchmarks/bench_engine.py --spark [max_rows]  # the same request on local Spark (default 10M)

For 1M, 10M and 100M session rows (users with 10 sessions each; arm by user; revenue with a pre-period covariate for
CUPED, orders over visits as a ratio metric, a binary conversion), generated inside DuckDB in a temporary database
file: the time of `ab_test` through the registry on `duckdb:FILE#sessions` (clustered by user: the rows are summed
per user in the engine) and on the per-user table (no clustering), and this process's peak memory (ru_maxrss) —
flat in the row count when no row crosses into Python. Beside it, for sizes pandas can hold, the time and memory
of reading the same rows into a DataFrame. Goal (issue 24): 100M rows in <= 5 s on this 2-core machine.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from tools.data import Catalog
from tools.registry import dispatch

SIZES = (1_000_000, 10_000_000, 100_000_000)
REQUEST = {
    "arm_column": "arm",
    "metrics": [
        {"name": "converted", "kind": "binary"},
        {"name": "orders", "kind": "ratio", "denominator_column": "visits"},
    ],
}


def generate(path: Path, rows: int) -> None:
    users = rows // 10
    con = duckdb.connect(str(path))
    con.execute(
        f"""CREATE OR REPLACE TABLE sessions AS
        SELECT i // 10 AS user_id,
               CASE WHEN hash(i // 10) % 2 = 0 THEN 'control' ELSE 'treatment' END AS arm,
               CAST(random() < 0.1 AS INTEGER) AS converted,
               CAST(floor(random() * 3) AS DOUBLE) AS orders,
               1 + CAST(floor(random() * 4) AS INTEGER) AS visits,
               random() * 50 AS revenue
        FROM range({rows}) AS t(i)"""
    )
    con.execute(
        """CREATE OR REPLACE TABLE users AS
        SELECT user_id, MIN(arm) AS arm, SUM(revenue) AS revenue, SUM(revenue) * 0.8 + random() * 20 AS pre_revenue,
               MAX(converted) AS converted, SUM(orders) AS orders, SUM(visits) AS visits
        FROM sessions GROUP BY user_id"""
    )
    con.close()
    assert users > 0


def timed(source: str, request: dict[str, object]) -> float:
    catalog = Catalog()
    catalog.add(source, "exp")
    start = time.perf_counter()
    result = dispatch("ab_test", {"dataset": "exp", **request}, catalog)
    took = time.perf_counter() - start
    assert not hasattr(result, "code"), result
    return took


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(limit: int = SIZES[-1]) -> None:
    print(f"{'rows':>12} {'users':>11} {'sessions, per user (s)':>23} {'users table (s)':>16} {'peak MB':>8}")
    with tempfile.TemporaryDirectory() as folder:
        for rows in (s for s in SIZES if s <= limit):
            path = Path(folder) / f"bench_{rows}.duckdb"
            generate(path, rows)
            clustered = timed(f"duckdb:{path}#sessions", {**REQUEST, "cluster_column": "user_id"})
            per_user = {
                "arm_column": "arm",
                "metrics": [{"name": "revenue", "covariate_column": "pre_revenue"}, *REQUEST["metrics"]],
            }
            flat = timed(f"duckdb:{path}#users", per_user)
            print(f"{rows:>12,} {rows // 10:>11,} {clustered:>23.2f} {flat:>16.2f} {peak_mb():>8,.0f}")
            path.unlink()
        rows = min(limit, 10_000_000)
        path = Path(folder) / "pandas.duckdb"
        generate(path, rows)
        before = peak_mb()
        start = time.perf_counter()
        frame = duckdb.connect(str(path), read_only=True).execute("SELECT * FROM sessions").df()
        took = time.perf_counter() - start
        print(
            f"pandas: reading the same {rows:,} session rows into a DataFrame took {took:.2f} s, "
            f"{len(frame.columns)} columns, peak memory {before:,.0f} -> {peak_mb():,.0f} MB"
        )


def spark(limit: int = 10_000_000) -> None:
    """The clustered request on local Spark, from Parquet files DuckDB writes: the first run (the session and JIT
    warm up), a warm run, and the rows that came back to Python (counted at SparkTable.execute)."""
    from tools.engine.spark import SparkTable, session

    start = time.perf_counter()
    session()
    print(f"local Spark session started in {time.perf_counter() - start:.1f} s")
    returned: list[int] = []
    original = SparkTable.execute

    def counting(self: SparkTable, sql: str, parameters: list[object] | None = None) -> list[tuple[object, ...]]:
        rows = original(self, sql, parameters)
        returned.append(len(rows))
        return rows

    SparkTable.execute = counting  # type: ignore[method-assign]
    print(f"{'rows':>12} {'first run (s)':>14} {'warm run (s)':>13} {'rows to Python (attach incl.)':>30}")
    with tempfile.TemporaryDirectory() as folder:
        for rows in (s for s in SIZES if s <= limit):
            path = Path(folder) / f"bench_{rows}.duckdb"
            generate(path, rows)
            parquet = Path(folder) / f"sessions_{rows}"
            parquet.mkdir()
            con = duckdb.connect(str(path), read_only=True)
            con.execute(f"COPY sessions TO '{parquet}/part.parquet' (FORMAT parquet)")
            con.close()
            request = {**REQUEST, "cluster_column": "user_id"}
            returned.clear()
            first = timed(f"spark:{parquet}/", request)
            back = sum(returned)
            warm = timed(f"spark:{parquet}/", request)
            print(f"{rows:>12,} {first:>14.2f} {warm:>13.2f} {back:>30,}")


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--spark"]
    if "--spark" in sys.argv:
        spark(int(arguments[0]) if arguments else 10_000_000)
    else:
        main(int(arguments[0]) if arguments else SIZES[-1])
