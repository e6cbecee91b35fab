"""ab_test: bad input gets a clear ToolError; checks, warnings and decisions say what the data support."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tools.ab_test.models import AbTestRequest, AbTestResult
from tools.ab_test.tool import ab_test
from tools.errors import ToolError


def experiment(
    n: int = 4_000, *, lift: float = 0.0, seed: int = 0, arms: tuple[str, ...] = ("control", "treatment")
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = rng.choice(list(arms), size=n)
    treated = arm != arms[0]
    pre = rng.gamma(2.0, 10.0, size=n)
    return pd.DataFrame(
        {
            "user_id": np.arange(n),
            "arm": arm,
            "converted": rng.binomial(1, np.where(treated, 0.10 * (1 + lift), 0.10)),
            "revenue": 0.8 * pre + rng.normal(0, 10, size=n) + np.where(treated, 20.0 * lift, 0.0),
            "pre_revenue": pre,
            "sessions": rng.poisson(3, size=n) + 1,
        }
    )


def run(frame: pd.DataFrame | None = None, **fields: Any) -> AbTestResult:
    fields.setdefault("arm_column", "arm" if frame is not None else None)
    fields.setdefault("metrics", [{"name": "converted", "kind": "binary"}])
    return ab_test(AbTestRequest(**fields), frame)


def error(frame: pd.DataFrame | None = None, **fields: Any) -> ToolError:
    with pytest.raises(ToolError) as caught:
        run(frame, **fields)
    assert caught.value.message and caught.value.hint
    return caught.value


# --- bad input -------------------------------------------------------------------------------------------


def test_no_input_at_all() -> None:
    assert error(None).code == "no_input"


def test_rows_and_summaries_together() -> None:
    summaries = [{"arm": "control", "metric": "converted", "n": 10, "conversions": 1}]
    assert error(experiment(), summaries=summaries).code == "conflicting_inputs"


def test_rows_need_an_arm_column() -> None:
    assert error(experiment(), arm_column=None).code == "missing_arm_column"


def test_unknown_column_suggests_the_closest() -> None:
    e = error(experiment(), metrics=[{"name": "convrted", "kind": "binary"}])
    assert e.code == "unknown_column"
    assert "convrted" in e.message
    assert "'converted'" in e.hint


def test_one_arm_only() -> None:
    data = experiment()
    e = error(data[data.arm == "control"])
    assert e.code == "one_arm"
    assert "'control'" in e.message


def test_control_must_exist_or_be_inferable() -> None:
    data = experiment(arms=("blue", "green"))
    assert error(data).code == "control_ambiguous"
    e = error(data, control="red")
    assert e.code == "unknown_control"
    assert "'blue'" in e.message and "'green'" in e.message
    assert run(data, control="blue").control_arm == "blue"


def test_expected_split_must_name_the_arms_found() -> None:
    e = error(experiment(), expected_split=[{"arm": "control", "share": 1}, {"arm": "variant", "share": 1}])
    assert e.code == "split_mismatch"
    assert "'treatment'" in e.message and "'variant'" in e.message


def test_non_numeric_metric_names_values_and_rows() -> None:
    data = experiment(20)
    data["revenue"] = data["revenue"].astype(str)
    data.loc[3, "revenue"] = "$5"
    e = error(data, metrics=[{"name": "revenue"}])
    assert e.code == "non_numeric_metric"
    assert "'$5' (row 4)" in e.message


def test_infinite_values_are_refused() -> None:
    data = experiment(50)
    data.loc[7, "revenue"] = np.inf
    e = error(data, metrics=[{"name": "revenue"}])
    assert e.code == "non_finite_values"
    assert "row" in e.message and "8" in e.message


def test_binary_metric_must_be_zero_or_one() -> None:
    data = experiment(50)
    data.loc[0, "converted"] = 2
    e = error(data)
    assert e.code == "not_binary"
    assert "2" in e.message


def test_constant_metric_cannot_be_tested() -> None:
    data = experiment(100)
    data["converted"] = 0
    e = error(data)
    assert e.code == "zero_variance"
    assert "does not vary" in e.message and "value 0" in e.message


@pytest.mark.parametrize(("control_value", "treatment_value"), [(0.7, 0.1), (1e9 + 0.5, 1e9)])
def test_arms_constant_at_different_values_say_so(control_value: float, treatment_value: float) -> None:
    """Issue 16, item 22: each arm constant at its own value is not "does not vary"; and values that are constant up
    to rounding (0.1 summed n times is not 0.1 * n) are refused too, not reported with p = 0."""
    data = experiment(1_001)
    data["revenue"] = np.where(data["arm"] == "control", control_value, treatment_value)
    for fields in ({}, {"winsorize": 0.99}, {"cluster_column": "user_id"}):
        e = error(data, metrics=[{"name": "revenue"}], **fields)
        assert e.code == "zero_variance"
        assert "constant within each arm" in e.message and "does not vary" not in e.message
        assert f"({control_value:.10g} in control 'control', {treatment_value:.10g} in 'treatment')" in e.message
        assert f"difference of {treatment_value - control_value:+.10g}" in e.message
        assert "report the difference as a description" in e.hint


def test_summaries_constant_at_different_values_say_so() -> None:
    summaries = [
        {"arm": "control", "metric": "m", "n": 500, "mean": 1.0, "std_dev": 0.0},
        {"arm": "treatment", "metric": "m", "n": 500, "mean": 2.0, "std_dev": 0.0},
    ]
    e = error(None, summaries=summaries, metrics=[{"name": "m"}])
    assert e.code == "zero_variance" and "constant within each arm" in e.message
    summaries[1] = {**summaries[1], "n": 2, "std_dev": 1e-12}  # a difference of 1.4e12 standard errors
    e = error(None, summaries=summaries, metrics=[{"name": "m"}])
    assert e.code == "zero_variance" and "hardly varies within the arms (a standard error of 7.07e-13)" in e.message


def test_values_whose_squares_overflow_are_refused_on_every_path() -> None:
    """Issue 16, item 7: row values near 1e300 overflowed the variance (OverflowError / NaN) instead of an error."""
    data = experiment(200)
    data["revenue"] = np.where(data["arm"] == "control", 1e300, -1e300) * np.linspace(0.5, 1.0, 200)
    for fields in ({}, {"winsorize": 0.99}, {"cluster_column": "user_id"}):
        e = error(data, metrics=[{"name": "revenue"}], **fields)
        assert e.code == "values_too_large"
        assert "'revenue'" in e.message and "placeholder" in e.hint


@pytest.mark.parametrize(("field", "value"), [("std_dev", 1e300), ("mean", 1e300), ("mean", -1e16), ("std_dev", 1e16)])
def test_summary_magnitudes_beyond_any_measurement_are_refused_by_the_schema(field: str, value: float) -> None:
    from tools.registry import dispatch

    summary = {"arm": "control", "metric": "m", "n": 100, "mean": 1.0, "std_dev": 1.0, field: value}
    other = {"arm": "treatment", "metric": "m", "n": 100, "mean": 1.0, "std_dev": 1.0}
    outcome = dispatch("ab_test", {"summaries": [summary, other], "metrics": [{"name": "m"}]})
    assert isinstance(outcome, ToolError) and outcome.code == "invalid_arguments"
    assert f"summaries.0.{field}" in outcome.message and "1000000000000000" in outcome.message


def test_a_negligible_control_mean_gives_no_relative_lift_and_says_why() -> None:
    """Issue 16, item 7: a control mean of 1e-300 divided by zero (c**4 underflows) in the relative lift."""
    summaries = [
        {"arm": "control", "metric": "m", "n": 100, "mean": 1e-300, "std_dev": 1.0},
        {"arm": "treatment", "metric": "m", "n": 100, "mean": 1.0, "std_dev": 1.0},
    ]
    metrics = [{"name": "m", "role": "guardrail", "direction": "increase", "non_inferiority_margin": 0.05}]
    result = run(None, summaries=summaries, metrics=metrics)
    [c] = result.comparisons
    assert c.relative is None and c.non_inferiority_p_value is None
    assert c.absolute.estimate == pytest.approx(1.0) and c.absolute.std_error == pytest.approx(math.sqrt(0.02))
    [note] = [w for w in result.warnings if "no relative lift" in w]
    assert "(1e-300)" in note and "margin (0.05, relative) could not be tested" in note


def test_extreme_alpha_is_refused_by_the_schema() -> None:
    from tools.registry import dispatch

    summaries = [
        {"arm": "control", "metric": "c", "n": 1000, "conversions": 100},
        {"arm": "b", "metric": "c", "n": 1010, "conversions": 120},
    ]
    outcome = dispatch(
        "ab_test", {"summaries": summaries, "metrics": [{"name": "c", "kind": "binary"}], "alpha": 5e-324}
    )
    assert isinstance(outcome, ToolError) and outcome.code == "invalid_arguments" and "'alpha'" in outcome.message
    share = [{"arm": "control", "share": 1.0}, {"arm": "b", "share": 1e-320}]
    outcome = dispatch(
        "ab_test", {"summaries": summaries, "metrics": [{"name": "c", "kind": "binary"}], "expected_split": share}
    )
    assert isinstance(outcome, ToolError) and "expected_split.1.share" in outcome.message


def test_an_arm_with_one_unit() -> None:
    data = experiment(100)
    data.loc[data.index[data.arm == "treatment"][1:], "arm"] = "control"
    e = error(data)
    assert e.code == "too_few_units"


def test_ratio_metric_needs_a_non_negative_denominator() -> None:
    data = experiment(100)
    assert error(data, metrics=[{"name": "rps", "column": "revenue", "kind": "ratio"}]).code == "missing_denominator"
    data.loc[0, "sessions"] = -1
    spec = {"name": "rps", "column": "revenue", "kind": "ratio", "denominator_column": "sessions"}
    assert error(data, metrics=[spec]).code == "negative_denominator"


def test_cuped_with_clusters_is_refused_for_now() -> None:
    spec = {"name": "revenue", "covariate_column": "pre_revenue"}
    assert error(experiment(100), metrics=[spec], cluster_column="user_id").code == "unsupported_combination"


def test_constant_covariate() -> None:
    data = experiment(100)
    data["pre_revenue"] = 1.0
    assert error(data, metrics=[{"name": "revenue", "covariate_column": "pre_revenue"}]).code == "constant_covariate"


@pytest.mark.parametrize(
    ("summaries", "code"),
    [
        ([{"arm": "control", "metric": "converted", "n": 100, "conversions": 10}], "one_arm"),
        (
            [
                {"arm": "control", "metric": "converted", "n": 100, "conversions": 10},
                {"arm": "treatment", "metric": "other", "n": 100, "conversions": 10},
            ],
            "missing_summary",
        ),
        (
            [
                {"arm": "control", "metric": "converted", "n": 100, "conversions": 10},
                {"arm": "control", "metric": "converted", "n": 100, "conversions": 11},
            ],
            "duplicate_summary",
        ),
        (
            [
                {"arm": "control", "metric": "converted", "n": 100, "conversions": 10},
                {"arm": "treatment", "metric": "converted", "n": 100, "conversions": 110},
            ],
            "invalid_summary",
        ),
        (
            [
                {"arm": "control", "metric": "converted", "n": 100, "mean": 0.1},
                {"arm": "treatment", "metric": "converted", "n": 100, "mean": 12.0},
            ],
            "invalid_summary",
        ),
    ],
)
def test_summary_problems(summaries: list[dict[str, Any]], code: str) -> None:
    assert error(None, summaries=summaries).code == code


def test_summaries_cannot_do_what_needs_rows() -> None:
    summaries = [
        {"arm": "control", "metric": "revenue", "n": 100, "mean": 10.0, "std_dev": 2.0},
        {"arm": "treatment", "metric": "revenue", "n": 100, "mean": 11.0, "std_dev": 2.0},
    ]
    assert error(None, summaries=summaries, metrics=[{"name": "revenue"}], winsorize=0.99).code == "needs_rows"
    cuped = [{"name": "revenue", "covariate_column": "pre"}]  # CUPED from summaries needs the covariate's part
    found = error(None, summaries=summaries, metrics=cuped)
    assert found.code == "invalid_summary" and "covariate" in found.hint
    no_sd = [{**s, "std_dev": None} for s in summaries]
    assert error(None, summaries=no_sd, metrics=[{"name": "revenue"}]).code == "invalid_summary"


# --- what the result says --------------------------------------------------------------------------------


def test_missing_values_are_counted_not_dropped_silently() -> None:
    data = experiment(500)
    data.loc[:9, "revenue"] = np.nan
    result = run(data, metrics=[{"name": "revenue"}])
    assert any("10 row(s) with missing values" in w for w in result.warnings)
    assert result.comparisons[0].n_control + result.comparisons[0].n_treatment == 490


def test_sample_ratio_mismatch_against_the_planned_split_forces_investigate() -> None:
    data = experiment(20_000, lift=0.3, seed=1)
    keep = (data.arm == "control") | (np.arange(len(data)) % 10 != 0)  # lose 10% of treatment
    planned = [{"arm": "control", "share": 0.5}, {"arm": "treatment", "share": 0.5}]
    result = run(data[keep].reset_index(drop=True), expected_split=planned)
    assert result.srm.status == "fail"
    assert result.srm.p_value < 0.001
    assert result.decision == "investigate"
    assert result.warnings[0].startswith("SAMPLE RATIO MISMATCH")
    assert [c.status for c in result.checks if c.name == "sample_ratio"] == ["fail"]
    assert "SRM check FAILED" in result.summary
    # the same data with no planned split: the equal split was only assumed, so a warning rather than a verdict of
    # broken assignment, and no decision until the split is confirmed
    assumed = run(data[keep].reset_index(drop=True))
    assert assumed.srm.status == "warn" and assumed.srm.p_value == result.srm.p_value
    assert assumed.decision == "investigate" and assumed.warnings[0].startswith("UNCONFIRMED SPLIT")
    assert "confirm the planned split" in assumed.decision_reasons[0]
    assert "SRM check FAILED" not in assumed.summary


def test_clear_improvement_ships_and_clear_harm_does_not() -> None:
    good = run(experiment(40_000, lift=0.25, seed=2))
    assert good.comparisons[0].verdict == "improvement"
    assert good.decision == "ship"
    bad = run(experiment(40_000, lift=-0.25, seed=3))
    assert bad.comparisons[0].verdict == "regression"
    assert bad.decision == "don't ship"


def test_direction_decrease_turns_a_drop_into_an_improvement() -> None:
    result = run(
        experiment(40_000, lift=-0.25, seed=3),
        metrics=[{"name": "converted", "kind": "binary", "direction": "decrease"}],
    )
    assert result.comparisons[0].verdict == "improvement"
    assert result.decision == "ship"


def test_no_effect_is_inconclusive() -> None:
    result = run(experiment(2_000, seed=4))
    assert result.comparisons[0].verdict == "no_detectable_change"
    assert result.decision == "inconclusive"


def test_decision_rule_requires_a_large_enough_lift() -> None:
    result = run(experiment(40_000, lift=0.25, seed=2), decision_rule=1.0)  # a 100% lift is required
    assert result.comparisons[0].verdict == "improvement"
    assert result.decision == "don't ship"
    assert any("decision rule" in r for r in result.decision_reasons)


def test_breached_guardrail_blocks_shipping() -> None:
    data = experiment(40_000, lift=0.25, seed=5)
    data.loc[data.arm == "treatment", "revenue"] -= 10.0  # net of the lift's +5, revenue falls ~30%
    metrics = [
        {"name": "converted", "kind": "binary"},
        {"name": "revenue", "role": "guardrail", "non_inferiority_margin": 0.01},
    ]
    result = run(data, metrics=metrics)
    guardrail = next(c for c in result.comparisons if c.role == "guardrail")
    assert guardrail.verdict == "breached"
    assert result.decision == "don't ship"
    assert any("Guardrail 'revenue' is breached" in r for r in result.decision_reasons)
    # the one sentence says why a winning primary metric does not ship, with the guardrail's own numbers
    relative = guardrail.relative
    assert relative is not None
    assert result.summary.startswith("Decision: don't ship. 'converted' in treatment vs control: +")
    assert result.summary.endswith(
        f" Guardrail 'revenue' in treatment is breached: {relative.estimate:+.2%} relative "
        f"(95% CI {relative.ci_lower:+.2%} to {relative.ci_upper:+.2%})."
    )


def test_guardrail_not_shown_non_inferior_makes_it_inconclusive() -> None:
    data = experiment(40_000, lift=0.25, seed=6)
    data.loc[data.arm == "treatment", "revenue"] -= 5.0  # cancels the lift's +5: revenue unchanged
    metrics = [
        {"name": "converted", "kind": "binary"},
        {"name": "revenue", "role": "guardrail", "non_inferiority_margin": 0.0001},
    ]
    result = run(data, metrics=metrics)
    guardrail = next(c for c in result.comparisons if c.role == "guardrail")
    assert guardrail.verdict == "not_shown_non_inferior"
    assert guardrail.non_inferiority_p_value is not None and guardrail.non_inferiority_p_value > 0.05
    assert result.decision == "inconclusive"


def test_cuped_reports_theta_and_reduction() -> None:
    result = run(experiment(5_000, seed=7), metrics=[{"name": "revenue", "covariate_column": "pre_revenue"}])
    cuped = result.comparisons[0].cuped
    assert cuped is not None
    assert 0.5 < cuped.variance_reduction < 0.9
    assert cuped.unadjusted.std_error > result.comparisons[0].absolute.std_error
    assert any(c.name == "cuped_pre_period:revenue" and c.status == "not_tested" for c in result.checks)


def test_covariate_named_like_a_post_period_value_is_flagged() -> None:
    data = experiment(500).rename(columns={"pre_revenue": "revenue_after_launch"})
    result = run(data, metrics=[{"name": "revenue", "covariate_column": "revenue_after_launch"}])
    assert any("measured after assignment" in w for w in result.warnings)


def test_winsorize_caps_and_keeps_the_raw_difference() -> None:
    data = experiment(2_000, seed=8)
    data.loc[5, "revenue"] = 1e7
    raw = run(data, metrics=[{"name": "revenue"}])
    assert any("single unit contributes" in w for w in raw.warnings)
    capped = run(data, metrics=[{"name": "revenue"}], winsorize=0.99)
    comparison = capped.comparisons[0]
    assert comparison.uncapped is not None
    np.testing.assert_allclose(comparison.uncapped.estimate, raw.comparisons[0].absolute.estimate)
    assert comparison.absolute.std_error < comparison.uncapped.std_error / 10
    assert any("capped at" in w and "20 value(s) capped" in w for w in capped.warnings)


def test_repeated_unit_ids_suggest_a_cluster_column() -> None:
    data = experiment(1_000)
    data["user_id"] = data["user_id"] // 3
    result = run(data)
    assert any("cluster_column" in w and "'user_id'" in w for w in result.warnings)
    clustered = run(
        data.assign(arm=np.where((data.user_id % 2) == 0, "control", "treatment")), cluster_column="user_id"
    )
    assert not any("cluster_column" in w for w in clustered.warnings)
    assert clustered.srm.observed[0].count + clustered.srm.observed[1].count == data.user_id.nunique()


def test_units_in_two_arms_are_left_out_and_reported() -> None:
    data = experiment(1_000)
    data["user_id"] = data["user_id"] // 2  # pairs of rows share a user, usually with different arms
    result = run(data, cluster_column="user_id")
    crossed = int((data.groupby("user_id").arm.nunique() > 1).sum())
    assert crossed > 0
    assert any(f"{crossed:,} 'user_id' unit(s) appear in more than one arm" in w for w in result.warnings)
    assert sum(c.count for c in result.srm.observed) == data.user_id.nunique() - crossed


def test_three_arms_are_each_compared_with_control() -> None:
    result = run(experiment(6_000, arms=("control", "v1", "v2")))
    assert result.arms == ["control", "v1", "v2"]
    assert [c.arm for c in result.comparisons] == ["v1", "v2"]
    assert len(result.decisions) == 2


def test_result_is_deterministic_and_its_summary_uses_its_own_numbers() -> None:
    data = experiment(3_000, lift=0.2, seed=9)
    first, second = run(data), run(data)
    assert first.model_dump_json() == second.model_dump_json()
    c = first.comparisons[0]
    assert c.relative is not None
    for token in (f"{c.relative.estimate:+.2%}", f"{c.relative.ci_lower:+.2%}", f"{c.p_value_adjusted:.3g}"):
        assert token in first.summary
    assert re.search(r"Decision: (ship|don't ship|inconclusive|investigate)\.", first.summary)


def test_control_inference_prefers_the_most_conventional_name() -> None:
    for arms, control in [(("A", "B", "C"), "A"), (("control", "b", "c"), "control"), (("c", "t"), "c")]:
        result = run(experiment(3_000, arms=arms))
        assert result.control_arm == control
        assert any(c.name == "control_arm" and f"'{control}'" in c.detail for c in result.checks)
    assert error(experiment(3_000, arms=("Control", "control", "v"))).code == "control_ambiguous"


def test_cuped_on_a_ratio_metric_without_its_pre_period_denominator_is_refused() -> None:
    """Ratio CUPED (issue 26) needs the pre-period ratio: without covariate_denominator_column it is refused
    rather than silently skipped (was refused outright before ratio CUPED existed)."""
    spec = {"name": "rps", "column": "revenue", "kind": "ratio", "denominator_column": "sessions"}
    e = error(experiment(200), metrics=[{**spec, "covariate_column": "pre_revenue"}])
    assert e.code == "missing_denominator" and "covariate_denominator_column" in e.message


def test_a_categorical_arm_column_gives_the_same_answer_as_text() -> None:
    data = experiment(3_000, lift=0.2, seed=10)
    as_text = run(data)
    categorical = data.assign(arm=pd.Categorical(data.arm, categories=["unused", "treatment", "control"]))
    as_category = run(categorical)
    assert as_category.arms == as_text.arms == ["control", "treatment"]
    assert as_category.comparisons == as_text.comparisons
    assert as_category.srm == as_text.srm
