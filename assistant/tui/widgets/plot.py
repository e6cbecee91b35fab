"""Terminal plots of tool results, drawn with block and box characters (charts in charts.py).

A result class names its figure (``ToolResult.figure``); :data:`DRAWERS` holds a text drawer for each name (the PNG
drawers are in ``assistant/figures.py``). A drawer receives the typed result and returns no lines when the result
has no data for its figure. This module imports no pydantic or tools at run time: the app's first frame needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from assistant.tui.widgets.charts import ForestRow, forest, mirrored_histogram, scatter

if TYPE_CHECKING:
    from tools.did.models import DiffInDiffResult
    from tools.power.models import PowerResult
    from tools.propensity.models import PropensityResult
    from tools.rdd.models import RddResult
    from tools.results import ToolResult

__all__ = ["DRAWERS", "plot_result", "sparkline"]

BLOCKS = " ▁▂▃▄▅▆▇█"


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


#: The text drawer of each figure a result class can declare (``ToolResult.figure``).
DRAWERS: dict[str, Callable[[Any], list[str]]] = {
    "power_curve": _power_curve,
    "event_study": _event_study,
    "overlap": _overlap,
    "rd_plot": _rd_plot,
}
