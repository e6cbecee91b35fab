"""Behaviour of the diff_in_diff tool: the example dataset end to end, the estimator choice, warnings and checks,
determinism, the lean ``headline`` and ``event_study_fit`` contracts, and light imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tools.data import Catalog
from tools.did import DiffInDiffRequest, DiffInDiffResult, diff_in_diff, event_study_fit, headline

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "data" / "staggered_rollout.csv"
FIXTURES = ROOT / "tests" / "fixtures" / "did"
TRUE_ATT = 6.25  # examples/generate_staggered.py


def rollout_request(**fields: Any) -> DiffInDiffRequest:
    base: dict[str, Any] = {
        "dataset": "rollout", "outcome": "weekly_orders", "unit": "region", "time": "month", "treatment": "launched",
    }  # fmt: skip
    return DiffInDiffRequest.model_validate({**base, **fields})


@pytest.fixture(scope="module")
def rollout() -> pd.DataFrame:
    catalog = Catalog()
    catalog.add(EXAMPLE, "rollout")
    return catalog.frame("rollout")


@pytest.fixture(scope="module")
def rollout_result(rollout: pd.DataFrame) -> DiffInDiffResult:
    return diff_in_diff(rollout_request(), rollout)


def test_example_end_to_end(rollout_result: DiffInDiffResult) -> None:
    result = rollout_result
    assert result.estimator == "callaway_santanna" and result.estimand == "ATT"
    assert abs(result.att.estimate - TRUE_ATT) < 2 * result.att.std_error
    assert result.twfe.estimate < result.att.ci_lower  # the example shows the TWFE bias
    assert (result.n_units, result.n_periods, result.n_treated_units, result.never_treated_units) == (40, 24, 30, 10)
    assert [(c.cohort, c.n_units) for c in result.cohorts] == [
        ("2024-07-01", 10),
        ("2025-01-01", 10),
        ("2025-07-01", 10),
    ]
    assert result.pretrend is not None and result.pretrend.status == "pass"
    assert result.placebo is not None and result.placebo.p_value > 0.05
    statuses = {c.name: c.status for c in result.checks}
    assert statuses["twfe_vs_robust"] == "warn" and statuses["parallel_trends"] == "pass"
    assert statuses["panel_balance"] == "pass" and statuses["clusters"] == "pass"  # 40 clusters, 30 treated
    assert any("disagree" in w for w in result.warnings)
    assert f"{result.att.estimate:+.4g}" in result.summary and f"{result.twfe.estimate:+.4g}" in result.summary
    # the plot data: one point per relative period, sorted, with the dynamic aggregation
    periods = [e.relative_period for e in result.event_study]
    assert periods == sorted(periods) and periods[0] == -17 and periods[-1] == 17
    assert len(result.group_time) == 3 * 23 and len(result.cohort_effects) == 3
    assert DiffInDiffResult.model_validate_json(result.model_dump_json()) == result


def test_cohort_column_of_dates_equals_treatment_column(
    rollout: pd.DataFrame, rollout_result: DiffInDiffResult
) -> None:
    by_cohort = diff_in_diff(rollout_request(treatment=None, cohort="launch_month"), rollout)
    assert by_cohort.model_dump(exclude={"summary"}) == rollout_result.model_dump(exclude={"summary"})


def test_parquet_gives_the_same_answer(tmp_path: Path, rollout: pd.DataFrame, rollout_result: DiffInDiffResult) -> None:
    path = tmp_path / "rollout.parquet"
    frame = rollout.copy()
    frame["month"] = pd.to_datetime(frame["month"])  # a real timestamp column this time
    frame.to_parquet(path)
    catalog = Catalog()
    catalog.add(path, "rollout")
    result = diff_in_diff(rollout_request(), catalog.frame("rollout"))
    assert result.att == rollout_result.att and result.group_time == rollout_result.group_time


def test_deterministic(rollout: pd.DataFrame) -> None:
    request = rollout_request(estimator="event_study", weights="population")
    assert diff_in_diff(request, rollout).model_dump_json() == diff_in_diff(request, rollout).model_dump_json()


@pytest.mark.parametrize("estimator", ["auto", "twfe", "event_study", "callaway_santanna"])
@pytest.mark.parametrize("extra", [{}, {"control_group": "not_yet_treated", "weights": "population"}])
def test_headline_is_exactly_the_att(rollout: pd.DataFrame, estimator: str, extra: dict[str, Any]) -> None:
    request = rollout_request(estimator=estimator, **extra)
    assert headline(request, rollout) == diff_in_diff(request, rollout).att.estimate


def test_event_study_fit_callaway_santanna_universal_base(rollout: pd.DataFrame) -> None:
    fit = event_study_fit(rollout_request(), rollout)
    assert fit.reference_period == -1 and -1 not in fit.relative_periods
    assert fit.relative_periods == sorted(fit.relative_periods)
    assert fit.n_pre == sum(1 for e in fit.relative_periods if e < 0) == 17
    assert fit.covariance.shape == (len(fit.coefficients),) * 2
    shown = diff_in_diff(rollout_request(base_period="universal"), rollout)
    points = {e.relative_period: e for e in shown.event_study}
    assert points[-1].reference
    np.testing.assert_allclose(fit.coefficients, [points[e].estimate for e in fit.relative_periods], rtol=1e-12)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.covariance)), [points[e].std_error for e in fit.relative_periods])


def test_event_study_fit_twfe(rollout: pd.DataFrame) -> None:
    request = rollout_request(estimator="event_study", leads=4, lags=6)
    fit = event_study_fit(request, rollout)
    result = diff_in_diff(request, rollout)
    assert fit.relative_periods == [-4, -3, -2, 0, 1, 2, 3, 4, 5, 6] and fit.n_pre == 3
    points = {e.relative_period: e for e in result.event_study}
    np.testing.assert_allclose(fit.coefficients, [points[e].estimate for e in fit.relative_periods], rtol=1e-12)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.covariance)), [points[e].std_error for e in fit.relative_periods])
    assert result.pretrend is not None and result.pretrend.df == 3


def test_single_adoption_date_runs_twfe_with_its_event_study() -> None:
    frame = pd.read_csv(FIXTURES / "mpdta.csv").query("`first.treat` in (0, 2006)")
    result = diff_in_diff(
        DiffInDiffRequest(dataset="m", outcome="lemp", unit="countyreal", time="year", cohort="first.treat"), frame
    )
    assert result.estimator == "twfe" and result.att == result.twfe
    assert result.event_study_source == "twfe_event_study" and result.group_time == []
    assert [e.relative_period for e in result.event_study] == [-3, -2, -1, 0, 1]
    assert result.pretrend is not None and result.pretrend.source == "twfe_event_study"
    assert result.placebo is not None  # 2003-2005 before adoption: a fake adoption in 2004
    assert "twfe_vs_robust" not in {c.name for c in result.checks}


def test_missing_outcomes_are_dropped_and_counted(rollout: pd.DataFrame) -> None:
    frame = rollout.copy()
    frame.loc[[3, 50, 700], "weekly_orders"] = np.nan
    result = diff_in_diff(rollout_request(estimator="twfe"), frame)
    assert result.n_obs == 960 - 3 and not result.balanced
    assert any("3 row(s) with a missing outcome" in w for w in result.warnings)
    assert next(c for c in result.checks if c.name == "panel_balance").status == "warn"
    cs = diff_in_diff(rollout_request(), frame)
    assert cs.n_units == 37 and any("balanced panel" in w for w in cs.warnings)


def test_a_single_treated_cluster_is_flagged_loudly(rollout: pd.DataFrame) -> None:
    frame = rollout.copy()
    frame["market"] = np.where(frame["launch_month"].isna(), frame["region"], "launched-market")
    result = diff_in_diff(rollout_request(cluster="market"), frame)
    assert result.n_treated_clusters == 1
    assert result.warnings[0].startswith("A SINGLE TREATED CLUSTER")
    assert next(c for c in result.checks if c.name == "clusters").status == "fail"


def test_not_yet_treated_without_never_treated_units(rollout: pd.DataFrame) -> None:
    frame = rollout[rollout["launch_month"].notna()]
    result = diff_in_diff(rollout_request(control_group="not_yet_treated"), frame)
    assert [c.cohort for c in result.cohorts] == ["2024-07-01", "2025-01-01"]  # the last cohort only compares
    assert any("serves only as a comparison" in w for w in result.warnings)
    assert result.placebo is None


def test_units_treated_from_the_first_period() -> None:
    frame = pd.read_csv(FIXTURES / "mpdta.csv")
    frame.loc[frame["countyreal"] < 8100, "first.treat"] = 2003
    result = diff_in_diff(
        DiffInDiffRequest(dataset="m", outcome="lemp", unit="countyreal", time="year", cohort="first.treat"), frame
    )
    assert any("already treated in the first period" in w for w in result.warnings)
    assert all(c.cohort != 2003 for c in result.cohorts)


def test_one_pre_period_cannot_test_parallel_trends() -> None:
    frame = pd.read_csv(FIXTURES / "mpdta.csv").query("`first.treat` in (0, 2004)")
    result = diff_in_diff(
        DiffInDiffRequest(dataset="m", outcome="lemp", unit="countyreal", time="year", cohort="first.treat"), frame
    )
    assert result.pretrend is None
    assert next(c for c in result.checks if c.name == "parallel_trends").status == "not_tested"
    assert any("Parallel trends not tested" in w for w in result.warnings)


def test_leads_and_lags_window(rollout: pd.DataFrame) -> None:
    result = diff_in_diff(rollout_request(leads=3, lags=4), rollout)
    assert [e.relative_period for e in result.event_study] == [-3, -2, -1, 0, 1, 2, 3, 4]
    wider = diff_in_diff(rollout_request(leads=3, lags=4, alpha=0.01), rollout)
    assert wider.att.ci_upper - wider.att.ci_lower > result.att.ci_upper - result.att.ci_lower


def test_adoption_inferred_from_a_gap_is_noted(rollout: pd.DataFrame) -> None:
    frame = rollout[~((rollout["region"] == "r01") & (rollout["month"] == "2024-06-01"))]
    result = diff_in_diff(rollout_request(estimator="twfe"), frame)
    assert any("may have been earlier" in w for w in result.warnings)


def test_models_import_without_the_numerical_stack() -> None:
    code = "import sys, tools.did; print(sorted(m for m in ('pandas', 'scipy', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
