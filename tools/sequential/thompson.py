"""Thompson-sampling allocation: when the goal is to earn while learning, send each arm the share of traffic equal to
the posterior probability that it is the best (Thompson 1933; Russo et al. 2018, "A tutorial on Thompson sampling").

Conversion rates: each arm's rate has a Beta(1 + successes, 1 + failures) posterior (uniform prior). Means: each
arm's mean has a normal posterior centred on its sample mean with variance variance / count (flat prior, the large
sample approximation). The probability each arm is best is the share of seeded joint posterior draws in which it
is the largest; the recommended split is that probability, with every arm held to at least ``min_share`` (so no arm
starves and the data keep some exploration) and the others sharing the rest in proportion.

From the same draws, each arm's expected loss (the posterior mean of the best arm's value minus its own) and the
potential value remaining of Scott (2015, "Multi-armed bandit experiments in the online service economy"): the 95th
percentile of how much better the best arm is than the leader (the arm most likely best), absolute and, draw by
draw, relative to the leader's value; Scott ends the experiment once the relative one falls below 1%.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tools.errors import ToolError
from tools.sequential.models import ArmAllocation, ThompsonAllocation

__all__ = ["ADAPTIVE_WARNING", "thompson_allocation"]

MAX_ARMS = 26
MAX_DRAWS = 1_000_000
ADAPTIVE_WARNING = (
    "Data collected under adaptive allocation cannot be analysed as a fixed-split A/B test: the arms' shares changed "
    "with the results, so plain means and t-tests are biased. Reweight each unit by the inverse of its arm's "
    "allocation probability in its period (inverse-probability weighting; log every period's split), or analyse each "
    "period separately, before estimating an effect; to learn the effect, run a fixed-split test."
)


def thompson_allocation(
    *,
    successes: Sequence[int] | None = None,
    trials: Sequence[int] | None = None,
    means: Sequence[float] | None = None,
    variances: Sequence[float] | None = None,
    counts: Sequence[int] | None = None,
    names: Sequence[str] | None = None,
    draws: int = 10_000,
    seed: int = 0,
    min_share: float = 0.0,
    higher_is_better: bool = True,
) -> ThompsonAllocation:
    """Probability each arm is best and the next period's split: give ``successes`` and ``trials`` (a rate), or
    ``means``, ``variances`` and ``counts`` (a mean). Higher is better unless ``higher_is_better`` is False."""
    rng = np.random.default_rng(seed)
    if not 1 <= draws <= MAX_DRAWS:
        raise ToolError("draws_out_of_range", f"draws must be 1 to {MAX_DRAWS:,}; got {draws}.", "Use 10,000.")
    if successes is not None or trials is not None:
        if successes is None or trials is None or means is not None or variances is not None or counts is not None:
            raise _mixed()
        s = np.asarray(successes, dtype=np.float64)
        n = np.asarray(trials, dtype=np.float64)
        arms = _arm_names([len(s), len(n)], names)
        if np.any(n < 0) or np.any(s < 0) or np.any(s > n):
            raise ToolError(
                "bad_counts",
                "Successes must be between 0 and the arm's trials.",
                "Give per-arm successes and trials as non-negative counts.",
            )
        sample = rng.beta(1.0 + s[:, None], 1.0 + (n - s)[:, None], size=(len(s), draws))
        posterior_mean = (1.0 + s) / (2.0 + n)
        model = "beta_bernoulli"
        method = "Beta(1 + successes, 1 + failures) posteriors (uniform prior)"
    else:
        if means is None or variances is None or counts is None:
            raise _mixed()
        m = np.asarray(means, dtype=np.float64)
        v = np.asarray(variances, dtype=np.float64)
        c = np.asarray(counts, dtype=np.float64)
        arms = _arm_names([len(m), len(v), len(c)], names)
        if np.any(c < 2) or np.any(v < 0) or not np.all(np.isfinite(m)) or not np.all(np.isfinite(v)):
            raise ToolError(
                "bad_moments",
                "Each arm needs a finite mean, a non-negative variance and at least 2 units.",
                "Give per-arm means, variances (of the metric per unit) and counts.",
            )
        sample = rng.standard_normal((len(m), draws))
        sample *= np.sqrt(v / c)[:, None]  # in place: 26 arms of 1,000,000 draws are 208 MB each copy
        sample += m[:, None]
        posterior_mean = m
        model = "normal"
        method = "normal posteriors N(mean, variance / count) (flat prior, large samples)"
    if not 0 <= min_share < 1 / len(arms):
        raise ToolError(
            "min_share_out_of_range",
            f"min_share must be at least 0 and below 1 / arms = {1 / len(arms):.3g}; got {min_share:g}.",
            "Use a small floor such as 0.05, or 0.",
        )
    oriented = sample if higher_is_better else np.negative(sample, out=sample)  # the best arm has the largest draw
    best = np.argmax(oriented, axis=0)
    probability = np.bincount(best, minlength=len(arms)) / draws
    share = _floored(probability, min_share)
    top = oriented.max(axis=0)
    loss = [float(np.mean(top - row)) for row in oriented]
    leader = int(np.argmax(probability))
    remaining = top - oriented[leader]
    value_remaining = float(np.quantile(remaining, 0.95))
    value = oriented[leader] if higher_is_better else -oriented[leader]  # the leader's draws in the metric's units
    relative: float | None = None
    if np.all(value > 0):
        with np.errstate(over="ignore", invalid="ignore"):  # a leader drawn near 0: an infinite ratio
            relative = float(np.quantile(remaining / value, 0.95))
        relative = relative if math.isfinite(relative) else None
    rows = [
        ArmAllocation(
            arm=arm,
            probability_best=float(p),
            mc_error=math.sqrt(float(p) * (1.0 - float(p)) / draws),
            share=float(q),
            posterior_mean=float(mu),
            expected_loss=lost,
        )
        for arm, p, q, mu, lost in zip(arms, probability, share, posterior_mean, loss, strict=True)
    ]
    return ThompsonAllocation(
        arms=rows,
        model=model,
        draws=draws,
        seed=seed,
        min_share=min_share,
        higher_is_better=higher_is_better,
        leader=arms[leader],
        value_remaining=value_remaining,
        value_remaining_relative=relative,
        method=f"Thompson sampling: {method}; best = {'highest' if higher_is_better else 'lowest'}; P(best) from "
        f"{draws:,} seeded joint draws; next split = P(best)"
        + (f", each arm held to at least {min_share:.0%}" if min_share else "")
        + ".",
        warning=ADAPTIVE_WARNING,
    )


def _floored(probability: np.ndarray, floor: float) -> np.ndarray:
    """Shares proportional to ``probability`` with every arm held to at least ``floor`` (floor * arms < 1): the
    arms below it get it, the rest share what is left in proportion, until no arm falls below."""
    share = probability.astype(np.float64)
    held = np.zeros(share.size, dtype=bool)
    for _ in range(share.size):
        free = ~held
        rest = 1.0 - floor * held.sum()
        mass = probability[free].sum()
        share = np.where(held, floor, probability * rest / mass if mass > 0 else rest / free.sum())
        below = free & (share < floor)
        if not below.any():
            break
        held |= below
    return share


def _mixed() -> ToolError:
    return ToolError(
        "incomplete_arms",
        "Give successes and trials (a rate), or means, variances and counts (a mean), and not both.",
        "A conversion rate: successes=[...], trials=[...]; a mean: means=[...], variances=[...], counts=[...].",
    )


def _arm_names(sizes: Sequence[int], names: Sequence[str] | None) -> list[str]:
    """The arms' names, once every per-arm list is checked to have one entry per arm."""
    if len(set(sizes)) != 1 or (names is not None and len(names) != sizes[0]):
        raise ToolError(
            "arm_count_mismatch", "Every per-arm list must have one entry per arm.", "Check the lists' lengths."
        )
    count = sizes[0]
    if not 2 <= count <= MAX_ARMS:
        raise ToolError("arms_out_of_range", f"Give 2 to {MAX_ARMS} arms; got {count}.", "Add or remove arms.")
    if names is not None:
        return [str(x) for x in names]
    return ["control", "treatment"] if count == 2 else ["control"] + [f"treatment {i}" for i in range(1, count)]
