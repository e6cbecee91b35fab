"""Issue 18, done when: the guided mode carries each of six public data sets nobody here wrote — attached as the
user's own CSV — from the first question to the published answer and a pre-registration with no item missing,
using only natural answers (the journeys are in ``tests/assistant/journeys.py``; the app's are in
``tests/assistant/test_app_own_data.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assistant.agent.conversation import Conversation, Done, Event, ToolFinished, ToolStarted
from assistant.agent.guided import GuidedBackend
from assistant.agent.guided_state import Step
from assistant.prereg.session_plan import draft, freeze_plan, open_items
from tests.assistant.journeys import END, JOURNEYS, Journey, answer_for
from tests.public_data import write_public
from tools.data import Catalog

pytest.importorskip("causaldata")


def journey(journey: Journey, folder: Path, max_turns: int = 80) -> tuple[Conversation, list[Event], list[str]]:
    """Attach the user's CSV and answer what the guided mode asks until the plan has no open item."""
    catalog = Catalog()
    catalog.add(write_public(journey.name, folder))
    backend = GuidedBackend(catalog=catalog)
    conversation = Conversation(backend, catalog=catalog)
    transcript = [backend.opening()]
    events: list[Event] = []
    queues = {key: [value] if isinstance(value, str) else list(value) for key, value in journey.answers.items()}
    for _ in range(max_turns):
        step = backend.state.pending
        if step is Step.PREREG:
            assert backend.state.prereg.item is not None
            answer = answer_for(backend.state.prereg.item)
        else:
            queue = queues.get(END if step is None else step)
            if queue is None:
                pytest.fail(f"{journey.name}: no answer for {step}; the conversation:\n" + "\n".join(transcript))
            if not queue:
                break
            answer = queue.pop(0)
        done: Done = conversation.send(answer, events.append)
        transcript += [f">> [{step}] {answer}", done.text]
        assert done.unverified == () and done.claims == (), "\n".join(transcript)
        if step is Step.PREREG and backend.state.pending is None:
            break  # every item answered
    return conversation, events, transcript


@pytest.mark.slow
@pytest.mark.parametrize("name", list(JOURNEYS))
def test_a_users_own_file_goes_from_the_question_to_the_answer_and_a_complete_plan(name: str, tmp_path: Path) -> None:
    spec = JOURNEYS[name]
    conversation, events, transcript = journey(spec, tmp_path)
    said = "\n".join(transcript)
    # the analysis ran once the user's words had settled its columns, and found the published answer
    calls = [e for e in events if isinstance(e, ToolStarted) and e.name == spec.tool]
    assert calls, f"{spec.tool} never ran:\n{said}"
    request: dict[str, Any] = json.loads(calls[-1].arguments)
    assert {key: request.get(key) for key in spec.request} == dict(spec.request), said
    finished = [e for e in events if isinstance(e, ToolFinished) and e.name == spec.tool]
    assert finished[-1].error is None and finished[-1].result is not None, said
    spec.check(finished[-1].result)
    # the robustness battery ran and its verdict agrees with the design's own checks
    refuted = [e for e in events if isinstance(e, ToolFinished) and e.name == "refute"]
    assert refuted and refuted[-1].result is not None, said
    if any(c["status"] == "fail" for c in finished[-1].result.get("checks", [])):
        assert refuted[-1].result["verdict"] != "robust", said
    # the follow-up the user accepted (for whom it works) ran on the same file
    follow = [e for e in events if isinstance(e, ToolFinished) and e.name == "heterogeneity"]
    if spec.follow_up is not None:
        assert follow and follow[-1].error is None and follow[-1].result is not None, said
        spec.follow_up(follow[-1].result)
    else:
        assert not follow, said
    # no /run, no role=column: every tool call came from the guided mode's reading of plain words
    assert not any("=" in line for line in transcript if line.startswith(">>")), said
    # a pre-registration with nothing missing, every item filled from the session or the user's own words
    document = draft(conversation)
    assert open_items(conversation) == (), said
    statuses = {item.key: item.status for item in document.prereg.items}
    assert "missing" not in statuses.values(), statuses
    assert statuses["method"] == "complete" and statuses["robustness"] == "complete", statuses
    method = document.prereg.item("method").value or ""
    assert spec.tool in method and "None" not in method, method  # the analysis as it ran, in words
    if name == "organ_donations":  # said in words, not a column: the plan says who was treated when
        assert "treated units California from 4 (the others are donors)" in method, method  # Quarter_Num 4
    frozen = freeze_plan(conversation)  # complete: freezes without being told "anyway"
    assert frozen.freeze is not None and not frozen.freeze.missing_items
