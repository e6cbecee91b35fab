"""Issue 16 for the estimators (rdd, diff_in_diff, propensity, refute): degenerate data gives a clear ToolError or a
valid result, never an internal_error; a zero standard error is never shown as a finding; alpha and the refute
simulation count are bounded. RELIABILITY.md cases S10, S11, S12, S13, S15 and X4 are named where they are tested.

Every case goes through ``tools.registry.dispatch`` (the one run path) unless it tests a library function.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from scipy import special

from tools.data import Catalog
from tools.errors import ToolError
from tools.rdd.bandwidth import _mse_bandwidth
from tools.refute.models import MAX_SIMULATIONS
from tools.registry import dispatch
from tools.results import NUMERICAL_ZERO, Estimate, ToolResult, require_inference, zero_error


@pytest.fixture(autouse=True)
def _files(tmp_path: Path) -> Iterator[None]:
    """Each test's frames are attached from CSV files in its own directory, as a user's would be."""
    FILES.append(tmp_path)
    yield
    FILES.pop()


FILES: list[Path] = []


def catalog_of(frame: pd.DataFrame | None) -> Catalog:
    catalog = Catalog()
    if frame is not None:
        path = FILES[-1] / f"d{len(list(FILES[-1].iterdir()))}.csv"
        frame.to_csv(path, index=False)
        catalog.add(path, "d")
    return catalog


def run(tool: str, frame: pd.DataFrame, **fields: Any) -> ToolResult | ToolError:
    return dispatch(tool, {"dataset": "d", **fields}, catalog_of(frame))


def code_of(outcome: ToolResult | ToolError) -> str:
    assert isinstance(outcome, ToolError), f"expected a ToolError, got {type(outcome).__name__}"
    assert outcome.message and outcome.hint
    assert outcome.code not in ("internal_error", "numerical_failure"), outcome.message
    return outcome.code


# --- item 6: rdd on ordinary degenerate data (S12) -----------------------------------------------------------------

RDD = {"outcome": "y", "running": "x"}


def uniform_design(n: int = 300, seed: int = 1) -> tuple[np.ndarray[Any, Any], np.random.Generator]:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, n), rng


@pytest.mark.parametrize("side", ["below", "above"])
def test_rdd_outcome_constant_on_one_side_gives_a_valid_result(side: str) -> None:
    """Was ZeroDivisionError (bandwidth.py, standardizing the placebo fit on the constant side)."""
    x, rng = uniform_design()
    constant = x < 0 if side == "below" else x >= 0
    y = np.where(constant, 1.0, 1.0 + x + rng.normal(0, 0.3, len(x)))
    result = run("rdd", pd.DataFrame({"x": x, "y": y}), **RDD)
    assert not isinstance(result, ToolError), result.message
    effect = result.effect  # type: ignore[attr-defined]
    assert effect.std_error > 0 and effect.ci_lower < effect.estimate < effect.ci_upper
    placebos = result.placebo_cutoffs  # type: ignore[attr-defined]
    constant_label = "untreated" if side == "below" else "treated"
    untested = [p for p in placebos if p.side == constant_label]
    assert untested and untested[0].status == "not_tested" and untested[0].robust is None


def test_rdd_fully_constant_outcome_is_refused() -> None:
    x, _ = uniform_design()
    error = run("rdd", pd.DataFrame({"x": x, "y": np.full(len(x), 3.0)}), **RDD)
    assert code_of(error) == "degenerate_fit"
    assert isinstance(error, ToolError) and "single value 3" in error.message


def test_rdd_outcome_constant_on_each_side_is_refused_not_a_certain_jump() -> None:
    x, _ = uniform_design()
    error = run("rdd", pd.DataFrame({"x": x, "y": (x >= 0).astype(float)}), **RDD)
    assert code_of(error) == "degenerate_fit"
    assert isinstance(error, ToolError) and "constant on each side" in error.message


@pytest.mark.parametrize("support", [3, 5, 8, 12])
@pytest.mark.parametrize("selector", ["mserd", "msetwo"])
def test_rdd_binary_outcome_on_integer_running_variable(support: int, selector: str) -> None:
    """S12: a discrete running variable with few values gives a ToolError naming the cause, or a result that warns
    that it is discrete and carries the bandwidth sensitivity rows."""
    rng = np.random.default_rng(support)
    x = rng.integers(-support, support + 1, 400).astype(float)
    y = (rng.uniform(size=400) < 0.3 + 0.2 * (x >= 0)).astype(float)
    result = run("rdd", pd.DataFrame({"x": x, "y": y}), **RDD, bandwidth_selector=selector)
    if isinstance(result, ToolError):
        assert code_of(result) in ("bandwidth_failed", "too_few_in_bandwidth", "too_few_distinct_values")
        return
    assert result.effect.std_error > 0  # type: ignore[attr-defined]
    assert any(w.startswith("The running variable is discrete") for w in result.warnings)  # type: ignore[attr-defined]
    assert len(result.bandwidth_sensitivity) == 5  # type: ignore[attr-defined]


def test_rdd_few_support_points_is_a_clear_error() -> None:
    """S12: 2 values below the cutoff cannot carry a local linear fit with its bias correction."""
    rng = np.random.default_rng(0)
    x = rng.choice([-2.0, -1.0, 0.0, 1.0, 2.0], 200)
    result = run("rdd", pd.DataFrame({"x": x, "y": rng.normal(size=200)}), **RDD)
    assert code_of(result) == "too_few_distinct_values"


def test_rdd_msetwo_with_a_side_without_bias_uses_the_cap() -> None:
    """B = 0 makes the MSE-optimal bandwidth infinite: rdrobust (R: min(Inf, bw_max)) uses the cap; V = 0 leaves
    nothing to select (was ZeroDivisionError at the msetwo step)."""
    assert _mse_bandwidth(2.0, 0.0, 0.2, 3.5) == 3.5
    assert _mse_bandwidth(2.0, 4.0, 1.0, 3.5) == pytest.approx(0.5)
    from tools.rdd.bandwidth import BandwidthError

    for variance, bias2 in ((0.0, 1.0), (0.0, 0.0), (float("nan"), 1.0), (1.0, float("inf"))):
        with pytest.raises(BandwidthError):
            _mse_bandwidth(variance, bias2, 0.2, 3.5)


def test_rdd_cluster_with_no_residual_degrees_of_freedom_is_not_a_crash() -> None:
    """Was ZeroDivisionError in the CR1 factor (n = k) with few rows per cluster window."""
    rng = np.random.default_rng(3)
    x = rng.integers(-4, 5, 47).astype(float)
    frame = pd.DataFrame({"x": x, "y": (rng.uniform(size=47) < 0.5).astype(float), "c": rng.integers(0, 5, 47)})
    result = run("rdd", frame, **RDD, polynomial=0, cluster="c")
    assert isinstance(result, ToolResult) or code_of(result)


def test_rdd_fuzzy_with_exact_compliance_is_reported_as_the_sharp_design() -> None:
    x, rng = uniform_design(600)
    frame = pd.DataFrame({"x": x, "y": x + (x >= 0) + rng.normal(0, 0.3, 600), "t": (x >= 0).astype(float)})
    fuzzy, sharp = run("rdd", frame, **RDD, fuzzy="t"), run("rdd", frame, **RDD)
    assert isinstance(fuzzy, ToolResult) and isinstance(sharp, ToolResult)
    assert fuzzy.design == "sharp" and fuzzy.first_stage is None  # type: ignore[attr-defined]
    assert fuzzy.effect.estimate == pytest.approx(sharp.effect.estimate, rel=1e-12)  # type: ignore[attr-defined]
    assert "compliance is perfect on both sides: the design is sharp" in fuzzy.summary  # type: ignore[attr-defined]


def test_rdd_seeded_fuzz_has_no_internal_errors() -> None:
    """The fuzz hits' classes together (77 in the issue): integer and rounded running variables, binary, constant
    and one-side-constant outcomes, clusters, fuzzy, covariates; every run is a result or a ToolError."""
    rng = np.random.default_rng(16)
    outcomes = 0
    for _ in range(24):
        n = int(rng.integers(30, 160))
        x = rng.integers(-int(rng.integers(2, 12)), int(rng.integers(2, 12)), n).astype(float)
        kind = int(rng.integers(0, 4))
        y = [
            (rng.uniform(size=n) < 0.4).astype(float),
            np.where(x < 0, 1.0, rng.normal(size=n)),
            np.where(x >= 0, 0.0, (rng.uniform(size=n) < 0.3).astype(float)),
            x + (x >= 0) + rng.normal(size=n),
        ][kind]
        frame = pd.DataFrame(
            {
                "x": x,
                "y": y,
                "c": rng.integers(0, 4, n),
                "t": (rng.uniform(size=n) < np.where(x >= 0, 0.8, 0.2)).astype(float),
                "z": rng.integers(0, 2, n).astype(float),
            }
        )
        fields: dict[str, Any] = {"polynomial": int(rng.integers(0, 3)), "covariates": ["z"]}
        fields["bandwidth_selector"] = ["mserd", "msetwo"][int(rng.integers(0, 2))]
        if rng.uniform() < 0.25:
            fields["cluster"] = "c"
        if rng.uniform() < 0.25:
            fields["fuzzy"] = "t"
        result = run("rdd", frame, **RDD, **fields)
        if isinstance(result, ToolError):
            code_of(result)
        else:
            outcomes += 1
            assert not zero_error(result.effect.std_error, result.effect.estimate)  # type: ignore[attr-defined]
    assert outcomes > 0


@pytest.mark.parametrize("tool", ["rdd", "diff_in_diff", "propensity", "refute"])
@pytest.mark.parametrize("alpha", [1e-17, 0.0, 0.51])
def test_alpha_is_bounded_in_every_request(tool: str, alpha: float) -> None:
    """alpha below ~1e-16 was a StatisticsError (1 - alpha / 2 rounds to 1); the bound is 1e-10 to 0.5."""
    from tools.registry import get_tool

    with pytest.raises(ValidationError, match="alpha"):
        get_tool(tool).request.model_validate({"alpha": alpha})


def test_smallest_alpha_gives_a_valid_rdd_result() -> None:
    x, rng = uniform_design(400)
    result = run("rdd", pd.DataFrame({"x": x, "y": x + (x >= 0) + rng.normal(0, 0.5, 400)}), **RDD, alpha=1e-10)
    assert isinstance(result, ToolResult)
    effect = result.effect  # type: ignore[attr-defined]
    assert effect.alpha == 1e-10 and effect.ci_upper - effect.ci_lower > 12 * effect.std_error  # z(1 - 5e-11) > 6


# --- item 10: a zero standard error is never a finding -----------------------------------------------------------


def test_did_two_units_two_periods_is_refused() -> None:
    """Was "+1.5 (95% CI +1.5 to +1.5, p = 0)"."""
    frame = pd.DataFrame({"u": [1, 1, 2, 2], "t": [1, 2, 1, 2], "y": [1.0, 2.0, 1.0, 3.5], "d": [0, 0, 0, 1]})
    for estimator in ("auto", "twfe", "event_study", "callaway_santanna"):
        error = run("diff_in_diff", frame, outcome="y", unit="u", time="t", treatment="d", estimator=estimator)
        assert code_of(error) == "degenerate_fit"
        assert isinstance(error, ToolError) and "2 units over 2 periods" in error.message


def panel(units: int, periods: int, noise: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    u = np.repeat(np.arange(units), periods)
    t = np.tile(np.arange(1, periods + 1), units)
    d = ((u % 2 == 1) & (t == periods)).astype(int)
    y = 100 + u * 0.5 + t * 0.3 + 1.5 * d + noise * rng.normal(size=len(u))
    return pd.DataFrame({"u": u, "t": t, "y": y, "d": d})


def test_did_outcome_without_noise_is_refused_and_noisy_panel_is_unaffected() -> None:
    """An outcome that is exactly unit + period + effect leaves rounding noise (about 1e-14 on values near 100)
    as the 'standard error'; the same panel with noise gives an ordinary result."""
    exact = run("diff_in_diff", panel(6, 4, 0.0), outcome="y", unit="u", time="t", treatment="d")
    assert code_of(exact) == "degenerate_fit"
    noisy = run("diff_in_diff", panel(6, 4, 1.0), outcome="y", unit="u", time="t", treatment="d")
    assert isinstance(noisy, ToolResult)
    assert noisy.effect.std_error > 0.1  # type: ignore[attr-defined]


def test_did_saturated_event_study_is_left_out_with_a_note() -> None:
    """S13: 3 units x 3 periods with one treated period: the event study fits exactly while TWFE does not; the
    result keeps TWFE and says why there is no event study (it would have been a row with a zero-width interval)."""
    frame = panel(3, 3, 1.0)
    result = run("diff_in_diff", frame, outcome="y", unit="u", time="t", treatment="d")
    if isinstance(result, ToolError):
        assert code_of(result) == "degenerate_fit"
        return
    for row in result.event_study:  # type: ignore[attr-defined]
        assert row.reference or row.std_error > 0


def test_propensity_perfect_fit_with_six_units_is_refused() -> None:
    """Was AIPW with SE ~2e-16 and p = 0, no warning."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=6)
    t = np.array([0, 1, 0, 1, 0, 1])
    frame = pd.DataFrame({"t": t, "x": x, "y": 1 + 2 * x + 1.5 * t})
    error = run("propensity", frame, outcome="y", treatment="t", covariates=["x"])
    assert code_of(error) == "degenerate_fit"
    assert isinstance(error, ToolError) and "aipw" in error.message and "6 units" in error.message


def test_propensity_ordinary_data_is_unaffected() -> None:
    rng = np.random.default_rng(0)
    n = 400
    x = rng.normal(size=n)
    d = rng.random(n) < special.expit(0.5 * x)
    frame = pd.DataFrame({"t": d.astype(int), "x": x, "y": x + 1.5 * d + rng.normal(size=n)})
    result = run("propensity", frame, outcome="y", treatment="t", covariates=["x"])
    assert isinstance(result, ToolResult)
    assert all(e.std_error > 0.01 for e in result.estimates)  # type: ignore[attr-defined]


def test_zero_error_and_require_inference() -> None:
    assert zero_error(0.0) and zero_error(float("nan")) and zero_error(float("inf"), 1.0)
    assert zero_error(2e-16, 1.5) and zero_error(1e-9, 0.0, 1e6)  # rounding noise on values near 1e6
    assert not zero_error(1e-3, 1.5, 1e6) and not zero_error(1e-12)  # no scale given: only exactly zero counts
    assert NUMERICAL_ZERO == 1e-10
    require_inference(0.2, 1.0, what="x", reason="r", hint="h")
    with pytest.raises(ToolError) as caught:
        require_inference(0.0, 1.0, what="the effect", reason="3 units", hint="Add units.")
    assert caught.value.code == "degenerate_fit" and "the effect is zero (3 units)" in caught.value.message


def test_estimate_refuses_a_zero_error_finding_for_every_estimator() -> None:
    """The safety net in Estimate: any tool (also a future one) that builds a non-zero estimate with a zero error
    cannot return it; a zero estimate with no error (a reference period fixed at 0) stays valid."""
    with pytest.raises(ValidationError, match="standard error is zero"):
        Estimate.normal(1.5, 0.0)
    with pytest.raises(ValidationError, match="standard error is zero"):
        Estimate(estimate=1.5, std_error=1e-16, ci_lower=1.5, ci_upper=1.5, p_value=0.0)
    reference = Estimate.normal(0.0, 0.0)
    assert (reference.std_error, reference.p_value) == (0.0, 1.0)
    assert Estimate.normal(1.5, 1e-6).p_value == 0.0  # tiny but real: |t| = 1.5e6


# --- item 20 and X4: refute's simulations are bounded; cancellation still works ----------------------------------


def test_refute_simulations_are_capped_with_the_reason_in_the_schema() -> None:
    from tools.refute.models import RefuteRequest

    assert MAX_SIMULATIONS == 500
    assert str(MAX_SIMULATIONS) in (RefuteRequest.model_fields["simulations"].description or "")
    target = {"tool": "rdd", "request": json.dumps({"dataset": "d", **RDD})}
    for too_many in (501, 2_000, 10**9):
        error = dispatch("refute", {"target": target, "simulations": too_many}, catalog_of(None))
        assert isinstance(error, ToolError) and error.code == "invalid_arguments" and "simulations" in error.message


def test_refute_target_request_is_parsed_with_bounded_json() -> None:
    """tools.jsontext.loads: 5,000 nested brackets are refused as invalid arguments, not a RecursionError."""
    deep = "[" * 5_000 + "]" * 5_000
    error = dispatch("refute", {"target": {"tool": "rdd", "request": deep}}, catalog_of(None))
    assert isinstance(error, ToolError) and error.code == "invalid_arguments"
    nan = dispatch("refute", {"target": {"tool": "rdd", "request": '{"cutoff": NaN}'}}, catalog_of(None))
    assert isinstance(nan, ToolError) and nan.code == "invalid_arguments"


def test_refute_on_rdd_with_a_constant_side_runs_and_cancels() -> None:
    """Refute on the rdd case that used to crash runs to a verdict; a cancel stops it promptly as a ToolError."""
    x, rng = uniform_design(400, seed=2)
    frame = pd.DataFrame({"x": x, "y": np.where(x < 0, 0.0, 0.5 + x + rng.normal(0, 0.3, 400))})
    target = {"tool": "rdd", "request": json.dumps({"dataset": "d", **RDD})}
    done = dispatch("refute", {"target": target, "simulations": 10}, catalog_of(frame))
    assert isinstance(done, ToolResult), getattr(done, "message", "")
    cancel = threading.Event()
    cancel.set()
    start = time.perf_counter()
    stopped = dispatch("refute", {"target": target, "simulations": 500}, catalog_of(frame), cancel=cancel)
    assert isinstance(stopped, ToolError) and stopped.code == "cancelled"
    assert time.perf_counter() - start < 5


# --- S15: no library warning leaks out of a degenerate rdd ---------------------------------------------------------


def test_degenerate_rdd_raises_no_runtime_warnings() -> None:
    """The bandwidth selector used to divide 0 by 0 in numpy (RuntimeWarning: invalid value) before failing; the
    degenerate cases are now decided before any such division."""
    x, rng = uniform_design()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for y in (np.where(x < 0, 1.0, rng.normal(size=len(x))), np.full(len(x), 2.0)):
            outcome = run("rdd", pd.DataFrame({"x": x, "y": y}), **RDD, bandwidth_selector="msetwo")
            assert isinstance(outcome, ToolResult) or code_of(outcome)
            if isinstance(outcome, ToolResult):
                assert not any(w.startswith("Library warning") for w in outcome.warnings)  # type: ignore[attr-defined]


# -- hits of the dispatch fuzz (tests/tools/test_fuzz_dispatch.py) -----------------------------------------------


@pytest.fixture(scope="module")
def fuzz_catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    from tests.tools.fuzz_strategies import build_catalog

    built: Catalog = build_catalog(tmp_path_factory.mktemp("fuzz-hits"))
    return built


def test_more_neighbours_than_an_arm_has_match_the_whole_arm_and_say_so(fuzz_catalog: Catalog) -> None:
    request = {"dataset": "ok", "outcome": "y", "treatment": "treated", "covariates": ["cov", "cat"], "neighbors": 20}
    result = dispatch("propensity", request, fuzz_catalog)
    assert isinstance(result, ToolResult), result
    assert any("20 neighbours were asked for but an arm has only" in w for w in result.warnings)  # type: ignore[attr-defined]
    refuted = dispatch(
        "refute", {"target": {"tool": "propensity", "request": request}, "simulations": 20}, fuzz_catalog
    )
    assert isinstance(refuted, ToolResult), refuted


def test_clustering_a_2x2_panel_by_another_column_is_refused_not_divided_by_zero(fuzz_catalog: Catalog) -> None:
    request = {
        "dataset": "panel22",
        "outcome": "y",
        "unit": "unit",
        "time": "period",
        "cohort": "cohort",
        "cluster": "treated",
    }
    error = dispatch("diff_in_diff", request, fuzz_catalog)
    assert isinstance(error, ToolError) and error.code == "degenerate_fit", error
    assert "no residual degrees of freedom" in error.message
