"""The built-in demo: a worked power calculation, printed without an LLM, an API key or data.

It calls the ``power`` tool through the registry exactly as the conversation does, so every number it
prints comes from the tool's result.
"""

from __future__ import annotations

import textwrap
from typing import TextIO

__all__ = ["DEMO_REQUEST", "render_curve", "run_demo"]

#: A checkout experiment a product team might scope: 4.2% conversion, a 5% relative lift is worth shipping.
DEMO_REQUEST: dict[str, object] = {
    "metric": "proportion",
    "baseline": 0.042,
    "solve_for": "sample_size",
    "mde": 0.05,
    "mde_kind": "relative",
    "power": 0.8,
    "alpha": 0.05,
    "alternative": "two-sided",
    "daily_units": 12000,
}


def run_demo(out: TextIO) -> int:
    from tools.errors import ToolError
    from tools.power import PowerResult
    from tools.registry import dispatch

    result = dispatch("power", DEMO_REQUEST)
    if isinstance(result, ToolError):  # pragma: no cover - the demo request is valid by construction
        out.write(f"error: {result.message} {result.hint}\n")
        return 1
    assert isinstance(result, PowerResult)
    lines = [
        "whyscope demo: how many users does a checkout experiment need?",
        "",
        "  Scenario: checkout converts 4.2% of visitors; a 5% relative lift would justify shipping;",
        "  12,000 eligible visitors a day, split 50/50; two-sided test at alpha 0.05, 80% power.",
        "",
        *textwrap.wrap(result.summary, width=100, initial_indent="  ", subsequent_indent="  "),
        "",
        f"  control            {result.n_per_arm:>12,}",
        f"  treatment          {result.n_treatment:>12,}",
        f"  total              {result.n_total:>12,}",
        f"  duration (days)    {result.duration_days:>12,}",
        f"  achieved power     {result.power:>12.1%}",
        f"  effect (absolute)  {result.mde_absolute:>+12.5f}",
        "",
        "  Power against users per arm:",
        *render_curve(result),
        "",
        *textwrap.wrap(f"Method: {result.method}", width=100, initial_indent="  ", subsequent_indent="    "),
        *[line for text in result.warnings for line in textwrap.wrap(f"Warning: {text}", 100, initial_indent="  ")],
        "",
        "  Try your own numbers:",
        '    whyscope tool run power --json \'{"metric": "mean", "baseline": 25, "std_dev": 40, '
        '"mde": 0.03, "mde_kind": "relative"}\'',
        "    whyscope tool list      # every statistics tool",
        "",
    ]
    out.write("\n".join(lines))
    return 0


def render_curve(result: object, width: int = 50, height: int = 8) -> list[str]:
    """A small text plot of a power-vs-n curve: one column per bucket of points, '#' up to the power."""
    from tools.power import PowerResult

    assert isinstance(result, PowerResult)
    points = result.curve
    step = max(1, len(points) // width)
    sampled = points[::step][:width]
    rows = []
    for level in range(height, 0, -1):
        # a row is filled where power reaches the middle of its band, so 100% shows once power passes 94%
        bar = "".join("#" if p.power >= (level - 0.5) / height else " " for p in sampled)
        rows.append(f"  {level / height:>5.0%} |{bar}")
    rows.append("        +" + "-" * len(sampled))
    first, last = sampled[0].n_per_arm, sampled[-1].n_per_arm
    rows.append(f"         {first:,}{' ' * max(1, len(sampled) - len(f'{first:,}') - len(f'{last:,}'))}{last:,}")
    return rows
