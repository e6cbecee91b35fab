"""Terminal plots of tool results, drawn with block and box characters (charts in charts.py).

A result class names its figure (``ToolResult.figure``); :data:`DRAWERS` holds a text drawer for each name (the PNG
drawers are in ``assistant/figures.py``). A drawer receives the typed result and returns no lines when the result
has no data for its figure (synthetic control and instrumental variables say so in one line instead: their cards
have nothing else that stands for the paths, or for the first stage and reduced form). The A/A test's drawer is in
``plot_aa.py`` and the assignment's in ``plot_assign.py``, each loaded when drawn. This module imports no pydantic or
tools at run time: the app's first frame needs it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistant.tui.widgets.charts import ForestRow, forest, mirrored_histogram, scatter

if TYPE_CHECKING:
    from tools.aa_test.models import AaTestResult
    from tools.assign.models import AssignResult
    from tools.did.models import DiffInDiffResult
    from tools.heterogeneity.models import HeterogeneityResult
    from tools.iv.models import AndersonRubin, InstrumentalVariablesResult
    from tools.power.models import PowerResult, PowerSequential
    from tools.propensity.models import PropensityResult
    from tools.rdd.models import RddResult
    from tools.results import ToolResult
    from tools.synth.models import SyntheticControlResult

__all__ = [
    "DRAWERS",
    "QUASI_UNITS",
    "IVPicture",
    "ar_set_text",
    "curve_units",
    "fixed_critical_value",
    "gates_bars",
    "iv_picture",
    "look_cells",
    "plot_result",
    "sparkline",
]

BLOCKS = " ▁▂▃▄▅▆▇█"

#: The widest line of the synthetic control plot: the card's text is 41 columns wide in an 80-column terminal with
#: the side panel open (71 with it folded), so the plot is shown whole there rather than wrapped.
TRAJECTORY_CHARS = 40
#: Columns and rows of its grid (narrower when long y labels would push a line past ``TRAJECTORY_CHARS``).
TRAJECTORY_WIDTH, TRAJECTORY_HEIGHT = 34, 10
#: What the synthetic control card shows when its result has no trajectory (its plot data were left out).
NO_TRAJECTORY = "synthetic control: no plot data in this result (no trajectory to draw)"
#: The widest line of the instrumental variables card (the same 80x24 budget as synthetic control's).
IV_CHARS = 40
#: Rows of each of its two grids (first stage above, reduced form below, one x axis).
IV_GRID_HEIGHT = 4
#: What the instrumental variables card shows when its result has fewer than two bins (its plot data were left out).
NO_IV_BINS = "instrumental variables: no plot data in this result (no instrument bins to compare)"
#: Between the pieces of an Anderson-Rubin set that is a union of intervals.
UNION = "\N{UNION}"
#: The widest line of the power card of a group-sequential design (the same 80x24 budget as synthetic control's):
#: the curve, then a table of the looks.
SEQUENTIAL_CHARS = 40
#: The columns of that table and their widths (right-aligned; together ``SEQUENTIAL_CHARS``).
LOOK_COLUMNS = (("look", 4), ("n total", 11), ("z", 7), ("nominal p", 10), ("\N{GREEK SMALL LETTER ALPHA} spent", 8))
#: The widest line of the heterogeneity card (the same 80x24 budget as synthetic control's).
HETEROGENEITY_CHARS = 40
#: Most columns of a GATES row's interval bar (fewer when its numbers are wide; no bar below ``GATES_BAR_MIN``).
GATES_BAR, GATES_BAR_MIN = 14, 6
#: The spending functions' names: ``tools.power.report.SPENDING_NAMES`` without "-type" (a test keeps the keys
#: equal; this module does not import tools).
SPENDING = {"obrien_fleming": "O'Brien-Fleming", "pocock": "Pocock"}
#: A first-stage F below this marks the instruments weak: ``tools.iv.report.WEAK_F``, the tool's check (a test keeps
#: them equal; this module does not import tools).
WEAK_F = 10.0


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


def plot_result(result: ToolResult) -> list[str]:
    """The text plot of the figure the result's class declares; empty when it declares none or has no data."""
    name = type(result).figure
    drawer = DRAWERS.get(name) if name is not None else None
    return drawer(result) if drawer is not None else []


def _power_curve(result: PowerResult) -> list[str]:
    """The curve as one line of blocks; a group-sequential design's within ``SEQUENTIAL_CHARS``, followed by its
    looks (:func:`_sequential_looks`)."""
    if result.sequential is not None:
        return [*_sequential_curve(result), *_sequential_looks(result, result.sequential)]
    curve = result.curve
    if not curve:
        return []
    ns = [p.n_per_arm for p in curve]
    units = curve_units(result)
    if result.curve_kind == "mde_vs_n":
        label = f"minimum detectable effect against {units}"
        line = sparkline([abs(p.mde_absolute) for p in curve])
    else:
        label = f"power against {units}"
        line = sparkline([p.power for p in curve], 0.0, 1.0)
    return [label, line, f"{ns[0]:,} … {ns[-1]:,} {units}"]


#: What a quasi-experimental power curve counts along its axis (the closed form against the comparison units).
QUASI_UNITS = {"did": "control units", "rdd": "units below the cutoff", "synth": "donors"}


def curve_units(result: PowerResult) -> str:
    """What the power curve's sizes count: units per arm, or a quasi-experiment's comparison units."""
    quasi = getattr(result, "quasi", None)
    return QUASI_UNITS.get(quasi.design.kind, "units per arm") if quasi is not None else "units per arm"


def _sequential_curve(result: PowerResult) -> list[str]:
    """The curve of a design with looks: power (or the detectable effect) against the maximum size, read at
    ``SEQUENTIAL_CHARS`` points spread over the whole curve."""
    curve = result.curve
    if not curve:
        return []
    width = min(SEQUENTIAL_CHARS, len(curve))
    picked = [curve[round(i * (len(curve) - 1) / max(width - 1, 1))] for i in range(width)]
    if result.curve_kind == "mde_vs_n":
        label = "MDE against maximum units per arm"
        line = sparkline([abs(p.mde_absolute) for p in picked], width=width)
    else:
        label = "power against maximum units per arm"
        line = sparkline([p.power for p in picked], 0.0, 1.0, width=width)
    return [
        label,
        line,
        *_wrapped(f"{curve[0].n_per_arm:,} … {curve[-1].n_per_arm:,} max units per arm", SEQUENTIAL_CHARS),
    ]


def fixed_critical_value(result: PowerResult) -> float:
    """The fixed-horizon test's critical z at the level of each comparison: the boundary of a single look."""
    from statistics import NormalDist

    alpha = result.alpha_per_comparison
    return NormalDist().inv_cdf(1 - (alpha / 2 if result.alternative == "two-sided" else alpha))


def look_cells(sequential: PowerSequential) -> list[tuple[str, str, str, str, str]]:
    """Each look's row of the card's table, as written: the look, units in total (a comma every three digits; a
    number too wide for its column in four significant digits), z boundary (3 decimals), nominal p and the
    cumulative alpha spent (2 significant digits)."""
    room = LOOK_COLUMNS[1][1] - 1
    rows = []
    for look in sequential.boundaries:
        n_total = f"{look.n_total:,}"
        rows.append(
            (
                str(look.look),
                n_total if len(n_total) <= room else f"{look.n_total:.4g}",
                f"{look.z_boundary:.3f}",
                f"{look.nominal_p:.2g}",
                f"{look.cumulative_alpha:.2g}",
            )
        )
    return rows


def _sequential_looks(result: PowerResult, sequential: PowerSequential) -> list[str]:
    """The looks of a group-sequential design as a table within ``SEQUENTIAL_CHARS``: when to stop, each look's
    units, boundary, nominal p and alpha spent; the fixed design's critical value beside them; the maximum size
    with its inflation, and the expected sizes with and without an effect."""
    sides = {"two-sided": "|z| ≥ {z}", "larger": "z ≥ {z}", "smaller": "z ≤ -{z}"}[result.alternative]
    fixed = sides.format(z=f"{fixed_critical_value(result):.3f}")
    spending = SPENDING.get(sequential.spending, sequential.spending)
    lines = [
        *_wrapped(f"{sequential.looks} looks, {spending} spending;", SEQUENTIAL_CHARS),
        *_wrapped(f"stop at a look if {sides.format(z='its z')}:", SEQUENTIAL_CHARS),
        "".join(f"{name:>{width}}" for name, width in LOOK_COLUMNS),
    ]
    lines += [
        "".join(f"{cell:>{width}}" for cell, (_, width) in zip(cells, LOOK_COLUMNS, strict=True))
        for cells in look_cells(sequential)
    ]
    lines += _wrapped(f"fixed design (one look): {fixed}", SEQUENTIAL_CHARS)
    inflation = sequential.inflation_factor
    lines += _wrapped(f"maximum n {result.n_total:,}: {inflation:.3f}x the fixed n", SEQUENTIAL_CHARS)
    lines += _wrapped(f"expected n, effect real: {sequential.expected_n_total:,.0f}", SEQUENTIAL_CHARS)
    lines += _wrapped(f"expected n, no effect: {sequential.expected_n_total_h0:,.0f}", SEQUENTIAL_CHARS)
    return lines


def _event_study(result: DiffInDiffResult) -> list[str]:
    if not result.event_study:
        return []
    rows = [
        ForestRow(
            label=f"{point.relative_period:+d}",
            estimate=point.estimate,
            lower=None if point.reference else point.ci_lower,
            upper=None if point.reference else point.ci_upper,
            marker="◆" if point.reference else "●",
        )
        for point in result.event_study
    ]
    title = "effect by period relative to adoption (● estimate, ─ interval, ◆ reference period, ┊ no effect)"
    return [title, *forest(rows)]


def _overlap(result: PropensityResult) -> list[str]:
    histogram = result.score_histogram
    if not histogram.bin_edges:
        return []
    lines = [
        "propensity scores by arm (overlap: both rows should cover the same range)",
        *mirrored_histogram(histogram.bin_edges, histogram.treated, histogram.control, ("treated", "control")),
    ]
    rows = []
    for row in result.balance:
        after = row.smd_weighted if row.smd_weighted is not None else row.smd_matched
        rows.append(
            ForestRow(
                label=row.term,
                estimate=after if after is not None else row.smd_before,
                second=row.smd_before if after is not None else None,
            )
        )
    if rows:
        lines += ["", "balance: standardized mean difference (○ before, ● after adjustment, · ±0.1)"]
        lines += forest(rows[:20], band=0.1)
    return lines


def _rd_plot(result: RddResult) -> list[str]:
    bins = result.bins
    series: list[tuple[list[float], list[float], str]] = [
        (list(side.fit_x), list(side.fit_y), "·") for side in (bins.below, bins.above) if side.fit_x
    ]
    series += [
        (list(side.bin_centers), list(side.bin_means), "●") for side in (bins.below, bins.above) if side.bin_centers
    ]
    lines = scatter(series, vertical=bins.cutoff)
    if not lines:
        return []
    return ["outcome against the running variable (● binned means, · fitted curve, │ cutoff)", *lines]


def _interpolate(values: Sequence[float], x: float) -> float:
    """``values`` (one per period 0, 1, 2, ...) read at the fractional period ``x``, on straight segments."""
    if len(values) == 1:
        return values[0]
    left = min(int(x), len(values) - 2)
    share = x - left
    return values[left] * (1 - share) + values[left + 1] * share


def _start_index(result: SyntheticControlResult) -> int | None:
    points = result.trajectory
    start = str(result.treatment_start)
    found = next((i for i, p in enumerate(points) if str(p.period) == start), None)
    return found if found is not None else next((i for i, p in enumerate(points) if p.post), None)


def _synthetic_control(result: SyntheticControlResult) -> list[str]:
    """The treated series (●) against its synthetic counterpart (·, a line read across every column) per period,
    with ``│`` at the first treated period and the periods named below; for the interrupted time series, the
    observed series against its projected pre-period trend."""
    points = result.trajectory
    if not points:
        return [NO_TRAJECTORY]
    last = max(len(points) - 1, 1)
    synthetic = [p.synthetic for p in points]
    start = _start_index(result)

    def draw(width: int) -> list[str]:
        xs = [last * column / (width - 1) for column in range(width)]
        series = [
            (xs, [_interpolate(synthetic, x) for x in xs], "·"),
            ([float(i) for i in range(len(points))], [p.observed for p in points], "●"),
        ]
        return scatter(series, width=width, height=TRAJECTORY_HEIGHT, vertical=None if start is None else start)

    lines = draw(TRAJECTORY_WIDTH)
    if not lines:
        return [NO_TRAJECTORY]
    left = lines[0].index("┤") + 1  # the y labels and the axis before the grid
    if left + TRAJECTORY_WIDTH > TRAJECTORY_CHARS:
        lines = draw(max(16, TRAJECTORY_CHARS - left))
        left = lines[0].index("┤") + 1
    grid = lines[:-1]
    width = len(grid[0]) - left
    axis = [" "] * width
    marks = Counter(
        column - left for line in grid for column, cell in enumerate(line) if cell == "│" and column >= left
    )
    periods = [str(points[0].period), str(points[-1].period)]
    placed = [(0, periods[0])]
    if len(periods[0]) < width - len(periods[1]):  # the last period too, when it does not run into the first
        placed.append((width - len(periods[1]), periods[1]))
    if start is not None and marks:
        column = marks.most_common(1)[0][0]
        label = str(points[start].period)
        if len(periods[0]) < column and column + len(label) < width - len(periods[1]):
            placed.append((column, label))  # the start's period under its line, when it fits between the ends
    for column, label in placed:
        axis[max(0, column) : max(0, column) + len(label)] = label
    its = result.estimator == "interrupted_time_series"
    title = "observed ● vs projected pre-trend ·" if its else "treated ● against synthetic ·"
    note = f"│ the change starts at {points[start].period}" if start is not None else "no period is marked treated"
    return [title, *grid, " " * left + "".join(axis)[:width], note]


@dataclass(frozen=True)
class IVPicture:
    """What both instrumental-variables drawers show, from the result's own fields.

    ``first_stage`` and ``reduced_form`` are slopes per unit of the binned axis: with one instrument, its
    first-stage coefficient and that times the 2SLS estimate (the reduced form per unit, since 2SLS is their ratio);
    with several, the axis is the combined instrument (their first-stage fit), whose first-stage slope is 1 and
    reduced-form slope the 2SLS estimate. ``centre`` is the rows' mean instrument, treatment and outcome (the bins'
    means weighted by their rows), which a least-squares line without covariates passes through."""

    axis: str
    first_stage: float
    reduced_form: float
    centre: tuple[float, float, float]
    wald: bool
    covariates: int

    def gaps(self, result: InstrumentalVariablesResult) -> tuple[float, float]:
        """The Wald picture's first-stage and reduced-form gaps between its two bins (high minus low): the
        take-up difference (the complier share for a 0/1 treatment) and the intention-to-treat effect."""
        span = result.bins[-1].instrument_value - result.bins[0].instrument_value
        return self.first_stage * span, self.reduced_form * span


def iv_picture(result: InstrumentalVariablesResult) -> IVPicture | None:
    """The slopes and centre the drawers draw, or None when the result has fewer than two bins."""
    bins = result.bins
    rows = sum(b.n for b in bins)
    if len(bins) < 2 or rows <= 0:
        return None
    centre = (
        sum(b.n * b.instrument_value for b in bins) / rows,
        sum(b.n * b.treatment_mean for b in bins) / rows,
        sum(b.n * b.outcome_mean for b in bins) / rows,
    )
    coefficients = result.first_stage.coefficients
    if len(result.instruments) == 1 and len(coefficients) == 1:
        axis, slope = result.instruments[0], coefficients[0].estimate
    else:
        axis, slope = "combined instrument", 1.0
    return IVPicture(
        axis=axis,
        first_stage=slope,
        reduced_form=slope * result.effect.estimate,
        centre=centre,
        wald=len(bins) == 2,
        covariates=len(result.covariates),
    )


def ar_set_text(anderson_rubin: AndersonRubin) -> str:
    """The Anderson-Rubin set as written: ``[0.028, 0.28]``, ``(-inf, 0.3] U [1.2, +inf) (unbounded)`` (with the
    union sign), or ``empty``; an end the data cannot bound is written infinite, never as a number."""
    if anderson_rubin.kind == "empty" or not anderson_rubin.intervals:
        return "empty (no value fits: the instruments disagree)"
    pieces = [
        f"{'(-inf' if piece.lower is None else f'[{piece.lower:.4g}'}, "
        f"{'+inf)' if piece.upper is None else f'{piece.upper:.4g}]'}"
        for piece in anderson_rubin.intervals
    ]
    unbounded = any(piece.lower is None or piece.upper is None for piece in anderson_rubin.intervals)
    return f" {UNION} ".join(pieces) + (" (unbounded)" if unbounded else "")


def _short(name: str, width: int) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def _wrapped(text: str, width: int) -> list[str]:
    """``text`` on lines of at most ``width`` characters, broken at spaces."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def _iv_footer(result: InstrumentalVariablesResult, picture: IVPicture, first: float, reduced: float) -> list[str]:
    """The ratio the picture draws, the 2SLS interval with the first-stage F, and the Anderson-Rubin set."""
    effect, level = result.effect, f"{100 * (1 - result.alpha):g}%"
    name = "LATE" if result.estimand == "LATE" else "IV"
    f_statistic = result.first_stage.f_statistic
    weak = f_statistic < WEAK_F
    lines = [f"{name} = {reduced:.4g} / {first:.4g} = {effect.estimate:.4g}"]
    if picture.covariates:
        kind = "gaps" if picture.wald else "slopes"
        lines.append(f"({kind} adjusted for {picture.covariates} covariates)")
    lines.append(
        f"{level} CI [{effect.ci_lower:.4g}, {effect.ci_upper:.4g}]; F {f_statistic:.4g}{' weak' if weak else ''}"
    )
    lines += _wrapped(f"AR {level} set {ar_set_text(result.anderson_rubin)}", IV_CHARS)
    return lines


def _iv_wald(result: InstrumentalVariablesResult, picture: IVPicture) -> list[str]:
    """The two bins' raw means side by side with their gap, then the ratio of the (adjusted) gaps."""
    low, high = result.bins[0], result.bins[-1]
    cells = [
        (picture.axis, f"{low.instrument_value:.4g}", f"{high.instrument_value:.4g}", "gap"),
        *(
            (name, f"{a:.4g}", f"{b:.4g}", f"{b - a:+.4g}")
            for name, a, b in (
                (result.treatment, low.treatment_mean, high.treatment_mean),
                (result.outcome, low.outcome_mean, high.outcome_mean),
            )
        ),
    ]
    column = max(8, *(len(cell) + 2 for row in cells for cell in row[1:]))  # the numbers whole, the names cut
    label = IV_CHARS - 3 * column
    table = [f"{_short(a, label):<{label}}{b:>{column}}{c:>{column}}{d:>{column}}" for a, b, c, d in cells]
    first, reduced = picture.gaps(result)
    return ["Wald picture: raw means by arm", *table, *_iv_footer(result, picture, first, reduced)]


def _iv_slopes(result: InstrumentalVariablesResult, picture: IVPicture) -> list[str]:
    """Mean treatment (first stage) above mean outcome (reduced form) against the binned instrument, ● per bin,
    each with a line of the slope the tool estimated through the rows' mean (·); one x axis below both."""
    bins = result.bins
    xs = [b.instrument_value for b in bins]
    x_mean, d_mean, y_mean = picture.centre

    def grid(width: int, means: list[float], centre: float, slope: float) -> list[str]:
        line_x = [xs[0] + (xs[-1] - xs[0]) * column / (width - 1) for column in range(width)]
        series = [(line_x, [centre + slope * (x - x_mean) for x in line_x], "·"), (xs, means, "●")]
        return scatter(series, width=width, height=IV_GRID_HEIGHT)

    def both(width: int) -> tuple[list[str], list[str]]:
        return (
            grid(width, [b.treatment_mean for b in bins], d_mean, picture.first_stage),
            grid(width, [b.outcome_mean for b in bins], y_mean, picture.reduced_form),
        )

    top, bottom = both(IV_CHARS - 8)
    left = max(top[0].index("┤"), bottom[0].index("┤"))
    if left + 1 + (IV_CHARS - 8) > IV_CHARS:
        top, bottom = both(max(12, IV_CHARS - 1 - left))
        left = max(top[0].index("┤"), bottom[0].index("┤"))
    width = len(top[0]) - top[0].index("┤") - 1
    top = [" " * (left - line.index("┤")) + line for line in top[:-1]]
    bottom = [" " * (left - line.index("┤")) + line for line in bottom[:-1]]
    low, high, name = f"{xs[0]:.3g}", f"{xs[-1]:.3g}", _short(picture.axis, max(1, width - 12))
    middle = width - len(low) - len(high)
    axis = " " * (left + 1) + low + f"{name:^{middle}}" + high
    return [
        _titled("first stage ● mean ", result.treatment, f" · slope {picture.first_stage:.4g}"),
        *top,
        _titled("reduced form ● mean ", result.outcome, f" · slope {picture.reduced_form:.4g}"),
        *bottom,
        axis,
        *_iv_footer(result, picture, picture.first_stage, picture.reduced_form),
    ]


def _titled(prefix: str, name: str, suffix: str) -> str:
    """``prefix + name + suffix`` within the card's width, the column name shortened first (never the number)."""
    room = IV_CHARS - len(prefix) - len(suffix)
    if len(name) > room:
        prefix = prefix.replace(" mean ", " ")
        room = IV_CHARS - len(prefix) - len(suffix)
    return prefix + _short(name, max(room, 1)) + suffix


def _instrumental_variables(result: InstrumentalVariablesResult) -> list[str]:
    """Two bins (a two-valued instrument): the Wald picture, the means by arm and the ratio of their gaps; more:
    the first stage above the reduced form against the instrument, each with its slope. One line when the result
    has no bins to draw."""
    picture = iv_picture(result)
    if picture is None or not all(math.isfinite(b.instrument_value) for b in result.bins):
        return [NO_IV_BINS]
    return _iv_wald(result, picture) if picture.wald else _iv_slopes(result, picture)


def gates_bars(result: HeterogeneityResult, width: int) -> list[str]:
    """Each GATES fifth's interval on one scale of ``width`` columns: ``─`` the interval, ``●`` the estimate, ``┊``
    no effect and ``│`` the average effect (both drawn across the intervals, the estimate over them)."""
    effect = result.effect.estimate
    values = [v for g in result.gates for v in (g.estimate, g.ci_lower, g.ci_upper) if math.isfinite(v)]
    values += [v for v in (0.0, effect) if math.isfinite(v)]
    low, high = min(values), max(values)
    span = (high - low) or 1.0

    def at(value: float) -> int:
        return max(0, min(width - 1, round((value - low) / span * (width - 1))))

    bars = []
    for group in result.gates:
        cells = [" "] * width
        if math.isfinite(group.ci_lower) and math.isfinite(group.ci_upper):
            for column in range(at(group.ci_lower), at(group.ci_upper) + 1):
                cells[column] = "─"
        cells[at(0.0)] = "┊"
        if math.isfinite(effect):
            cells[at(effect)] = "│"
        if math.isfinite(group.estimate):
            cells[at(group.estimate)] = "●"
        bars.append("".join(cells))
    return bars


def _heterogeneity(result: HeterogeneityResult) -> list[str]:
    """The BLP heterogeneity test (loading, p, whether the effect varies); the GATES fifths, least affected first,
    each with its estimate and interval beside a bar on one scale (:func:`gates_bars`, left out when the numbers
    leave it fewer than ``GATES_BAR_MIN`` columns); what targeting recommends; the Qini coefficient. Every number
    as the result holds it, within ``HETEROGENEITY_CHARS``. No lines when the result has no GATES."""
    gates = result.gates
    if not gates:
        return []
    width = HETEROGENEITY_CHARS
    level = f"{100 * (1 - result.alpha):g}%"
    test = result.blp.heterogeneity
    verdict = "the effect varies" if result.heterogeneity_found else "no heterogeneity found"
    lines = [*_wrapped(f"heterogeneity loading {test.estimate:.3g}, p {test.p_value:.3g}", width), f"→ {verdict}"]
    lines += _wrapped("by fifth, least (1) → most (5) affected", width)
    labels = [str(g.group) for g in gates]
    estimates = [f"{g.estimate:.4g}" for g in gates]
    intervals = [f"[{g.ci_lower:.4g}, {g.ci_upper:.4g}]" for g in gates]
    label_width = max(map(len, labels))
    estimate_width = max(map(len, estimates))
    bar = min(GATES_BAR, width - label_width - estimate_width - max(map(len, intervals)) - 3)
    bars = gates_bars(result, bar) if bar >= GATES_BAR_MIN else [""] * len(gates)
    for label, drawn, estimate, interval in zip(labels, bars, estimates, intervals, strict=True):
        cells = f" {drawn}" if drawn else ""
        lines.append(f"{label:>{label_width}}{cells} {estimate:>{estimate_width}} {interval}")
    effect = result.effect.estimate
    if bar >= GATES_BAR_MIN:
        lines += _wrapped(f"● effect ─ {level} CI ┊ 0 │ average {effect:.4g}", width)
    else:
        lines += _wrapped(f"estimate [{level} CI]; average {effect:.4g}", width)
    share = result.recommended_share
    chosen = next((row for row in result.targeting if row.share == share), None)
    if share is not None:
        gain = f": {chosen.gain_vs_all.estimate:+.4g} per unit vs treating everyone" if chosen is not None else ""
        lines += _wrapped(f"target the top {share:.0%}{gain}", width)
    elif result.heterogeneity_found:
        lines += _wrapped("no top share beats treating everyone", width)
    else:
        lines += _wrapped("targeting: none (act on the average)", width)
    qini = result.qini
    interval = f"{qini.estimate:.4g} [{qini.ci_lower:.4g}, {qini.ci_upper:.4g}]"
    name = "Qini coefficient" if len(interval) + 17 <= width else "Qini"
    lines += _wrapped(f"{name} {interval}", width)
    return lines


def _aa_test(result: AaTestResult) -> list[str]:
    """The A/A test's card plot, drawn by :func:`assistant.tui.widgets.plot_aa.aa_test_lines` (loaded here)."""
    from assistant.tui.widgets.plot_aa import aa_test_lines

    return aa_test_lines(result)


def _assign_balance(result: AssignResult) -> list[str]:
    """The assignment's counts and balance, drawn by :func:`assistant.tui.widgets.plot_assign.assign_lines`."""
    from assistant.tui.widgets.plot_assign import assign_lines

    return assign_lines(result)


#: The text drawer of each figure a result class can declare (``ToolResult.figure``).
DRAWERS: dict[str, Callable[[Any], list[str]]] = {
    "power_curve": _power_curve,
    "event_study": _event_study,
    "overlap": _overlap,
    "rd_plot": _rd_plot,
    "synthetic_control": _synthetic_control,
    "instrumental_variables": _instrumental_variables,
    "heterogeneity": _heterogeneity,
    "aa_test": _aa_test,
    "assign_balance": _assign_balance,
}
