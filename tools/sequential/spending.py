"""Lan-DeMets alpha-spending functions: how much of the false-positive rate is used up by information fraction t.

O'Brien-Fleming-type (Lan & DeMets 1983): alpha(t) = 2 - 2 Phi(z_(1 - alpha/2) / sqrt(t)) for a one-sided level
alpha; spends almost nothing early and keeps the final boundary close to the fixed design's.
Pocock-type (Lan & DeMets 1983; Kim & DeMets 1987): alpha(t) = alpha log(1 + (e - 1) t); spends evenly, so the
boundaries are nearly flat (about 2.4 at each of 5 looks) and the maximum sample size grows most.

A two-sided symmetric design at ``alpha`` spends ``alpha / 2`` on each side with the one-sided function, as rpact's
``asOF`` / ``asP`` (``sided = 2``) and gsDesign's ``sfLDOF`` / ``sfLDPocock`` (``test.type = 2``) do, so that the
K = 5 O'Brien-Fleming-type boundaries are the published 4.877, 3.357, 2.680, 2.290, 2.031.
"""

from __future__ import annotations

import math

from scipy import special

from tools.literals import SpendingFunction

__all__ = ["cumulative_alpha", "spent"]


def spent(spending: SpendingFunction, alpha: float, fraction: float) -> float:
    """One-sided alpha spent by information ``fraction`` (capped at ``alpha`` from t = 1 on)."""
    if fraction <= 0:
        return 0.0
    if fraction >= 1:
        return alpha
    if spending == "obrien_fleming":
        # Phi(-x) rather than 1 - Phi(x): the early values are of order 1e-7 and below
        return min(alpha, 2.0 * float(special.ndtr(-float(special.ndtri(1.0 - alpha / 2.0)) / math.sqrt(fraction))))
    return alpha * math.log1p((math.e - 1.0) * fraction)


def cumulative_alpha(spending: SpendingFunction, alpha: float, fraction: float, two_sided: bool) -> float:
    """Total alpha spent by ``fraction``: both sides' for a two-sided design at ``alpha`` (alpha / 2 a side)."""
    if two_sided:
        return 2.0 * spent(spending, alpha / 2.0, fraction)
    return spent(spending, alpha, fraction)
