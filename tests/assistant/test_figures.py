"""PNG figures of tool results, chosen by the figure the result's class declares (real results of every tool are
drawn in tests/assistant/test_result_surfaces.py)."""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import pytest

from assistant.figures import FIGURES, FigureError, has_figure, save_figure
from tests.assistant.real_results import real_result

KINDS = {"power": "power_curve", "diff_in_diff": "event_study", "propensity": "overlap", "rdd": "rd_plot"}


@pytest.mark.parametrize("tool", sorted(KINDS))
def test_each_kind_of_result_is_saved_as_a_png(tmp_path: Path, tool: str) -> None:
    result = real_result(tool)
    assert type(result).figure == KINDS[tool] and KINDS[tool] in FIGURES
    assert has_figure(result)
    path = save_figure(result, tmp_path / f"{tool}.png", title=tool)
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
    with pytest.raises(FigureError, match="does not exist"):
        save_figure(real_result("power"), blocker / "inside.png")
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if not os.access(folder, os.W_OK):  # (root may write anyway)
            with pytest.raises(FigureError, match="Cannot write"):
                save_figure(real_result("power"), folder / "a.png")
            assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


# --- issue 16 item 11: the same rule as prereg -o / export -o, for every caller of save_figure -------------
def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    existing = tmp_path / "power.png"
    existing.write_bytes(b"keep me")
    with pytest.raises(FigureError, match="exists; it was not overwritten"):
        save_figure(real_result("power"), existing)
    assert existing.read_bytes() == b"keep me"


def test_a_symlink_is_never_written_through_even_a_dangling_one(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    link = tmp_path / "link.png"
    link.symlink_to(victim)
    with pytest.raises(FigureError, match="symbolic link"):
        save_figure(real_result("power"), link)
    assert victim.read_text(encoding="utf-8") == "precious"
    dangling = tmp_path / "dangling.png"
    dangling.symlink_to(tmp_path / "nowhere" / "created.png")
    with pytest.raises(FigureError, match="symbolic link"):
        save_figure(real_result("power"), dangling)
    assert not (tmp_path / "nowhere").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling.png", "link.png", "victim.txt"]


def test_a_missing_folder_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(FigureError, match="does not exist"):
        save_figure(real_result("power"), tmp_path / "typo" / "power.png")
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_appears_while_drawing_is_not_replaced_and_no_temporary_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import assistant.figures as figures

    target = tmp_path / "race.png"
    real_draw = figures.FIGURES["power_curve"].draw

    def draw_then_race(canvas: Any, result: Any) -> None:
        real_draw(canvas, result)
        target.write_bytes(b"someone else's")  # appears after the check, before the write

    monkeypatch.setitem(figures.FIGURES, "power_curve", figures.Figure(draw_then_race, lambda r: True))
    with pytest.raises(FigureError, match="exists"):
        save_figure(real_result("power"), target)
    assert target.read_bytes() == b"someone else's"
    assert [p.name for p in tmp_path.iterdir()] == ["race.png"]
