"""Heterogeneity in the pre-registration: a secondary analysis beside the primary one.

Its plan states CDDF's test over repeated splits, GATES, CLAN, the effect modifiers and the pre-specified subgroups
by name; the plan check labels the heterogeneity test and each subgroup column, post-hoc ones exploratory; a session
that runs heterogeneity after an A/B test plans it beside the A/B test, not in its place. The heterogeneity tool runs
for real on the bundled onboarding_tour example."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from assistant.agent.brief import Brief
from assistant.agent.conversation import Conversation
from assistant.agent.guided import GuidedBackend
from assistant.prereg import (
    PLANS,
    SECONDARY_TOOLS,
    DeviationReport,
    Execution,
    PlanDocument,
    StudyPlan,
    assemble,
    check_deviations,
    freeze,
    render,
    session_facts,
)
from assistant.prereg.session_plan import draft, freeze_plan
from assistant.prereg.tool import PreregState
from tools.data import Catalog
from tools.registry import dispatch, get_tool, parse_request

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "examples" / "data" / "onboarding_uplift.csv"
MODIFIERS = ["tenure_months", "plan", "weekly_sessions_pre", "region"]
HETEROGENEITY = {"dataset": "onboarding_tour", "outcome": "minutes_active_28d", "treatment": "tour",
                 "effect_modifiers": MODIFIERS, "subgroups": ["plan"]}  # fmt: skip
AB_TEST = {"dataset": "onboarding_tour", "arm_column": "tour", "control": "0", "alternative": "two-sided",
           "correction": "holm", "metrics": [{"name": "minutes_active_28d", "kind": "continuous"}]}  # fmt: skip
FIXED = "2026-01-05T09:00:00Z"


def catalog() -> Catalog:
    data = Catalog()
    data.add(DATA, "onboarding_tour")
    return data


def full(request: dict[str, Any]) -> dict[str, Any]:
    """The heterogeneity request as it runs: validated, every default filled in."""
    return parse_request(get_tool("heterogeneity"), request).model_dump(mode="json")


def planned(secondary: dict[str, Any] | None) -> PlanDocument:
    """A frozen plan: the A/B test as the primary analysis and (unless None) heterogeneity beside it."""
    Heterogeneity, AbTest = PLANS["heterogeneity"], PLANS["ab_test"]
    plan = StudyPlan(
        analysis=AbTest.model_validate(AB_TEST),
        secondary_analyses=() if secondary is None else (Heterogeneity.model_validate(secondary),),
    )
    return freeze(assemble(Brief(), plan), software={})


def check(document: PlanDocument, request: dict[str, Any], result: dict[str, Any] | None = None) -> DeviationReport:
    return check_deviations(document, Execution(method="heterogeneity", request=full(request), result=result))


def labels(report: DeviationReport) -> list[tuple[str | None, str]]:
    """(subgroup column, label) per analysis: None is the heterogeneity test itself."""
    return [(a.subgroup, a.label) for a in report.analyses]


@pytest.fixture(scope="module")
def ran() -> dict[str, Any]:
    outcome = dispatch("heterogeneity", HETEROGENEITY, catalog())
    assert not isinstance(outcome, Exception), outcome
    return outcome.model_dump(mode="json")


# -- the plan's words ----------------------------------------------------------------------------------------------


def test_heterogeneity_is_the_secondary_plan_tool() -> None:
    assert SECONDARY_TOOLS == ("heterogeneity",)
    with pytest.raises(ValidationError, match="primary analysis"):
        StudyPlan(secondary_analyses=(PLANS["ab_test"](),))
    with pytest.raises(ValidationError, match="at most one"):
        StudyPlan(secondary_analyses=(PLANS["heterogeneity"](), PLANS["heterogeneity"](seed=1)))


def test_the_method_item_states_the_primary_analysis_then_the_heterogeneity_plan_by_name() -> None:
    document = planned(HETEROGENEITY)
    method = document.prereg.item("method")
    assert method.status == "complete" and document.prereg.method == "ab_test"
    lines = (method.value or "").splitlines()
    assert lines[0] == "ab_test on dataset 'onboarding_tour', arms in 'tour': Welch t-test for continuous metrics."
    secondary = lines[lines.index(next(x for x in lines if x.startswith("Secondary analysis"))) :]
    assert secondary == [
        "Secondary analysis (beside the primary one, which it does not replace) — heterogeneity: for whom the effect "
        "of 'tour' on 'minutes_active_28d' differs in dataset 'onboarding_tour'; randomized (assignment probability: "
        "the observed share).",
        "Effect modifiers: 'tenure_months', 'plan', 'weekly_sessions_pre', 'region'. Nuisance models adjust for the "
        "effect modifiers.",
        "Method: DR-learner predictions of each unit's effect, cross-fitted in 5 folds. The heterogeneity test is the "
        "BLP loading on the predicted effect, the median over 10 random sample splits (Chernozhukov, Demirer, Duflo & "
        "Fernández-Val 2018/2023), seed 0; GATES by fifths of the predicted effect; CLAN (most versus least affected "
        "fifth, per modifier).",
        "Pre-specified subgroups: 'plan', each level's effect with Holm-adjusted p-values (over every level of every "
        "subgroup column) and a test of equal effects per column; any other subgroup is exploratory.",
        "Targeting (treating only the units with the largest predicted effects) is recommended only when "
        "heterogeneity is found (a positive, significant BLP loading) and its gain over treating everyone is "
        "significant.",
        "Not stated, so the tool's defaults as given above: randomized, folds, repetitions, seed; a run with other "
        "values departs from this plan.",
    ]
    alpha = document.prereg.item("alpha_correction")
    assert alpha.value is not None and alpha.value.splitlines()[-1] == (
        "Heterogeneity (secondary): level not stated (tool default 0.05); the levels of the pre-specified subgroups "
        "('plan') are tested together with Holm's step-down adjustment (family-wise error over every level)."
    )
    assert alpha.source.endswith("; plan.secondary_analyses")


def test_stated_settings_replace_the_defaults_and_an_observational_plan_says_so() -> None:
    stated = {**HETEROGENEITY, "randomized": False, "covariates": ["tenure_months", "plan"], "folds": 4,
              "repetitions": 20, "seed": 7, "subgroups": None}  # fmt: skip
    value = planned(stated).prereg.item("method").value or ""
    assert "differs in dataset 'onboarding_tour'; observational: a cross-fitted propensity model." in value
    assert "Nuisance models adjust for 'tenure_months', 'plan'." in value
    assert "cross-fitted in 4 folds" in value and "median over 20 random sample splits" in value
    assert "seed 7;" in value and "Not stated" not in value
    assert "Pre-specified subgroups: none; any subgroup comparison is exploratory." in value


def test_a_heterogeneity_plan_alone_does_not_answer_which_analysis_answers_the_question() -> None:
    prereg = assemble(Brief(), StudyPlan(secondary_analyses=(PLANS["heterogeneity"].model_validate(HETEROGENEITY),)))
    method = prereg.item("method")
    assert prereg.method is None and method.status == "missing"
    assert (method.value or "").startswith("Secondary analysis (beside the primary one")
    unnamed = assemble(Brief(), StudyPlan(secondary_analyses=(PLANS["heterogeneity"](outcome="y", treatment="t"),)))
    assert unnamed.item("method").value == (
        "Secondary analysis: heterogeneity of 't' on 'y' (outcome, treatment or effect modifiers not yet named)."
    )


def test_the_document_renders_and_round_trips_with_its_secondary_analysis() -> None:
    document = planned(HETEROGENEITY)
    markdown = render(document, "md")
    assert "> Planned analysis: ab_test.\n>\n> Secondary analyses (beside the primary one, not in its place): " \
        "heterogeneity.\n" in markdown  # fmt: skip
    assert "Effect modifiers: 'tenure_months', 'plan', 'weekly_sessions_pre', 'region'." in markdown
    assert "Secondary analyses (beside the primary one, not in its place): heterogeneity.</p>" in render(
        document, "html"
    )
    text = render(document, "json")
    stored = json.loads(text)["prereg"]["plan"]["secondary_analyses"]
    assert stored == [{"method": "heterogeneity", **HETEROGENEITY}]  # its nulls left out
    assert PlanDocument.model_validate_json(text) == document
    without = planned(None)  # a plan with no secondary analysis writes no key (documents frozen before keep their hash)
    assert "secondary_analyses" not in json.loads(render(without, "json"))["prereg"]["plan"]
    assert "Secondary analyses" not in render(without, "md")


def test_write_prereg_puts_heterogeneity_beside_the_planned_analysis_and_replaces_only_its_own_plan() -> None:
    state = PreregState()
    for tool, request in (("ab_test", AB_TEST), ("heterogeneity", HETEROGENEITY)):
        state.write(Brief(), json.dumps({"analysis_tool": tool, "analysis_request": json.dumps(request),
                                         "freeze": False}))  # fmt: skip
    again = {**HETEROGENEITY, "subgroups": ["plan", "region"]}
    outcome = state.write(
        Brief(), json.dumps({"analysis_tool": "heterogeneity", "analysis_request": json.dumps(again), "freeze": False})
    )
    assert state.plan.analysis is not None and state.plan.analysis.method == "ab_test"
    assert [a.subgroups for a in state.plan.secondary_analyses] == [("plan", "region")]
    assert outcome["summary"].endswith(" Secondary analyses: heterogeneity.")


# -- the plan check ------------------------------------------------------------------------------------------------


def test_the_run_as_planned_is_confirmatory_for_the_test_and_the_planned_subgroup(ran: dict[str, Any]) -> None:
    report = check(planned(full(HETEROGENEITY)), HETEROGENEITY, ran)
    assert report.deviations == () and report.status == "pass" and report.method == "heterogeneity"
    assert labels(report) == [(None, "confirmatory"), ("plan", "confirmatory")]
    assert {(a.metric, a.role) for a in report.analyses} == {("minutes_active_28d", "secondary")}
    assert "subgroup" not in report.model_dump(mode="json")["analyses"][0]  # written only for a subgroup row
    assert DeviationReport.model_validate(report.model_dump(mode="json")) == report
    assert report.summary == "0 deviation(s) from the plan (0 major); 2 of 2 analyses confirmatory, 0 exploratory."


def test_a_plan_that_leaves_the_splits_open_means_the_tools_defaults() -> None:
    document = planned(HETEROGENEITY)  # folds, repetitions, seed, randomized, alpha not stated
    report = check(document, HETEROGENEITY)
    assert [(d.field, d.severity, d.planned) for d in report.deviations] == [("alpha", "minor", "not stated")]
    assert labels(report) == [(None, "confirmatory"), ("plan", "confirmatory")]
    for field, value in (("folds", 4), ("repetitions", 5), ("seed", 1), ("randomized", False)):
        other = check(document, {**HETEROGENEITY, field: value})
        changed = [d for d in other.deviations if d.field == field]
        assert [(d.category, d.severity, d.executed) for d in changed] == [("test", "major", str(value))], field
        assert labels(other) == [(None, "exploratory"), ("plan", "exploratory")], field  # another split: all of it


def test_a_subgroup_not_in_the_plan_is_post_hoc_and_the_planned_one_stays_confirmatory() -> None:
    report = check(planned(full(HETEROGENEITY)), {**HETEROGENEITY, "subgroups": ["plan", "region"]})
    assert [(d.field, d.severity, d.planned, d.executed) for d in report.deviations] == [
        ("subgroups", "minor", "plan", "region")
    ]
    assert report.status == "warn"
    assert labels(report) == [(None, "confirmatory"), ("plan", "confirmatory"), ("region", "exploratory")]
    assert report.analyses[2].reasons == (
        "Subgroup 'region' was not pre-specified in the plan: its comparison is post-hoc (exploratory).",
    )
    unplanned = check(planned(full({**HETEROGENEITY, "subgroups": None})), HETEROGENEITY)
    assert labels(unplanned) == [(None, "confirmatory"), ("plan", "exploratory")]


def test_a_planned_subgroup_left_out_touches_every_subgroup_holm_family() -> None:
    report = check(planned(full({**HETEROGENEITY, "subgroups": ["plan", "region"]})), HETEROGENEITY)
    assert [(d.field, d.severity, d.planned) for d in report.deviations] == [("subgroups", "major", "region")]
    assert labels(report) == [(None, "confirmatory"), ("plan", "exploratory")]
    assert "Holm adjustment of the others covers fewer comparisons" in report.analyses[1].reasons[0]


def test_modifiers_not_in_the_plan_make_the_heterogeneity_test_post_hoc_and_fewer_are_a_deviation() -> None:
    three = full({**HETEROGENEITY, "effect_modifiers": MODIFIERS[:3]})
    added = check(planned(three), HETEROGENEITY)
    assert [(d.category, d.field, d.severity) for d in added.deviations] == [
        ("covariates", "effect_modifiers", "major")
    ]
    assert added.deviations[0].detail.startswith("Effect modifiers not in the plan: 'region';")
    assert labels(added) == [(None, "exploratory"), ("plan", "confirmatory")]
    assert "post-hoc (exploratory)" in added.analyses[0].reasons[0]
    fewer = check(planned(full(HETEROGENEITY)), {**HETEROGENEITY, "effect_modifiers": MODIFIERS[:3]})
    assert [(d.field, d.severity, d.planned, d.executed) for d in fewer.deviations] == [
        ("effect_modifiers", "major", ", ".join(MODIFIERS), ", ".join(MODIFIERS[:3]))
    ]
    assert fewer.deviations[0].detail.startswith("Planned effect modifiers left out: 'region';")
    assert labels(fewer) == [(None, "exploratory"), ("plan", "confirmatory")] and fewer.status == "fail"
    reordered = check(planned(full(HETEROGENEITY)), {**HETEROGENEITY, "effect_modifiers": MODIFIERS[::-1]})
    assert reordered.deviations == ()  # a set of names: the order is not a deviation


def test_heterogeneity_with_no_heterogeneity_in_the_plan_is_exploratory_not_a_replaced_primary() -> None:
    report = check(planned(None), HETEROGENEITY)
    assert [(d.category, d.field, d.planned, d.executed, d.severity) for d in report.deviations] == [
        ("method", "method", "not stated", "heterogeneity", "major")
    ]
    assert "post-hoc" in report.deviations[0].detail and "ab_test" not in report.deviations[0].detail
    assert labels(report) == [(None, "exploratory"), ("plan", "exploratory")]
    no_plan = check_deviations(
        freeze(assemble(Brief(), StudyPlan()), software={}),
        Execution(method="heterogeneity", request=full(HETEROGENEITY)),
    )
    assert [d.field for d in no_plan.deviations] == ["method"] and labels(no_plan)[0] == (None, "exploratory")


def test_the_data_hash_is_checked_for_a_secondary_analysis_of_the_planned_data_only() -> None:
    data = catalog()
    state = PreregState(plan=planned(HETEROGENEITY).prereg.plan)
    document = state.freeze(Brief(), data)
    assert document.prereg.plan.dataset_sha256 == data.get("onboarding_tour").sha256
    same = state.check("heterogeneity", full(HETEROGENEITY), {}, data)
    assert same is not None and not [d for d in same.deviations if d.field == "dataset_sha256"]
    changed = check_deviations(
        document,
        Execution(method="heterogeneity", request=full(HETEROGENEITY), dataset_sha256="0" * 64),
    )
    assert [d.field for d in changed.deviations if d.severity == "major"] == ["dataset_sha256"]
    elsewhere = check_deviations(
        document,
        Execution(method="heterogeneity", request=full({**HETEROGENEITY, "dataset": "other"}), dataset_sha256="0" * 64),
    )
    assert [d.field for d in elsewhere.deviations if d.severity == "major"] == ["dataset"]  # not "the data changed"


# -- the session's plan --------------------------------------------------------------------------------------------


def test_heterogeneity_after_an_ab_test_plans_it_beside_the_ab_test_and_is_checked_against_it() -> None:
    data = catalog()
    chat = Conversation(GuidedBackend(catalog=data), catalog=data)
    ignore = lambda event: None  # noqa: E731
    for tool, request in (("ab_test", AB_TEST), ("heterogeneity", HETEROGENEITY)):
        run = chat.run_tool(tool, request, ignore)
        assert run is not None and run.ok, run
    facts = session_facts(chat.runs, chat.catalog)
    assert facts.origins["analysis"] == "the ab_test run (its request)"
    assert facts.origins["secondary_analyses"] == "the heterogeneity run (its request)"
    document = draft(chat)
    plan = document.prereg.plan
    assert plan.analysis is not None and plan.analysis.method == "ab_test" and document.prereg.method == "ab_test"
    (secondary,) = plan.secondary_analyses
    assert secondary.stated() == {k: v for k, v in full(HETEROGENEITY).items() if v is not None}
    assert secondary.covariates is None  # null: the modifiers (not "none")
    method = document.prereg.item("method")
    assert method.status == "complete" and method.source.endswith(
        "from this session: the ab_test run (its request); the heterogeneity run (its request)"
    )
    assert "Effect modifiers: 'tenure_months', 'plan', 'weekly_sessions_pre', 'region'." in (method.value or "")
    assert "Not stated" not in (method.value or "")  # the session's run stated its splits
    assert document.prereg.item("data_status").source.endswith("the ab_test run and the attached dataset")
    freeze_plan(chat, anyway=True)
    again = chat.run_tool("heterogeneity", {**HETEROGENEITY, "subgroups": ["plan", "region"]}, ignore)
    assert again is not None and again.plan_check is not None
    assert labels(again.plan_check) == [(None, "confirmatory"), ("plan", "confirmatory"), ("region", "exploratory")]
    primary = chat.run_tool("ab_test", AB_TEST, ignore)
    assert primary is not None and primary.plan_check is not None
    assert primary.plan_check.deviations == () and [a.label for a in primary.plan_check.analyses] == ["confirmatory"]


def test_heterogeneity_alone_in_a_session_is_secondary_and_leaves_the_primary_analysis_open() -> None:
    data = catalog()
    chat = Conversation(GuidedBackend(catalog=data), catalog=data)
    run = chat.run_tool("heterogeneity", {**HETEROGENEITY, "repetitions": 2}, lambda event: None)
    assert run is not None and run.ok
    document = draft(chat)
    assert document.prereg.plan.analysis is None and [a.method for a in document.prereg.plan.secondary_analyses] == [
        "heterogeneity"
    ]
    assert document.prereg.item("method").status == "missing"
    assert document.prereg.item("data_status").source.endswith("the heterogeneity run and the attached dataset")


def test_tool_run_with_a_plan_runs_the_planned_secondary_analysis(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`whyscope tool run heterogeneity --plan FILE` (no --json) runs the heterogeneity the plan states beside its
    primary analysis, and checks it against that plan; a tool the plan has no analysis for names the primary one."""
    from assistant.cli import main

    path = tmp_path / "plan.json"
    path.write_text(planned(HETEROGENEITY).model_dump_json(), encoding="utf-8")
    data = f"onboarding_tour={DATA}"
    code = main(["tool", "run", "heterogeneity", "--data", data, "--plan", str(path)])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["effect_modifiers"] == MODIFIERS and result["subgroup_columns"] == ["plan"]
    check = result["plan_check"]
    assert check["method"] == "heterogeneity" and {a["label"] for a in check["analyses"]} == {"confirmatory"}
    assert [d["field"] for d in check["deviations"]] == ["alpha"]  # not stated in this plan: a minor note
    code = main(["tool", "run", "propensity", "--data", data, "--plan", str(path)])
    error = json.loads(capsys.readouterr().out)["error"]
    assert code != 0 and error["code"] == "plan_mismatch" and "ab_test" in error["message"]
