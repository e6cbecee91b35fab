"""Terminal plots of tool results, drawn with block and box characters (charts in charts.py).

A result class names its figure (``ToolResult.figure``); :data:`DRAWERS` holds a text drawer for each name (the PNG
drawers are in ``assistant/figures.py``). A drawer receives the typed result and returns no lines when the result
has no data for its figure (synthetic control says so in one line instead: its card has nothing else that stands for
the paths). This module imports no pydantic or tools at run time: the app's first frame needs it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from assistant.tui.widgets.charts import ForestRow, forest, mirrored_histogram, scatter

if TYPE_CHECKING:
    from tools.did.models import DiffInDiffResult
    from tools.power.models import PowerResult
    from tools.propensity.models import PropensityResult
    from tools.rdd.models import RddResult
    from tools.results import ToolResult
    from tools.synth.models import SyntheticControlResult

__all__ = ["DRAWERS", "plot_result", "sparkline"]

BLOCKS = " ▁▂▃▄▅▆▇█"

#: The widest line of the synthetic control plot: the card's text is 41 columns wide in an 80-column terminal with
#: the side panel open (71 with it folded), so the plot is shown whole there rather than wrapped.
TRAJECTORY_CHARS = 40
#: Columns and rows of its grid (narrower when long y labels would push a line past ``TRAJECTORY_CHARS``).
TRAJECTORY_WIDTH, TRAJECTORY_HEIGHT = 34, 10
#: What the synthetic control card shows when its result has no trajectory (its plot data were left out).
NO_TRAJECTORY = "synthetic control: no plot data in this result (no trajectory to draw)"


def sparkline(values: Sequence[float], low: float | None = None, high: float | None = None, width: int = 60) -> str:
    """Values squeezed into ``width`` block characters."""
    if not values:
        return ""
    step = max(1, len(values) // width)
    sampled = list(values[::step])[:width]
    lo = min(sampled) if low is None else low
    hi = max(sampled) if high is None else high
    span = hi - lo or 1.0
    return "".join(BLOCKS[max(0, min(8, round((v - lo) / span * 8)))] for v in sampled)


def plot_result(result: ToolResult) -> list[str]:
    """The text plot of the figure the result's class declares; empty when it declares none or has no data."""
    name = type(result).figure
    drawer = DRAWERS.get(name) if name is not None else None
    return drawer(result) if drawer is not None else []


def _power_curve(result: PowerResult) -> list[str]:
    curve = result.curve
    if not curve:
        return []
    ns = [p.n_per_arm for p in curve]
    if result.curve_kind == "mde_vs_n":
        label = "minimum detectable effect against units per arm"
        line = sparkline([abs(p.mde_absolute) for p in curve])
    else:
        label = "power against units per arm"
        line = sparkline([p.power for p in curve], 0.0, 1.0)
    return [label, line, f"{ns[0]:,} … {ns[-1]:,} units per arm"]


def _event_study(result: DiffInDiffResult) -> list[str]:
    if not result.event_study:
        return []
    rows = [
        ForestRow(
            label=f"{point.relative_period:+d}",
            estimate=point.estimate,
            lower=None if point.reference else point.ci_lower,
            upper=None if point.reference else point.ci_upper,
            marker="◆" if point.reference else "●",
        )
        for point in result.event_study
    ]
    title = "effect by period relative to adoption (● estimate, ─ interval, ◆ reference period, ┊ no effect)"
    return [title, *forest(rows)]


def _overlap(result: PropensityResult) -> list[str]:
    histogram = result.score_histogram
    if not histogram.bin_edges:
        return []
    lines = [
        "propensity scores by arm (overlap: both rows should cover the same range)",
        *mirrored_histogram(histogram.bin_edges, histogram.treated, histogram.control, ("treated", "control")),
    ]
    rows = []
    for row in result.balance:
        after = row.smd_weighted if row.smd_weighted is not None else row.smd_matched
        rows.append(
            ForestRow(
                label=row.term,
                estimate=after if after is not None else row.smd_before,
                second=row.smd_before if after is not None else None,
            )
        )
    if rows:
        lines += ["", "balance: standardized mean difference (○ before, ● after adjustment, · ±0.1)"]
        lines += forest(rows[:20], band=0.1)
    return lines


def _rd_plot(result: RddResult) -> list[str]:
    bins = result.bins
    series: list[tuple[list[float], list[float], str]] = [
        (list(side.fit_x), list(side.fit_y), "·") for side in (bins.below, bins.above) if side.fit_x
    ]
    series += [
        (list(side.bin_centers), list(side.bin_means), "●") for side in (bins.below, bins.above) if side.bin_centers
    ]
    lines = scatter(series, vertical=bins.cutoff)
    if not lines:
        return []
    return ["outcome against the running variable (● binned means, · fitted curve, │ cutoff)", *lines]


def _interpolate(values: Sequence[float], x: float) -> float:
    """``values`` (one per period 0, 1, 2, ...) read at the fractional period ``x``, on straight segments."""
    if len(values) == 1:
        return values[0]
    left = min(int(x), len(values) - 2)
    share = x - left
    return values[left] * (1 - share) + values[left + 1] * share


def _start_index(result: SyntheticControlResult) -> int | None:
    points = result.trajectory
    start = str(result.treatment_start)
    found = next((i for i, p in enumerate(points) if str(p.period) == start), None)
    return found if found is not None else next((i for i, p in enumerate(points) if p.post), None)


def _synthetic_control(result: SyntheticControlResult) -> list[str]:
    """The treated series (●) against its synthetic counterpart (·, a line read across every column) per period,
    with ``│`` at the first treated period and the periods named below; for the interrupted time series, the
    observed series against its projected pre-period trend."""
    points = result.trajectory
    if not points:
        return [NO_TRAJECTORY]
    last = max(len(points) - 1, 1)
    synthetic = [p.synthetic for p in points]
    start = _start_index(result)

    def draw(width: int) -> list[str]:
        xs = [last * column / (width - 1) for column in range(width)]
        series = [
            (xs, [_interpolate(synthetic, x) for x in xs], "·"),
            ([float(i) for i in range(len(points))], [p.observed for p in points], "●"),
        ]
        return scatter(series, width=width, height=TRAJECTORY_HEIGHT, vertical=None if start is None else start)

    lines = draw(TRAJECTORY_WIDTH)
    if not lines:
        return [NO_TRAJECTORY]
    left = lines[0].index("┤") + 1  # the y labels and the axis before the grid
    if left + TRAJECTORY_WIDTH > TRAJECTORY_CHARS:
        lines = draw(max(16, TRAJECTORY_CHARS - left))
        left = lines[0].index("┤") + 1
    grid = lines[:-1]
    width = len(grid[0]) - left
    axis = [" "] * width
    marks = Counter(
        column - left for line in grid for column, cell in enumerate(line) if cell == "│" and column >= left
    )
    periods = [str(points[0].period), str(points[-1].period)]
    placed = [(0, periods[0])]
    if len(periods[0]) < width - len(periods[1]):  # the last period too, when it does not run into the first
        placed.append((width - len(periods[1]), periods[1]))
    if start is not None and marks:
        column = marks.most_common(1)[0][0]
        label = str(points[start].period)
        if len(periods[0]) < column and column + len(label) < width - len(periods[1]):
            placed.append((column, label))  # the start's period under its line, when it fits between the ends
    for column, label in placed:
        axis[max(0, column) : max(0, column) + len(label)] = label
    its = result.estimator == "interrupted_time_series"
    title = "observed ● vs projected pre-trend ·" if its else "treated ● against synthetic ·"
    note = f"│ the change starts at {points[start].period}" if start is not None else "no period is marked treated"
    return [title, *grid, " " * left + "".join(axis)[:width], note]


#: The text drawer of each figure a result class can declare (``ToolResult.figure``).
DRAWERS: dict[str, Callable[[Any], list[str]]] = {
    "power_curve": _power_curve,
    "event_study": _event_study,
    "overlap": _overlap,
    "rd_plot": _rd_plot,
    "synthetic_control": _synthetic_control,
}
