"""Two-proportion inference for binary metrics: one score statistic for the test, the intervals and the margin.

Why not the unpooled Wald z-test: with few events and unequal arms (p = 0.01, 3,000 vs 600 units) it rejects
about 7% of A/A experiments at alpha = 0.05 and its interval covers 92.5%, while the ``power`` tool plans for
the pooled test. Here everything comes from the Farrington-Manning / Miettinen-Nurminen score statistic,
``(observed - hypothesised) / standard error with both rates re-estimated under the hypothesis`` (restricted
maximum likelihood), without Miettinen and Nurminen's N / (N - 1) factor:

- at a zero difference the restricted estimate is the pooled rate, so the p-value is the pooled two-proportion
  z-test, the test ``power`` plans (statsmodels ``test_proportions_2indep(method="score", correction=False)``);
- the difference's interval inverts the same statistic (Mee's score interval), so it excludes 0 exactly when
  the z-test rejects (statsmodels 0.15's version of it misplaces the restricted estimate when the difference is
  not small, so the tests check it against a brute-force search);
- the relative lift's interval inverts the score statistic for the risk ratio (statsmodels
  ``confint_proportions_2indep(compare="ratio", method="score", correction=False)``), and a guardrail's relative
  non-inferiority margin is the Farrington-Manning score test of that ratio: a margin test is not a test of zero
  difference, so its variance is estimated under the margin, not pooled. (Simulated at the margin, it claims
  non-inferiority 4.8-6.3% of the time at alpha = 5%, the higher rates with ~4 expected events in the smaller
  arm; the delta-method z-test used before claimed it 0-2.6% of the time, i.e. it had little power);
- when an expected cell count of the 2 x 2 table is below 5 the normal approximation is not trusted for the
  p-value: Fisher's exact test gives it instead (the intervals stay score intervals) and the result says so.

Counts are ``rate * n`` (exact for rows; a dashboard rate may give a fractional count, which the score formulas
accept and Fisher's test rounds).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from tools.ab_test.stats import ArmEstimate, critical, p_of_z
from tools.bounds import MAX_RATIO
from tools.results import Estimate, zero_error

__all__ = [
    "EXACT_BELOW",
    "FISHER_TEST",
    "Z_TEST",
    "TwoByTwo",
    "binary_compare",
    "binary_lift",
    "binary_p",
    "fisher_p",
    "ratio_margin_z",
    "score_bounds",
    "score_z_diff",
]

#: Smallest expected cell count (under equal rates) for which the z-test's p-value is used; below it, Fisher's.
EXACT_BELOW = 5.0
#: The ``test`` of a binary comparison, by the p-value's source.
Z_TEST = "two-proportion z-test (pooled variance under H0), score interval"
FISHER_TEST = "Fisher's exact test (an expected count below 5), score interval"
#: Score statistics are clipped to this size: a hypothesis on the boundary (a rate of 0 or 1) has no variance.
_Z_MAX = 1e12
#: Stands for an infinite slope in Brent's method, which needs finite values.
_HUGE = 1e300
#: Machine epsilon: Brent's method refuses a relative tolerance below 4 of them.
_EPS = 2.220446049250313e-16
#: Furthest a ratio bound is searched from the estimate, in natural-log units (e^709 overflows).
_LOG_SPAN = 512.0


@dataclass(frozen=True)
class TwoByTwo:
    """Events and units per arm; the difference is treatment minus control, the ratio treatment / control."""

    x_t: float
    n_t: int
    x_c: float
    n_c: int

    @classmethod
    def of(cls, control: ArmEstimate, treatment: ArmEstimate) -> TwoByTwo:
        return cls(treatment.value * treatment.n, treatment.n, control.value * control.n, control.n)

    @property
    def p_t(self) -> float:
        return self.x_t / self.n_t

    @property
    def p_c(self) -> float:
        return self.x_c / self.n_c

    def smallest_expected(self) -> float:
        """The smallest expected cell count of the 2 x 2 table under equal rates (events and non-events)."""
        pooled = (self.x_t + self.x_c) / (self.n_t + self.n_c)
        return min(self.n_t, self.n_c) * min(pooled, 1.0 - pooled)

    def exact(self) -> bool:
        """Whether the p-value comes from Fisher's exact test (an expected count below :data:`EXACT_BELOW`)."""
        return self.smallest_expected() < EXACT_BELOW


def _z(numerator: float, variance: float) -> float:
    if variance > 0:
        return max(-_Z_MAX, min(_Z_MAX, numerator / math.sqrt(variance)))
    return 0.0 if numerator == 0 else math.copysign(_Z_MAX, numerator)


def _restricted_diff(t: TwoByTwo, delta: float) -> tuple[float, float]:
    """Maximum-likelihood rates (treatment, control) subject to treatment - control = ``delta``.

    Farrington & Manning's (1990, eq. 9-11) trigonometric root of a cubic gives the starting point; it loses up to
    half the digits when two roots are close (tiny rates: 4e-9 for a true 9e-13), so the root of the constrained
    score equation is then polished by Brent's method within a bracket around it, or over the whole feasible
    range when the bracket does not hold it (the log-likelihood is concave: one root). (Miettinen & Nurminen's
    form of the cubic in the control rate, as statsmodels 0.15 codes it, picks a negative rate when the
    difference is large, e.g. 122/924 against 420/576 at -0.64.)"""
    if delta == 0:
        pooled = (t.x_t + t.x_c) / (t.n_t + t.n_c)
        return pooled, pooled
    if abs(delta) >= 1:
        return (1.0, 0.0) if delta > 0 else (0.0, 1.0)
    lo, hi = max(0.0, -delta), min(1.0, 1.0 - delta)  # the control rate's feasible range

    def slope(p_c: float) -> float:  # derivative of the constrained log-likelihood in the control rate
        p_t = p_c + delta
        up = _over(t.x_t, p_t) + _over(t.x_c, p_c)
        down = _over(t.n_t - t.x_t, 1.0 - p_t) + _over(t.n_c - t.x_c, 1.0 - p_c)
        return max(-_HUGE, min(_HUGE, up - down)) if up != down else 0.0

    if slope(lo) <= 0:
        return lo + delta, lo
    if slope(hi) >= 0:
        return hi + delta, hi
    hint = min(max(_cubic_control_rate(t, delta), lo), hi)
    a, b = max(lo, hint * (1 - 1e-6) - 1e-300), min(hi, hint * (1 + 1e-6) + 1e-300)
    if not slope(a) > 0 > slope(b):
        a, b = lo, hi
    p_c = float(optimize.brentq(slope, a, b, xtol=1e-300, rtol=4 * _EPS, maxiter=500))
    return p_c + delta, p_c


def _over(count: float, rate: float) -> float:
    """count / rate: 0 without a count, infinite for a count at a zero rate (the likelihood's wall)."""
    if count <= 0:
        return 0.0
    return count / rate if rate > 0 else math.inf


def _cubic_control_rate(t: TwoByTwo, delta: float) -> float:
    """Farrington & Manning's closed form for the constrained treatment rate, returned as the control rate."""
    theta = t.n_c / t.n_t
    a = 1 + theta
    b = -(1 + theta + t.p_t + theta * t.p_c + delta * (theta + 2))
    c = delta * delta + delta * (2 * t.p_t + theta + 1) + t.p_t + theta * t.p_c
    d = -t.p_t * delta * (1 + delta)
    b3, c3 = b / (3 * a), c / (3 * a)
    v = b3 * b3 * b3 - b3 * c3 * 1.5 + d / (2 * a)
    u = math.copysign(math.sqrt(max(b3 * b3 - c3, 0.0)), v)
    w = (math.pi + math.acos(max(-1.0, min(1.0, v / (u * u * u))))) / 3 if u != 0 else math.pi / 2
    return 2 * u * math.cos(w) - b3 - delta


def score_z_diff(t: TwoByTwo, delta: float) -> float:
    """Score statistic for treatment - control = ``delta``: positive when the observed difference is larger."""
    q_t, q_c = _restricted_diff(t, delta)
    return _z(t.p_t - t.p_c - delta, q_t * (1 - q_t) / t.n_t + q_c * (1 - q_c) / t.n_c)


def _restricted_ratio(t: TwoByTwo, ratio: float) -> tuple[float, float]:
    """Maximum-likelihood rates (treatment, control) subject to treatment / control = ``ratio`` (Farrington &
    Manning 1990: the smaller root of a quadratic, in the form that does not cancel for rare events)."""
    if ratio <= 0:  # the treatment rate is 0; the control's is then free
        return 0.0, t.p_c
    n, x = t.n_t + t.n_c, t.x_t + t.x_c
    a = n * ratio
    b = -(t.n_t * ratio + t.x_t + t.n_c + t.x_c * ratio)
    root = -b + math.sqrt(max(b * b - 4 * a * x, 0.0))
    p_c = 2 * x / root if root > 0 else 0.0
    p_c = min(p_c, 1.0, 1.0 / ratio)
    return p_c * ratio, p_c


def score_z_ratio(t: TwoByTwo, ratio: float) -> float:
    """Score statistic for treatment / control = ``ratio``: positive when the observed ratio is larger."""
    q_t, q_c = _restricted_ratio(t, ratio)
    return _z(t.p_t - ratio * t.p_c, q_t * (1 - q_t) / t.n_t + ratio * ratio * q_c * (1 - q_c) / t.n_c)


def _root(f: Callable[[float], float], lo: float, hi: float, xtol: float = 1e-14) -> float:
    """Brent's root of ``f`` between ``lo`` and ``hi``, to ``xtol`` plus 1e-13 relative."""
    return float(optimize.brentq(f, lo, hi, xtol=xtol, rtol=1e-13, maxiter=200))


def _diff_bound(t: TwoByTwo, q: float, upper: bool, scale: float) -> float:
    """Where the score statistic for the difference reaches -q (upper bound) or q (lower bound), to 1e-10 of
    ``scale`` (the standard error: rates of 1e-12 have intervals that narrow). Solved for the rarer outcome (the
    difference in non-event rates is minus the difference in event rates): the cubic's root near a rate of 1
    would lose the digits of 1 - rate that the variance needs."""
    if (t.x_t + t.x_c) * 2 > t.n_t + t.n_c:
        flipped = TwoByTwo(t.n_t - t.x_t, t.n_t, t.n_c - t.x_c, t.n_c)
        return -_diff_bound(flipped, q, not upper, scale)
    estimate = t.p_t - t.p_c
    if (upper and estimate >= 1) or (not upper and estimate <= -1):
        return estimate
    target = -q if upper else q
    return _root(lambda delta: score_z_diff(t, delta) - target, estimate, 1.0 if upper else -1.0, 1e-10 * scale)


def _ratio_bound(t: TwoByTwo, q: float, upper: bool) -> float:
    """Where the score statistic for the ratio reaches -q (upper bound) or q (lower bound), searched on the log
    scale; a lower bound of 0 when the treatment has no events (the control has some: see :func:`binary_lift`)."""
    if not upper and t.x_t <= 0:
        return 0.0
    start = math.log(t.p_t / t.p_c)
    target = -q if upper else q

    def f(log_ratio: float) -> float:
        return score_z_ratio(t, math.exp(log_ratio)) - target

    step = 1.0 if upper else -1.0
    far = start + step
    while f(far) * f(start) > 0:
        if abs(step) >= _LOG_SPAN:  # no crossing within e^700 of the estimate: a bound of 0 or "infinite"
            return math.exp(far)
        step *= 2
        far = start + step
    return math.exp(_root(f, start, far))


def _bounds(
    bound: Callable[[float, bool], float], alpha: float, alternative: str, shift: float = 0.0
) -> tuple[float, float]:
    """The interval's ends in the convention of ``stats.interval``: one-sided at alpha on the tested side, the
    two-sided bound on the other (JSON has no infinity)."""
    q2 = critical(alpha, None, "two-sided")
    q_low = critical(alpha, None, "larger") if alternative == "larger" else q2
    q_high = critical(alpha, None, "smaller") if alternative == "smaller" else q2
    return bound(q_low, False) + shift, bound(q_high, True) + shift


def binary_p(t: TwoByTwo, alternative: str) -> float:
    """p-value of no difference: the pooled two-proportion z-test, or Fisher's exact test for small counts."""
    if t.exact():
        return fisher_p(round(t.x_t), t.n_t, round(t.x_c), t.n_c, alternative)
    return p_of_z(score_z_diff(t, 0.0), alternative)


def fisher_p(x_t: int, n_t: int, x_c: int, n_c: int, alternative: str) -> float:
    """Fisher's exact test: the treatment's events given both margins follow the hypergeometric law; two-sided,
    the probability of every table no more likely than the one seen (scipy's rule, with its 1e-7 relative
    slack). Summed over the support, which is short whenever an expected count is small; scipy's
    ``fisher_exact`` is not used because it stalls on margins near 1e12."""
    events = x_t + x_c
    support = np.arange(max(0, events - n_c), min(n_t, events) + 1)
    # successive ratios P(k + 1) / P(k), accumulated in logs: exact to rounding at any margin (log-gamma
    # differences of numbers near 1e12 lose several digits)
    k = support[:-1].astype(np.float64)
    steps = np.log(events - k) + np.log(n_t - k) - np.log(k + 1) - np.log(n_c - events + k + 1)
    log_pmf = np.concatenate([[0.0], np.cumsum(steps)])
    pmf = np.exp(log_pmf - log_pmf.max())
    pmf /= pmf.sum()
    if alternative == "larger":
        tail = pmf[support >= x_t]
    elif alternative == "smaller":
        tail = pmf[support <= x_t]
    else:
        tail = pmf[pmf <= pmf[x_t - support[0]] * (1 + 1e-7)]
    return min(1.0, float(tail.sum()))


def binary_compare(
    control: ArmEstimate, treatment: ArmEstimate, *, alpha: float, alternative: str
) -> tuple[Estimate, str]:
    """Treatment minus control for a binary metric and the name of the test; the standard error reported is the
    unpooled one (the estimate's sampling spread), the test and interval are the score ones."""
    t = TwoByTwo.of(control, treatment)
    estimate = t.p_t - t.p_c
    se = math.sqrt(treatment.variance + control.variance)
    low, high = _bounds(lambda q, upper: _diff_bound(t, q, upper, se), alpha, alternative)
    p = binary_p(t, alternative)
    name = FISHER_TEST if t.exact() else Z_TEST
    return Estimate(estimate=estimate, std_error=se, ci_lower=low, ci_upper=high, p_value=p, alpha=alpha), name


def binary_lift(
    control: ArmEstimate, treatment: ArmEstimate, *, alpha: float, alternative: str, p_value: float
) -> Estimate | None:
    """treatment / control - 1 with the score interval for the risk ratio; ``p_value`` is the difference's (a
    zero lift is a zero difference). The standard error is the delta method's, for reading only. None when there
    is no lift to report: no control events, a lift beyond ``bounds.MAX_RATIO``, or no treatment events (the
    delta-method standard error is then 0)."""
    t = TwoByTwo.of(control, treatment)
    if t.x_c <= 0 or t.p_t > MAX_RATIO * t.p_c:
        return None
    ratio = t.p_t / t.p_c
    lift = ratio - 1
    se = math.sqrt(treatment.variance + ratio * ratio * control.variance) / t.p_c
    if not 0 < se < math.inf or zero_error(se, lift):
        return None
    low, high = _bounds(lambda q, upper: _ratio_bound(t, q, upper), alpha, alternative, shift=-1.0)
    low, high = min(low, lift), max(high, lift)  # guards the last ulp of the root search
    return Estimate(estimate=lift, std_error=se, ci_lower=low, ci_upper=high, p_value=p_value, alpha=alpha)


def ratio_margin_z(control: ArmEstimate, treatment: ArmEstimate, ratio: float) -> float:
    """Farrington-Manning score statistic of treatment / control = ``ratio`` (a non-inferiority margin)."""
    return score_z_ratio(TwoByTwo.of(control, treatment), ratio)


def score_bounds(
    control: ArmEstimate, treatment: ArmEstimate, q: float, alternative: str, lift: bool
) -> tuple[tuple[float | None, float | None], tuple[float | None, float | None] | None]:
    """The score intervals of the difference and (``lift``: when :func:`binary_lift` reported one) of the relative
    lift at the critical value ``q`` (a sequential look's boundary): the tested side(s) only, None on an unbounded
    one-sided side. At a one-look design's ``q`` they are ``binary_compare``'s and ``binary_lift``'s intervals,
    bit for bit."""
    t = TwoByTwo.of(control, treatment)
    se = math.sqrt(treatment.variance + control.variance)
    low_side, high_side = alternative != "smaller", alternative != "larger"
    difference = (
        _diff_bound(t, q, False, se) if low_side else None,
        _diff_bound(t, q, True, se) if high_side else None,
    )
    if not lift or t.x_c <= 0 or t.x_t <= 0 or t.p_t > MAX_RATIO * t.p_c:
        return difference, None
    estimate = t.p_t / t.p_c - 1
    low = min(_ratio_bound(t, q, False) - 1.0, estimate) if low_side else None
    high = max(_ratio_bound(t, q, True) - 1.0, estimate) if high_side else None
    return difference, (low, high)
