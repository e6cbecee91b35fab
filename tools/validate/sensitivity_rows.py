"""Calibration of refute's Rosenbaum bounds where a calibration exists: at Gamma = 1 (no hidden bias) the bound is
Wilcoxon's signed-rank test of the matched pairs, and with no effect it should reject at alpha (Rosenbaum 2002,
section 4.3). Beyond Gamma = 1 the bounds are a sensitivity analysis, not a test at alpha: no row.

The pairs are disjoint 1:1 nearest-neighbour pairs on propensity's fitted score, without replacement, within
0.2 standard deviations of the logit score (tools.propensity.pairs): the signed-rank test treats pairs as
independent, which a control shared by two pairs would break. Matched with replacement, as the matching estimate
is, the test rejected 21% of A/A data sets at 60% treated (controls reused in many pairs); paired without
replacement but without the caliper, 93% (the last treated units take far-off controls). Both rows must keep the
level: few treated (pairs nearly disjoint anyway) and most treated (the caliper drops the poor pairs).
"""

from __future__ import annotations

from tools.errors import ToolError
from tools.refute import RefuteResult
from tools.results import ToolResult
from tools.validate.covariate_designs import matched_units
from tools.validate.models import Rate, Size, ValidationRow, build_row
from tools.validate.simulate import Simulator, stream

__all__ = ["rosenbaum_rows"]

#: The propensity analysis whose matched pairs the bounds read (1:1, ATT: what the bounds need).
TARGET = {
    "tool": "propensity",
    "request": {
        "outcome": "y",
        "treatment": "d",
        "covariates": ["x1", "x2", "x3"],
        "estimand": "ATT",
        "methods": ["matching"],
        "neighbors": 1,
    },
}
PINNED = (
    "Morton et al. (1982) lead pairs: V = 499, p = 8.037e-07; a base-R script from Rosenbaum (2002, section 4.3); "
    "scipy.stats.wilcoxon at Gamma 1 (test_refute_rosenbaum.py)"
)


def _significant_at_one(outcome: ToolResult | ToolError) -> bool | None:
    """Whether the bounds find the effect significant at Gamma = 1, or None when refute could not compute them."""
    if not isinstance(outcome, RefuteResult) or outcome.sensitivity is None:
        return None
    bounds = outcome.sensitivity.rosenbaum_bounds
    return None if bounds is None else bounds.critical_gamma is not None


def rosenbaum_rows(sim: Simulator, seed: int, size: Size) -> list[ValidationRow]:
    """A/A rate of the Gamma = 1 signed-rank test on the disjoint matched pairs: few treated, and most treated (more
    treated units than controls: the caliper leaves the last ones unpaired)."""
    quick = size == "quick"
    designs = (
        ("10% treated, few controls reused", 1_000, -2.5, 100 if quick else 1_000, False),
        ("60% treated, controls scarce", 600, 0.5, 120 if quick else 500, False),
    )
    rows = []
    for label, n, intercept, replications, wrong in designs:
        rate, failed = Rate(), 0
        rng = stream(seed, f"refute rosenbaum {label}")
        sim.start(f"refute: Rosenbaum bounds, {label} (A/A)", replications)
        for _ in range(replications):
            significant = _significant_at_one(sim.refute(matched_units(rng, n, intercept), TARGET,
                                                         ["rosenbaum_bounds"]))  # fmt: skip
            if significant is None:
                failed += 1
            else:
                rate.add(significant)
            sim.step()
        rows.append(
            build_row(
                "refute",
                f"Rosenbaum bounds at Gamma 1 (signed-rank), 1:1 pairs, {label} (A/A)",
                n,
                fpr=rate,
                misspecified=wrong,
                failed=failed,
                reference=None if wrong else PINNED,
            )
        )
    return rows
