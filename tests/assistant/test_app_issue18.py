"""Issue 18 in the app (Pilot): nothing typed is lost while whyscope works (item 5), /run results are part of the
session (item 6), small terminals (item 14), and the smaller items of 16 — rendered Markdown, /plot's place and
progress, Esc on /run refute, /load never silently replacing, typing after a card is expanded from the keyboard.

Every wait is on a condition (``tests/waiting.py``), never a fixed interval.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from assistant.agent.backends import AssistantTurn
from assistant.agent.guided import GuidedBackend
from assistant.agent.session import load_session
from assistant.tui.app import NARROW_WIDTH, WhyscopeApp
from assistant.tui.widgets.assistant_message import AssistantMessage
from assistant.tui.widgets.chat_input import ChatInput
from assistant.tui.widgets.markdown_note import MarkdownNote
from assistant.tui.widgets.messages import NoticeMessage, QueuedMessage, UserMessage
from assistant.tui.widgets.tool_card import ToolCard
from tests.assistant.real_results import REQUESTS, catalog
from tests.assistant.test_run_path import assert_valid_history
from tests.waiting import chat_log, submit, wait_for, wait_for_value
from tools.data import Catalog

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "data"
AB_TEST = {"dataset": "checkout", "arm_column": "arm", "metrics": [{"name": "converted", "kind": "binary"}]}


class SlowGuided(GuidedBackend):
    """The guided mode, but every model call waits for ``gate`` (a slow backend: a turn the user types over)."""

    def __init__(self, gate: threading.Event, **options: Any) -> None:
        super().__init__(**options)
        self.gate = gate
        self.calls = 0

    def complete(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[Mapping[str, Any]], on_text: Callable[[str], None]
    ) -> AssistantTurn:
        self.calls += 1
        self.gate.wait(30)
        return super().complete(messages, tools, on_text)


class Silent:
    """A backend for command-only tests: it is never asked."""

    name = "silent"

    def complete(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[Mapping[str, Any]], on_text: Callable[[str], None]
    ) -> AssistantTurn:
        raise AssertionError("no model turn in this test")


async def enter(pilot: Pilot[Any], app: WhyscopeApp, text: str) -> None:
    """Type ``text``, press Enter, and wait until the app has answered it."""
    app.query_one(ChatInput).value = text
    await submit(pilot, app, text)


async def press_enter_with(pilot: Pilot[Any], app: WhyscopeApp, text: str) -> None:
    """Type ``text`` and press Enter without waiting for an answer (the app may be busy)."""
    app.query_one(ChatInput).value = text
    await pilot.press("enter")


def last_notice(app: WhyscopeApp) -> str:
    notices = list(app.query(NoticeMessage))
    return str(notices[-1].render()) if notices else ""


def finished_cards(app: WhyscopeApp, tool: str) -> list[ToolCard]:
    return [c for c in app.query(ToolCard) if c.tool_name == tool and c.outcome is not None]


def status(app: WhyscopeApp) -> str:
    line = app.query_one("#status")
    return str(line.render()) if line.display else ""


def guided_launcher(resume: bool) -> Callable[[Callable[[str], None]], Any]:
    """The command line's launcher: the guided mode with the bundled example data, a session in WHYSCOPE_HOME."""

    def launch(say: Callable[[str], None]) -> Any:
        from assistant.config import load_settings
        from assistant.launch import prepare

        return prepare(load_settings(offline=True), [], resume, say, with_example=True)

    return launch


async def started(pilot: Pilot[Any], app: WhyscopeApp) -> None:
    await wait_for(
        pilot,
        lambda: app.conversation is not None and any(m.text for m in app.query(AssistantMessage)),
        "the launcher to start the conversation and show the guided opening",
        state=lambda: chat_log(app),
    )


# -- item 5: answers typed while a turn runs ----------------------------------------------------------------------


async def test_item5_answers_typed_during_a_slow_turn_are_queued_and_fill_their_own_slots_in_order() -> None:
    examples = Catalog()
    examples.add(EXAMPLES / "checkout.csv", "checkout")
    gate = threading.Event()
    gate.set()
    backend = SlowGuided(gate, catalog=examples)
    app = WhyscopeApp(backend, catalog=examples)
    first, second, third = (
        "AI summaries for support agents",
        "agents spend too long reading ticket histories",
        "ticket resolution time; guardrails: customer satisfaction",
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: bool(list(app.query(AssistantMessage))), "the guided opening")
        gate.clear()  # the next turn is slow: the user answers ahead of it
        await press_enter_with(pilot, app, first)
        await wait_for(pilot, lambda: app.busy and backend.calls > 0, "the slow turn to start")
        await wait_for(pilot, lambda: "thinking" in status(app), "the status line to say whyscope is working")
        await press_enter_with(pilot, app, second)
        await press_enter_with(pilot, app, third)
        await wait_for(
            pilot,
            lambda: [w.text for w in app.query(QueuedMessage)] == [second, third],
            "both answers shown as queued, in order",
            state=lambda: chat_log(app),
        )
        assert app.query_one(ChatInput).value == ""  # taken from the box, not thrown away
        assert "2 queued" in status(app)
        assert [m["content"] for m in app.session.messages if m["role"] == "user"] == [first]  # not sent yet
        gate.set()
        await wait_for(
            pilot,
            lambda: not app.busy and not app.queued,
            "the turn and both queued answers to be answered",
            state=lambda: (app.busy, len(app.queued), chat_log(app)),
        )
        assert not list(app.query(QueuedMessage)) and status(app) == ""
        users = [m["content"] for m in app.session.messages if m["role"] == "user"]
        assert users == [first, second, third]
        brief = app.session.brief
        assert brief.intervention.value == first
        assert [step.answer for step in brief.why_chain] == [second]
        assert brief.outcome.value == "ticket resolution time" and tuple(brief.outcome.guardrails) == (
            "customer satisfaction",
        )
        shown = [str(w.render()) for w in app.query(UserMessage)]
        assert shown == [first, second, third]  # the chat shows them where they were sent, in order
        assert_valid_history(app.session.messages)


async def test_item5_esc_stops_the_turn_and_what_was_queued_and_says_so() -> None:
    gate = threading.Event()
    backend = SlowGuided(gate)
    app = WhyscopeApp(backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: bool(list(app.query(AssistantMessage))), "the guided opening")
        await press_enter_with(pilot, app, "AI summaries")
        await wait_for(pilot, lambda: app.busy and backend.calls > 0, "the slow turn to start")
        await press_enter_with(pilot, app, "an answer typed ahead")
        await wait_for(pilot, lambda: len(app.queued) == 1, "the answer to be queued")
        await pilot.press("escape")
        gate.set()
        await wait_for(pilot, lambda: not app.busy, "the cancelled turn to end", state=lambda: chat_log(app))
        dropped = app.query_one(QueuedMessage)
        assert "not sent" in str(dropped.render()) and app.queued == []
        assert "an answer typed ahead" not in [m.get("content") for m in app.session.messages]
        box = app.query_one(ChatInput)
        await pilot.press("up")
        await wait_for(pilot, lambda: box.value == "an answer typed ahead", "Up to recall the unsent answer")


# -- item 6: /run results are part of the session -----------------------------------------------------------------


@pytest.mark.slow
async def test_item6_run_results_reach_the_session_file_export_memo_resume_and_the_plan_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHYSCOPE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    command = "/run ab_test " + json.dumps(AB_TEST)
    app = WhyscopeApp(launcher=guided_launcher(resume=False))
    async with app.run_test(size=(140, 50)) as pilot:
        await started(pilot, app)
        assert "checkout" in app.catalog  # the bundled checkout data
        await enter(pilot, app, command)
        card = await wait_for_value(
            pilot, lambda: next(iter(finished_cards(app, "ab_test")), None), "the /run ab_test card"
        )
        await wait_for(pilot, lambda: not app.busy, "the command to end")
        assert card.result is not None and card.error is None
        summary = card.result["summary"]
        assert summary.startswith("Decision: ")
        store = app.session.store
        assert store is not None
        session_path = store.path
        # the session file: the typed run, with its request and result
        records = [json.loads(line) for line in session_path.read_text(encoding="utf-8").splitlines()]
        runs = [r for r in records if r["type"] == "tool_run"]
        assert [(r["name"], r["request"]["dataset"], r["result"]["summary"]) for r in runs] == [
            ("ab_test", "checkout", summary)
        ]
        # the export and its decision memo
        transcript = tmp_path / "transcript.md"
        await enter(pilot, app, f"/export {transcript}")
        exported = transcript.read_text(encoding="utf-8")
        memo = exported.split("## Decision memo", 1)[1].split("## Conversation", 1)[0]
        assert f"- **ab_test**: {summary}" in memo and "Robustness: not checked yet" in memo
        assert f"> tool result: {summary}" in exported
        # after freezing, the same /run is checked against the plan
        await enter(pilot, app, "/prereg freeze")
        if app.session.prereg.frozen is None:  # a plan with open items is frozen only when the user confirms
            await enter(pilot, app, "/prereg freeze anyway")
        assert app.session.prereg.frozen is not None
        await enter(pilot, app, command)
        await wait_for(pilot, lambda: len(finished_cards(app, "ab_test")) == 2, "the second /run ab_test card")
        await wait_for(pilot, lambda: not app.busy, "the command to end")
        checked = finished_cards(app, "ab_test")[-1]
        assert checked.result is not None and checked.result["plan_check"]["method"] == "ab_test"
        body = str(checked.query_one(".tool-inputs").render())
        assert "pre_registration:" in body
        assert any("Checked against the frozen plan" in str(n.render()) for n in app.query(NoticeMessage))
        assert app.session.runs[-1].plan_check is not None

    loaded = load_session(session_path)
    assert [run.name for run in loaded.runs] == ["ab_test", "ab_test"] and loaded.runs[1].plan_check is not None
    assert loaded.prereg is not None and loaded.prereg.frozen is not None

    resumed = WhyscopeApp(launcher=guided_launcher(resume=True))
    async with resumed.run_test(size=(140, 50)) as pilot:
        await started(pilot, resumed)
        assert resumed.session.store is not None and resumed.session.store.path == session_path
        cards = await wait_for_value(
            pilot,
            lambda: found if len(found := finished_cards(resumed, "ab_test")) == 2 else None,
            "both ab_test cards restored",
        )
        assert cards[0].result is not None and cards[0].result["summary"] == summary
        assert "pre_registration:" in str(cards[1].query_one(".tool-inputs").render())
        assert [run.name for run in resumed.session.runs] == ["ab_test", "ab_test"]
        assert resumed.session.prereg.frozen is not None
        again = tmp_path / "after_resume.md"
        await enter(pilot, resumed, f"/export {again}")
        assert f"- **ab_test**: {summary}" in again.read_text(encoding="utf-8")


# -- item 14: small terminals -------------------------------------------------------------------------------------


def side_shown(app: WhyscopeApp) -> bool:
    side = app.query_one("#side")
    return bool(side.display) and side.region.width > 0


async def test_item14_at_80x24_the_panel_folds_and_the_first_question_is_in_view(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHYSCOPE_HOME", str(tmp_path))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    app = WhyscopeApp(launcher=guided_launcher(resume=False))
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot, app)
        chat = app.query_one("#chat")
        reply = app.query(AssistantMessage).last()
        assert reply.text.rstrip().endswith("What change are you considering, and for whom?")

        def question_in_view() -> bool:  # the reply's last line (the question) is inside the chat's window
            last_line = reply.region.bottom - 1
            return chat.region.y <= last_line < chat.region.bottom and reply.region.height > 0

        await wait_for(
            pilot,
            question_in_view,
            "the first question to be scrolled into view",
            state=lambda: (chat.region, reply.region, chat.scroll_y, chat.max_scroll_y),
        )
        assert not side_shown(app) and chat.region.width >= 76  # the chat has the width, not ~40 columns
        await pilot.press("f2")
        await wait_for(pilot, lambda: side_shown(app), "F2 to show the brief and data panel")
        assert "Brief" in str(app.query_one("#brief").render())
        await pilot.press("f2")
        await wait_for(pilot, lambda: not side_shown(app), "F2 again to fold it")
        await enter(pilot, app, "AI summaries for support agents")  # the next question is in view too
        reply = app.query(AssistantMessage).last()
        await wait_for(pilot, question_in_view, "the next question in view", state=lambda: reply.region)


async def test_item14_a_wide_terminal_keeps_the_panel_and_f2_hides_it() -> None:
    app = WhyscopeApp(Silent())
    async with app.run_test(size=(NARROW_WIDTH + 20, 30)) as pilot:
        await wait_for(pilot, lambda: side_shown(app), "the panel beside the chat")
        await pilot.press("f2")
        await wait_for(pilot, lambda: not side_shown(app), "F2 to hide it")
        await pilot.press("f2")
        await wait_for(pilot, lambda: side_shown(app), "F2 to show it again")


# -- item 16 ------------------------------------------------------------------------------------------------------


async def test_item16_brief_and_prereg_are_rendered_not_raw_markdown() -> None:
    app = WhyscopeApp(Silent())
    async with app.run_test(size=(120, 40)) as pilot:
        await enter(pilot, app, "/brief")
        brief = app.query(MarkdownNote).last()
        assert "**intervention**" in brief.text  # the source is Markdown ...
        kinds = {type(w).__name__ for w in brief.query("*")}
        assert "MarkdownBulletList" in kinds  # ... shown as a list, not as its syntax
        assert not any("**intervention**" in str(n.render()) for n in app.query(NoticeMessage))
        await enter(pilot, app, "/prereg")
        document = app.query(MarkdownNote).last()
        assert document is not brief and "|---" in document.text.replace(" ", "")
        await wait_for(
            pilot,
            lambda: "MarkdownTable" in {type(w).__name__ for w in document.query("*")},
            "the pre-registration's tables rendered as tables",
        )
        assert not any("|---" in str(n.render()).replace(" ", "") for n in app.query(NoticeMessage))


async def test_item16_plot_shows_progress_and_its_output_keeps_its_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import assistant.figures as figures

    release = threading.Event()
    drawing = figures.save_figure

    def slow_save(*args: Any, **options: Any) -> Path:
        release.wait(30)  # a first figure takes seconds (matplotlib loads): later commands answer meanwhile
        return drawing(*args, **options)

    app = WhyscopeApp(Silent())
    target = tmp_path / "curve.png"
    async with app.run_test(size=(120, 40)) as pilot:
        await enter(pilot, app, "/power metric=proportion baseline=0.1 mde=0.1 mde_kind=relative")
        await wait_for(pilot, lambda: bool(finished_cards(app, "power")) and not app.busy, "the power card")
        monkeypatch.setattr(figures, "save_figure", slow_save)
        await press_enter_with(pilot, app, f"/plot {target}")
        await wait_for(
            pilot, lambda: f"drawing the power figure into {target}…" in status(app), "/plot's progress line"
        )
        await enter(pilot, app, "/data")  # a later command answers first
        release.set()
        await wait_for(pilot, lambda: target.exists() and status(app) == "", "the figure to be saved")
        children = list(app.query_one("#chat").children)
        plot_line = next(i for i, w in enumerate(children) if isinstance(w, UserMessage) and w.text.startswith("/plot"))
        saved, data = children[plot_line + 1], children[plot_line + 2]
        assert isinstance(saved, NoticeMessage) and f"Saved the power figure to {target}" in str(saved.render())
        assert isinstance(data, UserMessage) and data.text == "/data"  # the output kept its place


@pytest.mark.slow
async def test_item16_esc_cancels_run_refute() -> None:
    app = WhyscopeApp(Silent(), catalog=catalog())
    refute = {"target": {"tool": "propensity", "request": REQUESTS["propensity"]}, "simulations": 500}
    async with app.run_test(size=(140, 50)) as pilot:
        await press_enter_with(pilot, app, "/run refute " + json.dumps(refute))
        await wait_for(
            pilot,
            lambda: any("░" in str(c.title) for c in app.query(ToolCard)) and "running refute" in status(app),
            "the battery to report progress",
            state=lambda: [str(c.title) for c in app.query(ToolCard)],
            timeout=60,
        )
        await pilot.press("escape")
        card = await wait_for_value(pilot, lambda: next(iter(finished_cards(app, "refute")), None), "the refute card")
        await wait_for(pilot, lambda: not app.busy, "the command to end")
        assert card.error is not None and card.error["code"] == "cancelled"
        assert "cancelled after" in str(card.title)
        assert [(run.name, getattr(run.outcome, "code", None)) for run in app.session.runs] == [("refute", "cancelled")]
        assert_valid_history(app.session.messages)


async def test_item16_load_never_silently_replaces_a_dataset(tmp_path: Path) -> None:
    other = tmp_path / "castle.csv"
    other.write_text("state,year,y\nA,2000,1\nB,2000,2\n", encoding="utf-8")
    examples = Catalog()
    examples.add(EXAMPLES / "checkout.csv", "checkout")
    app = WhyscopeApp(Silent(), catalog=examples)
    async with app.run_test(size=(120, 40)) as pilot:
        await enter(pilot, app, f"/load {other} checkout")
        refusal = last_notice(app)
        assert "A dataset named 'checkout' is already attached (checkout.csv, 12,000 rows); nothing was replaced" in (
            refusal
        )
        assert f"/load {other} checkout --replace" in refusal and f"/load {other} checkout_2" in refusal
        assert app.catalog.get("checkout").n_rows == 12_000
        await enter(pilot, app, f"/load {EXAMPLES / 'checkout.csv'}")  # the file's own name is taken too
        assert "already attached" in last_notice(app)
        await enter(pilot, app, f"/load {other}")  # a free name attaches as before
        assert "castle" in app.catalog and "Attached 'castle'" in last_notice(app)
        await enter(pilot, app, f"/load {other} checkout --replace")
        assert "replacing the earlier 'checkout', 12,000 rows" in last_notice(app)
        assert app.catalog.get("checkout").n_rows == 2


async def test_item16_typing_after_expanding_a_card_from_the_keyboard_reaches_the_input() -> None:
    app = WhyscopeApp(Silent())
    async with app.run_test(size=(120, 40)) as pilot:
        await enter(pilot, app, "/power metric=proportion baseline=0.1 mde=0.1 mde_kind=relative")
        card = await wait_for_value(pilot, lambda: next(iter(finished_cards(app, "power")), None), "the card")
        title = card.query_one("CollapsibleTitle")
        title.focus()
        await wait_for(pilot, lambda: app.focused is title, "the card's title to have the focus")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not card.collapsed, "Enter to expand the card")
        for key in "/help":
            await pilot.press(key if key != "/" else "slash")
        box = app.query_one(ChatInput)
        await wait_for(pilot, lambda: box.value == "/help", "the typed command in the box", state=lambda: box.value)
        await submit(pilot, app, "/help")
        assert "Commands (no model needed)" in last_notice(app)
        title.focus()  # typing with the focus still on a card goes to the box as well
        await wait_for(pilot, lambda: app.focused is title, "the focus back on the card")
        await pilot.press("d")
        await wait_for(pilot, lambda: box.value == "d" and app.focused is box, "the key to reach the box")
