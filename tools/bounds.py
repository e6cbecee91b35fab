"""Bounds on the numbers a tool request may carry: wide enough for any real analysis, narrow enough that the
arithmetic on them stays within floating point.

A request field without bounds accepts 1e300 or 5e-324, and a variance, a ratio or a power of such a number
overflows to infinity or underflows to zero deep inside a tool (``OverflowError``, ``ZeroDivisionError``, NaN).
The request models therefore bound every free-scale number with these constants, so pydantic refuses nonsense
before anything runs, with a message naming the field; what bounds on single fields cannot catch (a ratio of two
admissible numbers) each tool checks itself.
"""

from __future__ import annotations

__all__ = ["MAX_MAGNITUDE", "MAX_RATIO", "MIN_ALPHA", "MIN_SCALE", "MIN_SHARE"]

#: Largest magnitude of a per-unit value (a mean, a standard deviation, an effect): revenue in the smallest unit
#: of a weak currency (a $1B contract is about 1.6e13 Indonesian rupiah) or a duration in nanoseconds (a day is
#: 8.6e13) stay below it, and sums of squares of 1e12 such values (1e42) are far from overflow (1e308).
MAX_MAGNITUDE = 1e15

#: Smallest positive spread (a standard deviation) a request may give: below any unit a metric is reported in,
#: and with MAX_MAGNITUDE it keeps effect / spread (at most 1e27) a finite number.
MIN_SCALE = 1e-12

#: Smallest significance level: stricter than the 5-sigma convention of physics (2.9e-7) and genome-wide studies
#: (5e-8) even after a Bonferroni split over 25 comparisons, while 1 - alpha is still distinct from 1 in floating
#: point (at 1e-16 it is not, and every critical value becomes infinite).
MIN_ALPHA = 1e-10

#: Smallest planned share of an arm (shares are normalised): a one-in-a-million holdout; a smaller share is no arm,
#: and its expected count would make the sample-ratio chi-square overflow.
MIN_SHARE = 1e-6

#: Largest ratio reported as a relative change (a lift, an MDE as a fraction of the baseline): beyond it the base
#: is negligible beside the change (a lift of 1e14 % describes nothing), and the ratio can leave floating point
#: (1 / 5e-324 is infinite). Such a relative change is reported as null, with the absolute one beside it.
MAX_RATIO = 1e12


def relative_to(change: float, base: float) -> float | None:
    """``change / base``, or None when the base is not positive or negligible beside the change (``MAX_RATIO``)."""
    if base <= 0 or abs(change) > MAX_RATIO * base:
        return None
    return change / base
