"""One test per ToolError code of the instrumental_variables tool: bad input is refused with a message and a hint
naming the column, and nothing is computed from it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from tools.errors import ToolError
from tools.iv import InstrumentalVariablesRequest, headline, instrumental_variables


def data(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    z = rng.integers(0, 2, n)
    x = rng.normal(size=n)
    d = (rng.uniform(size=n) < 0.2 + 0.5 * z).astype(int)
    return pd.DataFrame(
        {
            "y": 1.0 + d + x + rng.normal(size=n),
            "d": d,
            "z": z,
            "x": x,
            "g": rng.integers(0, 20, n),
            "w": rng.normal(size=n),
        }
    )


def expect(code: str, frame: pd.DataFrame | None, **fields: Any) -> ToolError:
    request = InstrumentalVariablesRequest.model_validate(
        {"dataset": "ab", "outcome": "y", "treatment": "d", "instruments": ["z"], **fields}
    )
    with pytest.raises(ToolError) as info:
        instrumental_variables(request, frame)
    error = info.value
    assert error.code == code, error
    assert error.message and error.hint
    with pytest.raises(ToolError) as again:  # the refute path refuses the same way
        headline(request, frame)
    assert again.value.code == code
    return error


def test_no_data() -> None:
    expect("no_data", None)


def test_unknown_column() -> None:
    error = expect("unknown_column", data(), instruments=["zz"])
    assert "'zz'" in error.message and "'z'" in error.hint
    expect("unknown_column", data(), covariates=["nope"])
    expect("unknown_column", data(), standard_errors="cluster", cluster="shard")


def test_treatment_is_instrument() -> None:
    error = expect("treatment_is_instrument", data(), instruments=["z", "d"])
    assert "'d'" in error.message


def test_overlapping_columns() -> None:
    expect("overlapping_columns", data(), treatment="y")
    expect("overlapping_columns", data(), instruments=["y"])
    expect("overlapping_columns", data(), covariates=["z"])


def test_cluster_missing_and_unused() -> None:
    expect("cluster_missing", data(), standard_errors="cluster")
    expect("cluster_unused", data(), cluster="g")


def test_non_numeric_instrument_names_the_column_and_values() -> None:
    frame = data()
    frame["z"] = np.where(frame["z"] == 1, "invited", "control")
    error = expect("non_numeric_column", frame)
    assert "'z'" in error.message and ("'invited'" in error.message or "'control'" in error.message)


def test_non_finite_values() -> None:
    frame = data()
    frame.loc[3, "x"] = np.inf
    expect("non_finite_values", frame, covariates=["x"])


def test_too_few_rows() -> None:
    frame = data()
    frame.loc[4:, "y"] = np.nan  # 4 usable rows for a constant, 2 covariates and an instrument
    error = expect("too_few_rows", frame, covariates=["x", "w"])
    assert "196" in error.message  # the rows dropped for missing values are counted


def test_too_few_clusters() -> None:
    frame = data()
    frame["g"] = 1
    expect("too_few_clusters", frame, standard_errors="cluster", cluster="g")


def test_constant_outcome_and_treatment() -> None:
    frame = data()
    frame["y"] = 2.0
    expect("constant_outcome", frame)
    frame = data()
    frame["d"] = 1
    expect("constant_treatment", frame)


def test_constant_instrument() -> None:
    frame = data()
    frame["z"] = 1
    error = expect("constant_instrument", frame)
    assert "'z'" in error.message


def test_instrument_collinear_with_covariates_or_instruments() -> None:
    frame = data()
    frame["x"] = 3.0 * frame["z"] - 1.0
    error = expect("collinear_instrument", frame, covariates=["x"])
    assert "'z'" in error.message
    frame = data()
    frame["z2"] = 2.0 * frame["z"]
    expect("collinear_instrument", frame, instruments=["z", "z2"])


def test_treatment_collinear_with_covariates() -> None:
    frame = data()
    frame["x"] = frame["d"] * 2.0
    expect("treatment_collinear", frame, covariates=["x"])


def test_no_first_stage() -> None:
    frame = data(n=8)
    frame["z"] = [0, 0, 1, 1, 0, 0, 1, 1]
    frame["d"] = [0, 1, 0, 1, 0, 1, 0, 1]  # take-up is 50% with and without the instrument, exactly
    expect("no_first_stage", frame)


def test_perfect_first_stage() -> None:
    frame = data()
    frame["d"] = frame["z"]
    expect("perfect_first_stage", frame)


def test_degenerate_fit() -> None:
    frame = data()
    frame["y"] = 3.0 - 2.0 * frame["d"]  # the treatment explains the outcome exactly: no error left
    request = InstrumentalVariablesRequest(dataset="ab", outcome="y", treatment="d", instruments=["z"])
    with pytest.raises(ToolError) as info:
        instrumental_variables(request, frame)
    assert info.value.code == "degenerate_fit" and info.value.hint


@pytest.mark.parametrize(
    "fields",
    [
        {"alpha": 0.0},
        {"alpha": 0.6},
        {"instruments": []},
        {"instruments": [f"z{i}" for i in range(21)]},
        {"standard_errors": "hc3"},
        {"outcome": ""},
        {"extra": 1},
    ],
)
def test_request_bounds(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        InstrumentalVariablesRequest.model_validate(
            {"dataset": "ab", "outcome": "y", "treatment": "d", "instruments": ["z"], **fields}
        )
