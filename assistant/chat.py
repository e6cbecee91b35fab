"""``whyscope chat``: the conversation engine on plain stdin/stdout, for scripts and dumb terminals.

Reads one user message per line, streams the assistant's text, prints a line per tool call, and exits at the
end of input. Sessions are saved as they go; ``--resume`` continues the last one (refused, with the reason, while
another whyscope has it open) and first recaps it: the brief, the results so far and the last exchanges.
Everything printed passes one filter (:func:`assistant.config.printable`, then :func:`assistant.config.redact`);
Ctrl-C ends with one line, the session kept.

Exit status (also in ``whyscope chat --help``): 0 when the input ended; 2 when the session to resume is open in
another whyscope; 3 when messages were sent and none got an answer because the model could not be reached (every
turn failed: wrong address, no server, a rejected key); 130 on Ctrl-C.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from assistant.agent.conversation import (
    BriefUpdated,
    Conversation,
    Done,
    Event,
    Failed,
    Notice,
    TextDelta,
    ToolFinished,
    ToolProgress,
    ToolStarted,
)
from assistant.agent.guided import GuidedBackend
from assistant.agent.runner import ToolRun
from assistant.agent.scoping import SLOTS
from assistant.agent.session import SessionInUse
from assistant.config import Settings, display_url, printable, redact
from assistant.launch import GUIDED_HINT, Launch, prepare

__all__ = ["EXIT_NO_ANSWER", "EXIT_REFUSED", "run_chat"]

MAX_LINE = 20_000
EXIT_REFUSED = 2
#: Messages were sent and not one got an answer: every turn failed before the model said anything.
EXIT_NO_ANSWER = 3
EXIT_INTERRUPTED = 130
#: How many of a resumed session's last user turns the recap shows (with what followed each), and how much of
#: each message.
RECAP_TURNS = 3
RECAP_CHARS = 600


@dataclass
class _Turns:
    """How the turns went: sent, answered (the model said or called something), failed before any answer."""

    sent: int = 0
    answered: int = 0
    failed: int = 0
    _heard: bool = False
    _failure: bool = False

    def start(self) -> None:
        self.sent += 1
        self._heard = self._failure = False

    def hear(self) -> None:
        self._heard = True

    def fail(self) -> None:
        self._failure = True

    def end(self, complete: bool) -> None:
        if self._heard or complete:
            self.answered += 1
        elif self._failure:
            self.failed += 1

    @property
    def none_answered(self) -> bool:
        """Messages were sent, none got an answer, and a failure (not an empty input) is why."""
        return self.sent > 0 and self.answered == 0 and self.failed > 0


def run_chat(
    settings: Settings,
    data: Sequence[str],
    resume: bool,
    stdin: TextIO,
    stdout: TextIO,
    *,
    encoding: str | None = None,
) -> int:
    """Converse until the end of input; 0 then, 2 when the session to resume is open elsewhere, 130 on Ctrl-C."""

    def say(text: str) -> None:
        # the one terminal sink: whatever the model, a tool or a data file put in the text, no escape sequence
        # reaches the terminal (no clipboard writes, hidden links, clear-screen) and no secret is shown
        stdout.write(redact(printable(text)))
        stdout.flush()

    try:
        launch = prepare(settings, data, resume, lambda line: say(line + "\n"), with_example=True, encoding=encoding)
    except SessionInUse as exc:
        say(f"[error] {exc}\n")
        return EXIT_REFUSED
    except KeyboardInterrupt:
        say("\n[stopped] Interrupted while starting; nothing was sent.\n")
        return EXIT_INTERRUPTED
    store = launch.store
    try:
        turns = _converse(settings, launch, stdin, say)
    except KeyboardInterrupt:  # Ctrl-C mid-answer or mid-tool: the session is on disk up to the last line
        where = f" The session is saved in {store.path}; `whyscope chat --resume` continues it." if store else ""
        say(f"\n[stopped] Interrupted.{where}\n")
        return EXIT_INTERRUPTED
    finally:
        if store is not None:
            store.close()
    if store is not None:
        say(f"[session] saved to {store.path}\n")
    if turns.none_answered:
        where = "the guided mode (--offline)" if settings.guided else display_url(settings.base_url)
        say(
            f"[error] None of the {turns.sent} message(s) got an answer: every turn failed to reach {where}. "
            f"Check the server, --base-url and OPENAI_API_KEY, or use --offline for the guided mode "
            f"(exit status {EXIT_NO_ANSWER}).\n"
        )
        return EXIT_NO_ANSWER
    return 0


def _converse(settings: Settings, launch: Launch, stdin: TextIO, say: Callable[[str], None]) -> _Turns:
    """The conversation on ``stdin``, one message per line, every event written through ``say``; how the turns
    went."""
    backend, store, brief = launch.backend, launch.store, launch.brief
    if isinstance(backend, GuidedBackend):
        say(f"[mode] {GUIDED_HINT}\n")
    else:
        say(f"[mode] {settings.model} at {display_url(settings.base_url)}\n")
    resumed = any(m.get("role") in ("user", "assistant") for m in launch.messages)
    conversation = Conversation(
        backend, catalog=launch.catalog, messages=launch.messages, store=store, small_model=launch.small_model
    )
    if brief is not None:
        conversation.brief = brief
    if resumed:
        for line in recap(conversation.messages, conversation.brief, conversation.runs):
            say(line + "\n")
    if isinstance(backend, GuidedBackend):
        say(backend.opening() + "\n")
    turns = _Turns()

    def emit(event: Event) -> None:
        if isinstance(event, TextDelta | ToolStarted):
            turns.hear()
        elif isinstance(event, Failed):
            turns.fail()
        elif isinstance(event, Done):
            turns.end(event.complete)
        if isinstance(event, TextDelta):
            say(event.text)
        elif isinstance(event, ToolStarted):
            say(f"\n[tool] {event.name} …\n")
        elif isinstance(event, ToolProgress):  # a long tool (refute): a line at each quarter
            if 0 < event.done < event.total and event.done * 4 // event.total > (event.done - 1) * 4 // event.total:
                say(f"[progress] {event.name} {event.done}/{event.total} {event.label}\n")
        elif isinstance(event, ToolFinished):
            if event.error is not None:
                say(f"[tool] {event.name} error: {event.error.get('message')} {event.error.get('hint', '')}\n")
            else:
                summary = (event.result or {}).get("summary")
                say(
                    f"[tool] {event.name} done"
                    + (f": {summary}" if summary and event.name != "update_brief" else "")
                    + "\n"
                )
        elif isinstance(event, BriefUpdated):
            missing = event.brief.missing()
            say(f"[brief] {len(missing)} slot(s) to confirm" + (f": {', '.join(missing)}" if missing else "") + "\n")
        elif isinstance(event, Notice):
            say(f"[note] {event.message}\n")
        elif isinstance(event, Failed):
            say(f"\n[error] {event.message} {event.hint}\n")
        elif isinstance(event, Done):
            say("\n")
            if event.unverified:
                say(f"[unverified numbers: {', '.join(event.unverified)}]\n")
            for claim in event.claims:
                say(f"[{claim.problem} claim: '{claim.text}' — {claim.reason}]\n")

    try:
        for raw in stdin:
            line = raw.rstrip("\n")
            if not line.strip():
                continue
            if len(line) > MAX_LINE:
                say(f"[error] That message is {len(line):,} characters; the limit is {MAX_LINE:,}. Nothing was sent.\n")
                continue
            say(f"> {line}\n")
            turns.start()
            conversation.send(line, emit)
    except KeyboardInterrupt:
        conversation.cancel.set()  # a tool still running in threads (refute) stops at its next step
        raise
    return turns


def recap(messages: Sequence[dict[str, Any]], brief: Any, runs: Sequence[ToolRun] = ()) -> list[str]:
    """Where a resumed session stopped, compactly: the brief, each result so far (its summary), and the last
    :data:`RECAP_TURNS` exchanges (``whyscope export`` prints the whole transcript)."""
    lines = ["[resumed] Where we stopped:", "[brief]"]
    for slot in SLOTS:
        value = getattr(brief, slot)
        guardrails = getattr(value, "guardrails", ()) if slot == "outcome" else ()
        extra = f"; guardrails: {', '.join(guardrails)}" if guardrails else ""
        lines.append(f"  {slot}: {value.value or '—'} ({value.status}{extra})")
    results = [run for run in runs if run.ok]
    for run in results:
        lines.append(f"[result] {run.name}: {_short(str(getattr(run.outcome, 'summary', '') or '(done)'))}")
    by_call = {run.call_id: run for run in runs}
    shown = [m for m in messages if m.get("role") in ("user", "assistant", "tool")]
    starts = [i for i, m in enumerate(shown) if m.get("role") == "user"]
    first = starts[-RECAP_TURNS] if len(starts) > RECAP_TURNS else 0
    if len(starts) > RECAP_TURNS:
        lines.append(
            f"[earlier] {len(starts) - RECAP_TURNS} earlier message(s) not shown: `whyscope export` prints all"
        )
    for message in shown[first:]:
        role = message.get("role")
        if role == "user":
            lines.append(f"> {_short(str(message.get('content') or ''))}")
        elif role == "assistant" and message.get("content"):
            lines.append(_short(str(message["content"])))
        elif role == "tool" and (answered := by_call.get(str(message.get("tool_call_id")))) is not None:
            outcome = answered.outcome
            said = getattr(outcome, "summary", None) if answered.ok else f"error: {getattr(outcome, 'message', '')}"
            lines.append(f"[tool] {answered.name}: {_short(str(said or '(done)'))}")
    lines.append("[resumed] Continue below.")
    return lines


def _short(text: str) -> str:
    text = text.strip()
    return text if len(text) <= RECAP_CHARS else text[: RECAP_CHARS - 1].rstrip() + "…"
