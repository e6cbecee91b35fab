"""Request and result models of the allocate_traffic tool (Thompson-sampling allocation for a bandit-style test)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from tools.bounds import MAX_MAGNITUDE, MIN_ALPHA
from tools.literals import Direction
from tools.results import Check, ToolRequest, ToolResult, label_of_number

__all__ = [
    "MAX_ARMS",
    "MAX_COUNT",
    "AllocateTrafficRequest",
    "AllocateTrafficResult",
    "AllocationMetric",
    "ArmData",
    "ArmShare",
]

#: As ``tools.sequential.thompson.MAX_ARMS`` and ab_test's: A to Z.
MAX_ARMS = 26
#: The most units an arm may report (as ab_test's summaries).
MAX_COUNT = 10**12

#: The metric of a bandit: a rate of 0/1 outcomes (successes of trials), or an average (mean, std_dev, n).
AllocationMetric = Literal["binary", "continuous"]


class ArmData(ToolRequest):
    """One arm's data so far: successes of trials (a rate), or mean, standard deviation and units (an average)."""

    arm: str = Field(min_length=1, max_length=200, description="Arm label.")
    successes: int | None = Field(default=None, ge=0, le=MAX_COUNT, description="Rate: units that converted.")
    trials: int | None = Field(default=None, ge=0, le=MAX_COUNT, description="Rate: units exposed.")
    mean: float | None = Field(default=None, ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE, description="Average per unit.")
    std_dev: float | None = Field(default=None, ge=0, le=MAX_MAGNITUDE, description="Average: its SD per unit.")
    n: int | None = Field(default=None, ge=0, le=MAX_COUNT, description="Average: units.")

    _arm_number = field_validator("arm", mode="before")(label_of_number)


class AllocateTrafficRequest(ToolRequest):
    """Thompson-sampling traffic split for a bandit: when the goal is to earn while testing, not to estimate the
    effect (then ab_test on a fixed split). Gives each arm's probability of being best, the next period's split and
    the expected loss; data collected this way need reweighting before any effect estimate."""

    arms: list[ArmData] = Field(min_length=2, max_length=MAX_ARMS, description="Every arm's data so far.")
    metric: AllocationMetric | None = Field(
        default=None, description="'binary' (successes, trials) or 'continuous' (mean, std_dev, n); null: from arms."
    )
    direction: Direction = Field(default="increase", description="Best arm: 'increase' highest, 'decrease' lowest.")
    min_share: float = Field(default=0.0, ge=0, lt=0.5, description="Floor on each arm's share (keeps exploring).")
    alpha: float = Field(default=0.05, ge=MIN_ALPHA, le=0.5, description="Credible intervals cover 1 - alpha.")
    draws: int = Field(default=10_000, ge=1_000, le=1_000_000, description="Posterior draws.")
    seed: int = Field(default=0, ge=0, le=2**32 - 1, description="Random seed (same seed, same numbers).")


class ArmShare(ToolResult):
    """One arm: its data, its posterior, its probability of being best and its share of the next period."""

    arm: str = Field(description="The arm's name.")
    n: int = Field(ge=0, description="Units so far (trials, or n).")
    successes: int | None = Field(description="Units that converted (binary); null for a continuous metric.")
    probability_best: float = Field(ge=0, le=1, description="Posterior probability that this arm is the best.")
    mc_error: float = Field(ge=0, description="Monte Carlo standard error of that probability.")
    share: float = Field(ge=0, le=1, description="Recommended share of the next period's traffic.")
    posterior_mean: float = Field(description="Posterior mean of the arm's metric.")
    credible_lower: float = Field(
        description="Lower end of the arm's Bayesian (1 - alpha) credible interval: the posterior puts the metric "
        "inside with probability 1 - alpha (not a confidence interval)."
    )
    credible_upper: float = Field(description="Upper end of that credible interval.")
    expected_loss: float = Field(
        ge=0,
        description="Posterior mean shortfall of this arm from the best arm, in the metric's units: what sending "
        "all traffic to it costs per unit (0 when it is surely the best).",
    )


class AllocateTrafficResult(ToolResult):
    """The answer of the allocate_traffic tool."""

    figure: ClassVar[str | None] = None

    estimand: str = Field(description="What the numbers are: which arm is best and a split, not an effect.")
    model: str = Field(description="'beta_bernoulli' (successes of trials) or 'normal' (means and SDs).")
    metric: AllocationMetric = Field(description="'binary' (a rate) or 'continuous' (an average).")
    direction: Direction = Field(description="'increase': the best arm has the highest metric; 'decrease' lowest.")
    arms: list[ArmShare] = Field(description="Every arm, in the order given.")
    best_arm: str = Field(description="The arm most likely to be the best (the leader).")
    value_remaining: float = Field(
        ge=0,
        description="95th percentile of how much better the best arm may be than the leader, in the metric's units "
        "(Scott 2015's potential value remaining).",
    )
    value_remaining_relative: float | None = Field(
        ge=0,
        description="The same as a fraction of the leader's value, draw by draw; null when that value can be 0 or "
        "negative.",
    )
    could_stop: bool | None = Field(
        description="True when value_remaining_relative is below 0.01: the leader is within 1% of the best with 95% "
        "probability, Scott (2015)'s rule to end the test (after at least two weeks); null when not defined."
    )
    method: str = Field(description="The posteriors, the draws and the allocation rule, in words.")
    min_share: float = Field(description="The floor each arm's share was held to.")
    alpha: float = Field(description="Credible intervals cover 1 - alpha.")
    draws: int = Field(description="Posterior draws per arm.")
    seed: int = Field(description="Random seed of the draws.")
    n_obs: int = Field(description="Units over all arms.")
    checks: list[Check] = Field(description="What the numbers are not, the arms' data, the Monte Carlo error.")
    warnings: list[str] = Field(
        description="How data from adaptive allocation must be analysed (reweighting), and when to use ab_test."
    )
    summary: str = Field(description="One sentence from the numbers above.")
