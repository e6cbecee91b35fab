"""Sessions under damage and contention (issue 16 items 1-3; RELIABILITY.md F4, F5, F7, X3): redaction never breaks
a line, a damaged file is read as far as it can be and repaired into a history a server accepts, and two processes
never write one session."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.agent.backends import AssistantTurn
from assistant.agent.brief import Brief, UpdateBriefRequest, apply_update
from assistant.agent.conversation import Conversation
from assistant.agent.session import SessionInUse, SessionStore, load_session, sessions_dir
from assistant.agent.session_repair import LOST_RESULT
from assistant.chat import run_chat
from assistant.cli import main
from assistant.config import load_settings, redact
from assistant.launch import prepare


class Recording:
    """A backend that answers with text and keeps every history it was sent."""

    name = "recording"

    def __init__(self) -> None:
        self.sent: list[list[dict[str, Any]]] = []

    def complete(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[Mapping[str, Any]], on_text: Callable[[str], None]
    ) -> AssistantTurn:
        self.sent.append([dict(m) for m in messages])
        on_text("ok")
        return AssistantTurn(text="ok", finish_reason="stop")


def assert_valid_history(messages: Sequence[Mapping[str, Any]]) -> None:
    """What Chat Completions requires: each assistant tool call answered by the tool messages right after it, no
    tool message without its call."""
    waiting: set[str] = set()
    for index, message in enumerate(messages):
        if message["role"] == "tool":
            assert message["tool_call_id"] in waiting, f"message {index} answers no pending call"
            waiting.discard(message["tool_call_id"])
            continue
        assert not waiting, f"message {index} comes before the calls {waiting} are answered"
        if message["role"] == "assistant":
            waiting = {call["id"] for call in message.get("tool_calls") or []}
            assert all(isinstance(call["function"]["name"], str) for call in message.get("tool_calls") or [])
    assert not waiting, f"unanswered calls at the end: {waiting}"


def resumed_history(path: Path) -> list[dict[str, Any]]:
    """What the model is sent on the first turn after resuming ``path``."""
    loaded = load_session(path)
    backend = Recording()
    offered = [{"type": "function", "function": {"name": "power", "parameters": {}}}]
    Conversation(backend, tools=offered, messages=loaded.messages).send("and now?", lambda event: None)
    return backend.sent[0]


def call(call_id: str, name: str = "power", arguments: str = "{}") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def line(record: Any) -> str:
    return json.dumps(record) + "\n"


def message(value: dict[str, Any]) -> str:
    return line({"type": "message", "message": value})


# -- item 1: redaction (X3) ----------------------------------------------------------------------------------------


def test_redacted_lines_stay_json_and_resume_sends_a_valid_history(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.jsonl")
    user = {"role": "user", "content": "the server is https://llm.example/v1?apikey=abc123"}
    calls = {"role": "assistant", "content": None, "tool_calls": [call("c1", "api_key=1", '{"q": "api-key=zz9"}')]}
    answer = {"role": "tool", "tool_call_id": "c1", "content": '{"error": {"message": "unknown tool api_key=1"}}'}
    for value in (user, calls, answer, {"role": "assistant", "content": "done"}):
        store.message(value)
    text = store.path.read_text(encoding="utf-8")
    assert "abc123" not in text and "zz9" not in text and "api_key=1" not in text
    assert all(isinstance(json.loads(raw), dict) for raw in text.splitlines())  # every line is still JSON
    loaded = load_session(store.path)
    assert loaded.warnings == [] and loaded.damaged_lines == []
    assert loaded.messages == [
        {"role": "user", "content": "the server is https://llm.example/v1?[redacted]"},
        {"role": "assistant", "content": None, "tool_calls": [call("c1", "[redacted]", '{"q": "[redacted]"}')]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"error": {"message": "unknown tool [redacted]"}}'},
        {"role": "assistant", "content": "done"},
    ]
    assert_valid_history(resumed_history(store.path))


def test_the_text_mask_stops_where_a_secret_cannot_go() -> None:
    assert redact('{"u": "?apikey=abc123"}') == '{"u": "?[redacted]"}'
    assert redact("a?api_key=k1&b=2, [api-key=k2] (apikey=k3)") == "a?[redacted]&b=2, [[redacted]] ([redacted])"
    assert redact("http://user:pw@localhost:8080/v1") == "http://[redacted]@localhost:8080/v1"


_PIECES = st.sampled_from(
    ["api_key=", "apikey=", "API-KEY=", "sk-", "Bearer ", "://", "u:p", "@", '"', "\\", "}", "]", ",", "&", "abc123xyz"]
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.lists(_PIECES, max_size=12).map("".join), min_size=1, max_size=4))
def test_redacting_serialised_json_never_breaks_it(texts: list[str]) -> None:
    value = {text: [text, {"k": text}] for text in texts}
    for ascii_only in (True, False):
        parsed = json.loads(redact(json.dumps(value, ensure_ascii=ascii_only)))  # still JSON, same shape
        assert parsed and all(len(item) == 2 and list(item[1]) == ["k"] for item in parsed.values())


# -- item 3: damaged files (F4, F5) ----------------------------------------------------------------------------------


def damaged_session(path: Path) -> None:
    brief = apply_update(Brief(), UpdateBriefRequest(slot="unit", value="users", status="confirmed"))
    lines = [
        line({"type": "meta", "version": 1}),  # 1
        message({"role": "user", "content": "size it"}),  # 2
        line([1, 2]),  # 3
        line(42),  # 4
        line({"type": "message"}),  # 5
        line({"type": "brief", "brief": brief.model_dump(mode="json")}),  # 6
        line({"type": "brief", "brief": "not a brief"}),  # 7: the brief of line 6 stays
        message({"role": "assistant", "content": None, "tool_calls": [{"id": "c0"}, call("c1")]}),  # 8: c0 dropped
        message({"role": "tool", "tool_call_id": "c1", "content": '{"summary": "64 per arm"}'}),  # 9
        line({"type": "meta", "version": "two"}),  # 10
        "[" * 5_000 + "\n",  # 11: nested too deep for json
        message({"role": "tool", "tool_call_id": "ghost", "content": "{}"}),  # 12: its call is gone
        message({"role": "assistant", "content": "64 per arm."}),  # 13
        message({"role": "user", "content": "and refute it"}),  # 14
        message({"role": "assistant", "content": None, "tool_calls": [call("c2", "refute")]}),  # 15: answer lost
        line({"type": "future_record"}),  # 16
        message({"role": "assistant", "content": "It held up."}),  # 17
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines), encoding="utf-8")


def test_damaged_lines_are_skipped_reported_and_the_pairing_repaired(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    damaged_session(path)
    loaded = load_session(path)
    assert loaded.damaged_lines == [3, 4, 5, 7, 8, 10, 11, 16]
    assert loaded.warnings == [
        "8 damaged lines of s.jsonl were skipped (lines 3, 4, 5, 7, 8, 10, 11, 16).",
        "1 tool call had lost its result; the model is told so and can run it again.",
        "1 tool answer without a matching call was dropped.",
    ]
    assert loaded.brief.unit.value == "users"  # an invalid brief record does not discard the session
    lost = {"role": "tool", "tool_call_id": "c2", "content": json.dumps(LOST_RESULT.to_dict())}
    assert loaded.messages == [
        {"role": "user", "content": "size it"},
        {"role": "assistant", "content": None, "tool_calls": [call("c1")]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"summary": "64 per arm"}'},
        {"role": "assistant", "content": "64 per arm."},
        {"role": "user", "content": "and refute it"},
        {"role": "assistant", "content": None, "tool_calls": [call("c2", "refute")]},
        lost,
        {"role": "assistant", "content": "It held up."},
    ]
    assert_valid_history(resumed_history(path))


def test_export_and_resume_work_on_a_damaged_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    path = sessions_dir() / "damaged.jsonl"
    damaged_session(path)
    assert main(["export"]) == 0
    captured = capsys.readouterr()
    exported = captured.out
    assert "[note] 8 damaged lines of damaged.jsonl were skipped (lines 3, 4, 5, 7, 8, 10, 11, 16)." in captured.err
    assert "**You:** size it" in exported and "> tool result: 64 per arm" in exported
    assert "*called `refute`*" in exported and "**whyscope:** It held up." in exported
    out = io.StringIO()
    assert run_chat(load_settings(offline=True), [], True, io.StringIO(""), out) == 0
    said = out.getvalue()
    assert "[note] 8 damaged lines of damaged.jsonl were skipped (lines 3, 4, 5, 7, 8, 10, 11, 16)." in said
    assert "[session] resumed damaged.jsonl (8 messages)" in said


def test_a_crash_mid_turn_drops_only_that_turn(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(
        message({"role": "user", "content": "run both"})
        + message({"role": "assistant", "content": None, "tool_calls": [call("a"), call("b")]})
        + message({"role": "tool", "tool_call_id": "a", "content": "{}"})
        + '{"type": "message", "message": {"role": "tool", "tool_',  # killed mid-write (F4)
        encoding="utf-8",
    )
    loaded = load_session(path)
    assert loaded.messages == [{"role": "user", "content": "run both"}]
    assert loaded.warnings == [
        "1 damaged line of s.jsonl was skipped (line 4).",
        "The last tool turn was interrupted and was dropped; ask again to rerun it.",
    ]


# -- item 2: one writer per session (F7) -------------------------------------------------------------------------


@pytest.fixture
def other_process() -> Iterator[Callable[[Path], subprocess.Popen[str]]]:
    """Another process holding a session file's lock, as a second whyscope would; killed at the end."""
    started: list[subprocess.Popen[str]] = []

    def hold(path: Path) -> subprocess.Popen[str]:
        code = (
            "import fcntl, sys, time\n"
            "handle = open(sys.argv[1], 'ab')\n"
            "fcntl.flock(handle.fileno(), fcntl.LOCK_EX)\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n"
        )
        process = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
        started.append(process)
        assert process.stdout is not None and process.stdout.readline().strip() == "locked"
        return process

    yield hold
    for process in started:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.skipif(sys.platform == "win32", reason="advisory locks are POSIX")
def test_a_second_writer_is_refused_and_a_killed_holder_leaves_no_stale_lock(
    monkeypatch: pytest.MonkeyPatch, other_process: Callable[[Path], subprocess.Popen[str]]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    settings_ = load_settings(offline=True)
    run_chat(settings_, [], False, io.StringIO("AI summaries for agents\n"), io.StringIO())
    path = sessions_dir() / next(p.name for p in sessions_dir().glob("*.jsonl"))
    before = path.read_bytes()
    holder = other_process(path)

    with pytest.raises(SessionInUse, match=f"The session {path.name} is open in another whyscope"):
        SessionStore(path)
    with pytest.raises(SessionInUse):  # the app's launch path refuses before loading anything
        prepare(settings_, [], True, lambda line: None)
    out = io.StringIO()
    assert run_chat(settings_, [], True, io.StringIO("reading takes too long\n"), out) == 2
    assert out.getvalue() == (
        f"[error] The session {path.name} is open in another whyscope. Close that one first, or start a new "
        "session (run without --resume).\n"
    )
    assert path.read_bytes() == before  # nothing interleaved

    os.kill(holder.pid, signal.SIGKILL)  # a killed whyscope: the system drops its lock
    holder.wait()
    again = io.StringIO()
    assert run_chat(settings_, [], True, io.StringIO("reading takes too long\n"), again) == 0
    assert f"[session] resumed {path.name}" in again.getvalue()
    assert load_session(path).brief.intervention.value == "AI summaries for agents"


@pytest.mark.skipif(sys.platform == "win32", reason="advisory locks are POSIX")
def test_a_store_holds_the_lock_until_closed_and_shares_it_within_the_process(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    store = SessionStore(path)
    again = SessionStore(path)  # the same process (the app reopening what it holds) shares the lock
    probe = (
        "import fcntl, sys\n"
        "handle = open(sys.argv[1], 'ab')\n"
        "fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
    )

    def other_can_lock() -> bool:
        result = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True)
        assert result.returncode == 0 or "BlockingIOError" in result.stderr, result.stderr
        return result.returncode == 0

    assert not other_can_lock()
    store.close()
    assert not other_can_lock()  # ``again`` still holds it
    again.close()
    assert other_can_lock()
    again.message({"role": "user", "content": "after close"})  # still appends
    assert load_session(path).messages == [{"role": "user", "content": "after close"}]
