"""Sufficient statistics per arm and the tests built on them.

Everything an arm contributes is a handful of centred moments (``Moments``), computed from rows block by
block (two passes over each cache-sized block, blocks pooled exactly) or taken from dashboard summaries, so
row-level and summary inputs give the same answer and 10 million rows need no row-sized temporary array.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

from tools.bounds import MAX_RATIO
from tools.results import Estimate, zero_error

__all__ = [
    "ArmEstimate",
    "Moments",
    "compare",
    "critical",
    "group_moments",
    "p_of_z",
    "pool",
    "pool_blocks",
    "relative_lift",
]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Moments:
    """Centred moments of one arm's units: numerator y, denominator d (ratio metrics), covariate x (CUPED).

    ``m2_*`` are sums of squared deviations, ``c_*`` sums of cross products of deviations. A plain metric has
    d = 1 for every unit (so mean_d = 1 and m2_d = c_yd = 0); no covariate means x = 0. The exposure's moments
    (``exposure``) hold the 0/1 exposure as d, beside the metric and its covariate.
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
    c_xd: float = 0.0


#: Rows per block in :func:`group_moments`: a block's columns stay in the CPU cache between its passes.
BLOCK_ROWS = 1 << 17

#: Up to this many groups, gathering each group's rows of a block beats ``numpy.bincount`` (2-3x per row).
COMPRESS_GROUPS = 4


def group_moments(
    codes: NDArray[np.integer], groups: int, y: FloatArray, d: FloatArray | None = None, x: FloatArray | None = None
) -> list[Moments]:
    """Moments of ``y`` (and ``d``, ``x``) for each group code 0..groups-1; every value must be finite.

    Rows are taken in blocks of :data:`BLOCK_ROWS`. Within a block each group's mean and centred sums come from
    two passes over data that is still in the cache; the blocks are then pooled exactly (Chan et al.), so the
    result is as accurate as a two-pass computation over all rows, and memory stays a few blocks' worth.
    """
    columns = [v for v in (y, d, x) if v is not None]
    p = len(columns)
    n_blocks = -(-len(codes) // BLOCK_ROWS)
    counts = np.zeros((n_blocks, groups))
    means = np.zeros((n_blocks, groups, p))
    comoments = np.zeros((n_blocks, groups, p, p))
    scratch = np.empty((p + 1, min(len(codes), BLOCK_ROWS)))
    for b in range(n_blocks):
        rows = slice(b * BLOCK_ROWS, (b + 1) * BLOCK_ROWS)
        block = (codes[rows], [v[rows] for v in columns], counts[b], means[b], comoments[b])
        if groups <= COMPRESS_GROUPS:
            _compress_block(*block, scratch)
        else:
            _bincount_block(*block)
    return pool_blocks(counts, means, comoments, d is not None, x is not None)


def pool_blocks(
    counts: FloatArray, means: FloatArray, comoments: FloatArray, has_d: bool, has_x: bool
) -> list[Moments]:
    """Pool per-block moments exactly (Chan et al.): ``counts`` (blocks, groups), ``means`` (blocks, groups, p),
    ``comoments`` (blocks, groups, p, p), the columns being y, then d (``has_d``), then x (``has_x``)."""
    groups, p = means.shape[1], means.shape[2]
    if len(counts) == 0:
        counts, means, comoments = np.zeros((1, groups)), np.zeros((1, groups, p)), np.zeros((1, groups, p, p))
    n = counts.sum(axis=0)
    mean = np.einsum("bg,bgi->gi", counts, means) / np.maximum(n, 1.0)[:, None]
    spread = means - mean  # each block's group means about the pooled ones; zero weight for absent groups
    comoment = comoments.sum(axis=0) + np.einsum("bg,bgi,bgj->gij", counts, spread, spread)
    iy, id_, ix = 0, (1 if has_d else None), (p - 1 if has_x else None)

    def mean_of(i: int | None, default: float, g: int) -> float:
        return default if i is None else float(mean[g, i])

    def co(i: int | None, j: int | None, g: int) -> float:
        return 0.0 if i is None or j is None else float(comoment[g, i, j])

    return [
        Moments(
            n=int(n[g]),
            mean_y=float(mean[g, iy]),
            m2_y=co(iy, iy, g),
            mean_d=mean_of(id_, 1.0, g),
            m2_d=co(id_, id_, g),
            c_yd=co(iy, id_, g),
            mean_x=mean_of(ix, 0.0, g),
            m2_x=co(ix, ix, g),
            c_xy=co(ix, iy, g),
            c_xd=co(ix, id_, g),
        )
        for g in range(groups)
    ]


def _compress_block(
    codes: NDArray[np.integer],
    columns: list[FloatArray],
    counts: FloatArray,
    means: FloatArray,
    comoments: FloatArray,
    scratch: FloatArray,
) -> None:
    """One block, few groups: each group's rows copied together (in the cache), then a two-pass mean and sums."""
    p = len(columns)
    for g in range(len(counts)):
        member = codes == g
        n = int(np.count_nonzero(member))
        if n == 0:
            continue
        counts[g] = n
        dev, product = scratch[:p, :n], scratch[p, :n]
        for i, values in enumerate(columns):
            np.compress(member, values, out=dev[i])
            means[g, i] = float(dev[i].sum()) / n
            np.subtract(dev[i], means[g, i], out=dev[i])
        for i in range(p):
            for j in range(i + 1):
                comoments[g, i, j] = comoments[g, j, i] = float(np.multiply(dev[i], dev[j], out=product).sum())


def _bincount_block(
    codes: NDArray[np.integer], columns: list[FloatArray], counts: FloatArray, means: FloatArray, comoments: FloatArray
) -> None:
    """One block, many groups: sums per group with ``numpy.bincount``, then the centred sums."""
    groups = len(counts)
    counts[:] = np.bincount(codes, minlength=groups)[:groups]
    safe = np.maximum(counts, 1.0)
    devs = []
    for i, values in enumerate(columns):
        means[:, i] = np.bincount(codes, weights=values, minlength=groups)[:groups] / safe
        devs.append(values - means[codes, i])
    for i in range(len(columns)):
        for j in range(i + 1):
            sums = np.bincount(codes, weights=devs[i] * devs[j], minlength=groups)[:groups]
            comoments[:, i, j] = comoments[:, j, i] = sums


def pool(arms: list[Moments]) -> Moments:
    """The moments of all arms together (Chan et al.'s parallel combination; no catastrophic cancellation)."""
    total = sum(m.n for m in arms)
    gy = sum(m.n * m.mean_y for m in arms) / total
    gd = sum(m.n * m.mean_d for m in arms) / total
    gx = sum(m.n * m.mean_x for m in arms) / total
    return Moments(
        n=total,
        mean_y=gy,
        m2_y=sum(m.m2_y + m.n * (m.mean_y - gy) * (m.mean_y - gy) for m in arms),
        mean_d=gd,
        m2_d=sum(m.m2_d + m.n * (m.mean_d - gd) * (m.mean_d - gd) for m in arms),
        c_yd=sum(m.c_yd + m.n * (m.mean_y - gy) * (m.mean_d - gd) for m in arms),
        mean_x=gx,
        m2_x=sum(m.m2_x + m.n * (m.mean_x - gx) * (m.mean_x - gx) for m in arms),
        c_xy=sum(m.c_xy + m.n * (m.mean_x - gx) * (m.mean_y - gy) for m in arms),
        c_xd=sum(m.c_xd + m.n * (m.mean_x - gx) * (m.mean_d - gd) for m in arms),
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

    - binary, no CUPED: p with variance p(1 - p)/n (identical from rows and from counts; the reported standard
      error, while the test and intervals are ``binary``'s score ones);
    - continuous: the mean with variance s^2/n (s^2 with n - 1);
    - ratio (or any metric summed per randomization unit): mean_y / mean_d with the delta-method variance
      (s_yy - 2 R s_yd + R^2 s_dd) / (n mean_d^2);
    - CUPED: y - theta (x - pooled mean of x), variance (s_yy - 2 theta s_xy + theta^2 s_xx)/n.

    Squares are products, not ``**``: Python raises OverflowError for ``1e300 ** 2`` but gives infinity for
    ``1e300 * 1e300``, which the tool then refuses with a message (``values_too_large``).
    """
    n = m.n
    dof = max(n - 1, 1)
    if ratio:
        value = m.mean_y / m.mean_d
        spread = (m.m2_y - 2 * value * m.c_yd + value * value * m.m2_d) / dof
        return ArmEstimate(value, max(spread, 0.0) / (n * m.mean_d * m.mean_d), n)
    if theta is not None:
        value = m.mean_y - theta * (m.mean_x - pooled_mean_x)
        spread = (m.m2_y - 2 * theta * m.c_xy + theta * theta * m.m2_x) / dof
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


def p_of_z(statistic: float, alternative: str, df: float | None = None) -> float:
    """p-value of a z (df None) or t statistic; ``alternative`` as the request's (treatment minus control)."""
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
        # Welch-Satterthwaite, var^2 / sum(v_i^2 / (n_i - 1)), from the arms' shares of var: no square overflows
        shares = (treatment.variance / var, control.variance / var) if var > 0 else (0.0, 0.0)
        den = shares[0] ** 2 / max(treatment.n - 1, 1) + shares[1] ** 2 / max(control.n - 1, 1)
        df = 1.0 / den if den > 0 else float(treatment.n + control.n - 2)
    p = p_of_z(diff / se, alternative, df)
    low, high = interval(diff, se, alpha, df, alternative)
    return Estimate(estimate=diff, std_error=se, ci_lower=low, ci_upper=high, p_value=p, alpha=alpha), df


def relative_lift(control: ArmEstimate, treatment: ArmEstimate, *, alpha: float, alternative: str) -> Estimate | None:
    """treatment / control - 1 with the delta-method variance var_t/c^2 + t^2 var_c/c^4 (arms independent).

    None when there is no lift to report: the control mean is 0 or negligible beside the treatment's
    (``bounds.MAX_RATIO``: the lift's variance divides by it to the fourth power), or the lift has no variance or one
    beyond floating point."""
    c, t = control.value, treatment.value
    if c == 0 or abs(t) > MAX_RATIO * abs(c):
        return None
    ratio = t / c
    lift = ratio - 1
    # (var_t + ratio^2 var_c) / c^2: the same variance without c^4, which underflows for a small control mean
    se = math.sqrt(treatment.variance + ratio**2 * control.variance) / abs(c)
    if not 0 < se < math.inf or zero_error(se, lift):  # no variance, or none a result may carry (see results)
        return None
    low, high = interval(lift, se, alpha, None, alternative)
    p = p_of_z(lift / se, alternative)
    return Estimate(estimate=lift, std_error=se, ci_lower=low, ci_upper=high, p_value=p, alpha=alpha)
