"""The assign card's text plot: the arms' sizes, then the balance of the assignment as a forest of standardised mean
differences against the control arm (the ±0.1 band is the usual reading of "balanced"), and the omnibus imbalance.

Registered in :data:`assistant.tui.widgets.plot.DRAWERS`, which loads this module only when the card is drawn. Like
``plot.py``, it imports no pydantic or tools at run time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.tui.widgets.charts import ForestRow, forest

if TYPE_CHECKING:
    from tools.assign.models import AssignResult

__all__ = ["BALANCE_ROWS", "SMD_BAND", "assign_lines"]

#: Most covariate rows the card draws (the result lists them all).
BALANCE_ROWS = 12
#: Standardised mean differences within this band read as balanced.
SMD_BAND = 0.1


def assign_lines(result: AssignResult) -> list[str]:
    """The arms' counts, the balance forest (one row per covariate, per arm when there are more than two arms) and
    the omnibus distance with its p-value and the draws it took; no balance rows: the counts only."""
    counts = " · ".join(f"{arm.arm} {arm.n_units:,}" for arm in result.arm_counts)
    lines = [f"{result.method} assignment: {counts}"]
    rows = [
        ForestRow(label=f"{row.covariate} ({row.arm})" if len(result.arms) > 2 else row.covariate, estimate=row.smd)
        for row in result.balance
    ]
    if not rows:
        return lines
    lines.append(f"balance: standardized mean difference vs {result.arms[0]} (band ±{SMD_BAND:g})")
    lines += forest(rows[:BALANCE_ROWS], band=SMD_BAND)
    if len(rows) > BALANCE_ROWS:
        lines.append(f"… and {len(rows) - BALANCE_ROWS} more rows in the result")
    if result.mahalanobis is not None and result.p_value is not None:
        draws = f" after {result.draws:,} draws" if result.draws > 1 else ""
        lines.append(
            f"imbalance M = {result.mahalanobis:.3g} (df {result.mahalanobis_df}), p = {result.p_value:.3g}{draws}"
        )
    return lines
