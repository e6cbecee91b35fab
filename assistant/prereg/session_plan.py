"""A conversation's pre-registration, as the app's ``/prereg`` and the guided mode use it.

- :func:`draft` is the document now: the frozen plan, or the draft with what the session's runs established;
- :func:`open_items` lists what is still open, each item with its question and how to answer it;
- :func:`record_answer` records the user's answer to one of them (kept in the session file, so resume keeps it);
- :func:`freeze_plan` freezes, but not an incomplete plan unless the user said to (``anyway=True``): the frozen
  document then lists the items that were open.

``conversation`` is anything with the attributes a :class:`~assistant.agent.conversation.Conversation` has:
``prereg``, ``brief``, ``runs``, ``catalog`` and ``store`` (the last three may be missing or None).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assistant.prereg.mapping import spec
from assistant.prereg.models import Item, PlanDocument
from assistant.prereg.tool import PreregState, resolve_item
from tools.errors import ToolError

__all__ = ["ANSWER_USAGE", "FREEZE_ANYWAY", "OpenItem", "draft", "freeze_plan", "open_items", "record_answer"]

ANSWER_USAGE = "/prereg answer ITEM your answer"
FREEZE_ANYWAY = "/prereg freeze anyway"


@dataclass(frozen=True)
class OpenItem:
    """An item the plan still needs: its key, label, status ("missing" or "unconfirmed"), the question that fills it
    and what the session already holds for it (``so_far``)."""

    key: str
    label: str
    status: str
    question: str
    so_far: str | None

    @property
    def how(self) -> str:
        """How the user answers it in the app."""
        return f"/prereg answer {self.key} <your answer>"

    def line(self) -> str:
        """One line of the list: label, status, question, and how to answer."""
        return f"{self.label} ({self.status}): {self.question} — answer with: {self.how}"


def _runs(conversation: Any) -> list[Any]:
    return list(getattr(conversation, "runs", None) or ())


def draft(conversation: Any) -> PlanDocument:
    """The conversation's pre-registration: the frozen plan, or the draft built from the brief, the plan, the user's
    answers, the power result and what the session's tool runs established."""
    state: PreregState = conversation.prereg
    return state.document(conversation.brief, _runs(conversation), getattr(conversation, "catalog", None))


def open_items(conversation: Any) -> tuple[OpenItem, ...]:
    """The items still missing or unconfirmed in the draft, in the document's order (none once frozen)."""
    document = draft(conversation)
    if document.frozen:
        return ()
    return tuple(
        OpenItem(i.key, i.label, i.status, i.question or spec(i.key).question, i.value)
        for i in document.prereg.items
        if i.status in ("missing", "unconfirmed")
    )


def _save(conversation: Any) -> None:
    store = getattr(conversation, "store", None)
    if store is not None:
        store.prereg(conversation.prereg)


def record_answer(conversation: Any, key: str, text: str) -> Item:
    """Record the user's answer to an open item (or a new answer to one they answered) and save the plan in the
    session file; returns the item as the draft now reads. A ToolError (in the user's words) when the plan is
    frozen, the item is unknown or filled from elsewhere, or the answer is empty or too long."""
    item_key = resolve_item(key)
    current = draft(conversation).prereg.item(item_key)
    own = conversation.prereg.plan.answer(item_key) is not None  # the user may always change their own answer
    if conversation.prereg.frozen is None and not own and current.status in ("complete", "not_applicable"):
        filled = "does not apply to this plan" if current.status == "not_applicable" else "is already filled"
        raise ToolError(
            "item_not_open",
            f"'{current.label}' {filled} (source: {current.source}).",
            "Answer one of the open items: " + ", ".join(i.key for i in open_items(conversation)) + "."
            if open_items(conversation)
            else "Every item is answered: /prereg freeze freezes the plan.",
        )
    conversation.prereg.answer(item_key, text)
    sources = getattr(conversation, "sources", None)
    if isinstance(sources, list):  # the user's own words back any number the assistant quotes from them
        sources.append(text)
    _save(conversation)
    return draft(conversation).prereg.item(item_key)


def freeze_plan(conversation: Any, *, anyway: bool = False) -> PlanDocument:
    """Freeze the conversation's plan and save it. With items still open, a ToolError (``prereg_incomplete``) lists
    them and nothing is frozen, unless ``anyway`` (the user confirmed): the frozen document then records them. An
    already frozen plan is returned as it is."""
    state: PreregState = conversation.prereg
    if state.frozen is not None:
        return state.frozen
    still_open = open_items(conversation)
    if still_open and not anyway:
        raise ToolError(
            "prereg_incomplete",
            f"Not frozen: {len(still_open)} item{'s are' if len(still_open) > 1 else ' is'} still open.\n"
            + "\n".join(f"- {item.line()}" for item in still_open),
            f"Answer them ({ANSWER_USAGE}), or freeze the plan as it is with '{FREEZE_ANYWAY}': the frozen "
            "document will list them as open.",
        )
    document: PlanDocument = state.freeze(
        conversation.brief, getattr(conversation, "catalog", None), runs=_runs(conversation)
    )
    _save(conversation)
    return document
