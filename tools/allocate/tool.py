"""allocate_traffic: the next period's split by Thompson sampling (``tools.sequential.thompson``), each arm's posterior
with its credible interval and expected loss, Scott's (2015) value remaining as a stopping hint, and what adaptive
allocation means for the analysis afterwards, said plainly. Pure and deterministic for a given seed.

Posteriors: a rate has Beta(1 + successes, 1 + failures) (uniform prior), an average N(mean, std_dev^2 / n) (flat
prior, large samples); the credible intervals are their exact (1 - alpha) central quantiles, not draws.
"""

from __future__ import annotations

import math

from scipy import special, stats

from tools.allocate.models import AllocateTrafficRequest, AllocateTrafficResult, AllocationMetric, ArmData, ArmShare
from tools.errors import ToolError
from tools.results import Check
from tools.sequential.models import ThompsonAllocation
from tools.sequential.thompson import thompson_allocation

__all__ = ["GOAL_NOTE", "MAX_MC_ERROR", "MIN_TRIALS", "MIN_UNITS", "STOP_BELOW", "allocate_traffic"]

#: A rate's arm with fewer trials than this has a posterior that is still mostly the prior.
MIN_TRIALS = 100
#: An average's arm with fewer units than this makes the normal posterior (with the sample SD as known) rough.
MIN_UNITS = 30
#: Largest Monte Carlo standard error of a probability of being best that passes (1 point).
MAX_MC_ERROR = 0.01
#: Scott's (2015) stopping rule: the leader is within this fraction of the best arm with 95% probability.
STOP_BELOW = 0.01
GOAL_NOTE = (
    "Use allocate_traffic when the goal is to earn while learning (more traffic to the arm that is probably best "
    "during the test); when the goal is to learn the effect (its size with a confidence interval, a ship decision), "
    "keep a fixed split and analyse it with ab_test."
)


def allocate_traffic(request: AllocateTrafficRequest, data: object = None) -> AllocateTrafficResult:
    """Each arm's posterior, probability of being best and share of the next period (``data`` is not used)."""
    arms = request.arms
    names = [a.arm for a in arms]
    if len(set(names)) != len(names):
        twice = sorted({x for x in names if names.count(x) > 1})
        raise ToolError(
            "duplicate_arms",
            f"Arm label(s) {', '.join(repr(x) for x in twice)} appear more than once.",
            "Give each arm once, with a distinct label.",
        )
    metric = _metric(request)
    higher = request.direction == "increase"
    if metric == "binary":
        successes = [a.successes or 0 for a in arms]
        sizes = [a.trials or 0 for a in arms]
        found = thompson_allocation(
            successes=successes, trials=sizes, names=names, draws=request.draws, seed=request.seed,
            min_share=request.min_share, higher_is_better=higher,
        )  # fmt: skip
        posteriors = [stats.beta(1 + s, 1 + n - s) for s, n in zip(successes, sizes, strict=True)]
        bounds = [(float(p.ppf(request.alpha / 2)), float(p.ppf(1 - request.alpha / 2))) for p in posteriors]
    else:
        sizes = [a.n or 0 for a in arms]
        found = thompson_allocation(
            means=[a.mean or 0.0 for a in arms], variances=[(a.std_dev or 0.0) ** 2 for a in arms], counts=sizes,
            names=names, draws=request.draws, seed=request.seed, min_share=request.min_share,
            higher_is_better=higher,
        )  # fmt: skip
        z = float(special.ndtri(1 - request.alpha / 2))
        bounds = [(a.mean or 0.0, z * (a.std_dev or 0.0) / math.sqrt(n)) for a, n in zip(arms, sizes, strict=True)]
        bounds = [(m - half, m + half) for m, half in bounds]
    rows = [
        ArmShare(
            arm=row.arm,
            n=n,
            successes=a.successes if metric == "binary" else None,
            probability_best=row.probability_best,
            mc_error=row.mc_error,
            share=row.share,
            posterior_mean=row.posterior_mean,
            credible_lower=lower,
            credible_upper=upper,
            expected_loss=row.expected_loss,
        )
        for row, a, n, (lower, upper) in zip(found.arms, arms, sizes, bounds, strict=True)
    ]
    relative = found.value_remaining_relative
    could_stop = None if relative is None else relative < STOP_BELOW
    return AllocateTrafficResult(
        estimand="which arm is best (posterior probabilities) and the next period's traffic split; not an effect",
        model=found.model,
        metric=metric,
        direction=request.direction,
        arms=rows,
        best_arm=found.leader,
        value_remaining=found.value_remaining,
        value_remaining_relative=relative,
        could_stop=could_stop,
        method=found.method,
        min_share=request.min_share,
        alpha=request.alpha,
        draws=request.draws,
        seed=request.seed,
        n_obs=sum(sizes),
        checks=_checks(metric, rows),
        warnings=[found.warning, GOAL_NOTE],
        summary=_summary(request, metric, rows, found, could_stop),
    )


def _metric(request: AllocateTrafficRequest) -> AllocationMetric:
    """The metric the arms' fields give (every arm the same kind, complete and consistent), or a ToolError."""
    kinds = {_kind(a) for a in request.arms}
    if len(kinds) > 1:
        raise ToolError(
            "mixed_kinds",
            "Give every arm the same kind of data: successes and trials (a rate) or mean, std_dev and n (an average).",
            "Use one kind for all arms; split a rate and an average into two calls.",
        )
    (metric,) = kinds
    if request.metric is not None and request.metric != metric:
        raise ToolError(
            "metric_mismatch",
            f"metric is '{request.metric}' but the arms give "
            + ("successes and trials (a rate)." if metric == "binary" else "mean, std_dev and n (an average)."),
            "Set metric to match the arms' fields, or null to read it from them.",
        )
    for a in request.arms:
        if metric == "binary" and (a.successes is None or a.trials is None or a.successes > a.trials):
            raise ToolError(
                "bad_counts",
                f"Arm '{a.arm}' needs successes between 0 and its trials; got {a.successes} of {a.trials}.",
                "Give every arm its successes and trials (units that converted of units exposed).",
            )
        if metric == "continuous" and (a.mean is None or not a.std_dev or a.n is None or a.n < 2):
            raise ToolError(
                "bad_moments",
                f"Arm '{a.arm}' needs its mean, a standard deviation above 0 and at least 2 units; got mean "
                f"{a.mean}, std_dev {a.std_dev}, n {a.n}.",
                "Give every arm mean, std_dev (per unit, > 0) and n for an average metric.",
            )
    return metric


def _kind(arm: ArmData) -> AllocationMetric:
    rate = arm.successes is not None or arm.trials is not None
    average = arm.mean is not None or arm.std_dev is not None or arm.n is not None
    if rate and average:
        raise ToolError(
            "mixed_kinds",
            f"Arm '{arm.arm}' gives both a rate (successes, trials) and an average (mean, std_dev, n).",
            "Give each arm one kind: successes and trials, or mean, std_dev and n.",
        )
    if not rate and not average:
        raise ToolError(
            "bad_counts",
            f"Arm '{arm.arm}' has no data.",
            "Give successes and trials (a rate), or mean, std_dev and n (an average); a new arm has 0 of 0 trials.",
        )
    return "binary" if rate else "continuous"


def _checks(metric: AllocationMetric, rows: list[ArmShare]) -> list[Check]:
    least = MIN_TRIALS if metric == "binary" else MIN_UNITS
    small = [r.arm for r in rows if r.n < least]
    worst = max(r.mc_error for r in rows)
    prior = "uniform Beta(1, 1) priors" if metric == "binary" else "flat priors and normal posteriors"
    return [
        Check(
            name="not_an_effect_estimate",
            status="warn",
            detail=f"Probabilities of being best and the split are Bayesian posterior statements ({prior}), not an "
            "effect estimate: there is no confidence interval or p-value for a difference here. To measure the "
            "effect, keep a fixed split and analyse it with ab_test.",
        ),
        Check(
            name="enough_data",
            status="warn" if small else "pass",
            detail=(
                f"{', '.join(repr(x) for x in small)}: fewer than {least} units"
                + (
                    ", so the posterior is still mostly the prior and the split close to a guess."
                    if metric == "binary"
                    else ", so the normal posterior (the sample SD taken as known) is rough."
                )
                if small
                else f"Every arm has at least {least} units."
            ),
        ),
        Check(
            name="monte_carlo_error",
            status="pass" if worst <= MAX_MC_ERROR else "warn",
            detail=f"Largest Monte Carlo standard error of a probability of being best: {worst:.2g}"
            + ("." if worst <= MAX_MC_ERROR else f", above {MAX_MC_ERROR:g}: raise draws."),
        ),
    ]


def _summary(
    request: AllocateTrafficRequest,
    metric: AllocationMetric,
    rows: list[ArmShare],
    found: ThompsonAllocation,
    could_stop: bool | None,
) -> str:
    """One sentence from the result's own numbers."""
    best = next(r for r in rows if r.arm == found.leader)
    split = ", ".join(f"'{r.arm}' {r.share:.1%}" for r in rows)
    level, lower, upper = (
        f"{1 - request.alpha:.0%}",
        _value(best.credible_lower, metric),
        _value(best.credible_upper, metric),
    )
    text = (
        f"'{best.arm}' is the best arm with posterior probability {best.probability_best:.1%} ({level} credible "
        f"interval {lower} to {upper}); Thompson sampling sends the next period's traffic as {split}; value remaining "
        f"{found.value_remaining:.3g}"
    )
    if could_stop is not None and found.value_remaining_relative is not None:
        text += f" ({found.value_remaining_relative:.2%} of the leader's value: " + (
            "below Scott's stopping threshold, the test could end)" if could_stop else "keep testing)"
        )
    return (
        text + ". Not an effect estimate: data collected this way need reweighting by each period's allocation before "
        "one."
    )


def _value(x: float, metric: AllocationMetric) -> str:
    """A value of the metric as the summary writes it: a rate as a percent, an average to 4 significant digits."""
    return f"{x:.2%}" if metric == "binary" else f"{x:.4g}"
