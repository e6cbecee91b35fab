"""``whyscope chat``: the conversation engine on plain stdin/stdout, for scripts and dumb terminals.

Reads one user message per line, streams the assistant's text, prints a line per tool call, and exits at the
end of input. Sessions are saved as they go; ``--resume`` continues the last one.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from assistant.config import Settings, redact
from assistant.launch import GUIDED_HINT, prepare

__all__ = ["run_chat"]

MAX_LINE = 20_000


def run_chat(settings: Settings, data: Sequence[str], resume: bool, stdin: TextIO, stdout: TextIO) -> int:
    def say(text: str) -> None:
        stdout.write(redact(text))
        stdout.flush()

    launch = prepare(settings, data, resume, lambda line: say(line + "\n"), with_example=True)
    backend, store, brief = launch.backend, launch.store, launch.brief
    if isinstance(backend, GuidedBackend):
        say(f"[mode] {GUIDED_HINT}\n")
    else:
        say(f"[mode] {settings.model} at {settings.base_url}\n")
    catalog, messages = launch.catalog, launch.messages
    conversation = Conversation(backend, catalog=catalog, messages=messages, store=store)
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

    for raw in stdin:
        line = raw.rstrip("\n")
        if not line.strip():
            continue
        if len(line) > MAX_LINE:
            say(f"[error] That message is {len(line):,} characters; the limit is {MAX_LINE:,}. Nothing was sent.\n")
            continue
        say(f"> {line}\n")
        conversation.send(line, emit)
    if store is not None:
        say(f"[session] saved to {store.path}\n")
    return 0
