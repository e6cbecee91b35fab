"""Seeded coverage simulations of instrumental_variables: with a strong instrument the 2SLS interval covers about
95% of the time; with a weak one (first-stage F about 3) it under-covers while the Anderson-Rubin set keeps its
coverage. Tolerances are binomial: 3.5 standard errors of a proportion over the replications."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tools.iv import InstrumentalVariablesRequest, InstrumentalVariablesResult, instrumental_variables

REPLICATIONS = 1000
N = 400
EFFECT = 1.0
LEVEL = 0.95
TOLERANCE = 3.5 * math.sqrt(LEVEL * (1 - LEVEL) / REPLICATIONS)
REQUEST = InstrumentalVariablesRequest(
    dataset="sim", outcome="y", treatment="d", instruments=["z"], covariates=["x"], standard_errors="robust"
)


def draw(rng: np.random.Generator, strength: float, endogeneity: float) -> pd.DataFrame:
    z = rng.normal(size=N)
    x = rng.normal(size=N)
    v = rng.normal(size=N)
    u = endogeneity * v + math.sqrt(1 - endogeneity**2) * rng.normal(size=N)
    d = strength * z + 0.5 * x + v
    return pd.DataFrame({"y": EFFECT * d + x + u, "d": d, "z": z, "x": x})


def ar_covers(result: InstrumentalVariablesResult) -> bool:
    return any(
        (p.lower is None or p.lower <= EFFECT) and (p.upper is None or p.upper >= EFFECT)
        for p in result.anderson_rubin.intervals
    )


def coverage(strength: float, endogeneity: float, seed: int) -> tuple[float, float, float]:
    rng = np.random.default_rng(seed)
    tsls = ar = 0
    f_stats = []
    for _ in range(REPLICATIONS):
        result = instrumental_variables(REQUEST, draw(rng, strength, endogeneity))
        tsls += result.effect.ci_lower <= EFFECT <= result.effect.ci_upper
        ar += ar_covers(result)
        f_stats.append(result.first_stage.f_statistic)
    return tsls / REPLICATIONS, ar / REPLICATIONS, float(np.mean(f_stats))


@pytest.mark.slow
def test_strong_instrument_2sls_and_ar_cover() -> None:
    tsls, ar, f_mean = coverage(strength=0.5, endogeneity=0.5, seed=20)
    assert f_mean > 50
    assert abs(tsls - LEVEL) < TOLERANCE, tsls
    assert abs(ar - LEVEL) < TOLERANCE, ar


@pytest.mark.slow
def test_weak_instrument_2sls_under_covers_and_ar_keeps_coverage() -> None:
    tsls, ar, f_mean = coverage(strength=math.sqrt(2 / N), endogeneity=0.9, seed=21)
    assert 2 < f_mean < 4  # a weak instrument: F about 3 on average
    assert tsls < LEVEL - TOLERANCE, tsls  # 2SLS over-claims
    assert abs(ar - LEVEL) < TOLERANCE, ar  # Anderson-Rubin does not
