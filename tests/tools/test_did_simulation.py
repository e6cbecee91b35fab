"""Seeded simulations: bias of TWFE under staggered adoption, coverage, and the pre-trend test's size and power.

Replications call the estimators on prepared panels (the same functions ``diff_in_diff`` calls; the tool's
wrapping is covered by the reference and behaviour tests) so that a thousand replications stay fast. Monte-Carlo
tolerances: with R replications a rate near 0.95 has standard error sqrt(0.05 * 0.95 / R) (0.7 points at
R = 1000); the bounds below are about 3 standard errors wide.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tools.did import DiffInDiffRequest, diff_in_diff
from tools.did.cs import CsResult, callaway_santanna
from tools.did.inference import band_critical_t, bootstrap_cs, event_band
from tools.did.panel import NEVER, Panel
from tools.did.twfe import event_study, pretrend_f, regression_sample, static_twfe

#: Seeded simulations: `python3 dev.py test --fast` skips them.
pytestmark = pytest.mark.slow


def make_panel(
    rng: np.random.Generator,
    n_units: int,
    n_periods: int,
    cohorts: list[int],
    effect: float = 1.0,
    growth: float = 0.0,
    trend_gap: float = 0.0,
) -> tuple[Panel, float]:
    """A balanced panel with unit and period effects; cohorts are adoption period codes (-1 = never), drawn with
    equal probability. Returns the panel and the true 'simple' ATT of the realized cohorts (post cells weighted
    by cohort size, as Callaway-Sant'Anna's headline)."""
    unit = np.repeat(np.arange(n_units), n_periods).astype(np.int64)
    time = np.tile(np.arange(n_periods), n_units).astype(np.int64)
    drawn = rng.choice(np.array(cohorts), n_units)
    cohort = np.where(drawn < 0, NEVER, drawn).astype(np.int64)
    g = cohort[unit]
    treated = time >= g
    ever = (g != NEVER).astype(float)
    tau = np.where(treated, effect + growth * (time - np.where(treated, g, 0)), 0.0)
    y = (
        rng.normal(0, 1, n_units)[unit]
        + rng.normal(0, 1, n_periods)[time]
        + trend_gap * ever * time
        + tau
        + rng.normal(0, 1, len(unit))
    )
    truth = float(tau[treated].mean()) if treated.any() else 0.0  # rows: cohort-size weights over post cells
    panel = Panel(
        y=y, unit=unit, time=time, n_units=n_units, n_periods=n_periods, periods=list(range(n_periods)),
        cohort=cohort, weights=None, cluster=unit, n_clusters=n_units, covariates=None, covariate_names=[],
        balanced=True,
    )  # fmt: skip
    return panel, truth


def to_frame(panel: Panel) -> pd.DataFrame:
    cohort = panel.cohort[panel.unit]
    return pd.DataFrame(
        {
            "unit": panel.unit,
            "period": panel.time + 1,
            "y": panel.y,
            "cohort": np.where(cohort == NEVER, 0, cohort + 1),
        }
    )


def test_staggered_growing_effects_bias_twfe_and_callaway_santanna_recovers_the_truth() -> None:
    rng = np.random.default_rng(2021)
    panel, truth = make_panel(rng, 1500, 10, [2, 5, 8, -1], effect=1.0, growth=0.5)
    frame = to_frame(panel)
    result = diff_in_diff(
        DiffInDiffRequest(dataset="p", outcome="y", unit="unit", time="period", cohort="cohort"), frame
    )
    assert result.estimator == "callaway_santanna"
    att, twfe = result.att, result.twfe
    # Callaway-Sant'Anna: within 3 standard errors of the truth (seeded: this is a fixed check, not a rate)
    assert abs(att.estimate - truth) < 3 * att.std_error
    # TWFE: visibly biased downwards, by far more than its own standard error and outside CS's interval
    assert twfe.estimate < truth - 10 * twfe.std_error
    assert twfe.estimate < att.ci_lower
    assert any("disagree" in w for w in result.warnings)
    check = next(c for c in result.checks if c.name == "twfe_vs_robust")
    assert check.status == "warn" and "negative weight" in check.detail


def test_callaway_santanna_interval_coverage() -> None:
    rng = np.random.default_rng(7)
    reps, covered = 1000, 0
    for _ in range(reps):
        panel, truth = make_panel(rng, 120, 6, [2, 4, -1], effect=1.0, growth=0.3)
        simple = callaway_santanna(panel, "never_treated", "varying").simple
        covered += abs(simple.estimate - truth) <= 1.959964 * simple.std_error
    # the estimand conditions on the realized cohorts, as above; 1000 reps: Monte-Carlo SE 0.7 points
    assert abs(covered / reps - 0.95) <= 0.02


def test_twfe_interval_coverage_single_adoption() -> None:
    rng = np.random.default_rng(8)
    reps, covered = 600, 0
    for _ in range(reps):
        panel, _ = make_panel(rng, 80, 6, [3, -1], effect=0.5)
        fit = static_twfe(regression_sample(panel), [])
        from scipy import stats

        crit = stats.t.ppf(0.975, fit.df_t)
        covered += abs(fit.coefficients[0] - 0.5) <= crit * np.sqrt(fit.covariance[0, 0])
    # 600 reps: Monte-Carlo SE 0.9 points
    assert abs(covered / reps - 0.95) <= 0.025


def _pretrend_p(panel: Panel) -> float:
    sample = regression_sample(panel)
    study = event_study(sample, [], -1, None, None)
    test = pretrend_f(study, sample.n_clusters)
    assert test is not None
    return test[-1]


def test_pretrend_test_size_under_parallel_trends() -> None:
    rng = np.random.default_rng(9)
    reps = 1000
    rejections = sum(_pretrend_p(make_panel(rng, 60, 8, [5, -1], effect=1.0)[0]) < 0.05 for _ in range(reps))
    # four leads, 60 clusters; 1000 reps: Monte-Carlo SE 0.7 points
    assert abs(rejections / reps - 0.05) <= 0.02


def test_pretrend_test_power_under_a_differential_trend() -> None:
    rng = np.random.default_rng(10)
    reps = 200
    rejections = sum(
        _pretrend_p(make_panel(rng, 60, 8, [5, -1], effect=1.0, trend_gap=0.4)[0]) < 0.05 for _ in range(reps)
    )
    assert rejections / reps >= 0.95


@pytest.mark.parametrize("control_group", ["never_treated", "not_yet_treated"])
def test_callaway_santanna_is_unbiased_with_heterogeneous_effects(control_group: str) -> None:
    rng = np.random.default_rng(11)
    errors = []
    for _ in range(300):
        panel, truth = make_panel(rng, 100, 6, [2, 3, 5, -1], effect=2.0, growth=-0.3)
        errors.append(callaway_santanna(panel, control_group, "varying").simple.estimate - truth)
    mean, se = float(np.mean(errors)), float(np.std(errors) / np.sqrt(len(errors)))
    assert abs(mean) < 3.5 * se


# --- few units per cohort (issue 17, item 4) ------------------------------------------------------------------


def equal_cohorts(rng: np.random.Generator, per: int = 30, n_periods: int = 6) -> Panel:
    """A/A panel: cohorts adopting in periods 2 and 4 and never-treated units, ``per`` units each (fixed sizes),
    unit and period effects, no effect at all."""
    cohort = np.repeat(np.array([2, 4, NEVER], dtype=np.int64), per)
    n = len(cohort)
    unit = np.repeat(np.arange(n), n_periods).astype(np.int64)
    time = np.tile(np.arange(n_periods), n).astype(np.int64)
    y = rng.normal(0, 1, n)[unit] + rng.normal(0, 1, n_periods)[time] + rng.normal(0, 1, len(unit))
    return Panel(
        y=y, unit=unit, time=time, n_units=n, n_periods=n_periods, periods=list(range(n_periods)), cohort=cohort,
        weights=None, cluster=unit, n_clusters=n, covariates=None, covariate_names=[], balanced=True,
    )  # fmt: skip


def _calibration(cs: CsResult, band: float | None) -> tuple[bool, int, int, bool]:
    """(headline rejects, event times rejected, event times, band covers every event time) under A/A at 5%."""
    assert band is not None
    crit = float(stats.t.ppf(0.975, cs.simple.df))
    events = list(cs.dynamic.values())
    t_values = np.array([abs(a.estimate) / a.std_error for a in events])
    pointwise = np.array([stats.t.ppf(0.975, a.df) for a in events])
    joint = all(t <= band_critical_t(band, a.df) for t, a in zip(t_values, events, strict=True))
    return abs(cs.simple.estimate) / cs.simple.std_error > crit, int((t_values > pointwise).sum()), len(events), joint


def test_few_units_per_cohort_a_a_rate_and_joint_band_coverage() -> None:
    """30 units per cohort, 2,000 A/A panels, the default (analytic, Welch-corrected) inference: the headline
    rejects within 1 point of 5% (it was 6.3% with R did's normal intervals on these draws, 5.85% with t(G - 1)
    alone), the seven event times too, and the simultaneous band covers all of them jointly within 1.5 points
    of 95% (pointwise intervals: about 74%). Monte-Carlo SE 0.49 points (headline), 0.49 (band)."""
    rng = np.random.default_rng(17)
    reps, headline, rejected, tested, joint = 2000, 0, 0, 0, 0
    for r in range(reps):
        cs = callaway_santanna(equal_cohorts(rng), "never_treated", "varying")
        h, k, m, j = _calibration(cs, event_band(cs, 0.05, r))
        headline, rejected, tested, joint = headline + h, rejected + k, tested + m, joint + j
    assert abs(headline / reps - 0.05) <= 0.01
    assert abs(rejected / tested - 0.05) <= 0.01
    assert abs(joint / reps - 0.95) <= 0.015


def test_few_units_per_cohort_bootstrap_a_a_rate_and_joint_band_coverage() -> None:
    """The same design with inference='bootstrap' (Mammen weights, 499 draws to keep the test affordable): A/A
    within 1.5 points of 5% and joint band coverage within 2.5 points of 95% over 800 panels (Monte-Carlo SE
    0.77 points; the bootstrap band's critical value is itself simulated)."""
    rng = np.random.default_rng(18)
    reps, headline, rejected, tested, joint = 800, 0, 0, 0, 0
    for r in range(reps):
        cs = callaway_santanna(equal_cohorts(rng), "never_treated", "varying")
        run = bootstrap_cs(cs, 499, "mammen", r, 0.05)
        assert run.exact
        h, k, m, j = _calibration(run.cs, run.band)
        headline, rejected, tested, joint = headline + h, rejected + k, tested + m, joint + j
    assert abs(headline / reps - 0.05) <= 0.015
    assert abs(rejected / tested - 0.05) <= 0.015
    assert abs(joint / reps - 0.95) <= 0.025
