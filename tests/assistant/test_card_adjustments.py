"""The app card of an adjusted A/B comparison shows the adjustment and the unadjusted difference beside it, from the
result's own numbers (ab_test run for real on the bundled examples, with pre-treatment covariates)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from assistant.tui.widgets.tool_card import details, effect_line
from tools.ab_test.models import AbTestRequest
from tools.ab_test.tool import ab_test

DATA = Path(__file__).resolve().parents[2] / "examples" / "data" / "agent_mode_invite.csv"


def test_the_card_shows_the_adjusted_and_the_unadjusted_difference() -> None:
    frame = pd.read_csv(DATA)
    request = AbTestRequest.model_validate(
        {
            "dataset": "invite",
            "arm_column": "invited",
            "control": "0",
            "metrics": [
                {"name": "tasks_completed", "covariates": ["tasks_completed_pre", "tenure_months"]},
            ],
        }
    )
    result = ab_test(request, frame).model_dump(mode="json")
    checkout = AbTestRequest.model_validate(
        {
            "dataset": "checkout",
            "arm_column": "arm",
            "metrics": [{"name": "converted", "kind": "binary", "covariates": ["pre_revenue"]}],
        }
    )
    binary = ab_test(checkout, pd.read_csv(DATA.with_name("checkout.csv"))).model_dump(mode="json")
    lines = details(result) + details(binary)
    for comparison in result["comparisons"] + binary["comparisons"]:
        adjustment = comparison["adjustment"]
        unadjusted = effect_line(adjustment["unadjusted"]).removeprefix("effect: ")
        line = f"{comparison['metric']} ({comparison['arm']}): {adjustment['description']}; unadjusted {unadjusted}"
        assert line in lines
    assert [c["adjustment"]["method"] for c in result["comparisons"] + binary["comparisons"]] == ["lin", "logistic"]
    # the adjusted estimate is the headline; the unadjusted one differs (the covariates predict the outcome)
    first = result["comparisons"][0]
    assert first["absolute"]["estimate"] != first["adjustment"]["unadjusted"]["estimate"]
    assert first["absolute"]["std_error"] < first["adjustment"]["unadjusted"]["std_error"]


def test_an_unadjusted_comparison_adds_no_line() -> None:
    frame = pd.read_csv(DATA)
    request = AbTestRequest.model_validate(
        {"dataset": "invite", "arm_column": "invited", "control": "0", "metrics": [{"name": "tasks_completed"}]}
    )
    result = ab_test(request, frame).model_dump(mode="json")
    assert not any("unadjusted" in line for line in details(result))
