"""Seeded simulations: coverage of the robust bias-corrected interval, and the density test's size and power."""

from __future__ import annotations

import numpy as np
import pytest

from tools.rdd.density import cjm_density
from tools.rdd.estimate import rd_fit, split_sides

#: Seeded simulations: `python3 dev.py test --fast` skips them.
pytestmark = pytest.mark.slow

JUMP = 0.5


def test_robust_interval_covers_95_percent() -> None:
    """A smooth design with a known jump of 0.5 (curved conditional mean, noise sd 1, x uniform on [-1, 1]).

    800 replications of n = 1,500: the Monte-Carlo SE of a 95% coverage is 0.77 points, so the issue's band of
    +-2 points is 2.6 SE wide. (The conventional interval, which ignores the smoothing bias, is not held to it.)"""
    rng = np.random.default_rng(20_260_101)
    reps, n = 800, 1500
    covered = 0
    for _ in range(reps):
        x = rng.uniform(-1, 1, n)
        y = 1 + x + 0.5 * x**2 + JUMP * (x >= 0) + rng.normal(0, 1, n)
        left, right = split_sides(x, y[:, None], 0.0)
        fit = rd_fit(left, right, 0.0)
        covered += fit.robust.ci_lower <= JUMP <= fit.robust.ci_upper
    assert abs(covered / reps - 0.95) <= 0.02


def test_density_test_size_and_power() -> None:
    """No bunching: at most 10% rejections at 5% over 200 smooth samples (SE 1.5 points at a true 5%). Bunching
    (7.5% extra mass within 0.1 sd above the cutoff): rejected at 1% in at least 95% of 40 samples."""
    rng = np.random.default_rng(99)
    smooth = [cjm_density(np.sort(rng.normal(0.1, 1, 1000)), 0.0).p_value < 0.05 for _ in range(200)]
    assert np.mean(smooth) <= 0.10
    bunched = [
        cjm_density(np.sort(np.concatenate([rng.normal(0, 1, 2000), rng.uniform(0, 0.1, 150)])), 0.0).p_value < 0.01
        for _ in range(40)
    ]
    assert np.mean(bunched) >= 0.95
