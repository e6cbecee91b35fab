"""Rosenbaum bounds: how strong a hidden bias would have to be to explain away a matched-pairs effect.

In a study of matched pairs free of hidden bias, each pair's treated unit is the one with the larger outcome
with probability 1/2 under the null of no effect, and Wilcoxon's signed-rank statistic T (the sum of the ranks of
|d| over the pairs with d > 0) has its randomisation distribution. If a hidden confounder multiplies the odds of
treatment of two matched units by at most Gamma, the chance that a pair's difference is positive lies between
1/(1+Gamma) and Gamma/(1+Gamma), and T is bounded above (stochastically) by T+ = sum of independent terms
rank_i x Bernoulli(Gamma/(1+Gamma)) (Rosenbaum 2002, Observational Studies, 2nd ed., section 4.3). The upper bound
of the one-sided p-value at Gamma is P(T+ >= T).

Conventions, as R's rbounds (``psens``) and DOS2 (``senWilcox``) compute them: pairs with a zero difference are
dropped, tied |d| get their average rank. The bound's distribution is computed exactly (the sum of independent
rank-weighted Bernoulli terms, by convolution over doubled ranks, so average ranks stay whole numbers: exact given
the ranks, ties included) for up to :data:`EXACT_PAIRS` non-zero pairs, as DOS2's ``senU`` does by default; above
that, by the normal approximation with the same mean and variance and no continuity correction (rbounds, DOS2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, stats

from tools.refute.models import GammaBound, RefuteCheck, RosenbaumBounds

__all__ = [
    "EXACT_PAIRS",
    "BoundsMethod",
    "SignedRanks",
    "critical_gamma",
    "gamma_grid",
    "not_tested",
    "rosenbaum_check",
    "signed_ranks",
    "upper_p_value",
]

#: Non-zero pairs up to which the bound's distribution is computed exactly (DOS2's ``senU`` default: 50).
EXACT_PAIRS = 50
#: The largest Gamma searched: beyond it the result is insensitive to any bias worth naming.
MAX_GAMMA = 1_000.0
#: The grid: steps of 0.1 up to 3, then 0.5 up to 10, then 1 (and at most this many values).
MAX_GRID = 60

BoundsMethod = Literal["exact", "normal"]


@dataclass(frozen=True)
class SignedRanks:
    """Wilcoxon's signed-rank statistic of the non-zero pair differences."""

    statistic: float  # T: the sum of the ranks of |d| over positive differences
    ranks: NDArray[np.float64]  # average ranks of |d| over the non-zero differences
    pairs: int  # all pairs given
    zeros: int  # pairs with a zero difference (dropped)

    @property
    def used(self) -> int:
        return len(self.ranks)


def signed_ranks(differences: ArrayLike) -> SignedRanks:
    """T and the ranks of the non-zero differences (zeros dropped, average ranks for ties)."""
    d = np.asarray(differences, dtype=np.float64)
    if not np.all(np.isfinite(d)):
        raise ValueError("pair differences must be finite")
    nonzero = d[d != 0]
    ranks = stats.rankdata(np.abs(nonzero), method="average").astype(np.float64)
    return SignedRanks(float(ranks[nonzero > 0].sum()), ranks, len(d), len(d) - len(nonzero))


def _exact_upper_tail(ranks: NDArray[np.float64], statistic: float, p_plus: float) -> float:
    """P(sum of rank_i B_i >= statistic) for independent B_i ~ Bernoulli(p_plus), by convolution."""
    doubled = np.rint(2 * ranks).astype(np.int64)  # average ranks are multiples of 1/2
    total = int(doubled.sum())
    mass = np.zeros(total + 1)
    mass[0] = 1.0
    reach = 0
    for r in doubled:
        shifted = mass[: reach + 1] * p_plus
        mass[: reach + 1] *= 1.0 - p_plus
        mass[r : r + reach + 1] += shifted
        reach += int(r)
    threshold = int(np.rint(2 * statistic))
    return float(min(1.0, mass[threshold:].sum()))


def upper_p_value(signed: SignedRanks, gamma: float, method: BoundsMethod) -> float:
    """The upper bound of the one-sided (greater) p-value at ``gamma``."""
    if gamma < 1:
        raise ValueError("gamma must be at least 1")
    if signed.used == 0:
        return 1.0
    p_plus = gamma / (1.0 + gamma)
    if method == "exact":
        return _exact_upper_tail(signed.ranks, signed.statistic, p_plus)
    mean = p_plus * float(signed.ranks.sum())
    sd = math.sqrt(p_plus * (1.0 - p_plus) * float(np.sum(signed.ranks**2)))
    return float(stats.norm.sf((signed.statistic - mean) / sd))


def default_method(signed: SignedRanks) -> BoundsMethod:
    return "exact" if signed.used <= EXACT_PAIRS else "normal"


def critical_gamma(signed: SignedRanks, level: float, method: BoundsMethod) -> float | None:
    """The Gamma at which the upper-bound p-value reaches ``level`` (root finding on log Gamma); None when the
    result is not significant even at Gamma = 1, infinity when it stays significant up to :data:`MAX_GAMMA`."""
    if upper_p_value(signed, 1.0, method) >= level:
        return None
    if upper_p_value(signed, MAX_GAMMA, method) <= level:
        return math.inf
    root = optimize.brentq(
        lambda log_gamma: upper_p_value(signed, math.exp(log_gamma), method) - level,
        0.0,
        math.log(MAX_GAMMA),
        xtol=1e-10,
        rtol=1e-12,
    )
    return float(math.exp(root))


def gamma_grid(critical: float | None) -> list[float]:
    """Gamma = 1, 1.1, ... (0.1 up to 3, 0.5 up to 10, then 1) to the first value past ``critical``."""
    values = [1.0]
    limit = 1.0 if critical is None else critical
    while values[-1] <= limit and len(values) < MAX_GRID:
        last = values[-1]
        step = 0.1 if last < 3 - 1e-9 else 0.5 if last < 10 - 1e-9 else 1.0
        values.append(round(last + step, 1))
    return values


# --- the refute check -------------------------------------------------------------------------------------------

NAME = "rosenbaum_bounds"
NULL = (
    "No hidden confounder that multiplies the odds of treatment of two matched units by up to Gamma explains the "
    "effect away (Rosenbaum 2002, ch. 4)."
)
#: Fails when a bias this small (odds of treatment raised by a quarter within pairs) makes the effect insignificant.
GAMMA_FLOOR = 1.25
#: Fewer non-zero pairs than this cannot reach significance in a useful way: the check is not run.
MIN_PAIRS = 10


def sensitivity_word(gamma: float) -> str:
    """The usual reading of a critical Gamma: below 1.5 a large sensitivity, 1.5 to 3 moderate, above 3 small."""
    if gamma < 1.5:
        return "a large sensitivity"
    if gamma < 3:
        return "a moderate sensitivity"
    return "a small sensitivity"


def rosenbaum_check(
    differences: ArrayLike, alpha: float, *, context: str = "", method: BoundsMethod | None = None
) -> tuple[RefuteCheck, RosenbaumBounds | None]:
    """The check and its figures for matched-pair differences (treated minus control).

    The test is two-sided at ``alpha``, as the matching estimate's interval is: the one-sided test in the direction
    of the effect at ``alpha / 2`` (DOS2's ``senWilcox(alternative = "twosided")`` doubles the smaller one-sided
    p-value). The critical Gamma is floored to two decimals, so the effect is still significant at it.
    """
    d = np.asarray(differences, dtype=np.float64)
    direction: Literal["positive", "negative"] = "negative" if d.mean() < 0 else "positive"
    signed = signed_ranks(-d if direction == "negative" else d)
    procedure = (
        "Wilcoxon signed-rank test on the matched pairs' outcome differences; at each Gamma the upper bound of its "
        "one-sided p-value (each pair positive with probability Gamma/(1+Gamma)), and the largest Gamma at which "
        f"the effect stays significant, by root finding.{context}"
    )
    if signed.used < MIN_PAIRS:
        return _not_tested(
            procedure,
            f"Only {signed.used} matched pairs with a non-zero difference; the bounds need at least {MIN_PAIRS}.",
        ), None
    how = method or default_method(signed)
    level = alpha / 2
    critical = critical_gamma(signed, level, how)
    if critical is not None and math.isfinite(critical):
        critical = math.floor(critical * 100) / 100
    shown = None if critical is None else min(critical, MAX_GAMMA)
    grid = [GammaBound(gamma=g, p_value_upper=upper_p_value(signed, g, how)) for g in gamma_grid(shown)]
    figures = RosenbaumBounds(
        pairs=signed.pairs,
        zero_differences=signed.zeros,
        statistic=signed.statistic,
        direction=direction,
        method=how,
        critical_gamma=shown,
        grid=grid,
    )
    p_one = grid[0].p_value_upper
    p_two = min(1.0, 2 * p_one)
    listed = ", ".join(f"{row.gamma:g}: {row.p_value_upper:.3g}" for row in grid[1:8])
    counts = (
        f"{signed.pairs} pairs ({signed.zeros} with a zero difference dropped), signed-rank T = "
        f"{signed.statistic:g} for a {direction} effect; one-sided p = {p_one:.3g} at Gamma 1 (two-sided "
        f"{p_two:.3g}); upper bounds {listed}{' ...' if len(grid) > 8 else ''} ("
        f"{'exact' if how == 'exact' else 'normal approximation'}; significance: the one-sided bound below alpha/2 = "
        f"{level:g}). For scale: the classic smoking and lung cancer studies stay significant to about Gamma 6 "
        "(Rosenbaum 2002, ch. 4)."
    )
    level_words = f"{alpha:.0%}" if round(alpha * 100) == alpha * 100 else f"{alpha:g}"
    if critical is None:
        return RefuteCheck(
            name=NAME,
            null=NULL,
            procedure=procedure,
            estimate=None,
            distribution=None,
            p_value=p_two,
            verdict="inconclusive",
            detail=f"The matched pairs' effect is not significant at the {level_words} level even without hidden "
            f"bias. {counts}",
            explanation="There is no significant matched effect for a hidden bias to explain away.",
        ), figures
    assert shown is not None
    if not math.isfinite(critical) or critical >= MAX_GAMMA:
        words = (
            f"the effect stays significant at the {level_words} level even if a hidden confounder multiplied the "
            f"odds of treatment by {MAX_GAMMA:g} — a small sensitivity"
        )
    else:
        words = (
            f"the effect stays significant at the {level_words} level unless a hidden confounder multiplied the "
            f"odds of treatment by more than {critical:.2f} — {sensitivity_word(critical)}"
        )
    fail = critical < GAMMA_FLOOR
    return RefuteCheck(
        name=NAME,
        null=NULL,
        procedure=procedure,
        estimate=shown,
        distribution=None,
        p_value=p_two,
        verdict="fail" if fail else "pass",
        detail=f"{words[0].upper()}{words[1:]}. {counts} Fails below Gamma {GAMMA_FLOOR}.",
        explanation=f"A weak hidden bias (odds of treatment within pairs raised by {critical:.2f}) would be enough to "
        "make the matched effect insignificant."
        if fail
        else f"Only a hidden confounder that changed the odds of treatment within matched pairs by more than "
        f"{min(critical, MAX_GAMMA):.2f} times could make the matched effect insignificant.",
    ), figures


def _not_tested(procedure: str, reason: str) -> RefuteCheck:
    return RefuteCheck(
        name=NAME,
        null=NULL,
        procedure=procedure,
        estimate=None,
        distribution=None,
        p_value=None,
        verdict="inconclusive",
        detail=f"Not tested: {reason}",
        explanation="This check cannot speak for or against the estimate here; rely on the others.",
    )


def not_tested(reason: str) -> RefuteCheck:
    """The check, not run, with the reason (the design is not matched pairs, or too few of them)."""
    return _not_tested("Rosenbaum bounds need the matched pairs of a matching estimate.", reason)
