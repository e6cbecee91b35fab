"""Callaway-Sant'Anna with covariates (issue 26, item 5): doubly robust, IPW and regression ATT(g, t).

References, all on the R did package's ``mpdta`` panel with the covariate ``lpop`` (log county population):

- csdid 0.4.3 (``ATTgt(..., xformla="lemp~lpop").fit(est_method=...)``, its port of DRDID's ``drdid_panel``,
  ``std_ipw_did_panel`` and ``reg_did_panel``) run in the test: ATT(g, t) to 1e-6 relative, analytic standard
  errors to 1e-4 relative, and the 'simple', 'dynamic' and 'group' aggregations (``aggte``). Our standard errors
  are compared with the small-sample correction off (``small_sample=False``: R did's analytic variance); the
  correction is tested in test_did_bootstrap.py and, with covariates, below.
- R did's own output for ``est_method="reg"`` (``tests/fixtures/did/did_r_attgt_covariates.csv``, see the ``.md``
  beside it): 15-digit ATT(g, t) and standard errors, to 1e-8 relative.
- R did's printed output for the default doubly robust run (the ddml package's article "Diff-in-Diff with
  Double/Debiased Machine Learning", thomaswiemann/ddml): ATT(2004, 2004) = -0.0145 and the other 4-decimal cells,
  the dynamic aggregation -0.0804 and its event-time effects, to half a unit in the 4th decimal.
- DRDID's propensity trimming, on a single cell, against csdid's ``drdid_panel``.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from tools.did import DiffInDiffRequest, diff_in_diff, headline
from tools.did.cs import CsResult, callaway_santanna
from tools.did.drdid import fit_cell
from tools.did.panel import prepare_panel
from tools.errors import ToolError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "did"
ATT_REL = 1e-6
SE_REL = 1e-4
PUBLISHED = 5e-5  # half a unit in the 4th decimal

csdid_att_gt = pytest.importorskip("csdid.att_gt")

#: R did, ``summary(att_gt(..., xformla=~lpop, data=mpdta))`` (doubly robust), as printed in the ddml article.
PUBLISHED_CELLS = {
    (2004, 2004): -0.0145, (2004, 2005): -0.0764, (2004, 2006): -0.1404, (2004, 2007): -0.1069,
    (2006, 2004): -0.0005, (2006, 2005): -0.0062, (2006, 2006): 0.0010, (2006, 2007): -0.0413,
    (2007, 2004): 0.0267, (2007, 2005): -0.0046, (2007, 2006): -0.0284, (2007, 2007): -0.0288,
}  # fmt: skip
#: ... and ``aggte(type="dynamic")``: overall -0.0804, and by event time.
PUBLISHED_DYNAMIC = {-3: 0.0267, -2: -0.0036, -1: -0.0232, 0: -0.0211, 1: -0.0530, 2: -0.1404, 3: -0.1069}


def mpdta_request(**fields: Any) -> DiffInDiffRequest:
    base: dict[str, Any] = {
        "dataset": "mpdta", "outcome": "lemp", "unit": "countyreal", "time": "year", "cohort": "first.treat",
        "covariates": ["lpop"], "estimator": "callaway_santanna",
    }  # fmt: skip
    return DiffInDiffRequest.model_validate({**base, **fields})


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "mpdta.csv")


def ours(frame: pd.DataFrame, method: str = "dr", control: str = "never_treated") -> CsResult:
    req = mpdta_request(covariate_method=method, control_group=control)
    return callaway_santanna(prepare_panel(req, frame), control, "varying", small_sample=False, covariate_method=method)


def csdid_fit(frame: pd.DataFrame, method: str, control: str = "nevertreated") -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        att = csdid_att_gt.ATTgt(
            yname="lemp", gname="first.treat", idname="countyreal", tname="year", xformla="lemp~lpop", data=frame,
            control_group=control,
        )  # fmt: skip
        return att.fit(est_method=method, bstrap=False)


@pytest.mark.parametrize(
    ("method", "control"),
    [("dr", "never_treated"), ("dr", "not_yet_treated"), ("ipw", "never_treated"), ("reg", "never_treated")],
)
def test_cells_match_csdid(mpdta: pd.DataFrame, method: str, control: str) -> None:
    """Every ATT(g, t) and its analytic standard error equal csdid's (the port of R did / DRDID)."""
    cs = ours(mpdta, method, control)
    ref = csdid_fit(mpdta, method, control.replace("_", ""))
    np.testing.assert_allclose(cs.att, np.asarray(ref.results["att"], dtype=float), rtol=ATT_REL)
    np.testing.assert_allclose(cs.std_error, np.asarray(ref.results["se"], dtype=float), rtol=SE_REL)


def test_aggregations_match_csdid(mpdta: pd.DataFrame) -> None:
    """'simple', 'dynamic' (each event time and the overall) and 'group' (each cohort and the overall), doubly
    robust, with their analytic standard errors, equal csdid's ``aggte``."""
    cs = ours(mpdta)
    ref = csdid_fit(mpdta, "dr")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        simple = ref.aggte(typec="simple", bstrap=False, cband=False).atte
        dynamic = ref.aggte(typec="dynamic", bstrap=False, cband=False).atte
        group = ref.aggte(typec="group", bstrap=False, cband=False).atte
    np.testing.assert_allclose(cs.simple.estimate, simple["overall_att"], rtol=ATT_REL)
    np.testing.assert_allclose(cs.simple.std_error, simple["overall_se"], rtol=SE_REL)
    assert cs.dynamic_overall is not None and cs.group_overall is not None
    np.testing.assert_allclose(cs.dynamic_overall.estimate, dynamic["overall_att"], rtol=ATT_REL)
    np.testing.assert_allclose(cs.dynamic_overall.std_error, dynamic["overall_se"], rtol=SE_REL)
    assert list(cs.dynamic) == [int(e) for e in dynamic["egt"]]
    np.testing.assert_allclose([a.estimate for a in cs.dynamic.values()], dynamic["att_egt"], rtol=ATT_REL)
    np.testing.assert_allclose([a.std_error for a in cs.dynamic.values()], dynamic["se_egt"], rtol=SE_REL)
    np.testing.assert_allclose(cs.group_overall.estimate, group["overall_att"], rtol=ATT_REL)
    np.testing.assert_allclose(cs.group_overall.std_error, group["overall_se"], rtol=SE_REL)
    np.testing.assert_allclose([a.estimate for a in cs.group.values()], group["att_egt"], rtol=ATT_REL)
    np.testing.assert_allclose([a.std_error for a in cs.group.values()], group["se_egt"], rtol=SE_REL)


def test_regression_adjustment_matches_r_did(mpdta: pd.DataFrame) -> None:
    """R did's ``est_method="reg"`` with ``xformla=~lpop`` (15-digit fixture): cells and analytic errors."""
    ref = pd.read_csv(FIXTURES / "did_r_attgt_covariates.csv")
    cs = ours(mpdta, "reg")
    np.testing.assert_allclose(cs.att, ref["att"], rtol=1e-8)
    np.testing.assert_allclose(cs.std_error, ref["se"], rtol=1e-8)


def test_doubly_robust_matches_published_r_output(mpdta: pd.DataFrame) -> None:
    """R did's printed doubly robust output on mpdta with ~lpop (ATT(2004, 2004) = -0.0145; dynamic -0.0804)."""
    result = diff_in_diff(mpdta_request(), mpdta)
    assert result.covariates == ["lpop"]  # the result echoes what it adjusted for
    cells = {(int(c.cohort), int(c.period)): c.estimate for c in result.group_time}
    assert set(cells) == set(PUBLISHED_CELLS)
    for key, value in PUBLISHED_CELLS.items():
        assert cells[key] == pytest.approx(value, abs=PUBLISHED), key
    assert result.att_dynamic is not None
    assert result.att_dynamic.estimate == pytest.approx(-0.0804, abs=PUBLISHED)
    events = {e.relative_period: e.estimate for e in result.event_study}
    for e, value in PUBLISHED_DYNAMIC.items():
        assert events[e] == pytest.approx(value, abs=PUBLISHED), e
    assert "doubly robust" in result.method and "lpop" in result.method


def test_headline_equals_the_effect_and_is_deterministic(mpdta: pd.DataFrame) -> None:
    req = mpdta_request(covariate_method="ipw")
    first, second = diff_in_diff(req, mpdta), diff_in_diff(req, mpdta)
    assert first == second
    assert headline(req, mpdta) == first.effect.estimate


def test_auto_uses_covariates_with_staggered_adoption(mpdta: pd.DataFrame) -> None:
    """'auto' under staggered adoption now runs Callaway-Sant'Anna with the covariates (refused before issue 26);
    the TWFE comparison leaves out the covariate its unit effects absorb (lpop does not change over time)."""
    result = diff_in_diff(mpdta_request(estimator="auto"), mpdta)
    assert result.estimator == "callaway_santanna"
    assert result.effect.estimate == pytest.approx(ours(mpdta).simple.estimate, rel=1e-12)
    plain = diff_in_diff(mpdta_request(estimator="auto", covariates=None), mpdta)
    assert result.twfe.estimate == pytest.approx(plain.twfe.estimate, rel=1e-9)


def test_trimming_matches_drdid() -> None:
    """A cell where one comparison unit has a propensity of 0.997 (>= DRDID's trim level 0.995, < the 0.999
    overlap limit): that unit gets no weight, and the estimate and influence function equal csdid's
    ``drdid_panel`` (DRDID's trimming)."""
    from csdid.attgt_fnc.drdid_trim import drdid_panel  # type: ignore[import-untyped]

    rng = np.random.default_rng(167)
    n = 150
    x = rng.normal(size=n)
    d = rng.random(n) < special.expit(-1 + 3.0 * x)
    dy = 0.3 * x + rng.normal(size=n) + d
    fit = fit_cell(dy, d, x[:, None], np.ones(n), "dr")
    assert fit.trimmed == 1
    assert 0.995 <= fit.max_propensity < 0.999
    att, psi = drdid_panel(dy, np.zeros(n), d.astype(float), x[:, None])
    assert fit.att == pytest.approx(float(att), rel=ATT_REL)
    assert fit.influence is not None
    np.testing.assert_allclose(fit.influence, np.asarray(psi, dtype=float).ravel(), rtol=1e-6, atol=1e-9)


def staggered_with_x(seed: int, n_units: int = 240, separate: bool = False) -> pd.DataFrame:
    """Cohorts 3 and 4 and never-treated units, a unit covariate x that shifts both adoption and trends."""
    rng = np.random.default_rng(seed)
    periods = 5
    x = rng.normal(size=n_units)
    cohort = np.where(rng.random(n_units) < special.expit(0.8 * x), np.where(rng.random(n_units) < 0.5, 3, 4), 0)
    if separate:
        x = np.where(cohort == 3, 5.0, 0.0) + 0.01 * rng.normal(size=n_units)
    unit = np.repeat(np.arange(n_units), periods)
    period = np.tile(np.arange(1, periods + 1), n_units)
    c = cohort[unit]
    y = rng.normal(size=n_units)[unit] + 0.5 * x[unit] * period + ((c > 0) & (period >= c)) + rng.normal(size=len(unit))
    return pd.DataFrame({"unit": unit, "period": period, "y": y, "cohort": c, "x": x[unit], "region": unit % 12})


def sim_request(**fields: Any) -> DiffInDiffRequest:
    base: dict[str, Any] = {
        "dataset": "panel", "outcome": "y", "unit": "unit", "time": "period", "cohort": "cohort", "covariates": ["x"],
        "estimator": "callaway_santanna",
    }  # fmt: skip
    return DiffInDiffRequest.model_validate({**base, **fields})


def test_no_overlap_is_refused_naming_the_cohort() -> None:
    """A covariate that separates cohort 3 from the never-treated units: a ToolError naming the cohort, never a
    number from exploding weights (R did sets such cells to NA with "overlap condition violated")."""
    frame = staggered_with_x(1, separate=True)
    with pytest.raises(ToolError) as caught:
        diff_in_diff(sim_request(), frame)
    assert caught.value.code == "no_overlap"
    assert "cohort 3" in caught.value.message and "'x'" in caught.value.message
    reg = diff_in_diff(sim_request(covariate_method="reg"), frame)  # regression adjustment needs no overlap
    assert math.isfinite(reg.effect.estimate)


def test_collinear_covariates_are_refused() -> None:
    frame = staggered_with_x(2)
    frame["x2"] = 2 * frame["x"] + 1
    with pytest.raises(ToolError) as caught:
        diff_in_diff(sim_request(covariates=["x", "x2"]), frame)
    assert caught.value.code == "collinear_covariates"
    frame["const"] = 3.0
    with pytest.raises(ToolError) as caught:
        diff_in_diff(sim_request(covariates=["const"]), frame)
    assert caught.value.code == "collinear_covariates"


def test_clusters_spanning_cohorts_get_g_over_g_minus_1_with_covariates() -> None:
    """Clusters (12 regions) coarser than units and mixing cohorts: every standard error is R did's clustered one
    (cluster sums of the influence functions) times sqrt(G / (G - 1)), with t(G - 1) intervals (CR1)."""
    frame = staggered_with_x(3)
    req = sim_request(cluster="region")
    result = diff_in_diff(req, frame)
    plain = callaway_santanna(prepare_panel(req, frame), "never_treated", "varying", small_sample=False)
    assert plain.influence is not None
    sums = np.stack([np.bincount(plain.cluster_of, weights=col) for col in plain.influence.T], axis=1)
    by_hand = np.sqrt((sums**2).sum(axis=0)) / plain.n_units
    np.testing.assert_allclose(plain.std_error, by_hand, rtol=1e-12)
    for cell, se in zip(result.group_time, plain.std_error, strict=True):
        assert cell.std_error == pytest.approx(se * math.sqrt(12 / 11), rel=1e-10)
        assert cell.p_value == pytest.approx(2 * stats.t.sf(abs(cell.estimate) / cell.std_error, 11), rel=1e-8)
    assert "G / (G - 1)" in result.method


def test_weighted_cells_match_csdid(mpdta: pd.DataFrame) -> None:
    """Unit weights (a fixed weight per county, from its population) with the doubly robust adjustment: cells and
    analytic standard errors equal csdid's with ``weights_name``."""
    frame = mpdta.copy()
    frame["pop"] = np.exp(frame["lpop"])
    req = mpdta_request(weights="pop")
    cs = callaway_santanna(prepare_panel(req, frame), "never_treated", "varying", small_sample=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = csdid_att_gt.ATTgt(
            yname="lemp", gname="first.treat", idname="countyreal", tname="year", xformla="lemp~lpop", data=frame,
            control_group="nevertreated", weights_name="pop",
        ).fit(est_method="dr", bstrap=False)  # fmt: skip
    np.testing.assert_allclose(cs.att, np.asarray(ref.results["att"], dtype=float), rtol=ATT_REL)
    np.testing.assert_allclose(cs.std_error, np.asarray(ref.results["se"], dtype=float), rtol=SE_REL)
