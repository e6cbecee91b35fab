"""A session's messages read back safely: each one checked to be a message whyscope writes, and the history
repaired so that it is one Chat Completions accepts.

A session file can be damaged in ways a reader must survive: a line killed mid-write, a line edited by hand, two
processes that once wrote the same file, a tool-result line lost. A message that is not one whyscope writes is
dropped (and counted as a damaged line); a tool call without its ``function`` is dropped from its message. Then
every assistant tool call must be answered by the tool messages right after it, and every tool message must answer
a call just before it: servers that check this (as OpenAI does) answer every later request with HTTP 400 otherwise.
A call whose answer was lost gets a synthetic answer saying so (the model sees the call happened and can ask
again); an answer whose call is gone is dropped; a turn the log ends inside (a crash mid-turn) is dropped whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tools.errors import ToolError

__all__ = ["LOST_RESULT", "Repair", "clean_message", "repair_tool_pairs"]

#: The answer given to a tool call whose result line was lost from the session file.
LOST_RESULT = ToolError(
    "result_lost",
    "This tool call's result was lost from the session file.",
    "Run the tool again if its result is still needed.",
)


def clean_message(value: Any) -> tuple[dict[str, Any] | None, bool]:
    """The message as whyscope writes it (only the fields it writes) and whether anything in it was damaged.

    Returns ``(None, True)`` for a value that is not a message at all; ``(message, True)`` when some of an
    assistant message's tool calls were malformed and dropped (the rest kept)."""
    if not isinstance(value, dict):
        return None, True
    role, content = value.get("role"), value.get("content")
    if role in ("system", "user"):
        return ({"role": role, "content": content}, False) if isinstance(content, str) else (None, True)
    if role == "tool":
        call_id = value.get("tool_call_id")
        if isinstance(call_id, str) and call_id and isinstance(content, str):
            return {"role": "tool", "tool_call_id": call_id, "content": content}, False
        return None, True
    if role != "assistant" or not (content is None or isinstance(content, str)):
        return None, True
    raw = value.get("tool_calls") or []
    if not isinstance(raw, list):
        return None, True
    calls: list[dict[str, Any]] = []
    for item in raw:
        call = _clean_call(item)
        if call is not None and all(call["id"] != kept["id"] for kept in calls):
            calls.append(call)
    damaged = len(calls) < len(raw)
    if calls:
        return {"role": "assistant", "content": content, "tool_calls": calls}, damaged
    if content is None:  # neither text nor a usable call: nothing to keep
        return None, True
    return {"role": "assistant", "content": content}, damaged


def _clean_call(value: Any) -> dict[str, Any] | None:
    """A tool call with a string id, name and arguments, or None."""
    if not isinstance(value, dict):
        return None
    function = value.get("function")
    call_id = value.get("id")
    if not (isinstance(call_id, str) and call_id and isinstance(function, dict)):
        return None
    name, arguments = function.get("name"), function.get("arguments")
    if not (isinstance(name, str) and name and isinstance(arguments, str)):
        return None
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


@dataclass
class Repair:
    """What :func:`repair_tool_pairs` changed, for the notice the user sees."""

    lost: int = 0  # calls answered as lost
    orphans: int = 0  # answers dropped: no call right before them, or a second answer to one call
    interrupted: bool = False  # the log ended inside a tool turn, which was dropped
    notes: list[str] = field(default_factory=list)


def repair_tool_pairs(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Repair]:
    """The history with every assistant tool call answered right after it, in call order, and no other tool
    message; ``messages`` must hold cleaned messages (:func:`clean_message`)."""
    repaired: list[dict[str, Any]] = []
    repair = Repair()
    index = 0
    while index < len(messages):
        message = messages[index]
        index += 1
        if message["role"] == "tool":  # an answer with no call right before it
            repair.orphans += 1
            continue
        calls = message.get("tool_calls") or []
        if not calls:
            repaired.append(message)
            continue
        wanted = {call["id"] for call in calls}
        answers: dict[str, dict[str, Any]] = {}
        while index < len(messages) and messages[index]["role"] == "tool":
            answer = messages[index]
            index += 1
            if answer["tool_call_id"] in wanted and answer["tool_call_id"] not in answers:
                answers[answer["tool_call_id"]] = answer
            else:
                repair.orphans += 1
        if len(answers) < len(wanted) and index == len(messages):
            repair.interrupted = True  # killed mid-turn: the whole turn goes, the question stays
            break
        repaired.append(message)
        for call in calls:
            if call["id"] not in answers:
                repair.lost += 1
                lost = json.dumps(LOST_RESULT.to_dict())
                answers[call["id"]] = {"role": "tool", "tool_call_id": call["id"], "content": lost}
            repaired.append(answers[call["id"]])
    if repair.interrupted:
        repair.notes.append("The last tool turn was interrupted and was dropped; ask again to rerun it.")
    if repair.lost:
        repair.notes.append(
            f"{_count(repair.lost, 'tool call')} had lost {'its' if repair.lost == 1 else 'their'} result; "
            "the model is told so and can run it again."
        )
    if repair.orphans:
        repair.notes.append(
            f"{_count(repair.orphans, 'tool answer')} without a matching call "
            f"{'was' if repair.orphans == 1 else 'were'} dropped."
        )
    return repaired, repair


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
