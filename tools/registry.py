"""Every tool, listed once, and the dispatcher that runs one from untrusted arguments.

Each tool declares itself once, as a :class:`~tools.spec.ToolSpec` in its package (``tools/<family>/spec.py``), and
is listed once here in :data:`TOOLS`. From it come the strict function schemas the model reads (built in
``assistant``, which owns the OpenAI dependency), the command line (``whyscope tool ...``), every surface's view of
the tool (see :mod:`tools.spec`), and :func:`dispatch`, which validates the model's JSON, resolves dataset names
through the catalog, runs the tool and returns its result or a :class:`~tools.errors.ToolError` — it never raises.
"""

from __future__ import annotations

import contextlib
import difflib
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from tools.aa_test.spec import SPEC as AA_TEST
from tools.ab_test.spec import SPEC as AB_TEST
from tools.allocate.spec import SPEC as ALLOCATE_TRAFFIC
from tools.assign.spec import SPEC as ASSIGN
from tools.did.spec import SPEC as DIFF_IN_DIFF
from tools.errors import ToolError
from tools.heterogeneity.spec import SPEC as HETEROGENEITY
from tools.history.spec import SPEC as METRIC_HISTORY
from tools.iv.spec import SPEC as INSTRUMENTAL_VARIABLES
from tools.jsontext import JsonTextError, check_depth, loads
from tools.power.spec import SPEC as POWER
from tools.propensity.spec import SPEC as PROPENSITY
from tools.rdd.spec import SPEC as RDD
from tools.recommend import RecommendMethodRequest, RecommendMethodResult, recommend_method
from tools.refute.spec import SPEC as REFUTE
from tools.results import ToolRequest, ToolResult
from tools.spec import ToolSpec, _load
from tools.synth.spec import SPEC as SYNTHETIC_CONTROL

if TYPE_CHECKING:
    import pandas as pd

    from tools.data import Catalog, Dataset

__all__ = [
    "TOOLS",
    "ToolSpec",
    "auto_battery",
    "dispatch",
    "estimators",
    "get_tool",
    "parse_request",
    "tool_for_design",
    "tool_names",
]

Progress = Callable[[int, int, str], None]  # (done, total, label)

#: Longest raw argument string accepted from a caller (a tool request is small; anything larger is abuse).
MAX_ARGUMENT_CHARS = 100_000

#: recommend_method has no package of its own: it is declared here.
RECOMMEND_METHOD = ToolSpec(
    name="recommend_method",
    request=RecommendMethodRequest,
    result=RecommendMethodResult,
    implementation=recommend_method,
    offer="always",
    no_guide="The guided mode asks recommend_method's questions itself (how units got the change, when, and what "
    "data exist) and runs it from the answers, not from columns.",
)

#: Every tool, once, in the order the command line lists them. A tool's surfaces come from its spec.
TOOLS: tuple[ToolSpec, ...] = (
    POWER,
    METRIC_HISTORY,
    AA_TEST,
    AB_TEST,
    DIFF_IN_DIFF,
    SYNTHETIC_CONTROL,
    PROPENSITY,
    RDD,
    INSTRUMENTAL_VARIABLES,
    HETEROGENEITY,
    ALLOCATE_TRAFFIC,
    ASSIGN,
    REFUTE,
    RECOMMEND_METHOD,
)

_BY_NAME: dict[str, ToolSpec] = {spec.name: spec for spec in TOOLS}
if len(_BY_NAME) != len(TOOLS):  # pragma: no cover - guards the table above
    raise RuntimeError("two registered tools share a name")


def tool_names() -> list[str]:
    """The registered tool names, in registry order."""
    return [spec.name for spec in TOOLS]


def estimators() -> list[ToolSpec]:
    """The tools that estimate an effect from data (refute challenges them; the pre-registration plans them)."""
    return [spec for spec in TOOLS if spec.estimates]


def tool_for_design(design: str) -> str | None:
    """The tool that runs one of ``recommend_method``'s designs, or None when whyscope has none yet."""
    return next((spec.name for spec in TOOLS if design in spec.designs), None)


def auto_battery(name: str) -> tuple[str, ...]:
    """The refute checks ``checks: ["auto"]`` runs for the tool's estimate (empty when refute does not apply)."""
    spec = _BY_NAME.get(name)
    return spec.battery.auto if spec is not None and spec.battery is not None else ()


def get_tool(name: str) -> ToolSpec:
    """Look a tool up by name; an unknown name is a :class:`ToolError` listing the valid ones."""
    spec = _BY_NAME.get(name) if isinstance(name, str) else None
    if spec is None:
        name = name if isinstance(name, str) else repr(name)
        close = difflib.get_close_matches(name, tool_names(), n=1)
        hint = f"Did you mean '{close[0]}'? " if close else ""
        raise ToolError(
            "unknown_tool",
            f"There is no tool named '{_clip(name)}'.",
            f"{hint}Valid tools: {', '.join(tool_names())}.",
        )
    return spec


def dispatch(
    name: str,
    arguments: str | Mapping[str, Any] | ToolRequest,
    catalog: Catalog | None = None,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> ToolResult | ToolError:
    """Validate untrusted arguments, run the tool, and return its result or a ToolError. Never raises.

    ``arguments`` is JSON text, a mapping, or a request already validated by :func:`parse_request` (not parsed
    again). ``progress`` and ``cancel`` reach the tools that report progress (refute); others ignore them."""
    try:
        spec = get_tool(name)
        request = arguments if isinstance(arguments, spec.request) else parse_request(spec, _plain(arguments))
        data = _resolve_data(spec, request, catalog)
        control = {"progress": progress, "cancel": cancel} if spec.reports_progress else {}
        with _interrupting(data, cancel):  # a query running in an engine stops when the run is cancelled
            result = _run(spec, request, data, **control)
        # a dataset whose file changed on disk was read again for this run: the result says so
        return _with_warnings(result, catalog.take_notes() if catalog is not None else [])
    except ToolError as error:
        return error
    except Exception as exc:  # validating or resolving the data failed in a way no check foresaw
        return _failure(name if isinstance(name, str) else repr(name), exc)


@contextlib.contextmanager
def _interrupting(data: Any, cancel: threading.Event | None) -> Iterator[None]:
    """While a tool runs on a table in an engine, a watcher interrupts the engine's query once ``cancel`` is set
    (the tool then returns the engine's ``cancelled`` error); nothing for a file or without ``cancel``."""
    engine = getattr(data, "engine", None)
    if cancel is None or engine is None:
        yield
        return
    finished = threading.Event()

    def watch() -> None:
        while not finished.is_set():
            if cancel.wait(0.1):
                engine.interrupt()
                return

    watcher = threading.Thread(target=watch, name="whyscope-engine-cancel", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        finished.set()
        watcher.join(timeout=1)


def parse_request(spec: ToolSpec, arguments: str | Mapping[str, Any]) -> ToolRequest:
    """Parse JSON text or a mapping into the tool's request model; errors name the offending fields.

    Text is read with :func:`tools.jsontext.loads` and a mapping measured with :func:`tools.jsontext.check_depth`,
    so that arguments nested thousands of levels deep are refused before anything recurses into them (Python's
    ``json`` and pydantic would raise ``RecursionError``)."""
    if isinstance(arguments, str):
        if len(arguments) > MAX_ARGUMENT_CHARS:
            raise ToolError(
                "invalid_json",
                f"The arguments for '{spec.name}' are {len(arguments):,} characters long.",
                f"Send a JSON object of at most {MAX_ARGUMENT_CHARS:,} characters.",
            )
        try:
            payload = loads(arguments or "{}")
        except JsonTextError as exc:
            raise ToolError(
                "invalid_json",
                f"The arguments for '{spec.name}' are not valid JSON: {exc}.",
                'Send one complete, flat JSON object, e.g. {"field": value}.',
            ) from None
    elif isinstance(arguments, Mapping):
        try:
            check_depth(arguments)
        except JsonTextError as exc:
            raise ToolError(
                "invalid_arguments",
                f"The arguments for '{spec.name}' are {exc}.",
                "A tool request is a flat object of fields; send each field's value directly.",
            ) from None
        payload = dict(arguments)
    else:
        payload = arguments
    if not isinstance(payload, dict):
        raise ToolError(
            "invalid_json",
            f"The arguments for '{spec.name}' must be a JSON object, not {type(payload).__name__}.",
            "Send one JSON object whose keys are the tool's fields.",
        )
    try:
        return spec.request.model_validate(payload)
    except ValidationError as exc:
        raise _condense(spec, exc) from None


def _plain(arguments: str | Mapping[str, Any] | ToolRequest) -> str | Mapping[str, Any]:
    """Arguments as text or a mapping (a request of another tool's model is read as its fields)."""
    return arguments.model_dump(mode="json") if isinstance(arguments, ToolRequest) else arguments


def _condense(spec: ToolSpec, exc: ValidationError) -> ToolError:
    """Turn pydantic's errors into one readable message naming each offending field."""
    fields = list(spec.request.model_fields)
    problems: list[str] = []
    hints: list[str] = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in err["loc"]) or "(the request)"
        kind = err["type"]
        if kind == "extra_forbidden":
            problems.append(f"unknown field '{_clip(loc)}'")
            close = difflib.get_close_matches(str(err["loc"][-1]), fields, n=1)
            if close:
                hints.append(f"Did you mean '{close[0]}'?")
        elif kind == "missing":
            problems.append(f"missing required field '{loc}'")
        else:
            problems.append(f"'{loc}': {err['msg']} (got {_clip(repr(err.get('input')))})")
    hints.append(f"Valid fields: {', '.join(fields)}; `whyscope tool schema {spec.name}` shows the schema.")
    return ToolError(
        "invalid_arguments",
        f"Invalid arguments for '{spec.name}': " + "; ".join(problems) + ".",
        " ".join(hints),
    )


def _resolve_data(spec: ToolSpec, request: ToolRequest, catalog: Catalog | None) -> pd.DataFrame | Dataset | None:
    name = getattr(request, "dataset", None)
    if not spec.uses_data or name is None:
        return None
    if catalog is None or len(catalog) == 0:
        raise ToolError(
            "no_data",
            f"'{spec.name}' needs the dataset '{_clip(name)}', but no data is attached.",
            "Attach a CSV or Parquet file first (`--data NAME=PATH` on the command line, `/load PATH` in the app).",
        )
    if spec.takes_dataset:
        return catalog.get(name)
    dataset = catalog.get(name)
    if dataset.engine is not None and spec.engine_frame is not None:  # reduced in the engine, then pulled
        frame, notes = _load(spec.engine_frame)(request, dataset.engine)
        for note in notes:
            catalog.note(note)
        return frame  # type: ignore[no-any-return]
    return catalog.frame(name)


def _run(spec: ToolSpec, request: ToolRequest, data: pd.DataFrame | Dataset | None, **control: Any) -> ToolResult:
    """Run the tool, turning library warnings into visible caveats and crashes into ToolErrors."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = spec.function(request, data, **control)
        except ToolError:
            raise
        except Exception as exc:
            raise _failure(spec.name, exc) from None
    notes = [f"Library warning during {spec.name}: {w.category.__name__}: {w.message}" for w in caught]
    return _with_warnings(result, sorted(set(notes)))


def _with_warnings(result: ToolResult, notes: list[str]) -> ToolResult:
    """``result`` with ``notes`` added to its warnings (results without a warnings field are returned as they are)."""
    if not notes or "warnings" not in type(result).model_fields:
        return result
    existing = list(getattr(result, "warnings", []))
    return result.model_copy(update={"warnings": existing + [n for n in notes if n not in existing]})


def _failure(name: str, exc: Exception) -> ToolError:
    """The ToolError for an exception no check foresaw ("a tool never raises"), with a code that says what kind:
    numbers that could not be represented, input too deep or too large to process, or a bug."""
    if isinstance(exc, ValidationError):
        # A result model refused its own numbers (NaN, infinity, an inverted interval).
        return ToolError(
            "numerical_failure",
            f"'{name}' could not compute a valid result from these inputs "
            f"({exc.error_count()} invalid value(s), e.g. {exc.errors()[0]['msg']}).",
            "Check the inputs for extreme or degenerate values; no number was reported.",
        )
    if isinstance(exc, OverflowError | FloatingPointError):
        # Each tool bounds its inputs; this is the net under any arithmetic those bounds did not foresee.
        return ToolError(
            "numerical_failure",
            f"'{name}' could not compute a result from these inputs: a number grew beyond what floating point can "
            f"hold ({type(exc).__name__}).",
            "Check the inputs for extreme values (far beyond any real measurement); no number was reported.",
        )
    if isinstance(exc, RecursionError):
        return ToolError(
            "too_deep",
            f"'{name}' gave up on these inputs: they are nested or chained too deeply to process.",
            "Send a flat request with the values themselves, not nested structures.",
        )
    if isinstance(exc, MemoryError):
        return ToolError(
            "out_of_memory",
            f"'{name}' ran out of memory on these inputs.",
            "Use a smaller dataset or fewer simulations, columns or metrics, then run it again.",
        )
    return ToolError(
        "internal_error",
        f"'{name}' failed unexpectedly: {type(exc).__name__}: {_clip(str(exc))}",
        "This is a bug in whyscope, not in your input; please report it with the request.",
    )


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
