"""Issue 21: a sequential plan in the pre-registration — the looks, their sizes and boundaries are in the stopping
rule (from the power result, whose boundaries equal rpact's), and a plan with looks is complete only with them."""

from __future__ import annotations

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
