"""Lin's regression adjustment when whole clusters were randomized (rows are members of randomized workspaces):
cluster-robust CR1 with Stata's small-sample factor and t on G - 1 degrees of freedom.

References: R estimatr ``lm_lin(..., clusters = workspace, se_type = "stata")`` on the committed seeded data
(tests/fixtures/ab_test/lin_clustered.R, its output lin_clustered_reference.csv); statsmodels OLS with the
interactions built by hand and ``cov_type="cluster"`` (its default correction is the same CR1 factor); a seeded
coverage simulation of a cluster-randomized design, where the per-row HC2 interval would be too narrow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from tools.ab_test.models import AbTestRequest
from tools.ab_test.tool import ab_test
from tools.errors import ToolError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ab_test"
DATA = pd.read_csv(FIXTURES / "lin_clustered.csv")
REFERENCE = pd.read_csv(FIXTURES / "lin_clustered_reference.csv").set_index("case")


def request(covariates: list[str], **more: object) -> AbTestRequest:
    return AbTestRequest.model_validate(
        {
            "dataset": "ws",
            "arm_column": "arm",
            "cluster_column": "workspace",
            "metrics": [{"name": "tasks", "covariates": covariates}],
            **more,
        }
    )


@pytest.mark.parametrize(
    ("case", "covariates"), [("cr1_two", ["tasks_pre", "tenure"]), ("cr1_three", ["tasks_pre", "tenure", "seats"])]
)
def test_equal_to_estimatr_lm_lin_with_clusters(case: str, covariates: list[str]) -> None:
    result = ab_test(request(covariates), DATA)
    (comparison,) = result.comparisons
    expected = REFERENCE.loc[case]
    got = comparison.absolute
    np.testing.assert_allclose(
        [got.estimate, got.std_error, got.ci_lower, got.ci_upper, got.p_value],
        [expected.estimate, expected.std_error, expected.ci_lower, expected.ci_upper, expected.p_value],
        rtol=1e-9,
    )
    assert comparison.adjustment is not None and comparison.adjustment.se_type == "CR1 (Stata), by cluster"
    assert "clusters - 1" in comparison.test


def test_equal_to_statsmodels_cluster_robust_ols_with_hand_built_interactions() -> None:
    treat = (DATA["arm"] == "treatment").to_numpy(float)
    x = DATA[["tasks_pre", "tenure"]].to_numpy(float)
    centred = x - x.mean(axis=0)
    design = np.column_stack([np.ones(len(treat)), treat, centred, centred * treat[:, None]])
    groups = pd.factorize(DATA["workspace"])[0]
    fit = sm.OLS(DATA["tasks"].to_numpy(float), design).fit(cov_type="cluster", cov_kwds={"groups": groups})
    (comparison,) = ab_test(request(["tasks_pre", "tenure"]), DATA).comparisons
    np.testing.assert_allclose(comparison.absolute.estimate, fit.params[1], rtol=1e-10)
    np.testing.assert_allclose(comparison.absolute.std_error, fit.bse[1], rtol=1e-10)


def test_clustered_lin_covers_in_a_cluster_randomized_design() -> None:
    """400 seeded experiments of 40 workspaces (5-15 members, ICC about 0.3): the CR1 interval covers the true
    average effect about 95% of the time; the same analysis ignoring the workspaces covers far less."""
    rng = np.random.default_rng(26)
    covered = naive = 0
    reps = 400
    for _ in range(reps):
        sizes = rng.integers(5, 16, 40)
        ws = np.repeat(np.arange(40), sizes)
        arm = rng.permutation(np.repeat([0, 1], 20))[ws]
        x = rng.normal(0, 1, len(ws)) + rng.normal(0, 1, 40)[ws]
        y = 1.0 * arm + 1.5 * x + rng.normal(0, 1.4, 40)[ws] + rng.normal(0, 2, len(ws))
        frame = pd.DataFrame({"arm": np.where(arm == 1, "treatment", "control"), "y": y, "x": x, "ws": ws})
        metrics = [{"name": "y", "covariates": ["x"]}]
        clustered = AbTestRequest.model_validate({"arm_column": "arm", "cluster_column": "ws", "metrics": metrics})
        est = ab_test(clustered, frame).comparisons[0].absolute
        covered += est.ci_lower <= 1.0 <= est.ci_upper
        per_row = ab_test(AbTestRequest.model_validate({"arm_column": "arm", "metrics": metrics}), frame)
        row = per_row.comparisons[0].absolute
        naive += row.ci_lower <= 1.0 <= row.ci_upper
    assert abs(covered / reps - 0.95) <= 3.5 * np.sqrt(0.95 * 0.05 / reps), covered / reps
    assert naive / reps < 0.85, naive / reps


def test_other_adjustments_with_clusters_are_still_refused() -> None:
    binary = DATA.assign(hit=(DATA["tasks"] > 25).astype(int))
    logistic = AbTestRequest.model_validate(
        {
            "arm_column": "arm",
            "cluster_column": "workspace",
            "metrics": [{"name": "hit", "kind": "binary", "covariates": ["tasks_pre"]}],
        }
    )
    with pytest.raises(ToolError) as refused:
        ab_test(logistic, binary)
    assert refused.value.code == "unsupported_combination" and "logistic standardisation" in refused.value.message
    assert "Lin's regression adjustment of a continuous metric is" in refused.value.message
