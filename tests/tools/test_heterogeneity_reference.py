"""The heterogeneity tool against independent references on the same inputs.

- The doubly robust pseudo-outcomes and the ATE against a hand-written DR-learner in EconML's form (per-arm outcome
  predictions Y_pred[:, t], pseudo-outcome Y_pred[:, 1] - Y_pred[:, 0] + (y - Y_pred[t]) / P(t | x) x (+1 or -1)),
  on the same folds and the same boosting models, to 1e-10. EconML itself is not a test dependency: it pulls numba,
  llvmlite, shap, lightgbm and sparse into the environment.
- The same scores with ordinary least squares outcome models fitted by numpy's lstsq and a logistic propensity by
  statsmodels (a second family of models, none of them scikit-learn's).
- BLP against statsmodels OLS with HC1 errors; the subgroup interaction test against statsmodels' Wald test with
  HC2 errors; Holm against statsmodels' multipletests; CLAN against scipy's Welch t statistic; the Qini coefficient
  against the trapezoid area under its own curve; the median rule against its formula from the normal quantiles.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.multitest import multipletests
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from tools.heterogeneity import HeterogeneityRequest
from tools.heterogeneity.inference import SplitEstimates, blp, clan, gates, groups_of, median_adjusted
from tools.heterogeneity.inputs import Subgroup
from tools.heterogeneity.learners import cross_fit, dr_scores, outcome_model, propensity_model, stratified_folds
from tools.heterogeneity.subgroups import subgroup_effects
from tools.heterogeneity.targeting import QINI_GRID, gains, qini, qini_curve
from tools.heterogeneity.tool import analyse


def observational(n: int = 1200, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    e = 1 / (1 + np.exp(-(0.7 * x[:, 0] - 0.4 * x[:, 1])))
    d = (rng.random(n) < e).astype(int)
    y = 1 + 2 * x[:, 0] + x[:, 1] + d * (1 + x[:, 2]) + rng.normal(size=n)
    frame = pd.DataFrame({f"x{j}": x[:, j] for j in range(3)})
    frame["d"], frame["y"] = d, y
    return frame


def econml_style_scores(
    x: np.ndarray, y: np.ndarray, t: np.ndarray, folds: np.ndarray, seeds: np.ndarray
) -> np.ndarray:
    """Cross-fitted DR pseudo-outcomes written the way EconML's DRLearner forms them (one OpenMP thread, as the
    tool fits: the same numbers, and no spinning threads on a busy machine)."""
    with threadpool_limits(limits=1, user_api="openmp"):
        return _econml_style_scores(x, y, t, folds, seeds)


def _econml_style_scores(
    x: np.ndarray, y: np.ndarray, t: np.ndarray, folds: np.ndarray, seeds: np.ndarray
) -> np.ndarray:
    n = len(y)
    y_pred = np.zeros((n, 2))
    prop = np.zeros((n, 2))
    for k in range(int(folds.max()) + 1):
        test, train = folds == k, folds != k
        for arm in (0, 1):
            model = outcome_model(int(seeds[3 * k + arm]))
            model.fit(x[train & (t == arm)], y[train & (t == arm)])
            y_pred[test, arm] = model.predict(x[test])
        classifier = propensity_model(int(seeds[3 * k + 2]))
        classifier.fit(x[train], t[train])
        prop[test] = classifier.predict_proba(x[test])
    prop = np.clip(prop, 0.01, 0.99)
    own = y_pred[np.arange(n), t]
    sign = np.where(t == 1, 1.0, -1.0)
    scores: np.ndarray = y_pred[:, 1] - y_pred[:, 0] + sign * (y - own) / prop[np.arange(n), t]
    return scores


def test_dr_scores_and_ate_match_an_econml_style_dr_learner() -> None:
    frame = observational()
    request = HeterogeneityRequest(
        dataset="obs", outcome="y", treatment="d", effect_modifiers=["x0", "x1", "x2"], randomized=False, seed=7
    )
    result, analysis = analyse(request, frame)
    # the same folds and model seeds: the tool's first draws from its seed
    rng = np.random.default_rng(7)
    t = frame["d"].to_numpy()
    folds = stratified_folds(t == 1, 5, rng)
    np.testing.assert_array_equal(folds, analysis.nuisance.folds)
    seeds = rng.integers(0, 2**31 - 1, size=3 * 5 + request.repetitions)
    x = frame[["x0", "x1", "x2"]].to_numpy()
    reference = econml_style_scores(x, frame["y"].to_numpy(), t, folds, seeds)
    np.testing.assert_allclose(analysis.scores, reference, rtol=1e-10, atol=1e-10)
    ate = reference.mean()
    se = reference.std(ddof=1) / np.sqrt(len(reference))
    np.testing.assert_allclose(result.effect.estimate, ate, rtol=1e-10)
    np.testing.assert_allclose(result.effect.std_error, se, rtol=1e-10)
    np.testing.assert_allclose(result.ate.estimate, ate, rtol=1e-10)


class LeastSquares:
    """OLS with an intercept by numpy's lstsq (no scikit-learn)."""

    def __init__(self, seed: int) -> None:
        self.beta = np.zeros(0)

    def fit(self, x: np.ndarray, y: np.ndarray) -> LeastSquares:
        self.beta = np.linalg.lstsq(np.column_stack([np.ones(len(x)), x]), y, rcond=None)[0]
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.column_stack([np.ones(len(x)), x]) @ self.beta


class Logit:
    """Logistic regression by statsmodels."""

    def __init__(self, seed: int) -> None:
        self.fitted: object = None

    def fit(self, x: np.ndarray, d: np.ndarray) -> Logit:
        self.fitted = sm.Logit(d, sm.add_constant(x)).fit(disp=0)
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = self.fitted.predict(sm.add_constant(x, has_constant="add"))  # type: ignore[attr-defined]
        return np.column_stack([1 - p, p])


def test_cross_fitting_with_linear_models_matches_a_direct_aipw() -> None:
    frame = observational(n=800, seed=11)
    x = frame[["x0", "x1", "x2"]].to_numpy()
    y, t = frame["y"].to_numpy(), frame["d"].to_numpy()
    folds = np.arange(len(y)) % 2
    nuisance = cross_fit(x, y, t == 1, folds, np.zeros(6, dtype=np.intp), None, outcome=LeastSquares, propensity=Logit)
    phi = dr_scores(y, t == 1, nuisance.mu0, nuisance.mu1, nuisance.propensity)
    # direct: each half's models fitted on the other half, the AIPW formula written out
    expected = np.empty(len(y))
    for k in (0, 1):
        train, test = folds != k, folds == k
        design = np.column_stack([np.ones(train.sum()), x[train]])
        b1 = np.linalg.lstsq(design[t[train] == 1], y[train][t[train] == 1], rcond=None)[0]
        b0 = np.linalg.lstsq(design[t[train] == 0], y[train][t[train] == 0], rcond=None)[0]
        e = sm.Logit(t[train], design).fit(disp=0).predict(np.column_stack([np.ones(test.sum()), x[test]]))
        e = np.clip(e, 0.01, 0.99)
        xt = np.column_stack([np.ones(test.sum()), x[test]])
        m1, m0 = xt @ b1, xt @ b0
        yt, dt = y[test], t[test]
        expected[test] = m1 - m0 + dt * (yt - m1) / e - (1 - dt) * (yt - m0) / (1 - e)
    np.testing.assert_allclose(phi, expected, rtol=1e-9, atol=1e-9)
    assert abs(phi.mean() - 1.0) < 4 * phi.std() / np.sqrt(len(phi))  # the true ATE is 1


def test_blp_matches_statsmodels_hc1() -> None:
    rng = np.random.default_rng(5)
    s = rng.normal(size=500)
    phi = 1 + 0.8 * s + rng.standard_t(4, size=500) * (1 + np.abs(s))
    b1, se1, b2, se2 = blp(phi, s)
    fit = sm.OLS(phi, sm.add_constant(s - s.mean())).fit(cov_type="HC1")
    np.testing.assert_allclose([b1, b2], fit.params, rtol=1e-12)
    np.testing.assert_allclose([se1, se2], fit.bse, rtol=1e-12)


def test_gates_clan_and_groups() -> None:
    rng = np.random.default_rng(6)
    s = np.round(rng.normal(size=503), 1)  # ties, and a size not divisible by 5
    phi = s + rng.normal(size=503)
    x = np.column_stack([rng.normal(size=503), (rng.random(503) < 0.3).astype(float)])
    labels = groups_of(s, rng.random(503), 5)
    counts = np.bincount(labels)
    assert counts.max() - counts.min() <= 1
    for g in range(4):  # ordered by prediction
        assert s[labels == g].max() <= s[labels == g + 1].min()
    estimate, se, predicted, _ = gates(phi, labels, s, 5)
    for g in range(5):
        inside = phi[labels == g]
        np.testing.assert_allclose(estimate[g], inside.mean(), rtol=1e-12)
        np.testing.assert_allclose(se[g], stats.sem(inside), rtol=1e-12)
        np.testing.assert_allclose(predicted[g], s[labels == g].mean(), rtol=1e-12)
    most, least, difference, clan_se = clan(x, labels, 5)
    for j in range(2):
        top, bottom = x[labels == 4, j], x[labels == 0, j]
        welch = stats.ttest_ind(top, bottom, equal_var=False)
        np.testing.assert_allclose(difference[j] / clan_se[j], welch.statistic, rtol=1e-12)
        np.testing.assert_allclose([most[j], least[j]], [top.mean(), bottom.mean()], rtol=1e-12)


def test_clan_of_a_separating_indicator_keeps_a_standard_error() -> None:
    x = np.concatenate([np.zeros(50), np.ones(50)])[:, None]
    labels = np.repeat(np.array([0, 1]), 50)
    _, _, difference, se = clan(x, labels, 2)
    assert difference[0] == 1.0
    np.testing.assert_allclose(se[0], np.sqrt(x[:, 0].var(ddof=1) * (2 / 50)))


def test_subgroups_match_statsmodels() -> None:
    rng = np.random.default_rng(8)
    codes_a = rng.integers(0, 3, 900)
    codes_b = rng.integers(0, 2, 900)
    phi = 0.5 + 0.4 * (codes_a == 2) + rng.normal(size=900) * (1 + codes_a)
    subgroups = [
        Subgroup("a", codes_a.astype(np.intp), ["x", "y", "z"]),
        Subgroup("b", codes_b.astype(np.intp), ["0", "1"]),
    ]
    levels, tests = subgroup_effects(phi, subgroups, 0.05)
    raw = []
    for group in subgroups:
        dummies = np.column_stack([(group.codes == j).astype(float) for j in range(len(group.levels))])
        fit = sm.OLS(phi, dummies).fit(cov_type="HC2")
        mine = [lv for lv in levels if lv.column == group.column]
        np.testing.assert_allclose([lv.estimate for lv in mine], fit.params, rtol=1e-12)
        np.testing.assert_allclose([lv.std_error for lv in mine], fit.bse, rtol=1e-12)
        restriction = np.column_stack([np.ones(len(group.levels) - 1), -np.eye(len(group.levels) - 1)])
        wald = fit.wald_test(restriction, scalar=True, use_f=False)
        test = next(t for t in tests if t.column == group.column)
        np.testing.assert_allclose(test.statistic, float(wald.statistic), rtol=1e-10)
        np.testing.assert_allclose(test.p_value, float(wald.pvalue), rtol=1e-8)
        raw += [lv.p_value for lv in mine]
    holm = multipletests(raw, method="holm")[1]
    np.testing.assert_allclose([lv.adjusted_p_value for lv in levels], holm, rtol=1e-12)


def test_qini_is_the_area_under_its_curve() -> None:
    rng = np.random.default_rng(9)
    n = 1000
    s = rng.normal(size=n)  # no ties
    phi = 1 + s + rng.normal(size=n)
    order = np.argsort(-s)
    estimate, se = qini(phi, s)
    cumulative = np.concatenate([[0.0], np.cumsum(phi[order])]) / n
    area = np.trapezoid(cumulative, dx=1.0 / n) - phi.mean() / 2
    np.testing.assert_allclose(estimate, area, rtol=1e-12)
    assert se > 0
    curve = qini_curve(phi, order)
    np.testing.assert_allclose(curve[[0, -1]], [0.0, phi.mean()], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(curve[4], phi[order[:200]].sum() / n, rtol=1e-12)  # 20% of 1000
    assert len(curve) == len(QINI_GRID)


def test_targeting_gains_add_up_to_the_average() -> None:
    rng = np.random.default_rng(10)
    phi = rng.normal(size=301)
    order = rng.permutation(301)
    rows = gains(phi, order, (0.1, 0.5, 0.9))
    # treating the top share versus none, minus versus all, is treating everyone versus no one
    np.testing.assert_allclose(rows[:, 2] - rows[:, 0], phi.mean(), rtol=1e-12)
    np.testing.assert_allclose(rows[1, 2], phi[order[:151]].sum() / 301, rtol=1e-12)


@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_median_rule(alpha: float) -> None:
    estimate = np.array([0.2, 0.5, 0.1, 0.4, 0.3, 0.25])
    se = np.array([0.1, 0.2, 0.1, 0.15, 0.1, 0.12])
    combined = median_adjusted(SplitEstimates(estimate, se), alpha, what="x", scale=1.0)
    z = stats.norm.ppf(1 - alpha / 4)
    assert combined.estimate == pytest.approx(np.median(estimate))
    assert combined.std_error == pytest.approx(np.median(se))
    assert combined.ci_lower == pytest.approx(np.median(estimate - z * se))
    assert combined.ci_upper == pytest.approx(np.median(estimate + z * se))
    assert combined.p_value == pytest.approx(min(1.0, 2 * np.median(2 * stats.norm.sf(np.abs(estimate) / se))))
