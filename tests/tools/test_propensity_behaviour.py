"""The propensity tool's behaviour: every ToolError code, the covariate grammar, dropped rows, overlap failures
(refusal and trimming), warnings, determinism, the lean ``headline`` path and the opt-in example dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import special

from tools.errors import ToolError
from tools.propensity import PropensityRequest, design, headline, propensity
from tools.propensity.terms import Factor, parse_term

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "data" / "agent_mode_opt_in.csv"
EXAMPLE_TRUE_ATT = 4.05  # from examples/generate_opt_in.py, which knows both potential outcomes


def request(**fields: Any) -> PropensityRequest:
    base: dict[str, Any] = {"dataset": "d", "outcome": "y", "treatment": "d", "covariates": ["x1", "x2"]}
    return PropensityRequest.model_validate({**base, **fields})


def frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    d = rng.random(n) < special.expit(0.5 * x1 - 0.5 * x2)
    y = x1 + x2 + 1.5 * d + rng.normal(size=n)
    plan = rng.choice(["free", "pro", "team"], size=n)
    return pd.DataFrame({"y": y, "d": d.astype(int), "x1": x1, "x2": x2, "plan": plan, "income": np.exp(x1)})


def error_of(req: PropensityRequest, data: pd.DataFrame | None) -> ToolError:
    with pytest.raises(ToolError) as caught:
        propensity(req, data)
    assert caught.value.message and caught.value.hint
    return caught.value


# --- one test per ToolError code --------------------------------------------------------------------------


def test_no_data() -> None:
    assert error_of(request(), None).code == "no_data"


def test_unknown_column_suggests_close_names() -> None:
    error = error_of(request(outcome="yy"), frame())
    assert error.code == "unknown_column" and "'y'" in error.hint
    assert error_of(request(covariates=["x1", "x3^2"]), frame()).code == "unknown_column"


def test_outcome_equal_to_treatment() -> None:
    assert error_of(request(outcome="d"), frame()).code == "invalid_columns"


def test_treatment_among_covariates() -> None:
    assert error_of(request(covariates=["x1", "d"]), frame()).code == "invalid_covariate"


@pytest.mark.parametrize("values", [[1, 1, 1, 1], [0, 1, 2, 1]])
def test_treatment_with_one_or_three_values_names_them(values: list[int]) -> None:
    data = frame(8)
    data["d"] = values * 2
    error = error_of(request(), data)
    assert error.code == "treatment_not_binary"
    assert "'d'" in error.message and all(f"'{v}'" in error.message for v in set(values))


def test_text_treatment_needs_treated_value() -> None:
    data = frame()
    data["d"] = np.where(data["d"] == 1, "yes", "no")
    assert error_of(request(), data).code == "treated_value_needed"
    assert error_of(request(treated_value="Yes"), data).code == "unknown_treated_value"
    labelled = propensity(request(treated_value="yes"), data)
    plain = propensity(request(), frame())
    assert labelled.treated_value == "yes"
    assert labelled.headline.estimate == plain.headline.estimate


def test_boolean_treatment_is_understood() -> None:
    data = frame()
    data["d"] = data["d"] == 1
    assert propensity(request(), data).headline.estimate == propensity(request(), frame()).headline.estimate


def test_non_numeric_outcome() -> None:
    data = frame()
    data["y"] = data["y"].astype(str)
    assert error_of(request(), data).code == "non_numeric_outcome"


def test_infinite_values_are_refused() -> None:
    data = frame()
    data.loc[5, "y"] = np.inf
    assert error_of(request(), data).code == "non_finite"
    data = frame()
    data.loc[5, "x1"] = np.inf
    assert error_of(request(), data).code == "non_finite"


def test_too_few_units_after_missing_values() -> None:
    data = frame(40)
    data.loc[data["d"] == 1, "x1"] = np.nan
    data.loc[data.index[data["d"] == 1][0], "x1"] = 0.0
    assert error_of(request(), data).code == "too_few_units"


def test_constant_outcome() -> None:
    data = frame()
    data["y"] = 3.0
    assert error_of(request(), data).code == "constant_outcome"


def test_all_covariates_constant() -> None:
    data = frame()
    data["c"] = 1.0
    assert error_of(request(covariates=["c"]), data).code == "no_covariates"


def test_invalid_terms() -> None:
    for text in ("x1^", "x1^1", "x1^9", "log(x1", "x1 + x2", "x1 ** 2", "x1==", "(x1)"):
        error = error_of(request(covariates=[text]), frame())
        assert error.code == "invalid_term", text
    assert error_of(request(covariates=["plan^2"]), frame()).code == "invalid_term"  # powers of text


def test_log_of_non_positive_values() -> None:
    assert error_of(request(covariates=["log(x1)"]), frame()).code == "invalid_log"


def test_too_many_levels() -> None:
    data = frame()
    data["user"] = [f"u{i}" for i in range(len(data))]
    assert error_of(request(covariates=["user"]), data).code == "too_many_levels"


def test_no_overlap_names_the_separating_covariate() -> None:
    data = frame()
    data["x1"] = np.where(data["d"] == 1, 5.0, 0.0) + np.abs(data["x1"])  # treated all above the controls
    error = error_of(request(), data)
    assert error.code == "no_overlap" and "'x1'" in error.message


def test_no_overlap_from_an_indicator_found_in_one_arm_only() -> None:
    data = frame()
    data["flag"] = ((data["d"] == 1) & (data["x2"] > 0.5)).astype(int)  # only treated units have flag = 1
    error = error_of(request(covariates=["x1", "x2", "flag"]), data)
    assert error.code == "no_overlap" and "'flag'" in error.message


def test_no_match_within_the_caliper() -> None:
    assert error_of(request(methods=["matching"], caliper=1e-9), frame(60)).code == "no_overlap"


# --- the covariate grammar --------------------------------------------------------------------------------


def test_grammar() -> None:
    columns = ["age", "income", "weekly sessions", "plan"]
    assert parse_term("age", columns).factors == (Factor("age"),)
    assert parse_term("age^2", columns).factors == (Factor("age", power=2),)
    assert parse_term("age*income", columns).factors == (Factor("age"), Factor("income"))
    assert parse_term("income==0", columns).factors == (Factor("income", equals=0.0),)
    assert parse_term("plan=='pro'", columns).factors == (Factor("plan", equals="pro"),)
    assert parse_term("plan==pro", columns).factors == (Factor("plan", equals="pro"),)
    assert parse_term("log(income)", columns).factors == (Factor("income", log=True),)
    assert parse_term("`weekly sessions`^2*age", columns).factors == (
        Factor("weekly sessions", power=2),
        Factor("age"),
    )
    assert parse_term("weekly sessions", columns).factors == (Factor("weekly sessions"),)  # an exact column name
    with pytest.raises(ToolError) as caught:  # text, never evaluated
        parse_term("__import__('os')", columns)
    assert caught.value.code == "invalid_term"


def test_terms_build_the_columns_they_name() -> None:
    data = frame()
    built = design(request(covariates=["x1", "x1^2", "x1*x2", "x2==0", "log(income)", "plan", "plan=='pro'"]), data)
    # x2 is never exactly 0 (a constant indicator), log(income) is exactly x1 and the 'pro' indicator repeats the
    # one-hot column: all three are dropped
    assert built.terms == ["x1", "x1^2", "x1*x2", "plan=='pro'", "plan=='team'"]
    np.testing.assert_allclose(built.covariates[:, 1], data["x1"] ** 2)
    np.testing.assert_allclose(built.covariates[:, 2], data["x1"] * data["x2"])
    np.testing.assert_array_equal(built.covariates[:, 3], (data["plan"] == "pro").to_numpy(float))


def test_constant_and_collinear_terms_are_dropped_with_a_warning() -> None:
    data = frame()
    data["c"] = 2.0
    data["x3"] = 2 * data["x1"] - data["x2"]
    result = propensity(request(covariates=["x1", "x2", "c", "x3"]), data)
    assert [t.term for t in result.propensity_model.terms] == ["(intercept)", "x1", "x2"]
    assert any("Constant" in w and "c" in w for w in result.warnings)
    assert any("collinear" in w and "x3" in w for w in result.warnings)


def test_text_covariates_are_one_hot_encoded_with_the_reference_reported() -> None:
    result = propensity(request(covariates=["x1", "plan"]), frame())
    assert [t.term for t in result.propensity_model.terms][-2:] == ["plan=='pro'", "plan=='team'"]
    assert any("reference level 'free'" in w for w in result.warnings)


# --- dropped rows, overlap, warnings ----------------------------------------------------------------------


def test_missing_values_are_dropped_and_counted_per_column() -> None:
    data = frame()
    data.loc[[1, 2], "y"] = np.nan
    data.loc[[2, 3, 4], "x2"] = np.nan
    result = propensity(request(), data)
    assert result.n_dropped == 4 and result.n_obs == len(data) - 4
    reasons = {r.reason: r.count for r in result.dropped}
    assert reasons == {"missing value in 'y'": 2, "missing value in 'x2'": 3}
    assert any("4 row(s) with missing values were dropped" in w for w in result.warnings)


def test_partial_overlap_is_trimmed_with_a_failed_check_first() -> None:
    rng = np.random.default_rng(4)
    n = 3_000
    x = rng.normal(size=n)
    d = rng.random(n) < special.expit(-1.0 + 3.0 * x)  # many treated units with scores above 0.99
    y = x + d + rng.normal(size=n)
    data = pd.DataFrame({"y": y, "d": d.astype(int), "x1": x, "x2": rng.normal(size=n)})
    result = propensity(request(), data)
    assert result.checks[0].name == "overlap" and result.checks[0].status == "fail"
    assert result.warnings[0].startswith("OVERLAP FAILED")
    assert result.trim == 0.01 and result.n_dropped > 0
    assert result.n_obs == n - result.n_dropped
    assert "trimmed" in result.estimand
    assert max(result.score_histogram.treated[-1:]) >= 0  # the histogram is of the trimmed sample
    assert sum(result.score_histogram.treated) == result.n_treated


def test_requested_trim_is_applied_and_reported() -> None:
    result = propensity(request(trim=0.2), frame(2_000))
    assert result.trim == 0.2 and result.n_dropped > 0
    assert result.overlap.min_treated >= 0.0
    assert next(c for c in result.checks if c.name == "overlap").status == "warn"
    assert any("outside [0.2, 0.8]" in r.reason for r in result.dropped)


def test_post_treatment_looking_covariate_is_warned_about() -> None:
    data = frame()
    data["sessions_post"] = data["x1"] + data["d"] + np.random.default_rng(9).normal(size=len(data))
    result = propensity(request(covariates=["x1", "x2", "sessions_post"]), data)
    assert "sessions_post" in result.warnings[0]
    assert next(c for c in result.checks if c.name == "pre_treatment_covariates").status == "warn"
    clean = propensity(request(), frame())
    assert next(c for c in clean.checks if c.name == "pre_treatment_covariates").status == "not_tested"
    assert next(c for c in clean.checks if c.name == "no_unmeasured_confounding").status == "not_tested"


def test_caliper_counts_unmatched_units() -> None:
    result = propensity(request(methods=["matching"], caliper=0.01), frame(300))
    assert any("caliper" in r.reason for r in result.dropped)
    assert any("without a match within the caliper" in w for w in result.warnings)


# --- determinism, the headline path, the result's shape ---------------------------------------------------


def test_deterministic_byte_for_byte() -> None:
    first = propensity(request(estimand="ATE", neighbors=3), frame()).model_dump_json()
    second = propensity(request(estimand="ATE", neighbors=3), frame()).model_dump_json()
    assert first == second


@pytest.mark.parametrize(
    "fields",
    [{}, {"estimand": "ATE"}, {"methods": ["matching", "ipw"]}, {"methods": ["ipw"], "trim": 0.05}, {"caliper": 0.2}],
)
def test_headline_equals_the_full_result(fields: dict[str, Any]) -> None:
    data = frame(800, seed=2)
    full = propensity(request(**fields), data)
    assert headline(request(**fields), data) == full.headline.estimate
    expected = "aipw" if "aipw" in full.headline.method else request(**fields).methods[0]
    assert full.headline.method == expected


def test_result_shape_and_summary_numbers_come_from_fields() -> None:
    result = propensity(request(), frame())
    assert [e.method for e in result.estimates] == ["ipw", "matching", "aipw"]
    assert result.n_obs == result.n_treated + result.n_control
    assert len(result.score_histogram.bin_edges) == len(result.score_histogram.treated) + 1
    assert sum(result.score_histogram.control) == result.n_control
    assert len(result.balance) == 2
    assert all(row.smd_weighted is not None and row.smd_matched is not None for row in result.balance)
    assert f"{result.headline.estimate:+.4g}" in result.summary
    assert f"{result.naive.estimate:+.4g}" in result.summary
    assert "ATT" in result.estimand
    only_ipw = propensity(request(methods=["ipw"]), frame())
    assert all(row.smd_matched is None for row in only_ipw.balance)


# --- the example dataset ----------------------------------------------------------------------------------


def test_opt_in_example_recovers_the_true_effect_and_warns_about_the_post_treatment_column() -> None:
    data = pd.read_csv(EXAMPLE)
    assert EXAMPLE.stat().st_size < 1_000_000 and len(data) == 4_000
    covariates = ["plan", "tenure_months", "weekly_sessions_pre", "task_completion_pre"]
    result = propensity(
        PropensityRequest(dataset="opt_in", outcome="task_completion", treatment="opted_in", covariates=covariates),
        data,
    )
    assert result.naive.estimate == pytest.approx(20.2, abs=0.05)  # mostly selection
    aipw = result.headline
    assert aipw.method == "aipw" and aipw.ci_lower < EXAMPLE_TRUE_ATT < aipw.ci_upper
    for estimate in result.estimates:
        assert abs(estimate.estimate - EXAMPLE_TRUE_ATT) < 1.0
    assert all(c.status != "fail" for c in result.checks)
    with_post = propensity(
        PropensityRequest(
            dataset="opt_in", outcome="task_completion", treatment="opted_in", covariates=[*covariates, "sessions_post"]
        ),
        data,
    )
    assert any("sessions_post" in w for w in with_post.warnings)


def test_binary_outcome_whose_logistic_model_separates_falls_back_with_a_warning() -> None:
    data = frame()
    data["y"] = ((data["d"] == 0) & (data["x1"] > 0)).astype(int)  # among controls, x1 > 0 decides y exactly
    result = propensity(request(methods=["aipw"]), data)
    assert any("linear probability model" in w for w in result.warnings)
