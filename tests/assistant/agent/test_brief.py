"""The brief fills slot by slot through update_brief; its schema is strict; nothing is confirmed by default."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from assistant.agent.brief import SLOTS, Brief, UpdateBriefRequest, apply_update


def test_a_new_brief_has_every_slot_missing_and_asks_the_first_question() -> None:
    brief = Brief()
    assert brief.missing() == list(SLOTS)
    assert not brief.complete
    assert brief.next_question() == "What change are you considering, and for whom?"


def test_updates_fill_the_brief_and_keep_the_why_chain() -> None:
    brief = Brief()
    brief = apply_update(
        brief,
        UpdateBriefRequest(
            slot="intervention",
            value="AI summaries on the ticket page",
            status="proposed",
            why_question="Why add summaries?",
            why_answer="Agents spend too long reading long tickets.",
        ),
    )
    assert brief.intervention.status == "proposed"
    assert brief.missing()[0] == "intervention"  # proposed is not confirmed
    brief = apply_update(brief, UpdateBriefRequest(slot="intervention", value="AI summaries", status="confirmed"))
    brief = apply_update(
        brief,
        UpdateBriefRequest(
            slot="outcome", value="median handle time", status="confirmed", guardrails=["CSAT", "reopen rate"]
        ),
    )
    assert brief.outcome.guardrails == ("CSAT", "reopen rate")
    brief = apply_update(brief, UpdateBriefRequest(slot="outcome", value="mean handle time", status="confirmed"))
    assert brief.outcome.guardrails == ("CSAT", "reopen rate")  # kept when not re-sent
    assert [step.answer for step in brief.why_chain] == ["Agents spend too long reading long tickets."]
    for slot in ("population", "unit", "counterfactual", "decision"):
        brief = apply_update(brief, UpdateBriefRequest(slot=slot, value="x", status="confirmed"))
    assert brief.complete and brief.next_question() is None


def test_assumptions_are_recorded_when_the_user_moves_on() -> None:
    brief = apply_update(
        Brief(),
        UpdateBriefRequest(
            slot="unit",
            value="users",
            status="proposed",
            assumption="Users, not sessions, are randomized (the user did not confirm).",
        ),
    )
    assert brief.assumptions == ("Users, not sessions, are randomized (the user did not confirm).",)


@pytest.mark.parametrize(
    "fields",
    [
        {"slot": "budget", "value": "x", "status": "confirmed"},
        {"slot": "unit", "value": "", "status": "confirmed"},
        {"slot": "unit", "value": "users", "status": "missing"},
        {"slot": "unit", "value": "users", "status": "confirmed", "guardrails": ["CSAT"]},
        {"slot": "unit", "value": "users", "status": "confirmed", "why_question": "Why?"},
        {"slot": "unit", "value": "users", "status": "confirmed", "colour": "red"},
    ],
)
def test_bad_updates_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        UpdateBriefRequest.model_validate(fields)


def test_update_brief_has_a_strict_schema() -> None:
    from openai import pydantic_function_tool

    schema = pydantic_function_tool(UpdateBriefRequest, name="update_brief")["function"]
    assert schema["strict"] is True
    parameters = schema["parameters"]
    assert parameters["additionalProperties"] is False
    assert sorted(parameters["required"]) == sorted(parameters["properties"])
    assert all(spec.get("description") for spec in parameters["properties"].values())


def test_the_slots_and_their_questions_are_one_table() -> None:
    from typing import get_args

    from assistant.agent import brief, scoping
    from assistant.tui.widgets import brief_panel

    assert brief.SLOTS is scoping.SLOTS and brief_panel.SLOTS is scoping.SLOTS
    assert brief.QUESTIONS is scoping.QUESTIONS
    assert list(scoping.QUESTIONS) == list(SLOTS) and set(scoping.WHY) <= set(SLOTS)
    assert [name for name in Brief.model_fields if name in SLOTS] == list(SLOTS)  # a field per slot, in order
    assert get_args(UpdateBriefRequest.model_fields["slot"].annotation) == SLOTS
    schema = UpdateBriefRequest.model_json_schema()["properties"]["slot"]
    assert schema["enum"] == list(SLOTS) and schema["description"]  # the enum lists the slots the model may name


def test_the_scoping_table_loads_without_pydantic() -> None:
    import json
    import subprocess
    import sys

    probe = "import sys, json, assistant.agent.scoping\nprint(json.dumps(sorted(sys.modules)))"
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    loaded = {name.split(".")[0] for name in json.loads(completed.stdout)}
    assert not loaded & {"pydantic", "tools", "textual"}


def test_replaying_the_update_brief_calls_builds_the_conversations_brief() -> None:
    from assistant.agent.brief import replay

    updates: list[dict[str, object]] = [
        {"slot": "intervention", "value": "AI summaries", "status": "proposed"},
        {"slot": "intervention", "value": "AI summaries", "status": "confirmed", "why_question": "Why?"},  # refused
        {"slot": "outcome", "value": "handle time", "status": "confirmed", "guardrails": ["CSAT"]},
        {"slot": "intervention", "value": "AI summaries", "status": "confirmed"},
    ]
    expected = Brief()
    for update in (updates[0], updates[2], updates[3]):
        expected = apply_update(expected, UpdateBriefRequest.model_validate(update))
    assert replay(updates) == expected
    assert replay([]) == Brief()
    assert replay(updates[2:3], expected).outcome.guardrails == ("CSAT",)


def test_item11_a_long_answer_fits_the_brief_whole() -> None:
    from assistant.agent.brief import MAX_TEXT

    answer = "We want new teams to finish onboarding. " * 80  # about 3,200 characters, as a user pastes a memo
    update = UpdateBriefRequest(slot="intervention", value=answer.strip(), status="confirmed")
    assert apply_update(Brief(), update).intervention.value == answer.strip()
    assert MAX_TEXT >= 10_000  # a few pages
    with pytest.raises(ValidationError):
        UpdateBriefRequest(slot="intervention", value="x" * (MAX_TEXT + 1), status="confirmed")
