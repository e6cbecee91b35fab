"""What the conversation keeps of the tool calls a model sends, before any of them runs.

Everything in a call is untrusted and is written into the history that every later request (and a resumed
session) sends back, so three things are settled on receipt, once:

- **ids are unique** in the session's history: a server (or a second process) that reuses ``call_1_0`` would
  otherwise leave two calls with one answer; a reused, empty or odd id is renamed, and the new id is the one
  answered;
- **refused arguments are not kept**: text longer than the registry accepts, not JSON, nested too deeply, or not an
  object is replaced in the history by ``{}`` (the answer quotes its start, so the model can repair it), so a
  1 MB argument costs one request, not every later one;
- **a message runs at most** :data:`MAX_CALLS_PER_MESSAGE` **calls**: the rest are answered with an error that
  says the cap (their arguments not kept either), so the history stays valid.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assistant.agent.stream import ToolCallDraft
from tools.errors import ToolError
from tools.jsontext import JsonTextError, loads
from tools.registry import MAX_ARGUMENT_CHARS

__all__ = ["MAX_CALLS_PER_MESSAGE", "PLACEHOLDER", "ReceivedCall", "receive", "used_ids"]

#: The most tool calls run from one assistant message (parallel calls); the rest are answered, not run.
MAX_CALLS_PER_MESSAGE = 8
#: What the history keeps instead of arguments that were refused before running.
PLACEHOLDER = "{}"
#: Ids and names servers accept back in a history (OpenAI's function-name rule; ids are looser but short).
_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_QUOTE = 120


@dataclass(frozen=True)
class ReceivedCall:
    """A call as the history keeps it: a unique ``id``, a safe ``name``, the ``arguments`` to keep and run, and
    ``refused`` — the error to answer with, without running anything — when it must not run."""

    id: str
    name: str
    arguments: str
    refused: ToolError | None = None

    def message(self) -> dict[str, Any]:
        """The call as an assistant message holds it."""
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


def used_ids(messages: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every tool-call id already in a history (calls and answers; malformed entries are passed over)."""
    ids: set[str] = set()
    for message in messages:
        if isinstance(answered := message.get("tool_call_id"), str):
            ids.add(answered)
        calls = message.get("tool_calls")
        for call in calls if isinstance(calls, list) else []:
            if isinstance(call, Mapping) and isinstance(call.get("id"), str):
                ids.add(call["id"])
    return ids


def receive(drafts: Sequence[ToolCallDraft], used: set[str]) -> list[ReceivedCall]:
    """The calls of one assistant message as the history keeps them; ``used`` (the ids in the history so far) is
    extended with the ids given out."""
    received = []
    for position, draft in enumerate(drafts):
        call_id = draft.id if _ID.fullmatch(draft.id) and draft.id not in used else _fresh_id(used)
        used.add(call_id)
        name, refused = _name(draft.name)
        arguments = draft.arguments
        if refused is None and position >= MAX_CALLS_PER_MESSAGE:
            refused = ToolError(
                "too_many_calls",
                f"Not run: at most {MAX_CALLS_PER_MESSAGE} tool calls run per message, and this message had "
                f"{len(drafts)}; this was call {position + 1}.",
                f"The first {MAX_CALLS_PER_MESSAGE} ran; send the others in a later message, a few at a time.",
            )
        elif refused is None:
            arguments, refused = _arguments(name, arguments)
        received.append(ReceivedCall(call_id, name, PLACEHOLDER if refused else arguments, refused))
    return received


def _fresh_id(used: set[str]) -> str:
    while (candidate := f"call_{secrets.token_hex(6)}") in used:
        continue  # pragma: no cover - 48 random bits
    return candidate


def _name(name: str) -> tuple[str, ToolError | None]:
    """A name the history can keep, and the error when it is no tool's name at all (too long, odd characters)."""
    if _NAME.fullmatch(name):
        return name, None
    shown = _quote(name) if name else "(no name)"
    return "invalid_tool_name", ToolError(
        "unknown_tool",
        f"There is no tool named {shown}.",
        "Call one of the tools offered in this request, by its exact name.",
    )


def _arguments(name: str, text: str) -> tuple[str, ToolError | None]:
    """The arguments to keep (empty becomes ``{}``), or the error when they are refused before any run."""
    try:
        value = loads(text or PLACEHOLDER, max_chars=MAX_ARGUMENT_CHARS)
    except JsonTextError as exc:
        reason = str(exc)
    else:
        if isinstance(value, dict):
            return text or PLACEHOLDER, None
        reason = f"a JSON {type(value).__name__}, not an object"
    return PLACEHOLDER, ToolError(
        "invalid_json",
        f"The arguments for '{name}' were refused ({reason}) and nothing ran; they are not kept in the "
        f"conversation. They began: {_quote(text)}.",
        'Send one complete JSON object of the tool\'s fields, e.g. {"field": value}.',
    )


def _quote(text: str) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= _QUOTE else flat[: _QUOTE - 1] + "…")
