"""tools.validate's rows for power's DiD design (simulated power against diff_in_diff's rejections) and for
refute's Rosenbaum bounds at Gamma 1 (the signed-rank test's A/A rate on disjoint matched pairs).

References: the closed-form variance of the all-at-once DiD under compound symmetry, sigma^2 (1 - icc)
(1/pre + 1/post) (1/n_T + 1/n_C) (Frison & Pocock 1992), and the AR(1) covariance of the simulated panels checked on a
large draw; the quick rows are seeded simulations (a few seconds each): the DiD rejection rate within the Monte Carlo
band of power's promise, the Gamma 1 test at its level when pairs are nearly disjoint and 'check' when controls are
reused across most pairs.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from tools.validate import BAND, DEFAULT_SEED
from tools.validate.covariate_designs import matched_units
from tools.validate.quasi_rows import AR1, ICC, did_closed_form_power, did_power_rows, quasi_panel
from tools.validate.sensitivity_rows import rosenbaum_rows
from tools.validate.simulate import Simulator


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with tempfile.TemporaryDirectory() as directory:
        yield Simulator(Path(directory))


def test_closed_form_did_power_under_compound_symmetry() -> None:
    """Without serial correlation beyond the unit level, Frison & Pocock's variance; the power from the noncentral t
    on G - 1 = 39 degrees of freedom, and about the normal approximation's."""
    icc, pre, post, n = 0.5, 4, 4, 20
    variance = (1 - icc) * (1 / pre + 1 / post) * (2 / n)
    shift = 0.5 / math.sqrt(variance)
    critical = stats.t.ppf(0.975, 2 * n - 1)
    expected = stats.nct.sf(critical, 2 * n - 1, shift) + stats.nct.cdf(-critical, 2 * n - 1, shift)
    assert did_closed_form_power(n, n, pre, post, icc, 0.0, 0.5) == pytest.approx(expected, rel=1e-12)
    normal = stats.norm.cdf(shift - 1.959964) + stats.norm.cdf(-shift - 1.959964)
    assert did_closed_form_power(n, n, pre, post, icc, 0.0, 0.5) == pytest.approx(normal, abs=0.02)
    # positively correlated shocks add variance to the pre and post means, more than they share across the two
    # blocks: less power than under compound symmetry (Burlig, Preonas & Woerman 2020)
    assert did_closed_form_power(n, n, pre, post, icc, 0.3, 0.5) < did_closed_form_power(n, n, pre, post, icc, 0.0, 0.5)


def test_the_quasi_panel_has_the_stated_covariance() -> None:
    """Over 400 panels (16,000 units), the within-unit covariance after removing period means is icc + (1 - icc)
    0.3^lag, and the treated units' post periods carry the effect."""
    rng = np.random.default_rng(7)
    paths, effects = [], []
    for _ in range(400):
        frame = quasi_panel(rng, 0.5)
        y = frame["y"].to_numpy().reshape(40, 8)
        on = frame["treated"].to_numpy().reshape(40, 8)
        effects.append(y[on[:, -1] == 1, 4:].mean() - y[on[:, -1] == 1, :4].mean()
                       - (y[on[:, -1] == 0, 4:].mean() - y[on[:, -1] == 0, :4].mean()))  # fmt: skip
        paths.append(y[on[:, -1] == 0] - y[on[:, -1] == 0].mean(axis=0))
    controls = np.concatenate(paths)
    covariance = np.cov(controls, rowvar=False) * 20 / 19  # each panel's period mean removed: 19 df of 20
    lags = np.abs(np.subtract.outer(np.arange(8), np.arange(8)))
    np.testing.assert_allclose(covariance, ICC + (1 - ICC) * AR1**lags, atol=0.04)
    assert np.mean(effects) == pytest.approx(0.5, abs=0.03)


def test_matched_units_treated_share() -> None:
    rng = np.random.default_rng(8)
    assert matched_units(rng, 200_000, -2.5)["d"].mean() == pytest.approx(0.10, abs=0.01)
    assert matched_units(rng, 200_000, 0.5)["d"].mean() == pytest.approx(0.60, abs=0.02)


def test_quick_did_power_row(sim: Simulator) -> None:
    (row,) = did_power_rows(sim, DEFAULT_SEED, "quick")
    assert row.estimator == "power" and row.replications == 150 and row.n == 320
    assert row.status == "ok", row.note
    assert row.power is not None and row.power_planned is not None
    assert abs(row.power - row.power_planned) <= BAND * math.sqrt(row.power_planned * (1 - row.power_planned) / 150)
    assert row.reference_ok is True and "noncentral t" in (row.reference or "")


def test_quick_rosenbaum_rows(sim: Simulator) -> None:
    """Both designs keep the level now that the bounds read disjoint pairs within a caliper (with the matching's
    reused controls, the 60%-treated design rejected 21% of A/A data sets)."""
    few, most = rosenbaum_rows(sim, DEFAULT_SEED, "quick")
    assert few.estimator == most.estimator == "refute"
    for row, replications in ((few, 100), (most, 120)):
        assert row.status == "ok" and not row.misspecified and row.failed == 0, row.note
        assert row.fpr is not None and row.fpr - 0.05 <= BAND * math.sqrt(0.05 * 0.95 / replications)
