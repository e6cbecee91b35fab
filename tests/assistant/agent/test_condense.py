"""Results reach the model as valid, small JSON that keeps the summary, checks and warnings; a result's class says
what is plot data and what is a legacy name (real results of every tool: tests/assistant/test_result_surfaces.py)."""

from __future__ import annotations

import json
from typing import Any

from assistant.agent.condense import PLOT_NOTE, condense, model_view
from tests.assistant.real_results import real_result


def big_result(points: int) -> dict[str, Any]:
    return {
        "estimate": 1.25,
        "event_study": [{"relative_period": i, "estimate": i / 10, "std_error": 0.1} for i in range(points)],
        "bins": {"below": {"bin_centers": list(range(points))}},
        "checks": [{"name": "pretrend", "status": "pass", "detail": "p = 0.4"}],
        "warnings": ["TWFE and Callaway-Sant'Anna disagree"],
        "summary": "ATT +1.25 (95% CI +1.0 to +1.5).",
    }


def test_a_small_result_is_passed_whole() -> None:
    result = big_result(3)
    assert json.loads(condense(result)) == result


def test_a_large_result_stays_valid_json_with_its_summary_first_and_lists_shortened() -> None:
    result = big_result(2000)
    text = condense(result, limit=4000)
    assert len(text) <= 4000
    shown = json.loads(text)
    assert next(iter(shown)) == "summary" and shown["summary"] == result["summary"]
    assert shown["checks"] == result["checks"] and shown["warnings"] == result["warnings"]
    assert shown["estimate"] == 1.25
    assert "rows left out" in json.dumps(shown["bins"])  # a mapping declares no plot fields: only shortened
    rows = shown["event_study"]
    assert rows[0] == result["event_study"][0] and rows[-1] == result["event_study"][-1]
    assert any(isinstance(r, str) and "rows left out" in r for r in rows)


def test_when_even_short_lists_do_not_fit_the_essentials_remain() -> None:
    result = {**big_result(10), "estimates": [{"method": "x" * 500, "estimate": 1.0}] * 3}
    shown = json.loads(condense(result, limit=900))
    assert shown["summary"] == result["summary"] and shown["estimate"] == 1.25
    assert "event_study" not in shown and "estimates" not in shown


def test_a_result_class_declares_its_plot_data_and_legacy_names() -> None:
    rdd = real_result("rdd")
    assert type(rdd).plot_fields == ("bins",) and "robust" in type(rdd).legacy_fields
    whole = json.loads(condense(rdd))
    assert whole["bins"] == model_view(rdd)["bins"] and "robust" not in whole and "effect" in whole
    shown = json.loads(condense(rdd, limit=4000))
    assert shown["bins"] == PLOT_NOTE and "robust" not in shown
    assert shown["effect"] == whole["effect"]  # the headline estimate is never shortened away
    assert next(iter(shown)) == "summary"


def test_extend_adds_to_the_view_before_it_is_measured() -> None:
    power = real_result("power")
    shown = json.loads(condense(power, extend=lambda view: {**view, "plan_check": {"status": "pass"}}))
    assert shown["plan_check"] == {"status": "pass"}
    small = json.loads(condense(power, 2000, extend=lambda view: {**view, "plan_check": {"status": "pass"}}))
    assert small["curve"] == PLOT_NOTE and small["plan_check"] == {"status": "pass"}
