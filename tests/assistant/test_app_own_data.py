"""Issue 18, done when, in the app: each of six public data sets nobody here wrote, attached as the user's own CSV
with `--data`, driven with the Pilot by typed natural answers from the first question to the published answer,
`/prereg` (rendered, nothing missing) and `/prereg freeze` (which freezes a complete plan without asking).

The journeys — the answers and the checks on the result — are ``tests/assistant/journeys.py``'s, shared with the
engine's test (``tests/assistant/agent/test_own_data_journeys.py``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from assistant.agent.guided import GuidedBackend
from assistant.agent.guided_state import Step
from assistant.tui.app import WhyscopeApp
from assistant.tui.widgets.assistant_message import AssistantMessage
from assistant.tui.widgets.chat_input import ChatInput
from assistant.tui.widgets.markdown_note import MarkdownNote
from assistant.tui.widgets.tool_card import ToolCard
from tests.assistant.journeys import END, JOURNEYS, answer_for
from tests.public_data import write_public
from tests.waiting import chat_log, submit, wait_for

pytest.importorskip("causaldata")


def launcher(data: list[str]) -> Callable[[Callable[[str], None]], Any]:
    """`whyscope --offline --data NAME=PATH`: the guided mode on the user's file only."""

    def launch(say: Callable[[str], None]) -> Any:
        from assistant.config import load_settings
        from assistant.launch import prepare

        return prepare(load_settings(offline=True), data, False, say, with_example=True)

    return launch


async def type_answer(pilot: Pilot[Any], app: WhyscopeApp, text: str) -> None:
    app.query_one(ChatInput).value = text
    await submit(pilot, app, text)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(JOURNEYS))
async def test_the_app_carries_a_users_own_file_to_a_frozen_plan(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHYSCOPE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    journey = JOURNEYS[name]
    path = write_public(name, tmp_path)
    app = WhyscopeApp(launcher=launcher([f"{name}={path}"]))
    async with app.run_test(size=(140, 50)) as pilot:
        await wait_for(
            pilot,
            lambda: app.conversation is not None and any(m.text for m in app.query(AssistantMessage)),
            "the guided opening",
            state=lambda: chat_log(app),
        )
        assert app.conversation is not None
        backend = app.conversation.backend
        assert isinstance(backend, GuidedBackend)
        assert list(app.catalog) and [d.name for d in app.catalog] == [name]  # the user's file, no example
        queues = {k: [v] if isinstance(v, str) else list(v) for k, v in journey.answers.items()}
        for _ in range(80):
            step = backend.state.pending
            if step is Step.PREREG:
                assert backend.state.prereg.item is not None
                answer = answer_for(backend.state.prereg.item)
            else:
                queue = queues.get(END if step is None else step)
                assert queue is not None, f"no answer for {step}"
                if not queue:
                    break
                answer = queue.pop(0)
            await type_answer(pilot, app, answer)
            if step is Step.PREREG and backend.state.pending is None:
                break
        cards = [c for c in app.query(ToolCard) if c.tool_name == journey.tool and c.result is not None]
        assert cards, f"{journey.tool} never ran: {chat_log(app)}"
        journey.check(cards[-1].result)
        # the pre-registration: rendered, complete, and frozen without "anyway"
        await type_answer(pilot, app, "/prereg")
        shown = list(app.query(MarkdownNote))
        assert shown, chat_log(app)
        document = shown[-1].text
        assert "**Missing.**" not in document and "| missing |" not in document, document
        assert "Completeness: 21 of 21 items complete." in document or "(0 missing)" in document, document
        await type_answer(pilot, app, "/prereg freeze")
        assert app.session.prereg.frozen is not None
        assert not app.session.prereg.frozen.freeze.missing_items  # type: ignore[union-attr]
