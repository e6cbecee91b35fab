"""The typed pre-registration: the analysis plan (one model per plan tool), the study plan, items and documents.

Nothing here computes statistics. A plan holds what the user agreed, in the vocabulary of the tool that will run
the analysis (the request's own fields, generated from it: see :mod:`assistant.prereg.plans`), so the executed
request can be compared with it field by field (see :mod:`assistant.prereg.deviations`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias, Union

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, field_validator, model_serializer

from assistant.agent.brief import Brief
from assistant.prereg.plans import PLANS, SECONDARY_TOOLS, PlanBase
from tools.power.models import PowerRequest, PowerResult
from tools.refute.models import CheckName

__all__ = [
    "ROBUSTNESS_CHECKS",
    "SCHEMA_VERSION",
    "TEXT_ANSWERS",
    "AbTestPlan",
    "AnalysisPlan",
    "Completeness",
    "DiffInDiffPlan",
    "FreezeStamp",
    "Item",
    "ItemAnswer",
    "ItemStatus",
    "PlanBase",
    "PlanDocument",
    "PreRegistration",
    "PreregSource",
    "PropensityPlan",
    "RddPlan",
    "RobustnessCheck",
    "Section",
    "StudyPlan",
    "TextAnswer",
]

SCHEMA_VERSION: Literal["whyscope.prereg/1"] = "whyscope.prereg/1"

RobustnessCheck = CheckName  # the refute tool's check names: one list for the plan and the tool
ROBUSTNESS_CHECKS: tuple[str, ...] = RobustnessCheck.__args__  # type: ignore[attr-defined]

#: The study-plan items answered in words (write_prereg's ``answers``): key → what it holds.
TextAnswer = Literal[
    "title",
    "hypothesis",
    "data_status",
    "assignment",
    "population_filter",
    "sample_size",
    "duration",
    "missing_data",
    "outliers",
    "quality_checks",
]
TEXT_ANSWERS: tuple[str, ...] = TextAnswer.__args__  # type: ignore[attr-defined]

Section = Literal["study_information", "design_plan", "sampling_plan", "variables", "analysis_plan", "other"]
ItemStatus = Literal["complete", "unconfirmed", "missing", "not_applicable"]
MAX_TEXT = 2_000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]


def _without_empty(data: dict[str, Any], optional: tuple[str, ...]) -> dict[str, Any]:
    """A model's JSON without the fields added after schema version 1 while they are empty: documents frozen
    before they existed keep their content hash and their bytes."""
    return {key: value for key, value in data.items() if key not in optional or value}


# -- analysis plans: one per plan tool, generated from its request (assistant.prereg.plans) ------------------------

AbTestPlan: type[PlanBase] = PLANS["ab_test"]
DiffInDiffPlan: type[PlanBase] = PLANS["diff_in_diff"]
PropensityPlan: type[PlanBase] = PLANS["propensity"]
RddPlan: type[PlanBase] = PLANS["rdd"]

if TYPE_CHECKING:
    AnalysisPlan: TypeAlias = PlanBase
else:
    #: The planned analysis: the plan of one of the plan tools, told apart by ``method``.
    AnalysisPlan = Annotated[Union[tuple(PLANS.values())], Field(discriminator="method")]  # noqa: UP007


class ItemAnswer(_Model):
    """The user's own answer to an item the session left open (``/prereg answer``, or the guided mode)."""

    key: str = Field(description="The item's key (see assistant.prereg.mapping.ITEMS).")
    text: Text = Field(description="The answer, in the user's words.")


class StudyPlan(_Model):
    """What the pre-registration needs beyond the brief: each field null until the user states it."""

    title: Text | None = None
    hypothesis: Text | None = Field(default=None, description="The hypothesis in the user's words.")
    data_status: Text | None = Field(default=None, description="Whether data exist yet, and who has seen them.")
    assignment: Text | None = Field(default=None, description="How units get the change (randomization or not).")
    population_filter: Text | None = Field(default=None, description="Rows included and excluded, as a rule.")
    sample_size: Text | None = Field(default=None, description="Sample size when no power result applies.")
    duration: Text | None = Field(default=None, description="How long data are collected.")
    stopping: Literal["fixed_horizon", "sequential"] | None = None
    missing_data: Text | None = None
    outliers: Text | None = None
    quality_checks: Text | None = Field(default=None, description="A/A test and other data-quality checks.")
    robustness_checks: tuple[RobustnessCheck, ...] | None = None
    analysis: AnalysisPlan | None = None
    secondary_analyses: tuple[AnalysisPlan, ...] = Field(
        default=(),
        description="Secondary analyses beside the primary one (heterogeneity: for whom it worked), at most one per "
        "tool (written only when there is one).",
    )
    dataset_sha256: str | None = Field(default=None, description="Content hash of the analysis data at freezing.")
    item_answers: tuple[ItemAnswer, ...] = Field(
        default=(),
        description="The user's answers to items no other field fills (one per item; written only when there is one).",
    )

    @field_validator("secondary_analyses")
    @classmethod
    def _secondary_tools_once(cls, plans: tuple[PlanBase, ...]) -> tuple[PlanBase, ...]:
        methods = [plan.method for plan in plans]
        if wrong := [m for m in methods if m not in SECONDARY_TOOLS]:
            raise ValueError(
                f"{', '.join(wrong)} is a primary analysis (the 'analysis' field), not a secondary one "
                f"(secondary tools: {', '.join(SECONDARY_TOOLS) or 'none'})"
            )
        if len(set(methods)) < len(methods):
            raise ValueError("at most one secondary analysis per tool")
        return plans

    @model_serializer(mode="wrap")
    def _written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return _without_empty(handler(self), ("item_answers", "secondary_analyses"))

    def planned(self, tool: str) -> PlanBase | None:
        """The plan of ``tool``'s analysis: the primary analysis when it is that tool's, else the secondary
        analysis of that tool, else None (no analysis by that tool was planned)."""
        if self.analysis is not None and self.analysis.method == tool:
            return self.analysis
        return next((plan for plan in self.secondary_analyses if plan.method == tool), None)

    def answer(self, key: str) -> str | None:
        """The user's own answer to item ``key``, if any."""
        return next((a.text for a in self.item_answers if a.key == key), None)


class PreregSource(_Model):
    """A brief file (``whyscope prereg BRIEF.json``): the brief, the study plan, and the power calculation.

    ``power`` is the power request (run when the document is built, so its numbers come from the tool);
    ``power_result`` a result saved from a session. At most one of them.
    """

    brief: Brief = Brief()
    plan: StudyPlan = StudyPlan()
    power: PowerRequest | None = None
    power_result: PowerResult | None = None


# -- the document -------------------------------------------------------------------------------------------------


class Item(_Model):
    """One answer of the pre-registration, with where it came from, or the question that would fill it."""

    key: str
    section: Section
    label: str
    status: ItemStatus
    value: str | None
    source: str
    question: str | None


class Completeness(_Model):
    complete: int
    applicable: int
    unconfirmed: int
    missing: int

    def sentence(self) -> str:
        text = f"{self.complete} of {self.applicable} items complete"
        extra = [f"{n} {word}" for n, word in ((self.unconfirmed, "unconfirmed"), (self.missing, "missing")) if n]
        return text + (f" ({', '.join(extra)})" if extra else "")


class PreRegistration(_Model):
    """The assembled pre-registration: every item, the inputs it came from, and how complete it is."""

    title: str
    method: str | None
    items: tuple[Item, ...]
    completeness: Completeness
    brief: Brief
    plan: StudyPlan
    power: PowerResult | None

    def item(self, key: str) -> Item:
        return next(i for i in self.items if i.key == key)


class FreezeStamp(_Model):
    """When the plan was frozen, the SHA-256 of its content, and the software that will analyse it."""

    frozen_at: str = Field(description="UTC time, ISO 8601 with a Z.")
    content_hash: str = Field(description="'sha256:' + hex digest of the canonical JSON of the pre-registration.")
    software: dict[str, str] = Field(default_factory=dict)
    missing_items: tuple[str, ...] = Field(
        default=(), description="Keys of the items still missing when the plan was frozen (written when any)."
    )
    unconfirmed_items: tuple[str, ...] = Field(
        default=(), description="Keys of the items proposed but not confirmed when frozen (written when any)."
    )

    @model_serializer(mode="wrap")
    def _written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return _without_empty(handler(self), ("missing_items", "unconfirmed_items"))


class PlanDocument(_Model):
    """The machine-readable plan (the JSON rendering): a pre-registration and, once frozen, its stamp."""

    schema_version: Literal["whyscope.prereg/1"] = SCHEMA_VERSION
    prereg: PreRegistration
    freeze: FreezeStamp | None = None

    @property
    def frozen(self) -> bool:
        return self.freeze is not None
