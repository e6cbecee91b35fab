"""Every tool, listed once, and the dispatcher that runs one from untrusted arguments.

The registry is the single place a tool is declared. From it come the strict function schemas the model
reads (built in ``assistant``, which owns the OpenAI dependency), the command line (``whyscope tool ...``)
and :func:`dispatch`, which validates the model's JSON, resolves dataset names through the catalog, runs
the tool and returns its result or a :class:`~tools.errors.ToolError` — it never raises.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import json
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from tools.ab_test.models import AbTestRequest, AbTestResult
from tools.did.models import DiffInDiffRequest, DiffInDiffResult
from tools.errors import ToolError
from tools.power.models import PowerRequest, PowerResult
from tools.propensity.models import PropensityRequest, PropensityResult
from tools.rdd.models import RddRequest, RddResult
from tools.recommend import RecommendMethodRequest, RecommendMethodResult, recommend_method
from tools.refute.models import RefuteRequest, RefuteResult
from tools.results import ToolRequest, ToolResult

if TYPE_CHECKING:
    import pandas as pd

    from tools.data import Catalog, Dataset

__all__ = ["TOOLS", "ToolSpec", "dispatch", "get_tool", "tool_names"]

ToolFunction = Callable[..., ToolResult]  # (request, frame or Dataset or None, **control) -> result
Progress = Callable[[int, int, str], None]  # (done, total, label)

#: Longest raw argument string accepted from a caller (a tool request is small; anything larger is abuse).
MAX_ARGUMENT_CHARS = 100_000


@dataclass(frozen=True)
class ToolSpec:
    """One registered tool: its stable name, request and result models, and pure function.

    ``function`` is the function itself or its import path ``"package.module:name"``, loaded on first use so
    that listing tools and building schemas never imports what a tool needs to run (pandas, say).
    """

    name: str
    request: type[ToolRequest]
    result: type[ToolResult]
    implementation: ToolFunction | str
    #: The tool receives the catalog's :class:`~tools.data.Dataset` (it reads ``frame`` itself, or streams a
    #: large Parquet file not read yet) instead of a copy of the frame.
    takes_dataset: bool = False
    #: The function takes keyword arguments ``progress(done, total, label)`` and ``cancel`` (a
    #: ``threading.Event``): long simulations report progress and stop when asked.
    reports_progress: bool = False

    @property
    def function(self) -> ToolFunction:
        if not isinstance(self.implementation, str):
            return self.implementation
        module, _, attribute = self.implementation.partition(":")
        function: ToolFunction = getattr(importlib.import_module(module), attribute)
        return function

    @property
    def description(self) -> str:
        """What the model reads to decide when to use the tool: the request model's docstring, paragraphs
        unwrapped (source line breaks inside a paragraph only cost tokens)."""
        paragraphs = inspect.cleandoc(self.request.__doc__ or "").split("\n\n")
        return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)

    @property
    def summary(self) -> str:
        """The first line of the description."""
        return self.description.splitlines()[0] if self.description else ""

    @property
    def uses_data(self) -> bool:
        """Whether the request names a dataset from the catalog (a field, or a property that reads it from a
        nested request, as refute's target does)."""
        return "dataset" in self.request.model_fields or isinstance(getattr(self.request, "dataset", None), property)


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(name="power", request=PowerRequest, result=PowerResult, implementation="tools.power.tool:power"),
    ToolSpec(
        name="ab_test",
        request=AbTestRequest,
        result=AbTestResult,
        implementation="tools.ab_test.tool:ab_test",
        takes_dataset=True,
    ),
    ToolSpec(
        name="diff_in_diff",
        request=DiffInDiffRequest,
        result=DiffInDiffResult,
        implementation="tools.did.tool:diff_in_diff",
    ),
    ToolSpec(
        name="propensity",
        request=PropensityRequest,
        result=PropensityResult,
        implementation="tools.propensity.tool:propensity",
    ),
    ToolSpec(name="rdd", request=RddRequest, result=RddResult, implementation="tools.rdd.tool:rdd"),
    ToolSpec(
        name="refute",
        request=RefuteRequest,
        result=RefuteResult,
        implementation="tools.refute.tool:refute",
        reports_progress=True,
    ),
    ToolSpec(
        name="recommend_method",
        request=RecommendMethodRequest,
        result=RecommendMethodResult,
        implementation=recommend_method,
    ),
)

_BY_NAME: dict[str, ToolSpec] = {spec.name: spec for spec in TOOLS}
if len(_BY_NAME) != len(TOOLS):  # pragma: no cover - guards the table above
    raise RuntimeError("two registered tools share a name")


def tool_names() -> list[str]:
    """The registered tool names, in registry order."""
    return [spec.name for spec in TOOLS]


def get_tool(name: str) -> ToolSpec:
    """Look a tool up by name; an unknown name is a :class:`ToolError` listing the valid ones."""
    spec = _BY_NAME.get(name)
    if spec is None:
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
    arguments: str | Mapping[str, Any],
    catalog: Catalog | None = None,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> ToolResult | ToolError:
    """Validate untrusted arguments, run the tool, and return its result or a ToolError. Never raises.

    ``progress`` and ``cancel`` reach the tools that report progress (refute); others ignore them."""
    try:
        spec = get_tool(name)
        request = parse_request(spec, arguments)
        data = _resolve_data(spec, request, catalog)
        control = {"progress": progress, "cancel": cancel} if spec.reports_progress else {}
        return _run(spec, request, data, **control)
    except ToolError as error:
        return error


def parse_request(spec: ToolSpec, arguments: str | Mapping[str, Any]) -> ToolRequest:
    """Parse JSON text or a mapping into the tool's request model; errors name the offending fields."""
    if isinstance(arguments, str):
        if len(arguments) > MAX_ARGUMENT_CHARS:
            raise ToolError(
                "invalid_json",
                f"The arguments for '{spec.name}' are {len(arguments):,} characters long.",
                f"Send a JSON object of at most {MAX_ARGUMENT_CHARS:,} characters.",
            )
        try:
            payload = json.loads(arguments or "{}", parse_constant=_reject_constant)
        except (json.JSONDecodeError, ValueError) as exc:
            raise ToolError(
                "invalid_json",
                f"The arguments for '{spec.name}' are not valid JSON: {exc}.",
                'Send one complete JSON object, e.g. {"field": value}.',
            ) from None
    else:
        payload = dict(arguments)
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


def _reject_constant(token: str) -> float:
    raise ValueError(f"{token} is not a number JSON allows")


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
    return catalog.get(name) if spec.takes_dataset else catalog.frame(name)


def _run(spec: ToolSpec, request: ToolRequest, data: pd.DataFrame | Dataset | None, **control: Any) -> ToolResult:
    """Run the tool, turning library warnings into visible caveats and crashes into ToolErrors."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = spec.function(request, data, **control)
        except ToolError:
            raise
        except ValidationError as exc:
            # A result model refused its own numbers (NaN, infinity, an inverted interval).
            raise ToolError(
                "numerical_failure",
                f"'{spec.name}' could not compute a valid result from these inputs "
                f"({exc.error_count()} invalid value(s), e.g. {exc.errors()[0]['msg']}).",
                "Check the inputs for extreme or degenerate values; no number was reported.",
            ) from None
        except Exception as exc:
            raise ToolError(
                "internal_error",
                f"'{spec.name}' failed unexpectedly: {type(exc).__name__}: {_clip(str(exc))}",
                "This is a bug in whyscope, not in your input; please report it with the request.",
            ) from None
    notes = [f"Library warning during {spec.name}: {w.category.__name__}: {w.message}" for w in caught]
    if notes and "warnings" in type(result).model_fields:
        existing = list(getattr(result, "warnings", []))
        result = result.model_copy(update={"warnings": existing + sorted(set(notes))})
    return result


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
