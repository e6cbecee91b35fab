"""The aa_test figure as a PNG: per metric, the histogram of the p-values of many random A/A splits against the
uniform distribution a calibrated test gives, the rejection region (p < alpha) shaded and its bars outlined; beside
each bar, when rows repeat a unit, the same metric analysed per unit (the fix). Drawn from the result's own fields;
registered in :data:`assistant.figures.FIGURES`, which loads this module only when the figure is drawn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assistant.figures import _literal, _shortened

if TYPE_CHECKING:
    from tools.aa_test.models import AaTestResult, SimulatedMetric

__all__ = ["AA_PANELS", "aa_figure_size", "draw_aa_test", "fpr_text"]

#: Most metrics the figure draws (one panel each); the rest are named in the caption.
AA_PANELS = 4
#: The colours of the analysis as requested and of the per-unit analysis (the fix).
AS_ANALYSED, PER_UNIT = "C0", "C2"
#: The shade of the rejection region, p < alpha: a false positive in an A/A split.
REJECTION = "C3"


def aa_figure_size(panels: int) -> tuple[float, float]:
    """The figure's size in inches for ``panels`` panels: one alone, two side by side, three or four in a 2x2 grid."""
    if panels <= 1:
        return (7.5, 4.8)
    if panels == 2:
        return (11.0, 4.8)
    return (11.0, 8.6)


def fpr_text(metric: SimulatedMetric) -> str:
    """The false-positive rate with its exact interval and the standard-error ratio, as the figure and the card
    write them: ``FPR 8.5% [5.0%, 13.3%] · SE ratio 0.851``."""
    fpr = metric.false_positive_rate
    return f"FPR {fpr.rate:.1%} [{fpr.ci_lower:.1%}, {fpr.ci_upper:.1%}] · SE ratio {metric.se_ratio:.3g}"


def _per(metric: SimulatedMetric) -> str:
    """What the analysis counts as a unit, in words: ``per row`` or ``per user_id``."""
    return "per row" if metric.analysed_per is None else f"per {_literal(_shortened(metric.analysed_per, 24))}"


def _densities(counts: list[int]) -> list[float]:
    """The histogram's counts as a density over [0, 1] (a uniform spread of p-values gives 1 in every bin)."""
    total = sum(counts)
    return [c * len(counts) / total if total else 0.0 for c in counts]


def _panel(axes: Any, metric: SimulatedMetric, fix: SimulatedMetric | None, alpha: float) -> None:
    """One metric: its p-value histogram (and the per-unit one beside each bar), the uniform line at 1 and the
    rejection region shaded; the title gives the metric, its status and each analysis's rate and SE ratio."""
    axes.axvspan(0, alpha, color=REJECTION, alpha=0.22, gid="alpha", label=f"p < alpha {alpha:g}: a false positive")
    series = [(metric, AS_ANALYSED, f"{_per(metric)} (as analysed)")]
    if fix is not None:
        series.append((fix, PER_UNIT, f"{_per(fix)} (the fix)"))
    share = 0.9 / len(series)
    tallest = 1.0
    for index, (analysed, colour, label) in enumerate(series):
        counts = analysed.p_histogram
        if not counts:
            continue
        width = 1 / len(counts)
        lefts = [i * width + (0.05 + index * share) * width for i in range(len(counts))]
        densities = _densities(counts)
        tallest = max(tallest, *densities)
        rejecting = [i * width < alpha for i in range(len(counts))]  # the bins holding p < alpha: outlined
        for outlined, tag in ((False, label), (True, f"_{label}: p < alpha")):
            picked = [i for i in range(len(counts)) if rejecting[i] == outlined]
            axes.bar(
                [lefts[i] for i in picked],
                [densities[i] for i in picked],
                width=share * width,
                align="edge",
                color=colour,
                edgecolor=REJECTION,
                linewidth=1.2 if outlined else 0,
                label=tag,
            )
    axes.axhline(1, color="black", linestyle="--", linewidth=1, gid="uniform", label="uniform (a calibrated test)")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, tallest * 1.45)  # room for the legend above the bars
    axes.set_xlabel("p-value of a random A/A split")
    axes.set_ylabel("density (1 = uniform)")
    name = _literal(_shortened(metric.metric))
    title = [f"{name}: {metric.status}", (f"{_per(metric)}: " if fix is not None else "") + fpr_text(metric)]
    if fix is not None:
        title.append(f"{_per(fix)}: {fpr_text(fix)}")
    axes.set_title("\n".join(title), fontsize=9)
    axes.legend(fontsize=7, loc="upper right")
    axes.grid(alpha=0.3, axis="y")


def draw_aa_test(figure: Any, result: AaTestResult) -> None:
    """Up to :data:`AA_PANELS` metrics, one panel each (:func:`_panel`), the figure sized for their number; below
    them the verdict, the splits and alpha, and how many metrics were left out. No suptitle: the caller's title
    goes there."""
    metrics = result.simulated[:AA_PANELS]
    if not metrics:  # has_figure is checked first; a direct call on a result without metrics draws nothing
        return
    fixes = {fix.metric: fix for fix in result.by_unit}
    figure.set_size_inches(*aa_figure_size(len(metrics)))
    columns = 1 if len(metrics) == 1 else 2
    rows = 1 if len(metrics) <= 2 else 2
    grid = figure.subplots(rows, columns, squeeze=False)
    panels = [axes for row in grid for axes in row]
    for axes, metric in zip(panels, metrics, strict=False):
        _panel(axes, metric, fixes.get(metric.metric), result.alpha)
    for axes in panels[len(metrics) :]:
        axes.set_visible(False)
    left_out = len(result.simulated) - len(metrics)
    caption = f"A/A verdict: {result.verdict} ({result.simulations:,} random splits, alpha {result.alpha:g})"
    if left_out:
        caption += f"; {left_out} more metric{'s' if left_out > 1 else ''} not drawn"
    figure.supxlabel(caption, fontsize=10)
