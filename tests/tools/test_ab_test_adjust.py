"""ab_test's Lin (2013) regression adjustment on several covariates (``MetricSpec.covariates``).

References:
- R estimatr 1.0 ``lm_lin(re78 ~ treat, covariates = ~ ..., se_type = "HC2" | "HC1")`` and ``difference_in_means``
  on causaldata's NSW sample (Dehejia-Wahba, 445 units): tests/fixtures/ab_test/lin_reference.R, its output
  lin_reference.csv.
- statsmodels OLS with the treatment x centred-covariate interactions built by hand, ``cov_type="HC2"``, in-test
  (three arms: each treatment against control on the two arms' rows).
- A seeded simulation with heterogeneous effects: coverage of the 95% interval, and a smaller standard error than
  the unadjusted one when the covariates predict the metric.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from tools.ab_test.adjust import lin_fit
from tools.ab_test.models import AbTestRequest
from tools.ab_test.tool import ab_test
from tools.errors import ToolError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ab_test"
COVARIATES = ["age", "educ", "black", "hisp", "marr", "nodegree", "re74", "re75"]


@pytest.fixture(scope="module")
def nsw() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "nsw_mixtape.csv")


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "lin_reference.csv").set_index("case")


def _request(**metric: object) -> AbTestRequest:
    return AbTestRequest(dataset="nsw", arm_column="treat", metrics=[{"name": "re78", **metric}])


@pytest.mark.parametrize(
    ("case", "covariates", "se_type"),
    [("lin_hc2", COVARIATES, "HC2"), ("lin_hc1", COVARIATES, "HC1"), ("lin_hc2_two", ["re74", "re75"], "HC2")],
)
def test_lin_equals_estimatr_lm_lin(
    nsw: pd.DataFrame, reference: pd.DataFrame, case: str, covariates: list[str], se_type: str
) -> None:
    """Estimate, standard error, t interval (df n - 2(k + 1)) and p-value equal estimatr's lm_lin (rtol 1e-9)."""
    request = _request(covariates=covariates).model_copy(update={"se_type": se_type})
    found = ab_test(request, nsw).comparisons[0]
    expected = reference.loc[case]
    for name in ("estimate", "std_error", "ci_lower", "ci_upper", "p_value"):
        np.testing.assert_allclose(getattr(found.absolute, name), expected[name], rtol=1e-9)
    assert found.adjustment is not None and found.adjustment.method == "lin"
    assert found.adjustment.covariates == covariates
    # the unadjusted difference beside it is estimatr's difference_in_means (Welch) on the same rows
    dim = reference.loc["dim"]
    for name in ("estimate", "std_error", "ci_lower", "ci_upper", "p_value"):
        np.testing.assert_allclose(getattr(found.adjustment.unadjusted, name), dim[name], rtol=1e-9)
    expected_reduction = 1 - expected["std_error"] ** 2 / dim["std_error"] ** 2
    np.testing.assert_allclose(found.adjustment.variance_reduction, expected_reduction, rtol=1e-9)


def test_summary_and_method_name_the_adjustment(nsw: pd.DataFrame) -> None:
    result = ab_test(_request(covariates=COVARIATES), nsw)
    assert "Lin regression adjustment on 8 covariates (HC2)" in result.summary
    assert "Lin (2013) regression adjustment" in result.method
    assert any(c.name == "adjustment_pre_period:re78" for c in result.checks)


def _statsmodels_lin(frame: pd.DataFrame, treated: str, covariates: list[str]) -> tuple[float, float]:
    """OLS of y on [1, T, Xc, T Xc] with Xc centred at the rows' mean, HC2: the coefficient on T and its SE."""
    t = (frame["arm"] == treated).to_numpy(dtype=float)
    xc = frame[covariates].to_numpy() - frame[covariates].to_numpy().mean(axis=0)
    design = np.column_stack([np.ones(len(t)), t, xc, t[:, None] * xc])
    fit = sm.OLS(frame["y"].to_numpy(), design).fit(cov_type="HC2")
    return float(fit.params[1]), float(fit.bse[1])


def test_three_arms_each_against_control_on_their_rows() -> None:
    """A/B/n: each arm against control on the two arms' rows, as statsmodels OLS (HC2) on that subset (1e-9)."""
    rng = np.random.default_rng(26)
    n = 900
    frame = pd.DataFrame({"arm": rng.choice(["control", "b", "c"], n), "x1": rng.normal(size=n)})
    frame["x2"] = rng.exponential(size=n)
    frame["y"] = 1 + frame.x1 + 0.5 * frame.x2 + (frame.arm == "b") * (0.3 + 0.4 * frame.x1) + rng.normal(size=n)
    frame.loc[rng.choice(n, 20, replace=False), "x2"] = np.nan  # rows without a covariate are left out
    request = AbTestRequest(
        dataset="sim", arm_column="arm", metrics=[{"name": "y", "covariates": ["x1", "x2"]}], control="control"
    )
    result = ab_test(request, frame)
    complete = frame.dropna()
    for comparison in result.comparisons:
        subset = complete[complete.arm.isin(["control", comparison.arm])]
        estimate, se = _statsmodels_lin(subset, comparison.arm, ["x1", "x2"])
        np.testing.assert_allclose(comparison.absolute.estimate, estimate, rtol=1e-9)
        np.testing.assert_allclose(comparison.absolute.std_error, se, rtol=1e-9)
        assert comparison.n_control + comparison.n_treatment == len(subset)


def test_single_covariate_cuped_is_unchanged(nsw: pd.DataFrame) -> None:
    """covariate_column alone keeps CUPED (no adjustment detail, the cuped one instead)."""
    found = ab_test(_request(covariate_column="re75"), nsw).comparisons[0]
    assert found.cuped is not None and found.adjustment is None
    assert "adjustment" not in found.model_dump()


def test_refusals(nsw: pd.DataFrame) -> None:
    with pytest.raises(ToolError) as caught:
        # post-stratification has no cluster-robust version (Lin's has: test_ab_test_adjust_clustered.py)
        ab_test(_request().model_copy(update={"strata_column": "black", "cluster_column": "age"}), nsw)
    assert caught.value.code == "unsupported_combination"
    with pytest.raises(ToolError) as caught:
        ab_test(_request(covariates=["age"], covariate_column="re75"), nsw)
    assert caught.value.code == "unsupported_combination"
    summaries = AbTestRequest(
        metrics=[{"name": "re78", "covariates": ["age"]}],
        summaries=[
            {"arm": "0", "metric": "re78", "n": 260, "mean": 4555.0, "std_dev": 5484.0},
            {"arm": "1", "metric": "re78", "n": 185, "mean": 6349.0, "std_dev": 7867.0},
        ],
    )
    with pytest.raises(ToolError) as caught:
        ab_test(summaries)
    assert caught.value.code == "rows_needed"
    doubled = nsw.assign(age2=nsw.age * 2)
    with pytest.raises(ToolError) as caught:
        ab_test(_request(covariates=["age", "age2"]), doubled)
    assert caught.value.code == "singular_covariates"


def test_coverage_under_heterogeneous_effects() -> None:
    """Seeded simulation (seed 2026, 600 experiments of 300 units, 3 covariates, effect varying with x1 and
    heteroskedastic noise): the HC2 interval covers the average effect in about 95% of them (binomial 99% band
    0.93-0.97), and the adjusted standard error is below the unadjusted one on average (the covariates predict)."""
    rng = np.random.default_rng(2026)
    reps, n, tau = 600, 300, 0.5
    covered, ratios = 0, []
    for _ in range(reps):
        x = rng.normal(size=(n, 3))
        treated = rng.permutation(np.arange(n) < n // 2)
        effect = tau + 0.8 * x[:, 0]  # mean tau over the population of x
        y = x @ np.array([1.0, 0.5, -0.5]) + treated * effect + rng.normal(size=n) * (1 + 0.5 * np.abs(x[:, 1]))
        fit = lin_fit(y, treated, x, "HC2")
        se = np.sqrt(fit.variance)
        assert fit.df is not None
        covered += abs(fit.difference - tau) <= stats.t.ppf(0.975, fit.df) * se
        plain = np.sqrt(y[treated].var(ddof=1) / treated.sum() + y[~treated].var(ddof=1) / (~treated).sum())
        ratios.append(se / plain)
    assert 0.93 <= covered / reps <= 0.97
    assert np.mean(ratios) < 0.8


def test_guided_roles_give_covariates_and_strata() -> None:
    """The guided mode's 'covariate' role: one column keeps CUPED, a comma list asks for Lin; 'strata' is passed."""
    from tools.ab_test.spec import guided_request

    one = guided_request("d", {"arm": "treat", "metric": "re78", "covariate": "re75"})
    assert one["metrics"][0]["covariate_column"] == "re75" and "covariates" not in one["metrics"][0]
    several = guided_request("d", {"arm": "treat", "metric": "re78", "covariate": "re74, re75", "strata": "block"})
    assert several["metrics"][0]["covariates"] == ["re74", "re75"]
    assert several["strata_column"] == "block"
    AbTestRequest.model_validate(several)
