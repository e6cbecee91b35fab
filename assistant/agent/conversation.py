"""The tool-calling loop: user message → backend → tool calls validated and run → results back → … → answer.

Bounded (rounds, repeated calls, malformed-argument repairs, tool-output size), and it never loses the
conversation: every failure becomes an event and a message, and the history stays consistent (every tool call
the model made is answered). Events go to a callback so a UI thread can stream them.

A registered tool runs through :func:`assistant.agent.runner.run_tool` whoever asked: the model, or the user with a
slash command (:meth:`Conversation.run_tool`), so the plan check, the pre-registration, provenance and the session
record are the same either way. The typed runs are kept in :attr:`Conversation.runs`.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

import prompts
from assistant.agent.backends import AssistantTurn, Backend, BackendError, Message
from assistant.agent.brief import Brief, UpdateBriefRequest, apply_update
from assistant.agent.events import (
    BriefUpdated,
    Done,
    Event,
    Failed,
    Notice,
    TextDelta,
    ToolFinished,
    ToolProgress,
    ToolStarted,
)
from assistant.agent.provenance import unverified_numbers
from assistant.agent.runner import ToolRun, run_tool
from assistant.agent.session import SessionStore, load_prereg, load_runs
from assistant.prereg.tool import PreregState
from tools.errors import ToolError
from tools.registry import get_tool

__all__ = [
    "BriefUpdated",
    "Conversation",
    "Done",
    "Event",
    "Failed",
    "Notice",
    "TextDelta",
    "ToolFinished",
    "ToolProgress",
    "ToolRun",
    "ToolStarted",
]

MAX_ROUNDS = 6
MAX_REPEATS = 3
MAX_REPAIRS = 2


class Cancelled(Exception):
    """The user cancelled the turn."""


@dataclass
class Conversation:
    """One conversation: its messages, brief, tool results and the loop that advances it."""

    backend: Backend
    catalog: Any = None  # tools.data.Catalog; Any keeps pandas out of this module's imports
    tools: list[dict[str, Any]] = field(default_factory=list)
    max_rounds: int = MAX_ROUNDS
    messages: list[Message] = field(default_factory=list)
    brief: Brief = field(default_factory=Brief)
    sources: list[Any] = field(default_factory=list)  # tool results and user texts, for provenance
    cancel: threading.Event = field(default_factory=threading.Event)
    store: SessionStore | None = None
    prereg: PreregState = field(default_factory=PreregState)
    #: Every run of a registered tool, typed, in order (restored from the session file on resume).
    runs: list[ToolRun] = field(default_factory=list)
    _schemas: dict[str, dict[str, Any]] = field(default_factory=dict, init=False, repr=False)
    #: One turn or one slash-command run at a time: the history must stay a valid sequence of calls and answers.
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.store is not None and (restored := load_prereg(self.store.path)) is not None:
            self.prereg = restored  # a resumed session keeps its plan (and the frozen plan its hash)
        # the current system prompt always leads (a resumed session keeps its turns, not an old prompt)
        self.messages[:] = [m for m in self.messages if m.get("role") != "system"]
        self.messages.insert(0, {"role": "system", "content": system_prompt()})
        answered = {m.get("tool_call_id") for m in self.messages if m.get("role") == "tool"}
        if self.store is not None and not self.runs and answered:
            self.runs = [run for run in load_runs(self.store.path) if run.call_id in answered]
        for message in self.messages:
            if message.get("role") == "user":
                self.sources.append(message.get("content") or "")
        for run in self.runs:  # a resumed session's results still back the numbers quoted from them
            if run.ok:
                self.sources.append(run.outcome)
            if run.plan_check is not None:
                self.sources.append(run.plan_check)
        if callable(bind := getattr(self.backend, "bind", None)):
            bind(self)  # the guided mode reads this conversation's brief instead of keeping a copy

    def send(self, text: str, emit: Callable[[Event], None]) -> Done:
        """Advance the conversation by one user message; every step is reported through ``emit``."""
        with self._lock:
            return self._send(text, emit)

    def run_tool(
        self, name: str, arguments: str | Mapping[str, Any], emit: Callable[[Event], None], *, command: str = ""
    ) -> ToolRun | None:
        """Run a registered tool at the user's request (the app's ``/power`` and ``/run``), exactly as a call from
        the model runs: the plan check, the pre-registration, provenance and the session record are the same.

        The history records it as the user's ``command`` (when given), an assistant message holding the call and
        the tool's answer, so the model sees the result on its next turn and a resumed session replays it.
        Returns None (after a :class:`ToolFinished` with the error) when ``name`` is not a registered tool:
        nothing ran, so nothing is recorded."""
        text = arguments if isinstance(arguments, str) else json.dumps(dict(arguments), ensure_ascii=False)
        call_id = f"user_{secrets.token_hex(6)}"
        try:
            get_tool(name)
        except ToolError as error:
            emit(ToolStarted(call_id, name, text))
            emit(ToolFinished(call_id, name, error))
            return None
        with self._lock:
            self.cancel.clear()
            if command:
                self._append({"role": "user", "content": command})
                self.sources.append(command)
            call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}
            self._append({"role": "assistant", "content": None, "tool_calls": [call]})
            emit(ToolStarted(call_id, name, text))
            run = run_tool(self, call_id, name, text, emit, cancel=self.cancel)
            self._append({"role": "tool", "tool_call_id": call_id, "content": run.for_model()})
            return run

    def _send(self, text: str, emit: Callable[[Event], None]) -> Done:
        self.cancel.clear()
        self._append({"role": "user", "content": text})
        self.sources.append(text)
        seen: dict[str, int] = {}
        repairs = 0
        for round_number in range(self.max_rounds + 1):
            final_round = round_number == self.max_rounds
            if final_round:
                emit(Notice(f"Stopped after {self.max_rounds} rounds of tool calls; asking for a summary."))
            try:
                turn = self._call(emit, tools=[] if final_round else self._offered_tools())
            except Cancelled:
                return self._finish(emit, "", complete=False, note="Cancelled.")
            except BackendError as error:
                emit(Failed(error.kind, error.message, error.hint))
                return self._finish(emit, "", complete=False)
            except Exception as exc:  # a bug must not take the conversation with it
                emit(
                    Failed(
                        "internal_error",
                        f"The model call failed unexpectedly ({type(exc).__name__}).",
                        "This is a bug in whyscope; the conversation is kept, send the message again.",
                    )
                )
                return self._finish(emit, "", complete=False)
            if turn.refusal or turn.finish_reason == "content_filter":
                message = turn.refusal or "The model's provider filtered this response."
                emit(Notice(message))
                self._append({"role": "assistant", "content": turn.text or message})
                return self._finish(emit, turn.text, complete=False)
            if not turn.tool_calls:
                self._append({"role": "assistant", "content": turn.text})
                return self._finish(emit, turn.text, complete=turn.finish_reason != "length")
            if turn.finish_reason == "length":
                # cut mid-arguments: never run a half-written call
                self._append({"role": "assistant", "content": turn.text})
                emit(
                    Failed(
                        "truncated",
                        "The model's answer was cut off mid tool call, so nothing was run.",
                        "Ask again, perhaps more narrowly.",
                    )
                )
                return self._finish(emit, turn.text, complete=False)
            self._record_calls(turn)
            for call in turn.tool_calls:
                key = f"{call.name}\x00{call.arguments}"
                seen[key] = seen.get(key, 0) + 1
                content, invalid_json = self._run(call.id, call.name, call.arguments, seen[key], emit)
                repairs += invalid_json
                self._append({"role": "tool", "tool_call_id": call.id, "content": content})
            if repairs > MAX_REPAIRS:
                emit(
                    Failed(
                        "malformed_tool_calls",
                        "The model kept sending malformed tool arguments.",
                        "Rephrase the request, or run the tool directly with /run.",
                    )
                )
                return self._finish(emit, turn.text, complete=False)
        raise AssertionError("unreachable")  # pragma: no cover - the final round has no tools

    # -- one model call ------------------------------------------------------------------------------------

    def _offered_tools(self) -> list[dict[str, Any]]:
        """The schemas for this request: ``tools`` when given (tests), else the scoping tools and the design
        tools the conversation has reached (see :mod:`assistant.agent.toolsets`). Built on first use: the
        schemas need openai, which start-up does not."""
        if self.tools:
            return self.tools
        from assistant.agent.toolsets import offered
        from assistant.schemas import tool_schema, update_brief_schema, write_prereg_schema
        from tools.registry import tool_names

        if not self._schemas:
            self._schemas = {"update_brief": update_brief_schema(), "write_prereg": write_prereg_schema()}
        names = offered(self.messages, tool_names(), self.runs)
        for name in names:
            if name not in self._schemas:
                self._schemas[name] = tool_schema(name)
        return [*(self._schemas[name] for name in names), self._schemas["update_brief"], self._schemas["write_prereg"]]

    def _call(self, emit: Callable[[Event], None], tools: list[dict[str, Any]]) -> AssistantTurn:
        def on_text(text: str) -> None:
            if self.cancel.is_set():
                raise Cancelled
            emit(TextDelta(text))

        if self.cancel.is_set():
            raise Cancelled
        return self.backend.complete(self.messages, tools, on_text)

    def _append(self, message: Message) -> None:
        self.messages.append(message)
        if self.store is not None:
            self.store.message(message)

    def _record_calls(self, turn: AssistantTurn) -> None:
        self._append(
            {
                "role": "assistant",
                "content": turn.text or None,
                "tool_calls": [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                    for c in turn.tool_calls
                ],
            }
        )

    # -- one tool call -------------------------------------------------------------------------------------

    def _run(
        self, call_id: str, name: str, arguments: str, repeat: int, emit: Callable[[Event], None]
    ) -> tuple[str, int]:
        """Run a tool call; returns the content for the model and 1 if the arguments were not valid JSON."""
        emit(ToolStarted(call_id, name, arguments))
        if repeat > MAX_REPEATS:
            error = ToolError(
                "repeated_call",
                f"'{name}' was already called with these arguments {repeat - 1} times in this turn.",
                "Use the result you have and answer the user.",
            )
            emit(ToolFinished(call_id, name, error))
            return json.dumps(error.to_dict()), 0
        if name == "update_brief":
            return self._update_brief(call_id, arguments, emit)
        if name == "write_prereg":
            return self._write_prereg(call_id, arguments, emit)
        run = run_tool(self, call_id, name, arguments, emit, cancel=self.cancel)
        invalid_json = isinstance(run.outcome, ToolError) and run.outcome.code == "invalid_json"
        return run.for_model(), int(invalid_json)

    def _write_prereg(self, call_id: str, arguments: str, emit: Callable[[Event], None]) -> tuple[str, int]:
        try:
            result = self.prereg.write(self.brief, arguments, self.catalog)
        except ToolError as error:
            emit(ToolFinished(call_id, "write_prereg", error))
            return json.dumps(error.to_dict()), int(error.code == "invalid_json")
        if self.store is not None:
            self.store.prereg(self.prereg)
        emit(ToolFinished(call_id, "write_prereg", result))
        return json.dumps(result, ensure_ascii=False), 0

    def _update_brief(self, call_id: str, arguments: str, emit: Callable[[Event], None]) -> tuple[str, int]:
        try:
            update = UpdateBriefRequest.model_validate_json(arguments or "{}")
        except ValidationError as exc:
            invalid_json = any(e["type"] == "json_invalid" for e in exc.errors())
            error = ToolError(
                "invalid_json" if invalid_json else "invalid_arguments",
                "Invalid update_brief arguments: "
                + "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()),
                "Send slot, value and status (and guardrails only for the outcome slot).",
            )
            emit(ToolFinished(call_id, "update_brief", error))
            return json.dumps(error.to_dict()), int(invalid_json)
        self.brief = apply_update(self.brief, update)
        if self.store is not None:
            self.store.brief(self.brief)
        emit(BriefUpdated(self.brief))
        result = {"updated": update.slot, "still_to_confirm": self.brief.missing()}
        emit(ToolFinished(call_id, "update_brief", result))
        return json.dumps(result), 0

    def _finish(self, emit: Callable[[Event], None], text: str, *, complete: bool, note: str = "") -> Done:
        if note:
            emit(Notice(note))
        flagged = tuple(m.text.strip() for m in unverified_numbers(text, self.sources))
        done = Done(text=text, unverified=flagged, complete=complete)
        emit(done)
        return done


def system_prompt() -> str:
    """The system message: who whyscope is, how to scope, how to choose and run a method."""
    return "\n\n".join(prompts.load(name).strip() for name in ("system", "scoping_guide", "method_guide"))
