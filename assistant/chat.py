"""``whyscope chat``: the conversation engine on plain stdin/stdout, for scripts and dumb terminals.

Reads one user message per line, streams the assistant's text, prints a line per tool call, and exits at the
end of input. Sessions are saved as they go; ``--resume`` continues the last one (refused, with the reason, while
another whyscope has it open). Everything printed passes one filter (:func:`assistant.config.printable`, then
:func:`assistant.config.redact`); Ctrl-C ends with one line, the session kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TextIO

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
from assistant.agent.session import SessionInUse
from assistant.config import Settings, display_url, printable, redact
from assistant.launch import GUIDED_HINT, Launch, prepare

__all__ = ["run_chat"]

MAX_LINE = 20_000
EXIT_REFUSED = 2
EXIT_INTERRUPTED = 130


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
        _converse(settings, launch, stdin, say)
    except KeyboardInterrupt:  # Ctrl-C mid-answer or mid-tool: the session is on disk up to the last line
        where = f" The session is saved in {store.path}; `whyscope chat --resume` continues it." if store else ""
        say(f"\n[stopped] Interrupted.{where}\n")
        return EXIT_INTERRUPTED
    finally:
        if store is not None:
            store.close()
    if store is not None:
        say(f"[session] saved to {store.path}\n")
    return 0


def _converse(settings: Settings, launch: Launch, stdin: TextIO, say: Callable[[str], None]) -> None:
    """The conversation on ``stdin``, one message per line, every event written through ``say``."""
    backend, store, brief = launch.backend, launch.store, launch.brief
    if isinstance(backend, GuidedBackend):
        say(f"[mode] {GUIDED_HINT}\n")
    else:
        say(f"[mode] {settings.model} at {display_url(settings.base_url)}\n")
    conversation = Conversation(backend, catalog=launch.catalog, messages=launch.messages, store=store)
    if brief is not None:
        conversation.brief = brief
    if isinstance(backend, GuidedBackend):
        say(backend.opening() + "\n")

    def emit(event: Event) -> None:
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

    try:
        for raw in stdin:
            line = raw.rstrip("\n")
            if not line.strip():
                continue
            if len(line) > MAX_LINE:
                say(f"[error] That message is {len(line):,} characters; the limit is {MAX_LINE:,}. Nothing was sent.\n")
                continue
            say(f"> {line}\n")
            conversation.send(line, emit)
    except KeyboardInterrupt:
        conversation.cancel.set()  # a tool still running in threads (refute) stops at its next step
        raise
