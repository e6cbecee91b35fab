"""A cluster-randomized design is sized with its cluster size and ICC (eval scenario marketplace_interference).

When units interfere, recommend_method proposes randomizing whole clusters; a sample size computed as if units were
independent understates what that test needs by the design effect 1 + (m - 1) ICC. The guided mode asks for the
cluster size and the ICC for that design only, reads them from natural answers, never assumes an ICC, and power
gets both.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from assistant.agent.answers import Reading
from assistant.agent.answers_cluster import Cluster, read_cluster
from assistant.agent.conversation import Conversation, Done, Event, ToolFinished
from assistant.agent.guided import GuidedBackend
from assistant.agent.guided_state import QUESTIONS, SizingNumbers, Step, power_request
from tools.data import Catalog
from tools.power import power
from tools.power.models import PowerRequest

CORPUS = Path(__file__).parent / "corpus" / "cluster.tsv"

SCOPING = [
    "A smart-pricing suggestion for our sellers",
    "Items sit unsold because sellers overprice",
    "sell-through rate; guardrails: average sale price",
    "every active seller",
    "sellers, grouped by city",
    "cities that do not get the suggestion",
    "ship if sell-through goes up without prices falling",
    "no gain in sell-through would stop it",
]
#: Randomizable, and units interfere: recommend_method's first design is cluster_ab_test.
DESIGN = ["yes", "yes"]
#: A rate of 30%, a lift of two points (said back and confirmed).
SIZING = ["a rate", "30%", "2 percentage points", "yes"]
AFTER = ["skip", "no"]  # no daily units, no interim looks
CLUSTER_QUESTION = "how alike are outcomes within one cluster"


def converse(answers: list[str]) -> tuple[Conversation, GuidedBackend, list[Event], list[Done]]:
    backend = GuidedBackend()
    conversation = Conversation(backend)
    events: list[Event] = []
    backend.opening()
    dones = [conversation.send(answer, events.append) for answer in answers]
    return conversation, backend, events, dones


def power_runs(events: list[Event]) -> list[ToolFinished]:
    return [e for e in events if isinstance(e, ToolFinished) and e.name == "power"]


def power_arguments(conversation: Conversation) -> list[dict[str, Any]]:
    return [
        json.loads(call["function"]["arguments"])
        for message in conversation.messages
        for call in message.get("tool_calls") or []
        if call["function"]["name"] == "power"
    ]


# -- the reader ----------------------------------------------------------------------------------------------------


def corpus() -> list[Any]:
    rows = []
    for number, line in enumerate(CORPUS.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip() and not line.startswith("#"):
            phrasing, expected = line.split("\t")
            rows.append(pytest.param(phrasing, expected.strip(), id=f"{number}:{phrasing[:40]}"))
    return rows


def shown(reading: Reading[Cluster]) -> str:
    """A reading as the corpus writes it."""
    if reading.kind == "skip":
        return "skip"
    if reading.kind != "answer":
        return f"?{reading.kind}"
    assert reading.value is not None
    size, icc = reading.value.size, reading.value.icc
    parts = [f"{size.value:g}" if size is not None else "-", f"{icc.value:g}" if icc is not None else "-"]
    return " ".join([*parts, *(["dont_know"] if "dont_know" in reading.note else [])])


@pytest.mark.parametrize(("phrasing", "expected"), corpus())
def test_the_cluster_reader_reads_what_a_careful_human_reads(phrasing: str, expected: str) -> None:
    assert shown(read_cluster(phrasing)) == expected


def test_the_corpus_is_large_enough_and_covers_each_kind() -> None:
    expected = {row.values[1] for row in corpus()}
    assert len(corpus()) >= 40
    assert {"?invalid", "?unclear", "?dont_know", "?why", "?meaning", "skip"} <= expected
    assert any(e.endswith("dont_know") and e[0].isdigit() for e in expected)


def test_refusals_say_why_and_what_is_read_is_said_back_in_the_users_words() -> None:
    assert "not including, one" in read_cluster("icc 1.2").reason and "negative" in read_cluster("icc -0.1").reason
    assert "at least one unit" in read_cluster("0.5 per cluster, icc 0.05").reason
    assert "number of clusters" in read_cluster("12 markets").reason
    ranged = read_cluster("icc between 0.01 and 0.05, 40 per city")
    assert ranged.value is not None and ranged.value.icc is not None
    assert ranged.value.icc.said == "0.01 and 0.05" and ranged.note == "range"  # the larger end: the safe side
    words = read_cluster("forty per cluster, ICC five percent").value
    assert words is not None and words.size is not None and words.icc is not None
    assert (words.size.said, words.icc.said) == ("forty", "five percent")


# -- the request ---------------------------------------------------------------------------------------------------


def test_the_power_request_carries_the_cluster_figures_only_when_both_are_known() -> None:
    sizing = SizingNumbers(metric="proportion", baseline=0.3, mde=0.02, mde_kind="absolute")
    plain = power_request(sizing)
    assert plain["cluster_size"] is None and plain["icc"] is None
    sizing.cluster_size = 40.0
    assert power_request(sizing)["cluster_size"] is None  # half a cluster design is not sent
    sizing.icc = 0.05
    request = power_request(sizing)
    assert (request["cluster_size"], request["icc"]) == (40.0, 0.05)
    assert list(request) == list(PowerRequest.model_fields)
    assert PowerRequest.model_validate(request).model_dump() == request


# -- the interview -------------------------------------------------------------------------------------------------


def closed_form_n(p1: float, delta: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Per-arm units of the two-sided two-proportion z-test with equal arms, pooled variance under the null:
    n = (z_(1-alpha/2) sqrt(2 pbar qbar) + z_power sqrt(p1 q1 + p2 q2))^2 / delta^2 (Fleiss, Levin and Paik)."""
    p2 = p1 + delta
    pbar = (p1 + p2) / 2
    z_a, z_b = stats.norm.ppf(1 - alpha / 2), stats.norm.ppf(power)
    return float(
        (z_a * math.sqrt(2 * pbar * (1 - pbar)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / delta**2
    )


def test_a_cluster_design_is_sized_with_its_cluster_size_and_icc_by_the_design_effect() -> None:
    answers = [*SCOPING, *DESIGN, *SIZING, "about 40 sellers per city and an ICC around 0.05", *AFTER]
    conversation, backend, events, dones = converse(answers)
    assert backend.state.design.method == "cluster_ab_test"
    assert CLUSTER_QUESTION in dones[len(SCOPING) + len(DESIGN) + len(SIZING) - 1].text
    (arguments,) = power_arguments(conversation)
    assert (arguments["cluster_size"], arguments["icc"]) == (40.0, 0.05)
    (run,) = power_runs(events)
    clustered = run.result
    assert clustered is not None and clustered["summary"] in dones[-1].text
    design_effect = 1 + (40 - 1) * 0.05
    np.testing.assert_allclose(clustered["design_effect"], design_effect, rtol=1e-12)

    independent = power(PowerRequest.model_validate({**arguments, "cluster_size": None, "icc": None}))
    unrounded = closed_form_n(0.3, 0.02)
    # each size is the closed form rounded up (within one unit: the tool also counts the test's far tail)
    assert abs(independent.n_per_arm - math.ceil(unrounded)) <= 1
    assert abs(clustered["n_per_arm"] - math.ceil(unrounded * design_effect)) <= 1
    np.testing.assert_allclose(clustered["n_per_arm"] / independent.n_per_arm, design_effect, rtol=2e-4)
    assert clustered["clusters_per_arm"] == math.ceil(clustered["n_per_arm"] / 40)
    assert "Sizing clusters of 40 units with an ICC of 0.05" in "".join(d.text for d in dones)
    assert all(d.unverified == () for d in dones)  # every number said is the user's or a tool's


def test_an_ordinary_ab_test_is_not_asked_about_clusters() -> None:
    answers = [*SCOPING, "yes", "no", *SIZING, *AFTER]
    conversation, backend, events, dones = converse(answers)
    assert backend.state.design.method == "ab_test"
    assert not any(CLUSTER_QUESTION in d.text for d in dones) and Step.CLUSTER not in backend.state.done
    (arguments,) = power_arguments(conversation)
    assert arguments["cluster_size"] is None and arguments["icc"] is None
    assert len(power_runs(events)) == 1


def test_what_one_answer_leaves_out_is_asked_again() -> None:
    answers = [*SCOPING, *DESIGN, *SIZING, "about 40 sellers per city"]
    _, backend, events, dones = converse(answers)
    assert "I still need the ICC" in dones[-1].text and backend.state.pending is Step.CLUSTER
    _, _, events, dones = converse([*answers, "icc 2%", *AFTER])
    (run,) = power_runs(events)
    assert run.result is not None and (run.result["cluster_size"], run.result["icc"]) == (40.0, 0.02)
    _, _, _, dones = converse([*SCOPING, *DESIGN, *SIZING, "ICC 0.05"])
    assert "how many units a cluster holds" in dones[-1].text


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        ("icc 1.2", "not including, one"),
        ("0.5 per cluster, icc 0.05", "at least one unit"),
        ("icc -0.1", "cannot be negative"),
        ("12 markets", "number of clusters"),
    ],
)
def test_a_figure_that_cannot_be_right_is_refused_with_the_reason(answer: str, says: str) -> None:
    _, backend, events, dones = converse([*SCOPING, *DESIGN, *SIZING, answer])
    assert says in dones[-1].text and QUESTIONS[Step.CLUSTER] in dones[-1].text
    assert backend.state.sizing.cluster_size is None and backend.state.sizing.icc is None
    assert not power_runs(events)


def test_an_unknown_icc_is_never_assumed_and_the_design_is_never_sized_as_independent() -> None:
    answers = [*SCOPING, *DESIGN, *SIZING, "40 per city, no idea about the icc"]
    _, backend, events, dones = converse(answers)
    assert "cannot account for the clustering" in dones[-1].text and "'skip'" in dones[-1].text
    assert backend.state.sizing.cluster_size == 40.0 and backend.state.sizing.icc is None
    assert not power_runs(events)
    conversation, backend, events, dones = converse([*answers, "I don't know"])
    assert "cannot account for the clustering" in dones[-1].text and "left for later" in dones[-1].text
    assert "the cluster size and the ICC too" in dones[-1].text
    assert not power_runs(events) and not power_arguments(conversation)
    assert {Step.CLUSTER, Step.POWER} <= backend.state.done  # the interview goes on past the sizing


def test_a_why_gets_the_reason_and_skip_leaves_the_sizing_for_later() -> None:
    _, _, _, dones = converse([*SCOPING, *DESIGN, *SIZING, "why does that matter?"])
    assert "design effect" in dones[-1].text and QUESTIONS[Step.CLUSTER] in dones[-1].text
    _, _, events, dones = converse([*SCOPING, *DESIGN, *SIZING, "skip"])
    assert "left for later" in dones[-1].text and not power_runs(events)


def test_a_resumed_session_keeps_the_cluster_figures() -> None:
    answers = [*SCOPING, *DESIGN, *SIZING, "clusters of 25, icc 0.1", *AFTER]
    conversation, _, _, _ = converse(answers)
    resumed = GuidedBackend(history=conversation.messages)
    assert (resumed.state.sizing.cluster_size, resumed.state.sizing.icc) == (25.0, 0.1)
    assert {Step.CLUSTER, Step.POWER} <= resumed.state.done


# -- 'measure it': the cluster size and the ICC from an attached history ------------------------------------------


def history(tmp_path: Path, columns: tuple[str, ...] = ("city",)) -> Catalog:
    """Past sell-through of 60 cities of 40 sellers, cities differing (a true ICC near 0.05), attached alone."""
    rng = np.random.default_rng(7)
    city = np.repeat(np.arange(60), 40)
    rate = np.clip(0.3 + rng.normal(0, 0.1, 60), 0.02, 0.98)[city]
    frame = pd.DataFrame({"seller_id": np.arange(city.size), "sell_through": (rng.random(city.size) < rate) * 1})
    for name in columns:
        frame[name] = [f"{name}{c:02d}" for c in city]
    frame.to_csv(tmp_path / "listings.csv", index=False)
    data = Catalog()
    data.add(tmp_path / "listings.csv", "listings")
    return data


def converse_with(answers: list[str], data: Catalog) -> tuple[Conversation, GuidedBackend, list[Event], list[Done]]:
    backend = GuidedBackend(catalog=data)
    conversation = Conversation(backend, catalog=data)
    backend.opening()
    events: list[Event] = []
    dones = [conversation.send(answer, events.append) for answer in answers]
    return conversation, backend, events, dones


#: The sizing with a history attached: the A/A check declined, the baseline given (the lift is sized on it).
SIZING_WITH_HISTORY = ["no", *SIZING]


def test_measure_it_takes_the_cluster_size_and_the_icc_from_the_history(tmp_path: Path) -> None:
    data = history(tmp_path)
    answers = [*SCOPING, *DESIGN, *SIZING_WITH_HISTORY]
    _, _, _, dones = converse_with(answers, data)
    assert "Or say 'measure it'" in dones[-1].text and "clusters by column 'city'" in dones[-1].text
    conversation, backend, events, dones = converse_with([*answers, "measure it", *AFTER], data)
    (measured,) = [e.result for e in events if isinstance(e, ToolFinished) and e.name == "metric_history"]
    assert measured is not None and measured["rows_per_unit"] == 40.0 and 0 < measured["icc"] < 1
    sizing = backend.state.sizing
    assert (sizing.cluster_size, sizing.icc) == (40.0, measured["icc"]) and sizing.baseline == 0.3
    (arguments,) = power_arguments(conversation)
    assert (arguments["cluster_size"], arguments["icc"], arguments["baseline"]) == (40.0, measured["icc"], 0.3)
    (run,) = power_runs(events)
    assert run.result is not None
    np.testing.assert_allclose(run.result["design_effect"], measured["design_effect"], rtol=1e-9)
    said = "".join(d.text for d in dones)
    assert measured["summary"] in said and "the baseline and the lift stay yours" in said
    assert all(d.unverified == () for d in dones)
    resumed = GuidedBackend(history=conversation.messages, catalog=data)
    assert (resumed.state.sizing.cluster_size, resumed.state.sizing.icc) == (40.0, measured["icc"])
    assert resumed.state.sizing.baseline == 0.3  # the per-cluster history does not replace the user's baseline


def test_measure_it_asks_which_column_holds_the_cluster_when_more_than_one_could(tmp_path: Path) -> None:
    data = history(tmp_path, ("city", "region"))
    answers = [*SCOPING[:4], "sellers", *SCOPING[5:], *DESIGN, *SIZING_WITH_HISTORY, "measure it"]
    _, backend, events, dones = converse_with(answers, data)
    assert "Which column of 'listings' holds each unit's cluster?" in dones[-1].text
    assert backend.state.pending is Step.CLUSTER and not power_runs(events)
    _, backend, events, dones = converse_with([*answers, "measure it, cluster=region"], data)
    runs = [e for e in events if isinstance(e, ToolFinished) and e.name == "metric_history"]
    assert runs and runs[-1].result is not None and runs[-1].result["rows_per_unit"] == 40.0
    assert backend.state.sizing.cluster_size == 40.0 and Step.CLUSTER in backend.state.done
    _, backend, events, dones = converse_with([*answers, "measure it, cluster=market"], data)
    assert "market" in dones[-1].text and QUESTIONS[Step.CLUSTER] in dones[-1].text  # the tool's words, asked again
    assert backend.state.sizing.icc is None and not power_runs(events)


def test_numbers_power_refuses_are_asked_again_the_cluster_figures_with_them() -> None:
    answers = [*SCOPING, *DESIGN, *SIZING, "40 per city, icc 0.05", "1", "no"]  # one seller a day: too many years
    _, backend, events, dones = converse(answers)
    (run,) = power_runs(events)
    assert run.error is not None and run.error["code"] == "duration_too_long"
    assert "What is its current value?" in dones[-1].text
    assert Step.CLUSTER not in backend.state.done and backend.state.sizing.icc is None
    _, backend, events, dones = converse([*answers, "30%", "2 percentage points", "yes"])
    assert CLUSTER_QUESTION in dones[-1].text and backend.state.pending is Step.CLUSTER
