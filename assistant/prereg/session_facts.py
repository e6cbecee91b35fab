"""What a session's tool runs established for its pre-registration, each fact with where it came from.

A guided (or model-led) session settles much of the plan before anyone writes it: recommend_method was told how
units get the change; the analysis tool ran with a request naming the model, covariates, clustering and inference;
refute ran its checks; the analysed dataset has a name, a row count and a content hash in the catalog. Nothing here
is inferred beyond that: a fact is taken from a successful run's request or result, or from the catalog, and a
question the session never settled stays open. :func:`session_facts` reads the typed runs
(``Conversation.runs``, restored on resume), so a resumed session gives the same facts.

The facts fill only the study-plan fields the plan leaves null (see :func:`assistant.prereg.assemble.effective_plan`).

A run of a secondary tool (:data:`~assistant.prereg.plans.SECONDARY_TOOLS`: heterogeneity after an A/B test) is a
secondary analysis beside the primary one: it never replaces the analysis the session ran first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from assistant.prereg.plans import PLAN_TOOLS, PLANS, SECONDARY_TOOLS, PlanBase
from tools.data.names import display_name

__all__ = ["ANALYSED_ONLY", "SessionFacts", "assignment_words", "session_facts"]

RECOMMEND = "recommend_method"
REFUTE = "refute"
AA_TEST = "aa_test"
ASSIGN = "assign"
#: Request fields that hold data rather than settings: what was observed is not part of a plan.
ANALYSED_ONLY = ("summaries",)
#: The plan tools whose analysis is the primary one (the others are secondary).
PRIMARY_TOOLS = tuple(name for name in PLAN_TOOLS if name not in SECONDARY_TOOLS)
#: Tools whose null covariates mean something other than "none" (heterogeneity: the effect modifiers).
NULL_COVARIATES_KEPT = ("heterogeneity",)


@dataclass(frozen=True)
class SessionFacts:
    """Study-plan fields the session established (``fields``) and, for each, where it came from (``origins``)."""

    fields: Mapping[str, Any] = field(default_factory=dict)
    origins: Mapping[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.fields)


def _ok(runs: Sequence[Any], names: Sequence[str]) -> list[Any]:
    """The successful runs of the tools named, in order."""
    return [run for run in runs if run.name in names and run.ok and run.request is not None]


def _analysis(run: Any) -> PlanBase:
    """The plan of an analysis as it ran: every field of its validated request (the tool's defaults included, so a
    later run is compared with what this one did), null covariates read as none (the requests say "null for none")."""
    request = {k: v for k, v in run.request.model_dump(mode="json").items() if k not in ANALYSED_ONLY}
    model = PLANS[run.name]
    if (
        "covariates" in model.model_fields
        and request.get("covariates") is None
        and run.name not in NULL_COVARIATES_KEPT
    ):
        request["covariates"] = []
    return model.model_validate({**request, "method": run.name})


def _choices(description: str) -> dict[str, str]:
    """The choices a request field's description explains, ``'value' (words)``: recommend_method's own words."""
    return dict(re.findall(r"'([a-z_]+)' \(([^)]*)\)", description))


def assignment_words(request: Mapping[str, Any], method: str | None) -> str:
    """How units get the change, in words, from recommend_method's request (what the user answered) and the design
    it recommended first."""
    from tools.recommend import METHOD_NAMES, RecommendMethodRequest

    description = RecommendMethodRequest.model_fields["assignment"].description or ""
    assignment = request.get("assignment") or "unknown"
    lines = []
    if request.get("can_randomize") is True or assignment == "random":
        lines.append("Randomized: the team assigns the change to units at random.")
    elif assignment != "unknown":
        how = _choices(description).get(assignment, assignment.replace("_", " "))
        lines.append(f"Not randomized: {how} ('{assignment}').")
    elif request.get("can_randomize") is False:
        lines.append("Not randomized; how units got the change was not stated.")
    yes_no = {True: "yes", False: "no"}
    for name, words in (
        ("interference", "One unit's treatment can affect another's outcome (interference)"),
        ("has_pre_period_data", "The outcome is measured for the same units before the change"),
        ("observed_confounders", "The reasons units took the change are measured in the data"),
    ):
        if isinstance(value := request.get(name), bool):
            lines.append(f"{words}: {yes_no[value]}.")
    counts = [
        f"{words} {request[name]:,}"
        for name, words in (("pre_periods", "pre-change periods"), ("treated_units", "treated units"),
                            ("control_units", "comparison units"))
        if isinstance(request.get(name), int)
    ]  # fmt: skip
    if counts:
        lines.append("As stated: " + ", ".join(counts) + ".")
    if method:
        lines.append(f"Design: {METHOD_NAMES.get(method, method)} (recommend_method's first choice).")
    return "\n".join(lines)


def _dataset_line(name: str, catalog: Any, *, sha256: bool) -> str:
    """The dataset's name, rows (and content hash) as the catalog holds them (the name only when it is gone)."""
    shown = f"dataset '{display_name(name)}'"
    if catalog is None or name not in catalog:
        return shown
    dataset = catalog.get(name, check_disk=False)
    return f"{shown}, {dataset.n_rows:,} rows" + (f", SHA-256 {dataset.sha256}" if sha256 else "")


def session_facts(runs: Sequence[Any], catalog: Any = None) -> SessionFacts:
    """The study-plan fields the session's runs established: ``analysis`` (the last successful run of a primary plan
    tool, as it ran), ``secondary_analyses`` (the last successful run of each secondary tool, beside it),
    ``assignment`` (recommend_method's request and first choice; the last assign run's plan entry, which redraws
    the randomisation), ``robustness_checks`` (the checks of the last
    refute run of that analysis), ``data_status`` and ``sample_size`` (the analysed dataset: the primary
    analysis's, else the secondary one's)."""
    fields: dict[str, Any] = {}
    origins: dict[str, str] = {}
    recommended = _ok(runs, (RECOMMEND,))
    if recommended:
        last = recommended[-1]
        top = next((r for r in last.outcome.recommendations if r.available), None)
        words = assignment_words(last.request.model_dump(mode="json"), top.method if top is not None else None)
        if words:
            fields["assignment"] = words
            origins["assignment"] = "your answers to recommend_method (its request) and its first choice"
    assigned = _ok(runs, (ASSIGN,))
    if assigned:  # the randomisation itself, exact enough to redraw it: it states how units got the change
        plan = assigned[-1].outcome.plan
        fields["assignment"] = "\n".join(filter(None, [fields.get("assignment"), plan.text]))
        origins["assignment"] = "; ".join(
            filter(None, [origins.get("assignment"), "the assign run of this session (its plan entry)"])
        )
    checked = _ok(runs, (AA_TEST,))
    if checked:
        fields["quality_checks"] = platform_check(checked[-1].outcome)
        origins["quality_checks"] = "the aa_test run of this session (the A/A check)"
    analyses = _ok(runs, PRIMARY_TOOLS)
    secondary = {run.name: run for run in _ok(runs, SECONDARY_TOOLS)}  # the last run of each secondary tool
    if not analyses and not secondary:
        return SessionFacts(fields, origins)
    if secondary:
        fields["secondary_analyses"] = tuple(_analysis(run) for run in secondary.values())
        origins["secondary_analyses"] = "; ".join(f"the {name} run (its request)" for name in secondary)
    if not analyses:  # the data facts come from the secondary analysis
        return _data_facts(list(secondary.values())[-1], catalog, fields, origins)
    run = analyses[-1]
    fields["analysis"] = _analysis(run)
    origins["analysis"] = f"the {run.name} run (its request)"
    refutes = [r for r in _ok(runs, (REFUTE,)) if r.request.target.tool == run.name]
    if refutes and refutes[-1].outcome.checks:
        checks = tuple(dict.fromkeys(check.name for check in refutes[-1].outcome.checks))
        fields["robustness_checks"] = checks
        origins["robustness_checks"] = f"the checks the refute run ran on the {run.name} analysis"
    return _data_facts(run, catalog, fields, origins)


def platform_check(result: Any) -> str:
    """The A/A check cited as the platform check: what was split, the verdict, and per metric the false-positive
    rate and SE ratio (per unit too when rows repeated a unit)."""

    def line(s: Any) -> str:
        rate = s.false_positive_rate
        per = f"per '{s.analysed_per}' unit" if s.analysed_per else "per row"
        return (
            f"'{s.metric}' {per}: {rate.rate:.1%} of splits significant (95% CI {rate.ci_lower:.1%} to "
            f"{rate.ci_upper:.1%}), SE ratio {s.se_ratio:.3g}"
        )

    parts = [line(s) for s in [*result.simulated, *result.by_unit]]
    observed = " and the observed A/A arms were analysed" if result.arm_column else ""
    fix = (
        f" Rows repeat '{result.repeated_unit}': the experiment is analysed with cluster_column="
        f"'{result.repeated_unit}'."
        if result.repeated_unit
        else ""
    )
    return (
        f"A/A check before the experiment (aa_test on '{result.dataset}'): {result.simulations:,} random splits at "
        f"alpha {result.alpha:g}{observed}; verdict {result.verdict}. " + "; ".join(parts) + "." + fix
    )


def _data_facts(run: Any, catalog: Any, fields: dict[str, Any], origins: dict[str, str]) -> SessionFacts:
    """``data_status`` and ``sample_size`` from the analysed dataset (the catalog's) and the run's result."""
    dataset = getattr(run.request, "dataset", None)
    if dataset:
        fields["data_status"] = (
            f"Yes: the data exist, and {run.name} analysed them in this session before this plan was frozen "
            f"({_dataset_line(dataset, catalog, sha256=True)}). Analyses checked against this plan are therefore "
            "not blind to the data."
        )
        origins["data_status"] = f"the {run.name} run and the attached dataset"
        n_obs = getattr(run.outcome, "n_obs", None)
        used = f"; the {run.name} analysis used {n_obs:,} observations" if isinstance(n_obs, int) else ""
        fields["sample_size"] = f"The data at hand: {_dataset_line(dataset, catalog, sha256=False)}{used}."
        origins["sample_size"] = f"the attached dataset and the {run.name} result"
    return SessionFacts(fields, origins)
