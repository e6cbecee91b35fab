"""Re-randomisation: ab_test's own analysis of a metric on many random splits of the same units.

A split assigns each randomised unit to the first arm with probability ``split`` (Bernoulli, as hash-based
assignment does: the arms' sizes vary from split to split). Everything the analysis of one arm needs is a handful of
sums over its units — the count, each variable's sum and the sums of their products — so the sums of the first arm
for a batch of splits are one matrix product of the 0/1 assignment matrix (splits x units, taken in blocks of units)
with the per-unit sums; the other arm's are the totals minus those. No row is read twice and no per-split copy of the
data is made: 1,000 splits of a million units are about a thousand matrix products of a cache-sized block.

The variables are centred (their means over the analysed units subtracted) before their products are formed, so
the arm moments built back from the sums lose no precision to cancellation; the centres are added back to the means.
Each split's arm moments go through the functions ab_test itself uses (:mod:`tools.ab_test.stats`,
:mod:`tools.ab_test.binary`): what is calibrated is the product's analysis, not a copy of it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tools.ab_test.binary import TwoByTwo, binary_p
from tools.ab_test.stats import ArmEstimate, Moments, arm_estimate, compare, cuped_theta

__all__ = ["SPLIT_BATCH", "UNIT_BLOCK", "AnalysedMetric", "SplitTests", "group_sums", "per_unit", "run_splits"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
Progress = Callable[[int, int, str], None]

#: Splits drawn per matrix product.
SPLIT_BATCH = 32
#: Randomised units per block of the assignment matrix (SPLIT_BATCH x UNIT_BLOCK doubles: 16 MB).
UNIT_BLOCK = 1 << 16


@dataclass(frozen=True)
class AnalysedMetric:
    """One metric as ab_test analyses it: its kind, whether it is a ratio (a denominator, or summed per randomised
    unit) or CUPED-adjusted, and the per-assignment-unit sums its arm moments are built from.

    ``sums`` has one row per randomised unit and the columns ``count, y, d, x, yy, dd, yd, xx, xy, xd`` (analysed
    units in it, then sums of the centred variables and of their products; d and x are zero when not used);
    ``centres`` are the means subtracted from y, d and x."""

    kind: str
    ratio: bool
    cuped: bool
    sums: FloatArray
    centres: tuple[float, float, float]

    @property
    def test(self) -> str:
        if self.ratio:
            return "z-test on a ratio of means, delta-method standard error"
        if self.kind == "binary" and not self.cuped:
            return "two-proportion z-test (pooled variance under H0; Fisher's exact for small counts)"
        base = "Welch t-test" if self.kind == "continuous" else "two-proportion z-test (unpooled standard error)"
        return base + (" on CUPED-adjusted values" if self.cuped else "")


def group_sums(
    y: FloatArray, d: FloatArray | None, x: FloatArray | None, groups: IntArray | None, n_groups: int
) -> tuple[FloatArray, tuple[float, float, float]]:
    """The per-randomised-unit sums of the analysed units' centred variables and their products (see
    :class:`AnalysedMetric`), and the centres. ``groups`` maps each analysed unit to its randomised unit (None:
    each analysed unit is randomised on its own)."""
    zeros = np.zeros_like(y)
    yc, dc, xc = (float(np.mean(v)) if v is not None and len(v) else 0.0 for v in (y, d, x))
    cy = y - yc
    cd = d - dc if d is not None else zeros
    cx = x - xc if x is not None else zeros
    columns = (np.ones_like(y), cy, cd, cx, cy * cy, cd * cd, cy * cd, cx * cx, cx * cy, cx * cd)
    if groups is None:
        return np.column_stack(columns), (yc, dc if d is not None else 1.0, xc)
    sums = np.column_stack([np.bincount(groups, weights=c, minlength=n_groups) for c in columns]).astype(np.float64)
    return sums, (yc, dc if d is not None else 1.0, xc)


def per_unit(
    kind: str, y_unit: FloatArray, d_unit: FloatArray, present: NDArray[np.bool_]
) -> tuple[AnalysedMetric, int]:
    """A metric summed per randomised unit (``y_unit``, and its denominator or row count ``d_unit``; ``present``:
    the units with rows), analysed as ab_test analyses it with cluster_column — a ratio of means over units — and
    the number of units analysed."""
    sums, centres = group_sums(y_unit[present], d_unit[present], None, None, 0)
    full = np.zeros((len(present), sums.shape[1]))
    full[present] = sums
    return AnalysedMetric(kind, True, False, full, centres), int(present.sum())


def _moments(row: FloatArray, centres: tuple[float, float, float], ratio: bool, cuped: bool) -> Moments:
    """One arm's moments from its sums (``count, y, d, x, yy, dd, yd, xx, xy, xd``) of centred variables."""
    n, sy, sd, sx, syy, sdd, syd, sxx, sxy, sxd = (float(v) for v in row)
    my, md, mx = sy / n, sd / n, sx / n
    return Moments(
        n=round(n),
        mean_y=my + centres[0],
        m2_y=max(syy - sy * my, 0.0),
        mean_d=md + centres[1] if ratio else 1.0,
        m2_d=max(sdd - sd * md, 0.0) if ratio else 0.0,
        c_yd=syd - sy * md if ratio else 0.0,
        mean_x=mx + centres[2] if cuped else 0.0,
        m2_x=max(sxx - sx * mx, 0.0) if cuped else 0.0,
        c_xy=sxy - sx * my if cuped else 0.0,
        c_xd=sxd - sx * md if cuped else 0.0,
    )


@dataclass
class SplitTests:
    """Per split: the difference (first arm minus second), its analytic standard error and p-value (NaN when an
    arm had fewer than two units or no variance, so no test ran)."""

    difference: FloatArray
    std_error: FloatArray
    p_value: FloatArray

    @property
    def valid(self) -> NDArray[np.bool_]:
        return np.isfinite(self.p_value) & np.isfinite(self.std_error)


def _test(metric: AnalysedMetric, first: Moments, second: Moments, theta: float | None) -> tuple[float, float, float]:
    """ab_test's test of the first arm against the second on one split: (difference, standard error, p-value)."""
    if first.n < 2 or second.n < 2:
        return math.nan, math.nan, math.nan
    pooled_x = (first.n * first.mean_x + second.n * second.mean_x) / (first.n + second.n)

    def estimate(m: Moments) -> ArmEstimate:
        return arm_estimate(m, kind=metric.kind, ratio=metric.ratio, theta=theta, pooled_mean_x=pooled_x)

    if metric.ratio and (first.mean_d <= 0 or second.mean_d <= 0):
        return math.nan, math.nan, math.nan
    treated, control = estimate(first), estimate(second)
    se = math.sqrt(treated.variance + control.variance)
    if not se > 0:
        return treated.value - control.value, math.nan, math.nan
    if metric.kind == "binary" and not metric.ratio and theta is None:
        return treated.value - control.value, se, binary_p(TwoByTwo.of(control, treated), "two-sided")
    welch = metric.kind == "continuous" and not metric.ratio
    found, _ = compare(control, treated, alpha=0.05, alternative="two-sided", welch=welch)
    return found.estimate, found.std_error, float(found.p_value)


def run_splits(
    metrics: list[AnalysedMetric],
    n_units: int,
    simulations: int,
    split: float,
    seed: int,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> list[SplitTests]:
    """Each metric's test on ``simulations`` random splits of the ``n_units`` randomised units (every metric on the
    same splits). The splits are drawn in batches of :data:`SPLIT_BATCH`, so a seed gives the same splits whatever
    the metrics."""
    rng = np.random.default_rng(seed)
    stacked = np.hstack([m.sums for m in metrics])  # units x (10 * metrics)
    totals = stacked.sum(axis=0)
    width = 10
    thetas = []
    for i, metric in enumerate(metrics):
        whole = _moments(totals[i * width : (i + 1) * width], metric.centres, metric.ratio, metric.cuped)
        thetas.append(cuped_theta(whole) if metric.cuped else None)
    out = [SplitTests(*(np.full(simulations, np.nan) for _ in range(3))) for _ in metrics]
    done = 0
    while done < simulations:
        if cancel is not None and cancel.is_set():
            from tools.errors import ToolError

            raise ToolError("cancelled", "The A/A simulation was stopped.", "Run it again to finish it.")
        batch = min(SPLIT_BATCH, simulations - done)
        first = np.zeros((batch, stacked.shape[1]))
        for start in range(0, n_units, UNIT_BLOCK):
            block = stacked[start : start + UNIT_BLOCK]
            first += _assignment(rng, batch, len(block), split) @ block
        for s in range(batch):
            second = totals - first[s]
            for i, metric in enumerate(metrics):
                columns = slice(i * width, (i + 1) * width)
                a = _moments(first[s, columns], metric.centres, metric.ratio, metric.cuped)
                b = _moments(second[columns], metric.centres, metric.ratio, metric.cuped)
                out[i].difference[done + s], out[i].std_error[done + s], out[i].p_value[done + s] = _test(
                    metric, a, b, thetas[i]
                )
        done += batch
        if progress is not None:
            progress(done, simulations, "A/A re-splits")
    return out


def _assignment(rng: np.random.Generator, batch: int, units: int, split: float) -> FloatArray:
    """A batch x units 0/1 matrix: 1 assigns the unit to the first arm (probability ``split``). An even split
    takes one random bit per unit (eight per random byte)."""
    if split == 0.5:
        bits = np.unpackbits(rng.integers(0, 256, size=(batch, -(-units // 8)), dtype=np.uint8), axis=1)
        return bits[:, :units].astype(np.float64)
    return (rng.random((batch, units)) < split).astype(np.float64)
