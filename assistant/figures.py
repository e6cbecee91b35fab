"""Figures of tool results as PNG files: the power curve (a group-sequential design's boundaries beside it), the
event study, score overlap with the love plot, the RD plot, synthetic control's paths with the placebo gap plot,
instrumental variables' first stage beside its reduced form (the Wald picture for a two-valued instrument), the
heterogeneity tool's effects by fifth of predicted effect (GATES) beside its Qini curve, and the A/A test's p-value
histograms (drawn in ``figures_aa.py``). Drawn from a result's own fields (never recomputed); matplotlib loads only
when a figure is saved, so nothing else pays for it.

A result class names its figure (``ToolResult.figure``); :data:`FIGURES` holds a drawer for each name. A new tool
whose result declares a new figure adds its drawer here and in ``tui/widgets/plot.py`` (a test checks both).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.writing import check_new, write_new
from tools.errors import ToolError

if TYPE_CHECKING:
    from tools.aa_test.models import AaTestResult
    from tools.assign.models import AssignResult
    from tools.did.models import DiffInDiffResult
    from tools.heterogeneity.models import HeterogeneityResult
    from tools.iv.models import InstrumentalVariablesResult
    from tools.power.models import PowerResult, PowerSequential
    from tools.propensity.models import PropensityResult
    from tools.rdd.models import RddResult
    from tools.results import ToolResult
    from tools.synth.models import SyntheticControlResult

__all__ = [
    "FIGURES",
    "PLACEBO_LINES",
    "PLACEBO_MSPE_RATIO",
    "Figure",
    "FigureError",
    "has_figure",
    "placebo_paths",
    "save_figure",
]

#: Most placebo gap paths the gap plot draws: the best pre-period fits, which the result lists first.
PLACEBO_LINES = 100
#: The gap plot leaves out a placebo whose pre-period MSPE is more than this many times the treated unit's: a donor
#: the method could not reproduce before the change says nothing about the effect after it (Abadie, Diamond &
#: Hainmueller 2010, Figure 6, the loosest of their cut-offs).
PLACEBO_MSPE_RATIO = 20.0
#: The colour of the placebo gap paths (a light grey, under the treated unit's bold black path).
PLACEBO_GREY = "0.78"
#: The size of the power figure of a group-sequential design (the curve beside the boundaries), in inches.
SEQUENTIAL_SIZE = (11.0, 4.8)
#: Most looks the boundary panel annotates with their units and nominal p (more would overlap).
ANNOTATED_LOOKS = 6


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
    if figure is None:
        raise FigureError(
            "This result has no figure (power curves, event studies, overlap, RD, synthetic control, "
            "instrumental variables, heterogeneity, A/A p-value and assignment balance plots do)."
        )
    if not figure.ready(result):
        raise FigureError(
            f"This result has no figure: it carries no plot data for its {type(result).figure} figure "
            "(run the tool again to draw it)."
        )
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
    """The power curve (or the detectable effect against size); a group-sequential design adds its boundaries
    beside it (:func:`_boundaries`), the curve then plotted against the maximum size."""
    sequential = result.sequential
    if sequential is None:
        axes = figure.add_subplot()
    else:
        figure.set_size_inches(*SEQUENTIAL_SIZE)
        axes, bounds = figure.subplots(1, 2)
    ns = [p.n_per_arm for p in result.curve]
    if result.curve_kind == "mde_vs_n":
        axes.plot(ns, [abs(p.mde_absolute) for p in result.curve], color="C0")
        axes.set_ylabel("minimum detectable effect (absolute)")
    else:
        axes.plot(ns, [p.power for p in result.curve], color="C0")
        axes.set_ylim(0, 1)
        axes.set_ylabel("power")
    from assistant.tui.widgets.plot import curve_units

    axes.set_xlabel(curve_units(result))
    axes.grid(alpha=0.3)
    axes.set_title("Power against sample size" if result.quasi is None else "Power against size (closed form)")
    if sequential is not None:
        axes.set_xlabel("maximum units per arm (control), if no look stops the test")
        axes.set_title(f"Power against sample size, {sequential.looks} looks")
        value = abs(result.mde_absolute) if result.curve_kind == "mde_vs_n" else result.power
        axes.plot(
            [result.n_per_arm],
            [value],
            marker="o",
            color="C3",
            linestyle="none",
            gid="design",
            label=f"this design: at most {result.n_per_arm:,} per arm",
        )
        axes.legend(fontsize=8, loc="upper right" if result.curve_kind == "mde_vs_n" else "lower right")
        _boundaries(bounds, result, sequential)


def annotated_looks(looks: int) -> list[int]:
    """The looks (0-based) the boundary panel annotates: every one up to :data:`ANNOTATED_LOOKS`, else that many
    spread evenly, the first and the last among them (the card's table lists them all)."""
    if looks <= ANNOTATED_LOOKS:
        return list(range(looks))
    return sorted({round(i * (looks - 1) / (ANNOTATED_LOOKS - 1)) for i in range(ANNOTATED_LOOKS)})


def _boundaries(axes: Any, result: PowerResult, sequential: PowerSequential) -> None:
    """The efficacy boundary on the z scale at each look against its information fraction (two-sided: above and
    below zero), markers joined by thin lines over the shaded region where the test continues; the fixed-horizon
    critical value dashed; the looks annotated with their units in total and nominal p. A one-sided test of a
    decrease draws its boundary below zero, where it stops."""
    from assistant.tui.widgets.plot import SPENDING, fixed_critical_value

    looks = sequential.boundaries
    xs = [look.information_fraction for look in looks]
    z = [look.z_boundary for look in looks]
    two_sided = result.alternative == "two-sided"
    sign = -1.0 if result.alternative == "smaller" else 1.0
    edge = [sign * value for value in z]
    fixed = fixed_critical_value(result)
    top = 1.3 * max(*z, fixed) + 0.8
    low, high = (-top, top) if two_sided else ((-1.0, top) if sign > 0 else (-top, 1.0))
    label = "boundaries" if two_sided else "boundary"
    axes.plot(xs, edge, color="C3", marker="o", linewidth=1, gid="boundary", label=f"{label} (stop: effect found)")
    axes.axhline(
        sign * fixed,
        color="0.35",
        linestyle="--",
        linewidth=1,
        gid="fixed",
        label=f"fixed-horizon ±{fixed:.3f}" if two_sided else f"fixed-horizon {sign * fixed:.3f}",
    )
    if two_sided:
        mirror = [-value for value in z]
        axes.plot(xs, mirror, color="C3", marker="o", linewidth=1, gid="lower boundary", label="_lower boundary")
        axes.axhline(-fixed, color="0.35", linestyle="--", linewidth=1, gid="fixed lower", label="_fixed lower")
        axes.fill_between(xs, mirror, z, color="C0", alpha=0.08, label="continue")
    else:
        axes.fill_between(xs, edge, [low if sign > 0 else high] * len(xs), color="C0", alpha=0.08, label="continue")
    for index in annotated_looks(len(looks)):
        look = looks[index]
        axes.annotate(
            f"n = {look.n_total:,}\np = {look.nominal_p:.2g}",
            xy=(xs[index], edge[index]),
            xytext=(3, 5 * sign),
            textcoords="offset points",
            ha="left",
            va="bottom" if sign > 0 else "top",
            fontsize=7,
        )
    axes.axhline(0, color="black", linewidth=0.6)
    axes.set_ylim(low, high)
    axes.set_xlim(0, 1.2)
    axes.set_xticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    axes.set_xlabel("information fraction (share of the maximum sample)")
    axes.set_ylabel("z statistic at the look")
    spending = SPENDING.get(sequential.spending, sequential.spending)
    axes.set_title(
        f"{sequential.looks} looks, {spending} spending: maximum {result.n_total:,} units\n"
        f"{sequential.inflation_factor:.3f}x the fixed design; expected {sequential.expected_n_total:,.0f} "
        "if the effect is real",
        fontsize=10,
    )
    axes.legend(fontsize=7, loc="upper right" if sign < 0 else "lower right")
    axes.grid(alpha=0.3)


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


def _start_index(result: SyntheticControlResult) -> int | None:
    """The position of ``treatment_start`` in the trajectory (the first post period if it is not there)."""
    points = result.trajectory
    start = str(result.treatment_start)
    found = next((i for i, p in enumerate(points) if str(p.period) == start), None)
    return found if found is not None else next((i for i, p in enumerate(points) if p.post), None)


def placebo_paths(result: SyntheticControlResult) -> tuple[list[list[float]], str]:
    """The placebo gap paths the gap plot draws, in the result's order (best pre-period fit first), and a note on
    those left out: a pre-period MSPE over :data:`PLACEBO_MSPE_RATIO` times the treated unit's, a path that does not
    match the trajectory's periods, or more than :data:`PLACEBO_LINES`."""
    periods = len(result.trajectory)
    limit = PLACEBO_MSPE_RATIO * result.pre_rmspe**2 if result.pre_rmspe > 0 else math.inf
    fitting = [p for p in result.placebo_gaps if len(p.gaps) == periods]
    mismatched = len(result.placebo_gaps) - len(fitting)
    kept = [p.gaps for p in fitting if p.pre_rmspe**2 <= limit]
    poor_fit = len(fitting) - len(kept)
    notes = []
    if poor_fit:
        notes.append(f"{poor_fit} with a pre-period MSPE over {PLACEBO_MSPE_RATIO:g}x the treated's")
    if len(kept) > PLACEBO_LINES:
        notes.append(f"{len(kept) - PLACEBO_LINES} beyond the {PLACEBO_LINES} best pre-period fits")
    if mismatched:
        notes.append(f"{mismatched} not matching the periods")
    note = f"placebos left out: {'; '.join(notes)}" if notes else ""
    return kept[:PLACEBO_LINES], note


def _period_axis(axes: Any, labels: list[str]) -> None:
    """Ticks at a few positions, labelled with the periods as the data name them (years, weeks, '2010Q4')."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    def label(value: float, _position: int) -> str:
        index = round(value)
        return labels[index] if abs(value - index) < 1e-9 and 0 <= index < len(labels) else ""

    axes.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
    axes.xaxis.set_major_formatter(FuncFormatter(label))
    axes.set_xlim(-0.5, len(labels) - 0.5)
    axes.grid(alpha=0.3)


def _synthetic_control(figure: Any, result: SyntheticControlResult) -> None:
    """Treated against synthetic with the start marked, and the gap plot: the treated gap in bold black over the
    placebo donors' gaps in light grey. The interrupted time series (no donors) draws the first panel only, the
    observed series against its projected pre-period trend."""
    points = result.trajectory
    positions = list(range(len(points)))
    labels = [str(p.period) for p in points]
    start = _start_index(result)
    its = result.estimator == "interrupted_time_series"
    gap: Any = None
    if its:
        figure.set_size_inches(8, 4.8)
        paths = figure.add_subplot()
    else:
        paths, gap = figure.subplots(1, 2)
    observed, synthetic = ("observed", "projected pre-period trend") if its else ("treated", "synthetic")
    paths.plot(positions, [p.observed for p in points], color="black", linewidth=1.8, label=observed)
    paths.plot(positions, [p.synthetic for p in points], color="C0", linestyle="--", linewidth=1.8, label=synthetic)
    effect = result.effect
    paths.set_title(
        f"{'Interrupted time series' if its else f'Treated against synthetic ({result.estimator})'} — ATT "
        f"{effect.estimate:.4g} [{effect.ci_lower:.4g}, {effect.ci_upper:.4g}]"
    )
    paths.set_ylabel(result.outcome)
    for axes in (paths, gap):
        if axes is None:
            continue
        if start is not None:
            axes.axvline(start, color="0.35", linestyle=":", linewidth=1.2, label=f"start ({result.treatment_start})")
        _period_axis(axes, labels)
    paths.legend(fontsize=8)
    if gap is None:
        return
    placebos, note = placebo_paths(result)
    for index, gaps in enumerate(placebos):
        label = f"placebo donors ({len(placebos)})" if index == 0 else "_placebo"
        gap.plot(positions, gaps, color=PLACEBO_GREY, linewidth=0.8, zorder=1, label=label)
    gap.plot(positions, [p.gap for p in points], color="black", linewidth=2.4, zorder=3, label="treated")
    gap.axhline(0, color="0.3", linewidth=0.8)
    test = f" — placebo rank p = {result.placebo.p_value:.3g}" if result.placebo is not None else ""
    gap.set_title(f"Gap (treated - synthetic){test}")
    gap.set_ylabel(f"gap in {result.outcome}")
    if not placebos:
        note = f"no placebo gaps to draw{f' ({note})' if note else ''}"
    if note:
        gap.text(0.01, 0.02, note, transform=gap.transAxes, fontsize=7, color="0.35", va="bottom")
    gap.legend(fontsize=8)


def _literal(text: str) -> str:
    """Text from the user's data (a column name) as matplotlib shows it: a ``$`` would start mathematics."""
    return text.replace("$", r"\$")


def _shortened(name: str, width: int = 32) -> str:
    """A column name short enough for a title (the data's names can be long)."""
    return name if len(name) <= width else name[: width - 1] + "…"


def _lines(*parts: str) -> str:
    """The non-empty parts, one a line."""
    return "\n".join(part for part in parts if part)


def _iv_ready(result: InstrumentalVariablesResult) -> bool:
    from assistant.tui.widgets.plot import iv_picture

    return iv_picture(result) is not None and all(math.isfinite(b.instrument_value) for b in result.bins)


def _instrumental_variables(figure: Any, result: InstrumentalVariablesResult) -> None:
    """The first stage (mean treatment) beside the reduced form (mean outcome) against the instrument's bins, with
    lines of the slopes the tool estimated through the rows' means; for two bins (a two-valued instrument) the Wald
    picture: the means by arm with their gaps. Below both: the 2SLS estimate as their ratio with its interval, and
    the Anderson-Rubin set as the tool found it (an end it cannot bound is written infinite, never drawn)."""
    from assistant.tui.widgets.plot import WEAK_F, ar_set_text, iv_picture

    picture = iv_picture(result)
    if picture is None:  # has_figure is checked first; a direct call on a result without bins draws nothing
        return
    first, reduced = figure.subplots(1, 2)
    bins = result.bins
    xs = [b.instrument_value for b in bins]
    largest = max(b.n for b in bins)
    sizes = [12 + 88 * b.n / largest for b in bins]
    axis = _literal(_shortened(picture.axis))
    treatment, outcome = _literal(_shortened(result.treatment)), _literal(_shortened(result.outcome))
    adjusted = f"adjusted for {picture.covariates} covariates" if picture.covariates else ""
    f_statistic = result.first_stage.f_statistic
    strength = f"first-stage F = {f_statistic:.4g}" + (f" (weak: below {WEAK_F:g})" if f_statistic < WEAK_F else "")
    panels = (
        (first, [b.treatment_mean for b in bins], picture.centre[1], picture.first_stage, treatment),
        (reduced, [b.outcome_mean for b in bins], picture.centre[2], picture.reduced_form, outcome),
    )
    if picture.wald:
        first_gap, reduced_gap = picture.gaps(result)
        for axes, means, _centre, _slope, name in panels:
            axes.plot(xs, means, color="0.6", linestyle="--", linewidth=1, zorder=1, label="_join")
            axes.scatter(xs, means, s=sizes, color="C0", zorder=3, label="mean by arm (size: rows)")
            axes.hlines(means[0], xs[0], xs[1], colors="0.5", linestyles=":", linewidth=1, label="_level")
            axes.annotate(
                "", xy=(xs[1], means[1]), xytext=(xs[1], means[0]), arrowprops={"arrowstyle": "<->", "color": "C3"}
            )
            axes.text(
                xs[1], (means[0] + means[1]) / 2, f"  raw gap {means[1] - means[0]:+.4g}", color="C3", va="center"
            )
            span = xs[1] - xs[0]
            axes.set_xlim(xs[0] - 0.35 * span, xs[1] + 0.8 * span)
            axes.set_xticks(xs, [f"{x:.4g}\n({b.n:,} rows)" for x, b in zip(xs, bins, strict=True)])
            axes.set_ylabel(f"mean {name}")
        late = result.estimand == "LATE"
        if late:
            first.set_ylabel(f"take-up (share with {treatment} = 1)")
        takeup = "take-up gap (complier share)" if late else "gap"
        first.set_title(_lines(f"First stage: {treatment} by arm", f"{takeup} {first_gap:+.4g}", adjusted, strength))
        reduced.set_title(
            _lines("Reduced form (intention to treat)", f"{outcome} by arm: gap {reduced_gap:+.4g}", adjusted)
        )
        ratio = (reduced_gap, first_gap)
    else:
        line_x = [xs[0], xs[-1]]
        for axes, means, centre, slope, name in panels:
            axes.scatter(xs, means, s=sizes, color="C0", zorder=3, label="bin means (size: rows)")
            fitted = [centre + slope * (x - picture.centre[0]) for x in line_x]
            axes.plot(
                line_x,
                fitted,
                color="C1",
                linewidth=2,
                zorder=2,
                label=f"slope {slope:.4g}" + (f", {adjusted}" if adjusted else ""),
            )
            axes.set_ylabel(f"mean {name}")
            axes.legend(fontsize=8)
        first.set_title(f"First stage: mean {treatment} by {axis}\nslope {picture.first_stage:.4g}; {strength}")
        reduced.set_title(f"Reduced form: mean {outcome} by {axis}\nslope {picture.reduced_form:.4g}")
        ratio = (picture.reduced_form, picture.first_stage)
    for axes in (first, reduced):
        axes.set_xlabel(f"{axis} (the first-stage fit of the instruments)" if len(result.instruments) > 1 else axis)
        axes.grid(alpha=0.3)
    effect, level = result.effect, f"{100 * (1 - result.alpha):g}%"
    name = "LATE (2SLS)" if result.estimand == "LATE" else "2SLS estimate"
    trust = " — the interval to trust: the instrument is weak" if f_statistic < WEAK_F else ""
    figure.supxlabel(
        f"{name} = reduced form / first stage = {ratio[0]:.4g} / {ratio[1]:.4g} = {effect.estimate:.4g}, "
        f"{level} CI [{effect.ci_lower:.4g}, {effect.ci_upper:.4g}]\n"
        f"Anderson-Rubin {level} set: {ar_set_text(result.anderson_rubin)}{trust}",
        fontsize=9,
    )


def _heterogeneity(figure: Any, result: HeterogeneityResult) -> None:
    """The average effect in each fifth of units ranked by predicted effect (GATES), each with its interval, beside
    lines at the average effect and at zero, the BLP heterogeneity test in the title; and the Qini curve (the gain
    of treating the top share by predicted effect, per unit of the population) against treating the same share at
    random, the recommended share marked when there is one."""
    from matplotlib.ticker import PercentFormatter

    gates_axes, qini_axes = figure.subplots(1, 2)
    level = f"{100 * (1 - result.alpha):g}%"
    outcome = _literal(_shortened(result.outcome))
    gates = result.gates
    groups = [g.group for g in gates]
    below = [g.estimate - g.ci_lower for g in gates]
    above = [g.ci_upper - g.estimate for g in gates]
    gates_axes.errorbar(
        groups,
        [g.estimate for g in gates],
        yerr=[below, above],
        fmt="o",
        color="C0",
        capsize=4,
        zorder=3,
        label=f"effect in the fifth, {level} CI",
    )
    effect = result.effect
    gates_axes.axhline(
        effect.estimate,
        color="C1",
        linestyle="--",
        linewidth=1.2,
        gid="ate",
        label=f"average effect (ATE) {effect.estimate:.4g} [{effect.ci_lower:.4g}, {effect.ci_upper:.4g}]",
    )
    gates_axes.axhline(0, color="black", linewidth=0.8, gid="zero", label="_no effect")
    first, last = min(groups), max(groups)
    ticks = [f"{g}\nleast" if g == first else f"{g}\nmost" if g == last else str(g) for g in groups]
    gates_axes.set_xticks(groups, ticks)
    gates_axes.set_xlim(first - 0.5, last + 0.5)
    gates_axes.set_xlabel("fifth of units by predicted effect (least → most affected)")
    gates_axes.set_ylabel(f"effect on {outcome}")
    test = result.blp.heterogeneity
    verdict = "the effect varies" if result.heterogeneity_found else "no heterogeneity found"
    gates_axes.set_title(
        f"Effect by fifth of predicted effect (GATES)\n"
        f"heterogeneity loading {test.estimate:.3g}, p = {test.p_value:.3g}: {verdict}",
        fontsize=10,
    )
    gates_axes.legend(fontsize=8)
    gates_axes.grid(alpha=0.3)
    curve = result.qini_curve
    shares = [p.share for p in curve]
    gain, random = [p.gain for p in curve], [p.random for p in curve]
    qini_axes.plot(shares, gain, color="C0", linewidth=2, zorder=3, label="treat the top share by predicted effect")
    qini_axes.plot(shares, random, color="0.45", linestyle="--", linewidth=1.2, label="treat that share at random")
    qini_axes.fill_between(shares, random, gain, color="C0", alpha=0.12, label="_area")
    if result.recommended_share is not None:
        qini_axes.axvline(
            result.recommended_share,
            color="C3",
            linestyle=":",
            linewidth=1.2,
            gid="recommended",
            label=f"recommended: the top {result.recommended_share:.0%}",
        )
    qini_axes.axhline(0, color="black", linewidth=0.6, label="_zero")
    qini_axes.xaxis.set_major_formatter(PercentFormatter(xmax=1))
    qini_axes.set_xlim(0, 1)
    qini_axes.set_xlabel("share treated (largest predicted effects first)")
    qini_axes.set_ylabel(f"gain in {outcome} per unit of the population")
    qini = result.qini
    qini_axes.set_title(
        f"Qini curve\nQini coefficient {qini.estimate:.4g}, {level} CI [{qini.ci_lower:.4g}, {qini.ci_upper:.4g}]",
        fontsize=10,
    )
    qini_axes.legend(fontsize=8)
    qini_axes.grid(alpha=0.3)


def _aa_test(figure: Any, result: AaTestResult) -> None:
    """The A/A test's p-value histograms, drawn by :func:`assistant.figures_aa.draw_aa_test` (loaded here)."""
    from assistant.figures_aa import draw_aa_test

    draw_aa_test(figure, result)


def _aa_ready(result: AaTestResult) -> bool:
    """At least one simulated metric with its p-value histogram (the plot data)."""
    return any(metric.p_histogram for metric in result.simulated)


def _assign_balance(figure: Any, result: AssignResult) -> None:
    """The assignment's love plot, drawn by :func:`assistant.figures_assign.draw_assign_balance` (loaded here)."""
    from assistant.figures_assign import draw_assign_balance

    draw_assign_balance(figure, result)


#: The drawer of each figure a result class can declare (``ToolResult.figure``).
FIGURES: dict[str, Figure] = {
    "power_curve": Figure(_power, lambda result: bool(result.curve)),
    "event_study": Figure(_event_study, lambda result: bool(result.event_study)),
    "overlap": Figure(_overlap, lambda result: bool(result.score_histogram.bin_edges), size=(11, 4.8)),
    "rd_plot": Figure(_rd_plot, lambda result: bool(result.bins.below.bin_centers or result.bins.above.bin_centers)),
    "synthetic_control": Figure(_synthetic_control, lambda result: bool(result.trajectory), size=(11, 4.8)),
    "instrumental_variables": Figure(_instrumental_variables, _iv_ready, size=(11, 5.4)),
    "heterogeneity": Figure(_heterogeneity, lambda result: bool(result.gates and result.qini_curve), size=(11, 5.2)),
    "aa_test": Figure(_aa_test, _aa_ready, size=(11, 4.8)),  # resized by the drawer for its number of panels
    "assign_balance": Figure(_assign_balance, lambda result: bool(result.balance)),
}
