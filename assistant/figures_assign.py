"""The assign figure as a PNG: a love plot of the assignment's balance, each covariate's standardised mean
difference against the control arm (one marker per arm beyond the control), the ±0.1 band shaded, and the omnibus
imbalance in the title. Drawn from the result's own fields; registered in :data:`assistant.figures.FIGURES`, which
loads this module only when the figure is drawn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assistant.figures import _literal, _shortened

if TYPE_CHECKING:
    from tools.assign.models import AssignResult

__all__ = ["SMD_BAND", "draw_assign_balance"]

#: Standardised mean differences within this band read as balanced (shaded).
SMD_BAND = 0.1


def draw_assign_balance(figure: Any, result: AssignResult) -> None:
    """One row per covariate (top to bottom in the result's order), one marker per treatment arm at its SMD."""
    axes = figure.add_subplot(1, 1, 1)
    covariates = list(dict.fromkeys(row.covariate for row in result.balance))
    positions = {name: len(covariates) - 1 - i for i, name in enumerate(covariates)}
    axes.axvspan(-SMD_BAND, SMD_BAND, color="C2", alpha=0.15, label=f"|SMD| < {SMD_BAND:g}")
    axes.axvline(0, color="0.4", linewidth=0.8)
    for index, arm in enumerate(result.arms[1:]):
        rows = [row for row in result.balance if row.arm == arm]
        axes.scatter(
            [row.smd for row in rows],
            [positions[row.covariate] for row in rows],
            color=f"C{index}",
            zorder=3,
            label=f"{_literal(_shortened(arm, 24))} vs {_literal(_shortened(result.arms[0], 24))}",
        )
    axes.set_yticks(list(positions.values()), [_literal(_shortened(name, 28)) for name in positions])
    axes.set_xlabel("standardized mean difference")
    title = f"Balance of the {result.method} assignment ({result.n_units:,} units)"
    if result.mahalanobis is not None and result.p_value is not None:
        draws = f", {result.draws:,} draws" if result.draws > 1 else ""
        title += f"\nMahalanobis {result.mahalanobis:.3g} (df {result.mahalanobis_df}), p = {result.p_value:.3g}{draws}"
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
