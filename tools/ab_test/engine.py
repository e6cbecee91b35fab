"""The fast path from rows to per-arm moments: one pass over blocks of rows, every metric at once.

It serves the common request (rows are the randomized units, no capping, a few arms, numeric columns) for data
in memory and for data streamed from a Parquet file, block by block with the same block boundaries, so both
give byte-identical results. Anything else, and every input problem, is :class:`Unsupported`: the caller then
takes the general path (``inputs``), which reports the problem exactly as it always has.

Per block and metric, each column is centred on a running shift (the metric's mean so far), the centred sums
of the non-largest arms come from products with 0/1 indicators (dot products in slices small enough that BLAS
stays single-threaded and deterministic) and the largest arm's by difference. A guard sends a block whose
sums would lose digits to cancellation (an arm far from the shift, an arm with no spread) to the exact
per-arm two-pass computation, so accuracy never depends on the data's offset (mean 1e9, sd 1 is exact).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from tools.ab_test.models import MetricSpec
from tools.ab_test.stats import Moments, pool_blocks

__all__ = ["BLOCK_ROWS", "MAX_GROUPS", "MetricAccumulator", "Unsupported", "arm_indicators", "products"]

#: Rows per block: every column of a block stays in the CPU cache while it is used.
BLOCK_ROWS = 1 << 16
#: Longest slice given to one BLAS dot product: OpenBLAS runs shorter ones on one thread (no contention with
#: busy cores, no order-dependent partial sums).
DOT_ROWS = 8192
#: Most arms the fast path handles (its cost grows with the number of arms).
MAX_GROUPS = 8
#: Guard: a centred sum of squares must keep at least this share of the raw sum of squares it came from.
_KEEP = 0.1

FloatArray = NDArray[np.float64]


class Unsupported(Exception):
    """The fast path does not handle this input (a problem to report, or a feature it lacks)."""


def products(left: FloatArray, right: FloatArray) -> FloatArray:
    """``out[i, j] = left[i] . right[j]`` for the rows of two (rows x m) arrays, as BLAS dot products of at most
    DOT_ROWS numbers (one call for them all), each row's partial sums then added in a fixed order."""
    r, c, m = len(left), len(right), left.shape[1]
    head = m - m % DOT_ROWS
    out = np.zeros((r, c))
    if head:
        a = left[:, :head].reshape(r, 1, head // DOT_ROWS, DOT_ROWS)
        b = right[:, :head].reshape(1, c, head // DOT_ROWS, DOT_ROWS)
        out += np.vecdot(a, b).sum(axis=-1)
    if m > head:
        out += np.vecdot(left[:, None, head:], right[None, :, head:])
    return out


@dataclass
class Groups:
    """Which rows of a block belong to which arm: counts, the largest arm, and 0/1 indicators of the others."""

    counts: NDArray[np.int64]
    base: int
    _masks: list[NDArray[np.bool_]] | None
    indicators: dict[int, FloatArray]
    codes: NDArray[np.integer]
    group_codes: list[int]

    @property
    def masks(self) -> list[NDArray[np.bool_]]:
        """Each arm's rows (computed when first needed)."""
        if self._masks is None:
            self._masks = [self.codes == c for c in self.group_codes]
        return self._masks

    def member(self, g: int) -> NDArray[np.bool_]:
        """Arm g's rows."""
        if self._masks is None and self.codes.dtype.itemsize == 1:  # two arms coded 0 and 1
            ones = self.codes.view(np.bool_)
            return ones if self.group_codes[g] == 1 else ~ones
        return self.masks[g]


def arm_indicators(codes: NDArray[np.integer], group_codes: list[int], out: FloatArray) -> Groups:
    """Group membership of a block's rows; ``codes`` hold raw arm codes, ``group_codes[g]`` arm g's code.
    ``out`` (groups x rows, at least) receives the indicators."""
    if sorted(group_codes) == [0, 1] and codes.dtype.kind in "iu" and codes.itemsize == 1:
        # two arms coded 0 and 1, every row in one of them: the codes are the indicator of code 1
        ones = int(codes.sum(dtype=np.int64))
        counts = np.array([len(codes) - ones, ones] if group_codes[0] == 0 else [ones, len(codes) - ones])
        base = int(np.argmax(counts))
        row = out[0, : len(codes)]
        if group_codes[1 - base] == 1:
            np.copyto(row, codes)
        else:
            np.subtract(1.0, codes, out=row)
        return Groups(counts, base, None, {1 - base: row} if counts[1 - base] else {}, codes, group_codes)
    masks = [codes == c for c in group_codes]
    counts = np.array([np.count_nonzero(m) for m in masks], dtype=np.int64)
    base = int(np.argmax(counts))
    indicators = {}
    for g, mask in enumerate(masks):
        if g != base and counts[g]:
            row = out[g, : len(codes)]
            np.copyto(row, mask)
            indicators[g] = row
    return Groups(counts, base, masks, indicators, codes, group_codes)


class MetricAccumulator:
    """One metric's moments per arm, accumulated block by block.

    ``columns`` are the metric's value column, then the denominator (ratio) or the covariate (CUPED). A binary
    metric without covariate is reduced to exact counts of ones per arm.
    """

    def __init__(self, spec: MetricSpec, n_columns: int, group_codes: list[int], *, scratch: bool = True) -> None:
        self.spec = spec
        self.group_codes = group_codes
        self.groups = len(group_codes)
        self.p = n_columns
        self.counts_only = spec.kind == "binary" and n_columns == 1
        self.has_d = spec.kind == "ratio"
        self.has_x = spec.covariate_column is not None
        self.n = np.zeros(self.groups, dtype=np.int64)
        self.ones = np.zeros(self.groups, dtype=np.int64)
        self.block_counts: list[FloatArray] = []
        self.block_means: list[FloatArray] = []
        self.block_comoments: list[FloatArray] = []
        self.excluded = 0
        self.abs_max = 0.0
        self.abs_sums: list[float] = []
        self.shift: list[float] | None = None
        self.origin: list[float] | None = None  # block means are kept relative to the first block's shift
        self._last_total = 0.0
        rows = BLOCK_ROWS if scratch else 0
        self._floats = np.empty((n_columns, rows))  # columns converted to float
        self._stack = np.empty((n_columns * self.groups, rows))  # centred columns, then times each arm
        self._indicators = np.empty((self.groups, rows))

    # --- per block ---------------------------------------------------------------------------------------

    def add(self, codes: NDArray[np.integer], raw: list[NDArray[np.generic]], groups: Groups | None) -> None:
        """One block: raw arm codes (-1: no arm) and the metric's columns as numeric arrays. ``groups`` is the
        block's membership when every row has an arm (shared between metrics), else None."""
        if self.counts_only and groups is not None and raw[0].dtype.kind in "iub":
            self._count_integer_ones(raw[0], groups)
            return
        m = len(codes)
        columns = [self._as_float(v, j, m) for j, v in enumerate(raw)]
        if groups is not None and self._check_values(columns, raw[0]) and self._reduce(columns, groups):
            return
        codes, columns = self._drop_invalid(codes, columns)
        if len(codes):
            groups = arm_indicators(codes, self.group_codes, self._indicators)
            if not self._reduce(columns, groups):
                raise Unsupported("overflow")

    def _reduce(self, columns: list[FloatArray], groups: Groups) -> bool:
        """Add the block's sums; False (nothing added) when a value is missing or infinite."""
        if self.counts_only:
            return self._count_ones(columns[0], groups)
        if not self._moments(columns, groups):
            return False
        if self.spec.kind == "continuous":
            y = columns[0]
            if float(y.min()) >= 0:
                self.abs_max = max(self.abs_max, float(y.max()))
                self.abs_sums.append(self._last_total)  # the sum of y, from the centred sums
            else:
                size = np.abs(y)
                self.abs_max = max(self.abs_max, float(size.max()))
                self.abs_sums.append(float(size.sum()))
        return True

    def _as_float(self, values: NDArray[np.generic], j: int, m: int) -> FloatArray:
        if values.dtype == np.float64:
            return values  # type: ignore[return-value]
        out = self._floats[j, :m]
        np.copyto(out, values, casting="unsafe")
        return out

    def _check_values(self, columns: list[FloatArray], raw: NDArray[np.generic]) -> bool:
        """The general path's checks when every row has an arm; False when a value may be missing (NaN fails
        every comparison: the block then goes through :meth:`_drop_invalid`)."""
        if self.spec.kind == "binary":
            if raw.dtype.kind == "i":
                if raw.view(raw.dtype.str.replace("i", "u")).max() > 1:  # negatives wrap around to huge
                    raise Unsupported("not binary")
            elif raw.dtype.kind == "u":
                if raw.max() > 1:
                    raise Unsupported("not binary")
            else:
                y = columns[0]
                if not (float(y.min()) >= 0 and float(y.max()) <= 1):
                    return False
                if np.count_nonzero((y != 0) & (y != 1)):
                    raise Unsupported("not binary")
        if self.has_d:
            low = float(columns[1].min())
            if not low >= 0:
                return low != low  # NaN: look again row by row
        return True

    def _drop_invalid(
        self, codes: NDArray[np.integer], columns: list[FloatArray]
    ) -> tuple[NDArray[np.integer], list[FloatArray]]:
        """Rows without an arm or with a missing value leave; infinities and invalid values are Unsupported."""
        for v in columns:
            if np.isinf(v).any():
                raise Unsupported("infinite values")
        keep = codes >= 0
        valid = keep & ~np.isnan(columns[0])
        if self.spec.kind == "binary":
            y = columns[0][valid]
            if np.count_nonzero((y != 0) & (y != 1)):
                raise Unsupported("not binary")
        for v in columns[1:]:
            valid &= ~np.isnan(v)
        if self.has_d and np.count_nonzero((columns[1] < 0) & valid):
            raise Unsupported("negative denominator")
        self.excluded += int(np.count_nonzero(keep)) - int(np.count_nonzero(valid))
        return codes[valid], [np.ascontiguousarray(v[valid]) for v in columns]

    def _count_integer_ones(self, values: NDArray[np.generic], groups: Groups) -> None:
        """A binary metric held as integers (or booleans), every row with an arm: exact counts, no floats."""
        if values.dtype.kind != "b":
            top = values.view(values.dtype.str.replace("i", "u")).max()  # negatives wrap around to huge
            if top > 1:
                raise Unsupported("not binary")
        nonzero = values.view(np.bool_) if values.itemsize == 1 else values != 0
        ones = np.zeros(self.groups, dtype=np.int64)
        for g in groups.indicators:
            ones[g] = np.count_nonzero(nonzero & groups.member(g))
        ones[groups.base] = int(np.count_nonzero(nonzero)) - int(ones.sum())
        self.ones += ones
        self.n += groups.counts

    def _count_ones(self, y: FloatArray, groups: Groups) -> bool:
        total = float(y.sum())
        if not math.isfinite(total):
            return False
        ones = np.zeros(self.groups, dtype=np.int64)
        if groups.indicators:
            others = list(groups.indicators)
            sums = products(y[None, :], np.stack([groups.indicators[g] for g in others]))[0]
            ones[others] = np.rint(sums).astype(np.int64)
        ones[groups.base] = round(total) - int(ones.sum())
        self.ones += ones
        self.n += groups.counts
        return True

    def _moments(self, columns: list[FloatArray], groups: Groups) -> bool:
        m, p = len(columns[0]), self.p
        shift = self.shift if self.shift is not None else [float(v.sum()) / m for v in columns]
        others = list(groups.indicators)
        stack = self._stack[: p * (1 + len(others)), :m]
        for j, v in enumerate(columns):
            np.subtract(v, shift[j], out=stack[j])
        devs = stack[:p]
        for i, g in enumerate(others, start=1):
            np.multiply(devs, groups.indicators[g], out=stack[i * p : (i + 1) * p])
        sums = stack.sum(axis=1)
        if not np.isfinite(sums).all():
            return False
        self._last_total = float(sums[0]) + m * shift[0]
        # dots[i, j, k] = sum over rows (all rows for i = 0, the i-th other arm's after) of dev_j dev_k
        dots = np.zeros((1 + len(others), p, p))
        for j in range(p):
            part = products(stack[j::p], devs[j:])  # k >= j only: each cross product once
            dots[:, j, j:] = part
            dots[:, j:, j] = part
        s = np.zeros((self.groups, p))
        q = np.zeros((self.groups, p, p))
        for i, g in enumerate(others, start=1):
            s[g] = sums[i * p : (i + 1) * p]
            q[g] = dots[i]
        b = groups.base
        q_all = dots[0]
        s[b] = sums[:p] - s.sum(axis=0)
        origin = self.origin if self.origin is not None else shift
        q[b] = q_all - q.sum(axis=0)
        n = groups.counts.astype(np.float64)
        safe = np.maximum(n, 1.0)
        means = (np.asarray(shift) - np.asarray(origin))[None, :] + s / safe[:, None]
        comoments = q - s[:, :, None] * s[:, None, :] / safe[:, None, None]
        spread = np.diagonal(comoments, axis1=1, axis2=2)
        raw = np.diagonal(q, axis1=1, axis2=2)
        present = n > 0
        if (raw[present] * _KEEP > spread[present]).any() or (np.diagonal(q_all) * _KEEP > raw[b]).any():
            means, comoments = _exact_block(columns, groups, origin)
        self.block_counts.append(n)
        self.block_means.append(means)
        self.block_comoments.append(comoments)
        self.origin = origin
        self.shift = [float(o + v) for o, v in zip(origin, n @ means / m, strict=True)]
        return True

    # --- result ------------------------------------------------------------------------------------------

    def moments(self) -> list[Moments]:
        """The metric's moments per arm (analysis order)."""
        if self.counts_only:
            result = []
            for n, ones in zip(self.n.tolist(), self.ones.tolist(), strict=True):
                p = ones / n if n else 0.0
                result.append(Moments(n=n, mean_y=p, m2_y=ones * (n - ones) / n if n else 0.0))
            return result
        g, p = self.groups, self.p
        if not self.block_counts:
            return pool_blocks(np.zeros((0, g)), np.zeros((0, g, p)), np.zeros((0, g, p, p)), self.has_d, self.has_x)
        pooled = pool_blocks(
            np.stack(self.block_counts),
            np.stack(self.block_means),
            np.stack(self.block_comoments),
            self.has_d,
            self.has_x,
        )
        assert self.origin is not None
        shift = {"mean_y": self.origin[0]}
        if self.has_d:
            shift["mean_d"] = self.origin[1]
        if self.has_x:
            shift["mean_x"] = self.origin[-1]
        return [replace(m, **{k: getattr(m, k) + v for k, v in shift.items()}) for m in pooled]

    def largest_unit_share(self) -> float | None:
        """The largest |value| over the sum of |values| (continuous metrics; None when the sum is zero)."""
        if self.spec.kind != "continuous":
            return None
        total = math.fsum(self.abs_sums)
        return self.abs_max / total if total > 0 else None

    @classmethod
    def merge(cls, lanes: list[MetricAccumulator]) -> MetricAccumulator:
        """The lanes' accumulators (consecutive ranges of blocks, in order) as one."""
        first = lanes[0]
        merged = cls(first.spec, first.p, first.group_codes, scratch=False)
        for lane in lanes:
            if lane.origin is not None:
                if merged.origin is None:
                    merged.origin = lane.origin
                moved = np.asarray(lane.origin) - np.asarray(merged.origin)
                lane.block_means = [means + moved for means in lane.block_means]
            merged.n += lane.n
            merged.ones += lane.ones
            merged.block_counts += lane.block_counts
            merged.block_means += lane.block_means
            merged.block_comoments += lane.block_comoments
            merged.excluded += lane.excluded
            merged.abs_max = max(merged.abs_max, lane.abs_max)
            merged.abs_sums += lane.abs_sums
        return merged


def _exact_block(columns: list[FloatArray], groups: Groups, origin: list[float]) -> tuple[FloatArray, FloatArray]:
    """Each arm's rows gathered, then a two-pass mean (relative to ``origin``) and centred sums (the guard's
    fallback)."""
    p = len(columns)
    means = np.zeros((len(groups.masks), p))
    comoments = np.zeros((len(groups.masks), p, p))
    for g, mask in enumerate(groups.masks):
        if not groups.counts[g]:
            continue
        devs = []
        for j, v in enumerate(columns):
            values = v[mask] - origin[j]
            means[g, j] = float(values.sum()) / len(values)
            devs.append(values - means[g, j])
        for j in range(p):
            for k in range(j + 1):
                comoments[g, j, k] = comoments[g, k, j] = float((devs[j] * devs[k]).sum())
    return means, comoments
