"""Sessions: saved as they go, resumable after a crash or a damaged line, exported, never holding the key."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from assistant.agent.brief import Brief, UpdateBriefRequest, apply_update
from assistant.agent.session import SessionStore, export_markdown, latest_session, load_session, sessions_dir
from assistant.chat import run_chat
from assistant.config import load_settings, redact


def test_messages_and_brief_round_trip(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.jsonl", model="m")
    store.message({"role": "user", "content": "hello"})
    brief = apply_update(Brief(), UpdateBriefRequest(slot="unit", value="users", status="confirmed"))
    store.brief(brief)
    loaded = load_session(store.path)
    assert loaded.messages == [{"role": "user", "content": "hello"}]
    assert loaded.brief.unit.value == "users"
    assert loaded.warnings == []


def test_a_damaged_last_line_and_an_unfinished_tool_turn_are_repaired(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.jsonl")
    store.message({"role": "user", "content": "size it"})
    store.message(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "a", "type": "function", "function": {"name": "power", "arguments": "{}"}}],
        }
    )
    with store.path.open("a", encoding="utf-8") as handle:
        handle.write('{"type": "message", "message": {"role": "tool", "tool_')  # killed mid-write
    loaded = load_session(store.path)
    assert loaded.messages == [{"role": "user", "content": "size it"}]
    assert len(loaded.warnings) == 2


def test_a_session_from_a_newer_version_is_read_but_never_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    path = sessions_dir() / "s.jsonl"
    path.parent.mkdir(parents=True)
    newer = [{"type": "meta", "version": 99}, {"type": "message", "message": {"role": "user", "content": "hi"}}]
    path.write_text("".join(json.dumps(record) + "\n" for record in newer), encoding="utf-8")
    loaded = load_session(path)  # export reads what it understands
    assert loaded.version == 99 and loaded.messages == [{"role": "user", "content": "hi"}]
    assert loaded.warnings == [
        "s.jsonl was written by a newer whyscope (session version 99); only what this version understands was read."
    ]
    before = path.read_bytes()
    out = io.StringIO()
    assert run_chat(load_settings(offline=True), [], True, io.StringIO("hello\n"), out) == 0
    assert "[error] s.jsonl was written by a newer whyscope (session version 99)" in out.getvalue()
    assert path.read_bytes() == before  # never appended to


def test_secrets_are_redacted_before_writing(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.jsonl")
    store.message({"role": "user", "content": "my key is sk-abcdefghijklmnopqrstuvwxyz and url ?api-key=xyz123"})
    text = store.path.read_text(encoding="utf-8")
    assert "sk-abcdefghijklmnop" not in text and "xyz123" not in text
    assert redact("Authorization: Bearer abcdefghijkl") == "Authorization: [redacted]"


def test_markdown_export(tmp_path: Path) -> None:
    brief = apply_update(
        Brief(), UpdateBriefRequest(slot="outcome", value="conversion", status="confirmed", guardrails=["refunds"])
    )
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "secret prompt"},
        {"role": "user", "content": "How many users?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "a", "type": "function", "function": {"name": "power", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "a", "content": json.dumps({"summary": "You need 64 per arm."})},
        {"role": "assistant", "content": "64 per arm."},
    ]
    text = export_markdown(messages, brief)
    assert "**outcome** [confirmed]: conversion (guardrails: refunds)" in text
    assert "secret prompt" not in text
    assert "*called `power`*" in text and "> tool result: You need 64 per arm." in text


def test_chat_saves_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    settings = load_settings(offline=True)
    out = io.StringIO()
    run_chat(settings, [], False, io.StringIO("AI summaries for agents\nreading takes too long\n"), out)
    path = latest_session()
    assert path is not None and path.is_relative_to(tmp_path)
    assert "[tool] update_brief done" in out.getvalue()
    again = io.StringIO()
    run_chat(settings, [], True, io.StringIO("handle time; guardrails: CSAT\n"), again)
    assert f"[session] resumed {path.name}" in again.getvalue()
    loaded = load_session(path)
    assert loaded.brief.intervention.value == "AI summaries for agents"
    assert loaded.brief.outcome.guardrails == ("CSAT",)


def test_export_command_writes_the_last_session_without_overwriting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from assistant.cli import main

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["export"]) == 2  # nothing yet
    run_chat(load_settings(offline=True), [], False, io.StringIO("AI summaries for agents\n"), io.StringIO())
    target = tmp_path / "transcript.md"
    assert main(["export", "-o", str(target)]) == 0
    assert "**intervention** [confirmed]: AI summaries for agents" in target.read_text(encoding="utf-8")
    assert main(["export", "-o", str(target)]) == 2  # exists: refused
    capsys.readouterr()
    assert main(["export"]) == 0
    assert "# whyscope session" in capsys.readouterr().out
