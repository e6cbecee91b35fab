"""Sufficient statistics per arm and the tests built on them.

Everything an arm contributes is a handful of centred moments (``Moments``), computed from rows in two
vectorised passes or taken from dashboard summaries, so row-level and summary inputs give the same answer
and 10 million rows never need more than a few ``numpy.bincount`` calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

from tools.results import Estimate

__all__ = ["ArmEstimate", "Moments", "compare", "group_moments", "pool", "relative_lift"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Moments:
    """Centred moments of one arm's units: numerator y, denominator d (ratio metrics), covariate x (CUPED).

    ``m2_*`` are sums of squared deviations, ``c_*`` sums of cross products of deviations. A plain metric has
    d = 1 for every unit (so mean_d = 1 and m2_d = c_yd = 0); no covariate means x = 0.
    """

    n: int
    mean_y: float
    m2_y: float
    mean_d: float = 1.0
    m2_d: float = 0.0
    c_yd: float = 0.0
    mean_x: float = 0.0
    m2_x: float = 0.0
    c_xy: float = 0.0


def group_moments(
    codes: NDArray[np.intp], groups: int, y: FloatArray, d: FloatArray | None = None, x: FloatArray | None = None
) -> list[Moments]:
    """Moments of ``y`` (and ``d``, ``x``) for each group code 0..groups-1, in two vectorised passes."""
    n = np.bincount(codes, minlength=groups).astype(np.float64)
    safe = np.maximum(n, 1.0)

    def sums(weights: FloatArray) -> FloatArray:
        return np.asarray(np.bincount(codes, weights=weights, minlength=groups), dtype=np.float64)

    def centred(values: FloatArray) -> tuple[FloatArray, FloatArray]:
        means = sums(values) / safe
        return means, values - means[codes]

    mean_y, dev_y = centred(y)
    m2_y = sums(dev_y * dev_y)
    zeros: FloatArray = np.zeros(groups)
    mean_d: FloatArray = np.ones(groups)
    m2_d, c_yd = zeros, zeros
    if d is not None:
        mean_d, dev_d = centred(d)
        m2_d = sums(dev_d * dev_d)
        c_yd = sums(dev_y * dev_d)
    mean_x, m2_x, c_xy = zeros, zeros, zeros
    if x is not None:
        mean_x, dev_x = centred(x)
        m2_x = sums(dev_x * dev_x)
        c_xy = sums(dev_x * dev_y)
    return [
        Moments(
            n=int(n[g]),
            mean_y=float(mean_y[g]),
            m2_y=float(m2_y[g]),
            mean_d=float(mean_d[g]),
            m2_d=float(m2_d[g]),
            c_yd=float(c_yd[g]),
            mean_x=float(mean_x[g]),
            m2_x=float(m2_x[g]),
            c_xy=float(c_xy[g]),
        )
        for g in range(groups)
    ]


def pool(arms: list[Moments]) -> Moments:
    """The moments of all arms together (Chan et al.'s parallel combination; no catastrophic cancellation)."""
    total = sum(m.n for m in arms)
    gy = sum(m.n * m.mean_y for m in arms) / total
    gd = sum(m.n * m.mean_d for m in arms) / total
    gx = sum(m.n * m.mean_x for m in arms) / total
    return Moments(
        n=total,
        mean_y=gy,
        m2_y=sum(m.m2_y + m.n * (m.mean_y - gy) ** 2 for m in arms),
        mean_d=gd,
        m2_d=sum(m.m2_d + m.n * (m.mean_d - gd) ** 2 for m in arms),
        c_yd=sum(m.c_yd + m.n * (m.mean_y - gy) * (m.mean_d - gd) for m in arms),
        mean_x=gx,
        m2_x=sum(m.m2_x + m.n * (m.mean_x - gx) ** 2 for m in arms),
        c_xy=sum(m.c_xy + m.n * (m.mean_x - gx) * (m.mean_y - gy) for m in arms),
    )


@dataclass(frozen=True)
class ArmEstimate:
    """An arm's metric value and the variance of that value (not of a unit)."""

    value: float
    variance: float
    n: int


def arm_estimate(
    m: Moments, *, kind: str, ratio: bool, theta: float | None = None, pooled_mean_x: float = 0.0
) -> ArmEstimate:
    """The arm's mean (or ratio of means) and its sampling variance.

    - binary, no CUPED: p with variance p(1 - p)/n (the Wald form, identical from rows and from counts);
    - continuous: the mean with variance s^2/n (s^2 with n - 1);
    - ratio (or any metric summed per randomization unit): mean_y / mean_d with the delta-method variance
      (s_yy - 2 R s_yd + R^2 s_dd) / (n mean_d^2);
    - CUPED: y - theta (x - pooled mean of x), variance (s_yy - 2 theta s_xy + theta^2 s_xx)/n.
    """
    n = m.n
    dof = max(n - 1, 1)
    if ratio:
        value = m.mean_y / m.mean_d
        spread = (m.m2_y - 2 * value * m.c_yd + value**2 * m.m2_d) / dof
        return ArmEstimate(value, max(spread, 0.0) / (n * m.mean_d**2), n)
    if theta is not None:
        value = m.mean_y - theta * (m.mean_x - pooled_mean_x)
        spread = (m.m2_y - 2 * theta * m.c_xy + theta**2 * m.m2_x) / dof
        return ArmEstimate(value, max(spread, 0.0) / n, n)
    if kind == "binary":
        p = m.mean_y
        return ArmEstimate(p, p * (1 - p) / n, n)
    return ArmEstimate(m.mean_y, m.m2_y / dof / n, n)


def cuped_theta(pooled: Moments) -> float | None:
    """Pooled regression coefficient of y on the covariate; None when the covariate does not vary."""
    if pooled.m2_x <= 0:
        return None
    return pooled.c_xy / pooled.m2_x


def _p_and_quantile(statistic: float, df: float | None, alternative: str) -> float:
    """p-value of a z (df None) or t statistic."""
    if df is None:
        upper, lower = float(special.ndtr(-statistic)), float(special.ndtr(statistic))
    else:
        upper, lower = float(special.stdtr(df, -statistic)), float(special.stdtr(df, statistic))
    if alternative == "larger":
        return upper
    if alternative == "smaller":
        return lower
    return min(1.0, 2 * min(upper, lower))


def critical(alpha: float, df: float | None, alternative: str) -> float:
    """Critical value of the two-sided (1 - alpha) interval, or the one-sided bound's."""
    tail = alpha / 2 if alternative == "two-sided" else alpha
    return float(special.ndtri(1 - tail)) if df is None else float(special.stdtrit(df, 1 - tail))


def interval(estimate: float, se: float, alpha: float, df: float | None, alternative: str) -> tuple[float, float]:
    """Confidence interval matching the test: two-sided, or one-sided with an infinite side made finite by
    reporting the two-sided bound there (JSON has no infinity; the bound that matters is the one-sided one)."""
    q2 = critical(alpha, df, "two-sided")
    if alternative == "two-sided":
        return estimate - q2 * se, estimate + q2 * se
    q1 = critical(alpha, df, alternative)
    if alternative == "larger":
        return estimate - q1 * se, estimate + q2 * se
    return estimate - q2 * se, estimate + q1 * se


def compare(
    control: ArmEstimate, treatment: ArmEstimate, *, alpha: float, alternative: str, welch: bool
) -> tuple[Estimate, float | None]:
    """Treatment minus control: Welch t (``welch``) or z; returns the estimate and the df used (None for z)."""
    diff = treatment.value - control.value
    var = treatment.variance + control.variance
    se = math.sqrt(var)
    df = None
    if welch:
        num = var**2
        den = (treatment.variance**2) / max(treatment.n - 1, 1) + (control.variance**2) / max(control.n - 1, 1)
        df = num / den if den > 0 else float(treatment.n + control.n - 2)
    p = _p_and_quantile(diff / se, df, alternative)
    low, high = interval(diff, se, alpha, df, alternative)
    return Estimate(estimate=diff, std_error=se, ci_lower=low, ci_upper=high, p_value=p, alpha=alpha), df


def relative_lift(control: ArmEstimate, treatment: ArmEstimate, *, alpha: float, alternative: str) -> Estimate | None:
    """treatment / control - 1 with the delta-method variance var_t/c^2 + t^2 var_c/c^4 (arms independent)."""
    c, t = control.value, treatment.value
    if c == 0:
        return None
    lift = t / c - 1
    se = math.sqrt(treatment.variance / c**2 + t**2 * control.variance / c**4)
    if se == 0:
        return None
    low, high = interval(lift, se, alpha, None, alternative)
    p = _p_and_quantile(lift / se, None, alternative)
    return Estimate(estimate=lift, std_error=se, ci_lower=low, ci_upper=high, p_value=p, alpha=alpha)


def one_sided_p(statistic: float) -> float:
    """P(Z > statistic)."""
    return float(special.ndtr(-statistic))


def z_quantile(probability: float) -> float:
    return float(special.ndtri(probability))
