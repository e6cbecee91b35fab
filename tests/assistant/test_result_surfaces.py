"""Every registered tool's real result on every surface that shows it: the app's text plot and card, the PNG
figure, what the model reads (condensed), provenance and the session record. The surfaces dispatch on the result's
class (``figure``, ``plot_fields``, ``legacy_fields``), never on field names."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from assistant.agent.condense import MAX_TOOL_CHARS, PLOT_NOTE, condense, model_view
from assistant.agent.provenance import unverified_numbers
from assistant.agent.runner import ToolRun
from assistant.figures import FIGURES, FigureError, has_figure, save_figure
from assistant.tui.widgets.plot import DRAWERS, plot_result
from tests.assistant.real_results import REQUESTS, real_result
from tools.registry import TOOLS, get_tool, parse_request, tool_names
from tools.results import ToolResult

NAMES = tool_names()
WITH_FIGURE = [spec.name for spec in TOOLS if spec.result.figure is not None]
WITHOUT_FIGURE = [spec.name for spec in TOOLS if spec.result.figure is None]


def summary_of(result: ToolResult) -> str:
    summary = getattr(result, "summary", None)
    assert isinstance(summary, str), f"{type(result).__name__} has no summary"
    return summary


def test_every_registered_tool_has_a_real_result() -> None:
    assert set(REQUESTS) == set(NAMES), (
        "add a small example request for the new tool to tests/assistant/real_results.py"
    )


def test_every_declared_figure_has_a_drawer_in_the_app_and_as_png() -> None:
    declared = {spec.result.figure for spec in TOOLS} - {None}
    assert declared, "no registered result declares a figure"
    missing = {
        f"{spec.name} declares figure {spec.result.figure!r} but {where} has no drawer for it"
        for spec in TOOLS
        for where, table in (("assistant/figures.py FIGURES", FIGURES), ("tui/widgets/plot.py DRAWERS", DRAWERS))
        if spec.result.figure is not None and spec.result.figure not in table
    }
    assert not missing, sorted(missing)
    assert set(FIGURES) == set(DRAWERS), "the PNG and text drawer tables must name the same figures"


@pytest.mark.parametrize("name", NAMES)
def test_the_result_is_the_declared_class(name: str) -> None:
    assert type(real_result(name)) is get_tool(name).result


@pytest.mark.parametrize("name", WITH_FIGURE)
def test_a_figure_is_drawn_in_the_app_and_saved_as_png(name: str, tmp_path: Path) -> None:
    result = real_result(name)
    lines = plot_result(result)
    assert len(lines) >= 3 and all(isinstance(line, str) for line in lines)
    assert has_figure(result)
    path = save_figure(result, tmp_path / f"{name}.png", title=name)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 500 and height > 300


@pytest.mark.parametrize("name", WITHOUT_FIGURE)
def test_a_result_without_a_figure_draws_nothing(name: str, tmp_path: Path) -> None:
    result = real_result(name)
    assert plot_result(result) == [] and not has_figure(result)
    with pytest.raises(FigureError, match="no figure"):
        save_figure(result, tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def _legacy_keys(value: Any, shown: Any, path: str = "") -> list[str]:
    """Every legacy field name (of the result's class or a nested result's) that ``shown`` still holds."""
    found: list[str] = []
    if isinstance(value, ToolResult) and isinstance(shown, dict):
        found += [f"{path}.{key}" for key in type(value).legacy_fields if key in shown]
        for key, item in shown.items():
            found += _legacy_keys(getattr(value, key, None), item, f"{path}.{key}")
    elif isinstance(value, list | tuple) and isinstance(shown, list):
        for index, (item, part) in enumerate(zip(value, shown, strict=False)):
            found += _legacy_keys(item, part, f"{path}[{index}]")
    return found


@pytest.mark.parametrize("name", NAMES)
def test_the_model_reads_valid_json_within_the_limit_without_legacy_names(name: str) -> None:
    result = real_result(name)
    text = condense(result)
    assert len(text) <= MAX_TOOL_CHARS
    shown = json.loads(text)
    assert shown["summary"] == summary_of(result)
    assert _legacy_keys(result, shown) == []
    view = model_view(result)
    assert _legacy_keys(result, view) == []
    for field in type(result).legacy_fields:  # the full result keeps them for outside callers
        assert field in result.model_dump(mode="json")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("limit", [3_000, 1_200])
def test_a_long_result_leaves_out_its_plot_data_and_stays_valid(name: str, limit: int) -> None:
    result = real_result(name)
    text = condense(result, limit)
    assert len(text) <= limit
    shown = json.loads(text)
    assert _legacy_keys(result, shown) == []
    full_length = len(json.dumps(model_view(result), ensure_ascii=False, separators=(",", ":")))
    if full_length > limit:  # condensed: the summary leads, and no plot data reaches the model
        assert next(iter(shown)) == "summary" and summary_of(result).startswith(shown["summary"])
        for field in type(result).plot_fields:
            assert shown.get(field, PLOT_NOTE) == PLOT_NOTE, f"{name}.{field} reached the model"


@pytest.mark.parametrize("name", NAMES)
def test_the_summary_quotes_only_the_results_own_numbers(name: str) -> None:
    result = real_result(name)
    assert [m.text for m in unverified_numbers(summary_of(result), [result])] == []


@pytest.mark.parametrize("name", NAMES)
def test_a_run_survives_the_session_file(name: str) -> None:
    spec = get_tool(name)
    run = ToolRun("c1", name, parse_request(spec, REQUESTS[name]), real_result(name))
    restored = ToolRun.from_record(json.loads(json.dumps(run.record())))
    assert restored == run
    assert restored.result == run.result and restored.for_model() == run.for_model()


@pytest.mark.parametrize("name", [spec.name for spec in TOOLS if "effect" in spec.result.model_fields])
def test_the_card_leads_with_the_headline_effect(name: str) -> None:
    from assistant.tui.widgets.tool_card import details

    result = real_result(name)
    effect = result.effect  # type: ignore[attr-defined]
    lines = details(model_view(result))
    assert lines[0].startswith("effect: "), lines[:2]
    assert f"{effect.estimate:.4g}" in lines[0] and f"{effect.ci_lower:.4g}" in lines[0]
    assert f"{100 * (1 - effect.alpha):g}% CI" in lines[0]


def test_every_estimator_has_an_effect() -> None:
    from tools.registry import estimators

    assert all("effect" in spec.result.model_fields for spec in estimators())
