"""Seeded simulations of rerandomisation against Morgan & Rubin (2012): the share of draws accepted is p_a (M is
chi-square with k degrees of freedom under complete randomisation), the tool needs about 1 / p_a draws, and each
covariate's mean difference among accepted draws has its variance multiplied by
v_a = P(chi2_{k+2} <= a) / P(chi2_k <= a) (Theorem 3.1)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tools.assign.draw import allocate, mahalanobis
from tools.assign.models import AssignRequest
from tools.assign.tool import assign

N_UNITS = 200
N_DRAWS = 6000
ACCEPT = 0.2


@pytest.fixture(scope="module")
def draws() -> tuple[np.ndarray, np.ndarray]:
    """(M, mean differences) of N_DRAWS hashed complete randomisations of one unit list (salts 'sim-0', ...)."""
    rng = np.random.default_rng(20120101)
    x = rng.normal(size=(N_UNITS, 2))
    ids = [f"unit{i}" for i in range(N_UNITS)]
    groups = np.zeros(N_UNITS, dtype=np.int64)
    distances, differences = [], []
    for d in range(N_DRAWS):
        arms = allocate(ids, groups, ["all units"], [0.5, 0.5], f"sim-{d}")
        distances.append(mahalanobis(x, arms, 2)[0])
        differences.append(x[arms == 1].mean(axis=0) - x[arms == 0].mean(axis=0))
    return np.array(distances), np.array(differences)


def test_the_acceptance_rate_is_p_a(draws: tuple[np.ndarray, np.ndarray]) -> None:
    """Binomial standard error sqrt(0.2 x 0.8 / 6000) = 0.005; tolerance 0.02 (4 SE)."""
    distances, _ = draws
    accepted = np.mean(distances <= stats.chi2.ppf(ACCEPT, 2))
    np.testing.assert_allclose(accepted, ACCEPT, atol=0.02)


def test_the_mean_difference_variance_shrinks_by_v_a(draws: tuple[np.ndarray, np.ndarray]) -> None:
    """About 1,200 accepted draws: the variance ratio's relative standard error is about sqrt(2 / 1200) = 4% per
    covariate; tolerance 15% on their average."""
    distances, differences = draws
    a = stats.chi2.ppf(ACCEPT, 2)
    v_a = stats.chi2.cdf(a, 4) / stats.chi2.cdf(a, 2)
    ratio = differences[distances <= a].var(axis=0) / differences.var(axis=0)
    np.testing.assert_allclose(ratio.mean(), v_a, rtol=0.15)


def test_the_tool_needs_about_one_over_p_a_draws() -> None:
    """Draws until acceptance are geometric with mean 1 / p_a = 5 (SD of the mean over 150 salts: 0.37); tolerance
    1.2."""
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"id": [f"u{i}" for i in range(120)], "x1": rng.normal(size=120), "x2": rng.normal(size=120)})
    counts = [
        assign(AssignRequest(dataset="d", unit_column="id", salt=f"s{i}", rerandomize_acceptance=ACCEPT), frame).draws
        for i in range(150)
    ]
    np.testing.assert_allclose(np.mean(counts), 1 / ACCEPT, atol=1.2)
