"""The app's tool commands (/power, /run, /plot) go through the engine's one run path: the pre-registration,
provenance and the session see a command's result exactly as they see one the model asked for."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from assistant.agent.backends import AssistantTurn
from assistant.agent.session import SessionStore, load_session
from assistant.tui.app import WhyscopeApp
from assistant.tui.widgets.assistant_message import AssistantMessage
from assistant.tui.widgets.chat_input import ChatInput
from assistant.tui.widgets.messages import NoticeMessage
from assistant.tui.widgets.tool_card import ToolCard
from tests.assistant.real_results import catalog
from tests.assistant.test_run_path import assert_valid_history
from tests.waiting import submit, wait_for, wait_for_value
from tools.power.models import PowerResult

POWER_COMMAND = "/power metric=proportion baseline=0.1 mde=0.1 mde_kind=relative"


class Scripted:
    """Plays back turns; keeps the messages of every request; ``gate`` holds a turn open."""

    name = "scripted-model"

    def __init__(self, turns: list[AssistantTurn], gate: threading.Event | None = None) -> None:
        self.turns = list(turns)
        self.gate = gate
        self.sent: list[list[dict[str, Any]]] = []

    def complete(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[Mapping[str, Any]], on_text: Callable[[str], None]
    ) -> AssistantTurn:
        self.sent.append([dict(m) for m in messages])
        if self.gate is not None:
            self.gate.wait(10)
        turn = self.turns.pop(0)
        on_text(turn.text)
        return turn


def say(text: str) -> AssistantTurn:
    return AssistantTurn(text=text, finish_reason="stop")


async def enter(pilot: Any, app: WhyscopeApp, text: str) -> None:
    app.query_one(ChatInput).value = text
    await submit(pilot, app, text)


def last_notice(app: WhyscopeApp) -> str:
    notices = list(app.query(NoticeMessage))
    return str(notices[-1].render()) if notices else ""


def finished_card(app: WhyscopeApp, tool: str) -> ToolCard | None:
    return next((c for c in reversed(list(app.query(ToolCard))) if c.tool_name == tool and c.outcome is not None), None)


async def test_power_feeds_the_preregistration_provenance_and_the_session(tmp_path: Path) -> None:
    backend = Scripted([say("You need 14,751 users per arm.")])
    store = SessionStore(tmp_path / "s.jsonl")
    app = WhyscopeApp(backend, store=store)
    async with app.run_test() as pilot:
        await enter(pilot, app, POWER_COMMAND)
        card = await wait_for_value(pilot, lambda: finished_card(app, "power"), "the power card to finish")
        assert card.result is not None and card.result["n_per_arm"] == 14_751
        assert isinstance(card.outcome, PowerResult)
        session = app.session
        assert session.prereg.power is card.outcome  # the plan knows the sample size
        assert card.outcome in session.sources and [r.outcome for r in session.runs] == [card.outcome]
        await wait_for(pilot, lambda: not app.busy, "the command to end")
        await enter(pilot, app, "How many users?")
        await wait_for(pilot, lambda: bool(backend.sent), "the model to be asked")
        reply = await wait_for_value(pilot, lambda: next(iter(app.query(AssistantMessage)), None), "the reply")
        assert "14,751" in reply.text and "⚠" not in reply.text  # the command's result backs the number
        assert "Unverified" not in last_notice(app)
        assert_valid_history(backend.sent[0])
        sent_roles = [m["role"] for m in backend.sent[0]]
        assert sent_roles == ["system", "user", "assistant", "tool", "user"]  # the model sees the command's result

    loaded = load_session(store.path)
    assert loaded.warnings == [] and [r.outcome for r in loaded.runs] == [card.outcome]
    assert loaded.prereg is not None and loaded.prereg.power == card.outcome

    resumed = WhyscopeApp(Scripted([]), messages=loaded.messages, brief=loaded.brief, store=SessionStore(store.path))
    async with resumed.run_test(size=(140, 50)) as pilot:
        card = await wait_for_value(pilot, lambda: finished_card(resumed, "power"), "the restored power card")
        assert card.result is not None and card.result["n_per_arm"] == 14_751
        assert "power against units per arm" in str(card.query_one(".tool-inputs").render())
        assert resumed.session.prereg.power == card.outcome


async def test_plot_saves_the_figure_the_latest_result_declares(tmp_path: Path) -> None:
    app = WhyscopeApp(Scripted([]), catalog=catalog())
    target = tmp_path / "event_study.png"
    async with app.run_test() as pilot:
        await enter(pilot, app, '/run recommend_method {"can_randomize": true}')
        await wait_for_value(pilot, lambda: finished_card(app, "recommend_method"), "the recommendation")
        await wait_for(pilot, lambda: not app.busy, "the command to end")
        await enter(pilot, app, "/plot")
        assert "No figure yet" in last_notice(app)  # a recommendation declares no figure
        request = '{"dataset": "staggered_rollout", "outcome": "weekly_orders", "unit": "region", "time": "month", '
        await enter(pilot, app, "/run diff_in_diff " + request + '"cohort": "launch_month"}')
        card = await wait_for_value(pilot, lambda: finished_card(app, "diff_in_diff"), "the diff-in-diff card")
        assert card.error is None and "effect by period" in str(card.query_one(".tool-inputs").render())
        await wait_for(pilot, lambda: not app.busy, "the command to end")
        await enter(pilot, app, f"/plot {target}")
        await wait_for(
            pilot, lambda: "Saved" in last_notice(app), "the figure to be saved", state=lambda: last_notice(app)
        )
        assert target.read_bytes()[:4] == b"\x89PNG"
        assert "Saved the diff_in_diff figure" in last_notice(app)


async def test_a_tool_command_sent_while_a_turn_runs_waits_its_turn() -> None:
    """Issue 18 item 5: a command sent during a turn is queued (shown as such), not interleaved with the turn and
    not lost: it runs when the turn has ended, and the history stays a valid sequence of calls and answers."""
    from assistant.tui.widgets.messages import QueuedMessage

    gate = threading.Event()
    backend = Scripted([say("thinking")], gate=gate)
    app = WhyscopeApp(backend)
    async with app.run_test() as pilot:
        app.query_one(ChatInput).value = "hello"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.busy and bool(backend.sent), "the turn to start")
        app.query_one(ChatInput).value = POWER_COMMAND
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(list(app.query(QueuedMessage))), "the command shown as queued")
        assert not list(app.query(ToolCard))  # not interleaved with the turn
        assert [text for text, _ in app.queued] == [POWER_COMMAND]
        assert app.query_one(ChatInput).value == ""  # taken, and kept: Up recalls it
        gate.set()
        card = await wait_for_value(pilot, lambda: finished_card(app, "power"), "the queued /power to run")
        await wait_for(pilot, lambda: not app.busy, "the command to end")
        assert card.result is not None and card.result["n_per_arm"] == 14_751
        assert [run.name for run in app.session.runs] == ["power"]
        assert not list(app.query(QueuedMessage)) and app.queued == []
        assert_valid_history(app.session.messages)
        roles = [m["role"] for m in app.session.messages]
        assert roles == ["system", "user", "assistant", "user", "assistant", "tool"]  # the turn, then the command
