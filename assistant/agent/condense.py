"""A tool result as the model sees it: always valid JSON, and small.

The model reads each result once, in the form its class declares (:class:`~tools.results.ToolResult`): the fields
in ``legacy_fields`` repeat another field under an old name for outside callers (``att`` beside ``effect``) and are
left out, so the model learns one vocabulary. A result can also carry hundreds of rows that exist only to draw its
figure (``plot_fields``: a power curve, RD bins, a score histogram). Cutting the JSON text at a length would hand
the model broken JSON and drop what matters most (the summary, checks and warnings come last in many results).
Instead a long result is condensed in steps until it fits: the summary moves first, the plot fields are replaced
by a note, long lists keep their first and last rows with a count of the rows left out. The app shows it all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from tools.results import ToolResult

__all__ = ["MAX_TOOL_CHARS", "PLOT_NOTE", "condense", "model_view"]

#: Longest tool result text sent to the model.
MAX_TOOL_CHARS = 20_000

#: What stands in for a plot field in a condensed result.
PLOT_NOTE = "(plot data left out here; the user sees the figure)"

#: Kept when even short lists do not fit: the prose, and the headline estimate every estimator reports.
_ESSENTIAL = ("summary", "warnings", "checks", "effect")

_KEEP_FIRST_LAST = (6, 6)

#: Adds to the model's view of a result (a deviation report from the frozen plan, say).
Extend = Callable[[dict[str, Any]], dict[str, Any]]


def model_view(result: ToolResult, *, plot_data: bool = True) -> dict[str, Any]:
    """``result`` as JSON values the way the model reads it: every model's ``legacy_fields`` left out, and its
    ``plot_fields`` replaced by :data:`PLOT_NOTE` unless ``plot_data``. Nested results follow their own class."""
    view = _view(result, result.model_dump(mode="json"), plot_data)
    assert isinstance(view, dict)
    return view


def _view(value: Any, data: Any, plot_data: bool) -> Any:
    if isinstance(value, ToolResult) and isinstance(data, dict):
        kind = type(value)
        shown = {}
        for key, item in data.items():
            if key in kind.legacy_fields:
                continue
            if not plot_data and key in kind.plot_fields and item:
                shown[key] = PLOT_NOTE
            else:
                shown[key] = _view(getattr(value, key, None), item, plot_data)
        return shown
    if isinstance(value, list | tuple) and isinstance(data, list) and len(value) == len(data):
        return [_view(v, d, plot_data) for v, d in zip(value, data, strict=True)]
    if isinstance(value, Mapping) and isinstance(data, dict):
        by_text = {str(key): item for key, item in value.items()}
        return {key: _view(by_text.get(key), item, plot_data) for key, item in data.items()}
    return data


def condense(
    result: ToolResult | Mapping[str, Any], limit: int = MAX_TOOL_CHARS, *, extend: Extend | None = None
) -> str:
    """``result`` as compact JSON of at most ``limit`` characters (in all but pathological cases).

    A :class:`~tools.results.ToolResult` is shown as its class declares (see :func:`model_view`); a mapping (the
    answer of a conversation-state tool) as it is. ``extend`` adds to the view before it is measured (a deviation
    report from the frozen plan)."""

    def view(plot_data: bool) -> dict[str, Any]:
        shown = model_view(result, plot_data=plot_data) if isinstance(result, ToolResult) else dict(result)
        return extend(shown) if extend is not None else shown

    full = view(plot_data=True)
    text = _dump(full)
    if len(text) <= limit:
        return text
    shorter = view(plot_data=False)
    ordered: dict[str, Any] = {key: shorter[key] for key in ("summary", "warnings", "checks") if key in shorter}
    ordered.update({key: value for key, value in shorter.items() if key not in ordered})
    text = _dump(ordered)
    if len(text) <= limit:
        return text
    for keep in (_KEEP_FIRST_LAST, (3, 3), (1, 1)):
        shortened = {key: _shorten(value, keep) for key, value in ordered.items()}
        text = _dump({**shortened, "condensed": "long lists show their first and last rows only"})
        if len(text) <= limit:
            return text
    essentials = {k: v for k, v in ordered.items() if k in _ESSENTIAL or _scalar(v)}
    text = _dump({**essentials, "condensed": "only the summary, checks, warnings and single values are shown"})
    return text if len(text) <= limit else _dump({"summary": str(full.get("summary", ""))[: limit // 2]})


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
