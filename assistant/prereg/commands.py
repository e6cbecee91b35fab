"""The app's ``/prereg`` command, kept out of the app class (which stays thin).

- ``/prereg`` shows the current document: the frozen plan, or the draft (filled from what the session established:
  the analysis as it ran, the assignment, the refute checks, the data), then how to answer what is still open;
- ``/prereg missing`` lists only the open items, each with its question and how to answer it;
- ``/prereg answer ITEM TEXT`` records the user's answer to an open item (kept in the session);
- ``/prereg freeze`` freezes the draft, but with items still open it lists them and freezes nothing until the user
  confirms with ``/prereg freeze anyway`` (the frozen document then records which items were open);
- ``/prereg PATH`` writes the document to a new file (format from the extension: .md, .html or .json), never over
  an existing one.
"""

from __future__ import annotations

import re
from typing import Any

from assistant.prereg.files import format_for, write_new
from assistant.prereg.render import render
from assistant.prereg.session_plan import ANSWER_USAGE, FREEZE_ANYWAY, draft, freeze_plan, open_items, record_answer
from tools.errors import ToolError

__all__ = ["USAGE", "prereg_command"]

USAGE = (
    "/prereg [PATH | missing | answer ITEM TEXT | freeze [anyway]]  show the pre-registration, list or answer its "
    "open items, freeze it, or write it to PATH (.md, .html, .json)"
)
#: How the user confirms freezing an incomplete plan: ``/prereg freeze anyway`` (or ``!``, ``--force``, ``now``).
ANYWAY = frozenset({"anyway", "!", "--force", "force", "now", "incomplete", "as is"})


def prereg_command(conversation: Any, argument: str) -> tuple[str, str]:
    """Run ``/prereg ARGUMENT`` on a conversation; returns (text to show, "note" or "error")."""
    argument = argument.strip()
    word, _, rest = argument.partition(" ")
    verb = word.lower()
    if verb == "freeze":
        return _freeze(conversation, rest.strip().lower())
    if verb in ("missing", "open", "todo"):
        return _missing(conversation), "note"
    if verb == "answer":
        return _answer(conversation, rest)
    document = draft(conversation)
    if not argument:
        return render(document, "md") + _how_to_answer(conversation), "note"
    fmt = format_for(argument)
    try:
        target = write_new(argument, render(document, fmt))
    except ToolError as error:
        return f"{error.message} {error.hint}", "error"
    state_word = "frozen plan" if document.frozen else "draft (not frozen; /prereg freeze to freeze it)"
    return (
        f"Pre-registration written to {target} ({fmt}, {state_word}; {document.prereg.completeness.sentence()}).",
        "note",
    )


def _freeze(conversation: Any, confirm: str) -> tuple[str, str]:
    state = conversation.prereg
    if state.frozen is not None:
        stamp = state.frozen.freeze
        return f"The plan is already frozen ({stamp.frozen_at}, {stamp.content_hash}).", "note"
    if confirm and confirm not in ANYWAY:
        return f"Unknown option '{confirm[:40]}'. To freeze a plan with open items: {FREEZE_ANYWAY}.", "error"
    try:
        document = freeze_plan(conversation, anyway=bool(confirm))
    except ToolError as error:
        return f"{error.message}\n{error.hint}", "error"
    stamp = document.freeze
    assert stamp is not None
    opened = len(stamp.missing_items) + len(stamp.unconfirmed_items)
    incomplete = (
        f" It was frozen with {opened} item{'s' if opened > 1 else ''} open; the document lists "
        f"{'them' if opened > 1 else 'it'}."
        if opened
        else ""
    )
    return (
        f"Plan frozen at {stamp.frozen_at} (UTC), {stamp.content_hash}; "
        f"{document.prereg.completeness.sentence()}.{incomplete} Analyses run from now on are checked against it.",
        "note",
    )


def _missing(conversation: Any) -> str:
    if conversation.prereg.frozen is not None:
        return "The plan is frozen: nothing more can be answered."
    items = open_items(conversation)
    if not items:
        return "Every item of the pre-registration is answered. /prereg freeze freezes it."
    lines = [f"Still open ({len(items)}):"]
    for item in items:
        lines.append(f"- {item.label} [{item.key}] ({item.status}): {item.question}")
        if item.so_far:
            lines.append("  So far: " + " ".join(item.so_far.split()))
        lines.append(f"  Answer: {item.how}")
    return "\n".join(lines)


def _how_to_answer(conversation: Any) -> str:
    items = open_items(conversation)
    if not items:
        return ""
    keys = ", ".join(item.key for item in items)
    return (
        f"\n## How to answer the open items\n\nType {ANSWER_USAGE} (items: {keys}); /prereg missing lists their "
        "questions. /prereg freeze asks before freezing a plan with open items.\n"
    )


def _answer(conversation: Any, rest: str) -> tuple[str, str]:
    match = re.match(r"\s*([^\s:=]+)\s*[:=]?\s*(.*)\Z", rest, re.DOTALL)
    if match is None:
        return f"Usage: {ANSWER_USAGE}. /prereg missing lists the open items.", "error"
    key, text = match.groups()
    try:
        item = record_answer(conversation, key, text)
    except ToolError as error:
        return f"{error.message} {error.hint}", "error"
    remaining = open_items(conversation)
    after = (
        f"{len(remaining)} item{'s' if len(remaining) != 1 else ''} still open: "
        + ", ".join(i.key for i in remaining)
        + ". /prereg missing shows their questions."
        if remaining
        else "Every item is answered: /prereg freeze freezes the plan."
    )
    return f"Recorded for '{item.label}' ({item.status}). {after}", "note"
