"""A table in an engine in the app: /load takes the duckdb: form, /run ab_test analyses it inside the engine with the
in-memory numbers, and the status line counts a long run's elapsed seconds."""

from __future__ import annotations

import time
from pathlib import Path

from textual.widgets import Static

from assistant.tui.app import WhyscopeApp
from tests.assistant.test_app_tools import Scripted, enter, finished_card, last_notice
from tests.tools.test_engine_ab_test import experiment, in_duckdb
from tests.waiting import wait_for, wait_for_value
from tools.data import Catalog
from tools.registry import dispatch


async def test_load_a_duckdb_table_and_run_ab_test_inside_it(tmp_path: Path) -> None:
    frame = experiment(3000)
    source = in_duckdb(frame, tmp_path)
    csv = tmp_path / "rows.csv"
    frame.to_csv(csv, index=False)
    memory = Catalog()
    memory.add(csv, "events")
    request = '{"dataset": "events", "arm_column": "arm", "metrics": [{"name": "converted", "kind": "binary"}]}'
    expected = dispatch("ab_test", request, memory)
    app = WhyscopeApp(Scripted([]), catalog=Catalog())
    async with app.run_test() as pilot:
        await enter(pilot, app, f"/load {source}")
        await wait_for(pilot, lambda: "events" in app.catalog, "the table to attach", state=lambda: last_notice(app))
        assert app.catalog.get("events").engine is not None
        await wait_for(pilot, lambda: not app.busy and not app._slots, "the load to end")
        await enter(pilot, app, f"/run ab_test {request}")
        card = await wait_for_value(pilot, lambda: finished_card(app, "ab_test"), "the ab_test card")
        assert card.error is None and card.result is not None
        assert card.result["summary"] == expected.summary  # type: ignore[union-attr]


async def test_the_status_line_counts_the_seconds_of_a_long_run() -> None:
    app = WhyscopeApp(Scripted([]), catalog=Catalog())
    async with app.run_test() as pilot:
        app._set_busy(True, "running ab_test")
        app._busy_since = time.monotonic() - 7
        app._show_status()
        await pilot.pause()
        assert "running ab_test… 7 s (Esc stops it" in str(app.query_one("#status", Static).render())
        app._set_busy(False)
