"""Brute-force references for two-proportion score statistics (issue 17), shared by the ab_test tests.

Written from the definitions, sharing nothing with ``tools.ab_test.binary``: the constrained maximum-likelihood
rates come from a bounded numerical search of the binomial log-likelihood (the tool solves a cubic), and the
interval from root searches on that statistic. Slow (a search inside a search) but independent.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, special

__all__ = ["constrained_rates", "score_bounds_by_search"]


def constrained_rates(x1: float, n1: int, x0: float, n0: int, delta: float) -> tuple[float, float]:
    """Rates maximising the two binomial likelihoods subject to p1 - p0 = delta, by a bounded numerical search of
    the log-likelihood over the log of the smaller rate (so that rates of 1e-12 are found to many digits)."""
    lo, hi = max(0.0, -delta), min(1.0, 1.0 - delta)

    def rates(log_s: float) -> tuple[float, float]:  # the smaller rate is exp(log_s): no cancellation
        small = float(np.exp(log_s))
        return (small, small - delta) if delta < 0 else (small + delta, small)

    def minus_loglik(log_s: float) -> float:
        p1, p0 = rates(log_s)
        events = sum(k * np.log(max(q, 1e-300)) for k, q in ((x1, p1), (x0, p0)) if k > 0)
        misses = sum(k * np.log1p(-min(q, 1 - 1e-16)) for k, q in ((n1 - x1, p1), (n0 - x0, p0)) if k > 0)
        return -float(events + misses)  # log1p: n log(1 - p) keeps its digits for p = 1e-12

    # a grid first (the log-likelihood is flat where the smaller rate is negligible, which misleads a golden
    # section over the whole range), then a bounded search between the best point's neighbours
    grid = np.linspace(-690.0, float(np.log(hi - lo)), 4001)
    best = int(np.argmin([minus_loglik(g) for g in grid]))
    bounds = (float(grid[max(best - 1, 0)]), float(grid[min(best + 1, len(grid) - 1)]))
    found = optimize.minimize_scalar(minus_loglik, bounds=bounds, method="bounded", options={"xatol": 1e-12})
    return rates(float(found.x))


def score_bounds_by_search(
    x1: float, n1: int, x0: float, n0: int, *, alpha: float, alternative: str = "two-sided"
) -> tuple[float, float]:
    """Mee's (Farrington-Manning) score interval for p1 - p0 from its definition: the differences whose score
    statistic (observed - delta) / sqrt(q1 (1 - q1) / n1 + q0 (1 - q0) / n0), q the constrained rates, lies
    within the normal quantiles; one-sided bounds at alpha on the tested side, two-sided on the other."""
    diff = x1 / n1 - x0 / n0

    def z(delta: float) -> float:
        q1, q0 = constrained_rates(x1, n1, x0, n0, delta)
        return float((diff - delta) / np.sqrt(q1 * (1 - q1) / n1 + q0 * (1 - q0) / n0))

    two = special.ndtri(1 - alpha / 2)
    q_low = special.ndtri(1 - alpha) if alternative == "larger" else two
    q_high = special.ndtri(1 - alpha) if alternative == "smaller" else two
    low = optimize.brentq(lambda d: z(d) - q_low, -1 + 1e-9, diff, xtol=1e-13)
    high = optimize.brentq(lambda d: z(d) + q_high, diff, 1 - 1e-9, xtol=1e-13)
    return float(low), float(high)
