"""refute's synthetic control battery: the in-time placebo, the in-space placebos, leave-one-donor-out and donor
subsets, through the refute tool, against closed forms (DiD's placebos), the tool run on hand-made frames, and
panels built to fail one check."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from tests.tools.test_synth_inference import factor_panel
from tests.tools.test_synth_tool import long_frame
from tools.errors import ToolError
from tools.refute.designs.synth import SyntheticControlDesign
from tools.refute.models import RefuteCheck, RefuteRequest, RefuteResult
from tools.refute.tool import refute
from tools.synth.models import SyntheticControlRequest
from tools.synth.tool import synthetic_control

ROOT = Path(__file__).resolve().parents[2]
PROP99 = ROOT / "tests" / "fixtures" / "synth" / "california_prop99.csv"
MARKETS = ROOT / "examples" / "data" / "market_launch.csv"
MARKET = {
    "dataset": "markets",
    "outcome": "orders_per_1k_users",
    "unit": "market",
    "time": "week",
    "treatment": "assistant_live",
}
CALIFORNIA = {"dataset": "prop99", "outcome": "PacksPerCapita", "unit": "State", "time": "Year", "treatment": "treated"}
PANEL = {"dataset": "panel", "outcome": "y", "unit": "unit", "time": "period", "treatment": "d"}
TRUE_EFFECT = 3.0  # examples/generate.py: +3.0 in market_07 from week 41, nothing before


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread() -> Iterator[None]:
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def markets() -> pd.DataFrame:
    return pd.read_csv(MARKETS)


@pytest.fixture(scope="module")
def prop99() -> pd.DataFrame:
    return pd.read_csv(PROP99, sep=";")


def run(target: dict[str, Any], frame: pd.DataFrame, **fields: Any) -> RefuteResult:
    request = {"target": {"tool": "synthetic_control", "request": target}, **fields}
    return refute(RefuteRequest.model_validate(request), frame)


def by_name(result: RefuteResult) -> dict[str, RefuteCheck]:
    return {c.name: c for c in result.checks}


def tool_effect(target: dict[str, Any], frame: pd.DataFrame) -> float:
    return synthetic_control(SyntheticControlRequest.model_validate(target), frame).effect.estimate


def wide(frame: pd.DataFrame, target: dict[str, Any]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Units, periods and the units x periods outcome matrix."""
    table = frame.pivot(index=target["unit"], columns=target["time"], values=target["outcome"])
    return [str(u) for u in table.index], table.columns.to_numpy(dtype=np.int64), table.to_numpy(dtype=np.float64)


def treated_unit(frame: pd.DataFrame, target: dict[str, Any]) -> str:
    return str(frame.loc[frame[target["treatment"]] == 1, target["unit"]].iloc[0])


# --- the bundled market example (true effect +3.0 from week 41) --------------------------------------------------


def test_market_battery_is_robust_with_a_null_in_time_placebo(markets: pd.DataFrame) -> None:
    result = run(MARKET, markets)
    checks = by_name(result)
    assert set(checks) == {"placebo_time", "leave_one_out", "placebo_treatment"}  # the spec's auto battery
    assert result.target_tool == "synthetic_control" and result.verdict == "robust"
    effect = result.effect.estimate
    assert effect == pytest.approx(TRUE_EFFECT, abs=0.5)
    placebo = checks["placebo_time"]
    # no effect before week 41 by construction: backdated to week 21, the placebo effect is near 0 against the effect
    assert placebo.verdict == "pass" and placebo.estimate is not None
    assert abs(placebo.estimate) < 0.1 * effect
    assert "to 21" in placebo.procedure and "20 fake post-period(s) from 21" in placebo.detail


def test_market_leave_one_donor_out_equals_the_tool_rerun_without_each_donor(markets: pd.DataFrame) -> None:
    result = run(MARKET, markets, checks=["leave_one_out"])
    (check,) = result.checks
    weights = synthetic_control(SyntheticControlRequest.model_validate(MARKET), markets).unit_weights
    positive = [w.unit for w in weights if w.weight > 1e-10]
    reference = np.array([tool_effect(MARKET, markets[markets["market"] != unit]) for unit in positive])
    assert f"({len(positive)} refits" in check.procedure
    assert check.estimate == pytest.approx(float(reference.mean()), rel=1e-9)
    low, high = (float(v) for v in re.findall(r"range from (\S+) \(without .*?\) to (\S+) \(without", check.detail)[0])
    np.testing.assert_allclose([low, high], [reference.min(), reference.max()], rtol=5e-4)  # 4 significant digits
    # the range brackets the estimate and stays positive: no donor makes the effect
    assert reference.min() <= result.effect.estimate <= reference.max()
    assert reference.min() > 0 and check.verdict == "pass"
    assert f"{len(positive)} of {len(positive)} would still exclude 0" in check.detail


def did_placebos(frame: pd.DataFrame, target: dict[str, Any], start: int) -> tuple[np.ndarray, np.ndarray]:
    """Closed form of DiD's in-space placebos: each donor against the mean of the others, minus the same in the
    pre-period; and each placebo's pre-period RMSPE (its gap path less its pre-period mean)."""
    units, periods, y = wide(frame, target)
    y = np.delete(y, units.index(treated_unit(frame, target)), axis=0)
    pre = periods < start
    others = (y.sum(axis=0)[None, :] - y) / (len(y) - 1)
    gap = y - others
    gap = gap - gap[:, pre].mean(axis=1, keepdims=True)
    return gap[:, ~pre].mean(axis=1), np.sqrt(np.mean(gap[:, pre] ** 2, axis=1))


def test_did_in_space_placebos_against_their_closed_form(markets: pd.DataFrame) -> None:
    target = {**MARKET, "estimator": "did"}
    result = run(target, markets, checks=["placebo_treatment"])
    (check,) = result.checks
    taus, pre_rmspe = did_placebos(markets, target, 41)
    units, periods, y = wide(markets, target)
    row = units.index("market_07")
    gap = y[row] - np.delete(y, row, axis=0).mean(axis=0)
    pre = periods < 41
    gap = gap - gap[pre].mean()
    treated_tau, treated_pre = gap[~pre].mean(), np.sqrt(np.mean(gap[pre] ** 2))
    assert result.effect.estimate == pytest.approx(treated_tau, rel=1e-9)
    assert check.distribution is not None and check.distribution.draws == 29
    assert check.distribution.mean == pytest.approx(taus.mean(), abs=1e-9)
    assert check.distribution.std_dev == pytest.approx(taus.std(ddof=1), rel=1e-9)
    comparable = pre_rmspe**2 <= 5 * treated_pre**2
    p_value = (1 + np.sum(np.abs(taus[comparable]) >= abs(treated_tau))) / (comparable.sum() + 1)
    assert check.p_value == pytest.approx(p_value)
    assert check.verdict == ("pass" if p_value < 0.05 else "inconclusive")


def test_market_donor_subsets_stay_near_the_estimate(markets: pd.DataFrame) -> None:
    result = run(MARKET, markets, checks=["data_subset"], simulations=40)
    (check,) = result.checks
    assert check.verdict == "pass" and "random 80% of the donor pool" in check.procedure
    assert check.distribution is not None and check.distribution.draws == 40
    assert check.distribution.minimum > 0


def test_adoptions_give_the_same_battery_as_the_treatment_column(markets: pd.DataFrame) -> None:
    by_column = run(MARKET, markets, checks=["placebo_time", "placebo_treatment"])
    target = {k: v for k, v in MARKET.items() if k != "treatment"}
    adoptions = {**target, "adoptions": [{"unit": "market_07", "first_period": 41}]}
    by_adoptions = run(adoptions, markets, checks=["placebo_time", "placebo_treatment"])
    assert [c.model_dump() for c in by_adoptions.checks] == [c.model_dump() for c in by_column.checks]


# --- Prop 99 -------------------------------------------------------------------------------------------------------


def test_prop99_did_in_time_placebo_is_the_two_by_two_before_1989(prop99: pd.DataFrame) -> None:
    target = {**CALIFORNIA, "estimator": "did"}
    result = run(target, prop99, checks=["placebo_time"])
    (check,) = result.checks
    # 19 pre-years (1970-1988), moved back min(12 post-years, 19 // 2) = 9 years: a fake start in 1980
    units, years, y = wide(prop99, target)
    before, late = years < 1989, (years >= 1980) & (years < 1989)
    diff = y[:, late].mean(axis=1) - y[:, before & ~late].mean(axis=1)
    row = units.index("California")
    expected = diff[row] - np.delete(diff, row).mean()
    assert check.estimate == pytest.approx(expected, rel=1e-9)
    assert "to 1980" in check.procedure and check.verdict == "pass"


def test_prop99_battery(prop99: pd.DataFrame) -> None:
    result = run(CALIFORNIA, prop99, checks=["auto", "data_subset"])
    checks = by_name(result)
    assert {name: c.verdict for name, c in checks.items()} == dict.fromkeys(checks, "pass")
    loo = checks["leave_one_out"]
    assert "(27 refits of the synthetic_did estimator on the remaining 37 donors)" in loo.procedure
    # the tool's own rank test puts California first of 39 by its RMSPE ratio (ADH 2010: p = 1/39)
    assert "RMSPE-ratio rank: 1 of 39 (p = 0.0256)" in checks["placebo_treatment"].detail
    assert result.verdict == "robust"
    assert any("not significant" in w for w in result.warnings)  # SDID's placebo interval covers 0 (AAHIW: 9.4 SE)


def test_prop99_interrupted_time_series_fails_its_in_time_placebo(prop99: pd.DataFrame) -> None:
    """California's sales were already falling faster in the 1980s than the 1970s trend says: backdated to 1980, the
    series against its own trend shows an 'effect' as large as the real one."""
    result = run({**CALIFORNIA, "estimator": "interrupted_time_series"}, prop99)
    checks = by_name(result)
    assert checks["placebo_time"].verdict == "fail"
    assert result.verdict == "failed" and result.decided_by == ["placebo_time"]


# --- panels built to fail ------------------------------------------------------------------------------------------


def test_an_early_break_in_the_treated_unit_fails_the_in_time_placebo() -> None:
    rng = np.random.default_rng(5)
    y = factor_panel(20, 1, 40, 30, 2.0, rng)
    sound = run(PANEL, long_frame(y, 1, 30), checks=["placebo_time"]).checks[0]
    assert sound.verdict == "pass" and sound.estimate is not None
    y[-1, 24:] += 8.0  # the treated unit breaks away from period 25, six periods before the change
    broken = run(PANEL, long_frame(y, 1, 30))
    placebo = by_name(broken)["placebo_time"]
    assert placebo.verdict == "fail" and placebo.p_value is not None and placebo.p_value < 0.05
    # fake start at period 21 (30 pre-periods, moved back min(10, 15)): the weights are fitted on periods 1-20 and
    # the donors are unchanged, so the break adds exactly 8 x 6 / 10 to the placebo effect
    assert placebo.estimate == pytest.approx(sound.estimate + 8.0 * 6 / 10, rel=1e-9)
    assert broken.verdict == "failed" and "placebo_time" in broken.decided_by


def test_a_donor_with_its_own_shock_fails_leave_one_out() -> None:
    rng = np.random.default_rng(11)
    donors = np.cumsum(rng.normal(size=(10, 30)), axis=1) + rng.normal(0, 3, size=(10, 1))
    treated = donors[0] + rng.normal(0, 0.1, size=30)  # the synthetic unit is donor u00
    donors[0, 20:] -= 6.0  # which has a shock of its own after the change
    frame = long_frame(np.vstack([donors, treated]), 1, 20)
    result = run({**PANEL, "estimator": "synthetic_control"}, frame, checks=["leave_one_out"])
    (check,) = result.checks
    assert result.effect.estimate == pytest.approx(6.0, abs=1.0)
    assert check.verdict == "fail" and "(without 'u00')" in check.detail
    assert result.verdict == "fragile"


# --- the interrupted time series, several treated units, few donors -----------------------------------------------


def test_interrupted_time_series_runs_the_in_time_placebo_only(markets: pd.DataFrame) -> None:
    series = markets[markets["market"] == "market_07"].drop(columns="market")
    target = {**{k: v for k, v in MARKET.items() if k != "unit"}, "estimator": "interrupted_time_series"}
    result = run(target, series, checks=["auto", "data_subset"])
    checks = by_name(result)
    # the reference: the tool on the weeks before 41, with the change moved to week 21 by hand
    before = series[series["week"] < 41].assign(assistant_live=lambda f: (f["week"] >= 21).astype(int))
    assert checks["placebo_time"].estimate == pytest.approx(tool_effect(target, before), rel=1e-12)
    assert checks["placebo_time"].verdict == "pass"
    for name in ("leave_one_out", "placebo_treatment", "data_subset"):
        assert checks[name].verdict == "inconclusive"
        assert "interrupted time series has no donors" in checks[name].detail
    assert result.verdict == "robust" and result.decided_by == ["placebo_time"]


def test_several_treated_units_draw_random_donor_sets_seeded() -> None:
    rng = np.random.default_rng(7)
    frame = long_frame(factor_panel(15, 2, 30, 20, 3.0, rng), 2, 20)
    first = run(PANEL, frame, checks=["placebo_treatment"], simulations=30, seed=1)
    request = {"target": {"tool": "synthetic_control", "request": PANEL}, "checks": ["placebo_treatment"]}
    again = refute(RefuteRequest.model_validate({**request, "simulations": 30, "seed": 1}), frame, workers=1)
    other = run(PANEL, frame, checks=["placebo_treatment"], simulations=30, seed=2)
    (check,) = first.checks
    assert "30 random sets of 2 donors" in check.procedure
    assert check.distribution is not None and check.distribution.draws == 30
    assert first.model_dump() == again.model_dump()
    assert other.checks[0].distribution != check.distribution


def test_synthetic_control_with_covariates_and_two_treated_refits_each_placebo() -> None:
    rng = np.random.default_rng(21)
    frame = long_frame(factor_panel(8, 2, 14, 10, 2.0, rng), 2, 10)
    frame["x1"] = frame.groupby("unit")["y"].transform("mean") + rng.normal(0, 0.1, len(frame))
    target = {**PANEL, "estimator": "synthetic_control", "covariates": ["x1"]}
    result = run(target, frame, checks=["placebo_treatment"], simulations=10)
    (check,) = result.checks
    assert check.distribution is not None and check.distribution.draws == 10
    assert "10 random sets of 2 donors" in check.procedure


def test_few_donors_say_what_they_cannot_judge() -> None:
    rng = np.random.default_rng(3)
    frame = long_frame(factor_panel(3, 1, 20, 14, 4.0, rng), 1, 14)
    checks = by_name(run(PANEL, frame, checks=["auto", "data_subset"]))
    assert checks["data_subset"].verdict == "inconclusive"
    assert "Only 3 donors; subsets of the donor pool need at least 5" in checks["data_subset"].detail
    placebo = checks["placebo_treatment"]
    assert placebo.verdict in ("inconclusive", "fail") and "smallest attainable" in placebo.detail


def test_checks_outside_the_battery_are_refused(markets: pd.DataFrame) -> None:
    with pytest.raises(ToolError) as caught:
        run(MARKET, markets, checks=["bootstrap"])
    assert caught.value.code == "check_not_applicable"


def test_progress_counts_every_refit(markets: pd.DataFrame) -> None:
    seen: list[tuple[int, int]] = []
    request = RefuteRequest.model_validate({"target": {"tool": "synthetic_control", "request": MARKET}})
    refute(request, markets, progress=lambda done, total, _label: seen.append((done, total)))
    done, total = seen[-1]
    assert done == total == 1 + 17 + 1  # in-time placebo, 17 donors with weight, the placebos in one batch


def test_weeks_as_dates_backdate_the_same_periods(markets: pd.DataFrame) -> None:
    dated = markets.assign(week=pd.Timestamp("2024-01-01") + pd.to_timedelta((markets["week"] - 1) * 7, unit="D"))
    by_number = run(MARKET, markets, checks=["placebo_time"]).checks[0]
    by_date = run(MARKET, dated, checks=["placebo_time"]).checks[0]
    assert by_date.estimate == pytest.approx(by_number.estimate, rel=1e-12)
    assert "to 2024-05-20" in by_date.procedure  # week 21


@pytest.mark.parametrize("estimator", ["synthetic_did", "synthetic_control", "did", "interrupted_time_series"])
def test_design_estimate_is_the_tools_headline(markets: pd.DataFrame, estimator: str) -> None:
    target = {**MARKET, "estimator": estimator}
    design = SyntheticControlDesign(target, markets, 0.05)
    half = markets[markets["market"].isin([f"market_{i:02d}" for i in range(1, 16)])]
    estimate, p_value = design.estimate(half)
    assert estimate == pytest.approx(tool_effect(target, half), rel=1e-12) and np.isnan(p_value)
