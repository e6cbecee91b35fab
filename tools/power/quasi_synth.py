"""Synthetic-control power: the placebo (permutation) test of Abadie, Diamond & Hainmueller (2010) on the ratio of
post- to pre-period RMSPE, simulated from the pre-period fit.

What is simulated: the treated unit and each of the J donors (each in turn the placebo "treated" unit) have gaps
between the outcome and its synthetic control that are independent Gaussian noise with standard deviation equal to
the treated fit's pre-period RMSPE, in every period; the effect adds a constant to the treated unit's post-period
gaps. The test rejects when the treated unit's post/pre RMSPE ratio ranks among the top ⌊alpha (J + 1)⌋ of the J + 1
ratios, i.e. when its permutation p-value rank / (J + 1) is at most alpha; the smallest p-value is 1 / (J + 1), so with
fewer than 1/alpha - 1 donors the test can never reject.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tools.power.quasi_sim import FloatArray, chunks

__all__ = ["PlaceboDraws", "rejections_allowed", "simulate_synth"]


def rejections_allowed(donors: int, alpha: float) -> int:
    """How many of the J + 1 ranks give a p-value at most alpha: ⌊alpha (J + 1)⌋ (a hair of slack for rounding)."""
    return math.floor(alpha * (donors + 1) + 1e-9)


@dataclass(frozen=True)
class PlaceboDraws:
    """The simulated pieces of the test: the treated unit's pre-period mean square gap, its post-period noise's first
    two moments, and the threshold its ratio must beat (the k-th largest placebo ratio)."""

    pre_mean_square: FloatArray
    post_mean: FloatArray
    post_mean_square: FloatArray
    threshold: FloatArray

    @property
    def simulations(self) -> int:
        return int(self.threshold.size)

    def power(self, effect: float) -> float:
        """Share of simulated placebo tests that reject with a constant post-period effect ``effect``."""
        square = self.post_mean_square + 2.0 * effect * self.post_mean + effect * effect
        ratio = np.sqrt(np.maximum(square, 0.0) / self.pre_mean_square)
        return float(np.mean(ratio > self.threshold))


def simulate_synth(
    rmspe: float, pre: int, post: int, donors: int, simulations: int, seed: int, alpha: float
) -> PlaceboDraws:
    """Draw the gaps of the treated unit and its donors ``simulations`` times (needs ⌊alpha (J + 1)⌋ >= 1)."""
    rank = rejections_allowed(donors, alpha)
    rng = np.random.default_rng(seed)
    pieces: list[list[FloatArray]] = [[], [], [], []]
    for size in chunks(simulations, (donors + 1) * (pre + post)):
        before = rmspe * rng.standard_normal((size, donors + 1, pre))
        after = rmspe * rng.standard_normal((size, donors + 1, post))
        pre_square = np.mean(before**2, axis=2)
        post_square = np.mean(after**2, axis=2)
        placebo = np.sqrt(post_square[:, 1:] / pre_square[:, 1:])
        # the treated unit's ratio must exceed the rank-th largest placebo ratio to be among the top `rank`
        threshold = -np.partition(-placebo, rank - 1, axis=1)[:, rank - 1] if rank <= donors else np.zeros(size)
        pieces[0].append(pre_square[:, 0])
        pieces[1].append(np.mean(after[:, 0, :], axis=1))
        pieces[2].append(post_square[:, 0])
        pieces[3].append(threshold)
    return PlaceboDraws(*(np.concatenate(piece) for piece in pieces))
