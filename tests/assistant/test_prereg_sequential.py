"""Issue 21: a sequential plan in the pre-registration — the looks, their sizes and boundaries are in the stopping
rule (from the power result, whose boundaries equal rpact's), and a plan with looks is complete only with them."""

from __future__ import annotations

from typing import Any

import pytest

from assistant.prereg.session_plan import draft
from tests.assistant.agent.test_guided import sized


def stopping_item(looks: str) -> tuple[str, str]:
    conversation, _, _ = sized(["a rate", "10%", "10%", "yes", "2000", looks])
    item = draft(conversation).prereg.item("duration_stopping")
    return item.status, item.value or ""


def test_planned_looks_are_written_into_the_stopping_rule() -> None:
    status, text = stopping_item("5 looks")
    assert status == "complete"
    assert "5 looks with O'Brien-Fleming-type alpha spending (Lan-DeMets)" in text
    # rpact's two-sided 0.05 O'Brien-Fleming-type boundaries (tests/fixtures/sequential/rpact_designs.csv)
    for look, z in enumerate((4.877, 3.357, 2.68, 2.29, 2.031), start=1):
        assert f"look {look} at " in text and f"z boundary {z}" in text
    assert "is a deviation from this plan" in text


@pytest.mark.parametrize("said", ["no", "only at the end"])
def test_no_looks_leave_the_stopping_rule_to_the_user(said: str) -> None:
    status, text = stopping_item(said)
    assert status == "missing" and "looks" not in text  # fixed horizon or sequential: the user still says which


# -- the plan check: the look schedule ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fixed_plan() -> Any:
    from tests.assistant.test_prereg_golden import example

    return example("ai_feature_ab")


@pytest.fixture(scope="module")
def sequential_plan(fixed_plan: Any) -> Any:
    """The same frozen plan, its power design planned with five O'Brien-Fleming looks."""
    import json

    from tests.assistant.test_prereg_golden import ROOT
    from tools.power.models import PowerResult
    from tools.registry import dispatch

    brief = json.loads((ROOT / "examples" / "briefs" / "ai_feature_ab.json").read_text(encoding="utf-8"))
    request = {**brief["power"], "looks": 5, "spending": "obrien_fleming"}
    designed = dispatch("power", request)
    assert isinstance(designed, PowerResult) and designed.sequential is not None
    prereg = fixed_plan.prereg.model_copy(update={"power": designed})
    return fixed_plan.model_copy(update={"prereg": prereg})


def schedule_deviations(document: Any, **request: Any) -> set[tuple[str, str]]:
    from assistant.prereg import Execution, check_deviations
    from tests.assistant.test_prereg_deviations import planned_request

    execution = Execution(method="ab_test", request={**planned_request(document), **request})
    report = check_deviations(document, execution)
    return {(d.field, d.severity) for d in report.deviations if d.field.startswith("sequential")}


def test_a_fixed_horizon_plan_analysed_at_an_interim_look_is_a_major_deviation(fixed_plan: Any) -> None:
    assert schedule_deviations(fixed_plan) == set()
    look = {"looks": 5, "look": 2, "spending": "obrien_fleming"}
    assert schedule_deviations(fixed_plan, sequential=look) == {("sequential", "major")}


def test_a_sequential_plan_checks_the_schedule_of_each_look(sequential_plan: Any) -> None:
    look = {"looks": 5, "look": 2, "spending": "obrien_fleming"}
    assert schedule_deviations(sequential_plan, sequential=look) == set()  # the planned look
    assert schedule_deviations(sequential_plan) == {("sequential", "major")}  # analysed as a fixed horizon
    assert schedule_deviations(sequential_plan, monitoring="always_valid", planned_n_total=30_000) == {
        ("sequential", "major")
    }
    assert schedule_deviations(sequential_plan, sequential={**look, "spending": "pocock"}) == {
        ("sequential.spending", "major")
    }
    assert schedule_deviations(sequential_plan, sequential={**look, "looks": 4}) == {("sequential.looks", "major")}
