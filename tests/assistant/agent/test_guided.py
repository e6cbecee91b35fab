"""The guided mode through the same loop as a model: scoping, a recommendation and a power call, offline."""

from __future__ import annotations

from assistant.agent.conversation import Conversation, Done, Event, TextDelta, ToolFinished
from assistant.agent.guided import GuidedBackend

ANSWERS = [
    "We want to add AI summaries to support tickets for agents",
    "Agents spend too long reading long tickets",
    "median handle time; guardrails: CSAT, reopen rate",
    "support agents in the EU team",
    "agents",
    "agents randomized to no summaries",
    "ship if handle time drops clearly without hurting CSAT",
    "if CSAT falls we would not ship",
    "yes",
    "no",
    "a conversion rate",
    "12%",
    "5%",
    "2000",
]


def converse(answers: list[str]) -> tuple[Conversation, list[Event], list[Done]]:
    backend = GuidedBackend()
    conversation = Conversation(backend)
    events: list[Event] = []
    opening = backend.opening()
    assert "What change are you considering" in opening
    dones = [conversation.send(answer, events.append) for answer in answers]
    return conversation, events, dones


def test_guided_mode_scopes_end_to_end() -> None:
    conversation, events, dones = converse(ANSWERS)
    brief = conversation.brief
    assert brief.complete
    assert brief.intervention.value == "We want to add AI summaries to support tickets for agents"
    assert brief.outcome.value == "median handle time"
    assert brief.outcome.guardrails == ("CSAT", "reopen rate")
    assert [s.answer for s in brief.why_chain] == [
        "Agents spend too long reading long tickets",
        "if CSAT falls we would not ship",
    ]
    finished = {e.name: e for e in events if isinstance(e, ToolFinished) and e.name != "update_brief"}
    assert finished["recommend_method"].result is not None
    assert finished["recommend_method"].result["recommendations"][0]["method"] == "ab_test"
    power = finished["power"].result
    assert power is not None
    assert power["baseline"] == 0.12 and power["mde_relative"] == 0.05 and power["daily_units"] == 2000
    assert power["summary"] in dones[-1].text
    assert "scoping is complete" in dones[-1].text
    assert all(d.unverified == () for d in dones)  # the guided mode never states a number of its own


def test_unclear_answers_are_asked_again() -> None:
    answers = [*ANSWERS[:8], "maybe"]
    _, _events, dones = converse(answers)
    assert "Please answer yes or no" in dones[-1].text
    answers = [*ANSWERS[:11], "about twelve"]
    _, _, dones = converse(answers)
    assert "I need a number here" in dones[-1].text


def test_bad_numbers_come_back_from_the_tool_and_are_asked_again() -> None:
    answers = [*ANSWERS[:11], "12%", "-400%", "skip"]  # a lift that pushes the rate below zero
    _, events, dones = converse(answers)
    errors = [e.error for e in events if isinstance(e, ToolFinished) and e.error]
    assert errors and errors[-1] is not None and errors[-1]["code"] == "mde_out_of_range"
    assert "What is its current value?" in dones[-1].text


def test_a_non_randomizable_opt_in_gets_an_honest_answer() -> None:
    answers = [*ANSWERS[:8], "no", "users opt in themselves", "no"]
    _, events, dones = converse(answers)
    recommend = next(e for e in events if isinstance(e, ToolFinished) and e.name == "recommend_method")
    assert recommend.result is not None and recommend.result["identifiable"] is False
    assert "not identifiable" in dones[-1].text.lower()
    assert not any(isinstance(e, ToolFinished) and e.name == "power" for e in events)


def test_text_streams_through_events() -> None:
    _, events, _ = converse(ANSWERS[:1])
    assert any(isinstance(e, TextDelta) and "Why make this change" in e.text for e in events)
