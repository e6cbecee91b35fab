"""The diff_in_diff tool against independent references.

- TWFE and the event study: pyfixest ``feols(y ~ x | unit + period, vcov={"CRV1": cluster})`` (its default
  small-sample correction, singleton removal and t(G - 1) inference) on two real public panels (the R did
  package's ``mpdta``; statsmodels' Grunfeld investment panel) and on generated panels (balanced and unbalanced,
  weighted and not, covariates, clusters coarser than units). Tolerance 1e-6 relative (pyfixest demeans to
  ``fixef_tol=1e-12`` here); in practice both agree to ~1e-12.
- The 2x2 case: the difference of the four cell means, to 1e-12.
- Callaway-Sant'Anna: the R did package's analytic results on mpdta (``tests/fixtures/did``: ATT(g, t), standard
  errors, simple / dynamic / group aggregations and the Wald pre-test, never-treated and not-yet-treated controls;
  printed to 15 digits, compared to 1e-9 relative), the did README's published 4-decimal point estimates, csdid on
  a generated panel, and ATT(g, t) recomputed by hand with pandas group means. The tool's standard errors carry a
  small-sample (Welch) correction since issue 17, so R's standard errors are compared with the uncorrected
  variance (``callaway_santanna(..., small_sample=False)``, the same influence functions); the correction itself is
  checked against scipy's Welch test and by hand in test_did_bootstrap.py.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tools.did import DiffInDiffRequest, diff_in_diff, event_study_fit
from tools.did.cs import callaway_santanna
from tools.did.panel import prepare_panel

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "did"
REL = 1e-6  # against pyfixest (iterative demeaning on its side)
EXACT = 1e-9  # against published 15-digit values and closed forms

pf = pytest.importorskip("pyfixest")

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore:.*singleton.*:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*fixef_tol.*:UserWarning"),
]


def request(**fields: Any) -> DiffInDiffRequest:
    base: dict[str, Any] = {"dataset": "panel", "outcome": "y", "unit": "unit", "time": "period"}
    return DiffInDiffRequest.model_validate({**base, **fields})


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    frame = pd.read_csv(FIXTURES / "mpdta.csv")
    frame["d"] = ((frame["first.treat"] > 0) & (frame["year"] >= frame["first.treat"])).astype(int)
    return frame


def feols(formula: str, data: pd.DataFrame, cluster: str, weights: str | None = None) -> Any:
    return pf.feols(formula, data=data, vcov={"CRV1": cluster}, weights=weights, fixef_tol=1e-12)


def generated_panel(
    seed: int, n_units: int = 120, n_periods: int = 8, unbalanced: bool = False, staggered: bool = True
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n_units), n_periods)
    period = np.tile(np.arange(n_periods), n_units) + 1
    cohorts = np.array([3, 5, 0]) if staggered else np.array([5, 0])
    cohort = rng.choice(cohorts, n_units)[unit]
    treated = (cohort > 0) & (period >= cohort)
    x1 = rng.normal(size=len(unit)) + 0.1 * period
    y = (
        rng.normal(size=n_units)[unit]
        + 0.3 * period
        + 0.5 * x1
        + treated * (1.0 + 0.3 * (period - cohort))
        + rng.normal(size=len(unit))
    )
    frame = pd.DataFrame(
        {
            "unit": unit + 1000,
            "period": period,
            "y": y,
            "d": treated.astype(int),
            "cohort": cohort,
            "x1": x1,
            "w": rng.uniform(0.5, 3.0, len(unit)),
            "w_unit": rng.uniform(0.5, 3.0, n_units)[unit],
            "region": (unit % 37),
        }
    )
    if unbalanced:
        frame = frame.sample(frac=0.8, random_state=seed).reset_index(drop=True)
    return frame


def assert_p_value_matches(ours: float, fit: Any, coef: str) -> None:
    """The p-value against pyfixest's t statistic on t(G - 1), on the log scale, and against pyfixest's own p-value
    where that is accurate.

    pyfixest reports 2 * (1 - cdf(|t|)), which is rounding noise below about 1e-12 (0.0 or ~1e-16 for |t| near 10),
    so the reference for a tiny p-value is the accurate tail of its own t statistic. log p moves about t^2 times the
    relative error of t, so a relative tolerance on p itself would demand more than the estimates agree to."""
    t_stat = float(fit.tstat()[coef])
    tail = float(2 * stats.t.sf(abs(t_stat), int(fit._G[0]) - 1))
    assert ours > 0.0
    assert math.log(ours) == pytest.approx(math.log(tail), rel=1e-5, abs=1e-5)
    reported = float(fit.pvalue()[coef])
    if reported > 1e-8:
        assert ours == pytest.approx(reported, rel=1e-4)


def assert_twfe_matches(result_twfe: Any, fit: Any, coef: str = "d") -> None:
    assert result_twfe.estimate == pytest.approx(float(fit.coef()[coef]), rel=REL)
    assert result_twfe.std_error == pytest.approx(float(fit.se()[coef]), rel=REL)
    assert_p_value_matches(result_twfe.p_value, fit, coef)
    low, high = fit.confint().loc[coef]
    assert result_twfe.ci_lower == pytest.approx(float(low), rel=REL)
    assert result_twfe.ci_upper == pytest.approx(float(high), rel=REL)


# --- TWFE against pyfixest ----------------------------------------------------------------------------


def test_twfe_mpdta_matches_pyfixest(mpdta: pd.DataFrame) -> None:
    result = diff_in_diff(
        request(outcome="lemp", unit="countyreal", time="year", treatment="d", estimator="twfe"), mpdta
    )
    fit = feols("lemp ~ d | countyreal + year", mpdta, "countyreal")
    assert_twfe_matches(result.twfe, fit)
    assert result.att == result.twfe
    assert result.n_obs == fit._N == 2500


def test_twfe_mpdta_state_clusters_weighted_unbalanced(mpdta: pd.DataFrame) -> None:
    frame = mpdta.sample(frac=0.85, random_state=3).copy()
    frame["state"] = frame["countyreal"] // 1000
    frame["pop"] = np.exp(frame["lpop"])
    result = diff_in_diff(
        request(
            outcome="lemp", unit="countyreal", time="year", treatment="d", estimator="twfe", cluster="state",
            weights="pop",
        ),
        frame,
    )  # fmt: skip
    fit = feols("lemp ~ d | countyreal + year", frame, "state", weights="pop")
    assert_twfe_matches(result.twfe, fit)
    assert result.n_clusters == fit._G[0]
    assert result.n_obs == fit._N  # singletons dropped like pyfixest


def test_twfe_grunfeld_with_covariates_matches_pyfixest() -> None:
    import statsmodels.api as sm

    frame = sm.datasets.grunfeld.load_pandas().data
    frame["year"] = frame["year"].astype(int)
    firms = sorted(frame["firm"].unique())
    adopters = {firm: 1945 + 3 * (i % 3) for i, firm in enumerate(firms) if i % 2 == 0}
    frame["d"] = [int(f in adopters and y >= adopters[f]) for f, y in zip(frame["firm"], frame["year"], strict=True)]
    result = diff_in_diff(
        request(
            outcome="invest", unit="firm", time="year", treatment="d", estimator="twfe",
            covariates=["value", "capital"],
        ),
        frame,
    )  # fmt: skip
    fit = feols("invest ~ d + value + capital | firm + year", frame, "firm")
    assert_twfe_matches(result.twfe, fit)
    assert result.n_clusters == 11
    assert any("clusters" in w for w in result.warnings)  # 11 < 30: warned


@pytest.mark.parametrize("unbalanced", [False, True])
@pytest.mark.parametrize("weights", [None, "w", "w_unit"])
def test_twfe_generated_panels_match_pyfixest(unbalanced: bool, weights: str | None) -> None:
    frame = generated_panel(11, unbalanced=unbalanced)
    result = diff_in_diff(request(treatment="d", estimator="twfe", weights=weights, covariates=["x1"]), frame)
    fit = feols("y ~ d + x1 | unit + period", frame, "unit", weights=weights)
    assert_twfe_matches(result.twfe, fit)
    coarse = diff_in_diff(request(treatment="d", estimator="twfe", weights=weights, cluster="region"), frame)
    assert_twfe_matches(coarse.twfe, feols("y ~ d | unit + period", frame, "region", weights=weights))


def test_event_study_matches_pyfixest_and_pretrend_by_hand() -> None:
    frame = generated_panel(5, n_units=150, unbalanced=True)
    req = request(cohort="cohort", estimator="event_study", leads=3, lags=2)
    result = diff_in_diff(req, frame)
    rel = np.where(frame["cohort"] > 0, frame["period"] - frame["cohort"], np.nan)
    binned = np.clip(rel, -3, 2)
    names = []
    for e in range(-3, 3):
        if e == -1:
            continue
        name = f"e_m{-e}" if e < 0 else f"e_{e}"
        frame[name] = (binned == e).astype(float)
        names.append(name)
    fit = feols("y ~ " + " + ".join(names) + " | unit + period", frame, "unit")
    by_period = {e.relative_period: e for e in result.event_study}
    assert by_period[-1].reference and by_period[-1].estimate == 0.0
    for name, e in zip(names, [-3, -2, 0, 1, 2], strict=True):
        assert by_period[e].estimate == pytest.approx(float(fit.coef()[name]), rel=REL)
        assert by_period[e].std_error == pytest.approx(float(fit.se()[name]), rel=REL)
        assert_p_value_matches(by_period[e].p_value, fit, name)
        assert by_period[e].n_obs == int(fit._data[name].sum())  # treated rows in the estimation sample
    # joint test of the two leads, by hand from pyfixest's covariance
    lead_names = ["e_m3", "e_m2"]
    b = fit.coef()[lead_names].to_numpy()
    v = fit._vcov[np.ix_([names.index(n) for n in lead_names], [names.index(n) for n in lead_names])]
    wald = float(b @ np.linalg.solve(v, b))
    g = int(fit._G[0])  # clusters after dropping singleton units
    f_value = wald * (g - 2) / (2 * (g - 1))
    assert result.pretrend is not None
    assert result.pretrend.wald == pytest.approx(wald, rel=REL)
    assert result.pretrend.statistic == pytest.approx(f_value, rel=REL)
    assert (result.pretrend.df, result.pretrend.df_denominator) == (2, g - 2)
    assert result.pretrend.p_value == pytest.approx(float(stats.f.sf(f_value, 2, g - 2)), rel=REL)
    # the event-study ATT: post coefficients averaged by treated rows
    counts = fit._data[["e_0", "e_1", "e_2"]].sum().to_numpy(dtype=float)  # treated rows in the sample
    post = fit.coef()[["e_0", "e_1", "e_2"]].to_numpy()
    assert result.att.estimate == pytest.approx(float(counts @ post / counts.sum()), rel=REL)
    # event_study_fit carries the same coefficients and covariance
    es = event_study_fit(req, frame)
    assert es.relative_periods == [-3, -2, 0, 1, 2] and es.n_pre == 2 and es.reference_period == -1
    np.testing.assert_allclose(es.coefficients, fit.coef()[names].to_numpy(), rtol=REL)
    np.testing.assert_allclose(es.covariance, fit._vcov, rtol=REL, atol=1e-14)


def test_event_study_with_covariate_weights_and_coarse_clusters_matches_pyfixest() -> None:
    frame = generated_panel(6, n_units=150, unbalanced=True)
    req = request(
        cohort="cohort", estimator="event_study", leads=2, lags=2, covariates=["x1"], weights="w", cluster="region"
    )
    result = diff_in_diff(req, frame)
    binned = np.clip(np.where(frame["cohort"] > 0, frame["period"] - frame["cohort"], np.nan), -2, 2)
    names = []
    for e in (-2, 0, 1, 2):
        names.append(f"e_m{-e}" if e < 0 else f"e_{e}")
        frame[names[-1]] = (binned == e).astype(float)
    fit = feols("y ~ " + " + ".join(names) + " + x1 | unit + period", frame, "region", weights="w")
    points = [e for e in result.event_study if not e.reference]
    np.testing.assert_allclose([e.estimate for e in points], fit.coef()[names].to_numpy(), rtol=REL)
    np.testing.assert_allclose([e.std_error for e in points], fit.se()[names].to_numpy(), rtol=REL)
    np.testing.assert_allclose(event_study_fit(req, frame).covariance, fit._vcov[:4, :4], rtol=REL, atol=1e-14)


@pytest.mark.parametrize("never_treated", [True, False])
def test_balanced_event_study_fast_path_matches_pyfixest(never_treated: bool) -> None:
    """Balanced, unweighted, unit clusters: the event study takes the closed-form path (no n x k design); against
    pyfixest, and against the general path (the same panel with weights all 1)."""
    frame = generated_panel(9, n_units=160, n_periods=8)
    if not never_treated:  # every unit adopts: one relative period is not identified and is dropped
        frame = frame[frame["cohort"] > 0].copy()
    req = request(cohort="cohort", estimator="event_study")
    result = diff_in_diff(req, frame)
    frame["one"] = 1.0
    general = diff_in_diff(request(cohort="cohort", estimator="event_study", weights="one"), frame)
    points = [e for e in result.event_study if not e.reference]
    periods = [e.relative_period for e in points]
    names = [f"e_m{-e}" if e < 0 else f"e_{e}" for e in periods]
    for e, name in zip(periods, names, strict=True):
        frame[name] = ((frame["cohort"] > 0) & (frame["period"] - frame["cohort"] == e)).astype(float)
    fit = feols("y ~ " + " + ".join(names) + " | unit + period", frame, "unit")
    np.testing.assert_allclose([e.estimate for e in points], fit.coef()[names].to_numpy(), rtol=REL)
    np.testing.assert_allclose([e.std_error for e in points], fit.se()[names].to_numpy(), rtol=REL)
    assert [e.relative_period for e in general.event_study] == [e.relative_period for e in result.event_study]
    np.testing.assert_allclose(
        [e.estimate for e in general.event_study], [e.estimate for e in result.event_study], rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(
        [e.std_error for e in general.event_study], [e.std_error for e in result.event_study], rtol=1e-9
    )
    assert result.pretrend is not None and general.pretrend is not None
    assert result.pretrend.wald == pytest.approx(general.pretrend.wald, rel=1e-9)
    if not never_treated:
        assert any("could not be separated" in w for w in result.warnings)


@pytest.mark.parametrize("weighted", [False, True])
def test_exact_and_iterated_demeaning_agree_on_a_large_unbalanced_panel(
    weighted: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exact period-system demeaning against alternating projections (and both against zero group means) on
    20k units: the size where a loose pseudo-inverse cut-off once let rounding into the solution."""
    from tools.did import within

    rng = np.random.default_rng(4)
    n, periods = 20_000, 10
    rows = rng.random(n * periods) < 0.9
    unit = np.repeat(np.arange(n), periods)[rows]
    time = np.tile(np.arange(periods), n)[rows]
    keep = within.drop_singletons(unit, time, n, periods)
    unit, time = np.unique(unit[keep], return_inverse=True)[1], time[keep]
    weights = rng.uniform(0.5, 2.0, len(unit)) if weighted else None
    x = rng.normal(size=len(unit)) + rng.normal(size=n)[unit] * 3 + time * 0.5
    exact = within.regressors(unit, time, int(unit.max()) + 1, periods, weights)
    assert exact.period_solver is not None and not exact.closed_form
    residual = within.demean(x, exact)
    monkeypatch.setattr(within, "EXACT_GRID_LIMIT", 0)
    iterated = within.regressors(unit, time, int(unit.max()) + 1, periods, weights)
    assert iterated.period_solver is None
    np.testing.assert_allclose(residual, within.demean(x, iterated), atol=1e-9)
    w = np.ones(len(unit)) if weights is None else weights
    for codes in (unit, time):
        sums = np.bincount(codes, weights=residual * w) / np.bincount(codes, weights=w)
        assert np.abs(sums).max() < 1e-12


def test_two_by_two_is_the_difference_of_four_means() -> None:
    rng = np.random.default_rng(3)
    n = 60
    frame = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n), 2),
            "period": np.tile([2020, 2021], n),
            "group": np.repeat(rng.random(n) < 0.4, 2),
        }
    )
    frame["y"] = rng.normal(size=2 * n) + frame["group"] * 0.5 + (frame["period"] == 2021) * 0.3
    frame["d"] = (frame["group"] & (frame["period"] == 2021)).astype(int)
    result = diff_in_diff(request(treatment="d"), frame)
    means = frame.groupby(["group", "period"])["y"].mean()
    expected = (means[True, 2021] - means[True, 2020]) - (means[False, 2021] - means[False, 2020])
    assert result.estimator == "twfe"
    assert result.att.estimate == pytest.approx(expected, rel=1e-12)


# --- Callaway-Sant'Anna against R did ------------------------------------------------------------------


R_SCENARIO = {"never_treated": "mpdta_nev_dr", "not_yet_treated": "mpdta_nyt_dr"}
R_PRETEST = {"never_treated": 7.79123662720035, "not_yet_treated": 7.79092771882739}


@pytest.mark.parametrize("control_group", ["never_treated", "not_yet_treated"])
def test_callaway_santanna_matches_r_did_on_mpdta(mpdta: pd.DataFrame, control_group: str) -> None:
    attgt = pd.read_csv(FIXTURES / "did_r_attgt.csv")
    aggte = pd.read_csv(FIXTURES / "did_r_aggte.csv")
    attgt = attgt[attgt["scenario"] == R_SCENARIO[control_group]]
    aggte = aggte[aggte["scenario"] == R_SCENARIO[control_group]]
    req = request(outcome="lemp", unit="countyreal", time="year", cohort="first.treat", control_group=control_group)
    result = diff_in_diff(req, mpdta)
    assert result.estimator == "callaway_santanna"
    # R's standard errors: the same influence functions without the small-sample correction (issue 17)
    r_cs = callaway_santanna(prepare_panel(req, mpdta), control_group, "varying", small_sample=False)
    cells = {(c.cohort, c.period): c for c in result.group_time}
    r_se = {(c.cohort, c.period): float(se) for c, se in zip(result.group_time, r_cs.std_error, strict=True)}
    assert len(cells) == len(attgt) == 12
    for row in attgt.to_dict("records"):
        key = (int(row["group"]), int(row["t"]))
        assert cells[key].estimate == pytest.approx(row["att"], rel=EXACT)
        assert r_se[key] == pytest.approx(row["se"], rel=EXACT)
        # the corrected error is larger, by at most the smallest cohort's sqrt(G_k / (G_k - 1)) (20 counties)
        assert r_se[key] < cells[key].std_error <= r_se[key] * math.sqrt(20 / 19) * (1 + 1e-12)
    simple = aggte.query("type == 'simple'").iloc[0]
    assert result.att.estimate == pytest.approx(simple.overall_att, rel=EXACT)
    assert r_cs.simple.std_error == pytest.approx(simple.overall_se, rel=EXACT)
    dynamic = aggte.query("type == 'dynamic'")
    events = {e.relative_period: e for e in result.event_study}
    for row in dynamic.to_dict("records"):
        assert events[int(row["egt"])].estimate == pytest.approx(row["att_egt"], rel=EXACT)
        assert r_cs.dynamic[int(row["egt"])].std_error == pytest.approx(row["se_egt"], rel=EXACT)
    assert result.att_dynamic is not None and result.att_group is not None
    assert r_cs.dynamic_overall is not None and r_cs.group_overall is not None
    assert result.att_dynamic.estimate == pytest.approx(dynamic.iloc[0].overall_att, rel=EXACT)
    assert r_cs.dynamic_overall.std_error == pytest.approx(dynamic.iloc[0].overall_se, rel=EXACT)
    group = aggte.query("type == 'group'")
    effects = {c.cohort: c.effect for c in result.cohort_effects}
    for row in group.to_dict("records"):
        assert effects[int(row["egt"])].estimate == pytest.approx(row["att_egt"], rel=EXACT)
        assert r_cs.group[int(row["egt"]) - 2003].std_error == pytest.approx(row["se_egt"], rel=EXACT)
    assert result.att_group.estimate == pytest.approx(group.iloc[0].overall_att, rel=EXACT)
    assert r_cs.group_overall.std_error == pytest.approx(group.iloc[0].overall_se, rel=EXACT)
    # did's pre-test over the pre-period ATT(g, t) cells (the tool reports the event-time version)
    cs = r_cs
    assert cs.pretest is not None
    wald, df, p = cs.pretest
    assert wald == pytest.approx(R_PRETEST[control_group], rel=EXACT)
    assert df == 5
    assert p == pytest.approx(0.16812 if control_group == "never_treated" else 0.16814, abs=5e-6)


def test_callaway_santanna_matches_did_readme(mpdta: pd.DataFrame) -> None:
    """The R did README's printed results (4 decimals): ATT(g, t), the group aggregation -0.031 and the
    dynamic overall -0.0772 (its standard errors there come from the bootstrap, so only estimates are compared)."""
    result = diff_in_diff(request(outcome="lemp", unit="countyreal", time="year", cohort="first.treat"), mpdta)
    published: dict[tuple[int | str, int | str], float] = {
        (2004, 2004): -0.0105, (2004, 2005): -0.0704, (2004, 2006): -0.1373, (2004, 2007): -0.1008,
        (2006, 2004): 0.0065, (2006, 2005): -0.0028, (2006, 2006): -0.0046, (2006, 2007): -0.0412,
        (2007, 2004): 0.0305, (2007, 2005): -0.0027, (2007, 2006): -0.0311, (2007, 2007): -0.0261,
    }  # fmt: skip
    for cell in result.group_time:
        assert round(cell.estimate, 4) == published[(cell.cohort, cell.period)]
    assert result.att_group is not None and round(result.att_group.estimate, 3) == -0.031
    assert result.att_dynamic is not None and round(result.att_dynamic.estimate, 4) == -0.0772


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_callaway_santanna_matches_csdid_on_generated_panel() -> None:
    from csdid.att_gt import ATTgt  # type: ignore[import-untyped]

    frame = generated_panel(21, n_units=300, n_periods=7)
    fit = ATTgt(yname="y", tname="period", idname="unit", gname="cohort", data=frame).fit(
        est_method="reg", bstrap=False
    )
    req = request(cohort="cohort")
    result = diff_in_diff(req, frame)
    # csdid's standard errors are R did's: compare them with the uncorrected variance (see the module docstring)
    uncorrected = callaway_santanna(prepare_panel(req, frame), "never_treated", "varying", small_sample=False)
    cells = {(c.cohort, c.period): c for c in result.group_time}
    r_se = {(c.cohort, c.period): float(se) for c, se in zip(result.group_time, uncorrected.std_error, strict=True)}
    ref = fit.results
    assert len(cells) == len(ref["att"])
    for g, t, att, se in zip(ref["group"], ref["year"], ref["att"], ref["se"], strict=True):
        assert cells[(int(g), int(t))].estimate == pytest.approx(att, rel=EXACT)
        assert r_se[(int(g), int(t))] == pytest.approx(se, rel=1e-6)


def _by_hand_att(frame: pd.DataFrame, g: int, t: int, base: int, control_group: str, weights: str | None) -> float:
    wide = frame.pivot(index="unit", columns="period", values="y")
    cohort = frame.groupby("unit")["cohort"].first()
    w = frame.groupby("unit")[weights].first() if weights else pd.Series(1.0, index=cohort.index)
    change = wide[t] - wide[base]
    treated = cohort == g
    if control_group == "never_treated":
        control = cohort == 0
    else:
        control = ((cohort == 0) | (cohort > max(t, base))) & (cohort != g)
    return float(np.average(change[treated], weights=w[treated]) - np.average(change[control], weights=w[control]))


@pytest.mark.parametrize("control_group", ["never_treated", "not_yet_treated"])
@pytest.mark.parametrize("base_period", ["varying", "universal"])
def test_group_time_effects_by_hand(control_group: str, base_period: str) -> None:
    frame = generated_panel(8, n_units=90, n_periods=7)
    result = diff_in_diff(
        request(cohort="cohort", control_group=control_group, base_period=base_period, weights="w_unit"), frame
    )
    assert result.group_time
    for cell in result.group_time:
        g, t = int(cell.cohort), int(cell.period)
        base = g - 1 if (t >= g or base_period == "universal") else t - 1
        expected = _by_hand_att(frame, g, t, base, control_group, "w_unit")
        assert cell.estimate == pytest.approx(expected, rel=1e-10, abs=1e-12)
    # the headline: post cells weighted by cohort size (weighted unit counts)
    sizes = frame.groupby("unit")[["cohort", "w_unit"]].first().groupby("cohort")["w_unit"].sum()
    post = [c for c in result.group_time if c.post]
    weights = np.array([sizes[int(c.cohort)] for c in post])
    assert result.att.estimate == pytest.approx(float(weights @ [c.estimate for c in post] / weights.sum()), rel=1e-12)
