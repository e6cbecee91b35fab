"""Interrupted time series (tools.synth.its): statsmodels OLS with HAC covariance on two real series, closed forms,
the checks, bad input, and seeded simulations of the level change's interval coverage.

The real series (tests/fixtures/its/README.md): the UK seat-belt law of 31 January 1983 (R's ``Seatbelts``, monthly
drivers killed or seriously injured, 1969-1984, the law from February 1983; Harvey and Durbin 1986) with monthly
seasonal dummies, and the Nile's annual flow at Aswan (1871-1970) with its change from 1899 (Cobb 1978).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.signal import lfilter
from statsmodels.stats.diagnostic import acorr_ljungbox

from tools.errors import ToolError
from tools.results import Estimate
from tools.synth.its import (
    CONFOUNDING,
    ItsResult,
    interrupted_time_series,
    ljung_box,
    newey_west_lags,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "its"
TOL = 1e-8


def seatbelts() -> pd.DataFrame:
    frame = pd.read_csv(FIXTURES / "seatbelts.csv").drop(columns="Unnamed: 0")
    frame["month"] = pd.period_range("1969-01", periods=len(frame), freq="M")
    return frame


def nile() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "nile.csv")


def reference_design(n: int, first_post: int, season_period: int | None) -> pd.DataFrame:
    """The same parameterisation, built independently: intercept, trend 0..T-1, post, periods since the start."""
    t = np.arange(n, dtype=float)
    design = pd.DataFrame({"const": 1.0, "trend": t, "post": (t >= first_post).astype(float)})
    design["since"] = np.where(t >= first_post, t - first_post, 0.0)
    if season_period is not None:
        for s in range(1, season_period):
            design[f"season_{s}"] = (np.arange(n) % season_period == s).astype(float)
    return design


def assert_estimate(result: Estimate, reference: tuple[float, float, float, float, float]) -> None:
    """An Estimate against a statsmodels t_test row: estimate, standard error, interval and p-value."""
    effect, se, low, high, p = reference
    np.testing.assert_allclose(result.estimate, effect, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(result.std_error, se, rtol=TOL)
    np.testing.assert_allclose(result.ci_lower, low, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(result.ci_upper, high, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(result.p_value, p, rtol=1e-6, atol=1e-300)


def t_test_row(fit: Any, weights: npt.NDArray[np.float64]) -> tuple[float, float, float, float, float]:
    """statsmodels' t test of one linear combination of the coefficients (its robust covariance, its t)."""
    test = fit.t_test(weights.reshape(1, -1))
    interval = np.asarray(test.conf_int(), dtype=float)
    values = (test.effect, test.sd, interval[:, 0], interval[:, 1], test.pvalue)
    effect, se, low, high, p = (float(np.asarray(x, dtype=float).ravel()[0]) for x in values)
    return effect, se, low, high, p


# --- the reference: statsmodels OLS with cov_type="HAC" on real series -------------------------------------------


def test_seatbelt_law_matches_statsmodels_hac_with_monthly_seasons() -> None:
    frame = seatbelts()
    y = np.log(frame["drivers"].to_numpy(dtype=float))
    first_post = int(np.flatnonzero(frame["law"].to_numpy() == 1)[0])
    assert (first_post, str(frame["month"].iloc[first_post])) == (169, "1983-02")

    result = interrupted_time_series(y, first_post, season_period=12)

    assert result.hac_lags == 4 == newey_west_lags(192)  # floor(4 * 1.92 ** (2 / 9)) = floor(4.62)
    design = reference_design(192, first_post, 12)
    fit = sm.OLS(y, design).fit(cov_type="HAC", cov_kwds={"maxlags": 4, "use_correction": True}, use_t=True)
    np.testing.assert_allclose(result.coefficients, fit.params.to_numpy(), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(result.covariance, fit.cov_params().to_numpy(), rtol=TOL, atol=1e-16)
    assert result.df_resid == int(fit.df_resid) == 192 - 15
    k = design.shape[1]
    unit = np.eye(k)
    assert_estimate(result.level_change, t_test_row(fit, unit[2]))
    assert_estimate(result.slope_change, t_test_row(fit, unit[3]))
    assert_estimate(result.pre_trend, t_test_row(fit, unit[1]))
    mean_since = np.arange(23).mean()  # 23 post-periods, 0..22 periods since the start
    assert_estimate(result.average_gap, t_test_row(fit, unit[2] + mean_since * unit[3]))
    assert_estimate(result.cumulative_gap, t_test_row(fit, 23 * (unit[2] + mean_since * unit[3])))
    np.testing.assert_allclose(result.residual_sd, np.sqrt(fit.scale), rtol=TOL)
    # The figure: the law's level change on log drivers killed or seriously injured.
    assert result.level_change.estimate == pytest.approx(-0.2359, abs=5e-5)
    assert result.level_change.std_error == pytest.approx(0.02213, abs=5e-6)


def test_the_counterfactual_and_its_standard_error_match_statsmodels_predictions() -> None:
    frame = seatbelts()
    y = np.log(frame["drivers"].to_numpy(dtype=float))
    result = interrupted_time_series(y, 169, season_period=12)
    design = reference_design(192, 169, 12)
    fit = sm.OLS(y, design).fit(cov_type="HAC", cov_kwds={"maxlags": 4, "use_correction": True}, use_t=True)
    counterfactual_design = design.assign(post=0.0, since=0.0)
    prediction = fit.get_prediction(counterfactual_design)
    trajectory = result.trajectory
    np.testing.assert_allclose(trajectory.counterfactual, prediction.predicted_mean, rtol=TOL)
    np.testing.assert_allclose(trajectory.counterfactual_se, prediction.se_mean, rtol=TOL)
    np.testing.assert_allclose(trajectory.fitted, fit.fittedvalues.to_numpy(), rtol=TOL)
    np.testing.assert_allclose(trajectory.gap, y - prediction.predicted_mean, rtol=TOL, atol=TOL)
    effect_design = design * 0.0
    effect_design[["post", "since"]] = design[["post", "since"]]
    effect = fit.get_prediction(effect_design)
    np.testing.assert_allclose(trajectory.effect, effect.predicted_mean, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(trajectory.effect_se, effect.se_mean, rtol=TOL, atol=1e-16)


def test_nile_with_years_as_time_and_given_lags_matches_statsmodels_without_correction() -> None:
    frame = nile()
    y = frame["volume"].to_numpy(dtype=float)
    result = interrupted_time_series(
        frame["volume"], 1899, time=frame["year"], hac_lags=6, small_sample_correction=False
    )
    assert (result.n_pre_periods, result.n_post_periods, result.lag_rule) == (28, 72, "given")
    design = reference_design(100, 28, None)
    fit = sm.OLS(y, design).fit(cov_type="HAC", cov_kwds={"maxlags": 6, "use_correction": False}, use_t=True)
    np.testing.assert_allclose(result.coefficients, fit.params.to_numpy(), rtol=TOL)
    np.testing.assert_allclose(result.covariance, fit.cov_params().to_numpy(), rtol=TOL)
    assert_estimate(result.level_change, t_test_row(fit, np.eye(4)[2]))
    assert_estimate(result.slope_change, t_test_row(fit, np.eye(4)[3]))
    np.testing.assert_allclose(result.trajectory.time, frame["year"].to_numpy(dtype=float))
    # The Aswan dam's drop in the flow (10^8 m^3 a year): about -289 at 1899.
    assert result.level_change.estimate == pytest.approx(-289.10, abs=0.01)


def test_ljung_box_matches_statsmodels() -> None:
    frame = seatbelts()
    y = np.log(frame["drivers"].to_numpy(dtype=float))
    result = interrupted_time_series(y, 169, season_period=12)
    residuals = y - result.trajectory.fitted
    reference = acorr_ljungbox(residuals, lags=[24])
    assert result.ljung_box.lags == 24  # two seasons, within T / 5
    np.testing.assert_allclose(result.ljung_box.statistic, reference["lb_stat"].iloc[0], rtol=TOL)
    np.testing.assert_allclose(result.ljung_box.p_value, reference["lb_pvalue"].iloc[0], rtol=1e-6)
    for lags in (1, 5, 10):
        direct = ljung_box(residuals, lags)
        np.testing.assert_allclose(direct.statistic, acorr_ljungbox(residuals, lags=[lags])["lb_stat"].iloc[0])


# --- closed forms and identities -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("n_obs", "lags"), [(24, 2), (72, 3), (100, 4), (192, 4), (300, 5), (1000, 6)])
def test_newey_west_lag_rule(n_obs: int, lags: int) -> None:
    assert newey_west_lags(n_obs) == lags == int(np.floor(4 * (n_obs / 100) ** (2 / 9)))


def test_the_average_gap_is_the_mean_observed_gap_and_the_cumulative_its_sum() -> None:
    result = interrupted_time_series(nile()["volume"], 28)
    post = result.trajectory.post
    np.testing.assert_allclose(result.trajectory.gap[post].mean(), result.average_gap.estimate, rtol=1e-10)
    np.testing.assert_allclose(result.trajectory.effect[post].mean(), result.average_gap.estimate, rtol=1e-10)
    np.testing.assert_allclose(result.cumulative_gap.estimate, 72 * result.average_gap.estimate, rtol=1e-12)
    np.testing.assert_allclose(result.cumulative_gap.std_error, 72 * result.average_gap.std_error, rtol=1e-12)
    assert (result.trajectory.effect[~post] == 0).all() and (result.trajectory.effect_se[~post] == 0).all()
    np.testing.assert_allclose(result.trajectory.effect[post][0], result.level_change.estimate, rtol=1e-12)


def test_a_known_break_with_seasons_is_recovered_and_the_counterfactual_keeps_the_seasons() -> None:
    rng = np.random.default_rng(5)
    t = np.arange(96)
    season = 3.0 * np.sin(2 * np.pi * t / 12)
    truth = 20 + 0.1 * t + season + np.where(t >= 60, 4.0 + 0.2 * (t - 60), 0.0)
    result = interrupted_time_series(truth + rng.normal(0, 0.01, 96), 60, season_period=12)
    assert result.level_change.estimate == pytest.approx(4.0, abs=0.02)
    assert result.slope_change.estimate == pytest.approx(0.2, abs=0.002)
    np.testing.assert_allclose(result.trajectory.counterfactual, 20 + 0.1 * t + season, atol=0.05)


def test_pandas_and_numpy_inputs_agree_and_the_result_is_frozen() -> None:
    frame = nile()
    from_numpy = interrupted_time_series(frame["volume"].to_numpy(), 28)
    from_pandas = interrupted_time_series(frame["volume"], 28, time=pd.Series(range(100)))
    assert from_numpy.level_change == from_pandas.level_change
    assert isinstance(from_numpy, ItsResult)
    with pytest.raises(ValueError, match="read-only"):
        from_numpy.trajectory.counterfactual[0] = 0.0
    with pytest.raises(ValueError, match="read-only"):
        from_numpy.coefficients[0] = 0.0


# --- checks ----------------------------------------------------------------------------------------------------------


def statuses(result: ItsResult) -> dict[str, str]:
    return {check.name: check.status for check in result.checks}


def test_checks_on_the_seatbelt_series() -> None:
    result = interrupted_time_series(np.log(seatbelts()["drivers"]), 169, season_period=12)
    assert statuses(result) == {
        "pre_periods": "pass",
        "post_periods": "pass",
        "residual_autocorrelation": "warn",  # a straight trend over 14 years leaves autocorrelation
        "interval_coverage": "warn",
        "concurrent_changes": "not_tested",
    }
    assert CONFOUNDING in result.warnings
    assert "confounded" in CONFOUNDING and "same moment" in CONFOUNDING
    assert "4 lags" in result.method and "Newey and West 1994" in result.method


def test_checks_on_a_short_white_noise_series() -> None:
    rng = np.random.default_rng(11)
    result = interrupted_time_series(rng.normal(size=10), 6)
    found = statuses(result)
    assert found["pre_periods"] == "fail" and found["post_periods"] == "warn"
    assert found["residual_autocorrelation"] == "pass"
    assert any("Only 6 pre-periods" in w for w in result.warnings)
    thin = interrupted_time_series(rng.normal(size=30), 10)
    assert statuses(thin)["pre_periods"] == "warn"
    seasonal = interrupted_time_series(rng.normal(size=60), 20, season_period=12)
    assert statuses(seasonal)["pre_periods"] == "warn"  # 20 pre-periods: fewer than two full seasons (24)
    long = interrupted_time_series(rng.normal(size=400), 250)
    assert statuses(long)["interval_coverage"] == "pass"


# --- bad input -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"outcome": np.arange(10.0), "start": 0}, "no_pre_period"),
        ({"outcome": np.arange(10.0), "start": 10}, "no_post_period"),
        ({"outcome": np.arange(10.0), "start": 2}, "too_few_pre_periods"),
        ({"outcome": np.arange(10.0), "start": 9}, "too_few_post_periods"),
        ({"outcome": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0], "start": 4}, "missing_values"),
        ({"outcome": ["a", "b"], "start": 1}, "not_numeric"),
        ({"outcome": np.ones((3, 3)), "start": 1}, "not_a_series"),
        ({"outcome": np.ones(10), "start": 5}, "constant_outcome"),
        ({"outcome": np.arange(6.0), "start": 3, "time": [0, 1, 2, 3, 5, 6]}, "time_not_equally_spaced"),
        ({"outcome": np.arange(6.0), "start": 3, "time": [0, 2, 1, 3, 4, 5]}, "time_not_increasing"),
        ({"outcome": np.arange(6.0), "start": 3, "time": [0, 1, 2]}, "length_mismatch"),
        ({"outcome": np.arange(30.0), "start": 20, "season_period": 1}, "bad_season_period"),
        ({"outcome": np.arange(30.0), "start": 20, "season_period": 21}, "bad_season_period"),
        ({"outcome": np.arange(30.0), "start": 20, "hac_lags": 30}, "bad_lags"),
        ({"outcome": np.arange(30.0), "start": 20, "hac_lags": -1}, "bad_lags"),
        ({"outcome": np.arange(30.0), "start": 20, "alpha": 1.5}, "bad_alpha"),
        ({"outcome": np.arange(30.0), "start": float("nan")}, "bad_start"),
        ({"outcome": np.arange(14.0) + np.arange(14) % 2, "start": 12, "season_period": 12}, "singular_design"),
    ],
)
def test_bad_input_is_refused_with_a_code(kwargs: dict[str, object], code: str) -> None:
    with pytest.raises(ToolError) as raised:
        interrupted_time_series(**kwargs)  # type: ignore[arg-type]
    assert raised.value.code == code


def test_a_series_the_model_fits_exactly_is_refused_not_reported_with_zero_error() -> None:
    t = np.arange(20.0)
    with pytest.raises(ToolError) as raised:
        interrupted_time_series(3 + 0.5 * t + np.where(t >= 12, 2.0, 0.0), 12)
    assert raised.value.code == "degenerate_fit"


# --- seeded simulations: coverage of the level change's interval ---------------------------------------------------


def coverage(n_pre: int, n_post: int, rho: float, reps: int, seed: int, lags: int | None = None) -> float:
    """Share of nominal 95% intervals of the level change that cover the truth (3.0), AR(1) errors."""
    rng = np.random.default_rng(seed)
    n = n_pre + n_post
    shocks = rng.normal(size=(reps, n))
    shocks[:, 0] /= np.sqrt(1 - rho**2)  # start in the stationary distribution
    errors = lfilter([1.0], [1.0, -rho], shocks, axis=1)
    t = np.arange(n)
    mean = 50 + 0.2 * t + np.where(t >= n_pre, 3.0 - 0.1 * (t - n_pre), 0.0)
    hits = 0
    for row in mean + errors:
        level = interrupted_time_series(row, n_pre, hac_lags=lags).level_change
        hits += level.ci_lower <= 3.0 <= level.ci_upper
    return hits / reps


@pytest.mark.slow
def test_coverage_with_independent_errors_is_nominal() -> None:
    # 1,000 replications: a binomial standard error of 0.007 around 0.95.
    assert coverage(48, 24, rho=0.0, reps=1000, seed=21, lags=0) == pytest.approx(0.95, abs=0.02)


@pytest.mark.slow
def test_coverage_with_ar1_errors_is_below_nominal_in_short_series_as_the_check_says() -> None:
    """The figure the interval_coverage check quotes: AR(1) errors with coefficient 0.5, the default lag rule.
    72 periods (48 + 24, six years of months): about 81%; 300 periods (200 + 100): about 88%. Newey-West's
    small-sample undercoverage, known in the ITS literature; the result warns below 300 periods."""
    short = coverage(48, 24, rho=0.5, reps=1000, seed=19)
    long = coverage(200, 100, rho=0.5, reps=1000, seed=20)
    assert short == pytest.approx(0.81, abs=0.03)
    assert long == pytest.approx(0.88, abs=0.03)
    assert long > short
