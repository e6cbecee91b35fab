"""Pilot tests of the app with an injected, scripted backend (no network, no LLM).

Every test waits on a condition (``tests/waiting.py``), never a fixed interval: a wait that does not come true
fails with what it was waiting for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from assistant.agent.backends import AssistantTurn, BackendError
from assistant.agent.guided import GuidedBackend
from assistant.agent.session import SessionStore, load_session
from assistant.agent.stream import ToolCallDraft
from assistant.tui.app import WhyscopeApp
from assistant.tui.widgets.assistant_message import AssistantMessage
from assistant.tui.widgets.brief_panel import BriefPanel
from assistant.tui.widgets.chat_input import ChatInput
from assistant.tui.widgets.messages import NoticeMessage, UserMessage
from assistant.tui.widgets.tool_card import ToolCard
from tests.waiting import chat_log, submit, wait_for, wait_for_value

POWER = '{"metric": "proportion", "baseline": 0.1, "mde": 0.1, "mde_kind": "relative"}'
BRIEF = '{"slot": "unit", "value": "users", "status": "confirmed"}'


class Scripted:
    """A backend that plays back turns; ``gate`` can hold a turn open to test cancel."""

    name = "scripted-model"

    def __init__(self, turns: list[AssistantTurn | Exception], gate: threading.Event | None = None) -> None:
        self.turns = list(turns)
        self.gate = gate

    def complete(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[Mapping[str, Any]], on_text: Callable[[str], None]
    ) -> AssistantTurn:
        turn = self.turns.pop(0)
        if isinstance(turn, Exception):
            raise turn
        for word in turn.text.split(" "):
            on_text(word + " ")
            if self.gate is not None:
                self.gate.wait(2)
        return turn


def text(words: str) -> AssistantTurn:
    return AssistantTurn(text=words, finish_reason="stop")


def calls(*pairs: tuple[str, str]) -> AssistantTurn:
    drafts = [ToolCallDraft(id=f"c{i}", name=n, arguments=a) for i, (n, a) in enumerate(pairs)]
    return AssistantTurn(tool_calls=drafts, finish_reason="tool_calls")


async def send(pilot: Pilot[Any], app: WhyscopeApp, message: str) -> None:
    """Type ``message`` into the chat input, press Enter and wait until the app has answered it."""
    box = app.query_one("#chat-input")
    box.value = message  # type: ignore[attr-defined]
    await submit(pilot, app, message)


def last_notice(app: WhyscopeApp) -> str:
    notices = list(app.query(NoticeMessage))
    return str(notices[-1].render()) if notices else ""


def has_reply(app: WhyscopeApp) -> bool:
    return any(m.text for m in app.query(AssistantMessage))


def finished_card(app: WhyscopeApp, tool: str) -> ToolCard | None:
    """The latest card of ``tool`` once it has its result or error, else None."""
    cards = [c for c in app.query(ToolCard) if c.tool_name == tool]
    return cards[-1] if cards and (cards[-1].result is not None or cards[-1].error is not None) else None


async def test_a_message_streams_a_reply() -> None:
    app = WhyscopeApp(Scripted([text("What changes, and for whom?")]))
    async with app.run_test() as pilot:
        await send(pilot, app, "We want AI summaries")
        assert [str(m.render()) for m in app.query(UserMessage)] == ["We want AI summaries"]
        replies = list(app.query(AssistantMessage))
        assert replies and replies[-1].text.strip() == "What changes, and for whom?"


async def test_a_tool_card_shows_its_numbers_and_the_brief_panel_updates() -> None:
    app = WhyscopeApp(Scripted([calls(("update_brief", BRIEF), ("power", POWER)), text("Done.")]))
    async with app.run_test() as pilot:
        await send(pilot, app, "size it")
        cards = list(app.query(ToolCard))
        assert [c.tool_name for c in cards] == ["update_brief", "power"]
        power = cards[1]
        assert power.result is not None and power.result["n_per_arm"] == 14_751
        assert "14,751" in str(power.title)
        assert app.query_one(BriefPanel).brief.unit.value == "users"


async def test_power_and_run_commands_need_no_model() -> None:
    app = WhyscopeApp(Scripted([]))
    async with app.run_test() as pilot:
        await send(pilot, app, "/power metric=proportion baseline=0.1 mde=0.1 mde_kind=relative")
        card = await wait_for_value(pilot, lambda: finished_card(app, "power"), "the /power card to finish")
        assert card.result is not None and card.result["n_per_arm"] == 14_751
        await send(pilot, app, '/run power {"metric": "proportion", "baseline": 12, "mde": 0.01}')
        failed = await wait_for_value(
            pilot, lambda: finished_card(app, "power") if len(app.query(ToolCard)) == 2 else None, "the /run card"
        )
        assert failed is not card and failed.error is not None and failed.error["code"] == "baseline_out_of_range"
        await send(pilot, app, "/run power {not json")
        assert "not valid" in last_notice(app)


async def test_loading_a_bad_file_shows_an_error_and_keeps_the_session(tmp_path: Path) -> None:
    bad = tmp_path / "broken.csv"
    bad.write_text("a,b\n1,2\n3\n", encoding="utf-8")
    good = tmp_path / "ok.csv"
    good.write_text("arm,y\ncontrol,1\ntreatment,2\n", encoding="utf-8")
    app = WhyscopeApp(Scripted([text("Still here.")]))
    async with app.run_test() as pilot:
        await send(pilot, app, f"/load {bad}")  # answered once the loader's notice is shown
        assert "malformed" in last_notice(app)
        await send(pilot, app, f"/load {good} exp")
        assert "exp" in app.catalog
        latin = tmp_path / "latin.csv"
        latin.write_bytes("arm,city\ncontrol,Zürich\ntreatment,Malmö\n".encode("cp1252"))
        await send(pilot, app, f"/load {latin}")
        assert "/load PATH encoding=" in last_notice(app)  # the hint names the option this surface has
        await send(pilot, app, f"/load {latin} latin encoding=cp1252")
        assert "latin" in app.catalog and set(app.catalog.frame("latin")["city"]) == {"Zürich", "Malmö"}
        await send(pilot, app, "/load a b c d")
        assert "Usage: /load PATH [NAME] [encoding=CODEC]" in last_notice(app)
        await send(pilot, app, "are you there?")
        assert list(app.query(AssistantMessage))[-1].text.strip() == "Still here."


async def test_escape_cancels_a_running_turn() -> None:
    gate = threading.Event()
    app = WhyscopeApp(Scripted([text("one two three four five six")], gate=gate))
    async with app.run_test() as pilot:
        box = app.query_one("#chat-input")
        box.value = "go"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.busy and has_reply(app), "the turn to start streaming its reply")
        await pilot.press("escape")
        gate.set()
        await wait_for(pilot, lambda: not app.busy, "the cancelled turn to end", state=lambda: chat_log(app))
        assert len(list(app.query(AssistantMessage))[-1].text.split()) < 6


async def test_backend_errors_are_shown_and_the_conversation_continues() -> None:
    app = WhyscopeApp(
        Scripted([BackendError("unreachable", "Cannot reach llm.test.", "Is it running?"), text("Back again.")])
    )
    async with app.run_test() as pilot:
        await send(pilot, app, "hello")
        assert "Cannot reach llm.test." in last_notice(app)
        await send(pilot, app, "hello again")
        assert list(app.query(AssistantMessage))[-1].text.strip() == "Back again."


async def test_markup_in_text_is_shown_literally() -> None:
    app = WhyscopeApp(Scripted([text("ok")]))
    async with app.run_test() as pilot:
        await send(pilot, app, "[bold]hi[/bold] [@click=app.quit]x[/] \x1b]52;c;AAAA\x07")
        shown = str(list(app.query(UserMessage))[-1].render())
        assert "[bold]hi[/bold]" in shown and "\x1b" not in shown
        assert app.is_running


async def test_guided_mode_opens_with_its_first_question_and_resume_restores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHYSCOPE_HOME", str(tmp_path))
    store = SessionStore(tmp_path / "s.jsonl")
    app = WhyscopeApp(GuidedBackend(), store=store)
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: has_reply(app), "the guided opening question")
        assert "What change are you considering" in app.query(AssistantMessage).first().text
        await send(pilot, app, "AI summaries for support agents")
        assert app.query_one(BriefPanel).brief.intervention.value == "AI summaries for support agents"
    loaded = load_session(store.path)
    resumed = WhyscopeApp(GuidedBackend(brief=loaded.brief), messages=loaded.messages, brief=loaded.brief)
    async with resumed.run_test() as pilot:
        await wait_for(
            pilot,
            lambda: any("AI summaries" in str(m.render()) for m in resumed.query(UserMessage)),
            "the resumed session's messages",
        )
        assert resumed.query_one(BriefPanel).brief.intervention.value == "AI summaries for support agents"


def test_the_panel_lists_the_same_slots_as_the_brief() -> None:
    from assistant.agent.brief import SLOTS as ENGINE_SLOTS
    from assistant.tui.widgets.brief_panel import SLOTS as PANEL_SLOTS

    assert PANEL_SLOTS == ENGINE_SLOTS


async def test_the_command_line_app_starts_through_its_launcher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHYSCOPE_HOME", str(tmp_path))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    from assistant.config import load_settings
    from assistant.launch import prepare

    app = WhyscopeApp(launcher=lambda say: prepare(load_settings(offline=True), [], False, say, with_example=True))
    async with app.run_test() as pilot:
        await wait_for(
            pilot,
            lambda: app.conversation is not None and has_reply(app),
            "the launcher to start a conversation and show its opening",
            state=lambda: chat_log(app),
        )
        assert "checkout" in app.catalog  # the bundled example data
        assert "What change are you considering" in app.query(AssistantMessage).first().text
        assert not app.query_one("#chat-input").disabled


async def test_a_failing_launcher_keeps_the_window_and_says_why() -> None:
    def broken(say: Callable[[str], None]) -> Any:
        raise OSError("disk full")

    app = WhyscopeApp(launcher=broken)
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: bool(last_notice(app)), "a notice saying why the app could not start")
        assert "could not start: OSError: disk full" in str(app.query(NoticeMessage).first().render())
        assert app.query_one("#chat-input").disabled


async def test_unverified_numbers_are_marked_where_they_stand() -> None:
    app = WhyscopeApp(Scripted([calls(("power", POWER)), text("You need 14,751 per arm, about 20,000 in all.")]))
    async with app.run_test() as pilot:
        await send(pilot, app, "size it")
        reply = list(app.query(AssistantMessage))[-1]
        assert "14,751 per arm" in reply.text and "20,000 ⚠" in reply.text
        assert "Unverified numbers" in last_notice(app)


async def test_a_claim_no_result_backs_is_marked_where_it_stands() -> None:
    # issue 25: the SmolLM2 answer: no tool call, a finding nobody measured
    app = WhyscopeApp(Scripted([text("Yes, checkout conversion went up.")]))
    async with app.run_test() as pilot:
        await send(pilot, app, "Did checkout conversion go up?")
        reply = list(app.query(AssistantMessage))[-1]
        assert reply.text.strip() == "Yes, checkout conversion went up ⚠."
        assert "Unsupported claim 'went up': no tool result in this session" in last_notice(app)


async def test_multi_line_input_history_and_completion() -> None:
    app = WhyscopeApp(Scripted([text("one"), text("two")]))
    async with app.run_test() as pilot:
        box = app.query_one(ChatInput)
        box.value = "first line"
        await pilot.press("ctrl+j")
        box.insert("second line")
        await submit(pilot, app, "first line\\nsecond line")
        assert str(list(app.query(UserMessage))[-1].render()) == "first line\nsecond line"
        await send(pilot, app, "again")
        await pilot.press("up")
        await wait_for(pilot, lambda: box.value == "again", "Up to recall the last input", state=lambda: box.value)
        await pilot.press("up")
        await wait_for(
            pilot,
            lambda: box.value == "first line\nsecond line",
            "Up again to recall the two-line input",
            state=lambda: box.value,
        )
        box.value = "/he"
        await pilot.press("tab")
        await wait_for(pilot, lambda: box.value == "/help ", "Tab to complete /help", state=lambda: box.value)


async def test_an_oversized_message_is_not_sent() -> None:
    backend = Scripted([])
    app = WhyscopeApp(backend)
    async with app.run_test() as pilot:
        await send(pilot, app, "x" * 30_000)
        assert "limit is 20,000" in last_notice(app)
        assert app.session.messages[-1]["role"] == "system"  # nothing reached the conversation


async def test_plot_saves_the_latest_figure_and_never_overwrites(tmp_path: Path) -> None:
    app = WhyscopeApp(Scripted([]))
    target = tmp_path / "curve.png"
    async with app.run_test() as pilot:
        await send(pilot, app, "/plot")
        assert "No figure yet" in last_notice(app)
        await send(pilot, app, "/power metric=proportion baseline=0.1 mde=0.1 mde_kind=relative")
        await wait_for(pilot, lambda: finished_card(app, "power") is not None, "the /power card to finish")
        await send(pilot, app, f"/plot {target}")  # answered once the saver's notice is shown
        assert f"Saved the power figure to {target}" in last_notice(app)
        assert target.read_bytes()[:4] == b"\x89PNG"
        await send(pilot, app, f"/plot {target}")
        assert "exists; it was not overwritten" in last_notice(app)
        victim = tmp_path / "victim.txt"
        dangling = tmp_path / "dangling.png"
        dangling.symlink_to(victim)  # a link to a file that does not exist yet: writing would create the victim
        await send(pilot, app, f"/plot {dangling}")
        assert "symbolic link" in last_notice(app) and not victim.exists()
        await send(pilot, app, f"/export {dangling}")
        assert "symbolic link" in last_notice(app) and not victim.exists()
        await send(pilot, app, f"/export {tmp_path / 'transcript.md'}")
        assert "Transcript saved" in last_notice(app) and (tmp_path / "transcript.md").read_text(encoding="utf-8")


@pytest.mark.slow
async def test_guided_mode_draws_the_rd_plot_in_its_tool_card() -> None:
    from tools.data import Catalog

    examples = Catalog()
    examples.add(Path(__file__).resolve().parents[2] / "examples" / "data" / "paywall_cutoff.csv", "paywall_cutoff")
    backend = GuidedBackend(catalog=examples)
    app = WhyscopeApp(backend, catalog=examples)
    answers = ["a paywall", "to convert", "conversion", "trial users", "users", "users below the cutoff"]
    answers += ["keep it if conversion rises", "a drop in sessions", "no", "by a score cutoff", "no", "ok"]
    answers += ["outcome=converted_30d; cutoff=10"]
    async with app.run_test(size=(160, 60)) as pilot:
        await wait_for(pilot, lambda: has_reply(app), "the guided opening question")
        for answer in answers:
            await send(pilot, app, answer)
        card = await wait_for_value(
            pilot, lambda: finished_card(app, "rdd"), "the guided RD analysis to finish", timeout=60
        )
        assert card.result is not None and card.result["cutoff"] == 10

        def body() -> str:
            return str(card.query_one(".tool-inputs").render())

        await wait_for(pilot, lambda: "│" in body() and "●" in body(), "the RD plot in the card", state=body)
        assert "outcome against the running variable" in body()
        assert "[pass] density" in body()


async def test_refute_from_the_app_shows_progress_then_a_row_per_check() -> None:
    from tools.data import Catalog

    examples = Catalog()
    examples.add(Path(__file__).resolve().parents[2] / "examples" / "data" / "paywall_cutoff.csv", "paywall")
    app = WhyscopeApp(Scripted([]), catalog=examples)
    target = '{"tool": "rdd", "request": {"dataset": "paywall", "outcome": "converted_30d", "running": "credits_used"'
    async with app.run_test(size=(160, 60)) as pilot:
        card = ToolCard("probe", "refute", "{}")
        await app.query_one("#chat").mount(card)
        card.progress(1, 4, "density_test")
        assert str(card.title) == "⚙ refute — █████░░░░░░░░░░░░░░░ 1/4 density_test"
        await send(pilot, app, '/run refute {"target": ' + target + ', "cutoff": 10}}}')
        done = await wait_for_value(
            pilot,
            lambda: next((c for c in app.query(ToolCard) if c.tool_name == "refute" and c.result is not None), None),
            "the refutation battery to finish",
            timeout=60,
        )
        assert done.result is not None and done.result["verdict"] == "robust"
        body = str(done.query_one(".tool-inputs").render())
        assert "[pass] density_test: No sign that units sorted themselves across the cutoff. Density" in body
        assert str(done.title).startswith("✓ refute — ")


async def test_the_input_sits_above_the_footer_and_grows_with_its_lines() -> None:
    from textual.widgets import Footer

    app = WhyscopeApp(Scripted([]))
    async with app.run_test(size=(100, 30)) as pilot:
        box, footer = app.query_one(ChatInput), app.query_one(Footer)
        await wait_for(
            pilot, lambda: box.region.height > 0 and footer.region.height > 0, "the input and footer laid out"
        )
        assert box.region.bottom <= footer.region.y  # never drawn under the footer
        one_line = box.region.height
        for key in ["a", "ctrl+j", "b", "ctrl+j", "c"]:
            await pilot.press(key)
        await wait_for(
            pilot,
            lambda: box.region.height == one_line + 2,
            "the input to grow to three lines",
            state=lambda: box.region.height,
        )
        assert box.region.bottom <= footer.region.y


async def test_a_wait_that_never_comes_true_fails_saying_what_it_waited_for() -> None:
    app = WhyscopeApp(Scripted([]))
    async with app.run_test() as pilot:
        with pytest.raises(AssertionError, match=r"timed out after 0.1s waiting for a miracle; saw \['UserMessage'\]"):
            await wait_for(pilot, lambda: False, "a miracle", timeout=0.1, state=lambda: ["UserMessage"])
