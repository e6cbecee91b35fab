"""Issues 19, 20 and 21, done when: a new user runs a bundled example end to end in the guided mode of the app
(`whyscope` with no key, the built-in examples attached) at 80x24, reads the answer and sees the design's plot in the
card; `/plot` saves the PNG. One market got the change (synthetic control); a random invite, use optional
(instrumental variables); five looks planned before launch (power's sequential design)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from assistant.tui.app import WhyscopeApp
from assistant.tui.widgets.assistant_message import AssistantMessage
from assistant.tui.widgets.chat_input import ChatInput
from assistant.tui.widgets.plot import plot_result
from assistant.tui.widgets.tool_card import ToolCard
from tests.assistant.agent.test_guided_designs import RUNNING, SCOPING
from tests.waiting import chat_log, submit, wait_for
from tools.iv.models import InstrumentalVariablesResult
from tools.power.models import PowerResult
from tools.results import ToolResult
from tools.synth.models import SyntheticControlResult


def default_launch(say: Any) -> Any:
    from assistant.config import load_settings
    from assistant.launch import prepare

    return prepare(load_settings(offline=True), [], False, say, with_example=True)


def _market(result: ToolResult, plot: list[str], said: str) -> None:
    assert isinstance(result, SyntheticControlResult)
    assert result.effect.ci_lower < 3.0 < result.effect.ci_upper  # examples/generate.py's true +3.0
    assert any("the change starts at 41" in line for line in plot)


def _invite(result: ToolResult, plot: list[str], said: str) -> None:
    assert isinstance(result, InstrumentalVariablesResult) and result.estimand == "LATE"
    assert result.effect.ci_lower < 2.97 < result.effect.ci_upper  # examples/generate_invite.py's true +2.97
    for words in ("intention to treat", "the compliers' share", "(the LATE)"):
        assert words in said  # the ITT, the complier share and the LATE, read in the chat


def _looks(result: ToolResult, plot: list[str], said: str) -> None:
    """Issue 21: five planned looks — the maximum sample size and each look's boundary, in the card and the chat."""
    assert isinstance(result, PowerResult) and result.sequential is not None and result.n_total == 17_202
    assert any("5 looks" in line for line in plot)
    for look in result.sequential.boundaries:  # the card's table of looks: rpact's boundaries (4.877 ... 2.031)
        assert any(f"{look.z_boundary:.3f}" in line for line in plot)
    assert "maximum" in said


CASES: dict[str, tuple[list[str], str, Callable[[ToolResult, list[str], str], None]]] = {
    "market": ([*SCOPING, "only one market got it", "yes", "ok", "ok"], "synthetic_control", _market),
    "invite": (
        [*SCOPING, "a random half got an invite, using it was optional", "ok", "ok"],
        "instrumental_variables",
        _invite,
    ),
    "looks": (RUNNING, "power", _looks),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_bundled_example_in_the_app_ends_in_its_plot(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers, tool, check = CASES[case]
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
        for answer in answers:
            app.query_one(ChatInput).value = answer
            await submit(pilot, app, answer)
        cards = [c for c in app.query(ToolCard) if c.tool_name == tool and c.result is not None]
        assert cards, chat_log(app)
        card = cards[-1]
        card.collapsed = False
        body = card.query_one(".tool-inputs", Static)
        await wait_for(pilot, lambda: body.content_region.width > 0, "the card's body laid out")
        shown = [strip.text.rstrip() for strip in body.render_lines(body.content_region.reset_offset)]
        plot = [line.rstrip() for line in plot_result(card.outcome)]
        assert plot and shown[: len(plot)] == plot  # every plot line on one row, none wrapped
        check(card.outcome, plot, "\n".join(m.text for m in app.query(AssistantMessage)))
        target = tmp_path / f"{case}.png"
        app.query_one(ChatInput).value = f"/plot {target}"
        await submit(pilot, app, f"/plot {target}")
        await wait_for(pilot, target.exists, "the PNG", state=lambda: chat_log(app))
        assert target.stat().st_size > 20_000
