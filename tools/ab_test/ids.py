"""Which ID-like columns repeat a value: a sign that rows are finer than the randomized unit."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from tools.ab_test.models import AbTestRequest
from tools.data.catalog import Dataset

__all__ = ["ID_COLUMN", "REPEAT_CHECK_ROWS", "repeated_id_columns"]

ID_COLUMN = re.compile(r"(^|_)(user|customer|account|device|visitor|member|client|person)(_?id)?$|^id$", re.I)

#: Above this many rows, an ID-like column is checked for repeats in full only when it holds integers that are
#: sorted or densely numbered (both exact and fast); otherwise its first this-many rows are checked.
REPEAT_CHECK_ROWS = 1 << 18
_BITMAP_BLOCK = 1 << 16


def repeated_id_columns(data: pd.DataFrame | Dataset, request: AbTestRequest) -> list[str]:
    """ID-like columns whose values repeat. For an attached dataset each column's answer is kept in its memo
    (a streaming pass over a Parquet file leaves it there too), so follow-up questions do not scan again."""
    if request.cluster_column is not None:
        return []
    names = data.columns if isinstance(data, Dataset) else [str(c) for c in data.columns]
    found = []
    for column, name in zip(data.columns, names, strict=True):
        if not ID_COLUMN.search(name):
            continue
        if isinstance(data, Dataset):
            key = f"repeats:{name}"
            if key not in data.memo:
                engine = data.engine
                data.memo[key] = engine.repeats(name) if engine is not None else _repeats(data.frame[column])
            repeats = bool(data.memo[key])
        else:
            repeats = _repeats(data[column])
        if repeats:
            found.append(name)
    return found


def _repeats(series: pd.Series) -> bool:
    """Whether any value repeats (``duplicated().any()``). Exact up to :data:`REPEAT_CHECK_ROWS` rows and for
    integer IDs that are sorted or densely numbered; other long columns are checked on their first rows."""
    if len(series) <= REPEAT_CHECK_ROWS:
        return bool(series.duplicated().any())
    if pd.api.types.is_integer_dtype(series.dtype) and isinstance(series.dtype, np.dtype):
        values = series.to_numpy()
        head = values[:65]
        if (head[1:] > head[:-1]).all() and (values[1:] > values[:-1]).all():
            return False  # strictly increasing
        low, high = int(values.min()), int(values.max())
        span = high - low + 1
        if span < len(values):
            return True  # more rows than distinct possible values
        if span <= 4 * len(values):
            seen = np.zeros(span, dtype=bool)
            offsets = np.empty(min(len(values), _BITMAP_BLOCK), dtype=np.int64)
            for start in range(0, len(values), _BITMAP_BLOCK):
                block = values[start : start + _BITMAP_BLOCK]
                # in 64-bit arithmetic, wrapping around if need be: the offsets from `low` are 0 .. span - 1
                np.subtract(block, values.dtype.type(low), out=offsets[: len(block)], dtype=np.int64, casting="unsafe")
                seen[offsets[: len(block)]] = True
            return int(np.count_nonzero(seen)) < len(values)
    return bool(series.iloc[:REPEAT_CHECK_ROWS].duplicated().any())
