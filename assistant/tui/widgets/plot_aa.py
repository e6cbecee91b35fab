"""The aa_test card's text plot: the verdict, then per metric its p-value histogram as a row of blocks on a fixed
scale (a calibrated test's uniform spread reads ``▄`` in every bin), the false-positive rate with its interval and
the standard-error ratio, and, when rows repeat a unit, the same for the per-unit analysis (the fix).

Registered in :data:`assistant.tui.widgets.plot.DRAWERS`, which loads this module only when the card is drawn. Like
``plot.py``, it imports no pydantic or tools at run time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from assistant.tui.widgets.charts import BLOCKS

if TYPE_CHECKING:
    from tools.aa_test.models import AaTestResult, SimulatedMetric

__all__ = ["AA_CHARS", "AA_LINES", "LABEL", "aa_test_lines", "alpha_bins", "p_bars"]

#: The widest line of the card (the same 80x24 budget as synthetic control's: 41 columns with the side panel open).
AA_CHARS = 40
#: Most lines of the plot: the chat is 19 rows high at 80x24, so the plot and the card's title fit.
AA_LINES = 14
#: Columns of a histogram row's label (metric and status), before the blocks.
LABEL = 18
#: Where the bins at or below alpha end, in a histogram row.
ALPHA_MARK = "│"


def alpha_bins(bins: int, alpha: float) -> int:
    """How many of ``bins`` equal bins over [0, 1] hold p-values below ``alpha``: those left of the mark."""
    return max(1, min(bins, math.ceil(alpha * bins - 1e-9)))


def p_bars(counts: Sequence[int], alpha: float) -> str:
    """The histogram as one block per bin on a fixed scale, the bin's share of the uniform expectation: ``▄`` is
    the expectation (a calibrated test), ``█`` twice it or more, a space none; ``│`` after the bins below alpha.
    Empty when there are no p-values."""
    total = sum(counts)
    if not counts or total <= 0:
        return ""
    expected = total / len(counts)
    blocks = [BLOCKS[max(0, min(8, round(count / expected * 4)))] for count in counts]
    split = alpha_bins(len(counts), alpha)
    return "".join(blocks[:split]) + ALPHA_MARK + "".join(blocks[split:])


def _short(name: str, width: int) -> str:
    return name if len(name) <= width else name[: max(width - 1, 0)] + "…"


def _fpr_lines(metric: SimulatedMetric, indent: str) -> list[str]:
    """``FPR 8.5% [5.0%, 13.3%] · SE ratio 0.851`` on one line within :data:`AA_CHARS`, or on two when too wide."""
    fpr = metric.false_positive_rate
    rate = f"FPR {fpr.rate:.1%} [{fpr.ci_lower:.1%}, {fpr.ci_upper:.1%}]"
    ratio = f"SE ratio {metric.se_ratio:.3g}"
    line = f"{indent}{rate} · {ratio}"
    return [line] if len(line) <= AA_CHARS else [f"{indent}{rate}", f"{indent}{ratio}"]


def _block(metric: SimulatedMetric, name: str, alpha: float, indent: str) -> list[str]:
    """A histogram row, its label ``name: status`` (the name shortened, never the status), then the numbers."""
    status = f": {metric.status}"
    label = f"{indent}{_short(name, LABEL - len(indent) - len(status))}{status}"
    return [f"{label:<{LABEL}} {p_bars(metric.p_histogram, alpha)}".rstrip(), *_fpr_lines(metric, indent)]


def aa_test_lines(result: AaTestResult) -> list[str]:
    """The verdict and a legend, then per metric its histogram row and numbers (:func:`_block`), the per-unit
    analysis indented below it when there is one; as many metrics as fit in :data:`AA_LINES` lines, then how many
    more the details list. No lines when the result has no simulated metric."""
    metrics = result.simulated
    if not metrics:
        return []
    bins = max((len(m.p_histogram) for m in metrics), default=0)
    on_edge = bins > 0 and abs(result.alpha * bins - round(result.alpha * bins)) < 1e-9
    mark = f"{ALPHA_MARK} {'' if on_edge else '≈ '}alpha {result.alpha:g}"  # ≈: the bin edge above alpha
    lines = [f"A/A verdict: {result.verdict}", f"p-values 0 → 1: ▄ uniform, {mark}"]
    fixes = {fix.metric: fix for fix in result.by_unit}
    blocks = []
    for metric in metrics:
        block = _block(metric, metric.metric, result.alpha, "")
        fix = fixes.get(metric.metric)
        if fix is not None:
            block += _block(fix, f"per {fix.analysed_per or 'row'}", result.alpha, " ")
        blocks.append(block)
    shown = 0
    for index, block in enumerate(blocks):
        more = 1 if index + 1 < len(blocks) else 0  # the line that names the metrics left out
        if len(lines) + len(block) + more > AA_LINES and shown > 0:
            break
        lines += block
        shown += 1
    if shown < len(blocks):
        left_out = len(blocks) - shown
        lines.append(f"and {left_out} more metric{'s' if left_out > 1 else ''} (below)")
    return lines
