"""aa_test's refusals: each bad input gets a ToolError with a message and a hint, and nothing is computed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from tools.aa_test import AaTestRequest, aa_test
from tools.errors import ToolError


def data(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(n)],
            "revenue": rng.gamma(2, 5, n),
            "converted": rng.integers(0, 2, n),
            "plan": rng.choice(["free", "pro"], n),
            "arm": rng.choice(["a", "b", "c"], n),
            "visits": rng.integers(0, 4, n).astype(float),
        }
    )


def expect(code: str, frame: pd.DataFrame | None, **fields: Any) -> ToolError:
    request = AaTestRequest.model_validate(
        {"dataset": "d", "metrics": [{"name": "revenue"}], "simulations": 100, **fields}
    )
    with pytest.raises(ToolError) as info:
        aa_test(request, frame)
    assert info.value.code == code, info.value
    assert info.value.message and info.value.hint
    return info.value


def test_no_data() -> None:
    expect("no_data", None)


def test_unknown_columns_name_the_close_ones() -> None:
    error = expect("unknown_column", data(), metrics=[{"name": "revenu"}])
    assert "'revenu'" in error.message and "revenue" in error.hint
    expect("unknown_column", data(), arm_column="variant")
    expect("unknown_column", data(), cluster_column="account")


def test_text_metric_and_non_binary() -> None:
    expect("non_numeric_metric", data(), metrics=[{"name": "plan"}])
    error = expect("not_binary", data(), metrics=[{"name": "revenue", "kind": "binary"}])
    assert "kind='continuous'" in error.hint


def test_an_aa_needs_two_arms() -> None:
    error = expect("not_two_arms", data(), arm_column="arm")
    assert "3 value(s)" in error.message


def test_ratio_metrics_need_a_non_negative_denominator() -> None:
    expect("missing_denominator", data(), metrics=[{"name": "revenue", "kind": "ratio"}])
    frame = data().assign(visits=lambda f: f["visits"] - 5)
    expect(
        "negative_denominator", frame, metrics=[{"name": "revenue", "kind": "ratio", "denominator_column": "visits"}]
    )


def test_cuped_with_a_cluster_is_refused() -> None:
    expect(
        "unsupported_combination",
        data(),
        cluster_column="user_id",
        metrics=[{"name": "revenue", "covariate_column": "visits"}],
    )


def test_too_few_units_and_a_constant_metric() -> None:
    expect("too_few_units", data(10))
    expect("no_variance", data().assign(revenue=1.0))


def test_missing_units_are_refused() -> None:
    frame = data()
    frame.loc[:5, "user_id"] = None
    expect("missing_unit", frame, cluster_column="user_id")


def test_request_bounds() -> None:
    for fields in ({"simulations": 10}, {"split": 1.0}, {"alpha": 0.9}, {"metrics": []}):
        with pytest.raises(ValidationError):
            AaTestRequest.model_validate({"dataset": "d", "metrics": [{"name": "y"}], **fields})
