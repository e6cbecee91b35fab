"""The synthetic_control tool end to end: Prop 99 and the bundled market example through the tool, every check on a
hand-made panel, the summary's numbers, determinism, several treated units, the interrupted time series."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.tools.test_synth_inference import factor_panel
from tools.errors import ToolError
from tools.synth.its import interrupted_time_series
from tools.synth.models import MAX_PLACEBO_GAPS, SyntheticControlRequest, SyntheticControlResult
from tools.synth.report import FIT_FAIL
from tools.synth.tool import synthetic_control

ROOT = Path(__file__).resolve().parents[2]
PROP99 = ROOT / "tests" / "fixtures" / "synth" / "california_prop99.csv"
MARKETS = ROOT / "examples" / "data" / "market_launch.csv"


def prop99_run(**options: Any) -> SyntheticControlResult:
    frame = pd.read_csv(PROP99, sep=";")
    request = SyntheticControlRequest(
        dataset="prop99", outcome="PacksPerCapita", unit="State", time="Year", treatment="treated", **options
    )
    return synthetic_control(request, frame)


def market_run(**options: Any) -> SyntheticControlResult:
    frame = pd.read_csv(MARKETS)
    request = SyntheticControlRequest(
        dataset="markets",
        outcome="orders_per_1k_users",
        unit="market",
        time="week",
        treatment="assistant_live",
        **options,
    )
    return synthetic_control(request, frame)


def long_frame(y: np.ndarray, n_treated: int, n_pre: int) -> pd.DataFrame:
    """A units x periods matrix (donors first) as a long frame: unit u00.., period 1.., treated 0/1."""
    n_units, n_periods = y.shape
    units = [f"u{i:02d}" for i in range(n_units)]
    treated = np.zeros_like(y, dtype=int)
    treated[n_units - n_treated :, n_pre:] = 1
    return pd.DataFrame(
        {
            "unit": np.repeat(units, n_periods),
            "period": np.tile(np.arange(1, n_periods + 1), n_units),
            "y": y.ravel(),
            "d": treated.ravel(),
        }
    )


def frame_run(frame: pd.DataFrame, **options: Any) -> SyntheticControlResult:
    request = SyntheticControlRequest(
        dataset="panel", outcome="y", unit="unit", time="period", treatment="d", **options
    )
    return synthetic_control(request, frame)


def checks_of(result: SyntheticControlResult) -> dict[str, str]:
    return {c.name: c.status for c in result.checks}


# --- Prop 99 ----------------------------------------------------------------------------------------------------------


def test_prop99_through_the_tool_equals_the_estimators() -> None:
    sdid = prop99_run()
    # the exact solvers' optima, as in test_synth_estimators (synthdid: -15.60, -19.62 early-stopped, -27.35)
    comparison = {p.estimator: p.estimate for p in sdid.comparison}
    assert comparison["synthetic_did"] == pytest.approx(-15.6054, abs=5e-4)
    assert round(comparison["synthetic_control"], 3) == -19.514
    assert round(comparison["did"], 3) == -27.349
    assert sdid.estimator == "synthetic_did" and sdid.effect.estimate == comparison["synthetic_did"]
    assert sdid.att == sdid.effect and sdid.estimand == "ATT" and sdid.inference == "placebo"
    # the placebo standard error of test_synth_inference, California ranked first of 39
    assert sdid.effect.std_error == pytest.approx(9.371, abs=0.01)
    assert sdid.placebo is not None
    assert (sdid.placebo.rank, sdid.placebo.n_placebos) == (1, 38)
    assert sdid.placebo.p_value == pytest.approx(1 / 39) == sdid.placebo.min_p_value
    assert sdid.placebo.status == "pass"
    assert (sdid.n_units, sdid.n_donors, sdid.n_treated_units) == (39, 38, 1)
    assert (sdid.n_pre_periods, sdid.n_post_periods, sdid.n_obs) == (19, 12, 39 * 31)
    assert sdid.treatment_start == 1989
    # weights: donors largest first, summing to 1; SDID's time weights over pre-periods
    weights = [w.weight for w in sdid.unit_weights]
    assert weights == sorted(weights, reverse=True) and sum(weights) == pytest.approx(1.0, abs=1e-9)
    assert sdid.time_weights and sum(w.weight for w in sdid.time_weights) == pytest.approx(1.0, abs=1e-9)
    assert all(isinstance(w.period, int) and w.period < 1989 for w in sdid.time_weights)
    assert sdid.predictor_weights == []
    # the trajectory: one point per year, the mean post gap is the ATT, gap = observed - synthetic
    assert [p.period for p in sdid.trajectory] == list(range(1970, 2001))
    assert [p.post for p in sdid.trajectory] == [year >= 1989 for year in range(1970, 2001)]
    post_gaps = [p.gap for p in sdid.trajectory if p.post]
    assert np.mean(post_gaps) == pytest.approx(sdid.effect.estimate, abs=1e-9)
    assert all(p.gap == pytest.approx(p.observed - p.synthetic) for p in sdid.trajectory)
    # the placebo gaps for the plot: every donor, best pre-period fit first
    assert len(sdid.placebo_gaps) == 38 <= MAX_PLACEBO_GAPS
    fits = [g.pre_rmspe for g in sdid.placebo_gaps]
    assert fits == sorted(fits) and all(len(g.gaps) == 31 for g in sdid.placebo_gaps)
    # the checks: a good fit, spread weights, inside the range, long pre-period, enough donors; spillovers stated
    assert checks_of(sdid) == {
        "pre_period_fit": "pass",
        "weight_concentration": "pass",
        "treated_within_donor_range": "pass",
        "pre_periods": "pass",
        "donors_for_placebo": "pass",
        "donors_unaffected": "not_tested",
    }
    assert "Arkhangelsky" in sdid.method and "exact optimum" in sdid.method and "'California'" in sdid.method


def test_prop99_synthetic_control_and_did_as_the_headline() -> None:
    sc = prop99_run(estimator="synthetic_control")
    assert round(sc.effect.estimate, 3) == -19.514 and sc.time_weights == []
    top = {w.unit for w in sc.unit_weights[:3]}
    assert "Utah" in top  # ADH 2010: Utah, Nevada, Montana, Colorado, Connecticut carry the weight
    did = prop99_run(estimator="did")
    assert round(did.effect.estimate, 3) == -27.349
    assert did.effect.std_error == pytest.approx(17.287, abs=0.01)  # test_synth_inference; Table 1: 17.7
    assert len(did.unit_weights) == 38 and checks_of(did)["pre_period_fit"] == "warn"
    assert {p.estimator: p.estimate for p in sc.comparison} == {p.estimator: p.estimate for p in did.comparison}


# --- the bundled example ----------------------------------------------------------------------------------------------


def test_market_example_recovers_its_effect_and_did_is_biased() -> None:
    """examples/data/market_launch.csv: +3.0 in market_07 from week 41; market_07 grows faster than the donors."""
    sdid = market_run()
    comparison = {p.estimator: p.estimate for p in sdid.comparison}
    assert comparison["did"] == pytest.approx(4.54, abs=5e-3)  # biased upward, as examples/generate.py says
    assert comparison["synthetic_control"] == pytest.approx(3.06, abs=5e-3)  # the generator's "about +3.06"
    assert comparison["synthetic_did"] == pytest.approx(2.98, abs=5e-3)  # the generator's "about +2.98"
    assert abs(comparison["synthetic_control"] - 3.0) < 0.5
    # SDID is closer to the truth than DiD and its interval covers it
    assert abs(comparison["synthetic_did"] - 3.0) < abs(comparison["did"] - 3.0)
    assert sdid.effect.ci_lower < 3.0 < sdid.effect.ci_upper
    assert sdid.placebo is not None and sdid.placebo.rank == 1 and sdid.placebo.n_placebos == 29
    assert sdid.treatment_start == 41 and (sdid.n_pre_periods, sdid.n_post_periods) == (40, 20)
    assert all(s in ("pass", "not_tested") for s in checks_of(sdid).values())
    sc = market_run(estimator="synthetic_control")
    assert sc.effect.ci_lower < 3.0 < sc.effect.ci_upper
    assert all(s in ("pass", "not_tested") for s in checks_of(sc).values())


# --- checks -----------------------------------------------------------------------------------------------------------


def bad_panel() -> pd.DataFrame:
    """Three donors at levels 0, 1, 2 and a treated unit at 10 (outside their range), two pre-periods."""
    rng = np.random.default_rng(3)
    levels = np.array([0.0, 1.0, 2.0, 10.0])
    y = levels[:, None] + np.array([0.0, 0.3, 0.1, 0.4, 0.2])[None, :] + rng.normal(0, 0.05, (4, 5))
    return long_frame(y, 1, 2)


def test_every_check_fires_on_a_bad_panel() -> None:
    result = frame_run(bad_panel(), estimator="synthetic_control")
    assert checks_of(result) == {
        "pre_period_fit": "fail",
        "weight_concentration": "warn",
        "treated_within_donor_range": "fail",
        "pre_periods": "fail",
        "donors_for_placebo": "warn",
        "donors_unaffected": "not_tested",
    }
    detail = {c.name: c.detail for c in result.checks}
    assert "not credible" in detail["pre_period_fit"]
    assert (
        "1/(3 + 1) = 0.25" in detail["donors_for_placebo"] and "not below alpha = 0.05" in detail["donors_for_placebo"]
    )
    assert (
        "2 of 2 pre-periods" in detail["treated_within_donor_range"]
        and "2 above every donor" in detail["treated_within_donor_range"]
    )
    assert "'u02'" in detail["weight_concentration"]  # the highest donor takes all the weight
    assert result.unit_weights[0].unit == "u02" and result.unit_weights[0].weight > 0.99
    assert "POOR pre-period fit" in result.summary
    assert any(w.startswith("POOR PRE-PERIOD FIT") for w in result.warnings)
    assert result.pre_rmspe > FIT_FAIL * float(np.std(bad_panel()["y"].to_numpy().reshape(4, 5)[:, :2]))
    assert result.placebo is not None and result.placebo.min_p_value == 0.25


def test_few_donors_warns_and_sdid_checks_the_range_net_of_levels() -> None:
    rng = np.random.default_rng(3)
    y = np.array([0.0, 1.0, 2.0, 10.0])[:, None] + np.array([0.0, 0.3, 0.1, 0.4, 0.2])[None, :]
    y[:3] += rng.normal(0, 0.05, (3, 5))
    y[3] += 0.5 * rng.normal(0, 0.05, 5)
    y[3, :2] = 10.0 + y[:3, :2].mean(axis=0)  # the donors' average path, 9 higher: inside their range net of levels
    result = frame_run(long_frame(y, 1, 2))  # synthetic_did: its level offset absorbs the higher level
    assert checks_of(result)["treated_within_donor_range"] == "pass"
    assert checks_of(result)["donors_for_placebo"] == "warn"


# --- bad input --------------------------------------------------------------------------------------------------------


def test_jackknife_and_bootstrap_need_several_treated_units() -> None:
    for inference in ("jackknife", "bootstrap"):
        with pytest.raises(ToolError) as caught:
            prop99_run(inference=inference)
        assert caught.value.code == "needs_several_treated" and "'California'" in str(caught.value)


def test_one_donor_cannot_give_placebos() -> None:
    frame = bad_panel()
    frame = frame[frame["unit"].isin(["u01", "u03"])]
    with pytest.raises(ToolError) as caught:
        frame_run(frame)
    assert caught.value.code == "too_few_donors" and "interrupted_time_series" in caught.value.hint


def test_panel_errors_reach_the_caller() -> None:
    frame = bad_panel()
    with pytest.raises(ToolError) as caught:
        frame_run(frame.assign(d=frame["d"] * 2))
    assert caught.value.code == "treatment_not_binary"


# --- the summary's numbers, determinism -------------------------------------------------------------------------------

NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?%?")


def _values(node: Any) -> list[float]:
    if isinstance(node, bool):
        return []
    if isinstance(node, int | float):
        return [float(node)]
    if isinstance(node, dict):
        return [v for child in node.values() for v in _values(child)]
    if isinstance(node, list):
        return [v for child in node for v in _values(child)]
    return []


def unquoted_numbers(result: SyntheticControlResult) -> list[str]:
    """The summary's numbers (names in quotes left out) that are no formatting of one of the result's fields."""
    text = re.sub(r"'[^']*'", "", result.summary)
    values = _values(result.model_dump(mode="json", exclude={"summary"}))
    shown: set[str] = set()
    for v in values:
        for spec in ("+.4g", ".4g", ".3g", "g"):
            shown.add(format(v, spec))
        if v.is_integer():
            shown.add(f"{int(v):,}")
    shown.add(f"{1 - result.alpha:.0%}")
    return [m for m in NUMBER.findall(text) if m not in shown]


@pytest.mark.parametrize("estimator", ["synthetic_did", "synthetic_control", "did", "interrupted_time_series"])
def test_the_summary_quotes_only_the_results_own_numbers(estimator: str) -> None:
    result = market_run(estimator=estimator)
    assert unquoted_numbers(result) == []
    assert f"{result.effect.estimate:+.4g}" in result.summary and f"{result.effect.ci_lower:+.4g}" in result.summary
    if result.placebo is not None:
        assert f"p = {result.placebo.p_value:.3g}" in result.summary


def test_summary_of_a_poor_fit_uses_its_own_numbers() -> None:
    assert unquoted_numbers(frame_run(bad_panel(), estimator="synthetic_control")) == []


def several_treated(effect: float = 1.0) -> pd.DataFrame:
    y = factor_panel(20, 3, 16, 10, effect, np.random.default_rng(11))
    return long_frame(y, 3, 10)


def test_same_seed_same_result() -> None:
    frame = several_treated()
    for inference in ("placebo", "bootstrap"):
        first = frame_run(frame, inference=inference, replications=50, seed=5)
        again = frame_run(frame, inference=inference, replications=50, seed=5)
        assert first.model_dump_json() == again.model_dump_json()
        other = frame_run(frame, inference=inference, replications=50, seed=6)
        assert other.effect.estimate == first.effect.estimate
        assert other.effect.std_error != first.effect.std_error  # the seed drives the random draws only
    assert prop99_run().model_dump_json() == prop99_run().model_dump_json()


@pytest.mark.parametrize("inference", ["placebo", "jackknife", "bootstrap"])
def test_several_treated_units(inference: str) -> None:
    result = frame_run(several_treated(), inference=inference, replications=50)
    assert result.n_treated_units == 3 and result.n_donors == 20 and result.inference == inference
    assert result.effect.ci_lower < 1.0 < result.effect.ci_upper
    assert result.placebo is not None and result.placebo.n_placebos == 20  # the rank test beside any inference
    assert len(result.placebo_gaps) == 20
    assert inference in result.method


# --- interrupted time series ------------------------------------------------------------------------------------------


def test_its_on_the_treated_market_equals_its_module() -> None:
    result = market_run(estimator="interrupted_time_series")
    frame = pd.read_csv(MARKETS)
    series = frame[frame["market"] == "market_07"].sort_values("week")["orders_per_1k_users"].to_numpy()
    direct = interrupted_time_series(series, 40.0)
    assert result.effect == direct.average_gap
    assert result.level_change == direct.level_change and result.slope_change == direct.slope_change
    assert result.inference is None and result.placebo is None and result.comparison == []
    assert result.unit_weights == [] and result.placebo_gaps == [] and result.n_donors == 0
    assert [p.synthetic for p in result.trajectory] == pytest.approx(list(direct.trajectory.counterfactual))
    assert checks_of(result)["concurrent_changes"] == "not_tested"
    assert any("not used" in w for w in result.warnings)
    assert "confounded" in result.summary


def test_its_on_one_series_needs_no_unit() -> None:
    frame = pd.read_csv(MARKETS)
    one = frame[frame["market"] == "market_07"].drop(columns="market")
    request = SyntheticControlRequest(
        dataset="one",
        outcome="orders_per_1k_users",
        time="week",
        treatment="assistant_live",
        estimator="interrupted_time_series",
    )
    result = synthetic_control(request, one)
    assert result.n_units == 1 and result.n_obs == 60 and result.treatment_start == 41
    assert result.effect == market_run(estimator="interrupted_time_series").effect
    assert not any("not used" in w for w in result.warnings)


# --- covariates (ADH) ---------------------------------------------------------------------------------------------


def test_covariates_give_adh_predictor_weights() -> None:
    rng = np.random.default_rng(21)
    y = factor_panel(8, 1, 14, 10, 2.0, rng)
    frame = long_frame(y, 1, 10)
    frame["x1"] = frame.groupby("unit")["y"].transform("mean") + rng.normal(0, 0.1, len(frame))
    frame["x2"] = rng.normal(0, 1, len(frame))
    result = frame_run(frame, estimator="synthetic_control", covariates=["x1", "x2"])
    assert [w.predictor for w in result.predictor_weights] == ["x1", "x2"]
    assert sum(w.weight for w in result.predictor_weights) == pytest.approx(1.0)
    assert result.placebo is not None and result.placebo.n_placebos == 8 and len(result.placebo_gaps) == 8
    assert "covariates averaged over the pre-period" in result.method
    assert {p.estimator for p in result.comparison} == {"synthetic_did", "synthetic_control", "did"}
    with pytest.raises(ToolError) as caught:
        frame_run(frame, covariates=["x1"])
    assert caught.value.code == "covariates_need_synthetic_control"


def test_dates_are_read_and_named() -> None:
    frame = several_treated()
    frame["period"] = pd.Timestamp("2024-01-01") + pd.to_timedelta((frame["period"] - 1) * 7, unit="D")
    result = frame_run(frame)
    assert result.treatment_start == "2024-03-11" and "read as dates" in result.method


# --- the request's own routes: adoptions, se_method, the summary's unit ----------------------------------------------


def test_adoptions_said_in_words_give_the_same_answer_as_the_treatment_column() -> None:
    frame = pd.read_csv(MARKETS)
    base = {"dataset": "m", "outcome": "orders_per_1k_users", "unit": "market", "time": "week"}
    by_column = synthetic_control(SyntheticControlRequest(**base, treatment="assistant_live"), frame)
    by_words = synthetic_control(
        SyntheticControlRequest(**base, adoptions=[{"unit": "market_07", "first_period": "41"}]),
        frame.drop(columns="assistant_live"),
    )
    assert by_words.effect == by_column.effect and by_words.unit_weights == by_column.unit_weights
    assert "in 'market_07' by" in by_words.summary  # one treated unit is named


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({}, "treatment_or_adoptions"),
        (
            {"treatment": "assistant_live", "adoptions": [{"unit": "market_07", "first_period": 41}]},
            "treatment_or_adoptions",
        ),
        ({"adoptions": [{"unit": "market_99", "first_period": 41}]}, "unknown_adoption_unit"),
        ({"treatment": "assistant_live", "se_method": "newey_west"}, "se_method_needs_its"),
    ],
)
def test_who_got_it_and_the_its_options_are_checked(options: dict[str, Any], code: str) -> None:
    frame = pd.read_csv(MARKETS)
    request = SyntheticControlRequest(dataset="m", outcome="orders_per_1k_users", unit="market", time="week", **options)
    with pytest.raises(ToolError) as caught:
        synthetic_control(request, frame)
    assert caught.value.code == code and caught.value.hint


def test_the_its_through_the_tool_equals_statsmodels_hac_on_the_seatbelt_law() -> None:
    """UK Seatbelts (R datasets): log drivers killed or seriously injured, the law from February 1983. Through the
    tool's request (one series, no unit column, monthly seasons, Newey-West): statsmodels OLS with HAC covariance
    (4 lags, the small-sample correction) on the same segmented design."""
    import statsmodels.api as sm

    frame = pd.read_csv(ROOT / "tests" / "fixtures" / "its" / "seatbelts.csv").drop(columns="Unnamed: 0")
    frame["month"] = pd.period_range("1969-01", periods=len(frame), freq="M").astype(str)
    frame["log_drivers"] = np.log(frame["drivers"])
    request = SyntheticControlRequest(
        dataset="seatbelts",
        outcome="log_drivers",
        time="month",
        treatment="law",
        estimator="interrupted_time_series",
        season_period=12,
        se_method="newey_west",
    )
    result = synthetic_control(request, frame)
    t = np.arange(len(frame), dtype=float)
    first = 169
    design = pd.DataFrame({"const": 1.0, "trend": t, "post": (t >= first) * 1.0, "since": np.maximum(t - first, 0)})
    for s in range(1, 12):
        design[f"s{s}"] = (np.arange(len(frame)) % 12 == s) * 1.0
    fit = sm.OLS(frame["log_drivers"].to_numpy(), design).fit(
        cov_type="HAC", cov_kwds={"maxlags": 4, "use_correction": True}, use_t=True
    )
    assert result.level_change is not None and result.slope_change is not None
    assert result.level_change.estimate == pytest.approx(fit.params["post"], rel=1e-9)
    assert result.level_change.std_error == pytest.approx(fit.bse["post"], rel=1e-9)
    assert result.slope_change.std_error == pytest.approx(fit.bse["since"], rel=1e-9)
    weights = np.zeros(design.shape[1])
    weights[2], weights[3] = 1.0, np.arange(len(frame) - first).mean()
    average = fit.t_test(weights.reshape(1, -1))
    assert result.effect.estimate == pytest.approx(float(np.ravel(average.effect)[0]), rel=1e-9)
    assert result.effect.std_error == pytest.approx(float(np.ravel(average.sd)[0]), rel=1e-9)
    assert "in the series by" in result.summary and result.n_donors == 0 and result.placebo is None
