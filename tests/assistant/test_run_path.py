"""One run path: a tool asked for by the model, by a slash command or on the command line runs the same way, and the
pre-registration, provenance, the plan check and the session all see it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from assistant.agent.backends import AssistantTurn
from assistant.agent.conversation import Conversation, Event, Notice, ToolFinished, ToolProgress, ToolStarted
from assistant.agent.runner import ToolRunner
from assistant.agent.session import SessionStore, export_markdown, load_session
from assistant.agent.stream import ToolCallDraft
from assistant.cli import main
from assistant.prereg.tool import PreregState
from tests.assistant.real_results import REQUESTS, catalog
from tools.data import Catalog
from tools.errors import ToolError
from tools.power.models import PowerResult

POWER = REQUESTS["power"]
ROOT = Path(__file__).resolve().parents[2]


class Scripted:
    """A backend that plays back turns and keeps the messages of every request it was sent."""

    name = "scripted"

    def __init__(self, turns: list[AssistantTurn]) -> None:
        self.turns = list(turns)
        self.sent: list[list[dict[str, Any]]] = []

    def complete(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[Mapping[str, Any]], on_text: Callable[[str], None]
    ) -> AssistantTurn:
        self.sent.append([dict(m) for m in messages])
        turn = self.turns.pop(0)
        on_text(turn.text)
        return turn


def say(text: str) -> AssistantTurn:
    return AssistantTurn(text=text, finish_reason="stop")


def assert_valid_history(messages: Sequence[Mapping[str, Any]]) -> None:
    """What Chat Completions requires: every assistant tool call answered by the tool messages right after it, and
    no tool message without the call before it."""
    waiting: set[str] = set()
    for index, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            assert message.get("tool_call_id") in waiting, f"message {index}: a tool answer without its call"
            waiting.discard(str(message["tool_call_id"]))
            continue
        assert not waiting, f"message {index} ({role}) comes before the calls {waiting} are answered"
        if role == "assistant":
            waiting = {str(call["id"]) for call in message.get("tool_calls") or []}
    assert not waiting, f"unanswered calls at the end: {waiting}"


def test_a_slash_command_run_feeds_the_plan_provenance_and_the_session(tmp_path: Path) -> None:
    backend = Scripted([say("You need 14,751 users per arm.")])
    store = SessionStore(tmp_path / "s.jsonl")
    chat = Conversation(backend, store=store)
    events: list[Event] = []
    run = chat.run_tool("power", POWER, events.append, command="/power metric=proportion baseline=0.1 mde=0.1")
    assert run is not None and isinstance(run.outcome, PowerResult) and run.outcome.n_per_arm == 14_751
    started, finished = events[0], events[-1]
    assert isinstance(started, ToolStarted) and isinstance(finished, ToolFinished)
    assert started.call_id == finished.call_id == run.call_id
    assert finished.outcome is run.outcome and finished.result is not None and finished.result["n_per_arm"] == 14_751
    assert chat.prereg.power is run.outcome  # the pre-registration knows the sample size
    assert chat.runs == [run] and run.outcome in chat.sources
    assert [m["role"] for m in chat.messages] == ["system", "user", "assistant", "tool"]
    assert chat.messages[2]["tool_calls"][0]["function"]["name"] == "power"
    assert json.loads(chat.messages[3]["content"])["n_per_arm"] == 14_751

    done = chat.send("How many do we need?", events.append)
    assert done.unverified == ()  # 14,751 comes from the command's result
    assert_valid_history(backend.sent[0])
    assert backend.sent[0][-1] == {"role": "user", "content": "How many do we need?"}

    loaded = load_session(store.path)
    assert loaded.warnings == [] and loaded.runs == [run]
    assert loaded.prereg is not None and loaded.prereg.power == run.outcome
    resumed = Conversation(Scripted([say("Still 14,751.")]), messages=loaded.messages, store=SessionStore(store.path))
    assert resumed.runs == [run] and resumed.prereg.power == run.outcome
    assert resumed.send("Remind me?", lambda event: None).unverified == ()  # the restored result is a source
    assert_valid_history(resumed.messages)


def test_the_model_and_a_command_give_the_same_run() -> None:
    call = ToolCallDraft(id="m1", name="power", arguments=json.dumps(POWER))
    by_model = Conversation(Scripted([AssistantTurn(tool_calls=[call], finish_reason="tool_calls"), say("ok")]))
    by_model.send("size it", lambda event: None)
    by_user = Conversation(Scripted([]))
    by_user.run_tool("power", json.dumps(POWER), lambda event: None)
    (model_run,), (user_run,) = by_model.runs, by_user.runs
    assert model_run.request == user_run.request and model_run.outcome == user_run.outcome
    assert model_run.for_model() == user_run.for_model()
    assert by_model.messages[-2]["content"] == by_user.messages[-1]["content"]  # the model reads the same answer
    assert by_model.prereg.power == by_user.prereg.power


def test_an_error_is_typed_recorded_and_answered() -> None:
    chat = Conversation(Scripted([]))
    events: list[Event] = []
    run = chat.run_tool("power", {"metric": "proportion", "baseline": 12, "mde": 0.01}, events.append)
    assert run is not None and isinstance(run.outcome, ToolError) and run.outcome.code == "baseline_out_of_range"
    finished = events[-1]
    assert isinstance(finished, ToolFinished) and finished.result is None
    assert finished.error is not None and finished.error["code"] == "baseline_out_of_range"
    assert json.loads(chat.messages[-1]["content"])["error"]["code"] == "baseline_out_of_range"
    assert chat.prereg.power is None and chat.runs == [run]
    invalid = chat.run_tool("power", {"metric": "proportion", "colour": 1}, events.append)
    assert invalid is not None and invalid.request is None and isinstance(invalid.outcome, ToolError)
    assert_valid_history(chat.messages)


def test_an_unknown_tool_from_a_command_runs_nothing_and_records_nothing() -> None:
    chat = Conversation(Scripted([]))
    events: list[Event] = []
    assert chat.run_tool("regression", {}, events.append) is None
    finished = events[-1]
    assert isinstance(finished, ToolFinished) and finished.error is not None
    assert finished.error["code"] == "unknown_tool"
    assert chat.runs == [] and [m["role"] for m in chat.messages] == ["system"]


def test_a_command_run_is_checked_against_the_frozen_plan() -> None:
    from tests.assistant.test_prereg_golden import example

    data = Catalog()
    data.add(ROOT / "examples" / "data" / "ai_feature_ab.csv", "ai_feature_ab")
    chat = Conversation(Scripted([]), catalog=data)
    chat.prereg = PreregState(frozen=example("ai_feature_ab"))
    planned = chat.prereg.frozen.prereg.plan.analysis  # type: ignore[union-attr]
    assert planned is not None
    request = {k: v for k, v in planned.model_dump(mode="json").items() if k != "method" and v is not None}
    events: list[Event] = []
    run = chat.run_tool("ab_test", {**request, "alpha": 0.1}, events.append)
    assert run is not None and run.plan_check is not None and run.plan_check.status == "fail"
    assert [d.field for d in run.plan_check.deviations] == ["alpha"]
    assert any(isinstance(e, Notice) and "frozen plan" in e.message for e in events)
    finished = events[-1]
    assert isinstance(finished, ToolFinished) and finished.plan_check == run.plan_check
    assert finished.result is not None and finished.result["checks"][-1]["name"] == "pre_registration"
    assert json.loads(chat.messages[-1]["content"])["plan_check"]["status"] == "fail"  # the model sees it too
    assert run.plan_check in chat.sources


def test_progress_reaches_the_events_and_cancel_stops_the_run() -> None:
    chat = Conversation(Scripted([]), catalog=catalog())
    events: list[Event] = []

    def emit(event: Event) -> None:
        events.append(event)
        if isinstance(event, ToolProgress):
            chat.cancel.set()  # Esc after the first step

    run = chat.run_tool("refute", REQUESTS["refute"], emit)
    assert run is not None and isinstance(run.outcome, ToolError) and run.outcome.code == "cancelled"
    assert any(isinstance(e, ToolProgress) for e in events)
    assert_valid_history(chat.messages)


def test_commands_and_turns_never_interleave_in_the_history() -> None:
    chat = Conversation(Scripted([say("one"), say("two")]))
    threads = [
        threading.Thread(target=chat.run_tool, args=("power", POWER, lambda event: None)),
        threading.Thread(target=chat.send, args=("first", lambda event: None)),
        threading.Thread(target=chat.run_tool, args=("power", POWER, lambda event: None)),
        threading.Thread(target=chat.send, args=("second", lambda event: None)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(chat.runs) == 2
    assert_valid_history(chat.messages)


def test_the_decision_memo_reads_the_typed_runs() -> None:
    chat = Conversation(Scripted([]), catalog=catalog())
    chat.run_tool("rdd", REQUESTS["rdd"], lambda event: None)
    memo = export_markdown(chat.messages, chat.brief, chat.runs).split("## Conversation")[0]
    assert "- **rdd**: " in memo and "Robustness: not checked yet" in memo
    # the same analysis with its defaults spelled out is the one refute challenges
    rdd = chat.runs[0].request
    assert rdd is not None
    chat.run_tool("refute", {"target": {"tool": "rdd", "request": rdd.model_dump(mode="json")}, "simulations": 10},
                  lambda event: None)  # fmt: skip
    memo = export_markdown(chat.messages, chat.brief, chat.runs).split("## Conversation")[0]
    assert "Robustness: **ROBUST**." in memo and "not checked yet" not in memo


def test_the_command_line_runs_the_same_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tool", "run", "power", "--json", json.dumps(POWER)]) == 0
    printed = capsys.readouterr().out
    run = ToolRunner().run("power", json.dumps(POWER))
    assert isinstance(run.outcome, PowerResult) and json.loads(printed) == json.loads(run.outcome.model_dump_json())


def test_a_failing_plan_check_keeps_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.agent.events import Failed

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("bug")

    chat = Conversation(Scripted([]))
    monkeypatch.setattr(chat.prereg, "check", broken)
    chat.prereg.frozen = object()  # type: ignore[assignment]  # any frozen plan: the check runs, and fails
    events: list[Event] = []
    run = chat.run_tool("power", POWER, events.append)
    assert run is not None and isinstance(run.outcome, PowerResult) and run.plan_check is None
    assert any(isinstance(e, Failed) and e.kind == "internal_error" for e in events)
    assert json.loads(chat.messages[-1]["content"])["n_per_arm"] == 14_751
    assert_valid_history(chat.messages)
