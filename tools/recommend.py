"""recommend_method: which causal design fits the situation, ranked, with what it assumes and needs.

Deterministic rules from the design literature (Kohavi et al. 2020 for experiments; Angrist & Pischke 2009,
Cunningham 2021 and Huntington-Klein 2021 for quasi-experiments): randomize when you can; otherwise use how
treatment was assigned; and say plainly when the question is not identifiable with the data at hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from tools.results import Check, ToolRequest, ToolResult

__all__ = ["MethodName", "RecommendMethodRequest", "RecommendMethodResult", "Recommendation", "recommend_method"]

Assignment = Literal[
    "random",
    "cutoff",
    "rollout_by_group_over_time",
    "all_at_once",
    "self_selected",
    "single_unit",
    "instrument",
    "unknown",
]
MethodName = Literal[
    "ab_test",
    "cluster_ab_test",
    "diff_in_diff",
    "synthetic_control",
    "rdd",
    "propensity",
    "instrumental_variable",
    "interrupted_time_series",
    "adaptive_allocation",
    "heterogeneous_effects",
    "aa_check",
    "not_identifiable",
]

FEW_UNITS = 5

#: How each method is named in sentences.
METHOD_NAMES: dict[str, str] = {
    "ab_test": "a randomized A/B test",
    "cluster_ab_test": "a cluster-randomized A/B test",
    "diff_in_diff": "difference-in-differences",
    "synthetic_control": "synthetic control",
    "rdd": "regression discontinuity",
    "propensity": "propensity-score adjustment (IPW, matching, AIPW)",
    "instrumental_variable": "instrumental variables",
    "interrupted_time_series": "interrupted time series",
    "adaptive_allocation": "adaptive allocation (a Thompson-sampling bandit)",
    "heterogeneous_effects": "heterogeneous effects (for whom: BLP, GATES and targeting by a DR-learner)",
    "aa_check": "an A/A check (the split and the metric's analysis, by re-randomising history)",
    "not_identifiable": "none",
}


class RecommendMethodRequest(ToolRequest):
    """Recommend the causal design that fits how the change was (or can be) assigned — A/B or cluster test, DiD,
    synthetic control, RDD, propensity scores, instrumental variables, interrupted time series — or say the effect
    is not identifiable with the data at hand.

    Use it once intervention, unit and counterfactual are scoped. Give what is known; null (or
    assignment='unknown') for the rest: the result lists the questions to ask.
    """

    can_randomize: bool | None = Field(
        default=None, description="Can the team still randomize who gets the change? Null if unknown."
    )
    assignment: Assignment = Field(
        default="unknown",
        description="How units got (or will get) the change: 'random'; 'cutoff' (a score threshold); "
        "'rollout_by_group_over_time' (groups switched on at different dates); 'all_at_once'; 'self_selected' "
        "(opt-in); 'single_unit' (one market treated); 'instrument' (something random nudges uptake, e.g. an "
        "invitation); 'unknown'.",
    )
    has_pre_period_data: bool | None = Field(
        default=None, description="Is the outcome measured for the same units before the change? Null if unknown."
    )
    pre_periods: int | None = Field(
        default=None, ge=0, le=100_000, description="How many pre-change periods are measured (e.g. weeks)."
    )
    treated_units: int | None = Field(
        default=None, ge=0, le=10**12, description="How many units got (or will get) the change."
    )
    control_units: int | None = Field(
        default=None, ge=0, le=10**12, description="How many comparable units did not (or will not) get it."
    )
    observed_confounders: bool | None = Field(
        default=None,
        description="Self-selection: are the reasons for opting in measured (usage, tenure, plan, prior "
        "outcome)? Null if unknown.",
    )
    interference: bool | None = Field(
        default=None,
        description="Can one unit's treatment affect another's outcome (marketplace, social feature)? Null if unknown.",
    )
    goal: Literal["learn", "earn", "target", "check"] | None = Field(
        default=None,
        description="'learn' the effect; 'earn' while testing (a bandit); 'target': for whom it works; 'check' a "
        "new platform or metric first (A/A). Null if unknown.",
    )


class Recommendation(ToolResult):
    """One design, with why it fits and what it takes."""

    rank: int = Field(description="1 is the best fit.")
    method: MethodName = Field(description="The design.")
    suitability: Literal["recommended", "possible", "not_recommended"] = Field(description="How well it fits.")
    why: str = Field(description="Why it fits (or does not) this situation.")
    assumptions: list[str] = Field(description="The identifying assumptions it rests on.")
    diagnostics: list[str] = Field(description="The checks to run with it.")
    data_needed: list[str] = Field(description="What data it needs.")
    tool: str | None = Field(description="The whyscope tool that runs it, if any.")
    available: bool = Field(description="Whether whyscope can run it today.")


class RecommendMethodResult(ToolResult):
    """Ranked designs, whether the effect is identifiable, and what would make it so."""

    identifiable: bool = Field(description="Whether any recommended design identifies the effect.")
    recommendations: list[Recommendation] = Field(description="Designs, best first.")
    questions: list[str] = Field(description="What to find out to sharpen the recommendation.")
    what_would_help: list[str] = Field(
        description="Changes that would make the effect identifiable or the design stronger."
    )
    method: str = Field(description="How the recommendation was made.")
    checks: list[Check] = Field(description="Facts the recommendation rests on.")
    warnings: list[str] = Field(description="Cautions.")
    summary: str = Field(description="One sentence: the recommendation.")


@dataclass(frozen=True)
class _Design:
    method: str
    assumptions: tuple[str, ...]
    diagnostics: tuple[str, ...]
    data_needed: tuple[str, ...]


DESIGNS = {
    "ab_test": _Design(
        "ab_test",
        ("random assignment of units", "no interference between units (SUTVA)", "stable logging in both arms"),
        ("sample-ratio-mismatch test", "A/A test or pre-period balance", "power analysis before launch"),
        ("one row per randomized unit: arm, metrics, optional pre-period covariate for CUPED",),
    ),
    "cluster_ab_test": _Design(
        "cluster_ab_test",
        ("random assignment of clusters", "no interference between clusters", "enough clusters (20+ per arm)"),
        ("sample-ratio-mismatch test on clusters", "intra-cluster correlation for the power analysis"),
        ("cluster id per row (market, team, seller), arm, metrics",),
    ),
    "diff_in_diff": _Design(
        "diff_in_diff",
        (
            "parallel trends: without the change, treated and comparison units would have moved alike",
            "no anticipation before the change",
            "treatment stays on once switched on",
        ),
        (
            "event-study leads near zero (pre-trend test)",
            "placebo in time",
            "heterogeneity-robust estimator for staggered rollouts (Callaway-Sant'Anna)",
        ),
        ("panel: unit, period, outcome, treatment (or first treated period), several pre-periods",),
    ),
    "synthetic_control": _Design(
        "synthetic_control",
        (
            "a weighted mix of untreated units reproduces the treated unit's pre-period path",
            "no shocks specific to the treated unit at the change",
        ),
        ("pre-period fit", "placebo (permutation) tests on untreated units", "leave-one-out donors"),
        ("long pre-period panel for the treated unit and many untreated donor units",),
    ),
    "rdd": _Design(
        "rdd",
        (
            "units cannot precisely manipulate the running variable around the cutoff",
            "outcomes would be continuous at the cutoff without the change",
        ),
        (
            "density test at the cutoff (McCrary / rddensity)",
            "covariate balance at the cutoff",
            "bandwidth sensitivity",
            "placebo cutoffs",
        ),
        ("running variable (the score), the cutoff, outcome per unit; many units near the cutoff",),
    ),
    "propensity": _Design(
        "propensity",
        (
            "no unmeasured confounding: everything that drove opting in and affects the outcome is measured",
            "overlap: comparable opted-in and opted-out units exist",
        ),
        (
            "covariate balance before/after weighting",
            "overlap of propensity scores",
            "sensitivity analysis for unmeasured confounding (e.g. E-value, Cinelli-Hazlett)",
        ),
        ("one row per unit: treatment, outcome, pre-treatment covariates",),
    ),
    "instrumental_variable": _Design(
        "instrumental_variable",
        (
            "the instrument moves uptake (relevance)",
            "it affects the outcome only through uptake (exclusion)",
            "it is as good as random",
            "monotonicity",
        ),
        ("first-stage strength (F statistic)", "balance of covariates across instrument values"),
        ("instrument, uptake and outcome per unit",),
    ),
    "interrupted_time_series": _Design(
        "interrupted_time_series",
        ("the pre-period trend would have continued", "nothing else changed at the same time"),
        ("pre-period fit and seasonality", "placebo dates", "concurrent-events review"),
        ("a long, regular series of the outcome before and after the change",),
    ),
    "adaptive_allocation": _Design(
        "adaptive_allocation",
        (
            "the goal is the metric during the test, not an unbiased estimate of the effect",
            "outcomes arrive quickly compared with how often traffic is re-allocated",
        ),
        ("the allocation probabilities are logged per period (needed to reweight any later estimate)",),
        ("per arm and period: units and successes (or outcome sums and squares)",),
    ),
    "heterogeneous_effects": _Design(
        "heterogeneous_effects",
        (
            "the average effect is identified: randomized assignment, or every confounder measured",
            "the effect modifiers are measured before the change (a trait the change moves hides the effect)",
            "enough units: hundreds per arm at least, more to find a modest variation",
        ),
        (
            "the heterogeneity test (BLP loading over repeated sample splits)",
            "GATES: the effect in fifths of predicted effect, with intervals",
            "pre-specified subgroups with Holm-adjusted p-values; no post-hoc slicing",
        ),
        ("one row per unit: treatment (0/1), outcome, pre-treatment traits (tenure, plan, usage before)",),
    ),
}

DESIGNS["aa_check"] = _Design(
    "aa_check",
    (
        "no effect exists between the two arms (an A/A split, or history re-randomised)",
        "the history resembles the experiment's traffic (same units, metric definition and logging)",
    ),
    (
        "sample-ratio check of an A/A that ran",
        "false-positive rate of the analysis over many random splits (about alpha)",
        "p-value uniformity and the standard-error ratio (about 1; well below 1: rows that are not independent)",
    ),
    ("historical rows of the metric (per unit, or per session with the unit's ID), or an A/A test's rows",),
)

#: The designs whose units can be compared unit by unit for a heterogeneity analysis (one row per unit, a 0/1
#: treatment that is randomized or explained by measured traits).
_PER_UNIT = ("ab_test", "propensity")


@dataclass
class _Plan:
    ranked: list[tuple[str, str, str]] = field(default_factory=list)  # (method, suitability, why)
    questions: list[str] = field(default_factory=list)
    helps: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, method: str, suitability: str, why: str) -> None:
        if method not in {m for m, _, _ in self.ranked}:
            self.ranked.append((method, suitability, why))


def recommend_method(request: RecommendMethodRequest, data: object = None) -> RecommendMethodResult:
    """Rank the designs that fit the facts in ``request``; ``data`` is not used."""
    plan = _Plan()
    r = request
    few_treated = r.treated_units is not None and r.treated_units <= FEW_UNITS
    no_controls = r.control_units == 0
    has_pre = r.has_pre_period_data

    if r.can_randomize or r.assignment == "random":
        if r.interference:
            plan.add(
                "cluster_ab_test",
                "recommended",
                "Units affect each other, so randomize whole clusters "
                "(markets, teams, time slots) and analyse at the cluster level.",
            )
            plan.add(
                "ab_test", "not_recommended", "A unit-level test is biased when treated units affect control units."
            )
        elif r.goal == "check":
            plan.add(
                "aa_check",
                "recommended",
                "Before the first experiment on a new platform or metric: re-randomise its history a thousand "
                "times (or run an A/A) to check that the split is fair and the analysis keeps its false-positive "
                "rate; a wrong unit of analysis or a heavy tail shows up here, not in one A/B result.",
            )
            plan.add("ab_test", "recommended", "Then the experiment itself: randomizing who gets the change is the "
                     "strongest design.")  # fmt: skip
        elif r.goal == "earn":
            plan.add(
                "adaptive_allocation",
                "recommended",
                "The goal is to earn while testing: Thompson sampling shifts traffic to the variant that is "
                "probably best, at the price of an effect estimate that needs reweighting.",
            )
            plan.add("ab_test", "possible", "A fixed split measures the effect without bias, but keeps sending half "
                     "the traffic to the worse variant until the end.")  # fmt: skip
        else:
            plan.add(
                "ab_test",
                "recommended",
                "Randomizing who gets the change is the strongest design: it "
                "balances every confounder, measured or not.",
            )
            if r.goal is None:
                plan.questions.append(
                    "Is the goal to learn the effect, or to maximise the metric while the test runs (a bandit)?"
                )
            if r.interference is None:
                plan.questions.append(
                    "Can one unit's treatment affect another unit's outcome (marketplace, "
                    "social, shared budget)? If so, randomize clusters instead."
                )
        if r.assignment not in ("random", "unknown"):
            plan.warnings.append(
                "The change can still be randomized: an experiment beats any quasi-experiment on the same question."
            )

    if r.assignment == "cutoff":
        plan.add(
            "rdd",
            "recommended",
            "A score threshold decides who is treated, so units just either side of the cutoff are comparable.",
        )
    elif r.assignment == "rollout_by_group_over_time":
        if has_pre is False:
            plan.helps.append("Collect the outcome for several periods before each group's switch-on.")
        elif no_controls and r.treated_units is not None and r.treated_units < 2:
            plan.add(
                "interrupted_time_series",
                "possible",
                "With one group and no comparison, only the series' own past can stand in for the counterfactual.",
            )
        else:
            plan.add(
                "diff_in_diff",
                "recommended",
                "Groups switched on at different dates: groups not yet "
                "treated are the comparison; use a staggered-rollout estimator, not plain two-way fixed "
                "effects.",
            )
            if few_treated and (r.pre_periods or 0) >= 10:
                plan.add(
                    "synthetic_control",
                    "possible",
                    "Few treated groups with a long pre-period: a synthetic control can match each one's path.",
                )
    elif r.assignment == "all_at_once":
        if has_pre and r.control_units:
            plan.add(
                "diff_in_diff",
                "recommended",
                "Some comparable units never got the change, and both are measured before and after.",
            )
        if has_pre:
            plan.add(
                "interrupted_time_series",
                "possible" if not r.control_units else "not_recommended",
                "Everyone changed on the same date: only the pre-period trend can stand in for the "
                "counterfactual, and anything else that changed that day is confounded with it.",
            )
        else:
            plan.helps.append("Measure the outcome before the change (or find units that did not get it).")
    elif r.assignment == "self_selected":
        if r.observed_confounders:
            plan.add(
                "propensity",
                "recommended",
                "Users chose to opt in; if what drove that choice is "
                "measured, weighting or matching on it compares like with like.",
            )
        elif r.observed_confounders is None:
            plan.add("propensity", "possible", "Only if the reasons for opting in are measured in the data.")
            plan.questions.append("Are the reasons users opted in (usage, tenure, plan, prior outcome) in the data?")
        if has_pre:
            plan.add(
                "diff_in_diff",
                "possible",
                "Opt-in users measured before and after: differencing removes "
                "stable differences between them and others (not different trends).",
            )
        plan.helps.append(
            "Randomize an encouragement (an invitation or default) to opt in: it turns the "
            "question into an experiment (instrumental variable)."
        )
        plan.warnings.append(
            "Opt-in users differ from others in ways that also move outcomes; a naive "
            "comparison of adopters and non-adopters is biased."
        )
    elif r.assignment == "single_unit":
        many = (r.control_units or 0) >= 5
        if (many or r.control_units is None) and (has_pre or (r.pre_periods or 0) > 0):
            # how many untreated units there are is not known yet: the panel designs are possible, not recommended
            unknown = "" if many else " (if comparable untreated units are measured over the same periods)"
            plan.add(
                "synthetic_control",
                "recommended" if many else "possible",
                "One treated unit and many untreated ones with history: a weighted mix of them can reproduce its "
                f"path{unknown}.",
            )
            plan.add(
                "diff_in_diff",
                "possible",
                f"Against the average of untreated units, if their trends run parallel{unknown}.",
            )
            if not many:
                plan.questions.append(
                    "How many comparable units did not get the change, measured over the same periods?"
                )
        if has_pre:
            plan.add(
                "interrupted_time_series", "possible", "The treated unit's own pre-period trend as the counterfactual."
            )
        plan.warnings.append(
            "With a single treated unit, uncertainty comes from the comparison units, and "
            "standard errors are not reliable; use placebo (permutation) inference."
        )
    elif r.assignment == "instrument":
        plan.add(
            "instrumental_variable",
            "recommended",
            "Something as-good-as-random moves uptake; comparing "
            "by that nudge isolates the effect for units it moved (LATE).",
        )
        plan.questions.append(
            "What moved uptake (a randomised invite or nudge, a lottery, a shard), and could it change the outcome "
            "other than through uptake (exclusion)? The analysis needs the instrument, uptake and outcome per unit."
        )
    elif r.assignment == "unknown" and not r.can_randomize:
        plan.questions.append(
            "How did units get the change: at random, by a score cutoff, group by group over "
            "time, everyone at once, by opting in, or in a single market?"
        )
        if r.can_randomize is None:
            plan.questions.append("Can the team still randomize who gets the change?")

    if r.has_pre_period_data is None and r.assignment not in ("random", "cutoff", "instrument", "unknown"):
        plan.questions.append("Is the outcome measured for the same units before the change?")
    if r.assignment != "random" and not r.can_randomize and r.can_randomize is None:
        plan.questions.append("Could the change still be randomized (even for a holdout group)?")

    if r.goal == "target":
        _for_whom(plan)
    identifiable = any(s == "recommended" for _, s, _ in plan.ranked)
    if not identifiable and r.assignment != "unknown":
        if not plan.ranked or all(s == "not_recommended" for _, s, _ in plan.ranked):
            plan.add(
                "not_identifiable",
                "recommended",
                "With what is known, no design separates the change's "
                "effect from everything else that differs between the groups or over time.",
            )
        plan.helps.append(
            "Randomize (a holdout of even 5-10% of units), or find a comparison group measured before and after."
        )
    return _result(request, plan, identifiable)


def _for_whom(plan: _Plan) -> None:
    """The question is for whom it works: the heterogeneity analysis leads when the design identifying the average
    effect compares units one by one (an A/B test, propensity scores); it also reports that average. Otherwise it is
    ranked last and says why."""
    base = next((m for m, s, _ in plan.ranked if s == "recommended"), None)
    if base in _PER_UNIT:
        source = "the randomized split" if base == "ab_test" else "the measured reasons for opting in"
        plan.ranked.insert(
            0,
            (
                "heterogeneous_effects",
                "recommended",
                f"For whom it works: with {source} identifying the effect, a cross-fitted model of each unit's "
                "effect is tested on data it did not see (BLP, GATES), and only pre-specified subgroups are "
                "compared; it reports the average effect too.",
            ),
        )
        plan.warnings.append(
            "Slicing the results until a segment lights up finds effects that are not there: name the subgroups "
            "before looking, and let the heterogeneity test say whether the effect varies at all."
        )
    elif base is not None:
        plan.add(
            "heterogeneous_effects",
            "not_recommended",
            f"whyscope's heterogeneity analysis needs one row per unit with a randomized (or measured-confounder) "
            f"0/1 treatment; with {METHOD_NAMES[base]}, compare the effect across groups of units within that design "
            "instead.",
        )
    else:
        plan.questions.append(
            "For whom it works can only be asked once the average effect is identified: how did units get the change?"
        )


def _result(request: RecommendMethodRequest, plan: _Plan, identifiable: bool) -> RecommendMethodResult:
    from tools.registry import tool_for_design, tool_names  # at call time: the registry imports this module

    available = set(tool_names())
    order = {"recommended": 0, "possible": 1, "not_recommended": 2}
    ranked = sorted(plan.ranked, key=lambda item: order[item[1]])
    recommendations = []
    for rank, (method, suitability, why) in enumerate(ranked, start=1):
        design = DESIGNS.get(method)
        tool = tool_for_design(method)
        recommendations.append(
            Recommendation(
                rank=rank,
                method=method,
                suitability=suitability,
                why=why,
                assumptions=list(design.assumptions) if design else [],
                diagnostics=list(design.diagnostics) if design else [],
                data_needed=list(design.data_needed) if design else [],
                tool=tool,
                available=tool is not None and tool in available,
            )
        )
    checks = [
        Check(
            name="assignment",
            status="pass" if request.assignment != "unknown" else "not_tested",
            detail=f"Assignment mechanism: {request.assignment}; can randomize: {_yes_no(request.can_randomize)}; "
            f"pre-period data: {_yes_no(request.has_pre_period_data)}; interference: "
            f"{_yes_no(request.interference)}.",
        )
    ]
    if recommendations and recommendations[0].method == "not_identifiable":
        summary = f"The effect is not identifiable with what is known. {recommendations[0].why}"
    elif recommendations:
        top = recommendations[0]
        status = "" if top.available else " (whyscope cannot run it yet)"
        name = METHOD_NAMES[top.method]
        if top.suitability == "recommended":
            summary = f"Recommended design: {name}{status}. {top.why}"
        else:
            ask = f" To decide: {plan.questions[0]}" if plan.questions else ""
            summary = f"Not identifiable yet with what is known; the closest design is {name}{status}. {top.why}{ask}"
    else:
        summary = "Not enough is known to recommend a design; answer the questions listed."
    return RecommendMethodResult(
        identifiable=identifiable,
        recommendations=recommendations,
        questions=plan.questions,
        what_would_help=plan.helps,
        method="Rules from the design literature: randomize when possible; otherwise the assignment mechanism "
        "picks the design (cutoff: RDD; staggered rollout: DiD; opt-in: propensity scores only with measured "
        "confounders; single unit: synthetic control; instrument: IV).",
        checks=checks,
        warnings=plan.warnings,
        summary=summary,
    )


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")
