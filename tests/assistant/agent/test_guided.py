"""The guided mode through the same loop as a model: scoping, a recommendation and a power call, offline."""

from __future__ import annotations

from pathlib import Path

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


def test_the_slots_are_asked_in_the_briefs_words_and_the_whys_join_its_chain() -> None:
    from assistant.agent.scoping import QUESTIONS, SLOTS, WHY

    conversation, _, dones = converse(ANSWERS[:8])
    asked = [d.text for d in dones]
    positions = [next(i for i, text in enumerate(asked) if QUESTIONS[slot] in text) for slot in SLOTS[1:]]
    assert positions == sorted(positions)  # each slot asked once, in the brief's order
    assert [step.question for step in conversation.brief.why_chain] == list(WHY.values())


def test_the_guided_state_is_typed_and_the_brief_is_the_conversations() -> None:
    from assistant.agent.guided_state import Step

    backend = GuidedBackend()
    conversation = Conversation(backend)
    backend.opening()
    for answer in ANSWERS:
        conversation.send(answer, lambda event: None)
    state = backend.state
    assert state.design.can_randomize is True and state.design.interference is False
    assert state.design.method == "ab_test" and state.design.experiment
    assert (state.sizing.metric, state.sizing.baseline, state.sizing.mde) == ("proportion", 0.12, 0.05)
    assert {Step.RECOMMEND, Step.POWER} <= state.done and state.pending is None
    assert backend.brief == conversation.brief  # read from the transcript, not kept beside it


def test_the_power_request_is_the_sizing_answers_and_the_models_defaults() -> None:
    import json

    from tools.power.models import PowerRequest

    conversation, _, _ = converse(ANSWERS)
    call = next(
        c["function"]
        for m in conversation.messages
        for c in m.get("tool_calls") or []
        if c["function"]["name"] == "power"
    )
    arguments = json.loads(call["arguments"])
    assert list(arguments) == list(PowerRequest.model_fields)
    assert PowerRequest.model_validate(arguments).model_dump() == arguments
    assert arguments["alpha"] == PowerRequest.model_fields["alpha"].default


def test_a_resumed_session_skips_confirmed_slots_from_its_brief_or_its_messages() -> None:
    conversation, _, _ = converse(ANSWERS[:3])
    from_messages = GuidedBackend(history=conversation.messages).opening()
    from_brief = GuidedBackend(brief=conversation.brief).opening()
    assert from_messages.startswith("Welcome back") and "Which users, accounts or markets" in from_messages
    assert "Which users, accounts or markets" in from_brief


def test_an_experiment_is_recognised_by_its_tools_guide() -> None:
    from assistant.agent.guided import _is_experiment

    assert _is_experiment("ab_test") and _is_experiment("cluster_ab_test")
    assert not _is_experiment("diff_in_diff") and not _is_experiment("synthetic_control")
    assert not _is_experiment(None)


def test_every_question_step_has_its_words() -> None:
    from assistant.agent.guided_state import QUESTIONS, SCOPING, Step, slot_of
    from assistant.agent.scoping import SLOTS, WHY

    assert [slot_of(step) for step in SCOPING if not step.is_why] == list(SLOTS)
    assert [slot_of(step) for step in SCOPING if step.is_why] == list(WHY)
    asked_with_data = {Step.DATASET, Step.COLUMNS}
    assert {step for step in Step if not step.runs_tool} - asked_with_data == set(QUESTIONS)


def test_a_bound_backend_reads_the_conversations_own_brief() -> None:
    from assistant.agent.brief import Brief, UpdateBriefRequest, apply_update

    backend = GuidedBackend()
    conversation = Conversation(backend)
    backend.bind(conversation)
    assert backend.brief is conversation.brief
    conversation.brief = apply_update(Brief(), UpdateBriefRequest(slot="unit", value="teams", status="confirmed"))
    assert backend.brief is conversation.brief  # no copy: a brief set on the conversation is the one read
    bound = GuidedBackend()
    conversation = Conversation(bound)
    bound.bind(conversation)
    bound.opening()
    dones = [conversation.send(answer, lambda event: None) for answer in ANSWERS]
    assert conversation.brief.complete and "scoping is complete" in dones[-1].text
    assert [step.answer for step in conversation.brief.why_chain][1] == ANSWERS[7]


def test_the_guided_mode_shows_the_typed_result_not_the_marked_text_written_for_the_model(tmp_path: Path) -> None:
    """The history's tool answer marks data for the model (⟦new checkout⟧); the user reads the result itself."""
    import numpy as np
    import pandas as pd

    from assistant.agent.guided_state import tool_payload
    from assistant.agent.runner import ToolRun
    from tools.data import Catalog
    from tools.registry import dispatch, get_tool, parse_request

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"arm": rng.choice(["control", "new checkout"], 400), "converted": rng.integers(0, 2, 400)})
    frame.to_csv(tmp_path / "ab.csv", index=False)
    catalog = Catalog()
    catalog.add(tmp_path / "ab.csv", "ab")
    request = {"dataset": "ab", "arm_column": "arm", "metrics": [{"name": "converted", "kind": "binary"}]}
    result = dispatch("ab_test", request, catalog)
    run = ToolRun("c1", "ab_test", parse_request(get_tool("ab_test"), request), result)
    answer = {"role": "tool", "tool_call_id": "c1", "content": run.for_model()}
    assert "⟦" in tool_payload(answer)["summary"]  # what the model reads
    shown = tool_payload(answer, [run])["summary"]
    assert "⟦" not in shown and "new checkout" in shown and shown == result.summary  # type: ignore[union-attr]
