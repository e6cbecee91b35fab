"""Seeded simulations of experiments analysed at several looks: false positives and power.

- An A/A test (conversion 10%, 5 equally spaced looks) tested naively at each look rejects about 14% of the time
  (Armitage, McPherson & Rowe 1969: 14.2% at 5 looks; Jennison & Turnbull 2000, Table 1.1), with the O'Brien-Fleming
  and Pocock schedules about 5%, and with the confidence sequence at most 5% even at 50 looks.
- A design from the power tool reaches its power (within 2 points) when the data are analysed at its own looks, and
  the repeated confidence interval at the stopping look covers the true difference at least 1 - alpha of the time.
Boundaries are computed once per design and applied to every replication; a sample of replications goes through
``look_decision`` to show it decides the same.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tools.power import PowerRequest, power
from tools.sequential.confidence_sequence import boundary_multiplier, tuned_rho
from tools.sequential.design import boundaries
from tools.sequential.monitoring import look_decision, planned_fractions

pytestmark = pytest.mark.slow

REPS = 20_000
RATE = 0.10


def _binary_paths(
    rng: np.random.Generator, per_look: list[int], p_control: float, p_treatment: float, reps: int = REPS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(estimate, standard error, units per arm) at each look: the pooled two-proportion z-test's pieces, from
    cumulative binomial counts (reps x looks)."""
    sizes = np.asarray(per_look, dtype=np.float64)
    blocks = np.diff(np.concatenate([[0], per_look])).astype(np.int64)
    control = np.cumsum(rng.binomial(blocks, p_control, size=(reps, len(blocks))), axis=1) / sizes
    treatment = np.cumsum(rng.binomial(blocks, p_treatment, size=(reps, len(blocks))), axis=1) / sizes
    pooled = (control + treatment) / 2
    se = np.sqrt(np.maximum(pooled * (1 - pooled), 1e-12) * 2 / sizes)
    return treatment - control, se, sizes


def _rate(rejections: np.ndarray) -> tuple[float, float]:
    rate = float(np.mean(rejections))
    return rate, math.sqrt(max(rate * (1 - rate), 1e-4) / rejections.size)


def test_a_a_test_at_five_looks() -> None:
    rng = np.random.default_rng(20260521)
    per_arm = [2000 * k for k in range(1, 6)]
    estimate, se, sizes = _binary_paths(rng, per_arm, RATE, RATE)
    z = estimate / se

    naive, naive_se = _rate(np.any(np.abs(z) >= 1.959964, axis=1))
    assert abs(naive - 0.142) < 4 * naive_se + 0.005, naive  # discreteness of the counts: a little slack

    for spending in ("obrien_fleming", "pocock"):
        design = boundaries(planned_fractions(5), spending, 0.05, two_sided=True)
        rejected = np.any(np.abs(z) >= np.array(design.z), axis=1)
        rate, rate_se = _rate(rejected)
        assert rate <= 0.05 + 3 * rate_se, (spending, rate)
        assert rate >= 0.05 - 4 * rate_se, (spending, rate)  # and not conservative
        for rep in range(40):  # look_decision takes the same decisions
            stops = [
                look_decision(
                    float(estimate[rep, k]), float(se[rep, k]), look=k + 1, looks=5, spending=spending
                ).crossed
                for k in range(5)
            ]
            assert any(stops) == bool(rejected[rep])

    # confidence sequence, tuned for the planned 20,000 units, checked at the same 5 looks
    rho = tuned_rho(20_000, 0.05)
    multipliers = np.array([boundary_multiplier(2 * n, rho, 0.05) for n in sizes])
    rate, rate_se = _rate(np.any(np.abs(z) >= multipliers, axis=1))
    assert rate <= 0.05 + 3 * rate_se, rate


def test_confidence_sequence_under_continuous_monitoring() -> None:
    """50 looks, every 200 units per arm: the naive test rejects far more than 5%, the sequence at most 5%."""
    rng = np.random.default_rng(7)
    per_arm = [200 * k for k in range(1, 51)]
    estimate, se, sizes = _binary_paths(rng, per_arm, RATE, RATE, reps=10_000)
    z = np.abs(estimate / se)
    naive, _ = _rate(np.any(z >= 1.959964, axis=1))
    assert naive > 0.2
    rho = tuned_rho(20_000, 0.05)
    multipliers = np.array([boundary_multiplier(2 * n, rho, 0.05) for n in sizes])
    rate, rate_se = _rate(np.any(z >= multipliers, axis=1))
    assert rate <= 0.05 + 3 * rate_se, rate


@pytest.mark.parametrize(
    ("spending", "looks", "alternative"),
    [("obrien_fleming", 5, "two-sided"), ("pocock", 4, "two-sided"), ("obrien_fleming", 3, "larger")],
)
def test_power_tool_design_reaches_its_power(spending: str, looks: int, alternative: str) -> None:
    request = PowerRequest(
        metric="proportion",
        baseline=RATE,
        mde=0.1,
        mde_kind="relative",
        looks=looks,
        spending=spending,  # type: ignore[arg-type]
        alternative=alternative,  # type: ignore[arg-type]
    )
    result = power(request)
    assert result.sequential is not None
    per_arm = [look.n_per_arm for look in result.sequential.boundaries]
    z_bounds = np.array([look.z_boundary for look in result.sequential.boundaries])
    rng = np.random.default_rng(11)
    truth = RATE * 0.1
    estimate, se, _ = _binary_paths(rng, per_arm, RATE, RATE + truth)
    z = estimate / se
    crossed = (np.abs(z) if alternative == "two-sided" else z) >= z_bounds
    # power in the effect's direction: a two-sided design's rejection for a harm does not count
    if alternative == "two-sided":
        crossed &= z > 0
    rejected = np.any(crossed, axis=1)
    assert abs(float(np.mean(rejected)) - result.power) < 0.02, (float(np.mean(rejected)), result.power)

    # expected sample size under the effect, from where each replication stopped
    first = np.where(np.any(np.abs(z) >= z_bounds, axis=1), np.argmax(np.abs(z) >= z_bounds, axis=1), looks - 1)
    totals = np.array([look.n_total for look in result.sequential.boundaries])
    assert float(np.mean(totals[first])) == pytest.approx(result.sequential.expected_n_total, rel=0.02)

    if alternative == "two-sided":
        # the repeated interval at the stopping look covers the truth
        c = z_bounds[first]
        rows = np.arange(REPS)
        covered = np.abs(estimate[rows, first] - truth) <= c * se[rows, first]
        rate, rate_se = _rate(covered)
        assert rate >= 0.95 - 3 * rate_se, rate
