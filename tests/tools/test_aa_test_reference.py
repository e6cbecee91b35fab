"""aa_test's re-randomisation against ab_test itself: for the first splits of a seed, the difference, standard
error and p-value of each split equal ab_test's on the same data with the split as its arm column, to 1e-9 — plain
continuous, binary, CUPED, ratio, rows of a repeated unit analysed per row, and the same per unit (cluster_column).
The splits are rebuilt here from the seed as the simulation draws them (one random bit per unit, 32 splits per batch).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tools.aa_test.models import AaTestRequest
from tools.aa_test.simulate import SPLIT_BATCH, run_splits
from tools.aa_test.tool import _analysed, _unit_codes
from tools.ab_test.models import AbTestRequest, MetricSpec
from tools.ab_test.tool import ab_test
from tools.errors import ToolError

CHECKED = 6  # splits compared per case


def first_splits(seed: int, units: int) -> np.ndarray:
    """The 0/1 assignment of the first batch of splits, drawn as run_splits draws them (one block of units)."""
    rng = np.random.default_rng(seed)
    bits = np.unpackbits(rng.integers(0, 256, size=(SPLIT_BATCH, -(-units // 8)), dtype=np.uint8), axis=1)
    return bits[:, :units]


def frame(seed: int = 5, users: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sessions = rng.integers(1, 6, users)
    user = np.repeat(np.arange(users), sessions)
    level = rng.normal(0, 1, users)
    n = len(user)
    pre = rng.gamma(2, 5, n)
    return pd.DataFrame(
        {
            "user_id": [f"u{u:04d}" for u in user],
            "revenue": 0.5 * pre + 2 * level[user] + rng.gamma(2, 3, n),
            "pre_revenue": pre,
            "converted": (rng.random(n) < 0.2 + 0.05 * (level[user] > 0)).astype(int),
            "orders": rng.poisson(2, n).astype(float),
            "visits": rng.integers(1, 5, n).astype(float),
        }
    )


CASES: dict[str, dict[str, Any]] = {
    "continuous": {"name": "revenue"},
    "binary": {"name": "converted", "kind": "binary"},
    "cuped": {"name": "revenue", "covariate_column": "pre_revenue"},
    "ratio": {"name": "orders", "kind": "ratio", "denominator_column": "visits"},
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("unit", ["rows", "repeated", "cluster"])
def test_each_split_is_ab_tests_own_analysis(case: str, unit: str) -> None:
    data = frame()
    spec = MetricSpec.model_validate(CASES[case])
    codes, groups = _unit_codes(data, "user_id") if unit != "rows" else (None, len(data))
    if unit == "cluster" and spec.covariate_column is not None:  # refused by ab_test and aa_test alike
        with pytest.raises(ToolError, match="CUPED"):
            _analysed(data, spec, codes, groups, cluster=True)
        return
    metric, _ = _analysed(data, spec, codes, groups, cluster=unit == "cluster")
    seed = 11
    tests = run_splits([metric], groups, CHECKED, 0.5, seed)[0]
    assignment = first_splits(seed, groups)
    for s in range(CHECKED):
        arm = assignment[s] if codes is None else assignment[s][codes]
        labelled = data.assign(arm=np.where(arm == 1, "first", "second"))
        request = AbTestRequest(
            dataset="x",
            arm_column="arm",
            control="second",
            cluster_column="user_id" if unit == "cluster" else None,
            metrics=[spec],
            correction="none",
        )
        comparison = ab_test(request, labelled).comparisons[0]
        assert math.isclose(tests.difference[s], comparison.absolute.estimate, rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(tests.std_error[s], comparison.absolute.std_error, rel_tol=1e-9)
        assert math.isclose(tests.p_value[s], comparison.p_value_raw, rel_tol=1e-7, abs_tol=1e-12)


def test_the_request_model_defaults() -> None:
    request = AaTestRequest(dataset="x", metrics=[{"name": "y"}])
    assert (request.simulations, request.split, request.alpha, request.seed) == (1000, 0.5, 0.05, 0)
