"""A tool result as the model sees it: always valid JSON, and small.

A result can carry hundreds of rows that exist for plots (event-study points, group-time cells, RD bins, a
power curve). Cutting the JSON text at a length would hand the model broken JSON and drop what matters most
(the summary, checks and warnings come last in many results). Instead the result is condensed in steps until
it fits: the summary moves first, plot-only fields are replaced by a note, long lists keep their first and
last rows with a count of the rows left out. The app always shows the full result.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MAX_TOOL_CHARS", "condense"]

#: Longest tool result text sent to the model.
MAX_TOOL_CHARS = 20_000

#: Fields that exist to draw a figure; the model needs the numbers elsewhere in the result, not these.
PLOT_FIELDS = ("curve", "bins", "score_histogram")

_KEEP_FIRST_LAST = (6, 6)


def condense(result: dict[str, Any], limit: int = MAX_TOOL_CHARS) -> str:
    """``result`` as compact JSON of at most ``limit`` characters (in all but pathological cases)."""
    text = _dump(result)
    if len(text) <= limit:
        return text
    ordered: dict[str, Any] = {key: result[key] for key in ("summary", "warnings", "checks") if key in result}
    ordered.update({key: value for key, value in result.items() if key not in ordered})
    for key in PLOT_FIELDS:
        if key in ordered:
            ordered[key] = "(plot data left out here; the user sees the figure)"
    for keep in (_KEEP_FIRST_LAST, (3, 3), (1, 1)):
        shortened = {key: _shorten(value, keep) for key, value in ordered.items()}
        text = _dump({**shortened, "condensed": "long lists show their first and last rows only"})
        if len(text) <= limit:
            return text
    essentials = {k: v for k, v in ordered.items() if k in ("summary", "warnings", "checks") or _scalar(v)}
    text = _dump({**essentials, "condensed": "only the summary, checks, warnings and single values are shown"})
    return text if len(text) <= limit else _dump({"summary": str(result.get("summary", ""))[: limit // 2]})


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _shorten(value: Any, keep: tuple[int, int]) -> Any:
    first, last = keep
    if isinstance(value, list):
        items = [_shorten(item, keep) for item in value]
        if len(items) > first + last + 1:
            omitted = len(items) - first - last
            return [*items[:first], f"({omitted} rows left out)", *items[-last:]]
        return items
    if isinstance(value, dict):
        return {key: _shorten(item, keep) for key, item in value.items()}
    return value
