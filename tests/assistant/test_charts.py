"""Text charts: markers land where their values say, on one scale per chart."""

from __future__ import annotations

from assistant.tui.widgets.charts import ForestRow, forest, mirrored_histogram, scatter
from assistant.tui.widgets.plot import plot_result
from tests.assistant.real_results import real_result


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


def test_plot_result_draws_the_figure_the_result_class_declares() -> None:
    assert plot_result(real_result("power"))[0] == "power against units per arm"
    event_study = plot_result(real_result("diff_in_diff"))
    assert event_study[0].startswith("effect by period relative to adoption") and any("◆" in x for x in event_study)
    drawn = plot_result(real_result("propensity"))
    assert drawn[0].startswith("propensity scores by arm") and any("tenure_months" in line for line in drawn)
    rd = plot_result(real_result("rdd"))
    assert rd[0].startswith("outcome against the running variable") and any("│" in line for line in rd)
    assert plot_result(real_result("recommend_method")) == []
    assert plot_result(real_result("diff_in_diff").model_copy(update={"event_study": []})) == []
