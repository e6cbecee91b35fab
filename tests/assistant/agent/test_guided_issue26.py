"""Issue 26 in the guided mode: a quasi-experiment (DiD, RDD, synthetic control) is sized with power's ``design``
before it starts, from numbers the user gives in one answer; an attached unit list is randomised with ``assign``
once an experiment is sized. Every number the guided mode shows is the user's or a tool's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from assistant.agent.answers_quasi import QuasiNumbers, read_correlation, read_quasi
from assistant.agent.conversation import Conversation, Done, Event, TextDelta, ToolFinished
from assistant.agent.guided import GuidedBackend
from assistant.agent.guided_assign import find_unit_list, slug
from assistant.agent.guided_state import Step
from tools.data import Catalog

SCOPING = [
    "a new store layout",
    "to lift weekly sales per store",
    "weekly sales per store",
    "stores in each region",
    "stores",
    "stores not switched on yet",
    "roll out everywhere if sales rise",
    "a drop in sales would stop it",
]
ROLLOUT = [*SCOPING, "no", "regions get it at different dates", "yes"]
CUTOFF = [*SCOPING, "no", "stores above a sales score of a cutoff get it", "yes"]
SINGLE = [*SCOPING, "no", "only in one market", "yes"]
DID_NUMBERS = "twenty regions get it and forty do not, twelve weeks before and eight after, SD 30, effect 5"


def converse(answers: list[str], data: Catalog | None = None) -> tuple[GuidedBackend, list[Event], list[Done]]:
    backend = GuidedBackend(catalog=data)
    conversation = Conversation(backend, catalog=data)
    backend.opening()
    events: list[Event] = []
    return backend, events, [conversation.send(answer, events.append) for answer in answers]


def finished(events: list[Event], name: str) -> list[ToolFinished]:
    return [e for e in events if isinstance(e, ToolFinished) and e.name == name]


def streamed(events: list[Event]) -> str:
    """Everything the guided mode said (a turn's text before its tool call included)."""
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def clean(dones: list[Done]) -> bool:
    return all(d.unverified == () and d.claims == () for d in dones)


# -- quasi-experimental sizing --------------------------------------------------------------------------------


def test_a_rollout_with_no_data_is_sized_as_a_did_with_the_users_numbers() -> None:
    backend, events, dones = converse([*ROLLOUT, DID_NUMBERS, "don't know"])
    assert "tell me in one answer" in dones[-3].text and "difference-in-differences" in dones[-3].text
    assert "ICC" in dones[-2].text  # the correlation is asked, never assumed
    runs = finished(events, "power")
    assert len(runs) == 1 and runs[0].result is not None  # not refused by the phase gate, nor by the tool
    result = runs[0].result
    design = result["quasi"]["design"]
    assert design["kind"] == "did" and (design["treated"], design["control"]) == (20, 40)
    assert (design["pre"], design["post"]) == (12, 8) and design["icc"] is None and design["ar1"] is None
    assert result["solve_for"] == "power" and result["mde_absolute"] == 5 and result["std_dev"] == 30
    assert result["summary"] in dones[-1].text
    assert "power assumes none" in streamed(events)
    assert backend.state.pending is None and clean(dones)


def test_the_icc_and_serial_correlation_reach_the_design_when_given() -> None:
    _, events, dones = converse([*ROLLOUT, DID_NUMBERS, "ICC 0.5, serial correlation 30%"])
    design = finished(events, "power")[0].result["quasi"]["design"]  # type: ignore[index]
    assert design["icc"] == 0.5 and design["ar1"] == pytest.approx(0.3)
    assert "assumes none" not in streamed(events) and clean(dones)


def test_missing_numbers_are_asked_for_and_what_was_read_is_kept() -> None:
    backend, events, dones = converse([*ROLLOUT, "twenty regions get it and forty do not, SD 30"])
    assert backend.state.pending is Step.QUASI_SIZE and not finished(events, "power")
    text = dones[-1].text
    assert "'twenty'" in text and "'forty'" in text and "the periods before" in text and "the periods after" in text
    _, events2, dones2 = converse(
        [*ROLLOUT, "twenty regions get it and forty do not, SD 30", "twelve weeks before and eight after", "no idea"]
    )
    result = finished(events2, "power")[0].result
    assert result is not None and result["solve_for"] == "mde"  # no effect given: the detectable one
    assert result["quasi"]["design"]["pre"] == 12 and clean(dones2)


def test_a_cutoff_is_sized_as_an_rdd_solving_for_the_detectable_effect() -> None:
    _, events, dones = converse([*CUTOFF, "three hundred below and two hundred above, SD 12"])
    recommended = finished(events, "recommend_method")[0].result
    assert recommended is not None and recommended["recommendations"][0]["method"] == "rdd"
    result = finished(events, "power")[0].result
    assert result is not None
    design = result["quasi"]["design"]
    assert design["kind"] == "rdd" and (design["control"], design["treated"]) == (300, 200)
    assert design["pre"] is None and result["solve_for"] == "mde"
    assert "smallest effect these numbers detect" in streamed(events) and result["summary"] in dones[-1].text
    assert clean(dones)


def test_a_single_market_is_sized_as_a_synthetic_control_on_its_rmspe() -> None:
    _, events, dones = converse([*SINGLE, "thirty donors, twenty months before and six after, RMSPE 4, effect 10"])
    recommended = finished(events, "recommend_method")[0].result
    assert recommended is not None and recommended["recommendations"][0]["method"] == "synthetic_control"
    result = finished(events, "power")[0].result
    assert result is not None
    design = result["quasi"]["design"]
    assert design["kind"] == "synth" and (design["treated"], design["control"]) == (1, 30)
    assert (design["pre"], design["post"]) == (20, 6) and result["std_dev"] == 4 and result["solve_for"] == "power"
    assert clean(dones)


def test_skip_leaves_the_sizing_for_later_and_why_is_answered() -> None:
    backend, events, dones = converse([*ROLLOUT, "why does that matter?", "skip"])
    assert "worth running" in dones[-2].text and "tell me in one answer" in dones[-2].text
    assert not finished(events, "power") and "left for later" in dones[-1].text
    assert backend.state.pending is None and clean(dones)


def test_a_resumed_session_does_not_ask_the_quasi_sizing_again() -> None:
    backend, _, _ = converse([*ROLLOUT, DID_NUMBERS, "don't know"])
    conversation = backend._conversation
    assert conversation is not None
    resumed = GuidedBackend(history=conversation.messages)  # type: ignore[attr-defined]
    assert {Step.QUASI_SIZE, Step.QUASI_CORR, Step.POWER} <= resumed.state.done
    assert resumed.state.quasi.values["treated"] == 20


@pytest.mark.parametrize(
    ("said", "kind", "expected"),
    [
        (DID_NUMBERS, "did", {"treated": 20, "control": 40, "pre": 12, "post": 8, "std_dev": 30, "effect": 5}),
        ("treated=12, control=30, pre=10, post=4, sd=2.5", "did", {"treated": 12, "control": 30, "std_dev": 2.5}),
        ("20, 40, 12, 8, 30, 5", "did", {"treated": 20, "control": 40, "pre": 12, "post": 8, "effect": 5}),
        ("250 below the cutoff and 260 above it, standard deviation 7", "rdd", {"control": 250, "treated": 260}),
        ("one treated city, 25 donor cities, 30 weeks before, 10 after, rmspe 1.5", "synth", {"control": 25}),
    ],
)
def test_the_numbers_are_read_by_the_words_that_name_them(said: str, kind: Any, expected: dict[str, float]) -> None:
    reading = read_quasi(said, kind, QuasiNumbers())
    assert reading.kind == "answer" and reading.value is not None
    got = {role: float(q.value) for role, q in reading.value.items()}
    assert {k: got.get(k) for k in expected} == expected


@pytest.mark.parametrize(
    ("said", "kind"),
    [
        ("20.5 regions get it", "invalid"),
        ("10% get it and 40 do not", "invalid"),
        ("SD -3", "invalid"),
        ("12 and 40 and something", "unclear"),
        ("none of that", "unclear"),
    ],
)
def test_numbers_that_cannot_be_right_or_be_placed_are_said_so(said: str, kind: str) -> None:
    assert read_quasi(said, "did", QuasiNumbers()).kind == kind


def test_the_correlation_reader_takes_either_figure_and_a_dont_know() -> None:
    assert read_correlation("ICC 40%").value == {"icc": 0.4}
    assert read_correlation("serial correlation 0.2 and ICC 0.1").value == {"ar1": 0.2, "icc": 0.1}
    assert read_correlation("don't know").kind == "dont_know"
    assert read_correlation("ICC 1.5").kind == "invalid"
    assert read_correlation("0.3").kind == "unclear"


def test_with_data_attached_the_analysis_comes_instead_of_the_sizing(tmp_path: Path) -> None:
    frame = pd.DataFrame({"region": ["a", "b"] * 4, "week": np.repeat(np.arange(4), 2), "sales": np.arange(8.0)})
    frame.to_csv(tmp_path / "panel.csv", index=False)
    data = Catalog()
    data.add(tmp_path / "panel.csv", "panel")
    backend, events, _ = converse(ROLLOUT, data)
    assert backend.state.pending is Step.DATASET and not finished(events, "power")


# -- randomising a unit list ------------------------------------------------------------------------------------

EXPERIMENT = [
    "a new store layout",
    "to lift weekly sales per store",
    "weekly sales per store",
    "stores in each region",
    "stores",
    "a random half of the stores keeps the old layout",
    "roll out everywhere if sales rise",
    "a drop in sales would stop it",
    "yes",  # randomized
    "no",  # no interference
    "an average",
    "1200",
    "300",
    "60",
    "yes",  # the lift said back
    "skip",  # daily units
    "no",  # no interim looks
]


def unit_list(tmp_path: Path, n: int = 120) -> Catalog:
    """A store list: one row per store id, its region and format, no arm column (seeded)."""
    rng = np.random.default_rng(26)
    frame = pd.DataFrame(
        {
            "store_id": [f"s{i:03d}" for i in range(n)],
            "region": rng.choice(["north", "south", "east", "west"], size=n),
            "format": rng.choice(["mall", "street"], size=n),
        }
    )
    frame.to_csv(tmp_path / "stores.csv", index=False)
    data = Catalog()
    data.add(tmp_path / "stores.csv", "stores")
    return data


def test_after_sizing_an_attached_unit_list_is_offered_for_randomisation(tmp_path: Path) -> None:
    data = unit_list(tmp_path)
    backend, events, dones = converse(EXPERIMENT, data)
    assert finished(events, "power") and backend.state.pending is Step.ASSIGN_OFFER
    offer = dones[-1].text
    assert "'stores'" in offer and "'store_id'" in offer and "salt 'new-store-layout'" in offer
    assert "strata 'region'" in offer  # the brief's population names the region column
    assert clean(dones)


def test_yes_with_strata_runs_assign_and_says_how_to_save_the_file(tmp_path: Path) -> None:
    data = unit_list(tmp_path)
    backend, events, dones = converse([*EXPERIMENT, "yes, stratify by region and format, salt=layout-test"], data)
    runs = finished(events, "assign")
    assert len(runs) == 1 and runs[0].result is not None, [r.error for r in runs]
    result = runs[0].result
    assert result["method"] == "stratified" and result["plan"]["strata"] == ["region", "format"]
    assert result["salt"] == "layout-test" and result["n_units"] == 120
    text = dones[-1].text
    assert result["summary"] in text and "--assignments" in text and "whyscope tool run assign" in text
    assert backend.state.pending is None and "scoping is complete" in text  # only the list: no analysis asked
    assert clean(dones)
    from assistant.prereg.session_facts import session_facts

    facts = session_facts(backend._conversation.runs, data)  # type: ignore[union-attr]
    assert result["plan"]["text"] in facts.fields["assignment"]  # the pre-registration's assignment item


def test_no_declines_and_an_unknown_column_is_asked_again(tmp_path: Path) -> None:
    data = unit_list(tmp_path)
    backend, events, dones = converse([*EXPERIMENT, "stratify by country"], data)
    assert "'country' is not a column of 'stores'" in dones[-1].text and backend.state.pending is Step.ASSIGN_OFFER
    backend, events, dones = converse([*EXPERIMENT, "no"], data)
    assert not finished(events, "assign") and backend.state.pending is None and clean(dones)


def test_a_results_file_or_a_history_is_not_a_unit_list(tmp_path: Path) -> None:
    results = pd.DataFrame({"user_id": range(10), "variant": ["a", "b"] * 5, "converted": [0, 1] * 5})
    history = pd.DataFrame({"user_id": range(10), "weekly_sales": np.arange(10.0)})
    data = Catalog()
    for name, frame in (("results", results), ("history", history)):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        data.add(tmp_path / f"{name}.csv", name)
    assert find_unit_list(data, "weekly sales per store") is None
    assert slug("A new store layout, v2!") == "new-store-layout"


# -- DiD covariates ---------------------------------------------------------------------------------------------


def test_the_did_guide_asks_for_covariates_proposes_none_and_passes_those_named() -> None:
    """The bundled staggered rollout: 'population' is a unit trait fixed before the change; named in the columns
    answer it reaches diff_in_diff's covariates (Callaway-Sant'Anna, doubly robust by default)."""
    from tests.assistant.agent.test_guided_designs import SCOPING as DESIGN_SCOPING
    from tests.assistant.agent.test_guided_designs import catalog

    data = catalog()
    answers = [*DESIGN_SCOPING, "region by region over time", "yes", "ok"]
    backend, events, dones = converse(answers, data)
    proposal = dones[-1].text
    assert "'covariates': unit traits fixed before the change" in proposal and "covariates=" not in proposal
    backend, events, dones = converse([*answers, "covariates=population", "ok"], data)
    runs = finished(events, "diff_in_diff")
    assert runs and runs[-1].result is not None, [r.error for r in runs]
    request = backend.state.analysis.request
    assert request is not None and request["covariates"] == ["population"]
    assert clean(dones)


# -- quantile guardrails --------------------------------------------------------------------------------------

CHECKOUT = [
    "one-click checkout",
    "people abandon the checkout",
    "checkout conversion; guardrails: page load time",
    "all shoppers",
    "users",
    "a random half without it",
    "ship if conversion rises",
    "a drop in order value would stop us",
    "yes",  # randomized
    "no",  # no interference
    "no",  # no A/A check
    "skip",  # the sizing
    "ok",  # the dataset
]


def experiment(tmp_path: Path) -> Catalog:
    """A finished checkout test with a page-load column (seeded)."""
    rng = np.random.default_rng(5)
    arm = rng.integers(0, 2, 2000)
    frame = pd.DataFrame(
        {
            "user_id": range(2000),
            "variant": np.where(arm == 1, "treatment", "control"),
            "converted": rng.binomial(1, 0.1 + 0.02 * arm),
            "page_load_ms": rng.lognormal(6, 0.4, 2000).round(1),
        }
    )
    frame.to_csv(tmp_path / "checkout_test.csv", index=False)
    data = Catalog()
    data.add(tmp_path / "checkout_test.csv", "checkout_test")
    return data


@pytest.mark.parametrize(
    "said",
    ["guardrails=page_load_ms (p95, better if lower)", "guardrails=page_load_ms p95 (lower is better)"],
)
def test_a_quantile_guardrail_in_the_users_words_reaches_ab_test(tmp_path: Path, said: str) -> None:
    backend, events, dones = converse([*CHECKOUT, said], experiment(tmp_path))
    runs = finished(events, "ab_test")
    assert runs and runs[-1].result is not None, [r.error for r in runs]
    request = backend.state.analysis.request
    assert request is not None
    guardrail = request["metrics"][1]
    assert guardrail == {
        "name": "page_load_ms",
        "kind": "quantile",
        "quantile": 0.95,
        "role": "guardrail",
        "direction": "decrease",
    }
    assert clean(dones)


def test_a_quantile_guardrail_in_the_brief_is_proposed_as_one(tmp_path: Path) -> None:
    answers = [*CHECKOUT]
    answers[2] = "checkout conversion; guardrails: page_load_ms (p95, better if lower)"
    _, _, dones = converse(answers, experiment(tmp_path))
    assert "guardrails=page_load_ms (p95, better if lower)" in dones[-1].text and clean(dones)


def test_data_attached_but_not_started_the_dataset_skip_offers_the_sizing(tmp_path: Path) -> None:
    frame = pd.DataFrame({"region": ["a", "b"] * 4, "week": np.repeat(np.arange(4), 2), "sales": np.arange(8.0)})
    frame.to_csv(tmp_path / "panel.csv", index=False)
    data = Catalog()
    data.add(tmp_path / "panel.csv", "panel")
    _, events, dones = converse([*ROLLOUT, "skip", DID_NUMBERS, "ICC 0.2"], data)
    assert "Say 'skip' if it has not started yet" in dones[-4].text
    runs = finished(events, "power")
    assert runs and runs[0].result is not None and runs[0].result["quasi"]["design"]["icc"] == 0.2
    assert not finished(events, "diff_in_diff") and clean(dones)


def test_a_dids_icc_is_measured_on_an_attached_history_when_asked(tmp_path: Path) -> None:
    """A region-by-week history of weekly sales: metric_history's ICC within region (one-way ANOVA) becomes the
    design's icc, equal to the tool's own power_request figure; the serial correlation stays unknown and is said so."""
    rng = np.random.default_rng(7)
    regions, weeks = 30, 12
    level = np.repeat(rng.normal(0, 3, regions), weeks)
    frame = pd.DataFrame(
        {
            "region": np.repeat([f"r{i}" for i in range(regions)], weeks),
            "week": np.tile(np.arange(weeks), regions),
            "weekly_sales": 100 + level + rng.normal(0, 2, regions * weeks),
        }
    )
    frame.to_csv(tmp_path / "history.csv", index=False)
    data = Catalog()
    data.add(tmp_path / "history.csv", "history")
    _, _, dones = converse([*ROLLOUT, "skip", DID_NUMBERS], data)
    assert "Or say 'measure it': I will measure the ICC of 'weekly_sales' within each 'region'" in dones[-1].text
    _, events, dones = converse([*ROLLOUT, "skip", DID_NUMBERS, "measure it"], data)
    history = finished(events, "metric_history")
    assert history and history[0].result is not None
    measured = history[0].result["power_request"]["icc"]
    design = finished(events, "power")[0].result["quasi"]["design"]  # type: ignore[index]
    assert design["icc"] == measured and design["ar1"] is None
    # the one-way ANOVA ICC of a balanced design, computed here: (MSB - MSW) / (MSB + (k - 1) MSW)
    groups = frame.groupby("region")["weekly_sales"]
    msb = weeks * ((groups.mean() - frame["weekly_sales"].mean()) ** 2).sum() / (regions - 1)
    msw = ((frame["weekly_sales"] - groups.transform("mean")) ** 2).sum() / (regions * (weeks - 1))
    np.testing.assert_allclose(measured, (msb - msw) / (msb + (weeks - 1) * msw), rtol=1e-6)
    assert "serial correlation was not measured" in streamed(events) and clean(dones)
