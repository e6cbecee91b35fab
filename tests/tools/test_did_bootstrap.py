"""Callaway-Sant'Anna inference (issue 17, item 4): the small-sample (Welch) correction, the multiplier bootstrap,
simultaneous event-study bands and the pre-trend test's exclusion of single-cluster event times.

References: scipy's Welch t-test (the 2x2 case exactly), Welch's formulas by hand with pandas on mpdta, the
uncorrected analytic standard errors (R did's, see test_did_reference.py) for the bootstrap's scale, csdid's own
multiplier bootstrap (loosely: both are Monte-Carlo estimates), and closed forms of the sup-t critical value. The
seeded calibration checks (A/A rate, joint coverage) are in test_did_simulation.py.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from scipy import special, stats

from tools.did import DiffInDiffRequest, diff_in_diff
from tools.did import inference as did_inference
from tools.did.cs import callaway_santanna
from tools.did.inference import band_critical, band_critical_t
from tools.did.panel import prepare_panel
from tools.did.twfe import wald_f

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "did"


def request(**fields: Any) -> DiffInDiffRequest:
    base: dict[str, Any] = {"dataset": "panel", "outcome": "y", "unit": "unit", "time": "period", "cohort": "cohort"}
    return DiffInDiffRequest.model_validate({**base, **fields})


def staggered(seed: int, n_units: int, n_periods: int = 6, clusters: int | None = None) -> pd.DataFrame:
    """Cohorts 3 and 5 and never-treated units (1 to 1 to 1), unit and period effects, a growing effect."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n_units), n_periods)
    period = np.tile(np.arange(1, n_periods + 1), n_units)
    cohort = np.array([3, 5, 0])[np.arange(n_units) % 3][unit]
    on = (cohort > 0) & (period >= cohort)
    y = (
        rng.normal(size=n_units)[unit]
        + 0.2 * period
        + on * (1.0 + 0.2 * (period - cohort))
        + rng.normal(size=len(unit))
    )
    frame = pd.DataFrame({"unit": unit, "period": period, "y": y, "cohort": cohort})
    if clusters is not None:
        frame["region"] = unit % clusters
    return frame


@pytest.fixture(scope="module")
def castle() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "castle.csv")


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "mpdta.csv")


# --- the small-sample correction -------------------------------------------------------------------------------


def test_two_by_two_is_welchs_t_test() -> None:
    """One cohort, two periods: the cell, and the headline, are exactly Welch's unequal-variance t-test on the
    changes (statistic, degrees of freedom, p-value, interval). Before issue 17: a z-test with the n (not n - 1)
    variance, p = 0.535 here instead of Welch's 0.549."""
    rng = np.random.default_rng(5)
    n1, n0 = 12, 30
    frame = pd.DataFrame({"unit": np.repeat(np.arange(n1 + n0), 2), "period": np.tile([1, 2], n1 + n0)})
    frame["cohort"] = np.where(frame["unit"] < n1, 2, 0)
    treated = frame["cohort"] == 2
    frame["y"] = rng.normal(size=len(frame)) * np.where(treated, 2.0, 1.0) + 0.3 * treated * (frame["period"] == 2)
    result = diff_in_diff(request(estimator="callaway_santanna"), frame)
    wide = frame.pivot(index="unit", columns="period", values="y")
    change = wide[2] - wide[1]
    welch = stats.ttest_ind(change[:n1], change[n1:], equal_var=False)
    interval = welch.confidence_interval()
    for estimate in (result.group_time[0], result.att):
        assert estimate.estimate / estimate.std_error == pytest.approx(welch.statistic, rel=1e-12)
        assert estimate.p_value == pytest.approx(welch.pvalue, rel=1e-10)
        assert estimate.ci_lower == pytest.approx(interval.low, rel=1e-10)
        assert estimate.ci_upper == pytest.approx(interval.high, rel=1e-10)
    assert "Welch" in result.method and "Satterthwaite" in result.method


def test_mpdta_cells_match_welch_by_hand(mpdta: pd.DataFrame) -> None:
    """Never-treated comparisons on mpdta: each ATT(g, t)'s error is sqrt(s_D^2 / n_D + s_C^2 / n_C) with the
    n - 1 variances, and its p-value is t on the Welch-Satterthwaite degrees of freedom."""
    req = request(outcome="lemp", unit="countyreal", time="year", cohort="first.treat")
    result = diff_in_diff(req, mpdta)
    wide = mpdta.pivot(index="countyreal", columns="year", values="lemp")
    cohort = mpdta.groupby("countyreal")["first.treat"].first()
    for cell in result.group_time:
        g, t = int(cell.cohort), int(cell.period)
        base = g - 1 if t >= g else t - 1
        change = wide[t] - wide[base]
        d, c = change[cohort == g], change[cohort == 0]
        vd, vc = d.var(ddof=1) / len(d), c.var(ddof=1) / len(c)
        df = (vd + vc) ** 2 / (vd**2 / (len(d) - 1) + vc**2 / (len(c) - 1))
        assert cell.std_error == pytest.approx(math.sqrt(vd + vc), rel=1e-10)
        assert cell.p_value == pytest.approx(2 * stats.t.sf(abs(cell.estimate) / cell.std_error, df), rel=1e-8)


def test_clusters_spanning_cohorts_get_the_cr1_factor_and_t_g_minus_1() -> None:
    """With clusters that mix cohorts the cohort structure is lost: CR1, sqrt(G / (G - 1)) on R's error, t(G - 1)."""
    frame = staggered(3, 240, clusters=20)
    req = request(cluster="region")
    result = diff_in_diff(req, frame)
    plain = callaway_santanna(prepare_panel(req, frame), "never_treated", "varying", small_sample=False)
    for cell, se in zip(result.group_time, plain.std_error, strict=True):
        assert cell.std_error == pytest.approx(se * math.sqrt(20 / 19), rel=1e-10)
        assert cell.p_value == pytest.approx(2 * stats.t.sf(abs(cell.estimate) / cell.std_error, 19), rel=1e-8)
    assert "G / (G - 1)" in result.method


# --- castle: single treated clusters and the pre-trend test ----------------------------------------------------


def test_castle_pretrend_leaves_out_the_single_state_event_time(castle: pd.DataFrame) -> None:
    """Castle doctrine (Cheng & Hoekstra 2013; causaldata's `castle`): event time -9 is one state (the 2010 cohort),
    whose error has no treated-side variance (0.04 against 0.05 to 0.2 around it); it alone made the joint test
    reject at p = 5e-13. It is now left out, and said so; the remaining eight leads still reject at 5%."""
    req = request(outcome="l_homicide", unit="sid", time="year", cohort="effyear")
    result = diff_in_diff(req, castle)
    test = result.pretrend
    assert test is not None and test.excluded_periods == [-9]
    assert test.df == 8 and test.df_denominator == 42
    # the statistic by hand: the eight remaining leads and their covariance from the influence functions
    cs = callaway_santanna(prepare_panel(req, castle), "never_treated", "varying")
    leads = [cs.dynamic[e] for e in range(-8, 0)]
    expected = wald_f(np.array([a.estimate for a in leads]), cs.covariance(leads), cs.n_clusters)
    assert expected is not None
    assert (test.wald, test.statistic, test.p_value) == pytest.approx(expected[:2] + expected[4:], rel=1e-12)
    assert test.p_value == pytest.approx(0.0419121381, rel=1e-6) and test.status == "fail"
    assert cs.dynamic_clusters[-9] == 1 and cs.dynamic_clusters[4] == 1 and cs.dynamic_clusters[-8] == 3
    events = {e.relative_period: e for e in result.event_study}
    assert events[-9].estimate == pytest.approx(0.5276, abs=1e-4)  # still reported, only not tested
    note = next(w for w in result.warnings if "single treated cluster" in w)
    assert (
        note.startswith("Event times -9 and 4 rest on") and "event time -9 was left out of the joint pre-trend" in note
    )
    assert "at least two treated clusters" in result.method


def test_single_treated_cluster_counts_clusters_not_units() -> None:
    """Twenty units of one cohort in one cluster are one treated cluster: their lead is left out of the test."""
    frame = staggered(4, 240)
    frame["region"] = frame["unit"] % 30
    frame.loc[frame["cohort"] == 5, "region"] = 99  # the late cohort (80 units) shares one cluster
    result = diff_in_diff(request(cluster="region"), frame)
    assert result.pretrend is not None
    assert result.pretrend.excluded_periods == [-3, -2]  # only the late cohort has leads -3 and -2
    assert any("event times -3 and -2 were left out" in w for w in result.warnings)


def test_no_lead_with_two_treated_clusters_leaves_pre_trends_untested() -> None:
    """One late adopter: its leads are the only ones, all on one cluster: no test, and the reason says so."""
    frame = staggered(5, 240)
    late = frame["unit"][frame["cohort"] == 5].unique()[1:]
    frame = frame[~frame["unit"].isin(late)]  # the 5 cohort keeps one unit; the 3 cohort has lead -1 only
    frame = frame[(frame["cohort"] != 3)]
    result = diff_in_diff(request(estimator="callaway_santanna"), frame)
    assert result.pretrend is None
    assert any("every lead (-3, -2, -1) rests on a single treated cluster" in w for w in result.warnings)


# --- the multiplier bootstrap -----------------------------------------------------------------------------------


@pytest.mark.parametrize("weights", ["mammen", "rademacher"])
def test_bootstrap_standard_errors_agree_with_the_analytic_ones(weights: str) -> None:
    """3,000 units: every bootstrap standard error (cells, event times, aggregations) within 10% of the analytic
    one and within 2% on average (999 draws: the IQR-based error has about 3.7% Monte-Carlo noise)."""
    frame = staggered(11, 3000)
    analytic = diff_in_diff(request(), frame)
    boot = diff_in_diff(request(inference="bootstrap", bootstrap_weights=weights), frame)
    assert boot.inference == "bootstrap" and analytic.inference == "analytic"
    pairs = [(boot.att, analytic.att), (boot.att_dynamic, analytic.att_dynamic), (boot.att_group, analytic.att_group)]
    pairs += list(zip(boot.event_study, analytic.event_study, strict=True))
    pairs += list(zip(boot.group_time, analytic.group_time, strict=True))
    ratios = []
    for b, a in pairs:
        assert b is not None and a is not None and b.estimate == a.estimate
        ratios.append(b.std_error / a.std_error)
    assert max(abs(r - 1) for r in ratios) < 0.10
    assert abs(float(np.mean(ratios)) - 1) < 0.02
    assert f"{weights.capitalize()} weights" in boot.method and "999 draws" in boot.method


def test_bootstrap_is_seeded() -> None:
    frame = staggered(12, 300)
    first = diff_in_diff(request(inference="bootstrap", seed=7), frame)
    again = diff_in_diff(request(inference="bootstrap", seed=7), frame)
    other = diff_in_diff(request(inference="bootstrap", seed=8), frame)
    assert first == again
    assert first.att.std_error != other.att.std_error
    assert abs(first.att.std_error / other.att.std_error - 1) < 0.1


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_bootstrap_matches_csdid_loosely() -> None:
    """csdid's multiplier bootstrap (Mammen weights, 999 draws, its own seed) on the same panel: cell standard
    errors agree within 15% each and 4% on average (two Monte-Carlo estimates with about 4% noise each; ours is
    also small-sample corrected, +0.5% at 100 units per cohort)."""
    from csdid.att_gt import ATTgt  # type: ignore[import-untyped]

    frame = staggered(21, 300, n_periods=7)
    np.random.seed(1)  # csdid draws from numpy's global state
    fit = ATTgt(yname="y", tname="period", idname="unit", gname="cohort", data=frame, biters=999, cband=True)
    ref = fit.fit(est_method="reg", bstrap=True).results
    result = diff_in_diff(request(inference="bootstrap"), frame)
    cells = {(int(c.cohort), int(c.period)): c for c in result.group_time}
    ratios = [
        cells[(int(g), int(t))].std_error / se for g, t, se in zip(ref["group"], ref["year"], ref["se"], strict=True)
    ]
    assert len(ratios) == len(cells)
    assert max(abs(r - 1) for r in ratios) < 0.15
    assert abs(float(np.mean(ratios)) - 1) < 0.04


def test_gaussian_limit_for_panels_too_large_for_the_exact_bootstrap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above the work limit the bootstrap is its Gaussian limit: analytic errors, the analytic band; said so."""
    frame = staggered(13, 300)
    analytic = diff_in_diff(request(), frame)
    monkeypatch.setattr(did_inference, "MAX_EXACT_WORK", 0)
    limit = diff_in_diff(request(inference="bootstrap"), frame)
    assert limit.att.std_error == analytic.att.std_error
    assert limit.band_critical_value == analytic.band_critical_value
    assert "Gaussian limit" in limit.method


def test_bootstrap_with_a_regression_estimator_is_noted() -> None:
    frame = staggered(14, 120)
    result = diff_in_diff(request(estimator="event_study", inference="bootstrap"), frame)
    assert result.inference == "analytic"
    assert any("applies to Callaway-Sant'Anna only" in w for w in result.warnings)


def test_bootstrap_replications_are_bounded() -> None:
    with pytest.raises(ValidationError):
        request(bootstrap=10)


# --- simultaneous bands -------------------------------------------------------------------------------------------


def test_band_critical_value_closed_forms() -> None:
    """Two independent estimates: P(max |Z| <= c) = (2 Phi(c) - 1)^2 = 0.95; perfectly correlated: 1.96; one
    estimate: no band."""
    independent = band_critical(np.diag([1.0, 4.0]), 0.05, seed=1)
    assert independent == pytest.approx(float(special.ndtri((1 + math.sqrt(0.95)) / 2)), abs=0.02)
    assert band_critical(np.ones((2, 2)), 0.05, seed=1) == pytest.approx(1.959964, abs=0.01)
    assert band_critical(np.eye(1), 0.05, seed=1) is None
    # mapped to t(df): the quantile at the same level
    assert band_critical_t(1.959964, 10) == pytest.approx(float(stats.t.ppf(0.975, 10)), rel=1e-5)


@pytest.mark.parametrize("inference", ["analytic", "bootstrap"])
def test_bands_are_wider_than_pointwise_intervals(inference: str) -> None:
    result = diff_in_diff(request(inference=inference), staggered(15, 300))
    assert result.band_critical_value is not None and result.band_critical_value > 2.2
    for event in result.event_study:
        assert event.band_lower is not None and event.band_upper is not None
        assert event.band_lower < event.ci_lower and event.band_upper > event.ci_upper


def test_twfe_event_study_has_a_band() -> None:
    frame = staggered(16, 120)
    frame["cohort"] = np.where(frame["cohort"] > 0, 4, 0)
    result = diff_in_diff(request(estimator="event_study"), frame)
    assert result.band_critical_value is not None
    for event in result.event_study:
        if event.reference:
            assert event.band_lower is None
        else:
            assert event.band_lower is not None and event.band_lower < event.ci_lower
