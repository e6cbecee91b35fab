"""assign refuses what it cannot assign, saying what is wrong and how to fix it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from tools.assign.models import AssignRequest
from tools.assign.tool import assign
from tools.errors import ToolError


def frame(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "id": [f"u{i}" for i in range(n)],
            "region": ["a"] * (n - 2) + ["rare", "rare"],
            "store": [f"s{i % 6}" for i in range(n)],
            "age": rng.normal(40, 10, n),
        }
    )


def code_of(data: pd.DataFrame | None, **fields: Any) -> ToolError:
    fields.setdefault("salt", "s")
    fields.setdefault("unit_column", "id")
    with pytest.raises(ToolError) as caught:
        assign(AssignRequest(dataset="d", **fields), data)
    assert caught.value.hint
    return caught.value


def test_unknown_columns() -> None:
    assert code_of(frame(), unit_column="user").code == "unknown_column"
    assert code_of(frame(), strata=["regoin"]).code == "unknown_column"
    assert code_of(frame(), cluster_column="shop").code == "unknown_column"
    assert code_of(frame(), balance_covariates=["agee"]).code == "unknown_column"


def test_duplicated_and_missing_ids() -> None:
    data = frame()
    data.loc[5, "id"] = "u4"
    assert code_of(data).code == "duplicate_units"
    data.loc[5, "store"] = "s9"  # u4 now in s4 and s9
    assert code_of(data, cluster_column="store").code == "unit_in_two_clusters"
    data = frame()
    data.loc[3, "id"] = None
    assert code_of(data).code == "missing_ids"


def test_a_stratum_smaller_than_the_arms_is_named() -> None:
    error = code_of(frame(), strata=["region"], arms=["a", "b", "c"])
    assert error.code == "small_stratum"
    assert "region=rare" in error.message and "Merge" in error.hint


def test_too_few_clusters() -> None:
    data = frame()
    data["store"] = [f"s{i % 3}" for i in range(len(data))]
    assert code_of(data, cluster_column="store").code == "too_few_clusters"


def test_strata_must_be_cluster_level() -> None:
    data = frame()
    data["half"] = [f"h{i % 4}" for i in range(len(data))]
    assert code_of(data, cluster_column="store", strata=["half"]).code == "strata_vary_within_cluster"


def test_shares_arms_method_and_data() -> None:
    assert code_of(frame(), shares=[0.5, 0.6]).code == "bad_shares"
    assert code_of(frame(), shares=[1.0]).code == "bad_shares"
    assert code_of(frame(), arms=["a", "a"]).code == "duplicate_arms"
    assert code_of(frame(), method="stratified").code == "method_mismatch"
    assert code_of(frame(), method="complete", cluster_column="store").code == "method_mismatch"
    assert code_of(None).code == "no_data"
    assert code_of(frame(), balance_covariates=["region"]).code == "non_numeric_column"


def test_rerandomisation_needs_covariates_and_may_run_out_of_draws() -> None:
    data = frame()[["id", "region"]]
    assert code_of(data, rerandomize_acceptance=0.1).code == "no_covariates"
    error = code_of(frame(), rerandomize_acceptance=1e-9, max_draws=5)
    assert error.code == "rerandomization_failed"
