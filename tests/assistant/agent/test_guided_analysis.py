"""The guided mode's column proposal and the parsing of the user's corrections."""

from __future__ import annotations

import pytest

from assistant.agent.guided_analysis import (
    describe_roles,
    missing_roles,
    parse_roles,
    request_for,
    suggest_dataset,
    suggest_roles,
)


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
    assert missing_roles("diff_in_diff", {"outcome": "y", "unit": "u"}) == ["time", "cohort or treatment"]
    assert missing_roles("rdd", {"outcome": "y", "running": "score"}) == ["cutoff"]


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
