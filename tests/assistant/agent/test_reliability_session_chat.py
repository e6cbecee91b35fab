"""``whyscope chat`` as a terminal sink (issue 16 items 12 and 15, Ctrl-C; RELIABILITY.md U2, N2, X3): nothing a
model, a server or the user's input holds can drive the terminal, no secret or URL password is printed, and Ctrl-C
mid-tool ends with one line and the session kept."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import respx

from assistant.agent.session import latest_session, load_session
from assistant.chat import run_chat
from assistant.config import load_settings, printable
from assistant.tui.widgets.messages import safe

from .conftest import error_response, sse, text_stream, tool_call_stream
from .test_reliability_session import assert_valid_history

#: What a hostile model might stream: an OSC 52 clipboard write, an OSC 8 hidden link, clear-screen and colour CSI,
#: a bell, a carriage-return overprint, a C1 CSI, a DCS string.
HOSTILE = (
    "Hi \x1b]52;c;ZXZpbA==\x07there "
    "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\ "
    "\x1b[2J\x1b[H\x1b[31mred\x1b[0m\x07 safe\rOVER \x9b31mC1 \x1bP1$r0m\x1b\\done\x1b(B."
)
CONTROL = {chr(code) for code in [*range(0, 9), *range(11, 32), *range(127, 160)]}


def test_printable_removes_whole_sequences_and_keeps_the_text() -> None:
    assert printable(HOSTILE) == "Hi there click red safeOVER C1 done."
    assert printable("tab\tand\nnewline kept; \r\n becomes a newline") == "tab\tand\nnewline kept; \n becomes a newline"
    assert printable("unterminated \x1b]52;c;aGk=") == "unterminated 52;c;aGk="  # payload shown, inert
    assert safe(HOSTILE) == printable(HOSTILE)  # the app's widgets and the chat apply one rule


def test_chat_never_writes_a_control_sequence(llm: respx.Route) -> None:
    llm.side_effect = [
        sse(tool_call_stream(("c1", "evil\x1b[2J\x07", "{}"))),
        sse(text_stream(*[HOSTILE[i : i + 7] for i in range(0, len(HOSTILE), 7)])),  # sequences cut across chunks
    ]
    out = io.StringIO()
    assert run_chat(load_settings(), [], False, io.StringIO("show me \x1b]52;c;aGk=\x07 this\n"), out) == 0
    text = out.getvalue()
    assert not CONTROL & set(text), sorted({hex(ord(ch)) for ch in CONTROL & set(text)})
    assert "> show me  this" in text  # the echoed input
    assert "error: There is no tool named" in text  # the tool lines (started, error)
    assert "click" in text and "red" in text and "done" in text  # the model's text survives


def test_chat_with_an_unterminated_sequence_in_one_piece_shows_it_inert(llm: respx.Route) -> None:
    llm.side_effect = [sse(text_stream("Hi \x1b]8;;http://evil.example/\x07hidden"))]  # no closing OSC 8
    out = io.StringIO()
    run_chat(load_settings(), [], False, io.StringIO("hello\n"), out)
    assert "Hi hidden" in out.getvalue() and "\x1b" not in out.getvalue()


def test_a_rejected_key_is_reported_and_never_printed_or_saved(llm: respx.Route) -> None:
    llm.return_value = error_response(401, "Incorrect API key provided: sk-test-not-a-real-key")
    out = io.StringIO()
    run_chat(load_settings(), [], False, io.StringIO("hello\n"), out)
    text = out.getvalue()
    assert "[error] Authentication failed for " in text
    session = latest_session()
    assert session is not None
    for sink in (text, session.read_text(encoding="utf-8")):
        assert "sk-test" not in sink and "not-a-real-key" not in sink


def test_a_url_password_is_never_shown_and_a_local_server_with_one_is_local(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    settings = load_settings(base_url="http://user:hunter2@localhost:8080/v1")
    assert not settings.guided and settings.api_key == "local-no-key"
    out = io.StringIO()
    run_chat(settings, [], False, io.StringIO(""), out)
    assert f"[mode] {settings.model} at http://[redacted]@localhost:8080/v1\n" in out.getvalue()
    assert "hunter2" not in out.getvalue()


def test_ctrl_c_during_a_tool_ends_with_one_line_and_keeps_the_session(
    llm: respx.Route, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr("assistant.agent.runner.dispatch", interrupted)
    power = {"metric": "proportion", "baseline": 0.1, "mde": 0.1, "mde_kind": "relative"}
    llm.side_effect = [sse(tool_call_stream(("c1", "power", json.dumps(power))))]
    out = io.StringIO()
    code = run_chat(load_settings(), [], False, io.StringIO("size it\nnever read\n"), out)
    path = latest_session()
    assert code == 130 and path is not None
    last = out.getvalue().splitlines()[-1]
    assert last == (f"[stopped] Interrupted. The session is saved in {path}; `whyscope chat --resume` continues it.")
    assert "never read" not in out.getvalue() and "Traceback" not in out.getvalue()
    loaded = load_session(Path(path))
    assert loaded.messages[0] == {"role": "user", "content": "size it"} and loaded.damaged_lines == []
    assert_valid_history(loaded.messages)  # the interrupted call is answered (or its turn dropped) on resume
