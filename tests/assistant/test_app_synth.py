"""Issue 19, done when: a new user runs the bundled one-market example end to end in the guided mode of the app
(`whyscope` with no key, the built-in examples attached) at 80x24 and sees the trajectory plot in the card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from assistant.tui.app import WhyscopeApp
from assistant.tui.widgets.assistant_message import AssistantMessage
from assistant.tui.widgets.chat_input import ChatInput
from assistant.tui.widgets.plot import plot_result
from assistant.tui.widgets.tool_card import ToolCard
from tests.assistant.agent.test_guided_designs import SCOPING
from tests.waiting import chat_log, submit, wait_for
from tools.synth.models import SyntheticControlResult


def default_launch(say: Any) -> Any:
    from assistant.config import load_settings
    from assistant.launch import prepare

    return prepare(load_settings(offline=True), [], False, say, with_example=True)


async def test_one_market_in_the_app_ends_in_the_trajectory_plot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHYSCOPE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    app = WhyscopeApp(launcher=default_launch)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(
            pilot,
            lambda: app.conversation is not None and any(m.text for m in app.query(AssistantMessage)),
            "the guided opening",
            state=lambda: chat_log(app),
        )
        assert "market_launch" in [d.name for d in app.catalog]
        for answer in [*SCOPING, "only one market got it", "yes", "ok", "ok"]:
            app.query_one(ChatInput).value = answer
            await submit(pilot, app, answer)
        cards = [c for c in app.query(ToolCard) if c.tool_name == "synthetic_control" and c.result is not None]
        assert cards, chat_log(app)
        card = cards[-1]
        result = card.outcome
        assert (
            isinstance(result, SyntheticControlResult) and result.effect.ci_lower < 3.0 < result.effect.ci_upper
        )  # the true +3.0
        card.collapsed = False
        body = card.query_one(".tool-inputs", Static)
        await wait_for(pilot, lambda: body.content_region.width > 0, "the card's body laid out")
        shown = [strip.text.rstrip() for strip in body.render_lines(body.content_region.reset_offset)]
        plot = [line.rstrip() for line in plot_result(result)]
        assert shown[: len(plot)] == plot and any("the change starts at 41" in line for line in plot)
        # /plot saves the two-panel PNG (trajectory and the gap among the placebo gaps)
        target = tmp_path / "market.png"
        app.query_one(ChatInput).value = f"/plot {target}"
        await submit(pilot, app, f"/plot {target}")
        await wait_for(pilot, target.exists, "the PNG", state=lambda: chat_log(app))
        assert target.stat().st_size > 20_000
