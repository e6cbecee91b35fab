"""ab_test inside DuckDB: a table attached as ``duckdb:FILE#TABLE`` (or a Parquet file or folder) is analysed where
it lives — only the moments per arm come back — and gives the in-memory numbers on the same rows to 1e-9: binary,
continuous, CUPED, ratio and guardrail metrics, session rows summed per user with units in two arms left out,
missing values, the SRM check and the repeated-ID warning. Bad input gets the in-memory path's codes; names with
quotes or SQL in them stay names."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from tools.data import Catalog
from tools.engine import PULL_LIMIT, open_table
from tools.errors import ToolError
from tools.registry import dispatch

METRICS: list[dict[str, Any]] = [
    {"name": "revenue", "covariate_column": "pre_revenue"},
    {"name": "converted", "kind": "binary"},
    {"name": "orders", "kind": "ratio", "denominator_column": "visits"},
    {"name": "latency", "role": "guardrail", "direction": "decrease", "non_inferiority_margin": 0.05},
]


def experiment(n: int = 6000, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = rng.choice(["control", "treatment"], n)
    pre = rng.gamma(2, 10, n)
    frame = pd.DataFrame(
        {
            "user_id": [f"u{i:05d}" for i in range(n)],
            "arm": arm,
            "revenue": 0.6 * pre + rng.gamma(2, 6, n) + 0.8 * (arm == "treatment"),
            "pre_revenue": pre,
            "converted": (rng.random(n) < 0.1 + 0.02 * (arm == "treatment")).astype(int),
            "orders": rng.poisson(2, n).astype(float),
            "visits": rng.integers(1, 6, n),
            "latency": rng.normal(300, 40, n),
        }
    )
    frame.loc[[3, 50, n - 7], "revenue"] = np.nan  # missing values are left out and counted, as in memory
    return frame


def sessions(users: int = 1500, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    count = rng.integers(1, 6, users)
    user = np.repeat(np.arange(users), count)
    arm = np.where(rng.random(users) < 0.5, "control", "treatment")[user]
    arm[:3] = "treatment" if arm[0] == "control" else "control"  # a user seen in both arms: left out
    return pd.DataFrame(
        {
            "user_id": [f"u{u}" for u in user],
            "arm": arm,
            "minutes": rng.gamma(2, 8, len(user)),
            "converted": (rng.random(len(user)) < 0.2).astype(int),
        }
    )


def in_duckdb(frame: pd.DataFrame, folder: Path, table: str = "events") -> str:
    path = folder / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    con.register("incoming", frame)
    con.execute(f'CREATE OR REPLACE TABLE "{table.replace(chr(34), chr(34) * 2)}" AS SELECT * FROM incoming')
    con.close()
    return f"duckdb:{path}#{table}"


def both(frame: pd.DataFrame, source: str, request: dict[str, Any], tmp_path: Path) -> tuple[Any, Any]:
    csv = tmp_path / "rows.csv"
    frame.to_csv(csv, index=False)
    memory, engine = Catalog(), Catalog()
    memory.add(csv, "exp")
    engine.add(source, "exp")
    return dispatch("ab_test", {"dataset": "exp", **request}, memory), dispatch(
        "ab_test", {"dataset": "exp", **request}, engine
    )


def same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def assert_same(memory: Any, engine: Any) -> None:
    assert not isinstance(memory, ToolError), memory
    assert not isinstance(engine, ToolError), engine
    assert memory.arms == engine.arms and memory.srm == engine.srm and memory.n_obs == engine.n_obs
    for a, b in zip(memory.comparisons, engine.comparisons, strict=True):
        assert (a.metric, a.arm, a.test, a.verdict) == (b.metric, b.arm, b.test, b.verdict)
        for field in ("estimate", "std_error", "ci_lower", "ci_upper", "p_value"):
            assert same(getattr(a.absolute, field), getattr(b.absolute, field)), (a.metric, field)
        assert same(a.control_mean, b.control_mean) and same(a.treatment_mean, b.treatment_mean)
        assert (a.relative is None) == (b.relative is None)
        if a.relative is not None and b.relative is not None:
            assert same(a.relative.estimate, b.relative.estimate) and same(a.relative.p_value, b.relative.p_value)
        assert same(a.non_inferiority_p_value, b.non_inferiority_p_value)
    assert memory.decision == engine.decision and memory.warnings == engine.warnings


def test_every_metric_kind_equals_the_in_memory_path(tmp_path: Path) -> None:
    frame = experiment()
    memory, engine = both(frame, in_duckdb(frame, tmp_path), {"arm_column": "arm", "metrics": METRICS}, tmp_path)
    assert_same(memory, engine)
    assert engine.comparisons[0].cuped is not None and engine.comparisons[2].test.startswith("z-test on a ratio")


def test_session_rows_summed_per_user_equal_the_in_memory_path(tmp_path: Path) -> None:
    frame = sessions()
    request = {
        "arm_column": "arm",
        "cluster_column": "user_id",
        "metrics": [{"name": "minutes"}, {"name": "converted", "kind": "binary"}],
    }
    memory, engine = both(frame, in_duckdb(frame, tmp_path), request, tmp_path)
    assert_same(memory, engine)
    assert any("more than one arm" in w for w in engine.warnings)


def test_a_parquet_folder_is_scanned_in_place(tmp_path: Path) -> None:
    frame = experiment(3000)
    folder = tmp_path / "exports"
    folder.mkdir()
    frame.iloc[:1500].to_parquet(folder / "part-0.parquet")
    frame.iloc[1500:].to_parquet(folder / "part-1.parquet")
    memory, engine = both(frame, f"duckdb:{folder}/", {"arm_column": "arm", "metrics": METRICS[:2]}, tmp_path)
    assert_same(memory, engine)


def test_repeated_ids_are_counted_in_the_engine(tmp_path: Path) -> None:
    frame = sessions()
    request = {"arm_column": "arm", "metrics": [{"name": "minutes"}]}
    memory, engine = both(frame, in_duckdb(frame, tmp_path), request, tmp_path)
    assert_same(memory, engine)
    assert any("user_id" in w and "repeat" in w for w in engine.warnings)


def bad_input_frame() -> pd.DataFrame:
    """An experiment with a text column, for the refusals."""
    return experiment(500).assign(plan=lambda f: np.where(f["converted"] == 1, "pro", "free"))


def assert_bad_input_codes(source: str) -> None:
    """Each bad request on the engine table ``source`` gets the in-memory path's code, with a message and a hint."""
    catalog = Catalog()
    catalog.add(source, "exp")

    def code(**request: Any) -> str:
        outcome = dispatch("ab_test", {"dataset": "exp", "arm_column": "arm", **request}, catalog)
        assert isinstance(outcome, ToolError), outcome
        assert outcome.message and outcome.hint
        return outcome.code

    assert code(metrics=[{"name": "revenu"}]) == "unknown_column"
    assert code(metrics=[{"name": "plan"}]) == "non_numeric_metric"
    assert code(metrics=[{"name": "orders", "kind": "binary"}]) == "not_binary"
    assert code(metrics=[{"name": "orders", "kind": "ratio"}]) == "missing_denominator"
    assert code(metrics=[{"name": "revenue"}], winsorize=0.99) == "not_in_engine"
    assert code(metrics=[{"name": "revenue"}], cluster_column="user_id", arm_column="nope") == "unknown_column"


def test_bad_input_gets_the_in_memory_codes(tmp_path: Path) -> None:
    assert_bad_input_codes(in_duckdb(bad_input_frame(), tmp_path))


def test_sources_that_do_not_name_a_table_are_refused(tmp_path: Path) -> None:
    source = in_duckdb(experiment(100), tmp_path)
    database = source.split(":", 1)[1].split("#")[0]
    for text, wanted in (
        (f"duckdb:{database}", "engine_source"),  # no table
        (f"duckdb:{database}#missing_table", "engine_error"),
        (f"duckdb:{tmp_path}/nothing.duckdb#events", "file_not_found"),
        ("duckdb:", "engine_source"),
    ):
        with pytest.raises(ToolError) as info:
            open_table(text)
        assert info.value.code == wanted, (text, info.value)


def test_names_with_quotes_or_sql_stay_names(tmp_path: Path) -> None:
    hostile = 'x"; DROP TABLE events; --'
    frame = experiment(400).rename(columns={"revenue": hostile})
    source = in_duckdb(frame, tmp_path, table='ev"ents; DROP TABLE x')
    catalog = Catalog()
    catalog.add(source, "exp")
    request = {"dataset": "exp", "arm_column": "arm", "metrics": [{"name": hostile}]}
    result = dispatch("ab_test", request, catalog)
    assert not isinstance(result, ToolError), result
    assert result.comparisons[0].metric == hostile
    check = duckdb.connect(source.split(":", 1)[1].split("#")[0], read_only=True)
    assert [r[0] for r in check.execute("SHOW TABLES").fetchall()] == ['ev"ents; DROP TABLE x']  # nothing dropped


def test_other_tools_pull_the_rows_within_a_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frame = experiment(800)
    catalog = Catalog()
    catalog.add(in_duckdb(frame, tmp_path), "exp")
    request = {"dataset": "exp", "outcome": "revenue", "treatment": "converted", "covariates": ["pre_revenue"]}
    assert not isinstance(dispatch("propensity", request, catalog), ToolError)
    monkeypatch.setattr("tools.engine.table.PULL_LIMIT", 100)
    refused = dispatch("propensity", request, catalog)
    assert isinstance(refused, ToolError) and refused.code == "table_too_large"
    assert PULL_LIMIT >= 1_000_000


def test_the_command_line_and_the_launcher_attach_an_engine_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from assistant.cli import main
    from assistant.launch import attached_under

    frame = experiment(2000)
    source = in_duckdb(frame, tmp_path)
    request = json.dumps({"dataset": "exp", "arm_column": "arm", "metrics": METRICS[:2]})
    assert main(["tool", "run", "ab_test", "--data", f"exp={source}", "--json", request]) == 0
    engine = json.loads(capsys.readouterr().out)
    csv = tmp_path / "rows.csv"
    frame.to_csv(csv, index=False)
    assert main(["tool", "run", "ab_test", "--data", f"exp={csv}", "--json", request]) == 0
    memory = json.loads(capsys.readouterr().out)
    assert engine["summary"] == memory["summary"] and engine["srm"] == memory["srm"]
    catalog = Catalog()
    catalog.add(source)
    assert [d.name for d in catalog] == ["events"] and attached_under(catalog, source, None) is not None


def test_a_cancelled_run_stops_the_query_in_the_engine(tmp_path: Path) -> None:
    import threading
    import time

    path = tmp_path / "big.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE s AS SELECT i // 3 AS user_id, CASE WHEN hash(i // 3) % 2 = 0 THEN 'a' ELSE 'b' END AS arm, "
        "random() AS y FROM range(30000000) AS t(i)"
    )
    con.close()
    catalog = Catalog()
    catalog.add(f"duckdb:{path}#s", "big")
    request = {"dataset": "big", "arm_column": "arm", "cluster_column": "user_id", "metrics": [{"name": "y"}]}
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    start = time.perf_counter()
    outcome = dispatch("ab_test", request, catalog, cancel=cancel)
    assert isinstance(outcome, ToolError) and outcome.code == "cancelled", outcome
    assert time.perf_counter() - start < 5
    # the table still works afterwards
    assert not isinstance(dispatch("ab_test", {**request, "cluster_column": None}, catalog), ToolError)


def test_a_bare_folder_of_parquet_files_is_a_duckdb_scan(tmp_path: Path) -> None:
    folder = tmp_path / "exports_2026"
    folder.mkdir()
    experiment(1000).to_parquet(folder / "part-0.parquet")
    catalog = Catalog()
    dataset = catalog.add(str(folder))
    assert dataset.name == "exports_2026" and dataset.engine is not None and dataset.n_rows == 1000
    assert dataset.engine.parquet == folder


def test_types_the_engine_reports_differently_give_the_same_numbers(tmp_path: Path) -> None:
    """DECIMAL amounts and BOOLEAN conversions in the engine (floats and 0/1 in a CSV)."""
    frame = experiment(2000).assign(revenue=lambda f: f["revenue"].fillna(0).round(2))
    path = tmp_path / "typed.duckdb"
    con = duckdb.connect(str(path))
    con.register("incoming", frame)
    con.execute(
        "CREATE TABLE events AS SELECT arm, CAST(revenue AS DECIMAL(12, 2)) AS revenue, "
        "CAST(converted AS BOOLEAN) AS converted FROM incoming"
    )
    con.close()
    request = {"arm_column": "arm", "metrics": [{"name": "revenue"}, {"name": "converted", "kind": "binary"}]}
    memory, engine = both(frame, f"duckdb:{path}#events", request, tmp_path)
    assert_same(memory, engine)
