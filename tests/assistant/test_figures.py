"""PNG figures of tool results, chosen by the figure the result's class declares (real results of every tool are
drawn in tests/assistant/test_result_surfaces.py)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from assistant.figures import FIGURES, FigureError, has_figure, save_figure
from tests.assistant.real_results import real_result

KINDS = {"power": "power_curve", "diff_in_diff": "event_study", "propensity": "overlap", "rdd": "rd_plot"}


@pytest.mark.parametrize("tool", sorted(KINDS))
def test_each_kind_of_result_is_saved_as_a_png(tmp_path: Path, tool: str) -> None:
    result = real_result(tool)
    assert type(result).figure == KINDS[tool] and KINDS[tool] in FIGURES
    assert has_figure(result)
    path = save_figure(result, tmp_path / "sub" / f"{tool}.png", title=tool)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 500 and height > 300


def test_a_result_without_a_figure_and_a_wrong_suffix_are_refused(tmp_path: Path) -> None:
    recommendation = real_result("recommend_method")
    assert not has_figure(recommendation)
    with pytest.raises(FigureError, match="no figure"):
        save_figure(recommendation, tmp_path / "a.png")
    with pytest.raises(FigureError, match=r"\.png"):
        save_figure(real_result("power"), tmp_path / "a.pdf")


def test_a_declared_figure_without_its_data_is_not_drawn(tmp_path: Path) -> None:
    empty = real_result("diff_in_diff").model_copy(update={"event_study": []})
    assert not has_figure(empty)
    with pytest.raises(FigureError, match="no figure"):
        save_figure(empty, tmp_path / "a.png")


def test_an_unwritable_place_is_a_figure_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(FigureError, match="Could not write"):
        save_figure(real_result("power"), blocker / "inside.png")
