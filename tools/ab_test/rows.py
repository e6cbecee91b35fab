"""Row-level data to :class:`~tools.ab_test.inputs.Prepared` on the fast path (see ``engine``), from any source
of blocks: a frame in memory (``frame_source``) or a Parquet file streamed block by block (``parquet``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tools.ab_test.engine import BLOCK_ROWS, MAX_GROUPS, MetricAccumulator, Unsupported, arm_indicators
from tools.ab_test.models import AbTestRequest

if TYPE_CHECKING:
    from tools.ab_test.inputs import Prepared

__all__ = ["ArmCodes", "Blocks", "frame_arm", "frame_blocks", "prepare_fast"]

Block = tuple[NDArray[np.integer], dict[str, NDArray[np.generic]]]
#: Given the column names needed and a range of block numbers (first, end), those blocks of rows in order: raw
#: arm codes and the columns, BLOCK_ROWS rows each (the file's last block shorter).
Blocks = Callable[[list[str], int, int], Iterator[Block]]

#: The blocks are cut into this many lanes of consecutive blocks, each accumulated on its own (on its own
#: thread for large data) and merged in order; the lanes depend on the number of rows only, so every source
#: and every run gives the same result.
LANES = 2
#: Fewer rows than this: the lanes run one after the other.
_THREAD_MIN_ROWS = 1 << 19

#: Categorical arm columns with at most this many categories are counted category by category.
_FEW_CATEGORIES = 16


@dataclass(frozen=True)
class ArmCodes:
    """The arm column as integer codes: ``codes`` per row (-1: no arm), ``labels`` of the arms present (in the
    order the general path lists them), ``code_of`` each label's code, ``rows`` per label, ``missing`` rows."""

    codes: NDArray[np.integer]
    labels: list[str]
    code_of: dict[str, int]
    rows: dict[str, int]
    missing: int


def frame_arm(series: pd.Series) -> ArmCodes:
    """The arm codes of an in-memory column; categorical codes are used as they are (no copy)."""
    from tools.ab_test.inputs import _arm_codes, label_text

    if isinstance(series.dtype, pd.CategoricalDtype) and len(series.cat.categories) <= _FEW_CATEGORIES:
        codes = series.cat.codes.to_numpy()
        counts = [int(np.count_nonzero(codes == k)) for k in range(len(series.cat.categories))]
        names = [label_text(c) for c in series.cat.categories]
    else:
        codes, labels = _arm_codes(series)
        counts = np.bincount(codes[codes >= 0], minlength=len(labels)).tolist() if len(codes) else [0] * len(labels)
        names = labels
    labels = [name for name, count in zip(names, counts, strict=True) if count]
    return ArmCodes(
        codes=codes,
        labels=labels,
        code_of={name: k for k, name in enumerate(names) if counts[k]},
        rows={name: count for name, count in zip(names, counts, strict=True) if count},
        missing=len(codes) - sum(counts),
    )


def frame_blocks(frame: pd.DataFrame, codes: NDArray[np.integer]) -> Blocks:
    """Blocks of an in-memory frame: views of its numeric columns (numpy dtypes only)."""

    def blocks(columns: list[str], first: int, end: int) -> Iterator[Block]:
        arrays = {}
        for name in columns:
            series = frame[name]
            if not isinstance(series.dtype, np.dtype) or series.dtype.kind not in "iufb":
                raise Unsupported(f"column {name!r} is not a plain numeric column")
            arrays[name] = series.to_numpy()
        for start in range(first * BLOCK_ROWS, min(end * BLOCK_ROWS, len(codes)), BLOCK_ROWS):
            rows = slice(start, start + BLOCK_ROWS)
            yield codes[rows], {name: values[rows] for name, values in arrays.items()}

    return blocks


def prepare_fast(request: AbTestRequest, arm: ArmCodes, columns: set[str], blocks: Blocks) -> Prepared:
    """Moments per arm for every metric, in one pass over ``blocks``; ``columns`` are the data's columns.

    Raises :class:`Unsupported` for anything the general path must handle (it also reports every input
    problem); ToolErrors raised here are the general path's own (control choice), in its order."""
    from tools.ab_test.inputs import MetricData, Prepared, choose_control

    if request.cluster_column is not None or request.winsorize is not None or request.exposure_column is not None:
        raise Unsupported("clusters, capping or exposure")
    arms = choose_control(arm.labels, request.control)
    if len(arms) > MAX_GROUPS:
        raise Unsupported("many arms")
    group_codes = [arm.code_of[label] for label in arms]
    plans = []
    for spec in request.metrics:
        names = [spec.column or spec.name]
        if spec.kind == "ratio":
            if spec.denominator_column is None or spec.covariate_column is not None:
                raise Unsupported("ratio metric problem")
            names.append(spec.denominator_column)
        elif spec.covariate_column is not None:
            names.append(spec.covariate_column)
        if any(name not in columns for name in names):
            raise Unsupported("unknown column")
        plans.append((MetricAccumulator(spec, len(names), group_codes, scratch=False), names))
    needed = list(dict.fromkeys(name for _, names in plans for name in names))
    n_blocks = -(-len(arm.codes) // BLOCK_ROWS)
    per_lane = -(-n_blocks // LANES)
    lanes = [(k * per_lane, min((k + 1) * per_lane, n_blocks)) for k in range(LANES) if k * per_lane < n_blocks]

    def lane(span: tuple[int, int]) -> list[MetricAccumulator]:
        accumulators = [MetricAccumulator(a.spec, a.p, group_codes) for a, _ in plans]
        shared = np.empty((len(arms), BLOCK_ROWS))
        # missing and infinite values are found from the sums they spoil; the arithmetic must not warn
        with np.errstate(invalid="ignore", over="ignore"):
            for codes, arrays in blocks(needed, *span):
                complete = not arm.missing or not (codes < 0).any()
                groups = arm_indicators(codes, group_codes, shared) if complete else None
                for accumulator, (_, names) in zip(accumulators, plans, strict=True):
                    accumulator.add(codes, [arrays[name] for name in names], groups)
        return accumulators

    if len(lanes) > 1 and len(arm.codes) >= _THREAD_MIN_ROWS:
        with ThreadPoolExecutor(len(lanes)) as pool:
            results = list(pool.map(lane, lanes))
    else:
        results = [lane(span) for span in lanes]
    merged = [MetricAccumulator.merge([r[i] for r in results]) for i in range(len(plans))] if results else []
    notes = [f"{arm.missing:,} row(s) with no arm label were left out."] if arm.missing else []
    metrics = []
    for accumulator in merged or [a for a, _ in plans]:
        spec = accumulator.spec
        if accumulator.excluded:
            notes.append(f"Metric '{spec.name}': {accumulator.excluded:,} row(s) with missing values were left out.")
        data = MetricData(spec=spec, moments=accumulator.moments(), ratio=spec.kind == "ratio")
        data.excluded_rows = accumulator.excluded
        data.largest_unit_share = accumulator.largest_unit_share()
        metrics.append(data)
    return Prepared(
        arms=arms,
        units=[arm.rows[label] for label in arms],
        metrics=metrics,
        source="rows",
        notes=notes,
    )
