"""The result pieces of sequential analyses that other tools embed (power's design, ab_test's looks).

Light: pydantic only, so that request and result models can import them while the registry loads.
"""

from __future__ import annotations

from pydantic import Field

from tools.literals import Alternative, SpendingFunction
from tools.results import ToolResult

__all__ = ["ArmAllocation", "ConfidenceSequence", "LookDecision", "SequentialBoundary", "ThompsonAllocation"]


class SequentialBoundary(ToolResult):
    """One planned look of a group-sequential design."""

    look: int = Field(ge=1, description="The look's number, 1 for the first interim analysis.")
    information_fraction: float = Field(
        gt=0, description="Share of the maximum information (sample size) collected at this look."
    )
    z_boundary: float = Field(
        description="Stop for efficacy when |z| (one-sided: z in the tested direction) reaches this value."
    )
    nominal_p: float = Field(
        ge=0, le=1, description="The p-value that crosses the boundary at this look (two-sided for a two-sided test)."
    )
    cumulative_alpha: float = Field(ge=0, le=1, description="False-positive rate spent by this look, all sides.")


class LookDecision(ToolResult):
    """One interim (or final) analysis of a group-sequential design: the boundary, the test and what to do."""

    look: int = Field(ge=1, description="This look's number.")
    looks: int = Field(ge=1, description="Looks planned, the final analysis included.")
    spending: SpendingFunction = Field(description="The Lan-DeMets alpha-spending function of the plan.")
    alpha: float = Field(description="The whole design's significance level.")
    alternative: Alternative = Field(description="Direction of the test.")
    information_fraction: float = Field(gt=0, description="Share of the planned maximum information at this look.")
    planned_fraction: float = Field(gt=0, description="The share the plan had for this look.")
    recomputed: bool = Field(
        description="True when the boundary was recomputed because this or an earlier look's information fraction "
        "differs from the plan (alpha is spent at the actual fractions)."
    )
    boundaries: list[SequentialBoundary] = Field(description="Every look so far, at the actual fractions.")
    z_boundary: float = Field(description="This look's boundary on the z scale.")
    critical_value: float = Field(
        description="The boundary on the test statistic's own scale (t with the test's degrees of freedom, or z), "
        "at the same nominal p."
    )
    nominal_p: float = Field(ge=0, le=1, description="The p-value that crosses this look's boundary.")
    cumulative_alpha: float = Field(ge=0, le=1, description="False-positive rate spent by this look.")
    statistic: float = Field(description="The estimate over its standard error.")
    crossed: bool = Field(description="True when the statistic reaches the boundary in the tested direction.")
    stop: bool = Field(description="True when the experiment stops here: a crossed boundary, or the final look.")
    ci_lower: float | None = Field(
        description="Lower end of the repeated confidence interval, valid at this look whatever the looks before "
        "(null: unbounded, a one-sided test of a decrease)."
    )
    ci_upper: float | None = Field(
        description="Upper end of the repeated confidence interval (null: unbounded, a one-sided test of an increase)."
    )
    decision: str = Field(
        description="What to do, in words: 'stop for efficacy', 'continue to look k of K', 'final look: "
        "significant' or 'final look: not significant'."
    )


class ConfidenceSequence(ToolResult):
    """An asymptotic confidence sequence for a difference: an interval that holds at every sample size at once."""

    estimate: float = Field(description="The estimated difference.")
    std_error: float = Field(ge=0, description="Its standard error at the current sample size.")
    n: int = Field(ge=1, description="Units so far, all arms together.")
    target_n: int = Field(ge=1, description="The sample size the boundary was tuned for (planned in advance).")
    rho: float = Field(gt=0, description="The normal mixture's tuning parameter, chosen for target_n.")
    alpha: float = Field(description="The chance that the sequence ever misses the true difference.")
    alternative: Alternative = Field(description="Direction: a two-sided sequence or a one-sided bound.")
    ci_lower: float | None = Field(description="Lower end now (null: unbounded, one-sided for a decrease).")
    ci_upper: float | None = Field(description="Upper end now (null: unbounded, one-sided for an increase).")
    half_width: float = Field(ge=0, description="Distance from the estimate to the sequence's bound(s).")
    fixed_half_width: float = Field(
        ge=0, description="The fixed-horizon interval's at the same n and alpha (normal approximation)."
    )
    width_ratio: float = Field(gt=0, description="half_width over fixed_half_width: the price of looking any time.")
    crossed: bool = Field(description="True when the sequence excludes 0: the difference is significant.")
    method: str = Field(description="The boundary and its tuning, in words.")


class ArmAllocation(ToolResult):
    """One arm's share of the next period's traffic under Thompson sampling."""

    arm: str = Field(description="The arm's name.")
    probability_best: float = Field(ge=0, le=1, description="Posterior probability that this arm is the best.")
    mc_error: float = Field(ge=0, description="Monte Carlo standard error of that probability.")
    share: float = Field(ge=0, le=1, description="Recommended share of the next period's traffic.")
    posterior_mean: float = Field(description="Posterior mean of the arm's metric.")
    expected_loss: float = Field(
        ge=0,
        description="Posterior mean of how far this arm falls short of the best arm, in the metric's units (0 when "
        "it is surely the best): what sending all traffic to it would cost per unit.",
    )


class ThompsonAllocation(ToolResult):
    """Thompson-sampling allocation: which arm is likely best, and how to split the next period's traffic."""

    arms: list[ArmAllocation] = Field(description="Every arm, in the order given.")
    model: str = Field(description="'beta_bernoulli' (successes of trials) or 'normal' (means and variances).")
    draws: int = Field(ge=1, description="Posterior draws per arm.")
    seed: int = Field(description="Seed of the draws.")
    min_share: float = Field(ge=0, description="The floor each arm's share was held to.")
    higher_is_better: bool = Field(description="True when the best arm has the highest metric, False the lowest.")
    leader: str = Field(description="The arm most likely to be the best.")
    value_remaining: float = Field(
        ge=0,
        description="95th percentile of the posterior of how much better the best arm is than the leader, in the "
        "metric's units (Scott 2015's potential value remaining).",
    )
    value_remaining_relative: float | None = Field(
        ge=0,
        description="The same as a fraction of the leader's value, draw by draw; null when the leader's value can be "
        "0 or negative. Below 0.01, Scott (2015) would end the experiment.",
    )
    method: str = Field(description="The posterior and the allocation rule, in words.")
    warning: str = Field(description="What adaptive allocation means for the analysis afterwards.")
