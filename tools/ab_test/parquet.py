"""The fast path straight from a large Parquet file that was attached but not read (``ParquetSource``).

The columns the request needs are read row group by row group, cut into the blocks the in-memory path uses
(same boundaries, same values, same dtypes), and reduced by the same code, so the result is byte-identical to
the in-memory one while memory stays a row group's worth. The ID-like columns' repeat check (a warning) is
answered in the same pass, exactly as the in-memory check would, and kept in the dataset's memo.

Whatever this path does not handle (text metric columns, unusual types, any input problem) is
:class:`~tools.ab_test.engine.Unsupported`; the caller then reads the frame and takes the general path.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from tools.ab_test import rows as rows_module
from tools.ab_test.engine import BLOCK_ROWS, Unsupported
from tools.ab_test.ids import _BITMAP_BLOCK, ID_COLUMN, REPEAT_CHECK_ROWS
from tools.ab_test.models import AbTestRequest
from tools.ab_test.rows import ArmCodes, Block, Blocks, prepare_fast
from tools.data.catalog import Dataset, ParquetSource, footer_note
from tools.data.loading import _convert_arrow
from tools.errors import ToolError

if TYPE_CHECKING:
    from tools.ab_test.inputs import Prepared

__all__ = ["prepare_parquet"]

#: More distinct arm labels than this: not an experiment's arms; the general path reports it.
_MAX_LABELS = 16


def prepare_parquet(request: AbTestRequest, dataset: Dataset) -> Prepared:
    """``inputs.prepare_rows`` for a dataset still on disk; Unsupported when the general path must answer."""
    source = dataset.source
    if source is None or request.cluster_column is not None or request.winsorize is not None:
        raise Unsupported("not streamable")
    assert request.arm_column is not None
    try:
        parquet = source.parquet()
        schema = parquet.schema_arrow
        if request.arm_column not in dataset.columns:
            raise Unsupported("unknown arm column")
        arm = _arm(source, parquet, request.arm_column, source.n_rows)
        scans = _IdChecks(dataset, parquet)
        prepared = prepare_fast(request, arm, set(dataset.columns), _blocks(source, schema, scans, arm.codes))
        repeats = scans.finish()
        source.check()  # what was read is what was attached
    except (ToolError, pa.ArrowException, OSError, ValueError) as exc:
        raise Unsupported(str(exc)) from None
    for name, answer in repeats.items():
        dataset.memo.setdefault(f"repeats:{name}", answer)
    return prepared


def _arm(source: ParquetSource, parquet: pq.ParquetFile, name: str, n_rows: int) -> ArmCodes:
    """The arm column's codes (labels numbered in order of first appearance) without building its text; the
    row groups are read in two halves on two threads for large files, their labels then put in one order."""
    kind = parquet.schema_arrow.field(name).type
    text = pa.types.is_string(kind) or pa.types.is_large_string(kind)
    if not (text or (pa.types.is_dictionary(kind) and pa.types.is_string(kind.value_type))):
        raise Unsupported("arm column type")
    codes = np.empty(n_rows, dtype=np.int8)
    metadata = parquet.metadata
    starts = np.cumsum([0] + [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)]).tolist()
    groups = list(range(metadata.num_row_groups))
    halves = (
        [groups[: len(groups) // 2], groups[len(groups) // 2 :]] if n_rows >= rows_module._THREAD_MIN_ROWS else [groups]
    )

    def encode(part: list[int]) -> list[str]:
        handle = source.parquet()
        labels: dict[str, int] = {}
        for group in part:
            position = starts[group]
            for chunk in handle.read_row_group(group, columns=[name]).column(0).chunks:
                encoded = chunk if pa.types.is_dictionary(chunk.type) else chunk.dictionary_encode()
                lookup = [labels.setdefault(str(v), len(labels)) for v in encoded.dictionary.to_pylist()]
                if len(labels) > _MAX_LABELS:
                    raise Unsupported("too many arm labels")
                indices = encoded.indices.fill_null(-1) if encoded.indices.null_count else encoded.indices
                table = np.array([*lookup, -1], dtype=np.int8)
                codes[position : position + len(chunk)] = table[indices.to_numpy(zero_copy_only=False)]
                position += len(chunk)
        return list(labels)

    if len(halves) > 1:
        with ThreadPoolExecutor(len(halves)) as pool:
            parts = list(pool.map(encode, halves))
    else:
        parts = [encode(halves[0])]
    labels = {label: k for k, label in enumerate(parts[0])}
    for part, groups_of_part in zip(parts[1:], halves[1:], strict=True):
        for label in part:
            labels.setdefault(label, len(labels))
        renumber = [labels[label] for label in part]
        if groups_of_part and renumber != list(range(len(part))):
            rows = slice(starts[groups_of_part[0]], starts[groups_of_part[-1] + 1])
            codes[rows] = np.array([*renumber, -1], dtype=np.int8)[codes[rows]]
    counts = [int(np.count_nonzero(codes == k)) for k in range(len(labels))]  # few labels: no int64 copy
    names = list(labels)
    return ArmCodes(
        codes=codes,
        labels=[label for label in names if counts[labels[label]]],
        code_of={label: labels[label] for label in names if counts[labels[label]]},
        rows={label: counts[labels[label]] for label in names if counts[labels[label]]},
        missing=n_rows - sum(counts),
    )


def _numeric(column: pa.ChunkedArray, name: str, wide: bool) -> NDArray[np.generic]:
    """A numeric column as numpy, as the loader's frame holds it (integers with nulls as float64 with NaN)."""
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        if pa.types.is_float16(kind) or (pa.types.is_integer(kind) and column.null_count and wide):
            raise Unsupported(f"column {name!r}")
        if column.null_count:
            return np.asarray(column.cast(pa.float64()).to_numpy())
        return np.asarray(column.to_numpy())
    if pa.types.is_boolean(kind) and not column.null_count:
        return np.asarray(column.to_numpy())
    raise Unsupported(f"column {name!r} is not numeric")


class _IdChecks:
    """The repeat check of each ID-like column, as ``ids._repeats`` would answer it on the frame: integers
    without missing values from the footer's range (more rows than values: repeats) or a bitmap filled during
    the pass (densely numbered); any other column from its first rows."""

    def __init__(self, dataset: Dataset, parquet: pq.ParquetFile) -> None:
        self.answers: dict[str, bool] = {}
        self.bitmaps: dict[str, tuple[int, NDArray[np.bool_]]] = {}
        self.n_rows = parquet.metadata.num_rows
        metadata, schema = parquet.metadata, parquet.schema_arrow
        for j, name in enumerate(schema.names):
            if name not in dataset.columns or not ID_COLUMN.search(name) or f"repeats:{name}" in dataset.memo:
                continue
            span = _integer_span(metadata, j, schema.field(name).type)
            if span is None:
                self.answers[name] = _head_repeats(parquet, name)
            else:
                low, size = span
                if size < self.n_rows:
                    self.answers[name] = True
                elif size <= 4 * self.n_rows:
                    self.bitmaps[name] = (low, np.zeros(size, dtype=bool))
                else:
                    self.answers[name] = _head_repeats(parquet, name)

    def add(self, name: str, values: NDArray[np.generic]) -> None:
        low, seen = self.bitmaps[name]
        offsets = np.empty(min(len(values), _BITMAP_BLOCK), dtype=np.int64)
        for start in range(0, len(values), _BITMAP_BLOCK):
            block = values[start : start + _BITMAP_BLOCK]
            np.subtract(block, values.dtype.type(low), out=offsets[: len(block)], dtype=np.int64, casting="unsafe")
            seen[offsets[: len(block)]] = True

    def finish(self) -> dict[str, bool]:
        for name, (_, seen) in self.bitmaps.items():
            self.answers[name] = int(np.count_nonzero(seen)) < self.n_rows
        return self.answers


def _integer_span(metadata: pq.FileMetaData, j: int, kind: pa.DataType) -> tuple[int, int] | None:
    """(lowest value, number of possible values) of an integer column without missing values, from the footer;
    None for any other column (or when the footer does not tell)."""
    if not pa.types.is_integer(kind):
        return None
    low: int | None = None
    high: int | None = None
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(j).statistics
        if stats is None or not stats.has_null_count or stats.null_count or not stats.has_min_max:
            return None
        low = stats.min if low is None else min(low, stats.min)
        high = stats.max if high is None else max(high, stats.max)
    if low is None or high is None:
        return None
    return int(low), int(high) - int(low) + 1


def _head_repeats(parquet: pq.ParquetFile, name: str) -> bool:
    """Whether the first REPEAT_CHECK_ROWS values repeat, on the column converted as the loader converts it."""
    batch = next(parquet.iter_batches(batch_size=REPEAT_CHECK_ROWS, columns=[name]), None)
    if batch is None:
        return False
    series = _convert_arrow(pa.chunked_array([batch.column(0)]), name, "", [])
    return bool(series.iloc[:REPEAT_CHECK_ROWS].duplicated().any())


def _blocks(source: ParquetSource, schema: pa.Schema, scans: _IdChecks, codes_all: NDArray[np.integer]) -> Blocks:
    """The ``rows.Blocks`` of the file: the row groups overlapping the blocks asked for, read column by column
    (each lane with its own handle on the file) and cut at multiples of BLOCK_ROWS."""

    def blocks(columns: list[str], first: int, end: int) -> Iterator[Block]:
        parquet = source.parquet()
        metadata = parquet.metadata
        wide = {name for name in columns if footer_note(schema.field(name), schema.get_field_index(name), metadata)}
        wanted = list(dict.fromkeys([*columns, *scans.bitmaps]))
        low, high = first * BLOCK_ROWS, min(end * BLOCK_ROWS, metadata.num_rows)
        pending: dict[str, list[NDArray[np.generic]]] = {name: [] for name in columns}
        pending_rows, start, group_end = 0, low, 0
        for group in range(metadata.num_row_groups):
            group_start, group_end = group_end, group_end + metadata.row_group(group).num_rows
            if group_end <= low or group_start >= high:
                continue
            table = parquet.read_row_group(group, columns=wanted, use_threads=False)
            cut = slice(max(low - group_start, 0), min(high, group_end) - group_start)
            arrays = {name: _numeric(table.column(name), name, name in wide)[cut] for name in columns}
            for name in scans.bitmaps:
                scans.add(name, np.asarray(table.column(name).to_numpy())[cut])
            del table
            rows, offset = cut.stop - cut.start, 0
            while offset < rows:
                take = min(BLOCK_ROWS - pending_rows, rows - offset)
                for name in columns:
                    pending[name].append(arrays[name][offset : offset + take])
                pending_rows += take
                offset += take
                if pending_rows == BLOCK_ROWS:
                    yield codes_all[start : start + BLOCK_ROWS], _joined(pending)
                    start += BLOCK_ROWS
                    pending_rows = 0
        if pending_rows:
            yield codes_all[start : start + pending_rows], _joined(pending)

    return blocks


def _joined(pending: dict[str, list[NDArray[np.generic]]]) -> dict[str, NDArray[np.generic]]:
    out = {name: parts[0] if len(parts) == 1 else np.concatenate(parts) for name, parts in pending.items()}
    for parts in pending.values():
        parts.clear()
    return out
