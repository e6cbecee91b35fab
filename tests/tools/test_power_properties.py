"""Property tests: whatever the schema admits gives a valid result or a ToolError, never a crash or a warning."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tools.errors import ToolError
from tools.power import PowerResult
from tools.registry import dispatch

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

#: Errors a well-formed request may still meet: the design asks for the impossible.
FEASIBILITY_ERRORS = {
    "no_detectable_effect",
    "too_few_units",
    "sample_size_too_large",
    "mde_out_of_range",
    "duration_too_long",
}


@st.composite
def consistent_requests(draw: st.DrawFn) -> dict[str, Any]:
    """Requests a careful user would send: one unknown, metric-consistent fields, signs that match."""
    metric = draw(st.sampled_from(["proportion", "mean"]))
    solve_for = draw(st.sampled_from(["sample_size", "mde", "power"]))
    alternative = draw(st.sampled_from(["two-sided", "larger", "smaller"]))
    alpha = draw(st.floats(0.001, 0.2))
    fields: dict[str, Any] = {
        "metric": metric,
        "solve_for": solve_for,
        "alternative": alternative,
        "alpha": alpha,
        "allocation_ratio": draw(st.floats(0.1, 10.0)),
        "arms": draw(st.integers(2, 5)),
    }
    if metric == "proportion":
        fields["baseline"] = draw(st.floats(0.001, 0.999))
    else:
        fields["baseline"] = draw(st.floats(0.01, 1e5))
        fields["std_dev"] = draw(st.floats(0.01, 1e4))
    if solve_for != "mde":
        fields["mde_kind"] = "relative"
        magnitude = draw(st.floats(1e-4, 1.0))
        sign = (
            -1.0
            if alternative == "smaller"
            else (1.0 if alternative == "larger" else draw(st.sampled_from([-1.0, 1.0])))
        )
        fields["mde"] = sign * magnitude
    if solve_for != "sample_size":
        fields["n_per_arm"] = draw(st.integers(2, 10**8))
    if solve_for != "power":
        fields["power"] = draw(st.floats(alpha + 0.05, 0.99))
    if draw(st.booleans()):
        fields["daily_units"] = draw(st.floats(1.0, 1e6))
    if draw(st.booleans()):
        fields["cluster_size"] = draw(st.floats(1.0, 200.0))
        fields["icc"] = draw(st.floats(0.0, 0.5))
    if draw(st.booleans()):
        fields["variance_reduction"] = draw(st.floats(0.0, 0.9))
    return fields


def check_result(result: PowerResult) -> None:
    assert not [w for w in result.warnings if w.startswith("Library warning")], result.warnings
    assert result.n_per_arm >= 2 and result.n_treatment >= 1
    assert result.n_total == result.n_per_arm + (result.arms - 1) * result.n_treatment
    assert 0.0 <= result.power <= 1.0
    assert math.isfinite(result.mde_absolute) and result.mde_absolute != 0.0
    if result.target_power is not None:
        assert result.power >= result.target_power - 1e-9
    if result.solve_for != "mde":
        assert len(result.curve) >= 50
    assert result.summary


@pytest.mark.slow  # 300 examples: about 2 s
@SETTINGS
@given(consistent_requests())
def test_consistent_requests_are_answered(fields: dict[str, Any]) -> None:
    outcome = dispatch("power", fields)
    if isinstance(outcome, ToolError):
        assert outcome.code in FEASIBILITY_ERRORS, outcome
        assert outcome.message and outcome.hint
        return
    assert isinstance(outcome, PowerResult)
    check_result(outcome)


anything = st.fixed_dictionaries(
    {"metric": st.sampled_from(["proportion", "mean"]), "baseline": st.floats(allow_nan=False, allow_infinity=False)},
    optional={
        "std_dev": st.floats(),
        "solve_for": st.sampled_from(["sample_size", "mde", "power"]),
        "alternative": st.sampled_from(["two-sided", "larger", "smaller"]),
        "mde_kind": st.sampled_from(["absolute", "relative"]),
        "mde": st.floats(),
        "n_per_arm": st.integers(-5, 10**13),
        "power": st.floats(),
        "alpha": st.floats(),
        "allocation_ratio": st.floats(),
        "arms": st.integers(0, 30),
        "daily_units": st.floats(),
        "cluster_size": st.floats(),
        "icc": st.floats(),
        "variance_reduction": st.floats(),
    },
)


@SETTINGS
@given(anything)
def test_arbitrary_requests_never_crash(fields: dict[str, Any]) -> None:
    outcome = dispatch("power", fields)
    if isinstance(outcome, ToolError):
        assert outcome.code not in {"internal_error", "numerical_failure"}, (fields, outcome)
        assert outcome.message and outcome.hint
    else:
        assert isinstance(outcome, PowerResult)
        check_result(outcome)
