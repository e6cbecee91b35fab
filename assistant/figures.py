"""Figures of tool results as PNG files: the power curve, the event study, score overlap with the love plot,
and the RD plot. Drawn from a result's own fields (never recomputed); matplotlib loads only when a figure is
saved, so nothing else pays for it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["FigureError", "has_figure", "save_figure"]


class FigureError(ValueError):
    """The result has nothing to draw, or the file could not be written."""


def has_figure(result: Mapping[str, Any]) -> bool:
    """Whether :func:`save_figure` can draw this result."""
    return _kind(result) is not None


def _kind(result: Mapping[str, Any]) -> str | None:
    if result.get("curve"):
        return "power"
    if result.get("event_study"):
        return "event_study"
    if result.get("score_histogram"):
        return "propensity"
    if isinstance(result.get("bins"), Mapping) and (result["bins"].get("below") or result["bins"].get("above")):
        return "rdd"
    return None


def save_figure(result: Mapping[str, Any], path: str | os.PathLike[str], title: str | None = None) -> Path:
    """Draw ``result`` into a PNG at ``path``; a :class:`FigureError` says why when it cannot."""
    kind = _kind(result)
    if kind is None:
        raise FigureError("This result has no figure (power curves, event studies, overlap and RD plots do).")
    target = Path(path).expanduser()
    if target.suffix.lower() != ".png":
        raise FigureError(f"Figures are saved as PNG; give a file name ending in .png, not '{target.name}'.")
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    draw = {"power": _power, "event_study": _event_study, "propensity": _propensity, "rdd": _rdd}[kind]
    figure = plt.figure(figsize=(8, 4.8) if kind != "propensity" else (11, 4.8), dpi=110)
    try:
        draw(figure, result)
        if title:
            figure.suptitle(title)
        figure.tight_layout()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            figure.savefig(target, format="png", metadata={"Software": "whyscope"})
        except OSError as exc:
            raise FigureError(f"Could not write '{target}': {exc.strerror or exc}.") from None
    finally:
        plt.close(figure)
    return target


def _power(figure: Any, result: Mapping[str, Any]) -> None:
    axes = figure.add_subplot()
    curve = result["curve"]
    ns = [p["n_per_arm"] for p in curve]
    if result.get("curve_kind") == "mde_vs_n":
        axes.plot(ns, [abs(p["mde_absolute"]) for p in curve], color="C0")
        axes.set_ylabel("minimum detectable effect (absolute)")
    else:
        axes.plot(ns, [p["power"] for p in curve], color="C0")
        axes.set_ylim(0, 1)
        axes.set_ylabel("power")
    axes.set_xlabel("units per arm")
    axes.grid(alpha=0.3)
    axes.set_title("Power against sample size")


def _event_study(figure: Any, result: Mapping[str, Any]) -> None:
    axes = figure.add_subplot()
    points = sorted(result["event_study"], key=lambda p: p["relative_period"])
    x = [p["relative_period"] for p in points]
    y = [p["estimate"] for p in points]
    low = [p["estimate"] - p["ci_lower"] for p in points]
    high = [p["ci_upper"] - p["estimate"] for p in points]
    colors = ["0.5" if p["relative_period"] < 0 else "C0" for p in points]
    for xi, yi, lo, hi, color in zip(x, y, low, high, colors, strict=True):
        axes.errorbar([xi], [yi], yerr=[[lo], [hi]], fmt="o", color=color, capsize=3)
    axes.axhline(0, color="black", linewidth=0.8)
    axes.axvline(-0.5, color="0.6", linestyle="--", linewidth=0.8)
    axes.set_xlabel("periods relative to adoption")
    axes.set_ylabel(f"effect on {result.get('outcome', 'the outcome')}")
    pretrend = result.get("pretrend")
    note = f" — pre-trend test p = {pretrend['p_value']:.3g}" if isinstance(pretrend, Mapping) else ""
    axes.set_title(f"Event study ({result.get('estimator', '')}){note}")
    axes.grid(alpha=0.3)


def _propensity(figure: Any, result: Mapping[str, Any]) -> None:
    overlap, balance = figure.subplots(1, 2)
    histogram = result["score_histogram"]
    edges = histogram["bin_edges"]
    centres = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
    widths = [b - a for a, b in itertools.pairwise(edges)]
    overlap.bar(centres, histogram["treated"], width=widths, color="C1", alpha=0.8, label="treated")
    overlap.bar(centres, [-c for c in histogram["control"]], width=widths, color="C0", alpha=0.8, label="control")
    overlap.axhline(0, color="black", linewidth=0.8)
    overlap.set_xlabel("propensity score")
    overlap.set_ylabel("units (control below the axis)")
    overlap.set_title("Overlap of propensity scores")
    overlap.legend()
    rows = list(result.get("balance") or [])[:30]
    terms = [str(r["term"]) for r in rows]
    positions = list(range(len(rows)))
    balance.scatter([abs(r["smd_before"]) for r in rows], positions, facecolors="none", edgecolors="C3", label="before")
    after = [r.get("smd_weighted") if r.get("smd_weighted") is not None else r.get("smd_matched") for r in rows]
    shown = [(abs(a), i) for a, i in zip(after, positions, strict=True) if a is not None]
    if shown:
        balance.scatter([a for a, _ in shown], [i for _, i in shown], color="C2", label="after")
    balance.axvline(0.1, color="0.5", linestyle="--", linewidth=0.8)
    balance.set_yticks(positions, terms)
    balance.invert_yaxis()
    balance.set_xlabel("|standardized mean difference|")
    balance.set_title("Covariate balance (love plot)")
    balance.legend()


def _rdd(figure: Any, result: Mapping[str, Any]) -> None:
    axes = figure.add_subplot()
    bins = result["bins"]
    for side, color in (("below", "C0"), ("above", "C1")):
        points = bins.get(side) or {}
        if points.get("bin_centers"):
            axes.scatter(points["bin_centers"], points["bin_means"], s=14, color=color)
        if points.get("fit_x"):
            axes.plot(points["fit_x"], points["fit_y"], color=color, linewidth=2)
    cutoff = bins.get("cutoff", result.get("cutoff"))
    if isinstance(cutoff, int | float):
        axes.axvline(cutoff, color="black", linestyle="--", linewidth=0.8)
    axes.set_xlabel(str(result.get("running", "running variable")))
    axes.set_ylabel(str(result.get("outcome", "outcome")))
    robust = result.get("robust")
    note = ""
    if isinstance(robust, Mapping):
        note = f" — robust estimate {robust['estimate']:.4g} [{robust['ci_lower']:.4g}, {robust['ci_upper']:.4g}]"
    axes.set_title(f"Regression discontinuity{note}")
    axes.grid(alpha=0.3)
