"""Analysis plans, derived from the registered tools' request models: one per tool with ``plans=True``.

A plan holds what the user agreed, in the vocabulary of the tool that will run the analysis: every field of the
tool's request, all optional (null = not stated in the plan), with the request's own types and value constraints,
plus a ``method`` discriminator naming the tool. They are generated from :data:`tools.registry.TOOLS`, so they
cannot drift from the requests and a tool registered with ``plans=True`` gets its plan with no edit here.

Three departures from the request, each on purpose:

- lists become tuples (a plan is frozen and hashable);
- a list may be empty (``covariates: []`` states "none"; a minimum length is the tool's to enforce when it runs);
- no request validator is copied (a plan may state some settings and leave others to the tool).

A tool the guided mode offers as a follow-up of another analysis (``follows``: heterogeneity after an A/B test or
a propensity analysis) plans a **secondary** analysis (:data:`SECONDARY_TOOLS`): it sits beside the primary analysis
in the study plan (``StudyPlan.secondary_analyses``) and never replaces it.

The request a plan specifies (:func:`planned_request`) leaves out what the plan left null, so the tool's own
defaults apply. A plan is written without its nulls, except the fields documents frozen under
``whyscope.prereg/1`` always wrote (:data:`V1_LAYOUT`): their content hash covers those nulls.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, create_model, model_serializer
from pydantic.fields import FieldInfo

from tools.errors import ToolError
from tools.registry import TOOLS
from tools.results import ToolRequest
from tools.spec import ToolSpec

__all__ = [
    "DEFAULTS_STATED",
    "PLANS",
    "PLAN_TOOLS",
    "SECONDARY_TOOLS",
    "V1_LAYOUT",
    "V1_METRIC_LAYOUT",
    "PlanBase",
    "plan_model",
    "planned_request",
    "with_defaults",
]

#: The fields each plan of schema ``whyscope.prereg/1`` wrote before plans were derived from the requests, in the
#: order it wrote them, nulls included. A frozen document's content hash covers exactly these keys, so they are
#: always written, and first, for these four tools (existing documents load, verify and render byte for byte).
#: Frozen history: never extend it. A field added to a request later, and every field of a tool registered
#: later, is written only when the plan states it.
V1_LAYOUT: Mapping[str, tuple[str, ...]] = {
    "ab_test": (
        "dataset", "arm_column", "control", "cluster_column", "metrics", "expected_split", "alpha", "alternative",
        "correction", "winsorize", "decision_rule",
    ),
    "diff_in_diff": (
        "dataset", "outcome", "unit", "time", "treatment", "cohort", "estimator", "control_group",
        "reference_period", "leads", "lags", "cluster", "weights", "covariates", "base_period", "alpha",
    ),
    "propensity": (
        "dataset", "outcome", "treatment", "treated_value", "covariates", "estimand", "methods", "trim", "caliper",
        "neighbors", "alpha",
    ),
    "rdd": (
        "dataset", "outcome", "running", "cutoff", "treatment_side", "polynomial", "kernel", "bandwidth",
        "bandwidth_selector", "fuzzy", "cluster", "covariates", "alpha",
    ),
}  # fmt: skip
#: The fields each planned ab_test metric (``MetricSpec``) had under ``whyscope.prereg/1``, nulls written: a field
#: added to MetricSpec later is written only when a metric states it (frozen history: never extend it).
V1_METRIC_LAYOUT: tuple[str, ...] = (
    "name", "column", "kind", "denominator_column", "role", "direction", "covariate_column", "non_inferiority_margin",
)  # fmt: skip


def _v1_metric(metric: Any) -> Any:
    """A planned metric as written: the nulls of fields MetricSpec gained after schema version 1 left out."""
    if not isinstance(metric, dict):
        return metric
    return {key: value for key, value in metric.items() if value is not None or key in V1_METRIC_LAYOUT}


class PlanBase(BaseModel):
    """Base of every analysis plan: frozen, no unknown fields; ``method`` names the tool (a ``Literal`` in each
    generated plan, the discriminator of :data:`~assistant.prereg.models.AnalysisPlan`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    #: The tool's request model, which the plan copies.
    request: ClassVar[type[ToolRequest]]

    method: str

    if TYPE_CHECKING:
        # The fields are generated from the tool's request: type checkers see them, and the keywords, as Any.
        def __init__(self, **fields: Any) -> None: ...

        def __getattr__(self, name: str) -> Any: ...

    @model_serializer(mode="wrap")
    def _without_unstated(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The plan as written: its nulls left out, except the fields schema version 1 always wrote."""
        data: dict[str, Any] = handler(self)
        kept = V1_LAYOUT.get(self.method, ())
        written = {key: value for key, value in data.items() if value is not None or key == "method" or key in kept}
        if isinstance(written.get("metrics"), list | tuple):
            written["metrics"] = type(written["metrics"])(_v1_metric(m) for m in written["metrics"])
        return written

    def stated(self) -> dict[str, Any]:
        """The fields the plan states (JSON form), without ``method``."""
        return {k: v for k, v in self.model_dump(mode="json").items() if k != "method" and v is not None}

    @classmethod
    def required(cls) -> tuple[str, ...]:
        """The fields the tool's request requires (no default): a plan that leaves one open cannot run yet."""
        return tuple(name for name, info in cls.request.model_fields.items() if info.is_required())


def _class_name(tool: str) -> str:
    return "".join(part.capitalize() for part in tool.split("_")) + "Plan"


def _tupled(annotation: Any) -> Any:
    """``list[X]`` as ``tuple[X, ...]``, inside unions too."""
    origin = get_origin(annotation)
    if origin is list:
        (item,) = get_args(annotation)
        return tuple[item, ...]  # type: ignore[valid-type]
    if origin is Union or origin is types.UnionType:
        return Union[tuple(_tupled(arg) for arg in get_args(annotation))]  # noqa: UP007
    return annotation


def _is_sequence(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return any(_is_sequence(arg) for arg in get_args(annotation))
    return origin in (list, tuple)


def _plan_field(info: FieldInfo) -> tuple[Any, Any]:
    """The plan's copy of a request field: its type made optional, its constraints, its description; default None."""
    metadata = list(info.metadata)
    if _is_sequence(info.annotation):  # an empty list states "none"; the tool enforces its minimum when it runs
        metadata = [m for m in metadata if not isinstance(m, annotated_types.MinLen)]
    annotation: Any = _tupled(info.annotation) | None
    if metadata:
        annotation = Annotated[(annotation, *metadata)]
    return annotation, Field(default=None, description=info.description)


def plan_model(spec: ToolSpec) -> type[PlanBase]:
    """The analysis plan of a tool: an optional copy of every request field and ``method: Literal[<name>]``."""
    fields = spec.request.model_fields
    if "method" in fields:  # pragma: no cover - guards the registry
        raise ValueError(f"{spec.name}'s request has a field named 'method', the plan's discriminator: rename it")
    legacy = [name for name in V1_LAYOUT.get(spec.name, ()) if name in fields]
    order = [*legacy, *(name for name in fields if name not in legacy)]
    definitions: dict[str, Any] = {"method": (Literal[spec.name], spec.name)}
    definitions |= {name: _plan_field(fields[name]) for name in order}
    model: type[PlanBase] = create_model(
        _class_name(spec.name),
        __base__=PlanBase,
        __module__=__name__,
        __doc__=f"A planned {spec.name} run: every field of the {spec.name} request, optional (null = not stated "
        "in the plan; the tool's default applies).",
        **definitions,
    )
    model.request = spec.request
    return model


#: The tools the pre-registration plans (``plans=True``), in registry order.
PLAN_TOOLS: tuple[str, ...] = tuple(spec.name for spec in TOOLS if spec.plans)
#: Each plan tool's plan model.
PLANS: Mapping[str, type[PlanBase]] = {spec.name: plan_model(spec) for spec in TOOLS if spec.plans}
#: The plan tools whose analysis is secondary: a follow-up of another analysis (``follows``), planned beside the
#: primary analysis, never in its place.
SECONDARY_TOOLS: tuple[str, ...] = tuple(spec.name for spec in TOOLS if spec.plans and spec.follows)
#: Settings whose null in a plan stands for the tool's default, which the plan's words state: a run with another
#: value departs from the plan. Heterogeneity's random splits (folds, repetitions, seed) are part of its test (a
#: result should not be chosen among splits), and whether assignment was randomized decides its propensity model.
DEFAULTS_STATED: Mapping[str, tuple[str, ...]] = {"heterogeneity": ("randomized", "folds", "repetitions", "seed")}


def with_defaults(plan: PlanBase) -> dict[str, Any]:
    """The plan (JSON form) with the settings of :data:`DEFAULTS_STATED` it leaves null set to the tool's defaults."""
    stated: dict[str, Any] = plan.model_dump(mode="json")
    for name in DEFAULTS_STATED.get(plan.method, ()):
        if stated.get(name) is None:
            stated[name] = plan.request.model_fields[name].default
    return stated


def planned_request(tool: str, plan: PlanBase | None) -> dict[str, Any]:
    """The request a plan specifies for ``tool``: the fields it states, nothing it left null (so the tool's own
    defaults apply). A ToolError (``plan_mismatch``) when the plan is for another tool or has no analysis."""
    if plan is None or plan.method != tool:
        planned = plan.method if plan is not None else "no analysis"
        raise ToolError(
            "plan_mismatch",
            f"The plan specifies {planned}, not {tool}, so there is no planned {tool} request to run.",
            "Give the request with --json, or run the planned tool.",
        )
    return plan.stated()
