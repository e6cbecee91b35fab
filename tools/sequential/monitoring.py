"""One look of a group-sequential test: the boundary at the information actually reached, the decision, and the
repeated confidence interval (Jennison & Turnbull 2000, ch. 9).

The plan fixes the number of looks, the spending function and (optionally) the information fractions; an analysis
rarely lands on the planned fraction. Lan & DeMets's answer, used here: spend alpha at the actual fraction (and the
earlier looks' actual fractions), and at the final look spend all that is left, so the level stays exactly alpha.

The repeated confidence interval at look k is estimate +- c_k * std_error with c_k that look's boundary: the
intervals of all K looks cover the truth together with probability 1 - alpha, so the one at the look where the
experiment stopped is valid whatever the stopping rule. A one-look design's is the fixed-horizon interval, to the
bit. For a t statistic (``df``) the boundary is carried to the t scale at the same nominal p (J&T's significance
level approach for an unknown variance).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy import special

from tools.errors import ToolError
from tools.literals import Alternative, SpendingFunction
from tools.sequential.design import Boundaries, boundaries
from tools.sequential.models import LookDecision, SequentialBoundary

__all__ = ["MAX_LOOKS", "boundary_rows", "look_decision", "planned_fractions"]

MAX_LOOKS = 20
#: Fractions closer than this are one look: the increment's variance would be rounding error.
MIN_FRACTION_STEP = 1e-6
#: Below this nominal tail, 1 - tail loses digits: the critical value is taken from the z boundary directly.
_SMALL_TAIL = 1e-8


def planned_fractions(looks: int, information_fractions: Sequence[float] | None = None) -> tuple[float, ...]:
    """The plan's information fractions: ``information_fractions`` checked (increasing, in (0, 1], the last 1), or
    equally spaced, k / looks."""
    if not 1 <= looks <= MAX_LOOKS:
        raise ToolError(
            "looks_out_of_range",
            f"A sequential design has 1 to {MAX_LOOKS} looks, the final analysis included; got {looks}.",
            "Plan a handful of looks (3 to 5 is usual); with more, a confidence sequence suits continuous monitoring.",
        )
    if information_fractions is None:
        return tuple(k / looks for k in range(1, looks + 1))
    fractions = tuple(float(x) for x in information_fractions)
    if len(fractions) != looks:
        raise ToolError(
            "fractions_mismatch",
            f"{len(fractions)} information fractions were given for {looks} looks.",
            "Give one fraction per look, the last one 1, or leave information_fractions null for equal spacing.",
        )
    _check_increasing(fractions, "information_fractions")
    if fractions[-1] != 1.0:
        raise ToolError(
            "last_fraction_not_one",
            f"The last information fraction is the final analysis and must be 1; got {fractions[-1]:g}.",
            "Give fractions of the maximum sample size, e.g. [0.25, 0.5, 0.75, 1].",
        )
    return fractions


def _check_increasing(fractions: Sequence[float], name: str) -> None:
    previous = 0.0
    for value in fractions:
        if not math.isfinite(value) or value <= previous + MIN_FRACTION_STEP:
            raise ToolError(
                "fractions_not_increasing",
                f"{name} must increase from above 0, each at least {MIN_FRACTION_STEP:g} past the one before "
                f"({', '.join(f'{x:g}' for x in fractions)}).",
                "Give each look's share of the maximum sample size, in order: e.g. [0.25, 0.5, 0.75, 1].",
            )
        previous = value


def boundary_rows(design: Boundaries) -> list[SequentialBoundary]:
    """The design's looks as result rows."""
    return [
        SequentialBoundary(
            look=k + 1,
            information_fraction=design.fractions[k],
            z_boundary=design.z[k],
            nominal_p=design.nominal_p(k),
            cumulative_alpha=min(1.0, design.cumulative_alpha[k]),
        )
        for k in range(design.looks)
    ]


def look_decision(
    estimate: float,
    std_error: float,
    *,
    look: int,
    looks: int,
    spending: SpendingFunction = "obrien_fleming",
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    information_fraction: float | None = None,
    planned: Sequence[float] | None = None,
    previous_fractions: Sequence[float] | None = None,
    df: float | None = None,
) -> LookDecision:
    """Analyse look ``look`` of ``looks``: boundary, crossing, repeated confidence interval and decision.

    ``information_fraction`` is this look's actual share of the planned maximum information (null: as planned);
    ``planned`` the plan's fractions (null: equally spaced); ``previous_fractions`` the earlier looks' actual
    fractions (null: as planned). ``df`` puts the boundary on the t scale (null: z). A one-sided ``alternative``
    uses one-sided boundaries; "smaller" tests for a decrease.
    """
    schedule = planned_fractions(looks, planned)
    if not 1 <= look <= looks:
        raise ToolError(
            "look_out_of_range",
            f"Look {look} is not one of the {looks} planned looks.",
            "Number the looks from 1; the final analysis is look number `looks`.",
        )
    if not std_error > 0 or not math.isfinite(std_error) or not math.isfinite(estimate):
        raise ToolError(
            "no_standard_error",
            "A look needs a finite estimate and a positive standard error.",
            "Check that both arms have data and the metric varies.",
        )
    earlier = list(schedule[: look - 1]) if previous_fractions is None else [float(x) for x in previous_fractions]
    if len(earlier) != look - 1:
        raise ToolError(
            "fractions_mismatch",
            f"Look {look} needs the {look - 1} earlier looks' fractions; {len(earlier)} were given.",
            "Give the information fraction of every earlier look, or leave them null to use the plan's.",
        )
    current = schedule[look - 1] if information_fraction is None else float(information_fraction)
    actual = [*earlier, current]
    _check_increasing(actual, "the looks' information fractions")
    final = look == looks
    if not final and current >= 1.0:
        raise ToolError(
            "interim_at_full_information",
            f"Look {look} of {looks} is at information fraction {current:g}, the planned maximum or beyond.",
            f"Analyse it as the final look (look {looks}), which spends all the remaining alpha.",
        )
    design = boundaries(actual, spending, alpha, two_sided=alternative == "two-sided", spend_all_at_last=final)
    k = look - 1
    c = design.z[k]
    one_tail = _one_tail(design, k)
    critical = _critical(c, one_tail, df)
    statistic = estimate / std_error
    if alternative == "two-sided":
        crossed = abs(statistic) >= critical
        lower, upper = estimate - critical * std_error, estimate + critical * std_error
    elif alternative == "larger":
        crossed = statistic >= critical
        lower, upper = estimate - critical * std_error, None
    else:
        crossed = statistic <= -critical
        lower, upper = None, estimate + critical * std_error
    rows = boundary_rows(design)
    return LookDecision(
        look=look,
        looks=looks,
        spending=spending,
        alpha=alpha,
        alternative=alternative,
        information_fraction=current,
        planned_fraction=schedule[k],
        recomputed=any(abs(a - p) > 1e-12 for a, p in zip(actual, schedule, strict=False)),
        boundaries=rows,
        z_boundary=c,
        critical_value=critical,
        nominal_p=rows[k].nominal_p,
        cumulative_alpha=rows[k].cumulative_alpha,
        statistic=statistic,
        crossed=crossed,
        stop=crossed or final,
        ci_lower=lower,
        ci_upper=upper,
        decision=_words(crossed, final, look, looks),
    )


def _one_tail(design: Boundaries, k: int) -> float:
    """The one-sided nominal tail of look k; at a first look computed from alpha itself, as a fixed test's is."""
    if k == 0:
        spent = design.cumulative_alpha[0]
        return spent / 2.0 if design.two_sided else spent
    return float(special.ndtr(-design.z[k]))


def _critical(z_boundary: float, one_tail: float, df: float | None) -> float:
    """The boundary on the statistic's scale at the same nominal tail (ab_test's fixed critical value at K = 1)."""
    if one_tail <= 0:
        return z_boundary
    if df is None:
        return float(special.ndtri(1.0 - one_tail)) if one_tail > _SMALL_TAIL else z_boundary
    if one_tail > _SMALL_TAIL:
        return float(special.stdtrit(df, 1.0 - one_tail))
    return float(-special.stdtrit(df, one_tail))


def _words(crossed: bool, final: bool, look: int, looks: int) -> str:
    if final:
        return "final look: significant" if crossed else "final look: not significant"
    if crossed:
        return f"stop for efficacy: the boundary is crossed at look {look} of {looks}"
    return f"continue to look {look + 1} of {looks}"
