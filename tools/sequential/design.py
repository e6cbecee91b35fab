"""Group-sequential boundaries by alpha spending, and what a design costs: drift, inflation factor, expected size.

``boundaries`` finds, look by look, the z boundary whose crossing probability under H0 (given no earlier crossing)
is the alpha the spending function releases at that look's information fraction; the last look spends whatever is
left, so the design's level is exactly ``alpha`` whatever the fractions. ``group_sequential_design`` adds the drift
(effect over its standard error at the maximum information) that gives the target power, the inflation factor (the
maximum sample size over the fixed design's: the square of the drifts' ratio) and the expected sample size under H1
and H0 as fractions of the maximum, which are rpact's ``getDesignCharacteristics`` figures.

Power is directional, as in rpact and Jennison & Turnbull: the chance of crossing the boundary on the side of the
effect (a two-sided design's rejections on the far side, 1e-4 of paths at 80% power with Pocock-type spending, do
not count), and the fixed design it is compared with has z_(1 - alpha/2) + z_(power) as its drift.
``fixed_power`` and ``drift_for_fixed_power`` translate to and from the power tool's fixed two-sided test, which
counts both tails.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, special

from tools.literals import SpendingFunction
from tools.sequential.integration import FloatArray, Recursion
from tools.sequential.spending import cumulative_alpha

__all__ = [
    "MAX_Z",
    "Boundaries",
    "DesignCharacteristics",
    "boundaries",
    "drift_for_fixed_power",
    "fixed_power",
    "group_sequential_design",
    "sequential_power",
]

#: The largest boundary reported: a look that may spend (almost) nothing, e.g. an O'Brien-Fleming-type look at
#: t = 0.001, gets this, which no statistic crosses (P(Z > 37.5) is 5e-308).
MAX_Z = 37.5
_XTOL = 1e-12
_MAX_DRIFT = 40.0


@dataclass(frozen=True)
class Boundaries:
    """The z boundaries of a design at its information fractions (continue while -z < Z < z, or Z < z one-sided)."""

    fractions: tuple[float, ...]
    z: tuple[float, ...]
    cumulative_alpha: tuple[float, ...]  # total alpha spent by each look (both sides for a two-sided design)
    two_sided: bool
    alpha: float
    spending: SpendingFunction
    recursion: Recursion = field(repr=False, compare=False)

    @property
    def looks(self) -> int:
        return len(self.fractions)

    def lower(self, k: int) -> float:
        return -self.z[k] if self.two_sided else -math.inf

    def nominal_p(self, k: int) -> float:
        """The p-value at which look k's boundary is crossed: two-sided for a two-sided design."""
        tail = float(special.ndtr(-self.z[k]))
        return min(1.0, 2.0 * tail) if self.two_sided else tail


def boundaries(
    fractions: Sequence[float],
    spending: SpendingFunction,
    alpha: float,
    *,
    two_sided: bool,
    spend_all_at_last: bool = True,
) -> Boundaries:
    """Boundaries at the information ``fractions`` (increasing, positive): look k spends alpha(t_k) - alpha(t_(k-1));
    the last look spends all that is left when ``spend_all_at_last`` (the fractions need not end at 1)."""
    t = np.asarray(fractions, dtype=np.float64)
    recursion = Recursion(t)
    z: list[float] = []
    cumulative: list[float] = []
    spent_before = 0.0
    for k, fraction in enumerate(t):
        last = k == len(t) - 1
        total = alpha if last and spend_all_at_last else cumulative_alpha(spending, alpha, float(fraction), two_sided)
        total = max(total, spent_before)
        increment = total - spent_before
        if k == 0:
            tail = increment / 2.0 if two_sided else increment
            c = min(MAX_Z, float(-special.ndtri(tail))) if tail > 0 else MAX_Z
        else:
            c = _solve_boundary(recursion, k, increment, two_sided)
        z.append(c)
        cumulative.append(total)
        spent_before = total
        if not last:
            recursion.add_look(c, -c if two_sided else -math.inf)
    return Boundaries(
        fractions=tuple(float(x) for x in t),
        z=tuple(z),
        cumulative_alpha=tuple(cumulative),
        two_sided=two_sided,
        alpha=alpha,
        spending=spending,
        recursion=recursion,
    )


def _solve_boundary(recursion: Recursion, k: int, increment: float, two_sided: bool) -> float:
    """The boundary whose H0 crossing probability at look k (after no crossing before) is ``increment``."""
    zero = np.zeros(1)

    def excess(c: float) -> float:
        up, down = recursion.crossing(k, c, -c if two_sided else -math.inf, zero)
        return float(up[0] + down[0]) - increment

    if increment <= 0 or excess(MAX_Z) >= 0:
        return MAX_Z
    low = 0.0 if two_sided else -10.0
    if excess(low) <= 0:  # everything still running would have to be rejected: the boundary is at its floor
        return low
    return float(optimize.brentq(excess, low, MAX_Z, xtol=_XTOL, rtol=4 * np.finfo(float).eps))


def sequential_power(design: Boundaries, drifts: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per look and drift, P(stop at that look by crossing the upper boundary) and the lower one's (zeros for a
    one-sided design): arrays of shape (looks, drifts). The drift is the effect over its standard error at the
    maximum information; a one-sided design takes drifts of 0 and above."""
    drifts = np.atleast_1d(np.asarray(drifts, dtype=np.float64))
    up = np.empty((design.looks, drifts.size))
    down = np.empty((design.looks, drifts.size))
    for k in range(design.looks):
        up[k], down[k] = design.recursion.crossing(k, design.z[k], design.lower(k), drifts)
    return up, down


def _rejection(design: Boundaries, drift: float) -> float:
    """Directional power: P(crossing the upper boundary at some look) at a drift of 0 or more."""
    up, _ = sequential_power(design, np.array([drift]))
    return float(up.sum())


def fixed_power(drift: FloatArray, alpha: float, *, two_sided: bool) -> FloatArray:
    """Power of the fixed-sample z-test at each drift (effect over standard error): both tails when two-sided."""
    drift = np.asarray(drift, dtype=np.float64)
    if two_sided:
        z = -float(special.ndtri(alpha / 2.0))
        return np.asarray(special.ndtr(drift - z) + special.ndtr(-drift - z), dtype=np.float64)
    z = -float(special.ndtri(alpha))
    return np.asarray(special.ndtr(drift - z), dtype=np.float64)


def drift_for_fixed_power(power: FloatArray, alpha: float, *, two_sided: bool) -> FloatArray:
    """The drift at which the fixed-sample z-test has ``power`` (0 where power is at most the level): the inverse
    of ``fixed_power`` over drifts of 0 and above, by bisection (both tails make it have no closed form)."""
    power = np.asarray(power, dtype=np.float64)
    tail = alpha / 2.0 if two_sided else alpha
    z = -float(special.ndtri(tail))
    # the one-tail answer is an upper bound (the far tail only adds power); 0 is a lower one
    high = np.maximum(z + special.ndtri(np.clip(power, 1e-300, 1.0 - 1e-16)), 0.0) + 1e-9
    if not two_sided:
        return np.asarray(np.maximum(high - 1e-9, 0.0), dtype=np.float64)
    low = np.zeros_like(power)
    for _ in range(64):
        mid = 0.5 * (low + high)
        below = fixed_power(mid, alpha, two_sided=True) < power
        low = np.where(below, mid, low)
        high = np.where(below, high, mid)
    return np.asarray(0.5 * (low + high), dtype=np.float64)


@dataclass(frozen=True)
class DesignCharacteristics:
    """A design with its operating characteristics at the target power."""

    boundaries: Boundaries
    power: float
    drift: float  # the effect over its standard error at the maximum information that gives ``power``
    fixed_drift: float  # the same for the fixed-sample test
    cumulative_power: tuple[float, ...]  # P(rejected on the effect's side by look k) at ``drift``
    expected_fraction_h1: float  # expected sample size under the alternative, as a fraction of the maximum
    expected_fraction_h0: float

    @property
    def inflation_factor(self) -> float:
        """Maximum sample size over the fixed design's for the same power."""
        return (self.drift / self.fixed_drift) ** 2


def expected_fraction(design: Boundaries, drift: float) -> float:
    """Expected information (sample size) used, as a fraction of the maximum, at ``drift``."""
    up, down = sequential_power(design, np.array([drift]))
    stop = (up + down)[:, 0]
    t = np.asarray(design.fractions)
    before_last = stop[:-1]
    return float(np.sum(t[:-1] * before_last) + t[-1] * (1.0 - np.sum(before_last)))


def group_sequential_design(
    fractions: Sequence[float], spending: SpendingFunction, alpha: float, power: float, *, two_sided: bool
) -> DesignCharacteristics:
    """Boundaries, the drift for ``power``, the inflation factor and expected sample sizes of a design."""
    design = boundaries(fractions, spending, alpha, two_sided=two_sided)
    fixed = float(-special.ndtri(alpha / 2.0 if two_sided else alpha) + special.ndtri(power))
    drift = solve_drift(design, power, start=fixed)
    up, _ = sequential_power(design, np.array([drift]))
    cumulative = np.cumsum(up[:, 0])
    return DesignCharacteristics(
        boundaries=design,
        power=power,
        drift=drift,
        fixed_drift=fixed,
        cumulative_power=tuple(float(x) for x in cumulative),
        expected_fraction_h1=expected_fraction(design, drift),
        expected_fraction_h0=expected_fraction(design, 0.0),
    )


def solve_drift(design: Boundaries, power: float, *, start: float) -> float:
    """The drift at which the design rejects on the effect's side with probability ``power`` (above its level)."""
    low, high = max(0.0, 0.9 * start), max(start * 1.6, 1.0)
    while _rejection(design, low) > power and low > 0:
        low = 0.0
    while _rejection(design, high) < power and high < _MAX_DRIFT:
        high = min(_MAX_DRIFT, 2.0 * high)
    return float(optimize.brentq(lambda d: _rejection(design, d) - power, low, high, xtol=_XTOL))
