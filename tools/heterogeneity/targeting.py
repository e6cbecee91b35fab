"""Targeting on one evaluation half: the gain of treating the top share by predicted effect, and the Qini curve.

All per unit of the population, from the doubly robust scores phi of units the model never saw:

- treating the top share q versus no one gains E[tau(X) 1{top q}], estimated by mean(phi x 1{top q});
- versus everyone it gains -E[tau(X) 1{not top q}] (the effect given up on the rest), mean(-phi x 1{not top});
- the Qini curve Q(q) = mean(phi x 1{top q}) against random targeting q x mean(phi); the Qini coefficient is the
  area between them, the integral of Q(q) - q ATE over q in [0, 1] (Yadlowsky, Fleming, Shah, Brunskill & Wager
  2025, "Evaluating treatment prioritization rules via rank-weighted average treatment effects", JASA: the QINI
  RATE). With average ranks r_i (1 = largest prediction, ties share their ranks) it is the linear statistic
  mean(phi_i c_i), c_i = 1/2 - (r_i - 1/2)/n, whose weights sum to zero: its standard error treats the ranks as
  fixed (they come from a model trained on the other half).

Each is a mean of independent terms given the model, so its standard error is the terms' standard deviation over
sqrt(n); the splits are combined by the median rule of :mod:`tools.heterogeneity.inference`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.stats import rankdata

__all__ = ["QINI_GRID", "gains", "qini", "qini_curve"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

#: Shares at which the Qini curve is drawn: 0, 5%, ..., 100%.
QINI_GRID = np.linspace(0.0, 1.0, 21)


def _mean_se(terms: FloatArray) -> tuple[float, float]:
    n = len(terms)
    return float(terms.mean()), float(terms.std(ddof=1)) / float(np.sqrt(n))


def top_mask(order: IntArray, share: float) -> NDArray[np.bool_]:
    """The ``ceil(share x n)`` units first in ``order`` (largest predictions first)."""
    n = len(order)
    mask = np.zeros(n, dtype=bool)
    mask[order[: int(np.ceil(share * n - 1e-9))]] = True
    return mask


def gains(phi: FloatArray, order: IntArray, shares: tuple[float, ...]) -> FloatArray:
    """Rows per share: (gain vs all, its se, gain vs none, its se)."""
    rows = np.empty((len(shares), 4))
    for j, share in enumerate(shares):
        top = top_mask(order, share)
        rows[j, 0:2] = _mean_se(np.where(top, 0.0, -phi))
        rows[j, 2:4] = _mean_se(np.where(top, phi, 0.0))
    return rows


def qini(phi: FloatArray, predicted: FloatArray) -> tuple[float, float]:
    """The Qini coefficient and its standard error (see the module docstring)."""
    n = len(phi)
    ranks = rankdata(-predicted)  # 1 = largest prediction; ties share the average rank
    weights = 0.5 - (ranks - 0.5) / n
    estimate = float(weights @ phi) / n
    centred = phi - phi.mean()
    return estimate, float(np.sqrt(float((weights * weights) @ (centred * centred)))) / n


def qini_curve(phi: FloatArray, order: IntArray) -> FloatArray:
    """Q(q) at :data:`QINI_GRID`: the cumulative score of the top ``ceil(q n)`` units over n."""
    n = len(phi)
    cumulative = np.concatenate([[0.0], np.cumsum(phi[order])])
    counts = np.ceil(QINI_GRID * n - 1e-9).astype(np.intp)
    return np.asarray(cumulative[counts] / n, dtype=np.float64)
