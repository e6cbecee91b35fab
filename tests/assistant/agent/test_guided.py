"""The guided mode through the same loop as a model: scoping, a recommendation and a power call, offline."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    "yes",  # the lift, said back: a relative one
    "2000",
    "no",  # no interim looks
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
    assert all(d.unverified == () and d.claims == () for d in dones)  # the guided mode never states a number of its own


def test_unclear_answers_are_asked_again() -> None:
    answers = [*ANSWERS[:8], "hmm, the weather"]
    _, _events, dones = converse(answers)
    assert "Please answer yes or no" in dones[-1].text and "Can you randomly choose" in dones[-1].text
    answers = [*ANSWERS[:11], "about the usual"]
    _, _, dones = converse(answers)
    assert "I need the current value as a number" in dones[-1].text


def test_bad_numbers_come_back_from_the_tool_and_are_asked_again() -> None:
    answers = [*ANSWERS[:11], "12%", "5%", "yes", "1", "no"]  # one unit a day: more years than power allows
    _, events, dones = converse(answers)
    errors = [e.error for e in events if isinstance(e, ToolFinished) and e.error]
    assert errors and errors[-1] is not None and errors[-1]["code"] == "duration_too_long"
    assert errors[-1]["message"] in dones[-1].text and "What is its current value?" in dones[-1].text


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
    from assistant.agent.guided_state import HELP, WHY_ASKED

    # (they name columns)
    asked_with_data = {Step.DATASET, Step.COLUMNS, Step.SPLIT, Step.WHOM_OFFER, Step.AA_OFFER, Step.ASSIGN_OFFER}
    offers = {Step.WHOM_OFFER, Step.AA_OFFER, Step.ASSIGN_OFFER}
    assert offers <= set(WHY_ASKED) and offers <= set(HELP)
    asked_from_the_plan = {Step.PREREG}  # each open item's own question, from the pre-registration's table
    assert {step for step in Step if not step.runs_tool} - asked_with_data - asked_from_the_plan == set(QUESTIONS)
    assert Step.PREREG in WHY_ASKED
    # every question says why it matters when asked, and what to do when the answer is not known
    assert set(QUESTIONS) <= set(WHY_ASKED) and set(QUESTIONS) - {Step.ASSIGNMENT} <= set(HELP)
    assert not any(ch.isdigit() for text in [*WHY_ASKED.values(), *HELP.values()] for ch in text)


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


# -- issue 18: the guided mode reads plain words, never stores a non-answer, and checks numbers as they are given --

DESIGN = ANSWERS[:8]  # the six slots and their whys


def tool_calls(events: list[Event], name: str) -> list[ToolFinished]:
    return [e for e in events if isinstance(e, ToolFinished) and e.name == name]


def recommend_arguments(conversation: Conversation) -> dict[str, object]:
    import json

    call = next(
        c["function"]
        for m in conversation.messages
        for c in m.get("tool_calls") or []
        if c["function"]["name"] == "recommend_method"
    )
    return dict(json.loads(call["arguments"]))


def test_item3_plain_words_for_the_assignment_pick_the_design_they_name() -> None:
    for words, assignment in [
        ("states adopted it in different years", "rollout_by_group_over_time"),
        ("we launched it market by market", "rollout_by_group_over_time"),
        ("vote share above 50% decides who wins", "cutoff"),
        ("users who pass 10 credits see it", "cutoff"),
        ("everyone got it on March 1", "all_at_once"),
        ("users chose to turn it on", "self_selected"),
        ("only in Canada", "single_unit"),
        ("we emailed a random half an invitation", "instrument"),
        ("not by a cutoff, region by region", "rollout_by_group_over_time"),
        ("gradualy, one regoin at a time", "rollout_by_group_over_time"),  # typos
    ]:
        conversation, _, dones = converse([*DESIGN, "no", words, "yes"])
        assert recommend_arguments(conversation)["assignment"] == assignment, words
        assert "Reading that as:" in dones[-2].text, words  # what was understood is said back
        assert all(d.unverified == () and d.claims == () for d in dones)


def test_item3_an_assignment_not_understood_is_said_so_with_numbered_choices_and_never_guessed() -> None:
    _, events, dones = converse([*DESIGN, "no", "the product team decided"])
    assert "I could not tell which of these it is" in dones[-1].text
    assert "\n2. group by group over time" in dones[-1].text and "\n7. at random" in dones[-1].text
    assert not tool_calls(events, "recommend_method")  # no design on a guess
    conversation, _, dones = converse([*DESIGN, "no", "the product team decided", "2", "yes"])
    assert recommend_arguments(conversation)["assignment"] == "rollout_by_group_over_time"


def test_item3_two_designs_at_once_are_asked_about() -> None:
    _, events, dones = converse([*DESIGN, "no", "a cutoff, rolled out region by region"])
    assert "fits more than one" in dones[-1].text
    assert "1. by a score cutoff" in dones[-1].text and "2. group by group" in dones[-1].text
    assert "3. everyone at once" not in dones[-1].text
    assert not tool_calls(events, "recommend_method")


def test_item3_castle_in_plain_words_reaches_difference_in_differences(tmp_path: Path) -> None:
    """The castle-doctrine data (states adopted the law in different years) as a user would describe it."""
    from tools.data import Catalog

    try:
        from tests.public_data import write_public
    except ImportError:  # pragma: no cover - the shared fixture module is the lead's
        import pytest

        pytest.skip("tests/public_data.py is not there")
    catalog = Catalog()
    catalog.add(write_public("castle", tmp_path), "castle")
    backend = GuidedBackend(catalog=catalog)
    conversation = Conversation(backend, catalog=catalog)
    backend.opening()
    events: list[Event] = []
    answers = [
        "castle doctrine (stand your ground) laws",
        "to see whether they deter crime or raise homicides",
        "the homicide rate",
        "US states",
        "states",
        "states that had not adopted the law yet",
        "argue for repeal if homicides rise",
        "no rise in homicides would change our minds",
        "no, states passed the laws themselves",
        "states adopted it in different years",
        "yes, yearly rates for every state since 2000",
    ]
    dones = [conversation.send(answer, events.append) for answer in answers]
    recommended = tool_calls(events, "recommend_method")[-1].result
    assert recommended is not None and recommended["recommendations"][0]["method"] == "diff_in_diff"
    assert recommend_arguments(conversation)["assignment"] == "rollout_by_group_over_time"
    assert all(d.unverified == () and d.claims == () for d in dones)


def sized(answers: list[str]) -> tuple[Conversation, list[Event], list[Done]]:
    return converse([*DESIGN, "yes", "no", *answers])


def test_item4_points_are_absolute_and_said_back_before_power_runs() -> None:
    _, events, dones = sized(["a rate", "10%", "1 percentage point"])
    assert "an absolute lift of 1 percentage point on the current 10%" in dones[-1].text
    assert "Is that right?" in dones[-1].text and not tool_calls(events, "power")  # confirmed first
    _, events, dones = sized(["a rate", "10%", "1 percentage point", "yes", "skip", "no"])
    power = tool_calls(events, "power")[-1].result
    assert power is not None and power["mde_absolute"] == pytest.approx(0.01)
    assert power["mde_relative"] == pytest.approx(0.10)  # 10% -> 11%: what power states, not the guided mode
    assert all(d.unverified == () and d.claims == () for d in dones)


@pytest.mark.parametrize(
    ("lift", "absolute", "relative"),
    [
        ("2 points", 0.02, 0.2),
        ("one point", 0.01, 0.1),
        ("from 10% to 12%", 0.02, 0.2),
        ("5%", 0.005, 0.05),
        ("5 percent", 0.005, 0.05),
        ("5% relative", 0.005, 0.05),
        ("a tenth", 0.01, 0.1),
        ("10% lift", 0.01, 0.1),
    ],
)
def test_item4_the_lift_reaches_power_as_the_user_meant_it(lift: str, absolute: float, relative: float) -> None:
    _, events, dones = sized(["a rate", "10%", lift, "yes", "skip", "no"])
    power = tool_calls(events, "power")[-1].result
    assert power is not None
    assert (power["mde_absolute"], power["mde_relative"]) == (pytest.approx(absolute), pytest.approx(relative))
    assert all(d.unverified == () and d.claims == () for d in dones)


def test_item4_a_lift_said_back_can_be_corrected_and_an_average_takes_an_amount() -> None:
    _, events, dones = sized(["a rate", "10%", "1 point", "no, I meant 1% relative", "yes", "skip", "no"])
    assert "a relative lift of 1%" in dones[-4].text
    power = tool_calls(events, "power")[-1].result
    assert power is not None and power["mde_relative"] == pytest.approx(0.01)
    _, events, dones = sized(["an average", "$25", "30", "+0.5 dollars", "yes", "skip", "no"])
    assert "an absolute lift of +0.5 dollars on the current $25" in dones[-4].text
    power = tool_calls(events, "power")[-1].result
    assert power is not None and power["mde_absolute"] == pytest.approx(0.5) and power["std_dev"] == 30


def test_item12_sizing_answers_are_checked_as_given_in_the_users_words() -> None:
    _, events, dones = sized(["an average", "25", "-5"])
    assert dones[-1].text.startswith("A standard deviation cannot be negative")
    assert "What is the standard deviation" in dones[-1].text and not tool_calls(events, "power")
    _, events, dones = sized(["a rate", "150%"])
    assert "a rate must be below 100%" in dones[-1].text.lower() and "What is its current value?" in dones[-1].text
    _, events, dones = sized(["a rate", "10%", "2 points", "yes", "0"])
    assert "give a number above zero" in dones[-1].text and "How many eligible units" in dones[-1].text
    _, events, dones = sized(["a rate", "10%", "+95 points"])
    assert "100% or above" in dones[-1].text and "smallest lift" in dones[-1].text
    _, events, dones = sized(["an average", "25", "-5", "30", "5%", "yes", "0", "2000", "no"])
    power = tool_calls(events, "power")
    assert len(power) == 1 and power[0].error is None and power[0].result is not None
    assert (power[0].result["std_dev"], power[0].result["daily_units"]) == (30, 2000)
    assert all(d.unverified == () and d.claims == () for d in dones)


def test_item12_an_unknown_standard_deviation_gets_a_way_forward_and_a_range_is_sized_at_its_larger_end(
    tmp_path: Path,
) -> None:
    import pandas as pd

    from tools.data import Catalog

    _, _, dones = sized(["an average", "25", "not sure"])
    assert "two to three times the average" in dones[-1].text and "What is the standard deviation" in dones[-1].text
    _, events, dones = sized(["an average", "25", "between 20 and 40", "5%", "yes", "skip", "no"])
    assert "larger end of 20 and 40" in dones[-5].text
    power = tool_calls(events, "power")[-1].result
    assert power is not None and power["std_dev"] == 40
    assert all(d.unverified == () and d.claims == () for d in dones)
    _, events, dones = sized(["an average", "25", "twice the average", "5%", "yes", "skip", "no"])
    power = tool_calls(events, "power")[-1].result
    assert power is not None and power["std_dev"] == 50  # the power result states the value, not the guided mode
    # with data attached, the column that matches the metric is named as the place to take it from
    pd.DataFrame({"user": range(4), "revenue": [1.0, 2.0, 3.0, 4.0]}).to_csv(tmp_path / "orders.csv", index=False)
    catalog = Catalog()
    catalog.add(tmp_path / "orders.csv", "orders")
    backend = GuidedBackend(catalog=catalog)
    conversation = Conversation(backend, catalog=catalog)
    backend.opening()
    answers = [*DESIGN[:2], "revenue per user", *DESIGN[3:], "yes", "no", "no", "an average", "25", "no idea"]
    last = [conversation.send(answer, lambda event: None) for answer in answers][-1]
    assert "The attached dataset 'orders' has a column 'revenue'" in last.text


def test_item12_not_knowing_twice_leaves_the_sizing_for_later_without_an_error() -> None:
    _, events, dones = sized(["an average", "25", "not sure", "still no idea"])
    assert "The sizing is left for later" in dones[-1].text
    assert not tool_calls(events, "power") and "scoping is complete" in dones[-1].text


def test_item13_i_dont_know_is_never_stored_as_an_answer() -> None:
    answers = [*ANSWERS[:4], "I don't know, what do you suggest?"]
    conversation, _, dones = converse(answers)
    assert conversation.brief.unit.status == "missing" and conversation.brief.unit.value is None
    assert "Most product changes are assigned per user" in dones[-1].text
    assert "What gets assigned to the change" in dones[-1].text
    conversation, _, dones = converse([*answers, "ok"])
    assert conversation.brief.unit.value == "users" and conversation.brief.unit.status == "confirmed"
    conversation, _, _ = converse([*answers, "no idea"])  # twice: left open, and said so in the brief
    assert conversation.brief.unit.status == "proposed" and conversation.brief.unit.value == "not settled yet"
    assert any("unit was left open" in assumption for assumption in conversation.brief.assumptions)


def test_item13_a_why_question_gets_why_the_question_matters_and_the_question_again() -> None:
    from assistant.agent.guided_state import WHY_ASKED, Step

    _, events, dones = converse([*DESIGN, "why does that matter?"])
    assert WHY_ASKED[Step.CAN_RANDOMIZE] in dones[-1].text and "Can you randomly choose" in dones[-1].text
    assert "Please answer yes or no" not in dones[-1].text
    conversation, _, dones = converse([*ANSWERS[:4], "why does that matter?"])
    assert WHY_ASKED[Step.UNIT] in dones[-1].text and conversation.brief.unit.status == "missing"
    conversation, events, _ = converse([*DESIGN, "not sure", "no idea", "states adopted it in different years", "yes"])
    assert recommend_arguments(conversation)["can_randomize"] is None  # left open, not a made-up no
    assert tool_calls(events, "recommend_method")[-1].result is not None


def test_item11_a_long_answer_is_kept_whole_and_nothing_is_flagged() -> None:
    from assistant.agent.brief import MAX_TEXT

    sentence = "Our onboarding asks new teams to invite colleagues, connect a calendar and create a first project. "
    long_answer = (sentence * 40)[:3088].rstrip() + "."
    assert len(long_answer) > 3000  # the answer was 3,089 characters
    conversation, events, dones = converse([long_answer])
    assert conversation.brief.intervention.value == long_answer  # whole
    assert not [e for e in events if isinstance(e, ToolFinished) and e.error]
    assert dones[-1].unverified == ()
    longer = (sentence * 120).strip()
    assert len(longer) > MAX_TEXT
    conversation, events, dones = converse([longer])
    kept = conversation.brief.intervention.value
    assert kept is not None and len(kept) <= MAX_TEXT and longer.startswith(kept) and kept.endswith(".")
    assert "the whole answer stays word for word in the conversation" in dones[-1].text
    assert conversation.messages[1]["content"] == longer  # the conversation has all of it
    assert not [e for e in events if isinstance(e, ToolFinished) and e.error] and dones[-1].unverified == ()


def test_item12_an_experiment_that_already_ran_skips_the_sizing() -> None:
    _, events, dones = sized(["skip, it already ran"])
    assert "The sizing is left for later" in dones[-1].text and not tool_calls(events, "power")
    _, events, dones = sized(["a rate", "it has already run"])
    assert "The sizing is left for later" in dones[-1].text and not tool_calls(events, "power")


# -- issue 21: "will you look at the results before the end?" ------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "looks", "spending"),
    [
        ("no", 1, "obrien_fleming"),
        ("only at the end", 1, "obrien_fleming"),
        ("5 looks", 5, "obrien_fleming"),
        ("yes, five times, Pocock please", 5, "pocock"),
        ("weekly, 4 looks in all", 4, "obrien_fleming"),
    ],
)
def test_the_planned_looks_reach_power_as_a_sequential_design(said: str, looks: int, spending: str) -> None:
    _, events, dones = sized(["a rate", "10%", "10%", "yes", "2000", said])
    call = tool_calls(events, "power")[-1]
    assert call.result is not None
    sequential = call.result["sequential"]
    if looks == 1:
        assert sequential is None
    else:
        assert sequential["looks"] == looks and sequential["spending"] == spending
        assert len(sequential["boundaries"]) == looks and call.result["summary"] in dones[-1].text
        assert "maximum" in call.result["summary"]
    assert all(d.unverified == () and d.claims == () for d in dones)


def test_a_bare_yes_to_looking_early_is_asked_how_many_and_why_is_answered() -> None:
    _, events, dones = sized(["a rate", "10%", "10%", "yes", "2000", "yes"])
    assert "How many looks in all" in dones[-1].text and not tool_calls(events, "power")
    _, events, dones = sized(["a rate", "10%", "10%", "yes", "2000", "why does that matter?"])
    assert "false-positive" in dones[-1].text and "Will you look at the results" in dones[-1].text
    _, events, dones = sized(["a rate", "10%", "10%", "yes", "2000", "30 looks"])
    assert "one to twenty looks" in dones[-1].text and not tool_calls(events, "power")
    assert all(d.unverified == () and d.claims == () for d in dones)
