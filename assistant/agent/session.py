"""Sessions on disk: an append-only JSON Lines log per conversation, resumable, exportable to Markdown.

Every message and brief change is appended as it happens (a crash loses at most the line being written); a
truncated or corrupt last line is skipped on load; secrets are redacted before anything is written.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assistant.agent.brief import SLOTS, Brief
from assistant.config import data_dir, redact

__all__ = ["SESSION_VERSION", "LoadedSession", "SessionStore", "export_markdown", "latest_session"]

SESSION_VERSION = 1


def sessions_dir() -> Path:
    return data_dir() / "sessions"


def latest_session() -> Path | None:
    """The most recently written session file, if any."""
    folder = sessions_dir()
    files = sorted(folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    return files[-1] if files else None


class SessionStore:
    """Appends records to one session file."""

    def __init__(self, path: Path | None = None, *, model: str = "") -> None:
        if path is None:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            path = sessions_dir() / f"{stamp}-{secrets.token_hex(3)}.jsonl"
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists() or self.path.stat().st_size == 0:
            self.append(
                {"type": "meta", "version": SESSION_VERSION, "created": datetime.now(UTC).isoformat(), "model": model}
            )

    def append(self, record: dict[str, Any]) -> None:
        line = redact(json.dumps(record, ensure_ascii=False, default=str))
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()

    def message(self, message: dict[str, Any]) -> None:
        self.append({"type": "message", "message": message})

    def brief(self, brief: Brief) -> None:
        self.append({"type": "brief", "brief": brief.model_dump(mode="json")})


@dataclass
class LoadedSession:
    messages: list[dict[str, Any]] = field(default_factory=list)
    brief: Brief = field(default_factory=Brief)
    warnings: list[str] = field(default_factory=list)


def load_session(path: Path) -> LoadedSession:
    """Read a session back, skipping a damaged line and dropping a tool turn a crash left unanswered."""
    loaded = LoadedSession()
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            loaded.warnings.append(f"Line {number} of {path.name} is damaged and was skipped.")
            continue
        kind = record.get("type")
        if kind == "meta" and record.get("version", SESSION_VERSION) > SESSION_VERSION:
            raise ValueError(f"{path.name} was written by a newer whyscope (session version {record['version']}).")
        if kind == "message":
            loaded.messages.append(record["message"])
        elif kind == "brief":
            loaded.brief = Brief.model_validate(record["brief"])
    _drop_dangling_tool_turn(loaded)
    return loaded


def _drop_dangling_tool_turn(loaded: LoadedSession) -> None:
    """If the log ends inside a tool turn (calls without all their results), drop that turn."""
    for index in range(len(loaded.messages) - 1, -1, -1):
        message = loaded.messages[index]
        if message.get("role") == "assistant" and message.get("tool_calls"):
            wanted = {c["id"] for c in message["tool_calls"]}
            answered = {m.get("tool_call_id") for m in loaded.messages[index + 1 :] if m.get("role") == "tool"}
            if not wanted <= answered:
                del loaded.messages[index:]
                loaded.warnings.append("The last tool turn was interrupted and was dropped; ask again to rerun it.")
            return
        if message.get("role") == "user":
            return


def export_markdown(messages: list[dict[str, Any]], brief: Brief) -> str:
    """A readable transcript: the brief, then each message (tool results summarised by their summary)."""
    lines = ["# whyscope session", "", "## Brief", ""]
    for slot in SLOTS:
        value = brief.slot(slot)
        extra = (
            f" (guardrails: {', '.join(brief.outcome.guardrails)})"
            if slot == "outcome" and brief.outcome.guardrails
            else ""
        )
        lines.append(f"- **{slot}** [{value.status}]: {value.value or '—'}{extra}")
    lines += ["", "## Conversation", ""]
    for message in messages:
        role = message.get("role")
        if role == "system":
            continue
        if role == "tool":
            try:
                payload = json.loads(message.get("content") or "{}")
            except json.JSONDecodeError:
                payload = {}
            text = payload.get("summary") or (payload.get("error") or {}).get("message") or "(result)"
            lines += [f"> tool result: {text}", ""]
        elif role == "assistant" and message.get("tool_calls"):
            for call in message["tool_calls"]:
                lines += [f"*called `{call['function']['name']}`*", ""]
            if message.get("content"):
                lines += [f"**whyscope:** {message['content']}", ""]
        else:
            who = "You" if role == "user" else "whyscope"
            lines += [f"**{who}:** {message.get('content') or ''}", ""]
    return redact("\n".join(lines)).rstrip() + "\n"
