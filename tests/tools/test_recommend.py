"""recommend_method on textbook situations: the design each one calls for, and honesty when none fits.

Scenarios follow the standard cases in Kohavi, Tang & Xu (2020, ch. 22 on interference), Angrist & Pischke (2009:
RDD, DiD, IV), Abadie et al. (2010: synthetic control for one treated region) and Cunningham (2021).
"""

from __future__ import annotations

from typing import Any

import pytest

from tools.recommend import RecommendMethodRequest, recommend_method
from tools.registry import dispatch, tool_names

SCENARIOS: list[tuple[str, dict[str, Any], str, bool]] = [
    ("checkout redesign, users can be randomized", {"can_randomize": True, "interference": False}, "ab_test", True),
    (
        "marketplace pricing: buyers and sellers interact",
        {"can_randomize": True, "interference": True},
        "cluster_ab_test",
        True,
    ),
    ("loan offers by credit-score threshold", {"can_randomize": False, "assignment": "cutoff"}, "rdd", True),
    (
        "fraud model launched market by market",
        {
            "assignment": "rollout_by_group_over_time",
            "has_pre_period_data": True,
            "treated_units": 12,
            "control_units": 30,
        },
        "diff_in_diff",
        True,
    ),
    (
        "feature launched in one country only",
        {
            "assignment": "single_unit",
            "has_pre_period_data": True,
            "pre_periods": 52,
            "treated_units": 1,
            "control_units": 20,
        },
        "synthetic_control",
        True,
    ),
    (
        "premium opt-in, usage and tenure recorded",
        {"assignment": "self_selected", "observed_confounders": True, "has_pre_period_data": True},
        "propensity",
        True,
    ),
    (
        "opt-in for unknown reasons, nothing measured before",
        {"assignment": "self_selected", "observed_confounders": False, "has_pre_period_data": False},
        "not_identifiable",
        False,
    ),
    ("randomized invitations to a webinar", {"assignment": "instrument"}, "instrumental_variable", True),
    (
        "site-wide redesign on one date, with history",
        {"assignment": "all_at_once", "has_pre_period_data": True, "control_units": 0},
        "interrupted_time_series",
        False,
    ),
    (
        "site-wide redesign on one date, some markets held out",
        {"assignment": "all_at_once", "has_pre_period_data": True, "control_units": 8},
        "diff_in_diff",
        True,
    ),
    (
        "site-wide redesign, no history and no comparison",
        {"assignment": "all_at_once", "has_pre_period_data": False, "control_units": 0},
        "not_identifiable",
        False,
    ),
    (
        "staggered rollout with no pre-period data",
        {"assignment": "rollout_by_group_over_time", "has_pre_period_data": False},
        "not_identifiable",
        False,
    ),
    (
        "opt-in feature that could still be randomized",
        {"can_randomize": True, "assignment": "self_selected", "observed_confounders": True},
        "ab_test",
        True,
    ),
]


@pytest.mark.parametrize(("name", "facts", "method", "identifiable"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_textbook_scenarios(name: str, facts: dict[str, Any], method: str, identifiable: bool) -> None:
    result = recommend_method(RecommendMethodRequest(**facts))
    assert result.recommendations, name
    top = result.recommendations[0]
    assert top.method == method, (name, [r.method for r in result.recommendations])
    assert result.identifiable is identifiable
    assert [r.rank for r in result.recommendations] == list(range(1, len(result.recommendations) + 1))
    if method != "not_identifiable":
        assert top.assumptions and top.diagnostics and top.data_needed
    assert top.why in result.summary


def test_not_identifiable_says_what_would_help() -> None:
    result = recommend_method(
        RecommendMethodRequest(assignment="self_selected", observed_confounders=False, has_pre_period_data=False)
    )
    assert result.summary.startswith("The effect is not identifiable")
    assert any("encouragement" in h for h in result.what_would_help)
    assert any("Randomize" in h for h in result.what_would_help)
    assert result.warnings


def test_interference_demotes_the_unit_level_test() -> None:
    result = recommend_method(RecommendMethodRequest(can_randomize=True, interference=True))
    by_method = {r.method: r for r in result.recommendations}
    assert by_method["ab_test"].suitability == "not_recommended"
    assert result.recommendations[-1].method == "ab_test"


def test_randomizable_but_self_selected_says_to_randomize() -> None:
    result = recommend_method(RecommendMethodRequest(can_randomize=True, assignment="self_selected"))
    assert any("can still be randomized" in w for w in result.warnings)


def test_unknown_facts_ask_questions_instead_of_guessing() -> None:
    result = recommend_method(RecommendMethodRequest())
    assert result.recommendations == []
    assert not result.identifiable
    assert any("How did units get the change" in q for q in result.questions)
    assert "answer the questions" in result.summary
    opted_in = recommend_method(RecommendMethodRequest(assignment="self_selected"))
    assert any("reasons users opted in" in q for q in opted_in.questions)
    assert opted_in.recommendations[0].suitability == "possible"


def test_availability_follows_the_registry() -> None:
    result = recommend_method(RecommendMethodRequest(can_randomize=True, interference=False))
    assert result.recommendations[0].tool == "ab_test"
    assert result.recommendations[0].available is ("ab_test" in tool_names())
    later = recommend_method(RecommendMethodRequest(assignment="cutoff")).recommendations[0]
    assert later.tool == "rdd"
    assert later.available is ("rdd" in tool_names())
    if not later.available:
        assert "cannot run it yet" in recommend_method(RecommendMethodRequest(assignment="cutoff")).summary


def test_through_the_dispatcher_and_deterministic() -> None:
    first = dispatch("recommend_method", {"assignment": "cutoff"})
    second = dispatch("recommend_method", '{"assignment": "cutoff"}')
    assert first.model_dump_json() == second.model_dump_json()
    bad = dispatch("recommend_method", {"assignment": "by_coin_flip"})
    assert getattr(bad, "code", None) == "invalid_arguments"


def test_the_summary_names_the_design_in_words_and_registered_designs_are_runnable() -> None:
    result = recommend_method(RecommendMethodRequest(can_randomize=False, assignment="cutoff"))
    assert result.summary.startswith("Recommended design: regression discontinuity.")
    top = result.recommendations[0]
    assert (top.method, top.tool, top.available) == ("rdd", "rdd", "rdd" in tool_names())


def test_one_treated_unit_with_an_unknown_number_of_comparison_units_keeps_the_panel_designs_possible() -> None:
    """Issue 18: "only California changed" with history but no count of untreated units was a dead end
    (interrupted time series only); the panel designs stay possible, conditionally, and the count is asked for."""
    result = recommend_method(RecommendMethodRequest(assignment="single_unit", has_pre_period_data=True))
    ranked = [(r.method, r.suitability) for r in result.recommendations]
    assert ranked[:3] == [
        ("synthetic_control", "possible"),
        ("diff_in_diff", "possible"),
        ("interrupted_time_series", "possible"),
    ]
    assert "if comparable untreated units are measured" in result.recommendations[1].why
    assert any("How many comparable units" in q for q in result.questions)
    # a known handful or more of comparison units: synthetic control is recommended, as before
    many = recommend_method(
        RecommendMethodRequest(assignment="single_unit", has_pre_period_data=True, control_units=20)
    )
    assert many.recommendations[0].suitability == "recommended"
    assert not any("How many comparable units" in q for q in many.questions)
    # too few: only the unit's own history
    few = recommend_method(RecommendMethodRequest(assignment="single_unit", has_pre_period_data=True, control_units=2))
    assert [r.method for r in few.recommendations] == ["interrupted_time_series"]


def test_for_whom_after_a_randomized_test_leads_to_the_heterogeneity_analysis() -> None:
    result = recommend_method(RecommendMethodRequest(can_randomize=True, interference=False, goal="target"))
    methods = [r.method for r in result.recommendations]
    assert methods[:2] == ["heterogeneous_effects", "ab_test"]
    top = result.recommendations[0]
    assert top.tool == "heterogeneity" and top.available and top.suitability == "recommended"
    assert "randomized split" in top.why and any("before the change" in a for a in top.assumptions)
    assert any("name the subgroups before looking" in w for w in result.warnings)
    assert result.summary.startswith("Recommended design: heterogeneous effects")


def test_for_whom_after_an_opt_in_needs_the_measured_reasons() -> None:
    measured = recommend_method(
        RecommendMethodRequest(assignment="self_selected", observed_confounders=True, goal="target")
    )
    assert [r.method for r in measured.recommendations][:2] == ["heterogeneous_effects", "propensity"]
    assert "measured reasons for opting in" in measured.recommendations[0].why
    unmeasured = recommend_method(
        RecommendMethodRequest(assignment="self_selected", observed_confounders=False, goal="target")
    )
    assert "heterogeneous_effects" not in [r.method for r in unmeasured.recommendations]


def test_for_whom_with_a_panel_design_is_ranked_last_and_says_why() -> None:
    result = recommend_method(
        RecommendMethodRequest(assignment="rollout_by_group_over_time", has_pre_period_data=True, goal="target")
    )
    last = result.recommendations[-1]
    assert result.recommendations[0].method == "diff_in_diff"
    assert last.method == "heterogeneous_effects" and last.suitability == "not_recommended"
    assert "difference-in-differences" in last.why
    unknown = recommend_method(RecommendMethodRequest(goal="target"))
    assert any("For whom it works" in q for q in unknown.questions)


def test_a_check_before_the_first_experiment_recommends_an_aa_check_then_the_test() -> None:
    result = recommend_method(RecommendMethodRequest(can_randomize=True, interference=False, goal="check"))
    methods = [r.method for r in result.recommendations]
    assert methods[:2] == ["aa_check", "ab_test"]
    first = result.recommendations[0]
    assert first.tool == "aa_test" and first.available and first.suitability == "recommended"
    assert "false-positive" in first.why and any("SE ratio" in d or "standard-error" in d for d in first.diagnostics)
