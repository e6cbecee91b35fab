"""One test per ToolError code of the heterogeneity tool: bad input is refused with a message and a hint naming the
column, and nothing is computed from it; the request's bounds are refused by the model."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from tools.errors import ToolError
from tools.heterogeneity import HeterogeneityRequest, heterogeneity
from tools.heterogeneity.inference import SplitEstimates, median_adjusted


def data(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    d = rng.integers(0, 2, n)
    x = rng.normal(size=n)
    return pd.DataFrame(
        {
            "y": 1.0 + d * (1 + x) + rng.normal(size=n),
            "d": d,
            "x": x,
            "plan": rng.choice(np.array(["free", "pro", "team"]), size=n),
            "w": rng.normal(size=n),
        }
    )


def expect(code: str, frame: pd.DataFrame | None, **fields: Any) -> ToolError:
    request = HeterogeneityRequest.model_validate(
        {"dataset": "ab", "outcome": "y", "treatment": "d", "effect_modifiers": ["x"], "repetitions": 2, **fields}
    )
    with pytest.raises(ToolError) as info:
        heterogeneity(request, frame)
    error = info.value
    assert error.code == code, error
    assert error.message and error.hint
    return error


def test_no_data() -> None:
    expect("no_data", None)


def test_unknown_column() -> None:
    error = expect("unknown_column", data(), effect_modifiers=["xx"])
    assert "'xx'" in error.message and "'x'" in error.hint
    expect("unknown_column", data(), covariates=["nope"])
    expect("unknown_column", data(), subgroups=["segment"])
    expect("unknown_column", data(), outcome="revenue")


def test_overlapping_columns() -> None:
    expect("overlapping_columns", data(), treatment="y")
    error = expect("overlapping_columns", data(), effect_modifiers=["x", "d"])
    assert "'d'" in error.message
    expect("overlapping_columns", data(), subgroups=["y"])


def test_propensity_unused() -> None:
    error = expect("propensity_unused", data(), randomized=False, propensity=0.5)
    assert "randomized" in error.hint


def test_treatment_not_binary() -> None:
    frame = data()
    frame["d"] = np.arange(len(frame)) % 3
    expect("treatment_not_binary", frame)
    frame["d"] = 1
    error = expect("treatment_not_binary", frame)
    assert "1 distinct" in error.message


def test_treated_value_needed_and_unknown() -> None:
    frame = data()
    frame["d"] = np.where(frame["d"] == 1, "variant", "control")
    expect("treated_value_needed", frame)
    error = expect("unknown_treated_value", frame, treated_value="treatment")
    assert "'variant'" in error.message


def test_non_numeric_outcome() -> None:
    frame = data()
    frame["y"] = frame["y"].astype(str) + " min"
    expect("non_numeric_column", frame)


def test_infinite_modifier() -> None:
    frame = data()
    frame.loc[3, "x"] = np.inf
    expect("non_finite_values", frame)


def test_too_many_levels() -> None:
    frame = data()
    frame["city"] = [f"c{i % 25}" for i in range(len(frame))]
    error = expect("too_many_levels", frame, subgroups=["city"])
    assert "25" in error.message and "Bin" in error.hint
    expect("too_many_levels", frame, effect_modifiers=["x", "city"])


def test_too_few_units() -> None:
    error = expect("too_few_units", data(n=150))
    assert "200" in error.message
    frame = data(n=400)
    frame["d"] = (np.arange(400) < 40).astype(int)  # 40 treated, 10 folds need 100 per arm
    expect("too_few_units", frame, folds=10)


def test_too_few_units_after_missing_values() -> None:
    frame = data(n=300)
    frame.loc[:150, "x"] = np.nan
    error = expect("too_few_units", frame)
    assert "dropping 151" in error.message


def test_constant_outcome() -> None:
    frame = data()
    frame["y"] = 3.0
    expect("constant_outcome", frame)


def test_constant_modifiers() -> None:
    frame = data()
    frame["x"] = 2.0
    frame["plan"] = "free"
    expect("constant_modifiers", frame, effect_modifiers=["x", "plan"])


def test_subgroup_too_small() -> None:
    frame = data()
    frame.loc[:5, "plan"] = "enterprise"
    error = expect("subgroup_too_small", frame, subgroups=["plan"])
    assert "'enterprise'" in error.message and "Merge" in error.hint


def test_cancelled() -> None:
    request = HeterogeneityRequest(dataset="ab", outcome="y", treatment="d", effect_modifiers=["x"], repetitions=2)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(ToolError) as info:
        heterogeneity(request, data(), cancel=cancel)
    assert info.value.code == "cancelled" and info.value.hint


def test_degenerate_fit() -> None:
    """A zero standard error in most splits is refused, never shown as certainty."""
    with pytest.raises(ToolError) as info:
        median_adjusted(SplitEstimates(np.array([1.0, 1.0, 1.0]), np.zeros(3)), 0.05, what="x", scale=1.0)
    assert info.value.code == "degenerate_fit"


@pytest.mark.parametrize(
    "fields",
    [
        {"folds": 1},
        {"folds": 11},
        {"repetitions": 0},
        {"repetitions": 51},
        {"alpha": 0.0},
        {"alpha": 0.6},
        {"propensity": 0.0},
        {"propensity": 1.0},
        {"effect_modifiers": []},
        {"seed": -1},
    ],
)
def test_request_bounds(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        HeterogeneityRequest.model_validate(
            {"dataset": "ab", "outcome": "y", "treatment": "d", "effect_modifiers": ["x"], **fields}
        )


def test_a_column_the_treatment_sets_is_refused_and_a_rare_trait_is_not() -> None:
    frame = data()
    rng = np.random.default_rng(1)
    # an incentive's amount: 0 for every control unit, positive for every treated one (Thornton's tinc)
    frame["amount"] = np.where(frame["d"] == 1, rng.uniform(0.1, 3.0, len(frame)), 0.0)
    error = expect("modifier_set_by_treatment", frame, effect_modifiers=["x", "amount"])
    assert "'amount'" in error.message and "(0)" in error.message and "effect_modifiers" in error.hint
    expect("modifier_set_by_treatment", frame, covariates=["amount"])
    # a rare trait absent from one arm by chance keeps its common value in both arms: not refused
    frame = data()
    frame["rare"] = 0
    frame.loc[frame.index[(frame["d"] == 1).to_numpy()][:3], "rare"] = 1
    request = HeterogeneityRequest.model_validate(
        {"dataset": "ab", "outcome": "y", "treatment": "d", "effect_modifiers": ["x", "rare"], "repetitions": 2}
    )
    assert heterogeneity(request, frame).effect_modifiers == ["x", "rare"]
