"""The brief: the six things a causal question needs pinned down, and the update_brief tool that fills it.

intervention · outcome (primary metric and guardrails) · population · unit (of assignment) · counterfactual ·
decision — each with a value and a status (missing, proposed, confirmed) — plus the chain of "why" answers
that led there. The model proposes; the user confirms; numbers wait until all six are confirmed unless the
user insists (then the brief says what was assumed). The slots, their order and their questions are
:mod:`assistant.agent.scoping`'s (re-exported here).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from assistant.agent.scoping import QUESTIONS, SLOTS, SlotName

__all__ = [
    "QUESTIONS",
    "SLOTS",
    "Brief",
    "OutcomeSlot",
    "Slot",
    "SlotName",
    "UpdateBriefRequest",
    "WhyStep",
    "apply_update",
    "replay",
]

Status = Literal["missing", "proposed", "confirmed"]
#: The longest text one entry of the brief holds: a long answer (a few pages) fits whole. Longer ones are cut to their
#: first sentences by the guided mode, which says so; the conversation keeps the whole answer.
MAX_TEXT = 10_000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Slot(_Model):
    """One scoping slot."""

    value: str | None = Field(default=None, description="What was agreed, in the user's terms.")
    status: Status = Field(default="missing", description="missing, proposed (by the assistant) or confirmed.")


class OutcomeSlot(Slot):
    """The outcome slot: the primary metric in ``value``, plus guardrails."""

    guardrails: tuple[str, ...] = Field(default=(), description="Metrics that must not get worse.")


class WhyStep(_Model):
    """One step of the why-chain: a question asked and the user's answer."""

    question: str = Field(description="The why-question asked.")
    answer: str = Field(description="The user's answer.")


class Brief(_Model):
    """The scoped question."""

    intervention: Slot = Slot()
    outcome: OutcomeSlot = OutcomeSlot()
    population: Slot = Slot()
    unit: Slot = Slot()
    counterfactual: Slot = Slot()
    decision: Slot = Slot()
    why_chain: tuple[WhyStep, ...] = ()
    assumptions: tuple[str, ...] = Field(default=(), description="What was assumed when the user moved on early.")

    def slot(self, name: SlotName) -> Slot:
        value: Slot = getattr(self, name)
        return value

    def missing(self) -> list[SlotName]:
        """Slots not yet confirmed, in scoping order."""
        return [name for name in SLOTS if self.slot(name).status != "confirmed"]

    @property
    def complete(self) -> bool:
        return not self.missing()

    def next_question(self) -> str | None:
        """The question for the first slot not yet confirmed."""
        missing = self.missing()
        return QUESTIONS[missing[0]] if missing else None


class UpdateBriefRequest(_Model):
    """Record what you and the user agreed about one slot of the brief, and the why-step that got there.

    Propose (status 'proposed') what you infer; 'confirmed' only what the user confirmed in their own words. Call
    it whenever a slot changes.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    slot: SlotName = Field(description="The brief's slot.")
    value: str = Field(
        description="The slot's content in the user's terms (for outcome: the primary metric).",
        min_length=1,
        max_length=MAX_TEXT,
    )
    status: Literal["proposed", "confirmed"] = Field(description="'proposed' by you, or 'confirmed' by the user.")
    guardrails: list[str] | None = Field(
        default=None, description="outcome only: metrics that must not get worse.", max_length=20
    )
    why_question: str | None = Field(
        default=None, description="The why-question that led here, if any.", max_length=MAX_TEXT
    )
    why_answer: str | None = Field(default=None, description="The user's answer to it.", max_length=MAX_TEXT)
    assumption: str | None = Field(
        default=None, description="If the user moved on without confirming: what is assumed.", max_length=MAX_TEXT
    )

    @model_validator(mode="after")
    def _guardrails_belong_to_the_outcome(self) -> UpdateBriefRequest:
        if self.guardrails is not None and self.slot != "outcome":
            raise ValueError("guardrails belong to the outcome slot; send them with slot='outcome'")
        if (self.why_question is None) != (self.why_answer is None):
            raise ValueError("why_question and why_answer go together")
        return self


def apply_update(brief: Brief, update: UpdateBriefRequest) -> Brief:
    """A new brief with ``update`` applied (the brief is immutable: every version can be kept)."""
    changes: dict[str, object] = {}
    if update.slot == "outcome":
        guardrails = tuple(update.guardrails) if update.guardrails is not None else brief.outcome.guardrails
        changes["outcome"] = OutcomeSlot(value=update.value, status=update.status, guardrails=guardrails)
    else:
        changes[update.slot] = Slot(value=update.value, status=update.status)
    if update.why_question and update.why_answer:
        changes["why_chain"] = (*brief.why_chain, WhyStep(question=update.why_question, answer=update.why_answer))
    if update.assumption:
        changes["assumptions"] = (*brief.assumptions, update.assumption)
    return brief.model_copy(update=changes)


def replay(updates: Iterable[Mapping[str, Any]], brief: Brief | None = None) -> Brief:
    """The brief that a transcript's ``update_brief`` arguments build, in order, on top of ``brief`` (an empty one
    by default): what the conversation holds after those calls. Arguments the conversation refused are skipped."""
    brief = brief if brief is not None else Brief()
    for arguments in updates:
        try:
            update = UpdateBriefRequest.model_validate(arguments)
        except ValidationError:
            continue
        brief = apply_update(brief, update)
    return brief
