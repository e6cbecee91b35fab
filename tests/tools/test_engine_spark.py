"""ab_test inside Apache Spark (a local session, one for the module): Parquet files attached as ``spark:FOLDER/``
give the in-memory numbers on the same rows to 1e-9 — binary, continuous, CUPED, ratio and guardrail metrics,
session rows summed per user, the repeated-ID warning — through the registry and through ``whyscope tool run``.
The same generated data as the DuckDB tests. Bad input gets the in-memory path's codes, a name with a backtick and
SQL in it stays a name, a cancelled query says so, other tools pull the rows within the limit.

Marked ``spark`` (and ``slow``): the session takes seconds to a minute to start; ``-m 'not spark'`` skips them.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest

from assistant.cli import main
from tests.tools.test_engine_ab_test import (
    METRICS,
    assert_bad_input_codes,
    assert_same,
    bad_input_frame,
    both,
    experiment,
    same,
    sessions,
)
from tools.ab_test.inputs import prepare_rows
from tools.ab_test.models import AbTestRequest
from tools.data import Catalog
from tools.engine import open_table
from tools.engine.ab_test import prepare_engine
from tools.engine.spark import SESSION_CONFIG, SparkTable, session
from tools.errors import ToolError
from tools.propensity.models import PropensityResult
from tools.registry import dispatch

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    """The module's one local session (the one the engine layer starts), stopped at the end."""
    started = session()
    yield started
    started.stop()


def in_spark(frame: pd.DataFrame, folder: Path, parts: int = 2) -> str:
    """``frame`` written as ``parts`` Parquet files in ``folder``: the ``spark:FOLDER/`` source naming them."""
    folder.mkdir(parents=True)
    for i, rows in enumerate(np.array_split(np.arange(len(frame)), parts)):
        frame.iloc[rows].to_parquet(folder / f"part-{i}.parquet", index=False)
    return f"spark:{folder}/"


def test_the_local_session_is_offline_and_small(spark: SparkSession) -> None:
    assert spark.version.startswith("4.")
    assert spark.sparkContext.master == "local[2]"
    assert spark.conf.get("spark.ui.enabled") == "false"
    assert spark.conf.get("spark.sql.shuffle.partitions") == SESSION_CONFIG["spark.sql.shuffle.partitions"]
    assert session() is spark  # reused, not started again


def test_every_metric_kind_equals_the_in_memory_path(spark: SparkSession, tmp_path: Path) -> None:
    frame = experiment()
    source = in_spark(frame, tmp_path / "exports")
    memory, engine = both(frame, source, {"arm_column": "arm", "metrics": METRICS}, tmp_path)
    assert_same(memory, engine)
    assert engine.comparisons[0].cuped is not None and engine.comparisons[2].test.startswith("z-test on a ratio")
    assert engine.comparisons[3].non_inferiority_p_value is not None  # the guardrail's one-sided test


def test_session_rows_summed_per_user_equal_the_in_memory_path(spark: SparkSession, tmp_path: Path) -> None:
    frame = sessions()
    request = {
        "arm_column": "arm",
        "cluster_column": "user_id",
        "metrics": [{"name": "minutes"}, {"name": "converted", "kind": "binary"}],
    }
    memory, engine = both(frame, in_spark(frame, tmp_path / "sessions", parts=3), request, tmp_path)
    assert_same(memory, engine)
    assert any("more than one arm" in w for w in engine.warnings)


def test_repeated_ids_are_counted_in_spark(spark: SparkSession, tmp_path: Path) -> None:
    frame = sessions()
    request = {"arm_column": "arm", "metrics": [{"name": "minutes"}]}
    memory, engine = both(frame, in_spark(frame, tmp_path / "sessions"), request, tmp_path)
    assert_same(memory, engine)
    assert any("user_id" in w and "repeat" in w for w in engine.warnings)


def test_a_parquet_file_and_a_catalog_table_give_the_same_moments(spark: SparkSession, tmp_path: Path) -> None:
    frame = experiment(2000, seed=8).assign(converted=lambda f: f["converted"].astype(bool))  # a boolean metric
    file = tmp_path / "rows.parquet"
    frame.to_parquet(file, index=False)
    spark.read.parquet(str(file)).createOrReplaceTempView("events")
    request = AbTestRequest.model_validate({"arm_column": "arm", "metrics": METRICS})
    expected = prepare_rows(request, frame)
    for spec in (f"spark:{file}", "spark:events"):
        table = open_table(spec)
        assert isinstance(table, SparkTable) and table.n_rows == 2000
        assert table.schema()["converted"] == "boolean" and table.schema()["visits"] == "bigint"
        found = prepare_engine(request, table)
        assert found.arms == expected.arms and found.units == expected.units
        for a, b in zip(expected.metrics, found.metrics, strict=True):
            for ma, mb in zip(a.moments, b.moments, strict=True):
                assert ma.n == mb.n, spec
                for name in ("mean_y", "m2_y", "mean_d", "m2_d", "c_yd", "mean_x", "m2_x", "c_xy"):
                    assert same(getattr(ma, name), getattr(mb, name)), (spec, a.spec.name, name)


def test_the_command_line_prints_the_in_memory_numbers(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = experiment(3000, seed=5)
    source = in_spark(frame, tmp_path / "exports")
    csv = tmp_path / "rows.csv"
    frame.to_csv(csv, index=False)
    request = json.dumps({"dataset": "exp", "arm_column": "arm", "metrics": METRICS})

    def run(data: str) -> dict[str, Any]:
        code = main(["tool", "run", "ab_test", "--data", f"exp={data}", "--json", request])
        out = capsys.readouterr().out
        assert code == 0, out
        return dict(json.loads(out))

    memory, engine = run(str(csv)), run(source)
    assert [c["metric"] for c in engine["comparisons"]] == ["revenue", "converted", "orders", "latency"]
    for a, b in zip(memory["comparisons"], engine["comparisons"], strict=True):
        for field in ("estimate", "std_error", "ci_lower", "ci_upper", "p_value"):
            assert same(a["absolute"][field], b["absolute"][field]), (a["metric"], field)
    assert memory["srm"] == engine["srm"] and memory["summary"] == engine["summary"]


def test_bad_input_gets_the_in_memory_codes(spark: SparkSession, tmp_path: Path) -> None:
    assert_bad_input_codes(in_spark(bad_input_frame(), tmp_path / "exports"))


def test_sources_that_do_not_name_a_table_are_refused(spark: SparkSession, tmp_path: Path) -> None:
    for text, wanted in (
        ("spark:", "engine_source"),
        ("spark:sales.", "engine_source"),
        (f"spark:{tmp_path}/nothing/", "file_not_found"),
        ("spark:no_such_table", "engine_error"),
    ):
        with pytest.raises(ToolError) as info:
            open_table(text)
        assert info.value.code == wanted, (text, info.value)
    assert "no_such_table" in info.value.message and "TABLE_OR_VIEW_NOT_FOUND" in info.value.message


def test_names_with_backticks_or_sql_stay_names(spark: SparkSession, tmp_path: Path) -> None:
    hostile = "x`; DROP VIEW events; --"
    frame = experiment(400).rename(columns={"revenue": hostile})
    spark.range(2).createOrReplaceTempView("events")
    source = in_spark(frame, tmp_path / "ex`ports; DROP VIEW events")  # a backtick in the path too
    memory, engine = both(frame, source, {"arm_column": "arm", "metrics": [{"name": hostile}]}, tmp_path)
    assert_same(memory, engine)
    assert engine.comparisons[0].metric == hostile
    with pytest.raises(ToolError) as info:
        open_table("spark:events`; DROP VIEW events; --")
    assert info.value.code == "engine_error"
    assert spark.catalog.tableExists("events")  # nothing dropped


def cancelled_while_running(spark: SparkSession, table: SparkTable, cancel: Callable[[], None]) -> ToolError:
    """The ToolError of an endless query on ``table`` that ``cancel`` stops once its job runs."""
    outcome: list[ToolError] = []

    def endless() -> None:
        try:
            table.execute("SELECT SUM(SQRT(CAST(id AS DOUBLE))) FROM range(0, 1000000000000, 1, 2)")  # hours
        except ToolError as error:
            outcome.append(error)

    worker = threading.Thread(target=endless)
    worker.start()
    tracker = spark.sparkContext.statusTracker()
    deadline = time.monotonic() + 60
    while not tracker.getActiveJobsIds() and time.monotonic() < deadline:
        time.sleep(0.1)
    cancel()
    worker.join(60)
    assert not worker.is_alive() and len(outcome) == 1
    return outcome[0]


def test_a_cancelled_query_says_so_and_the_table_still_works(spark: SparkSession, tmp_path: Path) -> None:
    table = open_table(in_spark(experiment(100), tmp_path / "exports"))
    assert isinstance(table, SparkTable)
    assert cancelled_while_running(spark, table, table.interrupt).code == "cancelled"
    assert table.execute("SELECT COUNT(*) FROM " + table.relation) == [(100,)]
    # cancelled from outside whyscope (as from the Spark UI): Spark's words are recognised
    assert cancelled_while_running(spark, table, spark.sparkContext.cancelAllJobs).code == "cancelled"
    assert table.execute("SELECT COUNT(*) FROM " + table.relation + " WHERE arm = ?", ["control"])[0][0] > 0


def test_other_tools_pull_the_rows_within_a_limit(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = experiment(800)
    csv = tmp_path / "rows.csv"
    frame.to_csv(csv, index=False)
    memory, engine = Catalog(), Catalog()
    memory.add(csv, "exp")
    engine.add(in_spark(frame, tmp_path / "exports"), "exp")
    request = {"dataset": "exp", "outcome": "latency", "treatment": "converted", "covariates": ["pre_revenue"]}
    pulled, direct = dispatch("propensity", request, engine), dispatch("propensity", request, memory)
    assert isinstance(pulled, PropensityResult) and isinstance(direct, PropensityResult), (pulled, direct)
    for field in ("estimate", "std_error", "p_value"):
        assert same(getattr(pulled.effect, field), getattr(direct.effect, field)), field
    monkeypatch.setattr("tools.engine.table.PULL_LIMIT", 100)
    refused = dispatch("propensity", request, engine)
    assert isinstance(refused, ToolError) and refused.code == "table_too_large"


def test_without_pyspark_the_source_is_refused_with_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("pyspark", "pyspark.sql", "pyspark.errors"):
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ToolError) as info:
        session()
    assert info.value.code == "engine_unreachable" and "whyscope[spark]" in info.value.hint


def test_aa_test_and_metric_history_on_spark_equal_the_in_memory_figures(spark: SparkSession, tmp_path: Path) -> None:
    """The per-unit sums come back from Spark numbered by sorted unit values, as in memory: the same splits, the
    same figures; metric_history's ICC likewise."""
    from tests.tools.test_engine_aa_test import METRICS as AA_METRICS
    from tests.tools.test_engine_aa_test import assert_same as assert_same_aa
    from tests.tools.test_engine_aa_test import history

    frame = history()
    csv = tmp_path / "history.csv"
    frame.to_csv(csv, index=False)
    memory, engine = Catalog(), Catalog()
    memory.add(csv, "h")
    engine.add(in_spark(frame, tmp_path / "history"), "h")
    request = {"dataset": "h", "metrics": AA_METRICS, "simulations": 200}
    a, b = dispatch("aa_test", request, memory), dispatch("aa_test", request, engine)
    assert not isinstance(a, ToolError) and not isinstance(b, ToolError), (a, b)
    assert_same_aa(a, b)
    asked = {"dataset": "h", "metric": "minutes", "unit_column": "user_id", "covariate_column": "pre_minutes"}
    x, y = dispatch("metric_history", asked, memory), dispatch("metric_history", asked, engine)
    assert not isinstance(x, ToolError) and not isinstance(y, ToolError), (x, y)
    assert (
        y.engine
        and same(x.icc, y.icc)
        and same(x.std_dev, y.std_dev)
        and same(x.variance_reduction, y.variance_reduction)
    )
