"""tools.validate's rows for the estimators of issue 26: ab_test's covariate adjustments (Lin, logistic
standardisation, ratio CUPED, post-stratification), quantile and bootstrap intervals, and diff_in_diff's
Callaway-Sant'Anna with covariates.

The truths the coverage is measured against are checked on one large draw of each design (the law of large numbers,
independent of the code under test): the logistic design's population risk difference (Gauss-Hermite quadrature),
the ratio design's lift of revenue per session (a closed form), the lognormal 90th percentile (a closed form), and the
conditional-trends panel's failure of unconditional parallel trends. The quick rows are then checked for sane values
(seeded, a few seconds each): well-specified rows within their Monte Carlo band, the mis-specified DiD row 'check'.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from scipy import special

from tools.validate import BAND, DEFAULT_SEED, ValidationRow
from tools.validate.covariate_designs import (
    LIN_EFFECT,
    STRATA,
    adjusted_columns,
    conditional_trends_panel,
    logistic_risk_difference,
    ratio_lift,
    stratified_experiment,
)
from tools.validate.covariate_rows import conditional_did_rows, resampled_ab_test_rows
from tools.validate.designs import SPEND_SIGMA
from tools.validate.simulate import Simulator


def band(nominal: float, replications: int) -> float:
    return BAND * math.sqrt(nominal * (1 - nominal) / replications)


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with tempfile.TemporaryDirectory() as directory:
        yield Simulator(Path(directory))


def test_the_adjusted_designs_truths() -> None:
    """Each truth against the mean effect in a large sample drawn with and without the effect (same seed, so the
    units' covariates and noise are shared: the difference is the effect alone up to the binary draws)."""
    n = 400_000
    treated = np.repeat(np.array([0, 1]), n // 2)
    arm = treated == 1
    with_effect, lin_truth = adjusted_columns(np.random.default_rng(3), treated, lift=True)
    without, zero = adjusted_columns(np.random.default_rng(3), treated, lift=False)
    assert zero == 0.0
    x1, x2 = with_effect["x1"], with_effect["x2"]
    effect = LIN_EFFECT[0] + LIN_EFFECT[1] * x1 + LIN_EFFECT[2] * x2
    assert lin_truth == pytest.approx(float(effect.mean()), rel=1e-12)
    assert lin_truth == pytest.approx(0.3, abs=0.005)  # E[x] = 0
    assert np.allclose(with_effect["lin_y"] - without["lin_y"], np.where(arm, effect, 0.0))
    # the logistic design: quadrature against the treated-minus-control rates (arms drawn alike)
    risk = with_effect["logit_y"][arm].mean() - with_effect["logit_y"][~arm].mean()
    assert logistic_risk_difference() == pytest.approx(float(risk), abs=0.006)
    assert logistic_risk_difference(0.0) == 0.0
    assert without["logit_y"][arm].mean() == pytest.approx(without["logit_y"][~arm].mean(), abs=0.006)
    # the ratio design: revenue per session, treatment minus control; the pre-period ratio predicts the post's
    revenue, sessions = with_effect["revenue"], with_effect["sessions"]
    lift = revenue[arm].sum() / sessions[arm].sum() - revenue[~arm].sum() / sessions[~arm].sum()
    assert ratio_lift() == pytest.approx(float(lift), rel=0.15)
    control = revenue[~arm].sum() / sessions[~arm].sum()
    assert control == pytest.approx(math.exp(0.6**2 / 2), rel=0.01)
    per_unit = np.corrcoef(revenue / sessions, with_effect["revenue_pre"] / with_effect["sessions_pre"])[0, 1]
    assert per_unit > 0.5


def test_the_stratified_design() -> None:
    frame, truths = stratified_experiment(np.random.default_rng(4), 20_000, 2, lift=True)
    assert len(frame) == 2 * 40_000 and len(truths) == 2
    first = frame["y@0"].notna()
    assert first.sum() == 40_000 and frame.loc[first, "y@1"].isna().all()  # each experiment has units of its own
    shares = frame.loc[first, "stratum"].value_counts(normalize=True).sort_index().to_numpy()
    np.testing.assert_allclose(shares, [s[0] for s in STRATA], atol=0.01)
    expected = sum(share * effect for share, _, effect in STRATA)  # 0.28 in the population
    assert truths[0] == pytest.approx(expected, abs=0.01)
    # the truth: stratum effects at the realized shares = the stratum-weighted difference of means, in large samples
    rows = frame.loc[first]
    by = rows.groupby(["stratum", "arm"])["y@0"].mean().unstack()
    weights = rows["stratum"].value_counts(normalize=True).sort_index()
    weighted = float(((by["treatment"] - by["control"]) * weights).sum())
    assert truths[0] == pytest.approx(weighted, abs=0.03)
    _, none = stratified_experiment(np.random.default_rng(4), 100, 3, lift=False)
    assert none == [0.0, 0.0, 0.0]


def test_the_conditional_trends_panel() -> None:
    """Trends differ by x, and x differs between adopters and never-treated units: raw parallel trends fail, trends
    given x hold (the pre-period slope of y on x is 0.5 per period, in every group)."""
    frame, truth = conditional_trends_panel(np.random.default_rng(5), 20_000, 6, effect=1.0, growth=0.3)
    units = frame.drop_duplicates("unit")
    never = units["cohort"] == 0
    assert units.loc[~never, "x"].mean() - units.loc[never, "x"].mean() > 0.3
    assert set(units["cohort"]) == {0, 3, 5}
    wide = frame.pivot(index="unit", columns="period", values="y")
    change = (wide[2] - wide[1]).to_numpy()  # before anyone adopts
    groups = units.set_index("unit").loc[wide.index]
    raw_gap = change[groups["cohort"].to_numpy() > 0].mean() - change[groups["cohort"].to_numpy() == 0].mean()
    assert raw_gap > 0.15  # the unconditional pre-trend gap 0.5 (E[x | adopter] - E[x | never])
    slope = np.polyfit(groups["x"].to_numpy(), change, 1)[0]
    assert slope == pytest.approx(0.5, abs=0.02)
    # the ATT: 1 + 0.3 e over treated unit-periods (cohort 3: e = 0..3 in periods 3-6; cohort 5: e = 0, 1)
    sizes = groups["cohort"].value_counts()
    expected = (sizes[3] * (4 + 0.3 * 6) + sizes[5] * (2 + 0.3 * 1)) / (4 * sizes[3] + 2 * sizes[5])
    assert truth == pytest.approx(expected, rel=1e-12)


def test_the_lognormal_90th_percentile() -> None:
    """The p90 row's truth, 0.1 exp(0.8 z_0.9), against the empirical quantiles of a large draw."""
    rng = np.random.default_rng(6)
    z = rng.standard_normal(2_000_000)
    empirical = 0.1 * float(np.quantile(np.exp(SPEND_SIGMA * z), 0.9))
    assert 0.1 * math.exp(SPEND_SIGMA * float(special.ndtri(0.9))) == pytest.approx(empirical, rel=0.005)


def _well_specified(row: ValidationRow) -> None:
    assert row.status == "ok", (row.what, row.note)
    assert row.failed == 0
    assert row.coverage is not None and abs(row.coverage - 0.95) <= band(0.95, row.replications), row
    assert row.fpr is not None and abs(row.fpr - 0.05) <= band(0.05, row.replications), row


def test_quick_callaway_santanna_with_covariates(sim: Simulator) -> None:
    right, wrong = conditional_did_rows(sim, DEFAULT_SEED, "quick")
    assert (right.replications, right.n, right.misspecified) == (100, 600, False)
    _well_specified(right)
    assert "test_did_covariates.py" in (right.reference or "")
    assert wrong.misspecified and wrong.status == "check" and wrong.fpr is None
    assert wrong.coverage is not None and wrong.coverage < 0.8
    assert "coverage" in wrong.note and "below 0.950" in wrong.note


def test_quick_quantile_and_bootstrap(sim: Simulator) -> None:
    quantile, bootstrap = resampled_ab_test_rows(sim, DEFAULT_SEED, "quick")
    for row in (quantile, bootstrap):
        assert (row.replications, row.n) == (240, 800)
        _well_specified(row)
    assert "Woodruff" in quantile.what and "BCa" in bootstrap.what
