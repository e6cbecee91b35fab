"""The Anderson-Rubin set against a grid inversion by hand: at each value b, statsmodels' OLS of outcome - b x treatment
on the instruments and covariates and its F test of the instruments (classical, HC1, or clustered with F(k, G - 1):
statsmodels' own conventions, an independent implementation of the test), on data built to give a bounded set, the
whole line, two half-lines, an empty set, and several instruments under each kind of standard error."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from tools.iv import InstrumentalVariablesRequest, InstrumentalVariablesResult, instrumental_variables
from tools.iv.ar import ar_set
from tools.iv.fit import Covariances


def simulate(
    seed: int,
    n: int = 300,
    first: tuple[float, ...] = (1.0,),
    direct: tuple[float, ...] | None = None,
    effect: float = 1.0,
    clusters: int = 40,
) -> pd.DataFrame:
    """``d = z first + v``, ``y = effect d + z direct + u`` with corr(u, v) = 0.6, one covariate, heteroskedastic."""
    rng = np.random.default_rng(seed)
    k = len(first)
    z = rng.normal(size=(n, k))
    x = rng.normal(size=n)
    v = rng.normal(size=n)
    u = (0.6 * v + 0.8 * rng.normal(size=n)) * (1 + 0.5 * np.abs(z[:, 0]))
    d = z @ np.asarray(first) + 0.3 * x + v
    y = effect * d + 0.5 * x + u + (z @ np.asarray(direct) if direct is not None else 0.0)
    frame = pd.DataFrame({f"z{j}": z[:, j] for j in range(k)})
    frame["x"], frame["d"], frame["y"] = x, d, y
    frame["g"] = rng.integers(0, clusters, size=n)
    return frame


def statsmodels_p(frame: pd.DataFrame, instruments: list[str], kind: str, b: float) -> float:
    """p-value of the AR test at ``b`` by statsmodels."""
    exog = sm.add_constant(frame[[*instruments, "x"]].to_numpy())
    choices: dict[str, dict[str, Any]] = {
        "classical": {},
        "robust": {"cov_type": "HC1"},
        "cluster": {"cov_type": "cluster", "cov_kwds": {"groups": frame["g"].to_numpy()}},
    }
    fit_options = choices[kind]
    fit = sm.OLS(frame["y"].to_numpy() - b * frame["d"].to_numpy(), exog).fit(**fit_options)
    restriction = np.zeros((len(instruments), exog.shape[1]))
    for j in range(len(instruments)):
        restriction[j, 1 + j] = 1.0
    return float(fit.f_test(restriction).pvalue)


def run(frame: pd.DataFrame, instruments: list[str], kind: str) -> InstrumentalVariablesResult:
    request = InstrumentalVariablesRequest(
        dataset="sim",
        outcome="y",
        treatment="d",
        instruments=instruments,
        covariates=["x"],
        standard_errors=kind,  # type: ignore[arg-type]
        cluster="g" if kind == "cluster" else None,
    )
    return instrumental_variables(request, frame)


def inside(result: InstrumentalVariablesResult, b: float) -> bool:
    return any(
        (p.lower is None or p.lower <= b) and (p.upper is None or b <= p.upper) for p in result.anderson_rubin.intervals
    )


def check_against_grid(frame: pd.DataFrame, instruments: list[str], kind: str) -> InstrumentalVariablesResult:
    result = run(frame, instruments, kind)
    ar = result.anderson_rubin
    alpha = result.alpha
    # the p-value of no effect is statsmodels' at b = 0
    np.testing.assert_allclose(ar.p_value, statsmodels_p(frame, instruments, kind, 0.0), rtol=1e-8)
    # every finite end is where statsmodels' p-value crosses alpha
    for piece in ar.intervals:
        for end in (piece.lower, piece.upper):
            if end is not None:
                np.testing.assert_allclose(statsmodels_p(frame, instruments, kind, end), alpha, rtol=1e-6)
    # the grid: statsmodels accepts exactly the points inside the set (points within 1e-6 of an end skipped)
    ends = [e for p in ar.intervals for e in (p.lower, p.upper) if e is not None]
    centre = result.effect.estimate
    width = max([abs(e - centre) for e in ends] + [1.0])
    grid = np.concatenate([centre + np.linspace(-3 * width, 3 * width, 121), [-1e6, 1e6]])
    for b in grid:
        if any(abs(b - e) < 1e-6 * max(1.0, abs(e)) for e in ends):
            continue
        accepted = statsmodels_p(frame, instruments, kind, float(b)) > alpha
        assert accepted == inside(result, float(b)), (kind, b, ar)
    return result


@pytest.mark.parametrize("kind", ["classical", "robust", "cluster"])
def test_bounded_with_a_strong_instrument(kind: str) -> None:
    result = check_against_grid(simulate(1), ["z0"], kind)
    ar = result.anderson_rubin
    assert ar.kind == "bounded" and len(ar.intervals) == 1
    assert ar.ci_lower is not None and ar.ci_upper is not None
    assert ar.ci_lower < result.effect.estimate < ar.ci_upper


@pytest.mark.parametrize("kind", ["classical", "robust", "cluster"])
def test_whole_line_with_an_irrelevant_instrument(kind: str) -> None:
    result = check_against_grid(simulate(2, first=(0.0,), effect=0.0), ["z0"], kind)
    ar = result.anderson_rubin
    assert ar.kind == "unbounded" and ar.ci_lower is None and ar.ci_upper is None
    assert [(p.lower, p.upper) for p in ar.intervals] == [(None, None)]
    assert any("unbounded" in w for w in result.warnings)


@pytest.mark.parametrize("kind", ["classical", "robust", "cluster"])
def test_two_half_lines_with_a_weak_first_stage_and_a_clear_reduced_form(kind: str) -> None:
    result = check_against_grid(simulate(3, first=(0.05,), direct=(0.4,)), ["z0"], kind)
    ar = result.anderson_rubin
    assert ar.kind == "union" and len(ar.intervals) == 2
    assert ar.intervals[0].lower is None and ar.intervals[1].upper is None
    assert ar.ci_lower is None and ar.ci_upper is None  # the hull is the line; `intervals` shows the gap
    assert ar.intervals[0].upper is not None and ar.intervals[1].lower is not None
    assert ar.intervals[0].upper < ar.intervals[1].lower
    assert result.first_stage.f_statistic < 10
    assert {c.name: c.status for c in result.checks}["instrument_strength"] == "fail"


@pytest.mark.parametrize("kind", ["classical", "robust", "cluster"])
@pytest.mark.parametrize("seed", [4, 5])
def test_several_instruments(kind: str, seed: int) -> None:
    result = check_against_grid(simulate(seed, first=(0.5, 0.3, 0.2)), ["z0", "z1", "z2"], kind)
    assert result.anderson_rubin.kind == "bounded"


@pytest.mark.parametrize("kind", ["classical", "robust", "cluster"])
@pytest.mark.parametrize("seed", [6, 7, 8, 9])
def test_several_weak_instruments(kind: str, seed: int) -> None:
    """Weak instruments (first-stage F below about 3): half-lines, the whole line or nothing, as the grid says."""
    result = check_against_grid(simulate(seed, first=(0.03, 0.02), direct=(0.3, 0.0)), ["z0", "z1"], kind)
    ar = result.anderson_rubin
    bounded_first_stage = result.first_stage.p_value < result.alpha
    # Dufour: the set is bounded (or empty) exactly when the first stage rejects at the same level
    assert (ar.kind in ("bounded", "empty")) == bounded_first_stage, (ar, result.first_stage)


def test_weak_instrument_shapes_seen() -> None:
    kinds = {
        run(simulate(seed, first=(0.03, 0.02), direct=(0.3, 0.0)), ["z0", "z1"], "classical").anderson_rubin.kind
        for seed in (6, 7, 8)
    }
    assert kinds == {"union", "unbounded", "empty"}


def test_empty_when_strong_instruments_disagree() -> None:
    result = check_against_grid(simulate(7, n=400, first=(1.0, 1.0), direct=(0.0, 3.0)), ["z0", "z1"], "robust")
    ar = result.anderson_rubin
    assert ar.kind == "empty" and ar.intervals == [] and ar.ci_lower is None and ar.ci_upper is None
    assert result.overidentification is not None and result.overidentification.p_value < 1e-6
    assert {c.name: c.status for c in result.checks}["overidentification"] == "fail"
    assert "empty" in result.summary


def test_closed_form_equals_the_eigenvalue_path() -> None:
    """The one-instrument quadratic and the general quadratic-eigenvalue inversion give the same ends."""
    from tools.iv.ar import _several_instruments

    cases = [
        (2.0, 1.0, 0.3, 0.1, 0.05),  # strong: bounded
        (0.5, 0.1, 0.3, 0.05, 0.04),  # weak first stage, clear reduced form: two half-lines
        (0.01, 0.02, 0.3, 0.05, 0.04),  # nothing: the whole line
    ]
    for pi_y, pi_d, v_yy, v_yd, v_dd in cases:
        cov = Covariances(np.array([[v_yy]]), np.array([[v_yd]]), np.array([[v_dd]]))
        closed = ar_set(np.array([pi_y]), np.array([pi_d]), cov, 3.84)
        general = _several_instruments(np.array([pi_y]), np.array([pi_d]), cov, 3.84)
        assert closed.kind == general.kind
        for (a_lo, a_hi), (b_lo, b_hi) in zip(closed.intervals, general.intervals, strict=True):
            for a, b in ((a_lo, b_lo), (a_hi, b_hi)):
                assert (a is None) == (b is None)
                if a is not None and b is not None:
                    assert a == pytest.approx(b, rel=1e-10, abs=1e-12)
