"""The tool-calling loop: user message → backend → tool calls validated and run → results back → … → answer.

Bounded (rounds, repeated calls, malformed-argument repairs, calls per message, tool-output size), and it never
loses the conversation: every failure becomes an event and a message, and the history stays valid for any server —
every tool call the model made is answered (also those of a final round a server answered with calls anyway, and
those of a turn interrupted mid-run), under an id unique in the session, and refused arguments are not kept (see
:mod:`assistant.agent.tool_calls`). An answer the server did not finish is kept, marked incomplete, and none of its
calls runs. A call to a tool this request did not offer is refused (the phase gate). Events go to a callback so a
UI thread can stream them.

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
from assistant.agent.backends import AssistantTurn, Backend, BackendError, Cancelled, Interruptible, Message
from assistant.agent.brief import SLOTS, Brief, UpdateBriefRequest, apply_update
from assistant.agent.claims import unsupported_claims
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
from assistant.agent.tool_calls import ReceivedCall, receive, used_ids
from assistant.prereg.tool import PreregState
from tools.errors import ToolError
from tools.registry import get_tool, tool_names

__all__ = [
    "BriefUpdated",
    "Cancelled",
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
#: How many attached datasets, and columns of each, the model is told about with each request (small-model mode:
#: fewer), so that it can name them in tool calls.
DATA_NOTE_SETS, DATA_NOTE_COLUMNS = 12, 40
DATA_NOTE_SETS_SMALL, DATA_NOTE_COLUMNS_SMALL = 4, 15
MAX_REPEATS = 3
MAX_REPAIRS = 2
#: The conversation-state tools, offered on every request but the final one (no registered tool spec).
STATE_TOOLS = ("update_brief", "write_prereg")
#: Words that bring write_prereg into a request before the brief has anything in it (matched as tool mentions are).
PREREG_MENTIONS = ("pre-regist", "prereg", "analysis plan")
#: Appended to an answer kept although the server did not finish it (the model and a resumed session see it).
INCOMPLETE_MARK = "[incomplete answer: {reason}]"


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
    #: Small-model mode, for a model with a short context: a short system prompt and fewer tools per request (see
    #: :func:`system_prompt` and :mod:`assistant.agent.toolsets`); ``write_prereg`` once the brief is confirmed.
    small_model: bool = False
    _schemas: dict[str, dict[str, Any]] = field(default_factory=dict, init=False, repr=False)
    #: One turn or one slash-command run at a time: the history must stay a valid sequence of calls and answers.
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.store is not None and (restored := load_prereg(self.store.path)) is not None:
            self.prereg = restored  # a resumed session keeps its plan (and the frozen plan its hash)
        # the current system prompt always leads (a resumed session keeps its turns, not an old prompt)
        self.messages[:] = [m for m in self.messages if m.get("role") != "system"]
        self.messages.insert(0, {"role": "system", "content": system_prompt(small=self.small_model)})
        answered = {m.get("tool_call_id") for m in self.messages if m.get("role") == "tool"}
        if self.store is not None and not self.runs and answered:
            self.runs = [run for run in load_runs(self.store.path) if run.call_id in answered]
        for message in self.messages:
            if message.get("role") == "user":
                self.sources.append(message.get("content") or "")
        for run in self.runs:  # a resumed session's results (and tools' errors) back the numbers quoted from them
            self.sources.append(run.outcome)
            if run.plan_check is not None:
                self.sources.append(run.plan_check)
        if callable(bind := getattr(self.backend, "bind", None)):
            bind(self)  # the guided mode reads this conversation's brief instead of keeping a copy

    def send(self, text: str, emit: Callable[[Event], None]) -> Done:
        """Advance the conversation by one user message; every step is reported through ``emit``."""
        with self._lock:
            try:
                return self._send(text, emit)
            except BaseException:  # Ctrl-C in a tool run, or a bug: the history must still be valid for the next turn
                self._answer_open_calls()
                raise

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
            offered = [] if final_round else self._offered_tools()
            streamed: list[str] = []
            try:
                turn = self._call_within_context(emit, offered, streamed)
            except Cancelled:
                partial = "".join(streamed)
                self._keep_incomplete(partial, "cancelled by the user")
                return self._finish(emit, partial, complete=False, note="Cancelled.")
            except BackendError as error:
                emit(Failed(error.kind, error.message, error.hint))
                partial = "".join(streamed)
                self._keep_incomplete(partial, error.message)
                return self._finish(emit, partial, complete=False)
            except Exception as exc:  # a bug must not take the conversation with it
                emit(
                    Failed(
                        "internal_error",
                        f"The model call failed unexpectedly ({type(exc).__name__}).",
                        "This is a bug in whyscope; the conversation is kept, send the message again.",
                    )
                )
                partial = "".join(streamed)
                self._keep_incomplete(partial, "the model call failed")
                return self._finish(emit, partial, complete=False)
            if turn.refusal or turn.finish_reason == "content_filter":
                message = turn.refusal or "The model's provider filtered this response."
                emit(Notice(message))
                self._append({"role": "assistant", "content": turn.text or message})
                return self._finish(emit, turn.text, complete=False)
            if turn.incomplete or (turn.tool_calls and turn.finish_reason == "length"):
                return self._incomplete(emit, turn)
            if not turn.tool_calls:
                if not turn.text.strip():  # nothing to keep: an empty message would only confuse the next request
                    return self._finish(
                        emit, "", complete=False, note="The model sent an empty answer; send the message again."
                    )
                self._append({"role": "assistant", "content": turn.text})
                if turn.finish_reason == "length":
                    emit(Notice("The answer reached the model's length limit and stops there."))
                return self._finish(emit, turn.text, complete=turn.finish_reason != "length")
            calls = receive(turn.tool_calls, used_ids(self.messages))
            self._append(
                {"role": "assistant", "content": turn.text or None, "tool_calls": [c.message() for c in calls]}
            )
            if final_round:  # a server that ignores tools=[]: answer every call, run none, end the turn
                for call in calls:
                    content = self._refuse(call, emit, _round_limit(call.name, self.max_rounds))
                    self._append({"role": "tool", "tool_call_id": call.id, "content": content})
                emit(
                    Failed(
                        "round_limit",
                        f"The model still called tools after {self.max_rounds} rounds, so its last calls were "
                        "not run and the turn ends here.",
                        "Send a message to go on, or ask a narrower question.",
                    )
                )
                return self._finish(emit, turn.text, complete=False)
            names = {str(schema.get("function", {}).get("name")) for schema in offered}
            for call in calls:
                key = f"{call.name}\x00{call.arguments}"
                seen[key] = seen.get(key, 0) + 1
                content, invalid_json = self._run(call, names, seen[key], emit)
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
        raise AssertionError("unreachable")  # pragma: no cover - the final round always returns

    def _answer_open_calls(self) -> None:
        """Answer the calls of the last assistant message that have no answer yet (the turn was interrupted)."""
        for position in range(len(self.messages) - 1, -1, -1):
            message = self.messages[position]
            if message.get("role") == "assistant" and message.get("tool_calls"):
                answered = {m.get("tool_call_id") for m in self.messages[position + 1 :] if m.get("role") == "tool"}
                error = ToolError("interrupted", "Not run: the turn was interrupted.", "Ask again if it is needed.")
                calls = [c for c in message["tool_calls"] if isinstance(c, Mapping) and isinstance(c.get("id"), str)]
                for call_id in [c["id"] for c in calls if c["id"] not in answered]:
                    self._append({"role": "tool", "tool_call_id": call_id, "content": json.dumps(error.to_dict())})
                return
            if message.get("role") == "user":
                return

    def _incomplete(self, emit: Callable[[Event], None], turn: AssistantTurn) -> Done:
        """An answer the server did not finish (cut, stalled, or stopped at its length limit mid tool call): its
        text is kept, marked, and none of its tool calls runs — half-received arguments are never executed."""
        reason = turn.incomplete or "it reached the model's length limit"
        if turn.tool_calls:
            emit(
                Failed(
                    "truncated",
                    f"The model's answer was cut off mid tool call ({reason}), so nothing was run.",
                    "Ask again, perhaps more narrowly.",
                )
            )
        self._keep_incomplete(turn.text, reason)
        note = "" if turn.tool_calls else f"The answer is incomplete: {reason}. Send the message again for a full one."
        return self._finish(emit, turn.text, complete=False, note=note)

    def _keep_incomplete(self, text: str, reason: str) -> None:
        """Keep a partial answer in the history (and the session), marked as such for the model and on resume."""
        if text.strip():
            self._append({"role": "assistant", "content": f"{text}\n\n{INCOMPLETE_MARK.format(reason=reason)}"})

    # -- one model call ------------------------------------------------------------------------------------

    def _offered_tools(self) -> list[dict[str, Any]]:
        """The schemas for this request: ``tools`` when given (tests), else the scoping tools and the design
        tools the conversation has reached (see :mod:`assistant.agent.toolsets`). Built on first use: the
        schemas need openai, which start-up does not. ``write_prereg`` joins once there is something to register:
        a slot of the brief filled or a pre-registration mentioned (in small-model mode: the six slots confirmed),
        or a plan written already; so the first request stays short."""
        if self.tools:
            return self.tools
        from assistant.agent.toolsets import mentioned, offered, spoken
        from assistant.schemas import scoping_schema, update_brief_schema, write_prereg_schema
        from tools.registry import get_tool, tool_names

        if not self._schemas:
            self._schemas = {"update_brief": update_brief_schema(), "write_prereg": write_prereg_schema()}
        names = offered(self.messages, tool_names(), self.runs, small=self.small_model)
        keys = []
        for name in names:  # a tool's design-specific fields join with that design's tools (ToolSpec.later_fields)
            joined = [f for f, tools in get_tool(name).later_fields.items() if set(tools) & set(names)]
            key = "+".join([name, *joined])
            if key not in self._schemas:
                self._schemas[key] = scoping_schema(name, names)
            keys.append(key)
        schemas = [*(self._schemas[key] for key in keys), self._schemas["update_brief"]]
        drafted = self.prereg.frozen is not None or any(
            isinstance(call, Mapping) and (call.get("function") or {}).get("name") == "write_prereg"
            for message in self.messages
            for call in message.get("tool_calls") or ()
        )
        scoped = any(self.brief.slot(name).status != "missing" for name in SLOTS)
        spoken_of = not self.small_model and (scoped or mentioned(spoken(self.messages), PREREG_MENTIONS))
        if drafted or self.brief.complete or spoken_of:
            schemas.append(self._schemas["write_prereg"])
        return schemas

    def _call(self, emit: Callable[[Event], None], tools: list[dict[str, Any]], streamed: list[str]) -> AssistantTurn:
        """One model call; the text streamed so far is collected in ``streamed`` (kept if the call fails)."""

        def on_text(text: str) -> None:
            if self.cancel.is_set():
                raise Cancelled
            streamed.append(text)
            emit(TextDelta(text))

        def on_notice(message: str) -> None:
            emit(Notice(message))

        if self.cancel.is_set():
            raise Cancelled
        messages = self.messages
        if (note := self.data_note()) and messages and messages[0].get("role") == "system":
            # what is attached, for this request only (the history and the session file keep the prompt as it is):
            # one system message, as every chat template accepts
            messages = [{**messages[0], "content": f"{messages[0].get('content') or ''}\n\n{note}"}, *messages[1:]]
        if isinstance(self.backend, Interruptible):  # it may wait: it says so, and Esc ends the wait
            return self.backend.complete(messages, tools, on_text, on_notice=on_notice, cancel=self.cancel)
        return self.backend.complete(messages, tools, on_text)

    def data_note(self) -> str:
        """The attached datasets as the model reads them: each name (what a tool's ``dataset`` takes), its rows and
        its columns, names from the user's files marked as data (⟦ ⟧); capped, so a wide file or many files cannot
        crowd out the conversation. Empty without data. The row counts back the numbers quoted from it."""
        if self.catalog is None or not len(self.catalog):
            return ""
        from assistant.agent.condense import mark_data

        datasets = list(self.catalog)
        shown_sets = DATA_NOTE_SETS_SMALL if self.small_model else DATA_NOTE_SETS
        shown_columns = DATA_NOTE_COLUMNS_SMALL if self.small_model else DATA_NOTE_COLUMNS
        lines = ["Attached data (pass a name as a tool's `dataset`; names and columns come from the user's files):"]
        for dataset in datasets[:shown_sets]:
            columns = ", ".join(mark_data(str(c)) for c in dataset.columns[:shown_columns])
            more = (
                f", and {len(dataset.columns) - shown_columns:,} more" if len(dataset.columns) > shown_columns else ""
            )
            rows = f"{dataset.n_rows:,} row{'' if dataset.n_rows == 1 else 's'}"
            lines.append(f"- {mark_data(dataset.name)}: {rows}; columns {columns}{more}")
        if len(datasets) > shown_sets:
            lines.append(f"- and {len(datasets) - shown_sets:,} more datasets (the user can name them)")
        return "\n".join(lines)

    def _call_within_context(
        self, emit: Callable[[Event], None], tools: list[dict[str, Any]], streamed: list[str]
    ) -> AssistantTurn:
        """:meth:`_call`; when the history is longer than the model's context, the oldest whole turns (a tool call
        never without its answer) leave the request and it is sent once more. The session file keeps them."""
        try:
            return self._call(emit, tools, streamed)
        except BackendError as error:
            if error.kind != "context_length" or not (dropped := self._drop_oldest_turns()):
                raise
        emit(
            Notice(
                f"The conversation is longer than the model's context: the oldest {dropped} turn(s) are left out of "
                "what it reads from now on (the session file keeps them)."
            )
        )
        return self._call(emit, tools, streamed)

    def _drop_oldest_turns(self) -> int:
        """Drop the oldest whole turns (from a user message to the next) until half the turns' text is gone, never
        the system prompt nor the current turn; returns how many turns were dropped."""
        starts = [i for i, m in enumerate(self.messages) if m.get("role") == "user"]
        if len(starts) < 2:
            return 0
        size = [len(json.dumps(m, ensure_ascii=False, default=str)) for m in self.messages]
        goal, gone, dropped = sum(size[starts[0] :]) / 2, 0, 0
        while dropped < len(starts) - 1 and gone < goal:
            gone += sum(size[starts[dropped] : starts[dropped + 1]])
            dropped += 1
        self.messages[starts[0] : starts[dropped]] = []
        return dropped

    def _append(self, message: Message) -> None:
        self.messages.append(message)
        if self.store is not None:
            self.store.message(message)

    # -- one tool call -------------------------------------------------------------------------------------

    def _run(
        self, call: ReceivedCall, offered: set[str], repeat: int, emit: Callable[[Event], None]
    ) -> tuple[str, int]:
        """Run a tool call; returns the content for the model and 1 if the arguments were not valid JSON.

        A call this request did not offer is refused, nothing run (the phase gate): the first request offers the
        scoping tools only, and a design tool or refute joins when the conversation reaches it (see
        :mod:`assistant.agent.toolsets`), so a model cannot skip to refute before there is an analysis."""
        if call.refused is not None:
            return self._refuse(call, emit, call.refused), int(call.refused.code == "invalid_json")
        name, arguments = call.name, call.arguments
        if name not in offered and (name in STATE_TOOLS or name in tool_names()):
            return self._refuse(call, emit, _not_offered(name, offered)), 0
        emit(ToolStarted(call.id, name, arguments))
        if repeat > MAX_REPEATS:
            error = ToolError(
                "repeated_call",
                f"'{name}' was already called with these arguments {repeat - 1} times in this turn.",
                "Use the result you have and answer the user.",
            )
            emit(ToolFinished(call.id, name, error))
            return json.dumps(error.to_dict()), 0
        if name == "update_brief":
            return self._update_brief(call.id, arguments, emit)
        if name == "write_prereg":
            return self._write_prereg(call.id, arguments, emit)
        run = run_tool(self, call.id, name, arguments, emit, cancel=self.cancel)
        invalid_json = isinstance(run.outcome, ToolError) and run.outcome.code == "invalid_json"
        return run.for_model(), int(invalid_json)

    def _refuse(self, call: ReceivedCall, emit: Callable[[Event], None], error: ToolError) -> str:
        """Answer a call that does not run: the UI sees it start and fail; the model reads the error."""
        emit(ToolStarted(call.id, call.name, call.arguments))
        emit(ToolFinished(call.id, call.name, error))
        self.sources.append(error)
        return json.dumps(error.to_dict(), ensure_ascii=False)

    def _write_prereg(self, call_id: str, arguments: str, emit: Callable[[Event], None]) -> tuple[str, int]:
        try:
            result = self.prereg.write(self.brief, arguments, self.catalog, runs=self.runs)
        except ToolError as error:
            emit(ToolFinished(call_id, "write_prereg", error))
            self.sources.append(error)
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
            self.sources.append(error)
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
        sources = [*self.sources, note] if (note := self.data_note()) else self.sources  # "12,000 rows" is the data's
        flagged = tuple(m.text.strip() for m in unverified_numbers(text, sources))
        claims = tuple(unsupported_claims(text, sources))
        done = Done(text=text, unverified=flagged, complete=complete, claims=claims)
        emit(done)
        return done


def system_prompt(*, small: bool = False) -> str:
    """The system message: who whyscope is, how to scope, how to choose and run a method. ``small``: small-model
    mode's short prompt (under half the size: the six slots, one question at a time, every number from a
    tool), for a model whose context cannot hold the guides."""
    if small:
        return prompts.load("system_small").strip()
    return "\n\n".join(prompts.load(name).strip() for name in ("system", "scoping_guide", "method_guide"))


def _round_limit(name: str, rounds: int) -> ToolError:
    return ToolError(
        "round_limit",
        f"Not run: '{name}' was called after the limit of {rounds} rounds of tool calls for one message.",
        "Answer the user with the results you have.",
    )


def _not_offered(name: str, offered: set[str]) -> ToolError:
    available = ", ".join(sorted(offered)) or "none"
    if name == "write_prereg":  # (small-model mode offers it once the brief is complete)
        return ToolError(
            "not_offered",
            "'write_prereg' is not available yet: this request did not offer it, so nothing ran.",
            f"Confirm the six brief slots with update_brief first. Available now: {available}.",
        )
    return ToolError(
        "not_offered",
        f"'{name}' is not available yet: this request did not offer it, so nothing ran.",
        f"Pin down the design first (recommend_method proposes the tools that fit; refute needs an analysis to "
        f"challenge), then call it when it is offered. Available now: {available}.",
    )
