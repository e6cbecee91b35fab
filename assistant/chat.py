"""``whyscope chat``: the conversation engine on plain stdin/stdout, for scripts and dumb terminals.

Reads one user message per line, streams the assistant's text, prints a line per tool call, and exits at the
end of input. Sessions are saved as they go; ``--resume`` continues the last one.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from assistant.agent.backends import Backend, OpenAIBackend, OpenAISettings
from assistant.agent.conversation import (
    BriefUpdated,
    Conversation,
    Done,
    Event,
    Failed,
    Notice,
    TextDelta,
    ToolFinished,
    ToolStarted,
)
from assistant.agent.guided import GuidedBackend
from assistant.agent.session import SessionStore, latest_session, load_session
from assistant.config import Settings, redact

__all__ = ["run_chat"]

MAX_LINE = 20_000


def run_chat(settings: Settings, data: Sequence[str], resume: bool, stdin: TextIO, stdout: TextIO) -> int:
    def say(text: str) -> None:
        stdout.write(redact(text))
        stdout.flush()

    for warning in settings.warnings:
        say(f"[note] {warning}\n")
    catalog = None
    if data:
        from tools.data import Catalog, parse_data_argument
        from tools.errors import ToolError

        catalog = Catalog()
        for item in data:
            name, file_path = parse_data_argument(item)
            try:
                dataset = catalog.add(file_path, name)
            except ToolError as error:
                say(f"[error] {error.message} {error.hint}\n")
                continue
            say(f"[data] {dataset.name}: {dataset.n_rows:,} rows, columns {', '.join(dataset.columns)}\n")

    messages: list[dict[str, object]] = []
    store = None
    brief = None
    if resume:
        path = latest_session()
        if path is None:
            say("[note] No earlier session to resume; starting a new one.\n")
        else:
            loaded = load_session(path)
            messages, brief = loaded.messages, loaded.brief
            for warning in loaded.warnings:
                say(f"[note] {warning}\n")
            store = SessionStore(path)
            say(f"[session] resumed {path.name} ({len(messages)} messages)\n")
    store = store or SessionStore(model="guided" if settings.guided else settings.model)

    backend: Backend
    if settings.guided:
        guided = GuidedBackend(brief=brief) if brief is not None else GuidedBackend()
        backend = guided
        say("[mode] guided mode — no LLM (set OPENAI_API_KEY, or --base-url for a local server such as Ollama)\n")
    else:
        assert settings.api_key is not None
        backend = OpenAIBackend(
            OpenAISettings(
                model=settings.model,
                api_key=settings.api_key,
                base_url=settings.base_url,
                timeout=settings.timeout,
                strict_tools=settings.strict_tools,
                parallel_tool_calls=settings.parallel_tool_calls,
            )
        )
        say(f"[mode] {settings.model} at {settings.base_url}\n")
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
    say(f"[session] saved to {store.path}\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - exercised through assistant.cli
    from assistant.config import load_settings

    return run_chat(load_settings(), [], False, sys.stdin, sys.stdout)
