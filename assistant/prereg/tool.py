"""The ``write_prereg`` conversation tool and the session's pre-registration state.

The model records what the user agreed (text answers by item key, the stopping rule, robustness checks, and the
planned analysis as the request it would send to the analysis tool); every call returns how complete the plan is
and the questions still open. ``freeze`` fixes the plan with a hash and a UTC time; afterwards the plan cannot
change, and every run of the planned analysis tool is checked against it.

A secondary tool's planned request (``analysis_tool`` heterogeneity) is recorded as a secondary analysis, beside the
primary one it never replaces (``StudyPlan.secondary_analyses``).

The user answers open items in words with :func:`answer_item` (``/prereg answer``, the guided mode); the draft is
assembled with what the session's runs established (:mod:`assistant.prereg.session_facts`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from assistant.agent.brief import Brief
from assistant.prereg.assemble import assemble, effective_plan
from assistant.prereg.deviations import COMPARISONS, DeviationReport, Execution, check_deviations
from assistant.prereg.freeze import Clock, freeze
from assistant.prereg.mapping import ITEMS
from assistant.prereg.models import (
    AnalysisPlan,
    ItemAnswer,
    PlanDocument,
    PreRegistration,
    RobustnessCheck,
    StudyPlan,
    TextAnswer,
)
from assistant.prereg.plans import PLAN_TOOLS, SECONDARY_TOOLS
from assistant.prereg.session_facts import session_facts
from tools.errors import ToolError
from tools.jsontext import JsonTextError, loads
from tools.power.models import PowerResult

__all__ = [
    "Answer",
    "PreregState",
    "WritePreregRequest",
    "answer_item",
    "apply_write",
    "attach_report",
    "parse_analysis",
    "resolve_item",
]

MAX_TEXT = 2_000
#: The tools a pre-registration can plan (those registered with ``plans=True``).
ANALYSIS_TOOLS: tuple[str, ...] = PLAN_TOOLS
if TYPE_CHECKING:
    AnalysisTool = str
else:
    AnalysisTool = Literal[PLAN_TOOLS]
_ANALYSIS = TypeAdapter(AnalysisPlan)
#: How the model fills each item: a brief slot (update_brief), a write_prereg field, or a tool.
FILL = {
    "question": "update_brief why_question/why_answer",
    "hypotheses": "answers.hypothesis + analysis_request",
    "counterfactual": "update_brief",
    "unit": "update_brief",
    "assignment": "answers.assignment",
    "data_status": "answers.data_status",
    "population": "update_brief",
    "exclusions": "answers.population_filter",
    "sample_size": "the power tool, or answers.sample_size",
    "duration_stopping": "answers.duration + stopping",
    "quality_checks": "answers.quality_checks",
    "intervention": "update_brief",
    "primary_metric": "update_brief + analysis_request",
    "guardrails": "update_brief + analysis_request",
    "covariates": "analysis_request",
    "method": "analysis_tool + analysis_request",
    "inference": "analysis_request",
    "alpha_correction": "analysis_request",
    "outliers_missing": "answers.outliers + answers.missing_data",
    "robustness": "robustness_checks",
    "decision_rule": "update_brief + analysis_request",
}


class Answer(BaseModel):
    """A plan item in words."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    item: TextAnswer = Field(description="Item key.")
    text: str = Field(description="The user's answer.", min_length=1, max_length=MAX_TEXT)


class WritePreregRequest(BaseModel):
    """Draft or freeze the pre-registration (brief + last power result + planned analysis).

    Record only what the user said; the result lists missing items with the question to ask. freeze=true only
    when the user asks; a frozen plan cannot change.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    answers: list[Answer] | None = Field(default=None, description="Plan items in words.")
    stopping: Literal["fixed_horizon", "sequential"] | None = Field(default=None, description="Stopping rule.")
    robustness_checks: list[RobustnessCheck] | None = Field(default=None, description="Planned refute checks.")
    analysis_tool: AnalysisTool | None = Field(default=None, description="Tool for the analysis.")
    analysis_request: str | None = Field(default=None, description="Its planned request, as a JSON object.")
    freeze: bool = Field(description="Freeze the plan now.")


def parse_analysis(tool: str, text: str) -> AnalysisPlan:
    """The planned analysis from a tool name and its planned request (JSON); ToolError on bad input."""
    if len(text) > 20_000:
        raise ToolError("invalid_arguments", "analysis_request is too long.", "Send the planned request only.")
    try:
        payload = loads(text)  # bounded: 5,000 nested brackets are an error, not a RecursionError
    except JsonTextError as exc:
        raise ToolError(
            "invalid_json", f"analysis_request is not valid JSON: {exc}.", "Send one JSON object."
        ) from None
    if not isinstance(payload, dict):
        raise ToolError("invalid_arguments", "analysis_request must be a JSON object.", 'Send {"field": value}.')
    payload = {k: v for k, v in payload.items() if k != "method"}  # the tool's name is analysis_tool
    try:
        return _ANALYSIS.validate_json(json.dumps({**payload, "method": tool}))
    except ValidationError as exc:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'request'}: {e['msg']}" for e in exc.errors()[:8]
        )
        raise ToolError(
            "invalid_arguments",
            f"The planned {tool} request is invalid: {detail}.",
            f"Use the field names of the {tool} tool; leave unknown values out.",
        ) from None


def apply_write(plan: StudyPlan, request: WritePreregRequest) -> StudyPlan:
    """A new study plan with the request's answers applied (freeze is handled by :class:`PreregState`)."""
    changes: dict[str, Any] = {}
    if len(request.answers or []) > 20:
        raise ToolError("invalid_arguments", "More than 20 answers in one call.", "Send at most 20 answers.")
    for answer in request.answers or []:
        changes[answer.item] = answer.text
    if request.stopping is not None:
        changes["stopping"] = request.stopping
    if request.robustness_checks is not None:
        changes["robustness_checks"] = tuple(dict.fromkeys(request.robustness_checks))
    if (request.analysis_tool is None) != (request.analysis_request is None):
        raise ToolError(
            "invalid_arguments",
            "analysis_tool and analysis_request go together.",
            "Send both (the tool and its planned request), or neither.",
        )
    if request.analysis_tool is not None and request.analysis_request is not None:
        planned = parse_analysis(request.analysis_tool, request.analysis_request)
        if planned.method in SECONDARY_TOOLS:  # beside the primary analysis, replacing only its own earlier plan
            others = tuple(a for a in plan.secondary_analyses if a.method != planned.method)
            changes["secondary_analyses"] = (*others, planned)
        else:
            changes["analysis"] = planned
    return StudyPlan.model_validate({**plan.model_dump(), **changes})


def resolve_item(key: str) -> str:
    """The item key the user meant (``data_status``, ``data-status``, ``Data status``, or the item's label such as
    ``Existing data``); a ToolError naming the keys when there is none."""
    wanted = re.sub(r"[\s\-]+", "_", key.strip().strip("'\"`:").lower())
    for spec in ITEMS:
        if wanted in (spec.key, re.sub(r"[\s\-]+", "_", spec.label.lower())):
            return spec.key
    raise ToolError(
        "unknown_item",
        f"There is no pre-registration item '{key.strip()[:60]}'.",
        "Use one of: " + ", ".join(spec.key for spec in ITEMS) + ".",
    )


def answer_item(state: PreregState, key: str, text: str) -> str:
    """Record the user's answer to item ``key`` in the draft plan (``StudyPlan.item_answers``, kept in the session
    file with the plan, so a resumed session keeps it); returns the item's key. A later answer to the same item
    replaces the earlier one. ToolError when the plan is frozen, the item unknown or the answer empty or too long."""
    item = resolve_item(key)
    if state.frozen is not None:
        raise ToolError(
            "plan_frozen",
            f"The plan was frozen at {state.frozen.freeze.frozen_at if state.frozen.freeze else '?'} and cannot "
            "change.",
            "A frozen plan is a record: how the analysis departs from it is reported with each result.",
        )
    words = text.strip()
    if not words:
        raise ToolError("empty_answer", "The answer is empty.", f"Write the answer after the item: {item} <answer>.")
    if len(words) > MAX_TEXT:
        raise ToolError(
            "answer_too_long",
            f"That answer is {len(words):,} characters long; an item holds at most {MAX_TEXT:,}.",
            "Shorten it (the essentials of the plan), and send it again.",
        )
    answers = (*(a for a in state.plan.item_answers if a.key != item), ItemAnswer(key=item, text=words))
    state.plan = state.plan.model_copy(update={"item_answers": answers})
    return item


@dataclass
class PreregState:
    """A session's pre-registration: the draft plan, the last power result, and the frozen document if any.

    The draft is assembled with what the session's tool runs established (``runs``: the conversation's typed runs;
    see :mod:`assistant.prereg.session_facts`), filling only what the plan and the user's answers leave open."""

    plan: StudyPlan = field(default_factory=StudyPlan)
    power: PowerResult | None = None
    frozen: PlanDocument | None = None

    def draft(self, brief: Brief, runs: Sequence[Any] = (), catalog: Any = None) -> PreRegistration:
        """The current draft: the plan, the user's answers, the power result and the session's facts."""
        return assemble(brief, self.plan, self.power, session=session_facts(runs, catalog))

    def document(self, brief: Brief, runs: Sequence[Any] = (), catalog: Any = None) -> PlanDocument:
        """The frozen document, or else the current draft."""
        if self.frozen is not None:
            return self.frozen
        return PlanDocument(prereg=self.draft(brief, runs, catalog))

    def answer(self, key: str, text: str) -> str:
        """Record the user's answer to an item (see :func:`answer_item`)."""
        return answer_item(self, key, text)

    def freeze(
        self, brief: Brief, catalog: Any = None, *, clock: Clock | None = None, runs: Sequence[Any] = ()
    ) -> PlanDocument:
        """Freeze the current draft (recording the analysis data's content hash when that data is attached). The
        draft is frozen as it is: the document's stamp lists the items still open; asking first is the caller's."""
        if self.frozen is not None:
            return self.frozen
        facts = session_facts(runs, catalog)
        plan = self.plan
        effective = effective_plan(plan, facts)[0]
        hashed = effective.analysis or next(iter(effective.secondary_analyses), None)  # the primary analysis's data
        dataset = getattr(hashed, "dataset", None)
        if dataset and catalog is not None and dataset in catalog:
            try:  # the file as it is now (read again if it changed since it was attached)
                attached = catalog.get(dataset)
            except ToolError:  # gone or unreadable: the plan records the data the user worked with
                attached = catalog.get(dataset, check_disk=False)
            plan = plan.model_copy(update={"dataset_sha256": attached.sha256})
        prereg = assemble(brief, plan, self.power, session=facts)
        self.frozen = freeze(prereg) if clock is None else freeze(prereg, clock=clock)
        return self.frozen

    def write(self, brief: Brief, arguments: str, catalog: Any = None, runs: Sequence[Any] = ()) -> dict[str, Any]:
        """Run write_prereg's arguments; the result for the model. Raises ToolError for bad input. ``runs`` (the
        conversation's) fill what the session established."""
        try:
            request = WritePreregRequest.model_validate_json(arguments or "{}")
        except ValidationError as exc:
            invalid_json = any(e["type"] == "json_invalid" for e in exc.errors())
            raise ToolError(
                "invalid_json" if invalid_json else "invalid_arguments",
                "Invalid write_prereg arguments: "
                + "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()[:8]),
                "Send answers, stopping, robustness_checks, analysis_tool, analysis_request and freeze.",
            ) from None
        changes = request.model_copy(update={"freeze": False}) != WritePreregRequest(freeze=False)
        if self.frozen is not None:
            if changes:
                raise ToolError(
                    "plan_frozen",
                    f"The plan was frozen at {self.frozen.freeze.frozen_at if self.frozen.freeze else '?'} and "
                    "cannot change.",
                    "Run the analysis; departures from the plan are reported with its result as deviations.",
                )
            return self._outcome(self.frozen)
        self.plan = apply_write(self.plan, request)
        draft = PlanDocument(prereg=self.draft(brief, runs, catalog))
        if request.freeze:
            open_items = [i for i in draft.prereg.items if i.status in ("missing", "unconfirmed")]
            if open_items:
                raise ToolError(
                    "prereg_incomplete",
                    f"The plan cannot be frozen: {draft.prereg.completeness.sentence()}. Still open: "
                    + "; ".join(f"{i.key} ({i.question})" for i in open_items[:8]),
                    "Ask the user these questions and record the answers (update_brief for brief slots), then freeze.",
                )
            return self._outcome(self.freeze(brief, catalog, runs=runs))
        return self._outcome(draft)

    @staticmethod
    def _outcome(document: PlanDocument) -> dict[str, Any]:
        prereg = document.prereg
        state = "Frozen pre-registration" if document.freeze else "Pre-registration draft"
        secondary = ", ".join(a.method for a in prereg.plan.secondary_analyses)
        beside = f" Secondary analyses: {secondary}." if secondary else ""
        result: dict[str, Any] = {
            "summary": f"{state}: {prereg.completeness.sentence()}.{beside}",
            "missing": [
                {"item": i.key, "status": i.status, "question": i.question, "fill_with": FILL[i.key]}
                for i in prereg.items
                if i.status in ("missing", "unconfirmed")
            ],
        }
        if document.freeze is not None:
            result["frozen_at"] = document.freeze.frozen_at
            result["content_hash"] = document.freeze.content_hash
        return result

    def check(
        self, tool: str, request: dict[str, Any], result: dict[str, Any], catalog: Any = None
    ) -> DeviationReport | None:
        """The deviation report for an analysis run, when a frozen plan exists and the tool is an analysis."""
        if self.frozen is None or tool not in COMPARISONS:
            return None
        dataset = request.get("dataset")
        # the data the run just used (checked against the disk when the run resolved it), not read again
        sha = (
            catalog.get(dataset, check_disk=False).sha256
            if dataset and catalog is not None and dataset in catalog
            else None
        )
        return check_deviations(self.frozen, Execution(method=tool, request=request, result=result, dataset_sha256=sha))


def attach_report(result: dict[str, Any], report: DeviationReport) -> dict[str, Any]:
    """A tool result (JSON form) with the deviation report as ``plan_check`` and a ``pre_registration`` check."""
    detail = report.summary + "".join(f" {d.detail}" for d in report.deviations[:6])
    if len(report.deviations) > 6:
        detail += f" (and {len(report.deviations) - 6} more in plan_check)"
    check = {"name": "pre_registration", "status": report.status, "detail": detail}
    return {**result, "checks": [*result.get("checks", []), check], "plan_check": report.model_dump(mode="json")}
