"""refute: bad input gets the right ToolError; progress, cancellation, determinism; every draw refits."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from tools.ab_test.models import AbTestRequest
from tools.ab_test.tool import ab_test
from tools.errors import ToolError
from tools.propensity.models import PropensityRequest
from tools.propensity.tool import headline as propensity_headline
from tools.refute import tool as refute_tool
from tools.refute.models import RefuteRequest, RefuteResult
from tools.refute.tool import refute


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread() -> Iterator[None]:
    """Small linear algebra on a shared 2-core machine: OpenBLAS's spinning threads only slow it down."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def experiment(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = rng.choice(["control", "treatment"], size=n)
    pre = rng.gamma(2.0, 10.0, size=n)
    return pd.DataFrame(
        {
            "user_id": np.arange(n),
            "arm": arm,
            "converted": rng.binomial(1, np.where(arm == "treatment", 0.16, 0.10)),
            "pre_revenue": pre,
        }
    )


AB = {"dataset": "exp", "arm_column": "arm", "metrics": [{"name": "converted", "kind": "binary"}]}


def observational(n: int = 1_500, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    d = rng.binomial(1, 1 / (1 + np.exp(-(0.5 * x1 - 0.5 * x2))))
    return pd.DataFrame({"x1": x1, "x2": x2, "d": d, "y": 1.0 * d + x1 + x2 + rng.normal(size=n)})


PS = {"dataset": "obs", "outcome": "y", "treatment": "d", "covariates": ["x1", "x2"]}


def request(tool: str = "ab_test", target: dict[str, Any] | None = None, **fields: Any) -> RefuteRequest:
    fields.setdefault("simulations", 20)
    return RefuteRequest.model_validate({"target": {"tool": tool, "request": target or AB}, **fields})


def error(req: RefuteRequest, frame: pd.DataFrame | None) -> ToolError:
    with pytest.raises(ToolError) as caught:
        refute(req, frame)
    assert caught.value.message and caught.value.hint
    return caught.value


# --- bad input -------------------------------------------------------------------------------------------


def test_target_request_its_tool_rejects_returns_that_tools_error_unchanged() -> None:
    frame = experiment()
    bad = {**AB, "arm_column": "variant"}  # no such column
    with pytest.raises(ToolError) as direct:
        ab_test(AbTestRequest.model_validate(bad), frame)
    assert error(request(target=bad), frame) == direct.value


def test_target_request_with_invalid_fields_is_reported_as_the_tool_would() -> None:
    from tools.registry import get_tool, parse_request

    bad = {**AB, "alpha": 2.0, "colour": "red"}
    with pytest.raises(ToolError) as direct:
        parse_request(get_tool("ab_test"), bad)
    got = error(request(target=bad), experiment())
    assert got == direct.value
    assert got.code == "invalid_arguments"


def test_check_that_does_not_apply_names_the_checks_that_do() -> None:
    got = error(request(checks=["placebo_cutoff"]), experiment())
    assert got.code == "check_not_applicable"
    assert "placebo_cutoff" in got.message
    for name in ("sample_ratio", "covariate_balance", "placebo_treatment", "bootstrap"):
        assert name in got.hint


def test_no_data_and_dashboard_summaries_are_refused() -> None:
    assert error(request(), None).code == "no_data"
    summaries = {
        "dataset": "exp",
        "metrics": [{"name": "converted", "kind": "binary"}],
        "summaries": [
            {"arm": "control", "metric": "converted", "n": 100, "conversions": 10},
            {"arm": "treatment", "metric": "converted", "n": 100, "conversions": 15},
        ],
    }
    assert error(request(target=summaries), experiment()).code == "needs_rows"


def test_missing_target_tool_is_refused_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(refute_tool.DESIGNS, "rdd", "tools.no_such_package.design:Design")
    got = error(request("rdd", {"dataset": "r", "outcome": "y", "running": "x"}), experiment())
    assert got.code == "target_unavailable"


def test_request_bounds() -> None:
    with pytest.raises(ValueError):
        RefuteRequest.model_validate({"target": {"tool": "ab_test", "request": AB}, "simulations": 10**6})
    with pytest.raises(ValueError):
        RefuteRequest.model_validate({"target": {"tool": "power", "request": AB}})
    assert RefuteRequest.model_validate({"target": {"tool": "ab_test", "request": AB}}).dataset == "exp"
    as_text = RefuteRequest.model_validate({"target": {"tool": "ab_test", "request": json.dumps(AB)}})
    assert as_text.target.request == AB
    with pytest.raises(ValueError, match="not valid JSON"):
        RefuteRequest.model_validate({"target": {"tool": "ab_test", "request": "{oops"}})


def test_too_few_units_is_inconclusive_with_the_reason() -> None:
    result = refute(request(checks=["placebo_treatment", "bootstrap"]), experiment(n=12, seed=3))
    assert [c.verdict for c in result.checks] == ["inconclusive", "inconclusive"]
    assert all("12 randomized units" in c.detail for c in result.checks)
    # nothing failed, but nothing passed either: no check supports calling it robust, and the summary says so
    assert result.verdict == "fragile" and result.decided_by == ["placebo_treatment", "bootstrap"]
    assert "0 of 2 checks passed, 0 failed, 2 could not judge it (placebo_treatment, bootstrap)" in result.summary
    assert "No check could judge the estimate" in result.summary


# --- progress, cancellation, determinism -------------------------------------------------------------------


def test_progress_counts_every_step_up_to_the_total() -> None:
    events: list[tuple[int, int, str]] = []
    refute(request(), experiment(), progress=lambda done, total, label: events.append((done, total, label)))
    totals = {total for _, total, _ in events}
    assert totals == {2 + 20 + 20}  # sample_ratio, covariate_balance, placebo and bootstrap draws
    done = [d for d, _, _ in events]
    assert done == sorted(done) and done[-1] == 42
    assert {label for *_, label in events} >= {"sample_ratio", "placebo_treatment", "bootstrap"}


@pytest.mark.parametrize("workers", [1, 2])
def test_cancel_stops_the_run(workers: int) -> None:
    cancel = threading.Event()

    def progress(done: int, total: int, label: str) -> None:
        if label == "placebo_treatment":
            cancel.set()

    with pytest.raises(ToolError) as caught:
        refute(
            request(simulations=200),
            experiment(),
            progress=progress,
            cancel=cancel,
            workers=workers,
        )
    assert caught.value.code == "cancelled"


def test_same_seed_same_result_whatever_the_threads() -> None:
    frame = observational()
    req = request("propensity", PS, checks=["random_common_cause", "bootstrap"], simulations=12, seed=7)
    one = refute(req, frame, workers=1).model_dump_json()
    assert refute(req, frame, workers=2).model_dump_json() == one
    assert refute(req, frame, workers=3).model_dump_json() == one
    other = refute(req.model_copy(update={"seed": 8}), frame, workers=2).model_dump_json()
    assert other != one


# --- every simulation refits -------------------------------------------------------------------------------


def test_random_common_cause_refits_the_propensity_model() -> None:
    frame = observational()
    result = refute(request("propensity", PS, checks=["random_common_cause"]), frame)
    check = result.checks[0]
    assert check.distribution is not None
    shifts = [
        check.distribution.minimum - result.original.estimate,
        check.distribution.maximum - result.original.estimate,
    ]
    # the estimate moves a little (the propensity and outcome models were refitted with the new covariate) ...
    assert check.distribution.std_dev > 0
    assert max(abs(s) for s in shifts) > 1e-6
    # ... but not much: within the check's own limit of half a standard error
    assert max(abs(s) for s in shifts) < 0.5 * result.original.std_error
    assert check.verdict == "pass"


def test_original_is_the_target_tools_headline() -> None:
    frame = observational()
    result = refute(request("propensity", PS, checks=["overlap"]), frame)
    assert result.original.estimate == propensity_headline(PropensityRequest.model_validate(PS), frame)
    assert result.target_tool == "propensity"
    assert RefuteResult.model_validate_json(result.model_dump_json()) == result


def test_every_check_states_its_null_numbers_verdict_and_meaning() -> None:
    frame = observational()
    result = refute(request("propensity", PS), frame)
    assert [c.name for c in result.checks] == [
        "overlap",
        "covariate_balance",
        "placebo_treatment",
        "random_common_cause",
        "data_subset",
        "e_value",
        "omitted_variable_bounds",
        "rosenbaum_bounds",
    ]
    for check in result.checks:
        assert check.null and check.procedure and check.detail and check.explanation
        assert any(ch.isdigit() for ch in check.detail)
    assert result.sensitivity.e_value is not None and result.sensitivity.omitted_variable_bounds is not None
    assert result.sensitivity.rosenbaum_bounds is not None
    assert result.summary.startswith("The AIPW ATT of 'd' on 'y' estimate of ")


def test_a_benchmark_that_would_explain_all_outcome_variation_reports_no_collapsed_interval() -> None:
    # the opt-in example's pre-period outcome predicts the outcome so well that a confounder "as strong" would
    # explain all of the rest: the bound is capped at 1 (as sensemakr does) and its zero-width CI is not shown
    from pathlib import Path

    frame = pd.read_csv(Path(__file__).resolve().parents[2] / "examples" / "data" / "agent_mode_opt_in.csv")
    target = {
        "dataset": "optin",
        "outcome": "task_completion",
        "treatment": "opted_in",
        "covariates": ["plan", "tenure_months", "weekly_sessions_pre", "task_completion_pre"],
    }
    result = refute(
        RefuteRequest.model_validate(
            {"target": {"tool": "propensity", "request": target}, "checks": ["omitted_variable_bounds"]}
        ),
        frame,
    )
    bounds = result.sensitivity.omitted_variable_bounds
    assert bounds is not None and bounds.benchmark_covariate == "task_completion_pre"
    assert bounds.benchmark_r2_outcome == 1.0
    assert bounds.benchmark_adjusted_ci_lower is None and bounds.benchmark_adjusted_ci_upper is None
    assert bounds.benchmark_adjusted_estimate is not None and 0 < bounds.benchmark_adjusted_estimate < bounds.estimate
    (check,) = result.checks
    assert check.verdict == "pass" and "capped at 1" in check.detail and "no interval" in check.detail


def test_leaving_out_a_cohort_is_heterogeneity_unless_the_sign_flips() -> None:
    from pathlib import Path

    frame = pd.read_csv(Path(__file__).resolve().parents[2] / "examples" / "data" / "staggered_rollout.csv")
    target = {"dataset": "r", "outcome": "weekly_orders", "unit": "region", "time": "month", "cohort": "launch_month"}
    request = RefuteRequest.model_validate(
        {"target": {"tool": "diff_in_diff", "request": target}, "checks": ["leave_one_out"]}
    )
    (check,) = refute(request, frame).checks
    # the example's cohorts have different effects (4.6 to 7.0 without one of them), all positive
    assert check.verdict == "pass" and "size differs by cohort" in check.explanation
    assert "1 of 3 fall outside the original interval and 0 change sign" in check.detail
    # one cohort with a large negative effect: without it the average changes sign
    first = frame["launch_month"].dropna().min()
    flipped = frame.copy()
    hit = (flipped["launch_month"] == first) & (flipped["month"] >= first)
    flipped.loc[hit, "weekly_orders"] -= 60.0
    (check,) = refute(request, flipped).checks
    assert check.verdict == "fail" and "changes sign" in check.explanation
