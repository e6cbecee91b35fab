"""Text charts: markers land where their values say, on one scale per chart."""

from __future__ import annotations

from assistant.tui.widgets.charts import ForestRow, forest, mirrored_histogram, scatter
from assistant.tui.widgets.plot import plot_result


def test_a_forest_row_puts_its_interval_point_and_the_reference_on_one_scale() -> None:
    lines = forest(
        [ForestRow("-1", 0.0, marker="◆"), ForestRow("+0", 1.0, 0.5, 1.5), ForestRow("+1", 2.0, 1.0, 3.0)],
        width=41,
    )
    assert len(lines) == 4  # three rows and the axis
    body = [line.split(" ", 1)[1] for line in lines[:3]]
    zero = body[0].index("◆")
    assert body[1].index("┊") == zero == body[2].index("┊")  # the no-effect line is at 0 in every row
    assert body[1].index("●") < body[2].index("●")  # 1.0 left of 2.0
    assert body[1].index("─") < body[1].index("●") < body[1].rindex("─")  # the point inside its interval
    assert "-0.12" in lines[3] and "3.12" in lines[3]  # the axis ends (4% margins)


def test_a_band_is_drawn_around_the_reference_and_the_before_value_as_a_ring() -> None:
    (row, _axis) = forest([ForestRow("age", 0.02, second=0.4)], width=50, band=0.1)
    cells = row.split(" ", 1)[1]
    assert cells.count("·") == 2
    assert cells.index("·") < cells.index("●") < cells.index("○")


def test_scatter_places_extremes_in_the_corners_and_draws_the_cutoff() -> None:
    lines = scatter([([0.0, 10.0], [1.0, 5.0], "●")], width=11, height=5, vertical=5.0)
    grid = [line.split("┤", 1)[1] for line in lines[:5]]
    assert grid[4][0] == "●" and grid[0][10] == "●"
    assert all(row[5] == "│" for row in grid)
    assert lines[0].startswith("5") and lines[4].startswith("1")


def test_mirrored_histogram_scales_both_arms_to_the_tallest_bar() -> None:
    lines = mirrored_histogram([0, 0.5, 1], [8, 0], [4, 2], ("treated", "control"))
    assert lines[0].endswith("█ ") and lines[1].endswith("▄▂")


def test_plot_result_picks_the_chart_from_the_result() -> None:
    event_study = {
        "event_study": [
            {"relative_period": -1, "estimate": 0.0, "ci_lower": 0.0, "ci_upper": 0.0, "reference": True},
            {"relative_period": 0, "estimate": 1.0, "ci_lower": 0.5, "ci_upper": 1.5, "reference": False},
        ]
    }
    assert plot_result(event_study)[0].startswith("effect by period relative to adoption")
    propensity = {
        "score_histogram": {"bin_edges": [0, 0.5, 1], "treated": [1, 3], "control": [3, 1]},
        "balance": [{"term": "age", "smd_before": 0.5, "smd_weighted": 0.01, "smd_matched": None}],
    }
    drawn = plot_result(propensity)
    assert drawn[0].startswith("propensity scores by arm") and any("age" in line for line in drawn)
    rd = {
        "bins": {
            "cutoff": 0.0,
            "below": {"bin_centers": [-1.0], "bin_means": [1.0], "fit_x": [], "fit_y": []},
            "above": {"bin_centers": [1.0], "bin_means": [2.0], "fit_x": [], "fit_y": []},
        }
    }
    assert plot_result(rd)[0].startswith("outcome against the running variable")
    assert plot_result({"summary": "no plot"}) == []
