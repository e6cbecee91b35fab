"""Terminal plots drawn with block characters: the power curve, and a generic x/y series for later tools."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
    """A plot for results that carry a curve (power today; event studies and RDD bins later)."""
    curve = result.get("curve")
    if not curve:
        return []
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
