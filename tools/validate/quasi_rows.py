"""Calibration of power's quasi-experimental designs: the power the power tool simulates for a difference-in-
differences design against the rejection rate of diff_in_diff on panels drawn from that design.

The panels follow the power tool's stated model (a balanced panel, a unit level with share ``icc`` of the variance,
AR(1) shocks, one adoption date, a constant effect), with period effects added (the fixed effects absorb them); each
is analysed by ``diff_in_diff`` through the dispatcher as a user would (TWFE, unit-clustered errors). The closed-form
power beside the simulated one is recomputed here from the post-minus-pre contrast of one unit's path (Frison &
Pocock 1992; Burlig, Preonas & Woerman 2020) and the noncentral t on G - 1 degrees of freedom.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from tools.did import DiffInDiffResult
from tools.power import PowerResult
from tools.validate.models import Rate, Size, ValidationRow, build_row
from tools.validate.simulate import Simulator, stream

__all__ = ["DID_DESIGN", "did_closed_form_power", "did_power_rows", "quasi_panel"]

ALPHA = 0.05
#: The design of the row: 20 treated and 20 control units, 4 periods before and 4 after, ICC 0.5, AR(1) 0.3.
TREATED, CONTROL, PRE, POST, ICC, AR1 = 20, 20, 4, 4, 0.5, 0.3
DID_DESIGN = {"kind": "did", "treated": TREATED, "control": CONTROL, "pre": PRE, "post": POST, "icc": ICC, "ar1": AR1}
EFFECT = 0.5  # in outcome standard deviations


def _covariance(pre: int, post: int, icc: float, ar1: float) -> np.ndarray:
    lags = np.abs(np.subtract.outer(np.arange(pre + post), np.arange(pre + post)))
    covariance: np.ndarray = icc + (1.0 - icc) * np.power(ar1, lags)
    return covariance


def did_closed_form_power(
    treated: int, control: int, pre: int, post: int, icc: float, ar1: float, effect: float, alpha: float = ALPHA
) -> float:
    """Two-sided power of the all-at-once DiD (post-minus-pre change, treated minus control) with unit-variance
    outcomes: Var = (1/n_T + 1/n_C) c' Sigma c with c the contrast (-1/pre, ..., 1/post, ...), and the t test on
    G - 1 degrees of freedom (noncentral t)."""
    contrast = np.concatenate([np.full(pre, -1.0 / pre), np.full(post, 1.0 / post)])
    variance = (1 / treated + 1 / control) * float(contrast @ _covariance(pre, post, icc, ar1) @ contrast)
    df = treated + control - 1
    critical = float(stats.t.ppf(1 - alpha / 2, df))
    shift = effect / math.sqrt(variance)
    return float(stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift))


def quasi_panel(rng: np.random.Generator, effect: float) -> pd.DataFrame:
    """One panel of :data:`DID_DESIGN`: unit level N(0, icc), stationary AR(1) shocks of variance 1 - icc, period
    effects, and ``effect`` on the treated units' post periods (``treated``: 0/1 per row)."""
    treated, pre, icc, rho = TREATED, PRE, ICC, AR1
    units, periods = TREATED + CONTROL, PRE + POST
    shocks = np.empty((units, periods))
    shocks[:, 0] = rng.standard_normal(units)
    for t in range(1, periods):
        shocks[:, t] = rho * shocks[:, t - 1] + math.sqrt(1 - rho**2) * rng.standard_normal(units)
    on = np.zeros((units, periods))
    on[:treated, pre:] = 1.0
    y = (
        math.sqrt(icc) * rng.standard_normal((units, 1))
        + math.sqrt(1 - icc) * shocks
        + rng.standard_normal((1, periods))
        + effect * on
    )
    return pd.DataFrame(
        {
            "unit": np.repeat(np.arange(units), periods),
            "period": np.tile(np.arange(1, periods + 1), units),
            "y": y.ravel(),
            "treated": on.ravel().astype(np.int64),
        }
    )


def did_power_rows(sim: Simulator, seed: int, size: Size) -> list[ValidationRow]:
    """At the design's effect, diff_in_diff rejects as often as power's simulation promised."""
    replications = 150 if size == "quick" else 1_000
    request = {"metric": "mean", "baseline": 0.0, "std_dev": 1.0, "mde": EFFECT, "solve_for": "power"}
    outcome = sim.call("power", {**request, "design": DID_DESIGN})
    if not isinstance(outcome, PowerResult) or outcome.quasi is None:
        raise RuntimeError(f"power refused its own DiD design: {outcome}")
    rejected, failed = Rate(), 0
    rng = stream(seed, "power: DiD design")
    did = {"outcome": "y", "unit": "unit", "time": "period", "treatment": "treated", "estimator": "twfe"}
    sim.start("power: DiD design vs diff_in_diff", replications)
    rows = 0
    for _ in range(replications):
        frame = quasi_panel(rng, EFFECT)
        rows = len(frame)
        result = sim.run("diff_in_diff", frame, did)
        if isinstance(result, DiffInDiffResult):
            rejected.add(result.effect.p_value < ALPHA)
        else:
            failed += 1
        sim.step()
    closed = did_closed_form_power(TREATED, CONTROL, PRE, POST, ICC, AR1, EFFECT)
    analytic = outcome.quasi.analytic_power
    agrees = analytic is not None and math.isclose(closed, analytic, abs_tol=1e-6)
    shown = "none" if analytic is None else f"{analytic:.5f}"
    return [
        build_row(
            "power",
            "DiD design, 20 + 20 units, 4 + 4 periods, ICC 0.5, AR(1) 0.3: diff_in_diff's rejections",
            rows,
            alpha=ALPHA,
            power=rejected,
            power_planned=outcome.power,
            failed=failed,
            reference=f"closed form (Frison & Pocock 1992; Burlig et al. 2020), noncentral t(G - 1): {closed:.5f} "
            f"(whyscope {shown}); power's simulation {outcome.power:.3f} ±{outcome.quasi.power_mc_se:.3f}",
            reference_ok=agrees,
        )
    ]
