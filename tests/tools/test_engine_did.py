"""diff_in_diff on a table in DuckDB: the unit x period panel comes from the engine — as it is when the table is a
panel, averaged per unit and period when its rows are finer — and the estimate equals the in-memory analysis of the
panel; a treatment that varies within a unit-period, or a panel too large to pull, is refused saying so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.tools.test_engine_ab_test import in_duckdb
from tools.data import Catalog
from tools.errors import ToolError
from tools.registry import dispatch

DATA = Path(__file__).resolve().parents[2] / "examples" / "data" / "staggered_rollout.csv"
REQUEST = {"dataset": "p", "outcome": "weekly_orders", "unit": "region", "time": "month", "cohort": "launch_month"}


def run(source: str | Path) -> object:
    catalog = Catalog()
    catalog.add(source, "p")
    return dispatch("diff_in_diff", REQUEST, catalog)


def test_a_panel_table_gives_the_in_memory_estimate(tmp_path: Path) -> None:
    memory = run(DATA)
    engine = run(in_duckdb(pd.read_csv(DATA), tmp_path))
    assert not isinstance(memory, ToolError) and not isinstance(engine, ToolError), (memory, engine)
    assert engine.effect == memory.effect and engine.model_dump()["summary"] == memory.model_dump()["summary"]
    assert any("was read from" in w for w in engine.warnings)


def test_finer_rows_are_averaged_per_unit_and_period_in_the_engine(tmp_path: Path) -> None:
    panel = pd.read_csv(DATA)
    rng = np.random.default_rng(5)
    noise = rng.normal(0, 3, len(panel))
    finer = pd.concat(  # three rows per unit-period whose mean is the panel's outcome
        [
            panel.assign(weekly_orders=panel["weekly_orders"] + noise),
            panel.assign(weekly_orders=panel["weekly_orders"] - noise),
            panel,
        ],
        ignore_index=True,
    )
    memory = run(DATA)
    engine = run(in_duckdb(finer, tmp_path))
    assert not isinstance(engine, ToolError), engine
    assert engine.effect.estimate == pytest.approx(memory.effect.estimate, rel=1e-9)
    assert engine.effect.std_error == pytest.approx(memory.effect.std_error, rel=1e-9)
    note = next(w for w in engine.warnings if "Aggregated inside the engine" in w)
    assert f"{len(finer):,} rows" in note and f"{len(panel):,} unit-period rows" in note


def test_a_cohort_that_varies_within_a_unit_period_is_refused(tmp_path: Path) -> None:
    panel = pd.read_csv(DATA)
    other = panel.assign(launch_month=panel["launch_month"].where(panel.index % 7 != 0, 0))
    outcome = run(in_duckdb(pd.concat([panel, other], ignore_index=True), tmp_path))
    assert isinstance(outcome, ToolError) and outcome.code == "varies_within_period"
    assert "'launch_month'" in outcome.message


def test_a_panel_too_large_to_pull_is_refused_with_its_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tools.engine.table.PULL_LIMIT", 100)
    outcome = run(in_duckdb(pd.read_csv(DATA), tmp_path))
    assert isinstance(outcome, ToolError) and outcome.code == "table_too_large"
    assert "unit-period rows" in outcome.message


def test_timestamps_with_a_time_zone_give_the_same_estimate(tmp_path: Path) -> None:
    panel = pd.read_csv(DATA)
    for column in ("month", "launch_month"):
        panel[column] = pd.to_datetime(panel[column]).dt.tz_localize("Europe/Berlin")
    engine = run(in_duckdb(panel, tmp_path))
    memory = run(DATA)
    assert not isinstance(engine, ToolError) and not isinstance(memory, ToolError), (engine, memory)
    assert engine.effect.estimate == pytest.approx(memory.effect.estimate, rel=1e-9)
    assert engine.effect.std_error == pytest.approx(memory.effect.std_error, rel=1e-9)
