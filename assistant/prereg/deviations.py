"""Plan versus execution: every way an analysis departs from its frozen plan, and which analyses stay confirmatory.

A pure function, :func:`check_deviations`, compares the plan's analysis with the executed request field by field:
every field of the plan (see :mod:`assistant.prereg.plans`) is compared by a generic rule (a major deviation when
the executed value differs from a stated one, a minor "not stated" one when the plan left it null and the analysis
set it), and :data:`OVERRIDES` refines the rule of particular fields (their category, their severity, whether a
null in the plan is itself the plan). :data:`COMPARISONS` is the resulting table for every plan tool. It adds the
checks that are not single fields (metrics planned but not analysed or added, population filter and data hash,
sample size reached against planned), and labels each analysis. An analysis is **confirmatory** only when it was
pre-specified and no major deviation touches it; otherwise it is **exploratory**, with the reasons. A new plan tool
is checked with no entry here; an override only sharpens what its fields mean.

A secondary analysis (:data:`~assistant.prereg.plans.SECONDARY_TOOLS`: heterogeneity) is checked against the plan's
analysis by the same tool, primary or secondary; a plan without one makes it post-hoc, so exploratory, and the
primary analysis it does not replace is not a deviation. Heterogeneity is labelled per analysis it reports: the
heterogeneity test (BLP, GATES and CLAN over the effect modifiers) and each subgroup column. A modifier or a subgroup
the plan did not name is post-hoc; the planned ones stay confirmatory when run as planned.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

from assistant.prereg.models import PlanDocument, StudyPlan
from assistant.prereg.plans import PLANS, SECONDARY_TOOLS, PlanBase, with_defaults

__all__ = [
    "COMPARISONS",
    "METRIC_COMPARISONS",
    "OVERRIDES",
    "AnalysisLabel",
    "Deviation",
    "DeviationReport",
    "Execution",
    "FieldRule",
    "check_deviations",
    "comparison",
    "generic_rule",
]

Category = Literal[
    "method", "metric", "test", "covariates", "alpha", "correction", "population", "sample_size", "decision_rule"
]
Severity = Literal["major", "minor"]
#: Sample-size tolerances: reaching less than this share of the plan is a major deviation (an interim look) under a
#: fixed horizon; more than OVERSHOOT times the plan is a minor one (the experiment ran past its stopping point).
SHORTFALL = 0.95
OVERSHOOT = 1.10
UNSTATED = "not stated"  # what a deviation shows for a field the plan left open


@dataclass(frozen=True)
class FieldRule:
    """How one request field is compared: its category, how serious a change is, and what a null plan means."""

    field: str
    category: Category
    severity: Severity = "major"
    unstated_if_none: bool = True  # null in the plan = "not stated" (else null is itself the plan: e.g. no capping)
    as_set: bool = False  # lists compared without order (covariates)
    note_unstated: bool = True  # a field the plan left open is noted when the analysis set it (a minor deviation)
    compared: bool = True  # False: compared elsewhere (ab_test's metrics, metric by metric)
    #: A null in the plan reads as the tool's default (``default``, filled from the request model by
    #: :func:`comparison`): a setting added after plans were written (ab_test's standard errors, diff_in_diff's
    #: covariate method) is a deviation only when the run departs from the default the plan implied.
    default_when_unstated: bool = False
    default: Any = None


#: The category of a field with no override, by its name (any other field is a setting of the test).
GENERIC_CATEGORIES: dict[str, Category] = {
    "dataset": "population",
    "outcome": "metric",
    "covariates": "covariates",
    "alpha": "alpha",
}


def generic_rule(field: str) -> FieldRule:
    """How a field with no override is compared: a change from what the plan states is a major deviation, an
    unstated field the analysis set a minor one; covariates are compared as a set."""
    return FieldRule(field, GENERIC_CATEGORIES.get(field, "test"), as_set=field == "covariates")


_AB = (
    FieldRule("dataset", "population", unstated_if_none=True),
    FieldRule("arm_column", "test", "minor"),
    FieldRule("control", "test", unstated_if_none=True),
    FieldRule("cluster_column", "test", unstated_if_none=False),
    FieldRule("expected_split", "test", "minor", unstated_if_none=False),
    FieldRule("alpha", "alpha"),
    FieldRule("alternative", "test"),
    FieldRule("correction", "correction"),
    FieldRule("winsorize", "test", unstated_if_none=False),
    FieldRule("decision_rule", "decision_rule", unstated_if_none=False),
    FieldRule("metrics", "metric", compared=False),  # metric by metric: METRIC_COMPARISONS
    FieldRule("strata_column", "covariates", unstated_if_none=False),  # null: no post-stratification
    FieldRule("se_type", "test", default_when_unstated=True),
    FieldRule("interval", "test", default_when_unstated=True),
    FieldRule("bootstrap_method", "test", default_when_unstated=True),
    FieldRule("bootstrap_replicates", "test", "minor", default_when_unstated=True),
    FieldRule("seed", "test", "minor", default_when_unstated=True),
    FieldRule("summaries", "population", note_unstated=False),  # summary numbers are data: a change is major
)
_DID = (
    FieldRule("dataset", "population"),
    FieldRule("outcome", "metric"),
    *(FieldRule(f, "test") for f in ("unit", "time", "treatment", "cohort", "estimator", "control_group")),
    FieldRule("reference_period", "test"),
    FieldRule("leads", "test", "minor"),
    FieldRule("lags", "test", "minor"),
    FieldRule("cluster", "test"),
    FieldRule("weights", "test", unstated_if_none=False),
    FieldRule("covariates", "covariates", as_set=True, unstated_if_none=False),
    FieldRule("covariate_method", "covariates", default_when_unstated=True),
    FieldRule("base_period", "test", "minor"),
    FieldRule("alpha", "alpha"),
)
_PROPENSITY = (
    FieldRule("dataset", "population"),
    FieldRule("outcome", "metric"),
    FieldRule("treatment", "test"),
    FieldRule("treated_value", "test", unstated_if_none=False),
    FieldRule("covariates", "covariates", as_set=True),
    FieldRule("estimand", "test"),
    FieldRule("methods", "test", as_set=True),
    FieldRule("trim", "test", unstated_if_none=False),
    FieldRule("caliper", "test", unstated_if_none=False),
    FieldRule("neighbors", "test", "minor"),
    FieldRule("alpha", "alpha"),
    FieldRule("seed", "test", "minor", note_unstated=False),  # the estimators are deterministic
)
_RDD = (
    FieldRule("dataset", "population"),
    FieldRule("outcome", "metric"),
    *(FieldRule(f, "test") for f in ("running", "cutoff", "treatment_side", "polynomial", "kernel")),
    FieldRule("bandwidth", "test", unstated_if_none=False),
    FieldRule("bandwidth_selector", "test"),
    FieldRule("fuzzy", "test", unstated_if_none=False),
    FieldRule("cluster", "test", unstated_if_none=False),
    FieldRule("covariates", "covariates", as_set=True, unstated_if_none=False),
    FieldRule("alpha", "alpha"),
    FieldRule("diagnostics", "test", "minor", note_unstated=False),  # checks beside the estimate, not the estimate
)
#: Per-field refinements of the generic rule, by plan tool. A field not listed here is compared by
#: :func:`generic_rule`; a tool not listed here has every field compared that way.
#: ab_test's look schedule is compared with the plan's (its power design or its analysis plan) by
#: :func:`_schedule`, not field by field: the look itself changes from one analysis to the next.
_AB_SCHEDULE = (
    FieldRule("sequential", "test", compared=False),
    FieldRule("monitoring", "test", compared=False),
    FieldRule("planned_n_total", "sample_size", compared=False),
)
#: heterogeneity's modifiers and subgroups are compared name by name (:func:`_heterogeneity`): a name the plan does
#: not have is post-hoc, and touches only the analysis that uses it. Its folds, repetitions and seed are compared by
#: the generic rule, a null in the plan read as the tool's default (plans.DEFAULTS_STATED): the random splits are
#: part of the test, so another split is a major deviation.
_HETEROGENEITY = (
    FieldRule("effect_modifiers", "covariates", as_set=True, compared=False),
    FieldRule("subgroups", "test", as_set=True, compared=False),
)
OVERRIDES: dict[str, tuple[FieldRule, ...]] = {
    "ab_test": (*_AB, *_AB_SCHEDULE),
    "diff_in_diff": _DID,
    "propensity": _PROPENSITY,
    "rdd": _RDD,
    "heterogeneity": _HETEROGENEITY,
}


def comparison(method: str, plan: type[PlanBase]) -> tuple[FieldRule, ...]:
    """The rule of every field of a plan model, in its order (the method's override, or the generic rule)."""
    overrides = {rule.field: rule for rule in OVERRIDES.get(method, ())}
    rules = [overrides.get(name) or generic_rule(name) for name in plan.model_fields if name != "method"]
    request = plan.request.model_fields
    return tuple(
        replace(rule, default=request[rule.field].default) if rule.default_when_unstated else rule for rule in rules
    )


#: The request-level comparison table of every plan tool (derived: see :data:`OVERRIDES`).
COMPARISONS: dict[str, tuple[FieldRule, ...]] = {method: comparison(method, plan) for method, plan in PLANS.items()}
#: Per-metric comparison for ab_test (metrics matched by name).
METRIC_COMPARISONS: tuple[FieldRule, ...] = (
    FieldRule("column", "metric", unstated_if_none=False),
    FieldRule("kind", "test"),
    FieldRule("denominator_column", "metric", unstated_if_none=False),
    FieldRule("role", "metric"),
    FieldRule("direction", "metric"),
    FieldRule("covariate_column", "covariates", unstated_if_none=False),
    FieldRule("non_inferiority_margin", "metric", unstated_if_none=False),
    FieldRule("covariates", "covariates", as_set=True, unstated_if_none=False),  # null: no regression adjustment
    FieldRule("covariate_denominator_column", "covariates", unstated_if_none=False),
    FieldRule("quantile", "metric", unstated_if_none=False),
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Execution(_Model):
    """What ran: the tool, its full request (defaults filled in), its result, and what is known about the data."""

    method: str
    request: dict[str, Any]
    result: dict[str, Any] | None = None
    dataset_sha256: str | None = None
    population_filter: str | None = None


class Deviation(_Model):
    category: Category
    field: str
    planned: str
    executed: str
    severity: Severity
    metric: str | None = None  # None: touches every analysis
    detail: str


class AnalysisLabel(_Model):
    metric: str
    arm: str | None
    role: str | None
    label: Literal["confirmatory", "exploratory"]
    reasons: tuple[str, ...]
    subgroup: str | None = None  # heterogeneity: the subgroup column compared (written only when there is one)

    @model_serializer(mode="wrap")
    def _written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("subgroup") is None:
            data.pop("subgroup", None)
        return data


class DeviationReport(_Model):
    plan_hash: str | None
    method: str
    status: Literal["pass", "warn", "fail"]
    deviations: tuple[Deviation, ...]
    analyses: tuple[AnalysisLabel, ...]
    notes: tuple[str, ...]
    summary: str


def check_deviations(document: PlanDocument, execution: Execution) -> DeviationReport:
    """Every deviation of ``execution`` from the plan in ``document``, and a label per analysis."""
    plan = document.prereg.plan
    analysis = plan.analysis
    deviations: list[Deviation] = []
    notes: list[str] = []
    if document.freeze is None:
        notes.append("The plan is a draft (not frozen): nothing here is confirmatory until a plan is frozen.")
    secondary = execution.method in SECONDARY_TOOLS
    if secondary:
        deviations += _secondary(plan, execution)
    elif analysis is None:
        deviations.append(
            _dev("method", "method", UNSTATED, execution.method, "major", None, "No analysis was planned.")
        )
    elif analysis.method != execution.method:
        deviations.append(
            _dev(
                "method",
                "method",
                analysis.method,
                execution.method,
                "major",
                None,
                f"The plan specified {analysis.method}, but {execution.method} ran.",
            )
        )
    else:
        planned = analysis.model_dump(mode="json")
        if analysis.method == "ab_test" and planned.get("alpha") is None and document.prereg.power is not None:
            planned["alpha"] = document.prereg.power.alpha  # the level the sample size was computed for
        rules = COMPARISONS[analysis.method]  # every plan tool has its table
        deviations += _compare(rules, planned, execution.request, None)
        if analysis.method == "ab_test":
            deviations += _compare_metrics(planned.get("metrics") or [], execution.request.get("metrics") or [])
    if execution.method == "ab_test":
        deviations += _schedule(document, execution)
    deviations += _population(document, execution, notes)
    if not secondary:
        deviations += _sample_size(document, execution, notes)
    elif _planned_units(document) is not None:
        notes.append(
            f"{execution.method} is a secondary analysis: the planned sample size is the primary analysis's to check."
        )
    analyses = _labels(document, execution, deviations)
    status: Literal["pass", "warn", "fail"] = (
        "fail" if any(d.severity == "major" for d in deviations) else "warn" if deviations else "pass"
    )
    n_conf = sum(a.label == "confirmatory" for a in analyses)
    summary = (
        f"{len(deviations)} deviation(s) from the plan "
        f"({sum(d.severity == 'major' for d in deviations)} major); "
        f"{n_conf} of {len(analyses)} analyses confirmatory, {len(analyses) - n_conf} exploratory."
    )
    return DeviationReport(
        plan_hash=document.freeze.content_hash if document.freeze else None,
        method=execution.method,
        status=status,
        deviations=tuple(deviations),
        analyses=analyses,
        notes=tuple(notes),
        summary=summary,
    )


# -- field comparison ----------------------------------------------------------------------------------------------


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return ", ".join(_show(v) for v in value) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_show(v)}" for k, v in value.items())
    return str(value)


def _normal(value: Any, as_set: bool) -> Any:
    if isinstance(value, list):
        if value and all(isinstance(v, Mapping) and set(v) == {"arm", "share"} for v in value):
            total = sum(float(v["share"]) for v in value)
            return tuple(sorted((str(v["arm"]), round(float(v["share"]) / total, 9)) for v in value))
        items = tuple(_normal(v, False) for v in value)
        return tuple(sorted(items, key=repr)) if as_set else items
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _equal(planned: Any, executed: Any, as_set: bool) -> bool:
    a, b = _normal(planned, as_set), _normal(executed, as_set)
    if as_set and a in ((), None) and b in ((), None):  # an empty list and null both mean "none"
        return True
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def _dev(
    category: Category, field: str, planned: Any, executed: Any, severity: Severity, metric: str | None, detail: str
) -> Deviation:
    return Deviation(
        category=category,
        field=field,
        planned=planned if planned is UNSTATED else _show(planned),
        executed=_show(executed),
        severity=severity,
        metric=metric,
        detail=detail,
    )


def _compare(
    rules: tuple[FieldRule, ...], planned: Mapping[str, Any], executed: Mapping[str, Any], metric: str | None
) -> list[Deviation]:
    found = []
    where = f" for {metric}" if metric else ""
    for rule in rules:
        if not rule.compared:
            continue
        plan_value, run_value = planned.get(rule.field), executed.get(rule.field)
        if rule.default_when_unstated:  # a null on either side is the tool's default
            plan_value = rule.default if plan_value is None else plan_value
            run_value = rule.default if run_value is None else run_value
        if plan_value is None and rule.unstated_if_none:
            if run_value is not None and rule.note_unstated:
                found.append(
                    _dev(
                        rule.category,
                        rule.field,
                        UNSTATED,
                        run_value,
                        "minor",
                        metric,
                        f"{rule.field}{where} was not stated in the plan; the analysis used {_show(run_value)}.",
                    )
                )
            continue
        if not _equal(plan_value, run_value, rule.as_set):
            found.append(
                _dev(
                    rule.category,
                    rule.field,
                    plan_value,
                    run_value,
                    rule.severity,
                    metric,
                    f"{rule.field}{where}: planned {_show(plan_value)}, analysed with {_show(run_value)}.",
                )
            )
    return found


def _compare_metrics(planned: list[dict[str, Any]], executed: list[dict[str, Any]]) -> list[Deviation]:
    found = []
    ran = {m["name"]: m for m in executed}
    for plan_metric in planned:
        name = plan_metric["name"]
        if name not in ran:
            found.append(
                _dev(
                    "metric",
                    "metrics",
                    name,
                    None,
                    "major",
                    name,
                    f"The planned {plan_metric['role']} metric '{name}' was not analysed.",
                )
            )
            continue
        run_metric = dict(ran[name])
        plan_metric = dict(plan_metric)
        for side in (plan_metric, run_metric):
            side["column"] = side.get("column") or name
        found += _compare(METRIC_COMPARISONS, plan_metric, run_metric, name)
    planned_names = {m["name"] for m in planned}
    for name, run_metric in ran.items():
        if name not in planned_names:
            found.append(
                _dev(
                    "metric",
                    "metrics",
                    None,
                    name,
                    "minor",
                    name,
                    f"'{name}' ({run_metric.get('role', 'primary')}) was not in the plan: it is exploratory.",
                )
            )
    return found


# -- secondary analyses --------------------------------------------------------------------------------------------


def _secondary(plan: StudyPlan, execution: Execution) -> list[Deviation]:
    """A secondary analysis against the plan's analysis by the same tool (primary or secondary): field by field, and
    the tool's own name-by-name comparison. None planned: one major deviation, the analysis is post-hoc."""
    method = execution.method
    planned = plan.planned(method)
    if planned is None:
        detail = (
            f"No {method} analysis was planned: this one is post-hoc, so each of its results is exploratory "
            "(the planned primary analysis is unaffected)."
        )
        return [_dev("method", "method", UNSTATED, method, "major", None, detail)]
    stated = with_defaults(planned)  # null splits and assignment: the defaults the plan's words state
    found = _compare(COMPARISONS[method], stated, execution.request, None)
    if method == "heterogeneity":
        found += _heterogeneity(stated, execution.request)
    return found


def _names(columns: list[str]) -> str:
    return ", ".join(f"'{c}'" for c in columns)


def _heterogeneity(planned: Mapping[str, Any], executed: Mapping[str, Any]) -> list[Deviation]:
    """heterogeneity's modifiers and subgroups, name by name. A modifier added or left out changes the heterogeneity
    test (major); a subgroup column not in the plan is post-hoc (minor: the planned ones are not touched); a planned
    subgroup column not analysed is major, and touches every subgroup (Holm's family is smaller than planned)."""
    found = []
    plan_modifiers = list(planned.get("effect_modifiers") or [])
    run_modifiers = list(executed.get("effect_modifiers") or [])
    if added := [m for m in run_modifiers if m not in plan_modifiers]:
        detail = (
            f"Effect modifiers not in the plan: {_names(added)}; the heterogeneity test, GATES and CLAN with them are "
            "post-hoc (exploratory)."
        )
        found.append(_dev("covariates", "effect_modifiers", plan_modifiers, run_modifiers, "major", None, detail))
    if dropped := [m for m in plan_modifiers if m not in run_modifiers]:
        detail = (
            f"Planned effect modifiers left out: {_names(dropped)}; the heterogeneity test, GATES and CLAN ran on "
            "other modifiers than planned."
        )
        found.append(_dev("covariates", "effect_modifiers", plan_modifiers, run_modifiers, "major", None, detail))
    plan_groups = list(planned.get("subgroups") or [])
    run_groups = list(executed.get("subgroups") or [])
    for column in run_groups:
        if column not in plan_groups:
            detail = f"Subgroup '{column}' was not pre-specified in the plan: its comparison is post-hoc (exploratory)."
            found.append(_dev("test", "subgroups", plan_groups, column, "minor", None, detail))
    for column in plan_groups:
        if column not in run_groups:
            detail = (
                f"The pre-specified subgroup '{column}' was not analysed, so the Holm adjustment of the others covers "
                "fewer comparisons than planned."
            )
            found.append(_dev("test", "subgroups", column, run_groups, "major", None, detail))
    return found


# -- population and sample size ------------------------------------------------------------------------------------


def _squash(text: str) -> str:
    return " ".join(text.casefold().split())


def _population(document: PlanDocument, execution: Execution, notes: list[str]) -> list[Deviation]:
    plan = document.prereg.plan
    found = []
    if plan.population_filter and execution.population_filter is None:
        notes.append(f"The run does not state its population filter; the plan's is: {plan.population_filter}")
    elif execution.population_filter is not None and (
        plan.population_filter is None or _squash(plan.population_filter) != _squash(execution.population_filter)
    ):
        found.append(
            _dev(
                "population",
                "population_filter",
                plan.population_filter,
                execution.population_filter,
                "major",
                None,
                "The analysed population differs from the planned one.",
            )
        )
    hashed = plan.analysis or next(iter(plan.secondary_analyses), None)  # the data whose hash the plan holds
    same_data = execution.method not in SECONDARY_TOOLS or execution.request.get("dataset") == getattr(
        hashed, "dataset", None
    )  # a secondary analysis of other data is not "the data changed"
    if (
        same_data
        and plan.dataset_sha256
        and execution.dataset_sha256
        and plan.dataset_sha256 != execution.dataset_sha256
    ):
        found.append(
            _dev(
                "population",
                "dataset_sha256",
                plan.dataset_sha256[:12],
                execution.dataset_sha256[:12],
                "major",
                None,
                "The data changed after the plan was frozen (content hashes differ).",
            )
        )
    return found


def _planned_schedule(document: PlanDocument) -> tuple[int, str] | None:
    """The planned looks and spending: the analysis plan's own, else the power design's; None for a fixed horizon."""
    analysis = document.prereg.plan.analysis
    stated = getattr(analysis, "sequential", None) if analysis is not None else None
    if stated is not None:
        return int(stated.looks), str(stated.spending)
    power = document.prereg.power
    if power is not None and power.sequential is not None:
        return power.sequential.looks, power.sequential.spending
    return None


def _schedule(document: PlanDocument, execution: Execution) -> list[Deviation]:
    """An interim analysis against the planned look schedule: a fixed-horizon analysis of a sequential plan, a
    look the plan does not have, another number of looks or another spending function are major deviations; an
    interim look of a plan with none, and always-valid monitoring in place of the planned schedule, too."""
    planned = _planned_schedule(document)
    run = execution.request.get("sequential")
    monitoring = execution.request.get("monitoring") or "fixed"
    found: list[Deviation] = []
    if planned is None:
        if run is not None:
            detail = (
                f"The plan has a fixed horizon, but look {run.get('look')} of {run.get('looks')} was analysed as an "
                "interim look: the look schedule was not pre-specified."
            )
            found.append(_dev("test", "sequential", "fixed horizon", _looks_text(run), "major", None, detail))
        return found
    looks, spending = planned
    want = f"{looks} looks, {spending} spending"
    if run is None:
        how = "always-valid monitoring" if monitoring == "always_valid" else "a fixed-horizon test"
        detail = (
            f"The plan is sequential ({want}), but the analysis ran as {how}: its interval and p-value do not "
            "hold the planned error rate at this look."
        )
        found.append(_dev("test", "sequential", want, how, "major", None, detail))
        return found
    if int(run.get("looks") or 0) != looks:
        detail = f"The plan has {looks} looks; the analysis used a schedule of {run.get('looks')}."
        found.append(_dev("test", "sequential.looks", looks, run.get("looks"), "major", None, detail))
    if run.get("spending") != spending:
        detail = f"The plan spends alpha by {spending}; the analysis used {run.get('spending')}."
        found.append(_dev("test", "sequential.spending", spending, run.get("spending"), "major", None, detail))
    look = int(run.get("look") or 0)
    if not 1 <= look <= looks:
        detail = f"Look {look} is not one of the plan's {looks} looks."
        found.append(_dev("test", "sequential.look", f"1 to {looks}", look, "major", None, detail))
    return found


def _looks_text(run: Mapping[str, Any]) -> str:
    return f"look {run.get('look')} of {run.get('looks')} ({run.get('spending')})"


def _planned_units(document: PlanDocument) -> tuple[int, str] | None:
    power = document.prereg.power
    if power is None:
        return None
    if power.clusters_per_arm is not None:
        treated = math.ceil(power.clusters_per_arm * power.allocation_ratio)
        return power.clusters_per_arm + (power.arms - 1) * treated, "clusters"
    return power.n_total, "units"


def _sample_size(document: PlanDocument, execution: Execution, notes: list[str]) -> list[Deviation]:
    planned = _planned_units(document)
    reached = (execution.result or {}).get("n_obs")
    if planned is None or not isinstance(reached, int):
        if execution.result is not None:
            notes.append("No planned sample size from a power calculation to compare with the units analysed.")
        return []
    target, what = planned
    sequential = document.prereg.plan.stopping == "sequential" or _planned_schedule(document) is not None
    if reached < target:
        major = reached < SHORTFALL * target and not sequential
        detail = f"{reached:,} of the planned {target:,} {what} were analysed" + (
            ": an interim look, so a fixed-horizon conclusion is not supported." if major else "."
        )
        return [_dev("sample_size", "n_obs", target, reached, "major" if major else "minor", None, detail)]
    if reached > OVERSHOOT * target:
        detail = f"{reached:,} {what} analysed against {target:,} planned: the experiment ran past its stopping point."
        return [_dev("sample_size", "n_obs", target, reached, "minor", None, detail)]
    return []


# -- labels --------------------------------------------------------------------------------------------------------


def _labels(document: PlanDocument, execution: Execution, deviations: list[Deviation]) -> tuple[AnalysisLabel, ...]:
    draft = ("the plan is not frozen",) if document.freeze is None else ()
    if execution.method == "heterogeneity":
        return _heterogeneity_labels(draft, execution, deviations)
    common = [d.detail for d in deviations if d.severity == "major" and d.metric is None]
    rows: list[tuple[str, str | None, str | None]] = []
    result = execution.result or {}
    if execution.method == "ab_test":
        comparisons = result.get("comparisons")
        if comparisons:
            rows = [(c["metric"], c.get("arm"), c.get("role")) for c in comparisons]
        else:
            rows = [(m["name"], None, m.get("role")) for m in execution.request.get("metrics") or []]
    else:
        rows = [(str(execution.request.get("outcome") or "outcome"), None, "primary")]
    labels = []
    for metric, arm, role in rows:
        reasons = [*draft, *common]
        reasons += [
            d.detail for d in deviations if d.metric == metric and (d.severity == "major" or d.field == "metrics")
        ]
        labels.append(
            AnalysisLabel(
                metric=metric,
                arm=arm,
                role=role,
                label="exploratory" if reasons else "confirmatory",
                reasons=tuple(reasons),
            )
        )
    return tuple(labels)


def _label(metric: str, role: str, reasons: list[str], subgroup: str | None = None) -> AnalysisLabel:
    return AnalysisLabel(
        metric=metric,
        arm=None,
        role=role,
        label="exploratory" if reasons else "confirmatory",
        reasons=tuple(reasons),
        subgroup=subgroup,
    )


def _heterogeneity_labels(
    draft: tuple[str, ...], execution: Execution, deviations: list[Deviation]
) -> tuple[AnalysisLabel, ...]:
    """The heterogeneity test (BLP, GATES, CLAN), then each subgroup column analysed, all secondary. A major deviation
    of the run touches all of them; a modifier's only the test; a subgroup's only its own row (a planned subgroup not
    analysed: every subgroup row, as Holm's family changed)."""
    own = ("effect_modifiers", "subgroups")
    common = [d.detail for d in deviations if d.severity == "major" and d.metric is None and d.field not in own]
    outcome = str(execution.request.get("outcome") or "outcome")
    modifiers = [d.detail for d in deviations if d.field == "effect_modifiers" and d.severity == "major"]
    labels = [_label(outcome, "secondary", [*draft, *common, *modifiers])]
    missing = [d.detail for d in deviations if d.field == "subgroups" and d.severity == "major"]
    for column in execution.request.get("subgroups") or []:
        posthoc = [
            d.detail for d in deviations if d.field == "subgroups" and d.severity == "minor" and d.executed == column
        ]
        labels.append(_label(outcome, "secondary", [*draft, *common, *posthoc, *missing], subgroup=str(column)))
    return tuple(labels)
