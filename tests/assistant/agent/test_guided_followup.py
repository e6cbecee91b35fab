"""For whom did it work: the guided mode's follow-up after an A/B test or an opt-in analysis (issue 22's "done when").

The offer comes after the analysis (and its checks), with the traits proposed from the same data; yes runs the
heterogeneity tool on the analysis's own outcome and treatment; the user can change the traits, name subgroups,
decline, ask later in words, or give a column the tool refuses and get the offer back with the tool's words.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.agent.conversation import Conversation, Done, Event, ToolFinished
from assistant.agent.guided import GuidedBackend
from assistant.agent.guided_state import Step
from assistant.launch import EXAMPLES
from tests.assistant.agent.test_guided_designs import SCOPING
from tools.data import Catalog

DATA = Path(__file__).resolve().parents[3] / "examples" / "data"

#: A product manager's tour experiment, randomized 50/50 by user, analysed on the bundled onboarding_tour data.
TOUR = [
    "a guided onboarding tour of the new workspace",
    "new users get lost and stop using the product",
    "minutes active in the 28 days after",
    "active users",
    "users",
    "a random half of users without the tour",
    "ship the tour if minutes active rise",
    "a drop in minutes active would change our mind",
    "yes",  # randomized
    "no",  # no interference
    "no",  # no A/A check
    "skip",  # the sizing: the experiment has run
    "onboarding_tour",
    "arm=tour; metric=minutes_active_28d",
    "no",  # no robustness battery
]
OPT_IN = [
    *SCOPING,
    "users opt in themselves",
    "yes",  # pre-period data
    "ok",  # the dataset
    "outcome=task_completion",
    "no",  # no robustness battery
]


def catalog() -> Catalog:
    examples = Catalog()
    for name, file_name in EXAMPLES.items():
        examples.add(DATA / file_name, name)
    return examples


def converse(answers: list[str]) -> tuple[GuidedBackend, list[Event], list[Done]]:
    data = catalog()
    backend = GuidedBackend(catalog=data)
    conversation = Conversation(backend, catalog=data)
    backend.opening()
    events: list[Event] = []
    return backend, events, [conversation.send(answer, events.append) for answer in answers]


def runs(events: list[Event], name: str) -> list[ToolFinished]:
    return [e for e in events if isinstance(e, ToolFinished) and e.name == name]


def result(events: list[Event], name: str) -> dict[str, Any]:
    finished = runs(events, name)
    assert finished and finished[-1].result is not None, [e.error for e in finished]
    return finished[-1].result


def test_after_the_tour_experiment_the_offer_lists_the_traits_measured_before() -> None:
    backend, events, dones = converse(TOUR)
    assert result(events, "ab_test")["effect"] is not None
    offer = dones[-1].text
    assert backend.state.pending is Step.WHOM_OFFER
    assert "for whom it works best" in offer and "'minutes_active_28d'" in offer
    traits = offer.split("varies with: ")[1].split(" (columns")[0]
    assert traits == "weekly_sessions_pre, tenure_months, plan, region"  # pre-period names first; no ID, arm, outcome
    assert "never on slicing" in offer
    assert not runs(events, "heterogeneity")


def test_yes_gives_the_blp_test_gates_and_the_targeting_gain_on_the_same_data() -> None:
    _, events, dones = converse([*TOUR, "yes"])
    request = next(e for e in events if getattr(e, "name", None) == "heterogeneity" and hasattr(e, "arguments"))
    assert '"treatment": "tour"' in request.arguments and '"randomized": true' in request.arguments
    found = result(events, "heterogeneity")
    assert found["outcome"] == "minutes_active_28d" and found["treatment"] == "tour" and found["randomized"]
    # the data's true CATE falls with tenure and differs by plan (examples/generate_uplift.py): the test finds it
    assert found["heterogeneity_found"] and found["blp"]["heterogeneity"]["p_value"] < 0.05
    gates = [g["estimate"] for g in found["gates"]]
    assert len(gates) == 5 and gates[-1] > gates[0]
    assert [t["share"] for t in found["targeting"]] and "gain_vs_all" in found["targeting"][0]
    # the answer is the tool's summary, then the closing; no number of the guided mode's own
    assert found["summary"] in dones[-1].text and "scoping is complete" in dones[-1].text
    assert all(d.unverified == () for d in dones)


def test_changed_traits_and_subgroups_run_as_the_user_said() -> None:
    _, events, dones = converse([*TOUR, "effect_modifiers=tenure_months, plan; subgroups=plan"])
    found = result(events, "heterogeneity")
    assert found["effect_modifiers"] == ["tenure_months", "plan"] and found["subgroup_columns"] == ["plan"]
    assert {s["level"] for s in found["subgroups"]} == {"free", "pro", "team"}
    assert found["summary"] in dones[-1].text


def test_no_ends_the_scoping_and_for_whom_asked_later_brings_the_offer_back() -> None:
    backend, events, dones = converse([*TOUR, "no"])
    assert not runs(events, "heterogeneity") and "scoping is complete" in dones[-1].text
    backend, events, dones = converse([*TOUR, "no", "for whom did it work?"])
    assert backend.state.pending is Step.WHOM_OFFER and "for whom it works best" in dones[-1].text
    backend, events, dones = converse([*TOUR, "no", "for whom did it work?", "yes"])
    assert result(events, "heterogeneity")["treatment"] == "tour"


def test_asked_instead_of_the_robustness_checks_it_offers_the_follow_up() -> None:
    backend, events, dones = converse([*TOUR[:-1], "for whom does it work best?"])
    assert backend.state.pending is Step.WHOM_OFFER and not runs(events, "refute")
    assert "for whom it works best" in dones[-1].text


def test_a_column_the_tool_refuses_comes_back_in_its_words_with_the_offer() -> None:
    backend, events, dones = converse([*TOUR, "effect_modifiers=minutes_active_28d_typo"])
    error = runs(events, "heterogeneity")[-1].error
    assert error is not None and error["code"] == "unknown_column"
    assert error["message"] in dones[-1].text and "for whom it works best" in dones[-1].text
    assert backend.state.pending is Step.WHOM_OFFER
    # fixed in the next answer
    _, events, _ = converse([*TOUR, "effect_modifiers=minutes_active_28d_typo", "effect_modifiers=tenure_months"])
    assert result(events, "heterogeneity")["effect_modifiers"] == ["tenure_months"]


def test_why_is_answered_and_the_offer_asked_again() -> None:
    backend, _, dones = converse([*TOUR, "why does that matter?"])
    assert "Slicing the results" in dones[-1].text and "for whom it works best" in dones[-1].text
    assert backend.state.pending is Step.WHOM_OFFER


def test_after_an_opt_in_it_adjusts_for_the_same_covariates() -> None:
    _, events, dones = converse(OPT_IN)
    covariates = result(events, "propensity")["covariates"]
    assert "the opt-in comparison, adjusted for the same covariates" in dones[-1].text
    _, events, dones = converse([*OPT_IN, "yes"])
    found = result(events, "heterogeneity")
    assert found["randomized"] is False and found["treatment"] == "opted_in"
    assert found["covariates"] == covariates and found["effect_modifiers"] == covariates
    assert found["overlap"] is not None  # the propensity model's overlap, as propensity reports it
    assert all(d.unverified == () for d in dones)


def test_a_checkout_test_with_labelled_arms_sends_the_treated_label() -> None:
    answers = [*TOUR[:12], "ok", "ok", "no"]  # the suggested dataset (checkout) and its proposed columns
    _, events, _ = converse(answers)
    analysis = result(events, "ab_test")
    assert analysis["dataset"] == "checkout" and analysis["arms"] == ["control", "treatment"]
    _, events, _ = converse([*answers, "yes"])
    found = result(events, "heterogeneity")
    assert found["treated_value"] == "treatment" and found["treatment"] == "arm"
    metrics = {c["metric"] for c in analysis["comparisons"]}
    assert found["outcome"] in metrics and not metrics & set(found["effect_modifiers"])
    assert "arm" not in found["effect_modifiers"] and "user_id" not in found["effect_modifiers"]


def test_a_resumed_session_knows_the_follow_up_ran() -> None:
    data = catalog()
    first = GuidedBackend(catalog=data)
    conversation = Conversation(first, catalog=data)
    first.opening()
    for answer in [*TOUR, "yes"]:
        conversation.send(answer, lambda event: None)
    resumed = GuidedBackend(brief=conversation.brief, history=conversation.messages, catalog=data)
    assert {Step.WHOM_OFFER, Step.WHOM, Step.ANALYSIS} <= resumed.state.done
    assert "for whom" not in resumed.opening()  # (a skipped sizing is asked again: sizing answers are not replayed)
