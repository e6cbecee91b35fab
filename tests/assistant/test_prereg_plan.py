"""Assembling the pre-registration: nothing invented, completeness on partial briefs, the per-method items, and
the write_prereg conversation tool (strict schema pinned)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import pytest

from assistant.agent.brief import Brief, OutcomeSlot, Slot, UpdateBriefRequest, apply_update
from assistant.agent.provenance import unverified_numbers
from assistant.prereg import StudyPlan, assemble, content_hash, freeze, verify
from assistant.prereg.assemble import SRM_THRESHOLD
from assistant.prereg.mapping import ITEMS
from assistant.prereg.models import DiffInDiffPlan, PropensityPlan, RddPlan
from assistant.prereg.tool import PreregState, parse_analysis
from assistant.schemas import write_prereg_schema
from tests.assistant.test_prereg_golden import GOLDEN, ROOT, example
from tools.ab_test import tool as ab_test_tool
from tools.errors import ToolError
from tools.registry import auto_battery

AI_BRIEF = json.loads((ROOT / "examples" / "briefs" / "ai_feature_ab.json").read_text(encoding="utf-8"))


def status(brief: Brief, plan: StudyPlan | None = None) -> dict[str, str]:
    return {i.key: i.status for i in assemble(brief, plan).items}


def test_an_empty_brief_is_all_missing_with_a_question_for_each_item() -> None:
    prereg = assemble(Brief())
    assert (prereg.completeness.complete, prereg.completeness.missing, prereg.completeness.applicable) == (0, 21, 21)
    for item in prereg.items:
        if item.status == "missing":
            assert item.question and "?" in item.question, item.key
            assert item.value is None or item.key in {"quality_checks", "duration_stopping"}, item.key


def test_proposed_slots_are_unconfirmed_until_the_user_confirms() -> None:
    proposed = apply_update(Brief(), UpdateBriefRequest(slot="unit", value="users", status="proposed"))
    assert status(proposed)["unit"] == "unconfirmed"
    confirmed = apply_update(proposed, UpdateBriefRequest(slot="unit", value="users", status="confirmed"))
    assert status(confirmed)["unit"] == "complete"
    prereg = assemble(proposed)
    assert prereg.completeness.unconfirmed == 1 and prereg.item("unit").question


def test_every_number_in_the_document_comes_from_the_brief_the_plan_or_the_power_tool() -> None:
    document = example("ai_feature_ab")
    prereg = document.prereg
    sources = [
        prereg.brief.model_dump(mode="json"),
        prereg.plan.model_dump(mode="json"),
        prereg.power.model_dump(mode="json") if prereg.power else {},
        {"srm_threshold": SRM_THRESHOLD},  # the ab_test tool's own constant, stated in the quality checks
    ]
    assert SRM_THRESHOLD == ab_test_tool.SRM_THRESHOLD
    for item in prereg.items:
        assert unverified_numbers(item.value or "", sources) == [], item.key


def test_an_invented_number_would_be_caught() -> None:  # the check above can fail
    prereg = example("ai_feature_ab").prereg
    assert unverified_numbers("power 0.91 with 12,345 units", [prereg.plan.model_dump(mode="json")])


def test_each_method_asks_for_its_own_settings() -> None:
    brief = Brief.model_validate(AI_BRIEF["brief"])
    did = status(brief, StudyPlan(analysis=DiffInDiffPlan(outcome="y", unit="region", time="month")))
    assert did["method"] == "missing"  # no estimator yet
    assert did["covariates"] == "missing" and did["inference"] == "complete"  # clustered by the unit
    did_done = status(
        brief, StudyPlan(analysis=DiffInDiffPlan(outcome="y", unit="r", time="t", estimator="twfe", covariates=()))
    )
    assert did_done["method"] == "complete" and did_done["covariates"] == "complete"
    propensity = status(
        brief, StudyPlan(analysis=PropensityPlan(outcome="y", treatment="t", methods=("ipw",), covariates=()))
    )
    assert propensity["covariates"] == "missing" and propensity["primary_metric"] == "missing"  # no estimand
    rdd = status(brief, StudyPlan(analysis=RddPlan(outcome="y", running="score", cutoff=50.0, covariates=())))
    assert rdd["method"] == "complete" and rdd["quality_checks"] == "complete"


def test_guardrails_not_in_the_analysis_plan_are_missing() -> None:
    brief = Brief.model_validate(AI_BRIEF["brief"])
    plan = StudyPlan.model_validate(AI_BRIEF["plan"])
    metrics = tuple(m for m in plan.analysis.metrics if m.role != "guardrail")  # type: ignore[union-attr]
    trimmed = plan.model_copy(update={"analysis": plan.analysis.model_copy(update={"metrics": metrics})})  # type: ignore[union-attr]
    item = assemble(brief, trimmed).item("guardrails")
    assert item.status == "missing" and "refund requests: not yet in the analysis plan" in (item.value or "")


def test_the_hash_covers_the_content_only_and_detects_edits() -> None:
    prereg = example("ai_feature_ab").prereg
    first = freeze(prereg, clock=lambda: datetime(2026, 1, 1, tzinfo=UTC), software={})
    second = freeze(prereg, clock=lambda: datetime(2027, 6, 1, 12, tzinfo=UTC), software={"numpy": "9"})
    assert first.freeze and second.freeze and first.freeze.content_hash == second.freeze.content_hash
    assert first.freeze.frozen_at == "2026-01-01T00:00:00Z"
    edited = first.model_copy(update={"prereg": prereg.model_copy(update={"title": "Another title"})})
    assert verify(first) and not verify(edited)
    assert content_hash(prereg).startswith("sha256:") and len(content_hash(prereg)) == 71
    with pytest.raises(ValueError, match="timezone-aware"):
        freeze(prereg, clock=lambda: datetime(2026, 1, 1), software={})  # noqa: DTZ001


def test_the_mapping_covers_every_item_once() -> None:
    keys = [spec.key for spec in ITEMS]
    assert len(keys) == len(set(keys)) == 21
    assert all(spec.osf and spec.aspredicted for spec in ITEMS)


# -- write_prereg ----------------------------------------------------------------------------------------------------


def call(**fields: Any) -> str:
    base: dict[str, Any] = {"answers": None, "stopping": None, "robustness_checks": None, "analysis_tool": None,
                            "analysis_request": None, "freeze": False}  # fmt: skip
    return json.dumps({**base, **fields})


def complete_brief() -> Brief:
    return Brief.model_validate(AI_BRIEF["brief"])


def test_write_prereg_records_answers_and_lists_what_is_missing() -> None:
    state = PreregState()
    result = state.write(Brief(), call(answers=[{"item": "hypothesis", "text": "It helps."}], stopping="fixed_horizon"))
    assert state.plan.hypothesis == "It helps." and state.plan.stopping == "fixed_horizon"
    assert result["summary"].startswith("Pre-registration draft: 1 of 21 items complete")
    missing = {m["item"]: m for m in result["missing"]}
    assert "hypotheses" not in missing and missing["method"]["fill_with"] == "analysis_tool + analysis_request"
    assert missing["unit"]["question"].startswith("What gets assigned")


def test_write_prereg_takes_the_planned_request_of_the_analysis_tool() -> None:
    state = PreregState()
    analysis = json.dumps(AI_BRIEF["plan"]["analysis"] | {"summaries": None})
    state.write(Brief(), call(analysis_tool="ab_test", analysis_request=analysis))
    assert state.plan.analysis is not None and state.plan.analysis.method == "ab_test"
    assert state.plan.analysis.metrics[0].column == "booked"


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ("{not json", "invalid_json"),
        (call(answers=[{"item": "colour", "text": "x"}]), "invalid_arguments"),
        (call(analysis_tool="ab_test"), "invalid_arguments"),
        (call(analysis_tool="rdd", analysis_request="[1, 2]"), "invalid_arguments"),
        (call(analysis_tool="rdd", analysis_request="{oops"), "invalid_json"),
        (call(analysis_tool="ab_test", analysis_request='{"alpha": 2}'), "invalid_arguments"),
        (call(analysis_tool="diff_in_diff", analysis_request='{"estimator": "magic"}'), "invalid_arguments"),
        (call(answers=[{"item": "title", "text": "t"}] * 21), "invalid_arguments"),
        (call(freeze=True), "prereg_incomplete"),
    ],
)
def test_write_prereg_errors(arguments: str, code: str) -> None:
    with pytest.raises(ToolError) as caught:
        PreregState().write(Brief(), arguments)
    assert caught.value.code == code and caught.value.message and caught.value.hint


def test_freezing_needs_a_complete_plan_and_then_nothing_changes() -> None:
    state = PreregState()
    plan = AI_BRIEF["plan"]
    answers = [
        {"item": k, "text": plan[k]}
        for k in (
            "title",
            "hypothesis",
            "data_status",
            "assignment",
            "population_filter",
            "duration",
            "missing_data",
            "outliers",
            "quality_checks",
        )
    ]
    state.write(
        complete_brief(),
        call(
            answers=answers,
            stopping="fixed_horizon",
            robustness_checks=plan["robustness_checks"],
            analysis_tool="ab_test",
            analysis_request=json.dumps(plan["analysis"]),
        ),
    )
    with pytest.raises(ToolError, match="sample_size"):  # no power result yet
        state.write(complete_brief(), call(freeze=True))
    state.power = example("ai_feature_ab").prereg.power
    result = state.write(complete_brief(), call(freeze=True))
    assert result["summary"] == "Frozen pre-registration: 21 of 21 items complete." and result["missing"] == []
    assert state.frozen is not None and result["content_hash"] == content_hash(state.frozen.prereg)
    with pytest.raises(ToolError) as caught:
        state.write(complete_brief(), call(answers=[{"item": "title", "text": "new"}]))
    assert caught.value.code == "plan_frozen"
    assert state.write(complete_brief(), call(freeze=True))["content_hash"] == result["content_hash"]  # idempotent


def test_write_prereg_schema_is_strict_documented_and_pinned() -> None:
    schema = write_prereg_schema()
    function = schema["function"]
    assert function["name"] == "write_prereg" and function["strict"] is True
    parameters = function["parameters"]
    for node in [parameters, *parameters.get("$defs", {}).values()]:
        assert node["additionalProperties"] is False and sorted(node["required"]) == sorted(node["properties"])
        assert all(spec.get("description") for spec in node["properties"].values())
    current = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    pinned = GOLDEN / "write_prereg_schema.json"
    if os.environ.get("WHYSCOPE_UPDATE_SCHEMAS") == "1":
        pinned.write_text(current, encoding="utf-8")
    assert current == pinned.read_text(encoding="utf-8"), "write_prereg's schema changed; regenerate and review"


def test_parse_analysis_ignores_the_method_key_and_null_summaries() -> None:
    plan = parse_analysis("rdd", '{"method": "ab_test", "outcome": "y", "running": "score", "cutoff": 0}')
    assert isinstance(plan, RddPlan) and plan.cutoff == 0


def test_slots_are_not_invented_from_nothing() -> None:
    brief = Brief(outcome=OutcomeSlot(value=None, status="missing"), unit=Slot(value="teams", status="confirmed"))
    items = {i.key: i for i in assemble(brief).items}
    assert items["unit"].value == "teams" and items["primary_metric"].value is None


def test_without_agreed_checks_the_designs_refute_battery_is_proposed_not_claimed() -> None:
    brief = Brief.model_validate(AI_BRIEF["brief"])
    assert status(brief)["robustness"] == "missing"  # no design yet: nothing to propose
    plan = StudyPlan(analysis=RddPlan(outcome="y", running="score", cutoff=50.0, covariates=()))
    item = assemble(brief, plan).item("robustness")
    assert item.status == "unconfirmed"
    assert item.value is not None and all(name in item.value for name in auto_battery("rdd"))
    agreed = assemble(brief, plan.model_copy(update={"robustness_checks": ("placebo_cutoff",)})).item("robustness")
    assert agreed.status == "complete" and agreed.value is not None and "density_test" not in agreed.value


def test_the_plan_words_each_adjustment_ab_test_can_make() -> None:
    brief = Brief.model_validate(AI_BRIEF["brief"])
    plan = StudyPlan.model_validate(AI_BRIEF["plan"])
    metrics = list(plan.analysis.metrics)  # type: ignore[union-attr]
    booked, revenue = metrics[0], metrics[1]
    metrics[0] = booked.model_copy(update={"covariates": ("pre_revenue", "tenure")})
    metrics[1] = revenue.model_copy(update={"covariates": ("pre_revenue",), "covariate_column": None})
    analysis = plan.analysis.model_copy(
        update={"metrics": tuple(metrics), "strata_column": "country", "se_type": "HC1"}
    )  # type: ignore[union-attr]
    adjusted = plan.model_copy(update={"analysis": analysis})
    words = assemble(brief, adjusted).item("covariates").value or ""
    assert (
        "booking conversion: logistic regression, standardised to a risk difference on 'pre_revenue', 'tenure'" in words
    )
    assert "revenue per user: Lin (2013) interacted regression on 'pre_revenue'" in words
    assert "Post-stratified on 'country'" in words
    assert "Regression-adjusted metrics use HC1 standard errors." in (
        assemble(brief, adjusted).item("method").value or ""
    )


def test_the_plan_words_quantile_metrics_and_bootstrap_intervals() -> None:
    brief = Brief.model_validate(AI_BRIEF["brief"])
    plan = StudyPlan.model_validate(AI_BRIEF["plan"])
    metrics = list(plan.analysis.metrics)  # type: ignore[union-attr]
    metrics[-1] = metrics[-1].model_copy(update={"kind": "quantile", "quantile": 0.95})
    update = {"metrics": tuple(metrics), "interval": "bootstrap", "bootstrap_replicates": 5000, "seed": 7}
    analysis = plan.analysis.model_copy(update=update)  # type: ignore[union-attr]
    words = assemble(brief, plan.model_copy(update={"analysis": analysis})).item("method").value or ""
    assert "Woodruff (order-statistic) interval for the difference of quantiles for quantile metrics" in words
    assert "Intervals: BCa bootstrap, 5,000 resamples, seed 7, resampling within arms" in words
