"""What the three quasi-experimental simulations share: a simulated test whose estimate shifts with the effect, its
Monte Carlo error, and the solvers (the smallest effect by bisection on common random numbers, the smallest number
of units by bisection over whole numbers with the seed held fixed)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tools.errors import ToolError
from tools.literals import Alternative

__all__ = [
    "CHUNK_ELEMENTS",
    "FloatArray",
    "ShiftTest",
    "chunks",
    "mc_standard_error",
    "smallest_effect",
    "smallest_units",
]

FloatArray = NDArray[np.float64]
#: Normal draws generated at once: simulations are drawn in chunks of about this many numbers (16 MB).
CHUNK_ELEMENTS = 2**21
BISECTION_STEPS = 60
BRACKET = 1.25
#: A solved number of units is the smallest within this fraction (far inside the simulation error of its power).
UNITS_RTOL = 0.005
MAX_DOUBLINGS = 60


def mc_standard_error(power: float, simulations: int) -> float:
    """Binomial standard error of a power estimated from ``simulations`` independent data sets."""
    return math.sqrt(max(power * (1.0 - power), 0.0) / simulations)


def chunks(simulations: int, per_simulation: int) -> list[int]:
    """Sizes of the chunks ``simulations`` data sets of ``per_simulation`` numbers each are drawn in."""
    size = max(1, CHUNK_ELEMENTS // max(per_simulation, 1))
    full, rest = divmod(simulations, size)
    return [size] * full + ([rest] if rest else [])


@dataclass(frozen=True)
class ShiftTest:
    """A test statistic's numerator simulated under no effect, with its standard errors: an effect ``τ`` moves every
    estimate by ``τ`` and leaves the standard errors as they are (the estimators here are linear in the outcome and
    their residuals do not depend on a constant effect), so the same draws give the power at any effect."""

    estimates: FloatArray
    std_errors: FloatArray
    critical: float
    alternative: Alternative

    @property
    def simulations(self) -> int:
        return int(self.estimates.size)

    def power(self, effect: float) -> float:
        """Share of simulated data sets whose test rejects at the effect ``effect``."""
        statistic = (self.estimates + effect) / self.std_errors
        if self.alternative == "larger":
            rejected = statistic > self.critical
        elif self.alternative == "smaller":
            rejected = statistic < -self.critical
        else:
            rejected = np.abs(statistic) > self.critical
        return float(np.mean(rejected))


def smallest_effect(power_at: Callable[[float], float], target: float, start: float, sign: float) -> float:
    """The smallest effect (in magnitude, with sign ``sign``) whose simulated power reaches ``target``: double from
    ``start`` until it does, then bisect; the draws stay the same throughout (common random numbers)."""
    high = abs(start)
    for _ in range(MAX_DOUBLINGS):
        if power_at(sign * high) >= target:
            break
        high *= 2.0
    else:
        raise ToolError(
            "mde_not_reached",
            f"No effect reaches power {target:g} in this design's simulations.",
            "Lower the target power, or add units or periods.",
        )
    low = 0.0
    for _ in range(BISECTION_STEPS):
        middle = 0.5 * (low + high)
        if power_at(sign * middle) >= target:
            high = middle
        else:
            low = middle
    return sign * high


def smallest_units(power_of: Callable[[int], float], target: float, start: int, floor: int, cap: int) -> int:
    """The smallest scale (a number of units) whose simulated power reaches ``target``, by bisection over whole
    numbers from a bracket around ``start`` (the closed form's answer, so the bracket is narrow: a factor of
    ``BRACKET`` either side) down to ``UNITS_RTOL`` of the answer; each evaluation reuses the seed (common random
    numbers)."""
    power_of = _memoised(power_of)
    high = min(max(start, floor), cap)
    while power_of(high) < target:
        if high >= cap:
            raise ToolError(
                "sample_size_too_large",
                f"Even {cap:,} units do not reach power {target:g} in this design.",
                "Give a larger effect (mde), more periods, or a lower target power.",
            )
        high = min(cap, math.ceil(BRACKET * high))
    low = max(floor, math.floor(high / BRACKET))
    while low > floor and power_of(low) >= target:
        high, low = low, max(floor, math.floor(low / BRACKET))
    if power_of(low) >= target:  # only the floor itself is left
        return low
    while high - low > max(1, UNITS_RTOL * high):  # power(low) < target <= power(high)
        middle = (low + high) // 2
        if power_of(middle) >= target:
            high = middle
        else:
            low = middle
    return high


def _memoised(func: Callable[[int], float]) -> Callable[[int], float]:
    seen: dict[int, float] = {}

    def cached(n: int) -> float:
        if n not in seen:
            seen[n] = func(n)
        return seen[n]

    return cached
