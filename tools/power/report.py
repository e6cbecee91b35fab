"""What the power tool says besides its numbers: checks, warnings, the method and the summary sentence."""

from __future__ import annotations

import math

from tools.power.formulas import DEFAULT_POWER, Design
from tools.power.models import PowerRequest, PowerSequential
from tools.results import Check

MIN_CLUSTERS_PER_ARM = 20


def standardized_effect(design: Design, request: PowerRequest, delta: float) -> float:
    if design.metric == "mean":
        assert request.std_dev is not None
        return delta / request.std_dev
    p1 = design.baseline
    return 2.0 * math.asin(math.sqrt(p1 + delta)) - 2.0 * math.asin(math.sqrt(p1))


class _Findings:
    """Checks and warnings collected for one result."""

    def __init__(self) -> None:
        self.checks: list[Check] = []
        self.warnings: list[str] = []

    def gate(self, name: str, ok: bool, detail: str, warning: str | None = None) -> None:
        """A check that passes or warns; a warning sentence goes with a failed one."""
        self.checks.append(Check(name=name, status="pass" if ok else "warn", detail=detail))
        if not ok and warning:
            self.warnings.append(warning)

    def assumption(self, name: str, detail: str) -> None:
        """An assumption the numbers rest on and no data here can test."""
        self.checks.append(Check(name=name, status="not_tested", detail=detail))


def diagnose(
    request: PowerRequest,
    design: Design,
    n1: int,
    n2: int,
    delta: float,
    achieved: float,
    duration: int | None,
    clusters: int | None,
    mde_relative: float | None,
) -> tuple[list[Check], list[str]]:
    found = _Findings()
    if design.metric == "proportion":
        p1, p2 = design.baseline, design.baseline + delta
        expected = min(n1 * p1, n1 * (1 - p1), n2 * p2, n2 * (1 - p2)) / design.design_effect
        ok = expected >= 10
        found.gate(
            "normal_approximation",
            ok,
            f"Smallest expected count of successes or failures in an arm: {expected:,.1f} "
            f"({'at least' if ok else 'below'} 10, the usual floor for the normal approximation).",
            "Few expected conversions per arm: the normal approximation is rough here; treat the sample size as a "
            "lower bound.",
        )
    else:
        effective = min(n1, n2) / design.design_effect
        found.gate(
            "sample_size_floor",
            effective >= 30,
            f"Effective units in the smallest arm: {effective:,.1f} ({'at least' if effective >= 30 else 'below'} "
            "30). Heavy-tailed metrics such as revenue need far more for the t-test's normality to hold.",
        )
    if duration is not None:
        full_week = duration >= 7
        found.gate(
            "full_week",
            full_week,
            f"Duration {duration} day(s) {'covers' if full_week else 'does not cover'} a full week.",
            f"The sample is reached in {duration} day(s), less than one full week: run at least 7 days so that "
            "weekday/weekend cycles and novelty effects are averaged out.",
        )
    if clusters is not None:
        enough = clusters >= MIN_CLUSTERS_PER_ARM
        found.gate(
            "clusters_per_arm",
            enough,
            f"{clusters} clusters in control with design effect {design.design_effect:.3g} "
            f"({'at least' if enough else 'fewer than'} {MIN_CLUSTERS_PER_ARM}).",
            f"Only {clusters} clusters per arm: with fewer than {MIN_CLUSTERS_PER_ARM}, cluster-robust inference is "
            "unreliable; add clusters rather than units per cluster.",
        )
        found.assumption(
            "icc_assumption",
            f"The ICC of {request.icc:g} is an assumption; if the real ICC is higher, power is lower. Estimate it "
            "from pre-period data and rerun with the upper end of its range.",
        )
    if request.variance_reduction:
        found.assumption(
            "variance_reduction_assumption",
            f"CUPED is assumed to remove {request.variance_reduction:.0%} of the variance; if the pre-period "
            "covariate explains less, power is lower. Rerun with variance_reduction=null for the no-CUPED bound.",
        )
    if request.arms > 2:
        found.gate(
            "multiple_comparisons",
            True,
            f"{request.arms - 1} treatment-vs-control comparisons, each tested at alpha = {design.alpha:.4g} "
            f"(Bonferroni) so the family-wise error stays at {request.alpha:g}.",
        )
    if request.solve_for == "power":
        adequate = achieved >= DEFAULT_POWER
        found.gate(
            "adequate_power",
            adequate,
            f"Power {achieved:.1%} is {'at least' if adequate else 'below'} the usual 80%.",
            f"Underpowered: a real effect of this size would be missed {1 - achieved:.0%} of the time, and a "
            "significant result would likely overstate the effect.",
        )
    if request.looks > 1:
        found.assumption(
            "look_schedule",
            f"The boundaries hold for {request.looks} analyses at the planned information fractions: analyse at "
            "those looks only, recompute the boundary at an analysis's actual fraction (alpha is spent there), and "
            "stop when one is crossed. Unplanned looks, or a fixed-horizon analysis at the end, inflate the "
            "false-positive rate.",
        )
    if request.solve_for == "mde" and mde_relative is not None and abs(mde_relative) > 0.2:
        found.warnings.append(
            f"The smallest detectable change is {abs(mde_relative):.1%} of the baseline; most product changes move "
            "a metric far less, so a null result would say little."
        )
    return found.checks, found.warnings


SPENDING_NAMES = {"obrien_fleming": "O'Brien-Fleming-type", "pocock": "Pocock-type"}


def method_text(request: PowerRequest, design: Design, sequential: PowerSequential | None = None) -> str:
    sided = {"two-sided": "two-sided", "larger": "one-sided (increase)", "smaller": "one-sided (decrease)"}
    if design.metric == "mean":
        parts = [
            f"{sided[design.alternative]} two-sample t-test with a common standard deviation: exact power from "
            "the noncentral t distribution, df = n_control + n_treatment - 2, noncentrality = "
            "effect / (sd * sqrt(1/n_control + 1/n_treatment))"
        ]
    else:
        parts = [
            f"{sided[design.alternative]} two-proportion z-test, normal approximation with the pooled variance "
            "under H0 and the unpooled variance under H1 (as R's power.prop.test and statsmodels' "
            "power_proportions_2indep)"
        ]
        if request.solve_for == "mde" and design.alternative == "two-sided":
            parts.append("the MDE is reported for an increase")
    if request.variance_reduction:
        parts.append(f"variance multiplied by 1 - R^2 = {design.variance_factor:.4g} for CUPED")
    if design.design_effect != 1.0:
        parts.append(
            f"sample sizes divided by the design effect 1 + (m - 1) * ICC = {design.design_effect:.4g} "
            f"(m = {request.cluster_size:g}, ICC = {request.icc:g})"
        )
    if design.cluster_size and design.metric == "mean":
        parts.append("df = clusters in both arms - 2 (the t-test on cluster means)")
    if request.arms > 2:
        parts.append(f"Bonferroni: alpha {request.alpha:g} / {request.arms - 1} comparisons = {design.alpha:.4g}")
    if request.solve_for == "sample_size":
        parts.append("sample sizes rounded up to whole units")
    if sequential is not None:
        fractions = ", ".join(f"{look.information_fraction:.4g}" for look in sequential.boundaries)
        parts.append(
            f"group-sequential design: {sequential.looks} looks at information fractions {fractions}, Lan-DeMets "
            f"{SPENDING_NAMES[sequential.spending]} alpha spending"
            + (" (alpha / 2 a side)" if design.alternative == "two-sided" else "")
            + ", boundaries by the recursive numerical integration of Armitage, McPherson & Rowe (Jennison & "
            "Turnbull ch. 19); the sample size is the maximum, solved from the fixed equations at the power the "
            "fixed test has at the design's drift (inflation factor "
            f"{sequential.inflation_factor:.4f}); power counts rejections in the effect's direction"
        )
    return "; ".join(parts) + "."


def summary_sentence(
    request: PowerRequest,
    n1: int,
    n2: int,
    n_total: int,
    delta: float,
    mde_relative: float | None,
    achieved: float,
    target: float | None,
    duration: int | None,
    clusters: int | None,
    sequential: PowerSequential | None = None,
) -> str:
    sentence = _fixed_sentence(request, n1, n2, n_total, delta, mde_relative, achieved, target, duration, clusters)
    if sequential is None:
        return sentence
    per_look = ", ".join(f"{look.n_total:,}" for look in sequential.boundaries)
    return (
        f"{sentence} With {sequential.looks} looks ({SPENDING_NAMES[sequential.spending]} spending) these are the "
        f"maximum sizes, {sequential.inflation_factor:.3f} times the fixed design's; the looks come at {per_look} "
        f"units in total, and {sequential.expected_n_total:,.0f} are expected if the effect is real."
    )


def _fixed_sentence(
    request: PowerRequest,
    n1: int,
    n2: int,
    n_total: int,
    delta: float,
    mde_relative: float | None,
    achieved: float,
    target: float | None,
    duration: int | None,
    clusters: int | None,
) -> str:
    effect = f"{delta:+.4g}" + (f" ({mde_relative:+.2%} relative)" if mde_relative is not None else "")
    test = f"alpha = {request.alpha:g} ({request.alternative})"
    arms = f"{n1:,} units in control and {n2:,} in " + ("treatment" if request.arms == 2 else "each treatment arm")
    days = f", about {duration:,} day(s) at {request.daily_units:,.6g} units a day" if duration else ""
    total = f"{n_total:,} in total"
    if clusters is not None and request.cluster_size is not None:
        total += f", {clusters:,} clusters of {request.cluster_size:g} units in control"
    if request.solve_for == "sample_size":
        return (
            f"To detect a change of {effect} from a baseline of {request.baseline:g} with at least {target:.0%} "
            f"power at {test}, you need {arms} ({total}){days}; power at that size is {achieved:.1%}."
        )
    if request.solve_for == "mde":
        return (
            f"With {arms} ({total}{days}), the smallest change detectable with {achieved:.0%} power "
            f"at {test} is {effect} from a baseline of {request.baseline:g}."
        )
    return (
        f"With {arms} ({total}{days}), the power to detect a change of {effect} from a baseline of "
        f"{request.baseline:g} at {test} is {achieved:.1%}."
    )
