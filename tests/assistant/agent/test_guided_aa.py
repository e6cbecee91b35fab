"""The A/A check before sizing (issue 23's "done when"): the guided mode offers it once an experiment is recommended
and an attached dataset holds the metric; on the bundled session history it catches rows analysed as units and names
the fix, on the bundled checkout data it reads "trustworthy"; the user can decline, change the dataset or columns,
ask why, and a column the tool refuses comes back in the tool's words with the offer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assistant.agent.conversation import Conversation, Done, Event, ToolFinished
from assistant.agent.guided import GuidedBackend
from assistant.agent.guided_state import Step
from tests.assistant.agent.test_guided_designs import catalog
from tools.data import Catalog

EXPERIMENT = [
    "one-click checkout",
    "people abandon the checkout",
    "checkout conversion",
    "all shoppers",
    "users",
    "a random half without it",
    "ship if conversion rises",
    "a drop in order value would stop us",
    "yes",  # randomized
    "no",  # no interference
]


def converse(answers: list[str], data: Catalog | None = None) -> tuple[GuidedBackend, list[Event], list[Done]]:
    attached = data if data is not None else catalog()
    backend = GuidedBackend(catalog=attached)
    conversation = Conversation(backend, catalog=attached)
    backend.opening()
    events: list[Event] = []
    return backend, events, [conversation.send(answer, events.append) for answer in answers]


def aa_runs(events: list[Event]) -> list[ToolFinished]:
    return [e for e in events if isinstance(e, ToolFinished) and e.name == "aa_test"]


def result(events: list[Event]) -> dict[str, Any]:
    runs = aa_runs(events)
    assert runs and runs[-1].result is not None, [r.error for r in runs]
    return runs[-1].result


def test_the_offer_comes_after_the_recommendation_and_names_the_session_history() -> None:
    backend, events, dones = converse(EXPERIMENT)
    assert backend.state.pending is Step.AA_OFFER
    offer = dones[-1].text
    assert "Recommended design: a randomized A/B test" in offer and "A/A check" in offer
    assert "'checkout_sessions'" in offer and "metric 'converted', binary" in offer
    assert not aa_runs(events) and all(d.unverified == () for d in dones)


def test_yes_on_the_session_history_catches_rows_analysed_as_units() -> None:
    backend, events, dones = converse([*EXPERIMENT, "yes"])
    found = result(events)
    assert found["verdict"] == "investigate" and found["repeated_unit"] == "user_id"
    rows, units = found["simulated"][0], found["by_unit"][0]
    assert rows["false_positive_rate"]["rate"] > 0.08 and rows["se_ratio"] < 0.9  # sessions are not independent
    assert units["false_positive_rate"]["ci_lower"] <= 0.05 <= units["false_positive_rate"]["ci_upper"]
    said = dones[-1].text
    assert found["summary"] in said and "cluster_column='user_id'" in said
    assert "To size the experiment" in said and backend.state.pending is Step.METRIC_KIND
    assert all(d.unverified == () and d.claims == () for d in dones)


def test_the_bundled_checkout_data_reads_trustworthy() -> None:
    _, events, dones = converse([*EXPERIMENT, "dataset=checkout; metric=revenue"])
    found = result(events)
    assert found["dataset"] == "checkout" and found["simulated"][0]["metric"] == "revenue"
    assert found["verdict"] == "trustworthy" and found["repeated_unit"] is None
    assert "A/A verdict: trustworthy" in dones[-1].text


def test_no_goes_straight_to_the_sizing() -> None:
    backend, events, dones = converse([*EXPERIMENT, "no"])
    assert not aa_runs(events) and backend.state.pending is Step.METRIC_KIND
    assert dones[-1].text.startswith("To size the experiment")


def test_why_is_answered_and_the_offer_asked_again() -> None:
    backend, _, dones = converse([*EXPERIMENT, "why?"])
    assert "independent" in dones[-1].text and "A/A check" in dones[-1].text
    assert backend.state.pending is Step.AA_OFFER


def test_a_column_the_tool_refuses_comes_back_with_the_offer() -> None:
    backend, events, dones = converse([*EXPERIMENT, "metric=device"])
    error = aa_runs(events)[-1].error
    assert error is not None and error["code"] == "non_numeric_metric"
    assert error["message"] in dones[-1].text and "A/A check" in dones[-1].text
    assert backend.state.pending is Step.AA_OFFER
    _, events, _ = converse([*EXPERIMENT, "metric=device", "metric=minutes"])
    assert result(events)["simulated"][0]["metric"] == "minutes"


def test_the_users_own_history_is_proposed_before_the_examples(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    users = np.repeat(np.arange(400), 3)
    level = rng.normal(0, 1, 400)
    frame = pd.DataFrame(
        {
            "account_id": [f"a{u}" for u in users],
            "converted": (rng.random(len(users)) < 0.2 + 0.15 * (level[users] > 0)).astype(int),
        }
    )
    frame.to_csv(tmp_path / "my_history.csv", index=False)
    data = catalog()
    data.add(tmp_path / "my_history.csv", "my_history")
    _, events, _ = converse([*EXPERIMENT, "yes"], data)
    found = result(events)
    assert found["dataset"] == "my_history" and found["repeated_unit"] == "account_id"


def test_a_resumed_session_does_not_offer_it_again() -> None:
    data = catalog()
    first = GuidedBackend(catalog=data)
    conversation = Conversation(first, catalog=data)
    first.opening()
    for answer in [*EXPERIMENT, "yes"]:
        conversation.send(answer, lambda event: None)
    resumed = GuidedBackend(brief=conversation.brief, history=conversation.messages, catalog=data)
    assert {Step.AA_OFFER, Step.AA} <= resumed.state.done
    assert "To size the experiment" in resumed.opening()


def test_the_pre_registration_cites_the_aa_check_as_the_platform_check() -> None:
    from assistant.prereg import session_facts
    from assistant.prereg.session_plan import draft

    data = catalog()
    backend = GuidedBackend(catalog=data)
    conversation = Conversation(backend, catalog=data)
    backend.opening()
    for answer in [*EXPERIMENT, "yes"]:
        conversation.send(answer, lambda event: None)
    facts = session_facts(conversation.runs, data)
    cited = facts.fields["quality_checks"]
    run = next(r for r in conversation.runs if r.name == "aa_test").outcome
    rate = run.simulated[0].false_positive_rate
    assert cited.startswith("A/A check before the experiment (aa_test on 'checkout_sessions'): 1,000 random splits")
    assert "verdict investigate" in cited and f"{rate.rate:.1%} of splits significant" in cited
    assert "cluster_column='user_id'" in cited
    item = draft(conversation).prereg.item("quality_checks")
    assert item.value is not None and "A/A check before the experiment" in item.value


def test_measure_it_takes_the_baseline_and_the_spread_from_the_history() -> None:
    """Issue 24's power from history in the guided mode: at the baseline question, 'measure it' runs metric_history
    on the attached column that holds the metric, and the sizing goes on with its figures (no number of the guided
    mode's own)."""
    answers = [*EXPERIMENT[:2], "revenue per user", *EXPERIMENT[3:], "no", "an average"]
    backend, _, dones = converse(answers)
    assert "Or say 'measure it'" in dones[-1].text and "'checkout' (column 'revenue')" in dones[-1].text
    backend, events, dones = converse([*answers, "measure it"])
    runs = [e for e in events if isinstance(e, ToolFinished) and e.name == "metric_history"]
    assert runs and runs[-1].result is not None
    measured = runs[-1].result
    sizing = backend.state.sizing
    assert sizing.baseline == measured["baseline"] and sizing.std_dev == measured["std_dev"]
    assert measured["summary"] in dones[-1].text and backend.state.pending is Step.MDE
    assert all(d.unverified == () and d.claims == () for d in dones)
    # resumed, the measured figures are known again
    data = catalog()
    first = GuidedBackend(catalog=data)
    conversation = Conversation(first, catalog=data)
    first.opening()
    for answer in [*answers, "measure it"]:
        conversation.send(answer, lambda event: None)
    resumed = GuidedBackend(brief=conversation.brief, history=conversation.messages, catalog=data)
    assert resumed.state.sizing.baseline == measured["baseline"] and Step.STD_DEV in resumed.state.done


def test_the_unit_the_check_found_is_proposed_as_the_experiments_cluster(tmp_path: Path) -> None:
    """Sessions of users in the user's own experiment file: the A/A check finds user_id repeating, and when the
    experiment is analysed its columns proposal counts users (cluster=user_id) with the reason."""
    rng = np.random.default_rng(21)
    users = np.repeat(np.arange(600), rng.integers(1, 6, 600))
    level = rng.normal(0, 1, 600)
    frame = pd.DataFrame(
        {
            "user_id": [f"u{u:04d}" for u in users],
            "arm": np.where(rng.random(600) < 0.5, "control", "treatment")[users],
            "converted": (rng.random(len(users)) < 0.15 + 0.1 * (level[users] > 0.5)).astype(int),
        }
    )
    frame.to_csv(tmp_path / "checkout_test.csv", index=False)
    data = catalog()
    data.add(tmp_path / "checkout_test.csv", "checkout_test")
    answers = [*EXPERIMENT, "yes", "skip", "ok"]
    _, events, dones = converse(answers, data)
    assert result(events)["repeated_unit"] == "user_id"
    proposal = dones[-1].text
    assert "cluster=user_id" in proposal and "the A/A check found its rows repeat" in proposal
