"""Terminal plots of tool results, drawn with block and box characters (charts in charts.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assistant.tui.widgets.charts import ForestRow, forest, mirrored_histogram, scatter

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


def plot_result(result: dict[str, Any]) -> list[str]:
    """The plot for a tool result, chosen by what it carries: a power curve, an event study (DiD), score
    overlap and balance (propensity), binned means around a cutoff (RDD). Empty when there is nothing to draw."""
    if result.get("curve"):
        return _power_curve(result)
    if result.get("event_study"):
        return _event_study(result)
    if result.get("score_histogram"):
        return _propensity(result)
    if isinstance(result.get("bins"), dict):
        return _rd_plot(result["bins"])
    return []


def _power_curve(result: dict[str, Any]) -> list[str]:
    curve = result["curve"]
    ns = [p["n_per_arm"] for p in curve]
    if result.get("curve_kind") == "mde_vs_n":
        values = [abs(p["mde_absolute"]) for p in curve]
        label = "minimum detectable effect against units per arm"
        line = sparkline(values)
    else:
        values = [p["power"] for p in curve]
        label = "power against units per arm"
        line = sparkline(values, 0.0, 1.0)
    return [label, line, f"{ns[0]:,} … {ns[-1]:,} units per arm"]


def _event_study(result: dict[str, Any]) -> list[str]:
    rows = [
        ForestRow(
            label=f"{point['relative_period']:+d}",
            estimate=point["estimate"],
            lower=None if point.get("reference") else point["ci_lower"],
            upper=None if point.get("reference") else point["ci_upper"],
            marker="◆" if point.get("reference") else "●",
        )
        for point in result["event_study"]
    ]
    title = "effect by period relative to adoption (● estimate, ─ interval, ◆ reference period, ┊ no effect)"
    return [title, *forest(rows)]


def _propensity(result: dict[str, Any]) -> list[str]:
    histogram = result["score_histogram"]
    lines = [
        "propensity scores by arm (overlap: both rows should cover the same range)",
        *mirrored_histogram(histogram["bin_edges"], histogram["treated"], histogram["control"], ("treated", "control")),
    ]
    rows = []
    for row in result.get("balance") or []:
        after = row.get("smd_weighted")
        if after is None:
            after = row.get("smd_matched")
        rows.append(
            ForestRow(
                label=str(row["term"]),
                estimate=after if after is not None else row["smd_before"],
                second=row["smd_before"] if after is not None else None,
            )
        )
    if rows:
        lines += ["", "balance: standardized mean difference (○ before, ● after adjustment, · ±0.1)"]
        lines += forest(rows[:20], band=0.1)
    return lines


def _rd_plot(bins: dict[str, Any]) -> list[str]:
    series: list[tuple[list[float], list[float], str]] = []
    for side in ("below", "above"):
        points = bins.get(side) or {}
        if points.get("fit_x"):
            series.append((list(points["fit_x"]), list(points["fit_y"]), "·"))
    for side in ("below", "above"):
        points = bins.get(side) or {}
        if points.get("bin_centers"):
            series.append((list(points["bin_centers"]), list(points["bin_means"]), "●"))
    cutoff = bins.get("cutoff")
    lines = scatter(series, vertical=cutoff if isinstance(cutoff, int | float) else None)
    if not lines:
        return []
    return ["outcome against the running variable (● binned means, · fitted curve, │ cutoff)", *lines]
