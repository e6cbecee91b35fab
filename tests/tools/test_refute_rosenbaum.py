"""Rosenbaum bounds for matched pairs (tools/refute/rosenbaum.py) and the propensity battery's rosenbaum_bounds check.

References:
- an independent base-R implementation written from Rosenbaum (2002, Observational Studies, 2nd ed., section 4.3),
  committed with its output: tests/fixtures/refute/rosenbaum_bounds.R -> rosenbaum_bounds.json (normal and exact
  bounds, critical Gammas by uniroot, wilcox.test and psignrank at Gamma = 1);
- a published number on a real data set: Morton et al. (1982) lead in 33 exposed children and matched controls
  (the pairs printed in rbounds' psens example): the exact Wilcoxon signed-rank test gives V = 499 and the two-sided
  p-value 8.037e-07 (exactRankTests::wilcox.exact, printed in Stat 921 Notes 16, Wharton Statistics);
- scipy.stats.wilcoxon at Gamma = 1 (the usual signed-rank p-value);
- seeded simulations: the size of the Gamma = 1 test without hidden bias, and with a planted hidden bias of known
  Gamma the bound at that Gamma keeps the size while the Gamma = 1 test does not.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tools.propensity.models import PropensityRequest
from tools.propensity.tool import bounds_pairs
from tools.refute.models import RefuteRequest
from tools.refute.rosenbaum import (
    critical_gamma,
    gamma_grid,
    rosenbaum_check,
    signed_ranks,
    upper_p_value,
)
from tools.refute.tool import refute

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "refute" / "rosenbaum_bounds.json").read_text())
LEAD = np.asarray(FIXTURE["lead"]["differences"], dtype=float)
DISTINCT = np.asarray(FIXTURE["distinct"]["differences"], dtype=float)


@pytest.mark.parametrize("name", ["lead", "distinct"])
@pytest.mark.parametrize("method", ["normal", "exact"])
def test_bounds_equal_the_independent_r_implementation(name: str, method: str) -> None:
    """Upper-bound p-values at Gamma 1 to 6 and the critical Gammas equal the base-R script's (rosenbaum_bounds.R)
    to 1e-9 relative (exact) / 1e-9 (normal): the same statistic, ranks and bound distribution."""
    ref = FIXTURE[name]
    signed = signed_ranks(ref["differences"])
    assert signed.statistic == ref["statistic"] and signed.used == ref["used"]
    ours = [upper_p_value(signed, g, method) for g in ref["gammas"]]  # type: ignore[arg-type]
    np.testing.assert_allclose(ours, ref[method], rtol=1e-9, atol=1e-15)
    for level, key in ((0.025, "025"), (0.05, "05")):
        got = critical_gamma(signed, level, method)  # type: ignore[arg-type]
        assert got is not None
        np.testing.assert_allclose(got, ref[f"critical_{method}_{key}"], rtol=1e-7)


def test_gamma_one_is_the_usual_signed_rank_test() -> None:
    """At Gamma = 1 the normal bound is the large-sample signed-rank p-value without continuity correction (scipy and
    R's wilcox.test agree), and the exact bound is the exact one (scipy's exact on tie-free data, R's psignrank)."""
    for d, key in ((LEAD, "lead"), (DISTINCT, "distinct")):
        signed = signed_ranks(d)
        usual = stats.wilcoxon(d, alternative="greater", zero_method="wilcox", method="approx", correction=False)
        np.testing.assert_allclose(upper_p_value(signed, 1.0, "normal"), usual.pvalue, rtol=1e-10)
        np.testing.assert_allclose(upper_p_value(signed, 1.0, "normal"), FIXTURE[key]["wilcox_normal"], rtol=1e-9)
        assert signed.statistic == usual.statistic
    exact = stats.wilcoxon(DISTINCT, alternative="greater", method="exact").pvalue
    np.testing.assert_allclose(upper_p_value(signed_ranks(DISTINCT), 1.0, "exact"), exact, rtol=1e-12)
    np.testing.assert_allclose(exact, FIXTURE["distinct"]["psignrank"], rtol=1e-12)


def test_lead_matches_the_published_exact_wilcoxon_test() -> None:
    """Morton et al. (1982) lead pairs: V = 499 and the exact two-sided p = 8.037e-07 as published (wilcox.exact, one
    zero difference dropped, average ranks for ties); our exact bound at Gamma = 1, doubled, is that p (4 digits)."""
    signed = signed_ranks(LEAD)
    assert signed.statistic == 499 and signed.zeros == 1 and signed.used == 32
    np.testing.assert_allclose(2 * upper_p_value(signed, 1.0, "exact"), 8.037e-07, rtol=5e-4)


def test_check_reads_the_lead_study_in_words() -> None:
    """The check on the lead pairs: exact (32 non-zero pairs), two-sided at 5% (one-sided bound at 0.025), critical
    Gamma floored to 2 decimals from the R reference's 4.0199; a small sensitivity; the grid runs past it."""
    check, figures = rosenbaum_check(LEAD, 0.05)
    assert figures is not None and figures.method == "exact" and figures.direction == "positive"
    assert figures.critical_gamma == math.floor(FIXTURE["lead"]["critical_exact_025"] * 100) / 100 == 4.01
    assert check.verdict == "pass" and check.estimate == 4.01
    assert "unless a hidden confounder multiplied the odds of treatment by more than 4.01" in check.detail
    assert "a small sensitivity" in check.detail
    grid = [row.gamma for row in figures.grid]
    assert grid[:3] == [1.0, 1.1, 1.2] and grid[-1] == 4.5 and figures.grid[-1].p_value_upper > 0.025
    assert all(row.p_value_upper <= 0.025 for row in figures.grid[:-1])
    # the normal approximation, asked for, gives R's normal critical Gamma
    _, normal = rosenbaum_check(LEAD, 0.05, method="normal")
    assert (
        normal is not None and normal.critical_gamma == math.floor(FIXTURE["lead"]["critical_normal_025"] * 100) / 100
    )


def test_negative_effects_are_tested_in_their_direction_and_weak_results_fail() -> None:
    """A negative effect is tested as such (the bounds of -d); a barely significant effect fails (Gamma < 1.25); an
    insignificant one is inconclusive; too few pairs are not tested."""
    check, figures = rosenbaum_check(-LEAD, 0.05)
    assert figures is not None and figures.direction == "negative" and check.estimate == 4.01
    rng = np.random.default_rng(3)
    weak = rng.normal(0.2, 1.0, 150)
    check, figures = rosenbaum_check(weak, 0.05)
    assert figures is not None and figures.critical_gamma is not None and figures.critical_gamma < 1.25
    assert check.verdict == "fail" and "a large sensitivity" in check.detail
    check, figures = rosenbaum_check(rng.normal(0.0, 1.0, 60), 0.05)
    assert check.verdict == "inconclusive" and figures is not None and figures.critical_gamma is None
    check, figures = rosenbaum_check([1.0, 2.0, 3.0, 0.0], 0.05)
    assert check.verdict == "inconclusive" and figures is None and check.detail.startswith("Not tested")
    assert gamma_grid(None) == [1.0, 1.1]


def test_size_without_hidden_bias_and_with_a_planted_bias() -> None:
    """Seeded simulation (seed 2026, 4,000 studies of 40 pairs, exact bounds, one-sided at 0.05): with no effect and
    no hidden bias the Gamma = 1 test rejects about 5% (binomial 99.9% band); with a planted bias of Gamma 2 (in each
    pair the unit with the larger outcome is treated with probability 2/3: the worst case the bound allows) the
    Gamma = 1 test rejects far more, and the bound at Gamma = 2 keeps the level."""
    rng = np.random.default_rng(2026)
    reps, pairs, level = 4_000, 40, 0.05
    magnitudes = np.abs(rng.standard_normal((reps, pairs)))
    fair = np.where(rng.random((reps, pairs)) < 0.5, 1.0, -1.0) * magnitudes
    biased = np.where(rng.random((reps, pairs)) < 2 / 3, 1.0, -1.0) * magnitudes
    null_p = np.array([upper_p_value(signed_ranks(d), 1.0, "exact") for d in fair])
    biased_p1 = np.array([upper_p_value(signed_ranks(d), 1.0, "exact") for d in biased])
    biased_p2 = np.array([upper_p_value(signed_ranks(d), 2.0, "exact") for d in biased])
    band = 3.29 * math.sqrt(level * (1 - level) / reps)
    assert abs(np.mean(null_p < level) - level) < band
    assert np.mean(biased_p1 < level) > 0.4
    assert np.mean(biased_p2 < level) < level + band


def _nsw() -> pd.DataFrame:
    causaldata = pytest.importorskip("causaldata")
    frame: pd.DataFrame = causaldata.nsw_mixtape.load_pandas().data
    return frame


NSW: dict[str, Any] = {
    "dataset": "nsw",
    "outcome": "re78",
    "treatment": "treat",
    "covariates": ["age", "educ", "black", "hisp", "marr", "nodegree", "re74", "re75"],
}


def greedy_pairs_by_hand(score: np.ndarray, treated: np.ndarray, outcome: np.ndarray, caliper: float) -> np.ndarray:
    """Nearest-neighbour matching without replacement, written plainly (quadratic): treated units by descending
    score (MatchIt's m.order = "largest"; ties in row order), each taking the closest control not used yet. Ties
    among equally close controls (the sample's discrete covariates give many) go to the lower side, and within a
    side to the control next in score order (controls ranked by score, then row); a treated unit whose closest free
    control is beyond the caliper stays unpaired."""
    controls = sorted(np.flatnonzero(~treated), key=lambda c: (score[c], c))
    position = {c: i for i, c in enumerate(controls)}
    used: set[int] = set()
    gaps = []
    for unit in sorted(np.flatnonzero(treated), key=lambda t: (-score[t], t)):
        s = score[unit]

        def key(c: int, s: float = s) -> tuple[float, int, int]:
            below = score[c] < s
            return (abs(score[c] - s), 0 if below else 1, -position[c] if below else position[c])

        best = min((c for c in controls if c not in used), key=key)
        if abs(score[best] - s) > caliper:
            continue  # no unused control close enough: the treated unit stays unpaired
        used.add(best)
        gaps.append(outcome[unit] - outcome[best])
    return np.asarray(gaps)


def test_refute_check_on_disjoint_pairs_of_the_propensity_tools_score() -> None:
    """On the NSW job-training data (Dehejia-Wahba sample, 185 treated): the bounds read 1:1 pairs matched WITHOUT
    replacement on the propensity tool's fitted score (pairs sharing a control are dependent, and the signed-rank
    test's level then fails: whyscope validate's row), equal to a plain greedy matching by hand."""
    frame = _nsw()
    request = PropensityRequest.model_validate({**NSW, "methods": ["matching"]})
    from tools.propensity.logit import fit_logit
    from tools.propensity.tool import design as propensity_design

    design = propensity_design(request, frame)
    treated = np.asarray(design.treatment, dtype=float) > 0.5
    fit = fit_logit(np.asarray(design.covariates, dtype=float), treated.astype(float))  # the tool's score model
    score = fit.linear_predictor
    caliper = 0.2 * np.std(score)  # Austin (2011): 0.2 standard deviations of the logit score
    by_hand = greedy_pairs_by_hand(score, treated, np.asarray(design.outcome, dtype=float), caliper)
    pairs = bounds_pairs(request, frame)
    np.testing.assert_allclose(pairs.gaps, by_hand, rtol=1e-12)
    assert len(pairs.gaps) + pairs.unmatched == 185 and len(pairs.gaps) == len(by_hand) > 100
    result = refute(
        RefuteRequest.model_validate(
            {
                "target": {"tool": "propensity", "request": {**NSW, "methods": ["matching"]}},
                "checks": ["rosenbaum_bounds"],
            }
        ),
        frame,
    )
    (check,) = result.checks
    bounds = result.sensitivity.rosenbaum_bounds
    assert bounds is not None and bounds.pairs == len(by_hand) and bounds.method == "normal"
    signed = signed_ranks(by_hand)
    assert bounds.statistic == signed.statistic
    expected = critical_gamma(signed, 0.025, "normal")
    assert expected is not None and bounds.critical_gamma == math.floor(expected * 100) / 100
    assert check.estimate == bounds.critical_gamma and check.verdict in {"pass", "fail"}
    assert "without replacement" in check.procedure and f"{len(by_hand)} disjoint pairs" in check.procedure
    assert "0.2 standard deviations of the logit score (Austin 2011)" in check.procedure


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"methods": ["ipw", "aipw"]}, "not matching"),
        ({"methods": ["matching"], "estimand": "ATE"}, "estimand 'ATT'"),
        ({"methods": ["matching"], "neighbors": 3}, "neighbors 1"),
    ],
)
def test_not_tested_outside_one_to_one_att_matching(change: dict[str, object], words: str) -> None:
    """IPW/AIPW, the ATE and k > 1 matched sets: the check is inconclusive with the reason, never a number."""
    result = refute(
        RefuteRequest.model_validate(
            {"target": {"tool": "propensity", "request": {**NSW, **change}}, "checks": ["rosenbaum_bounds"]}
        ),
        _nsw(),
    )
    (check,) = result.checks
    assert check.verdict == "inconclusive" and check.detail.startswith("Not tested") and words in check.detail
    assert check.estimate is None and result.sensitivity.rosenbaum_bounds is None


def test_headline_other_than_matching_is_named() -> None:
    """With the default methods the headline is AIPW: the check says which pairs it speaks for."""
    result = refute(
        RefuteRequest.model_validate(
            {"target": {"tool": "propensity", "request": NSW}, "checks": ["rosenbaum_bounds"]}
        ),
        _nsw(),
    )
    assert result.checks[0].detail.startswith("For matched pairs without replacement (mean pair difference ")
    assert "the AIPW estimate is" in result.checks[0].detail
