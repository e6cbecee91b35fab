"""The app's ``/prereg [PATH | freeze]`` command, kept out of the app class (which stays thin).

``/prereg`` shows the current document (the frozen plan, or the draft); ``/prereg freeze`` freezes the draft (the
user's own decision, so an incomplete plan may be frozen: the document states its completeness); ``/prereg PATH``
writes the document to a new file (format from the extension: .md, .html or .json), never over an existing one.
"""

from __future__ import annotations

from typing import Any

from assistant.prereg.files import format_for, write_new
from assistant.prereg.render import render
from tools.errors import ToolError

__all__ = ["USAGE", "prereg_command"]

USAGE = "/prereg [PATH | freeze]  show the pre-registration, freeze it, or write it to PATH (.md, .html, .json)"


def prereg_command(conversation: Any, argument: str) -> tuple[str, str]:
    """Run ``/prereg ARGUMENT`` on a conversation; returns (text to show, "note" or "error")."""
    state, brief = conversation.prereg, conversation.brief
    argument = argument.strip()
    if argument == "freeze":
        if state.frozen is not None:
            stamp = state.frozen.freeze
            return f"The plan is already frozen ({stamp.frozen_at}, {stamp.content_hash}).", "note"
        document = state.freeze(brief, conversation.catalog)
        if conversation.store is not None:
            conversation.store.prereg(state)
        stamp = document.freeze
        assert stamp is not None
        return (
            f"Plan frozen at {stamp.frozen_at} (UTC), {stamp.content_hash}; "
            f"{document.prereg.completeness.sentence()}. Analyses run from now on are checked against it.",
            "note",
        )
    document = state.document(brief)
    if not argument:
        return render(document, "md"), "note"
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
