"""Seeded simulations of the heterogeneity tool with a known effect.

- Heterogeneous (tau = 1 + x0): the BLP loading is near 1 and significant, GATES increase, and their intervals cover
  the true group effects (the median over splits of the mean true effect in each split's group) at least at the
  nominal rate.
- Homogeneous (tau = 1): the median-rule heterogeneity test rejects at most at alpha (CDDF's rule is conservative by
  construction; measured over 1,000 data sets of 1,000 units: 0 rejections, 95% CI 0 to 0.37%), while each single
  split's own test rejects at about alpha (5.2% of 10,000 splits), and the GATES intervals cover the constant.
- Observational with confounding: the AIPW interval covers the true ATE at about the nominal rate while the naive
  difference is far off.
- Subgroups under no effect at all: Holm keeps the family-wise error over 10 levels at alpha (unadjusted it is about
  40%); the per-column interaction tests reject at about alpha under a constant effect.

Tolerances are binomial: 3.5 standard errors of a proportion over the replications.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import special

from tools.heterogeneity import HeterogeneityRequest
from tools.heterogeneity.inference import blp
from tools.heterogeneity.tool import analyse

ALPHA = 0.05


def tolerance(rate: float, replications: int) -> float:
    return 3.5 * math.sqrt(rate * (1 - rate) / replications)


def randomized(rng: np.random.Generator, n: int, tau: np.ndarray | float, x: np.ndarray) -> pd.DataFrame:
    d = (rng.random(n) < 0.5).astype(int)
    y = x[:, 1] + np.asarray(tau) * d + rng.normal(size=n)
    data = pd.DataFrame({f"x{j}": x[:, j] for j in range(x.shape[1])})
    data["d"], data["y"] = d, y
    return data


REQUEST = HeterogeneityRequest(
    dataset="sim", outcome="y", treatment="d", effect_modifiers=["x0", "x1", "x2"], propensity=0.5
)


@pytest.mark.slow
def test_heterogeneous_effect_is_found_and_gates_cover_the_truth() -> None:
    replications, n = 60, 2000
    rng = np.random.default_rng(22)
    loadings, found, increasing, covered = [], 0, 0, 0
    for _ in range(replications):
        x = rng.normal(size=(n, 3))
        tau = 1 + x[:, 0]
        result, analysis = analyse(REQUEST, randomized(rng, n, tau, x))
        loadings.append(result.blp.heterogeneity.estimate)
        found += result.heterogeneity_found
        estimates = [g.estimate for g in result.gates]
        increasing += all(b > a for a, b in itertools.pairwise(estimates))
        truth = np.median(
            [np.bincount(s.groups, weights=tau[s.main]) / np.bincount(s.groups) for s in analysis.splits], axis=0
        )
        covered += sum(g.ci_lower <= t <= g.ci_upper for g, t in zip(result.gates, truth, strict=True))
    assert abs(np.mean(loadings) - 1) < 0.15, np.mean(loadings)
    assert found == replications
    assert increasing >= 0.9 * replications, increasing
    coverage = covered / (5 * replications)
    assert coverage >= 0.95 - tolerance(0.95, 5 * replications), coverage


@pytest.mark.slow
def test_homogeneous_effect_is_not_called_heterogeneous() -> None:
    replications, n = 200, 800
    rng = np.random.default_rng(23)
    rejected = first_split = t_learner = covered = 0
    for _ in range(replications):
        x = rng.normal(size=(n, 3))
        result, analysis = analyse(REQUEST, randomized(rng, n, 1.0, x))
        rejected += result.blp.heterogeneity.p_value < ALPHA
        t_learner += result.t_learner.heterogeneity.p_value < ALPHA
        split = analysis.splits[0]
        _, _, b2, se2 = blp(analysis.scores[split.main], split.predicted)
        first_split += int(2 * special.ndtr(-abs(b2) / se2) < ALPHA)
        covered += sum(g.ci_lower <= 1.0 <= g.ci_upper for g in result.gates)
    bound = ALPHA + tolerance(ALPHA, replications)
    assert rejected / replications <= bound, rejected
    assert t_learner / replications <= bound, t_learner
    # one split alone is a calibrated test: the median rule's conservatism is the price of not depending on it
    assert abs(first_split / replications - ALPHA) <= tolerance(ALPHA, replications), first_split
    assert covered / (5 * replications) >= 0.95 - tolerance(0.95, 5 * replications)


@pytest.mark.slow
def test_observational_ate_is_recovered() -> None:
    replications, n = 80, 2000
    rng = np.random.default_rng(24)
    request = HeterogeneityRequest(
        dataset="sim",
        outcome="y",
        treatment="d",
        effect_modifiers=["x2"],
        covariates=["x0", "x1"],
        randomized=False,
        repetitions=2,
    )
    covered, naive_bias = 0, []
    for _ in range(replications):
        x = rng.normal(size=(n, 3))
        e = 1 / (1 + np.exp(-(0.8 * x[:, 0] - 0.5 * x[:, 1])))
        d = (rng.random(n) < e).astype(int)
        y = 2 * x[:, 0] + x[:, 1] + (1 + 0.5 * x[:, 2]) * d + rng.normal(size=n)
        data = pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "x2": x[:, 2], "d": d, "y": y})
        result, _ = analyse(request, data)
        covered += result.effect.ci_lower <= 1.0 <= result.effect.ci_upper
        naive_bias.append(result.naive.estimate - 1.0)
    assert covered / replications >= 0.95 - tolerance(0.95, replications), covered
    assert np.mean(naive_bias) > 0.5  # the naive difference is off by about 0.9, some 15 standard errors


@pytest.mark.slow
def test_holm_controls_the_familywise_error_over_null_subgroups() -> None:
    replications, n = 200, 600
    rng = np.random.default_rng(25)
    request = HeterogeneityRequest(
        dataset="sim",
        outcome="y",
        treatment="d",
        effect_modifiers=["x0", "x1"],
        subgroups=["a", "b", "c"],
        propensity=0.5,
        repetitions=1,
    )
    any_adjusted = any_raw = interactions = 0
    for _ in range(replications):
        x = rng.normal(size=(n, 2))
        data = randomized(rng, n, 0.0, x)
        data["a"] = rng.integers(0, 3, n)
        data["b"] = rng.choice(np.array(["p", "q", "r", "s"]), size=n)
        data["c"] = rng.integers(0, 3, n)
        result, _ = analyse(request, data)
        assert len(result.subgroups) == 10
        any_adjusted += any(s.adjusted_p_value < ALPHA for s in result.subgroups)
        any_raw += any(s.p_value < ALPHA for s in result.subgroups)
        interactions += sum(t.p_value < ALPHA for t in result.interactions)
    assert any_adjusted / replications <= ALPHA + tolerance(ALPHA, replications), any_adjusted
    assert any_raw / replications > 0.25  # without the adjustment ten looks find "something" far more often
    assert abs(interactions / (3 * replications) - ALPHA) <= tolerance(ALPHA, 3 * replications), interactions
