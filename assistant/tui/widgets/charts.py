"""Text charts for tool results: forest plots (event studies, balance), a scatter grid (RD plot) and mirrored
histograms (propensity overlap). Pure functions from numbers to lines; no Textual here, so they are tested
directly and reused wherever a result is shown as text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ForestRow", "forest", "mirrored_histogram", "scatter"]

BLOCKS = " ▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class ForestRow:
    """One row of a forest plot: a label, a point, and an interval (or none)."""

    label: str
    estimate: float
    lower: float | None = None
    upper: float | None = None
    marker: str = "●"
    second: float | None = None  # a second point on the row (e.g. balance before adjustment), drawn as ○


def _finite(*values: float | None) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def forest(rows: Sequence[ForestRow], width: int = 48, reference: float = 0.0, band: float | None = None) -> list[str]:
    """Each row's interval as ``─``, its point as a marker, the ``reference`` value as ``┊``; ``band`` draws
    ``·`` at ±band around the reference (e.g. the |SMD| < 0.1 balance band)."""
    if not rows:
        return []
    values = _finite(reference)
    if band is not None:
        values += _finite(reference - band, reference + band)
    for row in rows:
        values += _finite(row.estimate, row.lower, row.upper, row.second)
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    low, high = low - 0.04 * span, high + 0.04 * span

    def at(value: float) -> int:
        return max(0, min(width - 1, round((value - low) / (high - low) * (width - 1))))

    label_width = min(24, max(len(row.label) for row in rows))
    lines = []
    for row in rows:
        cells = [" "] * width
        if band is not None:
            for edge in (reference - band, reference + band):
                cells[at(edge)] = "·"
        cells[at(reference)] = "┊"
        if row.lower is not None and row.upper is not None and _finite(row.lower, row.upper):
            for i in range(at(row.lower), at(row.upper) + 1):
                cells[i] = "─"
        if row.second is not None and math.isfinite(row.second):
            cells[at(row.second)] = "○"
        if math.isfinite(row.estimate):
            cells[at(row.estimate)] = row.marker
        lines.append(f"{row.label[:label_width]:>{label_width}} {''.join(cells)}")
    axis = f"{'':>{label_width}} {_fmt(low):<{width // 2}}{_fmt(high):>{width - width // 2}}"
    return [*lines, axis]


def scatter(
    series: Sequence[tuple[Sequence[float], Sequence[float], str]],
    width: int = 60,
    height: int = 14,
    vertical: float | None = None,
) -> list[str]:
    """Points of each ``(xs, ys, marker)`` series on one grid (later series drawn over earlier ones), with an
    optional vertical line at ``vertical`` (the cutoff)."""
    xs_all = [x for xs, _, _ in series for x in xs if math.isfinite(x)]
    ys_all = [y for _, ys, _ in series for y in ys if math.isfinite(y)]
    if not xs_all or not ys_all:
        return []
    x_low, x_high = min(xs_all + _finite(vertical)), max(xs_all + _finite(vertical))
    y_low, y_high = min(ys_all), max(ys_all)
    x_span, y_span = (x_high - x_low) or 1.0, (y_high - y_low) or 1.0
    grid = [[" "] * width for _ in range(height)]

    def col(x: float) -> int:
        return max(0, min(width - 1, round((x - x_low) / x_span * (width - 1))))

    def row(y: float) -> int:
        return max(0, min(height - 1, height - 1 - round((y - y_low) / y_span * (height - 1))))

    if vertical is not None and math.isfinite(vertical):
        for r in range(height):
            grid[r][col(vertical)] = "│"
    for xs, ys, marker in series:
        for x, y in zip(xs, ys, strict=False):
            if math.isfinite(x) and math.isfinite(y):
                grid[row(y)][col(x)] = marker
    label = max(len(_fmt(y_high)), len(_fmt(y_low)))
    lines = []
    for r, cells in enumerate(grid):
        tick = _fmt(y_high) if r == 0 else _fmt(y_low) if r == height - 1 else ""
        lines.append(f"{tick:>{label}} ┤{''.join(cells)}")
    lines.append(f"{'':>{label}}  {_fmt(x_low):<{width // 2}}{_fmt(x_high):>{width - width // 2}}")
    return lines


def mirrored_histogram(
    edges: Sequence[float], upper: Sequence[float], lower: Sequence[float], labels: tuple[str, str]
) -> list[str]:
    """Two histograms over the same bins as block rows: ``upper`` above the axis, ``lower`` below it."""
    if not upper or len(upper) != len(lower):
        return []
    top = max(max(upper), max(lower)) or 1.0
    width = max(len(labels[0]), len(labels[1]))
    up = "".join(BLOCKS[min(8, math.ceil(v / top * 8))] for v in upper)
    down = "".join(BLOCKS[min(8, math.ceil(v / top * 8))] for v in lower)
    axis = f"{_fmt(edges[0])} … {_fmt(edges[-1])}" if len(edges) >= 2 else ""
    return [f"{labels[0]:>{width}} {up}", f"{labels[1]:>{width}} {down}", f"{'':>{width}} {axis}"]


def _fmt(value: float) -> str:
    if value == 0 or 1e-3 <= abs(value) < 1e6:
        return f"{value:.3g}"
    return f"{value:.2e}"
