"""Issue 18 item 15: ``whyscope chat --resume`` recaps the earlier session before going on, and ``chat`` exits
non-zero (3) when messages were sent and not one got an answer because the model could not be reached."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx

from assistant.agent.conversation import Conversation
from assistant.agent.guided import GuidedBackend
from assistant.agent.session import SessionStore, latest_session
from assistant.chat import EXIT_NO_ANSWER, RECAP_TURNS, run_chat
from assistant.cli import main
from assistant.config import load_settings
from tools.power.models import PowerResult

BASE_URL = "https://llm.test/v1"
POWER = {"metric": "proportion", "baseline": 0.1, "mde": 0.1, "mde_kind": "relative"}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WHYSCOPE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    return tmp_path / "home"


@pytest.fixture
def llm(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[respx.Route]:
    """A model server that is mocked (nothing leaves the machine), retried without waiting."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.setenv("OPENAI_BASE_URL", BASE_URL)
    monkeypatch.setattr("assistant.agent.backends._wait", lambda seconds, cancel: None)
    with respx.mock(base_url=BASE_URL, assert_all_mocked=True, assert_all_called=False) as router:
        yield router.post("/chat/completions")


def answer(text: str) -> httpx.Response:
    chunks = [
        {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": [choice]}
        for choice in (
            {"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None},
            {"index": 0, "delta": {}, "finish_reason": "stop"},
        )
    ]
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})


def test_item15_chat_exits_3_when_no_message_got_an_answer(llm: respx.Route) -> None:
    llm.side_effect = httpx.ConnectError("Connection refused")
    out = io.StringIO()
    code = run_chat(load_settings(), [], False, io.StringIO("hello\nare you there?\n"), out)
    text = out.getvalue()
    assert code == EXIT_NO_ANSWER == 3
    assert text.count("[error] ") >= 3  # each turn's failure, then the summary
    assert text.splitlines()[-1] == (
        "[error] None of the 2 message(s) got an answer: every turn failed to reach https://llm.test/v1. Check the "
        "server, --base-url and OPENAI_API_KEY, or use --offline for the guided mode (exit status 3)."
    )
    assert "[session] saved to" in text  # the session is kept all the same


def test_item15_chat_exits_0_when_a_turn_got_an_answer(llm: respx.Route) -> None:
    llm.side_effect = [httpx.ConnectError("Connection refused")] * 3 + [answer("Back again.")]
    out = io.StringIO()
    code = run_chat(load_settings(), [], False, io.StringIO("hello\nhello again\n"), out)
    assert code == 0 and "Back again." in out.getvalue() and "None of the" not in out.getvalue()


def test_item15_chat_exits_0_on_empty_input_and_in_the_guided_mode(home: Path) -> None:
    assert run_chat(load_settings(offline=True), [], False, io.StringIO(""), io.StringIO()) == 0
    out = io.StringIO()
    assert run_chat(load_settings(offline=True), [], False, io.StringIO("AI summaries for agents\n"), out) == 0


def test_item15_the_exit_status_is_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["chat", "--help"])
    words = " ".join(capsys.readouterr().out.split())  # argparse wraps the lines
    assert "3 when no message got an answer because the model could not be reached" in words


def test_item15_resume_recaps_the_brief_the_results_and_the_last_exchanges(home: Path) -> None:
    settings = load_settings(offline=True)
    answers = ["AI summaries for agents", "reading tickets takes too long", "handle time; guardrails: CSAT"]
    run_chat(settings, [], False, io.StringIO("\n".join(answers) + "\n"), io.StringIO())
    path = latest_session()
    assert path is not None
    store = SessionStore(path)  # a result in the same session, as the app's /power leaves one
    conversation = Conversation(GuidedBackend(), store=store, messages=[])
    run = conversation.run_tool("power", POWER, lambda event: None, command="/power")
    store.close()
    assert run is not None and isinstance(run.outcome, PowerResult)
    summary = run.outcome.summary

    out = io.StringIO()
    assert run_chat(settings, [], True, io.StringIO(""), out) == 0
    text = out.getvalue()
    recap = text.split("[resumed] Where we stopped:", 1)[1].split("[resumed] Continue below.", 1)[0]
    assert "  intervention: AI summaries for agents (confirmed)" in recap
    assert "  outcome: handle time (confirmed; guardrails: CSAT)" in recap
    assert f"[result] power: {summary}" in recap
    assert f"[tool] power: {summary}" in recap  # where it happened in the exchange
    shown = [line[2:] for line in recap.splitlines() if line.startswith("> ")]
    assert shown == [*answers[1:], "/power"][-RECAP_TURNS:]  # the last exchanges, the older ones counted
    assert "[earlier] 1 earlier message(s) not shown" in recap
    assert "Why make this change" not in recap and "Which single metric" in recap  # what followed each answer
    assert text.index("[resumed] Continue below.") < text.index("Welcome back")  # the recap comes first


def test_item16_data_given_twice_under_one_name_keeps_the_first_and_says_so(home: Path, tmp_path: Path) -> None:
    """The command line's side of '/load never silently replaces': ``--data`` with a name already taken."""
    from assistant.launch import prepare

    first, second = tmp_path / "a" / "sales.csv", tmp_path / "b" / "sales.csv"
    for path, rows in ((first, "arm,y\ncontrol,1\ntreatment,2\n"), (second, "arm,y\ncontrol,1\n")):
        path.parent.mkdir()
        path.write_text(rows, encoding="utf-8")
    said: list[str] = []
    launch = prepare(load_settings(offline=True), [str(first), str(second)], False, said.append)
    assert launch.store is not None
    launch.store.close()
    assert launch.catalog.names() == ["sales"] and launch.catalog.get("sales").n_rows == 2
    assert (
        f"[error] {second} was not attached: a dataset named 'sales' is already attached (sales.csv, 2 rows). "
        f"Give it its own name: --data OTHER_NAME={second}"
    ) in said


def test_item14_a_wide_files_attach_line_names_a_few_columns_and_how_many(home: Path, tmp_path: Path) -> None:
    """castle has 139 columns: the attach line named them all and pushed the first question off an 80x24 screen."""
    from assistant.launch import SHOWN_COLUMNS, prepare

    wide = tmp_path / "wide.csv"
    names = [f"c{i}" for i in range(139)]
    wide.write_text(",".join(names) + "\n" + ",".join("1" for _ in names) + "\n", encoding="utf-8")
    narrow = tmp_path / "narrow.csv"
    narrow.write_text("arm,y\ncontrol,1\n", encoding="utf-8")
    said: list[str] = []
    launch = prepare(load_settings(offline=True), [str(wide), str(narrow)], False, said.append)
    assert launch.store is not None
    launch.store.close()
    shown = ", ".join(names[:SHOWN_COLUMNS])
    assert f"[data] wide: 1 rows, 139 columns: {shown}, … (/data lists them all)" in said
    assert "[data] narrow: 1 rows, columns arm, y" in said


def test_issue25_chat_marks_a_claim_no_tool_backs(llm: respx.Route) -> None:
    # the SmolLM2 answer: no tool call, "went up"; provenance had nothing to flag, the claim check does
    llm.side_effect = [answer("Yes, checkout conversion went up.")]
    out = io.StringIO()
    assert run_chat(load_settings(), [], False, io.StringIO("Did checkout conversion go up?\n"), out) == 0
    lines = out.getvalue().splitlines()
    flagged = [line for line in lines if line.startswith("[unsupported claim:")]
    assert flagged == ["[unsupported claim: 'went up' — no tool result in this session measured an effect]"], lines
