"""The guided mode's column proposal and the parsing of the user's corrections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from assistant.agent.guided_analysis import (
    describe_roles,
    is_example,
    missing_roles,
    missing_text,
    parse_roles,
    propose_roles,
    request_for,
    suggest_dataset,
    suggest_roles,
)
from assistant.agent.guided_revise import read_changes, read_side, read_split
from tools.data import Catalog
from tools.registry import get_tool
from tools.spec import Guide


def test_the_dataset_is_suggested_by_its_name_and_the_only_one_always() -> None:
    names = ["checkout", "staggered_rollout", "agent_mode_opt_in", "paywall_cutoff"]
    assert suggest_dataset("diff_in_diff", names) == "staggered_rollout"
    assert suggest_dataset("propensity", names) == "agent_mode_opt_in"
    assert suggest_dataset("rdd", names) == "paywall_cutoff"
    assert suggest_dataset("rdd", ["mine"]) == "mine"
    assert suggest_dataset("rdd", ["a", "b"]) is None
    assert suggest_dataset("rdd", []) is None


def test_panel_roles_are_proposed_from_column_names_and_the_metric() -> None:
    columns = ["region", "month", "first_treated_month", "orders_per_user", "population"]
    roles = suggest_roles("diff_in_diff", columns, metric="orders per user")
    assert roles == {"outcome": "orders_per_user", "unit": "region", "time": "month", "cohort": "first_treated_month"}
    assert missing_roles("diff_in_diff", roles) == []
    assert describe_roles(roles) == ("outcome=orders_per_user; unit=region; time=month; cohort=first_treated_month")


def test_propensity_covariates_leave_out_ids_and_post_treatment_names() -> None:
    columns = ["user_id", "opted_in", "tasks_completed", "tenure_days", "prior_tasks", "tasks_after_launch"]
    roles = suggest_roles("propensity", columns, metric="tasks completed")
    assert roles["treatment"] == "opted_in"
    assert roles["outcome"] == "tasks_completed"
    assert roles["covariates"] == ["tenure_days", "prior_tasks"]


def test_corrections_are_read_as_role_value_pairs_with_covariate_lists() -> None:
    text = "outcome = spend; treatment: opted ; covariates=age, tenure,plan"
    assert parse_roles(text, "propensity") == {
        "outcome": "spend",
        "treatment": "opted",
        "covariates": ["age", "tenure", "plan"],
    }
    assert parse_roles("cutoff=1,000; side=below", "rdd") == {"cutoff": "1,000", "side": "below"}
    assert request_for("rdd", "d", {"outcome": "y", "running": "x", "cutoff": "1,000"})["cutoff"] == 1000.0
    assert parse_roles("nothing here", "rdd") == {}


def test_missing_roles_name_what_is_still_needed() -> None:
    missing = missing_roles("diff_in_diff", {"outcome": "y", "unit": "u"})
    assert missing == ["time", "cohort or treatment or adoptions"]
    assert missing_text(missing) == "time, cohort or treatment (or who was treated when, in words)"
    assert missing_roles("rdd", {"outcome": "y", "running": "score"}) == ["cutoff"]


def test_item8_adoptions_said_in_words_become_the_did_request_and_read_back() -> None:
    adopted = [{"unit": "California", "first_period": 4, "said": "2011Q3"}]
    roles = {"outcome": "Rate", "unit": "State", "time": "Quarter_Num", "adoptions": adopted}
    request = request_for("diff_in_diff", "organ", roles)
    assert request["adoptions"] == [{"unit": "California", "first_period": 4}] and "treatment" not in request
    assert describe_roles(roles) == "outcome=Rate; unit=State; time=Quarter_Num; adoptions=California from 2011Q3"
    typed = request_for("diff_in_diff", "d", {**roles, "adoptions": ["New York from 2012Q1", "Ohio from 5"]})
    assert typed["adoptions"] == [
        {"unit": "New York", "first_period": "2012Q1"},
        {"unit": "Ohio", "first_period": 5},
    ]
    get_tool("diff_in_diff").request.model_validate(request)


def test_requests_carry_the_chosen_columns() -> None:
    assert request_for("rdd", "d", {"outcome": "y", "running": "x", "cutoff": "10", "side": "below"}) == {
        "dataset": "d",
        "outcome": "y",
        "running": "x",
        "cutoff": 10.0,
        "treatment_side": "below",
    }
    assert request_for("diff_in_diff", "p", {"outcome": "y", "unit": "u", "time": "t", "treatment": "d"}) == {
        "dataset": "p",
        "outcome": "y",
        "unit": "u",
        "time": "t",
        "treatment": "d",
    }
    with pytest.raises(ValueError, match="not a number"):
        request_for("rdd", "d", {"outcome": "y", "running": "x", "cutoff": "ten"})


def test_an_rd_design_takes_a_take_up_column_and_covariates_when_given() -> None:
    roles = parse_roles("cutoff=10; fuzzy=saw_paywall; covariates=signup_sessions, account_age_days", "rdd")
    request = request_for("rdd", "p", {"outcome": "y", "running": "x", **roles})
    assert request["fuzzy"] == "saw_paywall"
    assert request["covariates"] == ["signup_sessions", "account_age_days"]


# -- issue 18: proposals from the data, the user's file first, corrections in plain words ------------------------


def _guide(tool: str) -> Guide:
    guide = get_tool(tool).guide
    assert guide is not None
    return guide


def test_item8_a_users_file_is_preferred_to_the_bundled_examples() -> None:
    names = ["checkout", "staggered_rollout", "agent_mode_opt_in", "paywall_cutoff", "castle"]
    assert suggest_dataset("diff_in_diff", names, own=["castle"]) == "castle"  # not staggered_rollout
    assert suggest_dataset("ab_test", names, own=["castle"]) == "castle"  # not checkout
    assert suggest_dataset("rdd", [*names, "lmb"], own=["castle", "lmb"]) is None  # two own files: ask
    assert suggest_dataset("rdd", [*names, "cutoff_x"], own=["castle", "cutoff_x"]) == "cutoff_x"
    assert suggest_dataset("diff_in_diff", names, own=[]) == "staggered_rollout"  # only examples: by name


def test_item8_bundled_examples_are_told_apart_from_a_users_copy(tmp_path: Path) -> None:
    from assistant.launch import EXAMPLES, example_data

    catalog = Catalog()
    bundled = example_data(EXAMPLES["checkout"])
    assert bundled is not None
    catalog.add(bundled, "checkout")
    copy = tmp_path / "checkout.csv"
    copy.write_bytes(bundled.read_bytes())
    catalog.add(copy, "mine")
    assert is_example(catalog.get("checkout")) and not is_example(catalog.get("mine"))


def _frame_catalog(tmp_path: Path, frame: pd.DataFrame, name: str = "data") -> Catalog:
    path = tmp_path / f"{name}.csv"
    frame.to_csv(path, index=False)
    catalog = Catalog()
    catalog.add(path, name)
    return catalog


def test_item8_covariates_leave_out_the_treatment_the_outcome_ids_and_panel_keys(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame(
        {
            "person": np.arange(n),  # unique per row: an ID
            "treat": rng.integers(0, 2, n),
            "age": rng.integers(18, 60, n),
            "income_before": rng.normal(100, 10, n),
            "score_after": rng.normal(size=n),  # named as measured after
            "earnings": rng.normal(500, 50, n),
            "source": ["survey"] * n,  # one value
        }
    )
    data = _frame_catalog(tmp_path, frame)
    proposal = propose_roles("propensity", data.get("data"), metric="earnings")
    assert proposal.roles == {
        "outcome": "earnings",
        "treatment": "treat",
        "covariates": ["income_before", "age"],  # pre-period names first
    }
    assert proposal.reasons["treatment"].startswith("treat: 0/1, ")


def test_item8_a_wide_file_gets_a_short_covariate_list_and_a_note(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n = 120
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(30)})
    frame.insert(0, "treated", rng.integers(0, 2, n))
    frame["y"] = rng.normal(size=n)
    data = _frame_catalog(tmp_path, frame)
    proposal = propose_roles("propensity", data.get("data"), metric="y")
    assert proposal.roles["covariates"] == [f"x{i}" for i in range(10)]
    assert proposal.notes and proposal.notes[0].startswith("20 more columns could be covariates (x10, x11")


def test_item8_a_panel_with_a_period_string_and_its_number_proposes_the_number(tmp_path: Path) -> None:
    states = ["Alaska", "California", "Texas"]
    quarters = ["Q42010", "Q12011", "Q22011", "Q32011"]
    frame = pd.DataFrame(
        {
            "State": np.repeat(states, 4),
            "Quarter": quarters * 3,
            "Rate": np.linspace(0.2, 0.8, 12),
            "Quarter_Num": [1, 2, 3, 4] * 3,
            "Treated": [0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0],
        }
    )
    data = _frame_catalog(tmp_path, frame)
    roles = propose_roles("diff_in_diff", data.get("data"), metric="donor registration rate").roles
    assert roles == {"outcome": "Rate", "unit": "State", "time": "Quarter_Num", "treatment": "Treated"}
    only_strings = _frame_catalog(tmp_path, frame.drop(columns="Quarter_Num"), "strings")
    assert propose_roles("diff_in_diff", only_strings.get("strings"), metric="rate").roles["time"] == "Quarter"


def test_item8_the_arm_and_the_metric_kind_come_from_the_values(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "group_code": [0.0, 1.0, np.nan, 1.0] * 25,  # a float 0/1 arm with blanks, no telling name
            "learned": [1, 0, 1, 1] * 25,
            "age": np.arange(100) % 50 + 18,
        }
    )
    data = _frame_catalog(tmp_path, frame)
    roles = propose_roles("ab_test", data.get("data"), metric="share who learned their result").roles
    assert roles == {"arm": "group_code", "metric": "learned", "kind": "binary"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("treatment is treat", {"treatment": "treat"}),
        ("the treatment column is TREAT", {"treatment": "treat"}),
        ("use treat as the treatment", {"treatment": "treat"}),
        ("treat is the treatment", {"treatment": "treat"}),
        ("set the outcome to re78", {"outcome": "re78"}),
        ("outcome: re78; treatment=treat", {"outcome": "re78", "treatment": "treat"}),
        ("the outcome is re78 and the treatment is treat", {"outcome": "re78", "treatment": "treat"}),
        ("covariates=age, educ", {"covariates": ["age", "educ"]}),
        ("use age, educ and re74 as covariates", {"covariates": ["age", "educ", "re74"]}),
        ("controls: age, educ", {"covariates": ["age", "educ"]}),
    ],
)
def test_item8_roles_are_read_in_plain_words_and_matched_to_columns(text: str, expected: dict[str, Any]) -> None:
    columns = ["treat", "age", "educ", "re74", "re75", "re78"]
    assert read_changes(text, _guide("propensity"), columns).roles == expected


def test_item8_list_edits_commands_and_unknown_names() -> None:
    guide, columns = _guide("propensity"), ["treat", "age", "educ", "re74", "re78"]
    assert read_changes("add re74", guide, columns).add == ["re74"]
    assert read_changes("drop age and educ from the covariates", guide, columns).drop == ["age", "educ"]
    assert read_changes("change covariates", guide, columns).change == "covariates"
    assert read_changes("change the treatment column", guide, columns).change == "treatment"
    assert read_changes("back", guide, columns).back and read_changes("go back", guide, columns).back
    assert read_changes("use a different dataset", guide, columns).dataset == ""
    assert read_changes("switch to the dataset castle", guide, columns).dataset == "castle"
    assert read_changes("ok", guide, columns).accept
    unknown = read_changes("outcome=re79", guide, columns)
    assert unknown.roles == {} and unknown.unknown == [("re79", ["re78", "re74"])]
    assert read_changes("thanks, looks interesting", guide, columns).empty


def test_item2_an_experiments_control_label_is_kept_as_typed() -> None:
    guide, columns = _guide("ab_test"), ["any", "got", "age"]
    assert read_changes("control=0", guide, columns).roles == {"control": "0"}
    assert read_changes("the control arm is 0.0", guide, columns).roles == {"control": "0.0"}
    assert read_changes("treatment is any; outcome is got", guide, columns).roles == {"arm": "any", "metric": "got"}
    request = request_for("ab_test", "t", {"arm": "any", "metric": "got", "kind": "binary", "control": "0"})
    assert request["control"] == "0"


def test_an_rd_cutoff_and_side_in_plain_words() -> None:
    guide, columns = _guide("rdd"), ["score", "lagdemvoteshare", "Income_Centered"]
    assert read_changes("the cutoff is 0.5", guide, columns).roles == {"cutoff": "0.5"}
    assert read_changes("cutoff at 1,000", guide, columns).roles == {"cutoff": "1,000"}
    assert read_changes("cutoff is 0, households below it get the transfer", guide, columns).roles == {
        "cutoff": "0",
        "side": "below",
    }
    assert read_changes("running variable is lagdemvoteshare", guide, columns).roles == {"running": "lagdemvoteshare"}
    assert read_changes("the results above look fine", guide, columns).empty  # "above" alone is not a side
    assert read_side("a cash transfer for households below an income cutoff") == "below"
    assert read_side("users who pass 10 credits see it") == "above"
    assert read_side("The change under study, for eligible users") is None  # "under" stands by no cutoff


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("50/50", ("equal", ["0:50", "1:50"])),
        ("yes, 40/60", ("planned", ["0:40", "1:60"])),
        ("1:2", ("planned", ["0:1", "1:2"])),
        ("it was meant to be even", ("equal", ["0:1", "1:1"])),
        ("planned", ("planned", ["0:260", "1:185"])),
        ("yes, that was planned", ("planned", ["0:260", "1:185"])),
        ("no idea", ("unknown", None)),
        ("I don't know", ("unknown", None)),
        ("no", None),
        ("hmm", None),
    ],
)
def test_item1_planned_split_answers(answer: str, expected: tuple[str, list[str] | None] | None) -> None:
    assert read_split(answer, ("0", "1"), (260, 185)) == expected


def test_item1_a_planned_split_becomes_expected_split_shares() -> None:
    roles = {"arm": "treat", "metric": "re78", "split": ["0:260", "1:185"]}
    split = request_for("ab_test", "nsw", roles)["expected_split"]
    assert [s["arm"] for s in split] == ["0", "1"]
    assert [s["share"] for s in split] == pytest.approx([260 / 445, 185 / 445])
    assert "expected_split" not in request_for("ab_test", "nsw", {**roles, "split": ["nonsense"]})


def test_item8_a_log_metric_names_the_logged_column() -> None:
    """castle has homicide and l_homicide: "log homicide rate" is l_homicide (it proposed homicide)."""
    from assistant.agent.guided_columns import metric_column

    columns = ["year", "sid", "homicide", "robbery", "l_homicide", "l_larceny"]
    assert metric_column("log homicide rate", columns) == "l_homicide"
    assert metric_column("the homicide rate", columns) == "homicide"
    assert metric_column("logged robbery", columns) == "robbery"  # no logged column: the one there is
    assert metric_column("homicides: l_homicide, the log rate", columns) == "l_homicide"


def test_an_exports_column_name_with_brackets_is_found_as_typed() -> None:
    from assistant.agent.guided_revise import resolve_column

    columns = ["Store ID", "Weekly Sales ($)", "Revenue (USD)", "x"]
    assert resolve_column("Weekly Sales ($)", columns) == "Weekly Sales ($)"
    assert resolve_column("weekly sales ($).", columns) == "Weekly Sales ($)"  # case and the sentence's full stop
    assert resolve_column("'Revenue (USD)',", columns) == "Revenue (USD)"
    assert resolve_column("(x)", columns) == "x"  # brackets around a plain name still come off
    assert resolve_column("Weekly Sales", columns) is None
    guide = get_tool("diff_in_diff").guide
    assert guide is not None
    for said in ("outcome=Weekly Sales ($)", "the outcome is Weekly Sales ($)"):
        reading = read_changes(said, guide, columns)
        assert reading.roles.get("outcome") == "Weekly Sales ($)", (said, reading)
