"""A tool result as the model sees it: always valid JSON, small, and with the user's data marked as data.

The model reads each result once, in the form its class declares (:class:`~tools.results.ToolResult`): the fields
in ``legacy_fields`` repeat another field under an old name for outside callers (``att`` beside ``effect``) and are
left out, so the model learns one vocabulary. A result can also carry hundreds of rows that exist only to draw its
figure (``plot_fields``: a power curve, RD bins, a score histogram). Cutting the JSON text at a length would hand
the model broken JSON and drop what matters most (the summary, checks and warnings come last in many results).
Instead a long result is condensed in steps until it fits: the summary moves first, the plot fields are replaced
by a note, long lists keep their first and last rows with a count of the rows left out, over-long texts end in
:data:`TRUNCATED`. The app shows it all.

Text from the user's files — arm labels, column names, category values — reaches the model inside results, and a
label can read "IGNORE PREVIOUS INSTRUCTIONS…". So every string of a result is one of three kinds (see
:func:`marked_view`), and the system prompt tells the model that text between :data:`DATA_OPEN` and
:data:`DATA_CLOSE` is the user's data, never an instruction:

- **vocabulary**: a field typed with a ``Literal`` (verdicts, status, method names) — shown as it is;
- **tool text**: a field in :data:`TOOL_TEXT` (summary, method, warnings, check details…), written by the tool's
  code but echoing names — shown with every data string in it marked where it appears (the result's own data
  strings, the request's names, and any other name the tool quoted as ``'…'``), control characters escaped;
- **data**: every other string — marked whole: escaped as :func:`~tools.data.names.display_name` shows a name,
  cut to :data:`DATA_CHARS`, between the markers.

A string that is a plain name (letters, digits, ``_ . -``, no spaces, at most :data:`PLAIN_CHARS` characters) is
left as it is inside tool text: it cannot carry a sentence, and marking it there would also mark the words
"control" or "1" where the tool's own sentence uses them. The numbers and the field names are never changed.
A tool error's message and hint are tool text too (:func:`condense_error`). The limit of the rule: a name the tool
writes into its text without quotes, found in neither the result nor the request, cannot be told from the
tool's words — tools quote the names they echo (:func:`~tools.data.names.quote_name`).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from functools import cache, lru_cache
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel

from tools.data.names import display_name
from tools.errors import ToolError
from tools.results import ToolRequest, ToolResult

__all__ = [
    "DATA_CHARS",
    "DATA_CLOSE",
    "DATA_OPEN",
    "MAX_TEXT_CHARS",
    "MAX_TOOL_CHARS",
    "PLOT_NOTE",
    "TOOL_TEXT",
    "TRUNCATED",
    "condense",
    "condense_error",
    "mark_data",
    "marked_view",
    "model_view",
    "request_names",
]

#: Longest tool result text sent to the model.
MAX_TOOL_CHARS = 20_000
#: Longest single text (a summary, a warning) sent to the model; longer ones end in :data:`TRUNCATED`.
MAX_TEXT_CHARS = 4_000
#: What ends a text that was cut.
TRUNCATED = "… [truncated]"

#: What stands in for a plot field in a condensed result.
PLOT_NOTE = "(plot data left out here; the user sees the figure)"

#: The provenance marker around text from the user's files (the system prompt explains it).
DATA_OPEN, DATA_CLOSE = "\u27e6", "\u27e7"
#: Longest data string shown (escaped characters count as written).
DATA_CHARS = 80
#: Longest plain name left unmarked inside a tool's own text.
PLAIN_CHARS = 40

#: Fields whose text the tool's code writes (bare field names, or ``Class.field`` where a bare name could also
#: be data). Any other string field that is not a ``Literal`` is data: a new field is marked until listed here.
TOOL_TEXT = frozenset(
    {
        *("summary", "method", "estimand", "warnings", "detail", "reasons", "decision_reasons", "test", "reason"),
        *("bin_method", "effect_label", "headline", "null", "procedure", "explanation", "decided_by"),
        *("why", "assumptions", "diagnostics", "data_needed", "questions", "what_would_help", "interpretation"),
        *("Check.name", "Recommendation.tool", "SequentialLook.decision", "AlwaysValid.decision"),
        *(
            "AdjustmentDetail.description",
            "AdjustmentDetail.se_type",
            "AssignmentPlan.hash_rule",
            "AssignmentPlan.text",
        ),
    }
)

#: Kept when even short lists do not fit: the prose, and the headline estimate every estimator reports.
_ESSENTIAL = ("summary", "warnings", "checks", "effect")

_KEEP_FIRST_LAST = (6, 6)

_PLAIN = re.compile(rf"[\w.\-]{{1,{PLAIN_CHARS}}}")
# a name the tool quoted: an apostrophe after a non-word character, up to one before a non-word character
_QUOTED = r"(?<!\w)'(?P<quoted>[^'\n]+?)'(?!\w)"
_MARKERS = str.maketrans({DATA_OPEN: "\\u27e6", DATA_CLOSE: "\\u27e7"})

#: Adds to the model's view of a result (a deviation report from the frozen plan, say).
Extend = Callable[[dict[str, Any]], dict[str, Any]]

Kind = Literal["vocabulary", "text", "data"]


def model_view(result: ToolResult, *, plot_data: bool = True) -> dict[str, Any]:
    """``result`` as JSON values the way the model reads it: every model's ``legacy_fields`` left out, and its
    ``plot_fields`` replaced by :data:`PLOT_NOTE` unless ``plot_data``. Nested results follow their own class.
    The strings are as the tool wrote them (the app shows this view); :func:`marked_view` marks the data."""
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


# -- data marked as data ----------------------------------------------------------------------------------------


def mark_data(text: str) -> str:
    """``text`` from the user's files as the model reads it: control, bidi and line-breaking characters escaped
    (as :func:`~tools.data.names.display_name` does), cut to :data:`DATA_CHARS`, the marker characters themselves
    escaped, between :data:`DATA_OPEN` and :data:`DATA_CLOSE`."""
    return DATA_OPEN + display_name(text, DATA_CHARS).translate(_MARKERS) + DATA_CLOSE


def marked_view(result: ToolResult, *, plot_data: bool = True, request: ToolRequest | None = None) -> dict[str, Any]:
    """:func:`model_view` with its strings shown by kind (see the module's docstring): vocabulary as it is, the
    tool's own text with the data in it marked, every other string marked as data. The ``request``'s names (the
    columns and labels the call gave) are looked for in the tool's text too."""
    view = model_view(result, plot_data=plot_data)
    known = _known_forms([*_data_strings(result, view), *request_names(request)])

    def show(text: str, kind: Kind, typed: Any) -> str:
        if _is_data(text, kind, typed):
            return mark_data(text)
        return _text(text, known) if kind == "text" else text

    marked = _map(result, view, "data", show)
    assert isinstance(marked, dict)
    return marked


def condense_error(error: ToolError, *, request: ToolRequest | None = None) -> str:
    """A tool error as the model reads it: ``{"error": {code, message, hint}}``, the message and hint treated as
    the tool's own text (the ``request``'s names and any name they quote marked as data, control characters
    escaped, length capped); the code is vocabulary."""
    known = _known_forms(request_names(request))
    shown = {
        key: value if key == "code" else _text(str(value), known) for key, value in error.to_dict()["error"].items()
    }
    return _dump({"error": shown})


def request_names(request: ToolRequest | None) -> list[str]:
    """The free-text values of a validated request (column names, arm labels, the dataset's name): not its
    ``Literal`` choices."""
    if request is None:
        return []
    return _data_strings(request, request.model_dump(mode="json"))


def _data_strings(value: BaseModel, view: dict[str, Any]) -> list[str]:
    """Every data string of ``view`` (the JSON form of ``value``), as written."""
    found: list[str] = []

    def collect(text: str, kind: Kind, typed: Any) -> str:
        if _is_data(text, kind, typed):
            found.append(text)
        return text

    _map(value, view, "data", collect)
    return found


@cache
def _kind(model: type[BaseModel], key: str, inherited: Kind) -> Kind:
    """The kind of the strings under ``key`` of ``model`` (``inherited`` for a key the model does not declare)."""
    field = model.model_fields.get(key)
    annotation: Any = field.annotation if field is not None else None
    if field is None and (computed := model.model_computed_fields.get(key)) is not None:
        annotation = computed.return_type
    if annotation is None:
        return inherited
    if _vocabulary(annotation):
        return "vocabulary"
    return "text" if key in TOOL_TEXT or f"{model.__name__}.{key}" in TOOL_TEXT else "data"


@cache
def _vocabulary(annotation: Any) -> bool:
    """Whether a field's type admits no free text: only ``Literal`` choices, enums, numbers and models (whose own
    fields are judged one by one). ``Any`` may hold text, so it is not vocabulary."""
    if annotation is str or annotation is Any or annotation is object:
        return False
    origin = get_origin(annotation)
    if origin is Literal or (isinstance(annotation, type) and issubclass(annotation, Enum)):
        return True
    args = get_args(annotation)
    if origin is Annotated:
        return _vocabulary(args[0])
    return all(_vocabulary(arg) for arg in args if arg is not Ellipsis)


def _map(value: Any, data: Any, kind: Kind, leaf: Callable[[str, Kind, Any], str]) -> Any:
    """The view ``data`` (of the typed ``value``) with every string, dictionary keys included, replaced by
    ``leaf(text, kind, typed value)``; a model's fields get their own kind, anything else inherits ``kind``."""
    if isinstance(data, str):
        return leaf(data, kind, value)
    if isinstance(data, dict):
        if isinstance(value, BaseModel):
            model = type(value)
            if _flat(model):
                return data
            return {
                key: _map(getattr(value, key, None), item, _kind(model, key, kind), leaf) for key, item in data.items()
            }
        by_text = {str(k): v for k, v in value.items()} if isinstance(value, Mapping) else {}
        return {leaf(key, kind, key): _map(by_text.get(key), item, kind, leaf) for key, item in data.items()}
    if isinstance(data, list):
        typed = value if isinstance(value, list | tuple) and len(value) == len(data) else [None] * len(data)
        return [_map(v, d, kind, leaf) for v, d in zip(typed, data, strict=True)]
    return data


@cache
def _flat(model: type[BaseModel]) -> bool:
    """Whether ``model`` holds no text and no other model (an estimate, a row of numbers): nothing to mark."""
    fields: list[Any] = [f.annotation for f in model.model_fields.values()]
    fields += [f.return_type for f in model.model_computed_fields.values()]
    return all(_vocabulary(annotation) and not _nested(annotation) for annotation in fields)


def _nested(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_nested(arg) for arg in get_args(annotation))


def _is_data(text: str, kind: Kind, typed: Any) -> bool:
    """Whether a string of the view is data (the note standing in for plot data is not)."""
    return kind == "data" and not (text == PLOT_NOTE and not isinstance(typed, str))


def _known_forms(strings: Iterable[str]) -> dict[str, str]:
    """Each data string that is not a plain name, as raw text and as a tool would have shown it
    (:func:`~tools.data.names.display_name`), mapped to its marked form."""
    known: dict[str, str] = {}
    for text in strings:
        if text and not _PLAIN.fullmatch(text):
            for form in (text, display_name(text)):
                known.setdefault(form, mark_data(text))
    return known


def _text(text: str, known: Mapping[str, str]) -> str:
    """The tool's own ``text``: the data strings in it marked (with the quotes around them), names it quoted marked
    unless plain, the rest with control and marker characters escaped, cut to :data:`MAX_TEXT_CHARS`.

    The whole text is searched (a data string may start anywhere), but only as much of it is escaped as can be
    shown: a warning of a million characters costs no more than one that fills the limit."""
    forms = sorted((form for form in known if form in text), key=len, reverse=True)
    pieces: list[str] = []
    room = MAX_TEXT_CHARS + 1  # one more than fits, so that _cut sees the text was longer

    def add(piece: str) -> None:
        nonlocal room
        pieces.append(piece)
        room -= len(piece)

    done = 0
    for match in _pattern(tuple(forms)).finditer(text):
        add(_escape(text[done : match.start()][:room]))
        if (form := match.groupdict().get("known")) is not None:
            add(known[form])
        else:
            name = match.group("quoted")
            add(_escape(match.group(0)) if _PLAIN.fullmatch(name) else mark_data(name))
        done = match.end()
        if room <= 0:
            break
    else:
        add(_escape(text[done:][: max(0, room)]))
    return _cut("".join(pieces), MAX_TEXT_CHARS)


@lru_cache(maxsize=256)
def _pattern(forms: tuple[str, ...]) -> re.Pattern[str]:
    """Known data strings (longest first, whole words, with any quotes around them), then any quoted name."""
    if not forms:
        return re.compile(_QUOTED)
    alternatives = "|".join(_bounded(form) for form in forms)
    return re.compile(rf"(?P<q>')?(?P<known>{alternatives})(?(q)')|{_QUOTED}")


def _bounded(form: str) -> str:
    """``form`` as a pattern that matches it only as whole words."""
    before = r"(?<!\w)" if re.match(r"\w", form) else ""
    after = r"(?!\w)" if re.search(r"\w$", form) else ""
    return f"{before}{re.escape(form)}{after}"


def _escape(text: str) -> str:
    """Tool text between data strings: control, bidi and line-breaking characters escaped, markers escaped."""
    return display_name(text, sys.maxsize).translate(_MARKERS) if text else text


def _cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters ending in :data:`TRUNCATED`, never inside a marked data string."""
    if len(text) <= limit:
        return text
    kept = text[: max(0, limit - len(TRUNCATED))]
    if (opened := kept.rfind(DATA_OPEN)) > kept.rfind(DATA_CLOSE):
        kept = kept[:opened]
    return kept + TRUNCATED


# -- condensing -------------------------------------------------------------------------------------------------


def condense(
    result: ToolResult | Mapping[str, Any],
    limit: int = MAX_TOOL_CHARS,
    *,
    extend: Extend | None = None,
    request: ToolRequest | None = None,
) -> str:
    """``result`` as compact JSON of at most ``limit`` characters (in all but pathological cases).

    A :class:`~tools.results.ToolResult` is shown as its class declares, its data marked (see :func:`marked_view`);
    a mapping (the answer of a conversation-state tool, made of the model's own arguments) as it is. ``extend``
    adds to the view before it is measured (a deviation report from the frozen plan, which compares the plan with
    the request: the user's and the model's words, not the files). ``request``: the call's names, marked where
    the tool's text repeats them."""

    def view(plot_data: bool) -> dict[str, Any]:
        if isinstance(result, ToolResult):
            shown = marked_view(result, plot_data=plot_data, request=request)
        else:
            shown = dict(result)
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
    essentials = {k: _shorten(v, (1, 1)) for k, v in ordered.items() if k in _ESSENTIAL or _scalar(v)}
    text = _dump({**essentials, "condensed": "only the summary, checks, warnings and single values are shown"})
    if len(text) <= limit:
        return text
    note = {"condensed": f"too long to show: only the summary, cut; it ends in {TRUNCATED!r} when cut"}
    room = max(0, limit - len(_dump({"summary": "", **note})))
    summary = str(full.get("summary", ""))
    while len(_dump({"summary": (cut := _cut(summary, room)), **note})) > limit and room > 0:
        room -= max(1, len(_dump(cut)) - len(cut))  # escapes in the JSON text take more room than they hold
    return _dump({"summary": _cut(summary, room), **note})


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
