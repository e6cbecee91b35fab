"""PNG figures of tool results."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from assistant.figures import FigureError, has_figure, save_figure

RESULTS: dict[str, dict[str, Any]] = {
    "power": {"curve_kind": "power_vs_n", "curve": [{"n_per_arm": n, "power": n / 1000} for n in (100, 500, 900)]},
    "event_study": {
        "estimator": "callaway_santanna",
        "outcome": "orders",
        "pretrend": {"p_value": 0.4},
        "event_study": [
            {"relative_period": -2, "estimate": 0.1, "ci_lower": -0.2, "ci_upper": 0.4},
            {"relative_period": -1, "estimate": 0.0, "ci_lower": 0.0, "ci_upper": 0.0},
            {"relative_period": 0, "estimate": 1.0, "ci_lower": 0.6, "ci_upper": 1.4},
        ],
    },
    "propensity": {
        "score_histogram": {"bin_edges": [0.0, 0.5, 1.0], "treated": [2, 5], "control": [6, 1]},
        "balance": [{"term": "age", "smd_before": 0.6, "smd_weighted": 0.02, "smd_matched": None}],
    },
    "rdd": {
        "outcome": "spend",
        "running": "queries",
        "robust": {"estimate": 1.5, "ci_lower": 1.0, "ci_upper": 2.0},
        "bins": {
            "cutoff": 10.0,
            "below": {"bin_centers": [8.0, 9.0], "bin_means": [1.0, 1.1], "fit_x": [8.0, 10.0], "fit_y": [1.0, 1.2]},
            "above": {"bin_centers": [11.0, 12.0], "bin_means": [2.6, 2.7], "fit_x": [10.0, 12.0], "fit_y": [2.5, 2.7]},
        },
    },
}


@pytest.mark.parametrize("kind", sorted(RESULTS))
def test_each_kind_of_result_is_saved_as_a_png(tmp_path: Path, kind: str) -> None:
    result = RESULTS[kind]
    assert has_figure(result)
    path = save_figure(result, tmp_path / "sub" / f"{kind}.png", title=kind)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 500 and height > 300


def test_a_result_without_a_figure_and_a_wrong_suffix_are_refused(tmp_path: Path) -> None:
    assert not has_figure({"summary": "x"})
    with pytest.raises(FigureError, match="no figure"):
        save_figure({"summary": "x"}, tmp_path / "a.png")
    with pytest.raises(FigureError, match=r"\.png"):
        save_figure(RESULTS["power"], tmp_path / "a.pdf")


def test_an_unwritable_place_is_a_figure_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(FigureError, match="Could not write"):
        save_figure(RESULTS["power"], blocker / "inside.png")
