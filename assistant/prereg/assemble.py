"""Assemble a :class:`PreRegistration` from a brief, a study plan and a power result — inventing nothing.

Each item is built from what the session holds. What is absent is listed as missing with the question that would
fill it; brief slots the user has not confirmed are marked unconfirmed. Numbers appear only as the tools and the
user gave them.

Three sources fill the study plan, the first that states a field winning: the plan as written (``write_prereg``, a
brief file), the user's own answers to open items (``/prereg answer``: :attr:`StudyPlan.item_answers`), and what
the session's tool runs established (:class:`~assistant.prereg.session_facts.SessionFacts`: the analysis as it ran,
the assignment recommend_method was told, the refute checks, the data). Each item's ``source`` says which.

A secondary analysis (``StudyPlan.secondary_analyses``: heterogeneity, "for whom did it work") is stated in the
method item after the primary analysis, and its multiple-testing rule in the inference-criteria item; it never
stands in for the primary analysis, so a plan with only a secondary analysis still asks which analysis answers the
question.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from assistant.agent.brief import Brief, Slot
from assistant.prereg.mapping import ITEMS, spec
from assistant.prereg.models import Completeness, Item, ItemStatus, PlanBase, PreRegistration, StudyPlan
from assistant.prereg.plans import DEFAULTS_STATED, with_defaults
from tools.ab_test.models import MetricSpec
from tools.heterogeneity.models import GATES_GROUPS
from tools.power.models import PowerResult, PowerSequential
from tools.power.quasi_models import QUASI_DESIGNS
from tools.recommend import METHOD_NAMES
from tools.registry import auto_battery

if TYPE_CHECKING:
    from assistant.prereg.session_facts import SessionFacts

__all__ = ["ANSWER_FIELDS", "READS", "ROBUSTNESS_TEXT", "YOUR_ANSWER", "assemble", "effective_plan", "primary_metric"]

Built = tuple[ItemStatus, str | None] | tuple[ItemStatus, str | None, str]

#: ab_test's sample-ratio threshold (tools.ab_test.tool.SRM_THRESHOLD, which imports pandas; a test keeps them equal).
SRM_THRESHOLD = 0.001
TESTS = {
    "binary": "two-proportion z-test",
    "continuous": "Welch t-test",
    "ratio": "delta-method test of the ratio",
    "quantile": "Woodruff (order-statistic) interval for the difference of quantiles",
}
ROBUSTNESS_TEXT = {
    "placebo_treatment": "placebo treatment (a random fake treatment should show no effect)",
    "random_common_cause": "random common cause (adding a random covariate should not move the estimate)",
    "data_subset": "data subsets (the estimate should be stable on random subsets)",
    "bootstrap": "bootstrap (resampled estimates)",
    "dummy_outcome": "dummy outcome (an outcome the change cannot affect should show no effect)",
    "placebo_time": "placebo in time (a fake adoption date before the real one should show no effect)",
    "placebo_cutoff": "placebo cutoffs (fake cutoffs should show no jump)",
    "leave_one_out": "leave one out (drop each treated unit or cohort in turn)",
    "e_value": "E-value (how strong unmeasured confounding would have to be)",
    "omitted_variable_bounds": "omitted-variable bounds (sensitivity to an unobserved confounder)",
    "rosenbaum_bounds": "Rosenbaum bounds (how strong a hidden bias in who was treated would have to be to explain the "
    "matched effect away)",
    "parallel_trends_sensitivity": "parallel-trends sensitivity (bounds under violations of parallel trends)",
    "sample_ratio": "sample ratio (the arms' sizes should match the planned split)",
    "covariate_balance": "covariate balance (pre-treatment traits should not differ between the arms)",
    "overlap": "overlap (treated and comparison units should have comparable propensity scores)",
    "pre_trends": "pre-trends (no effect before adoption)",
    "density_test": "density test (units should not bunch just past the cutoff)",
    "covariate_continuity": "covariate continuity (pre-treatment traits should not jump at the cutoff)",
    "bandwidth_sensitivity": "bandwidth sensitivity (the estimate should hold at half and double the bandwidth)",
    "weak_instrument": "weak instrument (the weak-instrument-robust Anderson-Rubin set should agree with the 2SLS "
    "interval)",
}


def num(value: float) -> str:
    """A number as given (no rounding beyond Python's shortest representation)."""
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def primary_metric(plan: PlanBase) -> MetricSpec | None:
    """The primary metric of an ab_test plan (None when none is planned yet)."""
    return next((m for m in plan.metrics or () if m.role == "primary"), None)


#: The items whose answer in words is one study-plan field: the user's answer fills that field (when the plan leaves
#: it null), so the item reads as if written there. Any other item's answer is kept as it is and completes the item.
ANSWER_FIELDS: Mapping[str, str] = {
    "hypotheses": "hypothesis",
    "assignment": "assignment",
    "data_status": "data_status",
    "exclusions": "population_filter",
    "sample_size": "sample_size",
}
#: The study-plan fields each item is built from (to say where a field filled from the session came from).
READS: Mapping[str, tuple[str, ...]] = {
    "hypotheses": ("hypothesis",),
    "assignment": ("assignment",),
    "data_status": ("data_status",),
    "exclusions": ("population_filter",),
    "sample_size": ("sample_size",),
    "duration_stopping": ("duration", "stopping"),
    "quality_checks": ("analysis", "quality_checks"),
    "primary_metric": ("analysis",),
    "guardrails": ("analysis",),
    "covariates": ("analysis",),
    "method": ("analysis", "secondary_analyses"),
    "inference": ("analysis",),
    "alpha_correction": ("analysis", "secondary_analyses"),
    "outliers_missing": ("outliers", "missing_data"),
    "robustness": ("robustness_checks",),
    "decision_rule": ("analysis",),
}
#: Items that read the planned analysis only when it is an experiment (its metrics, margins and decision rule).
AB_TEST_ONLY = frozenset({"guardrails", "decision_rule"})
YOUR_ANSWER = "your answer"


def effective_plan(plan: StudyPlan, session: SessionFacts | None = None) -> tuple[StudyPlan, dict[str, str]]:
    """The study plan the document states, and where each field it did not state itself came from.

    A field the plan states stays; a null one takes the user's answer to its item (:data:`ANSWER_FIELDS`), else
    what the session established (``session``). Secondary analyses are taken tool by tool: the session's analysis
    of a tool the plan has no secondary analysis for is added after the plan's own."""
    updates: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for key, name in ANSWER_FIELDS.items():
        if getattr(plan, name) is None and (text := plan.answer(key)) is not None:
            updates[name], origins[name] = text, YOUR_ANSWER
    facts, came_from = (session.fields, session.origins) if session is not None else ({}, {})
    for name, value in facts.items():
        if name == "secondary_analyses":
            planned = {a.method for a in plan.secondary_analyses}
            added = tuple(a for a in value if a.method not in planned)
            if added:
                updates[name], origins[name] = (*plan.secondary_analyses, *added), came_from[name]
        elif getattr(plan, name) is None and name not in updates:
            updates[name], origins[name] = value, came_from[name]
    return (plan.model_copy(update=updates) if updates else plan), origins


def assemble(
    brief: Brief,
    plan: StudyPlan | None = None,
    power: PowerResult | None = None,
    *,
    session: SessionFacts | None = None,
) -> PreRegistration:
    """The pre-registration of a brief, a study plan, (optionally) a power result and what the session's tool runs
    established (``session``: it fills only what the plan and the user's answers leave open)."""
    plan, origins = effective_plan(plan or StudyPlan(), session)
    context = _Context(brief, plan, power)
    items = []
    for item_spec in ITEMS:
        built = BUILDERS[item_spec.key](context)
        status, value = built[0], built[1]
        source = built[2] if len(built) == 3 else item_spec.source
        reads = READS.get(item_spec.key, ())
        if item_spec.key in AB_TEST_ONLY and context.ab is None:
            reads = tuple(name for name in reads if name != "analysis")
        used = dict.fromkeys(origins[name] for name in reads if name in origins)
        answered = YOUR_ANSWER in used
        used.pop(YOUR_ANSWER, None)
        if used and value is not None:
            source += "; from this session: " + "; ".join(used)
        answer = plan.answer(item_spec.key) if item_spec.key not in ANSWER_FIELDS else None
        if answer is not None and status in ("missing", "unconfirmed"):  # the user answered what was open
            status, value, answered = "complete", "\n".join(x for x in (answer, value) if x), True
        if answered:
            source = f"{YOUR_ANSWER}; {source}"
        question = None if status in ("complete", "not_applicable") else item_spec.question
        items.append(
            Item(
                key=item_spec.key,
                section=item_spec.section,
                label=item_spec.label,
                status=status,
                value=value,
                source=source,
                question=question,
            )
        )
    applicable = [i for i in items if i.status != "not_applicable"]
    completeness = Completeness(
        complete=sum(i.status == "complete" for i in applicable),
        applicable=len(applicable),
        unconfirmed=sum(i.status == "unconfirmed" for i in applicable),
        missing=sum(i.status == "missing" for i in applicable),
    )
    return PreRegistration(
        title=_title(brief, plan),
        method=plan.analysis.method if plan.analysis is not None else None,
        items=tuple(items),
        completeness=completeness,
        brief=brief,
        plan=plan,
        power=power,
    )


def _title(brief: Brief, plan: StudyPlan) -> str:
    if plan.title:
        return plan.title
    if brief.intervention.value and brief.outcome.value:
        return f"Pre-registration: {brief.intervention.value} — effect on {brief.outcome.value}"
    return "Pre-registration (untitled)"


class _Context:
    def __init__(self, brief: Brief, plan: StudyPlan, power: PowerResult | None) -> None:
        self.brief = brief
        self.plan = plan
        self.power = power
        self.analysis = plan.analysis
        self.ab = plan.analysis if plan.analysis is not None and plan.analysis.method == "ab_test" else None


def _slot(slot: Slot) -> Built:
    if slot.value is None or slot.status == "missing":
        return "missing", None
    return ("complete" if slot.status == "confirmed" else "unconfirmed"), slot.value


def _text(value: str | None) -> Built:
    return ("complete", value) if value else ("missing", None)


def _question(c: _Context) -> Built:
    chain = c.brief.why_chain
    if not chain:
        return "missing", None
    return "complete", "\n".join(f"{step.question} — {step.answer}" for step in chain)


def _hypotheses(c: _Context) -> Built:
    if not c.plan.hypothesis:
        return "missing", None
    lines = [c.plan.hypothesis]
    if c.ab is not None and (metric := primary_metric(c.ab)) is not None:
        alternative = c.ab.alternative or (c.power.alternative if c.power else None)
        test = f"; tested {alternative}" if alternative else ""
        lines.append(f"Direction: {metric.name} is expected to {metric.direction}{test}.")
    return "complete", "\n".join(lines)


def _assignment(c: _Context) -> Built:
    if not c.plan.assignment:
        return "missing", None
    lines = [c.plan.assignment]
    if c.ab is not None and c.ab.expected_split:
        lines.append("Planned split: " + ", ".join(f"{s.arm} {num(s.share)}" for s in c.ab.expected_split) + ".")
    if c.power is not None:
        lines.append(
            f"Arms: {c.power.arms} (allocation ratio {num(c.power.allocation_ratio)} treatment units per control unit)."
        )
    return "complete", "\n".join(lines)


def _sample_size(c: _Context) -> Built:
    p = c.power
    if p is None:
        return ("complete", c.plan.sample_size, "plan.sample_size") if c.plan.sample_size else ("missing", None)
    lines = [f"From the power tool: {p.summary}"]
    if p.quasi is not None:
        return "complete", "\n".join([*lines, *_quasi_sizing(p)]), "power result"
    lines.append(
        f"Control arm {p.n_per_arm:,} units, each treatment arm {p.n_treatment:,}, {p.n_total:,} in total; "
        f"power {num(p.power)} to detect {num(p.mde_absolute)} in absolute terms"
        + (f" ({num(p.mde_relative)} relative)" if p.mde_relative is not None else "")
        + f" from a baseline of {num(p.baseline)}, alpha {num(p.alpha)} ({p.alternative})."
    )
    if p.clusters_per_arm is not None and p.cluster_size is not None and p.icc is not None:
        lines.append(
            f"Cluster design: {p.clusters_per_arm:,} clusters in the control arm of {num(p.cluster_size)} units, "
            f"ICC {num(p.icc)}, design effect {num(p.design_effect)}."
        )
    if p.variance_reduction:
        lines.append(f"Assumes CUPED removes {num(p.variance_reduction)} of the variance.")
    lines.append(f"Method: {p.method}")
    if c.plan.sample_size:
        lines.append(c.plan.sample_size)
    return "complete", "\n".join(lines), "power result"


def _quasi_sizing(p: PowerResult) -> list[str]:
    """A quasi-experiment's sizing: the design as given, the simulated power with its Monte Carlo error and the
    closed form beside it, the method and what the simulation assumes."""
    assert p.quasi is not None
    q, d = p.quasi, p.quasi.design
    units = {
        "did": f"{d.treated:,} treated and {d.control:,} comparison units",
        "rdd": f"{d.treated:,} units within the bandwidth above the cutoff and {d.control:,} below",
        "synth": f"1 treated unit and {d.control:,} donors",
    }[d.kind]
    periods = f", {d.pre} periods before and {d.post} after" if d.pre is not None and d.post is not None else ""
    closed = f"; closed form {num(q.analytic_power)}" if q.analytic_power is not None else ""
    return [
        f"Design: {METHOD_NAMES[QUASI_DESIGNS[d.kind]]} with {units}{periods}; effect {num(p.mde_absolute)}, "
        f"alpha {num(p.alpha)} ({p.alternative}).",
        f"Simulated power {num(p.power)} ± {num(q.power_mc_se)} (Monte Carlo standard error; {q.simulations:,} "
        f"simulations, seed {q.seed}){closed}.",
        f"Method: {p.method}",
        "Assumes: " + " ".join(q.assumptions),
    ]


STOPPING = {
    "fixed_horizon": "Fixed horizon: the analysis runs once, when the planned sample size is reached; interim "
    "looks do not lead to decisions (no peeking).",
    "sequential": "Sequential design: interim analyses are planned; the boundaries are part of this plan.",
}


def _duration(c: _Context) -> Built:
    duration = c.plan.duration
    if duration is None and c.power is not None and c.power.duration_days is not None:
        assert c.power.daily_units is not None
        duration = f"{c.power.duration_days} days at {num(c.power.daily_units)} eligible units per day (power tool)."
    sequential = c.power.sequential if c.power is not None else None
    stopping = c.plan.stopping or ("sequential" if sequential is not None else None)
    rule = STOPPING.get(stopping or "", "")
    if stopping == "sequential":
        rule += " " + (_schedule(sequential) if sequential is not None else "The looks are not planned yet.")
    if duration is None or stopping is None or (stopping == "sequential" and sequential is None):
        partial = " ".join(x for x in (duration, rule) if x)
        return "missing", partial or None
    return "complete", f"{duration}\n{rule}"


def _schedule(sequential: PowerSequential) -> str:
    """The planned looks in words: each look's cumulative sample size, z boundary and nominal p."""
    name = {"obrien_fleming": "O'Brien-Fleming", "pocock": "Pocock"}[sequential.spending]
    looks = "; ".join(
        f"look {b.look} at {b.n_total:,} units: z boundary {b.z_boundary:.4g} (nominal p {b.nominal_p:.3g})"
        for b in sequential.boundaries
    )
    return (
        f"{sequential.looks} looks with {name}-type alpha spending (Lan-DeMets), the sample size being the maximum "
        f"({sequential.inflation_factor:.4g} times the fixed design's): {looks}. An analysis at another look, with "
        "another spending function or at a fixed horizon is a deviation from this plan."
    )


#: The checks each plan tool runs before its estimate is trusted, in words; a plan tool not listed here is
#: described generically (see :func:`_quality`).
QUALITY = {
    "ab_test": "Sample-ratio-mismatch check before any metric: chi-square of the units per arm against the "
    f"planned split; p < {SRM_THRESHOLD} marks the experiment untrustworthy and the decision becomes "
    "'investigate'.",
    "diff_in_diff": "Pre-trend evidence: joint Wald test that all leads are zero, and a placebo-in-time "
    "estimate; the number of clusters and panel balance are reported.",
    "propensity": "Covariate balance before and after weighting or matching, and common support.",
    "rdd": "Density test of the running variable at the cutoff (manipulation), and bandwidth sensitivity.",
}


def _quality(c: _Context) -> Built:
    a = c.analysis
    if a is None:
        return "missing", c.plan.quality_checks
    automatic = QUALITY.get(a.method, f"The diagnostic checks the {a.method} tool runs and reports with its result.")
    if c.plan.quality_checks:
        return "complete", f"{automatic}\n{c.plan.quality_checks}"
    if a.method == "ab_test":  # an experiment also states whether an A/A test ran
        return "missing", automatic
    return "complete", automatic


def _primary(c: _Context) -> Built:
    status, value = _slot(c.brief.outcome)[:2]
    if status == "missing" or value is None:
        return "missing", None
    lines = [value]
    a = c.analysis
    if a is None:
        return status, value
    if a.method == "ab_test":
        metric = primary_metric(a)
        if metric is None:
            return "missing", value
        column = metric.column or metric.name
        denominator = f" / {metric.denominator_column}" if metric.denominator_column else ""
        lines.append(f"Measured as '{column}{denominator}' ({metric.kind}); good direction: {metric.direction}.")
        lines.append(
            f"Estimand: the average effect of assignment to treatment on {metric.name} per randomized unit "
            "(intention to treat): treatment minus control, and the relative lift."
        )
        return status, "\n".join(lines)
    outcome = getattr(a, "outcome", None)
    lines.append(f"Measured as '{outcome}'." if outcome else "Outcome column not yet named.")
    if a.method == "diff_in_diff":
        lines.append("Estimand: the average effect on the treated units after adoption (ATT).")
    elif a.method == "propensity":
        if a.estimand is None:
            return "missing", "\n".join(lines)
        lines.append(f"Estimand: {a.estimand} (average effect on the treated / in the whole population).")
    elif a.method == "rdd":
        if a.running and a.cutoff is not None:
            compliers = f", on compliers (units that take up '{a.fuzzy}' because they crossed it)" if a.fuzzy else ""
            lines.append(f"Estimand: the local effect at the cutoff {num(a.cutoff)} of '{a.running}'{compliers}.")
    elif estimand := getattr(a, "estimand", None):
        lines.append(f"Estimand: {estimand}.")
    return status, "\n".join(lines)


def _guardrails(c: _Context) -> Built:
    outcome = c.brief.outcome
    status, _ = _slot(outcome)[:2]
    if status == "missing":
        return "missing", None
    if not outcome.guardrails:
        return status, "None declared."
    lines = []
    missing = False
    metrics = (c.ab.metrics or ()) if c.ab is not None else ()
    for name in outcome.guardrails:
        planned = next((m for m in metrics if m.role == "guardrail" and m.name == name), None)
        if c.ab is not None and planned is None:
            missing = True
            lines.append(f"{name}: not yet in the analysis plan (column, direction and margin).")
        elif planned is not None:
            margin = (
                f"non-inferiority margin {num(planned.non_inferiority_margin)} (relative)"
                if planned.non_inferiority_margin is not None
                else "any significant harm counts as a breach"
            )
            lines.append(
                f"{name}: '{planned.column or planned.name}' ({planned.kind}), good direction "
                f"{planned.direction}; {margin}."
            )
        else:
            lines.append(name)
    return ("missing" if missing else status), "\n".join(lines)


def _covariates(c: _Context) -> Built:
    a = c.analysis
    if a is None:
        return "missing", None
    if a.method == "ab_test":
        cuped = [_adjustment_words(m) for m in a.metrics or () if m.covariate_column or m.covariates]
        if a.strata_column:
            cuped.append(f"Post-stratified on '{a.strata_column}' (stratum-weighted difference, Neyman variance).")
        if c.power is not None and c.power.variance_reduction:
            cuped.append(f"The power calculation assumed a variance reduction of {num(c.power.variance_reduction)}.")
        return "complete", "\n".join(cuped) or "None (unadjusted comparison)."
    if "covariates" not in type(a).model_fields:
        return "not_applicable", None  # the tool takes no covariates
    covariates = a.covariates
    if covariates is None or ("covariates" in a.required() and not covariates):
        return "missing", None
    return "complete", ", ".join(f"'{x}'" for x in covariates) or "None."


def _adjustment_words(metric: Any) -> str:
    """A planned metric's covariate adjustment in words: CUPED (on a ratio: with the pre-period ratio), or the Lin
    regression (a binary metric: logistic regression, standardised)."""
    if metric.covariates:
        names = ", ".join(f"'{x}'" for x in metric.covariates)
        how = (
            "logistic regression, standardised to a risk difference"
            if metric.kind == "binary"
            else "Lin (2013) interacted regression"
        )
        return f"{metric.name}: {how} on {names}; the unadjusted difference reported beside it"
    if metric.covariate_denominator_column:
        return (
            f"{metric.name}: CUPED on the pre-period ratio '{metric.covariate_column}' / "
            f"'{metric.covariate_denominator_column}'"
        )
    return f"{metric.name}: CUPED on '{metric.covariate_column}'"


def _method(c: _Context) -> Built:
    """The primary analysis in words, then each secondary analysis; missing while any of them is."""
    a = c.analysis
    built: Built = METHODS.get(a.method, _method_generic)(a) if a is not None else ("missing", None)
    if not c.plan.secondary_analyses:
        return built
    status, lines = built[0], [built[1]] if built[1] else []
    for secondary in c.plan.secondary_analyses:
        more = METHODS.get(secondary.method, _method_generic)(secondary)
        if more[0] == "missing":
            status = "missing"
        lines.append(more[1] or f"Secondary analysis: {secondary.method} (its settings not yet stated).")
    return (status, "\n".join(lines), built[2]) if len(built) == 3 else (status, "\n".join(lines))


def _method_ab_test(a: PlanBase) -> Built:
    if not a.metrics:
        return "missing", "ab_test (metrics not yet specified)"
    tests = sorted({f"{TESTS.get(m.kind, m.kind)} for {m.kind} metrics" for m in a.metrics})
    lines = [f"ab_test on {_where(a.dataset, a.arm_column)}: " + "; ".join(tests) + "."]
    if getattr(a, "interval", None) == "bootstrap":
        method = getattr(a, "bootstrap_method", None) or "bca"
        replicates = getattr(a, "bootstrap_replicates", None)
        lines.append(
            f"Intervals: {'BCa' if method == 'bca' else method} bootstrap"
            + (f", {replicates:,} resamples" if replicates else "")
            + (f", seed {a.seed}" if getattr(a, "seed", None) is not None else "")
            + ", resampling within arms (whole clusters when clustered)."
        )
    if getattr(a, "se_type", None) and any(m.covariates for m in a.metrics):
        lines.append(f"Regression-adjusted metrics use {a.se_type} standard errors.")
    if a.control:
        lines.append(f"Control arm: '{a.control}'.")
    lines.append(
        "Guardrails: one-sided non-inferiority tests."
        if any(m.role == "guardrail" for m in a.metrics)
        else "No guardrail tests."
    )
    if a.alternative is None:
        return "missing", "\n".join(lines)
    lines.append(f"Primary and secondary tests are {a.alternative}.")
    return "complete", "\n".join(lines)


def _method_diff_in_diff(a: PlanBase) -> Built:
    if a.estimator is None or a.outcome is None or a.unit is None or a.time is None:
        return "missing", None
    adoptions = getattr(a, "adoptions", None)
    if a.treatment:
        assigned = f"treatment '{a.treatment}'"
    elif adoptions:
        given = ", ".join(f"{x.unit} from {x.first_period}" for x in adoptions)
        assigned = f"treated units {given} (the others never treated)"
    else:
        assigned = f"cohort '{a.cohort}'"
    lines = [
        f"diff_in_diff, estimator {a.estimator}, control group {a.control_group or 'never_treated (default)'}; "
        f"outcome '{a.outcome}', unit '{a.unit}', time '{a.time}', {assigned}."
    ]
    window = [
        f"reference period {a.reference_period}" if a.reference_period is not None else None,
        f"{a.leads} leads" if a.leads is not None else None,
        f"{a.lags} lags" if a.lags is not None else None,
    ]
    if any(window):
        lines.append("Event window: " + ", ".join(w for w in window if w) + ".")
    return "complete", "\n".join(lines)


def _method_synthetic_control(a: PlanBase) -> Built:
    if a.outcome is None or a.time is None or (a.treatment is None and not a.adoptions):
        return "missing", None
    estimator = a.estimator or "synthetic_did (default)"
    if a.treatment:
        assigned = f"treatment '{a.treatment}'"
    else:
        given = ", ".join(f"{x.unit} from {x.first_period}" for x in a.adoptions)
        assigned = f"treated units {given} (the others are donors)"
    where = f"unit '{a.unit}', " if a.unit else "one series, "
    if a.estimator == "interrupted_time_series":
        how = f"standard errors {a.se_method or 'ar1_gls (default)'}"
        if a.season_period:
            how += f", seasonal period {a.season_period}"
    else:
        how = f"inference {a.inference or 'placebo (default)'}"
        if a.covariates:
            how += ", predictors " + ", ".join(f"'{x}'" for x in a.covariates)
    text = (
        f"synthetic_control, estimator {estimator}, {how}; outcome '{a.outcome}', {where}time '{a.time}', {assigned}."
    )
    return "complete", text


def _method_instrumental_variables(a: PlanBase) -> Built:
    if a.outcome is None or a.treatment is None or not a.instruments:
        return "missing", None
    instruments = ", ".join(f"'{x}'" for x in a.instruments)
    errors = a.standard_errors or "robust (HC1, default)"
    if a.cluster:
        errors += f" on '{a.cluster}'"
    text = (
        f"instrumental_variables (2SLS): effect of '{a.treatment}' on '{a.outcome}', instrumented by {instruments}; "
        f"standard errors {errors}; the Anderson-Rubin set reported beside the 2SLS interval; exclusion: the "
        "instrument changes the outcome only through the treatment (argued, not testable)."
    )
    return "complete", text


def _method_propensity(a: PlanBase) -> Built:
    if not a.methods or a.outcome is None or a.treatment is None:
        return "missing", None
    extra = [
        f"trimming at {num(a.trim)}" if a.trim is not None else None,
        f"caliper {num(a.caliper)}" if a.caliper is not None else None,
    ]
    text = f"propensity: {', '.join(a.methods)}; outcome '{a.outcome}', treatment '{a.treatment}'"
    return "complete", text + "".join(f"; {e}" for e in extra if e) + "."


def _method_rdd(a: PlanBase) -> Built:
    if a.outcome is None or a.running is None or a.cutoff is None:
        return "missing", None
    design = f"fuzzy (take-up '{a.fuzzy}')" if a.fuzzy else "sharp"
    parts = [
        f"rdd ({design}) on '{a.running}' at {num(a.cutoff)}, treated {a.treatment_side or 'above'} the cutoff",
        f"polynomial order {a.polynomial}" if a.polynomial is not None else None,
        f"{a.kernel} kernel" if a.kernel else None,
        f"bandwidth by {a.bandwidth_selector}" if a.bandwidth_selector else None,
    ]
    return "complete", "; ".join(p for p in parts if p) + "."


def _names(columns: tuple[str, ...]) -> str:
    return ", ".join(f"'{x}'" for x in columns)


def _method_heterogeneity(a: PlanBase) -> Built:
    """A secondary analysis: for whom the effect differs (CDDF's tests over repeated splits), the effect modifiers
    and the pre-specified subgroups by name, and when targeting may be recommended."""
    if a.outcome is None or a.treatment is None or not a.effect_modifiers:
        stated = f" of '{a.treatment}' on '{a.outcome}'" if a.outcome and a.treatment else ""
        open_text = "outcome, treatment or effect modifiers not yet named"
        return "missing", f"Secondary analysis: heterogeneity{stated} ({open_text})."
    fifths, fifth = {5: ("fifths", "fifth")}.get(GATES_GROUPS, (f"{GATES_GROUPS} equal groups", "group"))
    setting = with_defaults(a)  # null splits and assignment: the tool's defaults, stated here
    data = f" in dataset '{a.dataset}'" if a.dataset else ""
    if setting["randomized"] is False:
        assignment = "observational: a cross-fitted propensity model"
    else:
        share = num(a.propensity) if a.propensity is not None else "the observed share"
        assignment = f"randomized (assignment probability: {share})"
    confounders = _names(a.covariates) if a.covariates else "the effect modifiers"
    defaults = [name for name in DEFAULTS_STATED[a.method] if getattr(a, name) is None]
    lines = [
        f"Secondary analysis (beside the primary one, which it does not replace) — heterogeneity: for whom the "
        f"effect of '{a.treatment}' on '{a.outcome}' differs{data}; {assignment}.",
        f"Effect modifiers: {_names(a.effect_modifiers)}. Nuisance models adjust for {confounders}.",
        f"Method: DR-learner predictions of each unit's effect, cross-fitted in {setting['folds']} folds. The "
        f"heterogeneity test is the BLP loading on the predicted effect, the median over {setting['repetitions']} "
        f"random sample splits (Chernozhukov, Demirer, Duflo & Fernández-Val 2018/2023), seed {setting['seed']}; "
        f"GATES by {fifths} of the predicted effect; CLAN (most versus least affected {fifth}, per modifier).",
        f"Pre-specified subgroups: {_names(a.subgroups)}, each level's effect with Holm-adjusted p-values (over every "
        "level of every subgroup column) and a test of equal effects per column; any other subgroup is exploratory."
        if a.subgroups
        else "Pre-specified subgroups: none; any subgroup comparison is exploratory.",
        "Targeting (treating only the units with the largest predicted effects) is recommended only when "
        "heterogeneity is found (a positive, significant BLP loading) and its gain over treating everyone is "
        "significant.",
    ]
    if defaults:
        lines.append(
            f"Not stated, so the tool's defaults as given above: {', '.join(defaults)}; a run with other values "
            "departs from this plan."
        )
    return "complete", "\n".join(lines)


def _method_generic(a: PlanBase) -> Built:
    """A plan tool with no words of its own: the settings the plan states, as the tool names them. Missing until
    every field the tool requires is stated."""
    stated = a.stated()
    settings = "; ".join(f"{name} {_setting(value)}" for name, value in stated.items())
    text = f"{a.method}" + (f": {settings}." if settings else " (no settings stated yet).")
    return ("missing" if any(name not in stated for name in a.required()) else "complete"), text


def _setting(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(_setting(v) for v in value) or "none"
    if isinstance(value, dict):
        return "(" + ", ".join(f"{k} {_setting(v)}" for k, v in value.items() if v is not None) + ")"
    if isinstance(value, str):
        return f"'{value}'"
    return num(value) if isinstance(value, int | float) and not isinstance(value, bool) else str(value).lower()


#: The words for each plan tool's method item; a plan tool not listed is described by :func:`_method_generic`.
METHODS: dict[str, Callable[[PlanBase], Built]] = {
    "ab_test": _method_ab_test,
    "diff_in_diff": _method_diff_in_diff,
    "synthetic_control": _method_synthetic_control,
    "propensity": _method_propensity,
    "rdd": _method_rdd,
    "instrumental_variables": _method_instrumental_variables,
    "heterogeneity": _method_heterogeneity,
}


def _where(dataset: str | None, arm_column: str | None) -> str:
    data = f"dataset '{dataset}'" if dataset else "the experiment's data"
    return f"{data}, arms in '{arm_column}'" if arm_column else data


def _inference(c: _Context) -> Built:
    a = c.analysis
    if a is None:
        return "missing", None
    if a.method == "ab_test":
        if a.cluster_column:
            return "complete", (
                f"Rows are finer than the randomized unit: metrics are summed per '{a.cluster_column}' and standard "
                "errors treat that unit as independent."
            )
        return "complete", "Each row is one randomized unit; unit-level standard errors."
    if a.method == "diff_in_diff":
        cluster = a.cluster or a.unit
        return (
            ("complete", f"Cluster-robust standard errors clustered by '{cluster}'.") if cluster else ("missing", None)
        )
    if a.method == "propensity":
        return "complete", "Standard errors as the propensity tool reports them for each method."
    if a.method == "rdd":
        return "complete", "Conventional and robust bias-corrected confidence intervals, as the rdd tool reports them."
    cluster = getattr(a, "cluster", None)
    clustered = f", clustered by '{cluster}'" if cluster else ""
    return "complete", f"Standard errors as the {a.method} tool reports them{clustered}."


def _alpha(c: _Context) -> Built:
    """The primary analysis's level and correction, then each secondary analysis's (shown even while the primary
    analysis's are missing)."""
    status, text, source = _alpha_primary(c)
    secondary = [line for s in c.plan.secondary_analyses if (line := _alpha_secondary(s))]
    if secondary:
        text = "\n".join([*([text] if text else []), *secondary])
        source += "; plan.secondary_analyses"
    return status, text, source


def _alpha_primary(c: _Context) -> tuple[ItemStatus, str | None, str]:
    a = c.analysis
    alpha = getattr(a, "alpha", None) if a is not None else None
    source = "plan.analysis.alpha"
    if alpha is None and c.power is not None:
        alpha, source = c.power.alpha, "power result (alpha)"
    if alpha is None:
        return "missing", None, spec("alpha_correction").source
    text = f"Significance level {num(alpha)}."
    if a is not None and a.method == "ab_test":
        if a.correction is None:
            return "missing", text, source
        text += f" Multiple-testing correction within the primary and within the secondary metrics: {a.correction}."
        source += "; plan.analysis.correction"
    return "complete", text, source


def _alpha_secondary(a: PlanBase) -> str | None:
    """The inference criteria of a secondary analysis (its level, its multiple-testing rule), None if it has none."""
    if a.method != "heterogeneity":
        return None
    default = a.request.model_fields["alpha"].default
    level = (
        f"significance level {num(a.alpha)}" if a.alpha is not None else f"level not stated (tool default {default})"
    )
    if not a.subgroups:
        return f"Heterogeneity (secondary): {level}; no subgroups pre-specified, so no subgroup result is confirmatory."
    return (
        f"Heterogeneity (secondary): {level}; the levels of the pre-specified subgroups ({_names(a.subgroups)}) are "
        "tested together with Holm's step-down adjustment (family-wise error over every level)."
    )


def _outliers(c: _Context) -> Built:
    outliers = c.plan.outliers
    if c.ab is not None and c.ab.winsorize is not None:
        capped = f"Continuous metrics capped at the {num(c.ab.winsorize)} quantile of the pooled data."
        outliers = f"{capped} {outliers}" if outliers else capped
    parts = [
        f"Outliers: {outliers}" if outliers else None,
        f"Missing data: {c.plan.missing_data}" if c.plan.missing_data else None,
    ]
    text = "\n".join(p for p in parts if p) or None
    return ("complete" if outliers and c.plan.missing_data else "missing"), text


def _robustness(c: _Context) -> Built:
    checks = c.plan.robustness_checks
    if checks is None:
        battery = auto_battery(c.analysis.method) if c.analysis is not None else ()
        if c.analysis is None or not battery:
            return "missing", None
        lines = [f"{name}: {ROBUSTNESS_TEXT[name]}" for name in battery]  # refute's battery, until agreed
        return "unconfirmed", "\n".join([f"The refute tool's standard battery for {c.analysis.method}:", *lines])
    return "complete", "\n".join(f"{name}: {ROBUSTNESS_TEXT[name]}" for name in checks) or "None planned."


def _decision(c: _Context) -> Built:
    status, value = _slot(c.brief.decision)[:2]
    if status == "missing" or value is None:
        return "missing", None
    lines = [value]
    if c.ab is not None:
        if c.ab.decision_rule is not None:
            lines.append(
                f"Ship only if the primary metric's relative lift is at least {num(c.ab.decision_rule)} "
                "and significant."
            )
        lines.append("A breached guardrail means don't ship; a failed sample-ratio check means investigate.")
    return status, "\n".join(lines)


BUILDERS: dict[str, Callable[[_Context], Built]] = {
    "question": _question,
    "hypotheses": _hypotheses,
    "counterfactual": lambda c: _slot(c.brief.counterfactual),
    "unit": lambda c: _slot(c.brief.unit),
    "assignment": _assignment,
    "data_status": lambda c: _text(c.plan.data_status),
    "population": lambda c: _slot(c.brief.population),
    "exclusions": lambda c: _text(c.plan.population_filter),
    "sample_size": _sample_size,
    "duration_stopping": _duration,
    "quality_checks": _quality,
    "intervention": lambda c: _slot(c.brief.intervention),
    "primary_metric": _primary,
    "guardrails": _guardrails,
    "covariates": _covariates,
    "method": _method,
    "inference": _inference,
    "alpha_correction": _alpha,
    "outliers_missing": _outliers,
    "robustness": _robustness,
    "decision_rule": _decision,
}
assert set(BUILDERS) == {s.key for s in ITEMS}
