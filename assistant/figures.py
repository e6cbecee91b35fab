"""Figures of tool results as PNG files: the power curve, the event study, score overlap with the love plot,
and the RD plot. Drawn from a result's own fields (never recomputed); matplotlib loads only when a figure is
saved, so nothing else pays for it.

A result class names its figure (``ToolResult.figure``); :data:`FIGURES` holds a drawer for each name. A new tool
whose result declares a new figure adds its drawer here and in ``tui/widgets/plot.py`` (a test checks both).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.writing import check_new, write_new
from tools.errors import ToolError

if TYPE_CHECKING:
    from tools.did.models import DiffInDiffResult
    from tools.power.models import PowerResult
    from tools.propensity.models import PropensityResult
    from tools.rdd.models import RddResult
    from tools.results import ToolResult

__all__ = ["FIGURES", "Figure", "FigureError", "has_figure", "save_figure"]


class FigureError(ValueError):
    """The result has nothing to draw, or the file could not be written."""


@dataclass(frozen=True)
class Figure:
    """How one kind of figure is drawn: ``draw(figure, result)`` on a matplotlib figure, ``ready(result)`` when the
    result has data for it (a diff-in-diff without an event study has none), and the size in inches."""

    draw: Callable[[Any, Any], None]
    ready: Callable[[Any], bool]
    size: tuple[float, float] = (8, 4.8)


def has_figure(result: ToolResult) -> bool:
    """Whether :func:`save_figure` can draw this result: its class names a figure and the result has its data."""
    figure = _figure(result)
    return figure is not None and figure.ready(result)


def _figure(result: ToolResult) -> Figure | None:
    name = type(result).figure
    return FIGURES.get(name) if name is not None else None


def save_figure(result: ToolResult, path: str | os.PathLike[str], title: str | None = None) -> Path:
    """Draw ``result`` into a new PNG file at ``path``; a :class:`FigureError` says why when it cannot.

    The file is written by the one rule for files written for the user (:mod:`assistant.writing`): never over an
    existing file or through a symbolic link (a dangling one too), only in an existing folder, atomically. The
    path is checked before drawing, so a refused path costs no drawing."""
    figure = _figure(result)
    if figure is None or not figure.ready(result):
        raise FigureError("This result has no figure (power curves, event studies, overlap and RD plots do).")
    target = Path(path).expanduser()
    if target.suffix.lower() != ".png":
        raise FigureError(f"Figures are saved as PNG; give a file name ending in .png, not '{target.name}'.")
    try:
        check_new(target)
    except ToolError as error:
        raise FigureError(f"{error.message} {error.hint}") from None
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    canvas = plt.figure(figsize=figure.size, dpi=110)
    try:
        figure.draw(canvas, result)
        if title:
            canvas.suptitle(title)
        canvas.tight_layout()
        try:
            write_new(target, lambda handle: canvas.savefig(handle, format="png", metadata={"Software": "whyscope"}))
        except ToolError as error:
            raise FigureError(f"{error.message} {error.hint}") from None
    finally:
        plt.close(canvas)
    return target


def _power(figure: Any, result: PowerResult) -> None:
    axes = figure.add_subplot()
    ns = [p.n_per_arm for p in result.curve]
    if result.curve_kind == "mde_vs_n":
        axes.plot(ns, [abs(p.mde_absolute) for p in result.curve], color="C0")
        axes.set_ylabel("minimum detectable effect (absolute)")
    else:
        axes.plot(ns, [p.power for p in result.curve], color="C0")
        axes.set_ylim(0, 1)
        axes.set_ylabel("power")
    axes.set_xlabel("units per arm")
    axes.grid(alpha=0.3)
    axes.set_title("Power against sample size")


def _event_study(figure: Any, result: DiffInDiffResult) -> None:
    axes = figure.add_subplot()
    points = sorted(result.event_study, key=lambda p: p.relative_period)
    for point in points:
        color = "0.5" if point.relative_period < 0 else "C0"
        below, above = point.estimate - point.ci_lower, point.ci_upper - point.estimate
        axes.errorbar(
            [point.relative_period], [point.estimate], yerr=[[below], [above]], fmt="o", color=color, capsize=3
        )
    axes.axhline(0, color="black", linewidth=0.8)
    axes.axvline(-0.5, color="0.6", linestyle="--", linewidth=0.8)
    axes.set_xlabel("periods relative to adoption")
    axes.set_ylabel(f"effect on {result.outcome}")
    note = f" — pre-trend test p = {result.pretrend.p_value:.3g}" if result.pretrend is not None else ""
    axes.set_title(f"Event study ({result.estimator}){note}")
    axes.grid(alpha=0.3)


def _overlap(figure: Any, result: PropensityResult) -> None:
    overlap, balance = figure.subplots(1, 2)
    histogram = result.score_histogram
    edges = histogram.bin_edges
    centres = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
    widths = [b - a for a, b in itertools.pairwise(edges)]
    overlap.bar(centres, histogram.treated, width=widths, color="C1", alpha=0.8, label="treated")
    overlap.bar(centres, [-c for c in histogram.control], width=widths, color="C0", alpha=0.8, label="control")
    overlap.axhline(0, color="black", linewidth=0.8)
    overlap.set_xlabel("propensity score")
    overlap.set_ylabel("units (control below the axis)")
    overlap.set_title("Overlap of propensity scores")
    overlap.legend()
    rows = list(result.balance)[:30]
    positions = list(range(len(rows)))
    balance.scatter([abs(r.smd_before) for r in rows], positions, facecolors="none", edgecolors="C3", label="before")
    after = [r.smd_weighted if r.smd_weighted is not None else r.smd_matched for r in rows]
    shown = [(abs(a), i) for a, i in zip(after, positions, strict=True) if a is not None]
    if shown:
        balance.scatter([a for a, _ in shown], [i for _, i in shown], color="C2", label="after")
    balance.axvline(0.1, color="0.5", linestyle="--", linewidth=0.8)
    balance.set_yticks(positions, [r.term for r in rows])
    balance.invert_yaxis()
    balance.set_xlabel("|standardized mean difference|")
    balance.set_title("Covariate balance (love plot)")
    balance.legend()


def _rd_plot(figure: Any, result: RddResult) -> None:
    axes = figure.add_subplot()
    bins = result.bins
    for side, color in ((bins.below, "C0"), (bins.above, "C1")):
        if side.bin_centers:
            axes.scatter(side.bin_centers, side.bin_means, s=14, color=color)
        if side.fit_x:
            axes.plot(side.fit_x, side.fit_y, color=color, linewidth=2)
    axes.axvline(bins.cutoff, color="black", linestyle="--", linewidth=0.8)
    axes.set_xlabel(result.running)
    axes.set_ylabel(result.outcome)
    effect = result.effect
    note = f" — robust estimate {effect.estimate:.4g} [{effect.ci_lower:.4g}, {effect.ci_upper:.4g}]"
    axes.set_title(f"Regression discontinuity{note}")
    axes.grid(alpha=0.3)


#: The drawer of each figure a result class can declare (``ToolResult.figure``).
FIGURES: dict[str, Figure] = {
    "power_curve": Figure(_power, lambda result: bool(result.curve)),
    "event_study": Figure(_event_study, lambda result: bool(result.event_study)),
    "overlap": Figure(_overlap, lambda result: bool(result.score_histogram.bin_edges), size=(11, 4.8)),
    "rd_plot": Figure(_rd_plot, lambda result: bool(result.bins.below.bin_centers or result.bins.above.bin_centers)),
}
