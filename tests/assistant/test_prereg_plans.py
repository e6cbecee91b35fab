"""Analysis plans derived from the registered requests: every request field has a plan field, the union covers
exactly the plan tools, nulls are left out of the request a plan runs, documents frozen before stay valid, and a
propensity and an RDD request round-trip through write_prereg, freezing and `whyscope tool run --plan`."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, get_args

import pytest

from assistant.agent.brief import Brief
from assistant.cli import main
from assistant.prereg import StudyPlan, assemble, check_deviations, freeze, render
from assistant.prereg.deviations import COMPARISONS, OVERRIDES, Execution
from assistant.prereg.files import load_plan, load_source
from assistant.prereg.models import AbTestPlan, AnalysisPlan, DiffInDiffPlan, PropensityPlan, RddPlan, TextAnswer
from assistant.prereg.plans import PLAN_TOOLS, PLANS, V1_LAYOUT, V1_METRIC_LAYOUT, planned_request
from assistant.prereg.tool import ANALYSIS_TOOLS, PreregState, WritePreregRequest, parse_analysis
from tests.assistant.test_prereg_golden import GOLDEN, ROOT
from tools.data import Catalog
from tools.errors import ToolError
from tools.registry import TOOLS, get_tool, parse_request

PLAN_SPECS = [spec for spec in TOOLS if spec.plans]
DATA = ROOT / "examples" / "data"
BRIEFS = ROOT / "examples" / "briefs"
#: A small valid request per plan tool, as a user (or the model) would write it.
MINIMAL: dict[str, dict[str, Any]] = {
    "ab_test": {"dataset": "ai_feature_ab", "arm_column": "arm", "metrics": [{"name": "booked", "kind": "binary"}]},
    "diff_in_diff": {"dataset": "staggered_rollout", "outcome": "weekly_orders", "unit": "region", "time": "month",
                     "cohort": "launch_month"},
    "synthetic_control": {"dataset": "market_launch", "outcome": "orders_per_1k_users", "unit": "market",
                          "time": "week", "treatment": "assistant_live"},
    "propensity": {"dataset": "agent_mode_opt_in", "outcome": "task_completion", "treatment": "opted_in",
                   "covariates": ["plan", "tenure_months", "weekly_sessions_pre", "task_completion_pre"]},
    "rdd": {"dataset": "paywall_cutoff", "outcome": "converted_30d", "running": "credits_used", "cutoff": 10},
    "instrumental_variables": {"dataset": "agent_mode_invite", "outcome": "tasks_completed",
                               "treatment": "used_agent_mode", "instruments": ["invited"]},
}  # fmt: skip


# -- plans derived from the requests -------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", PLAN_SPECS, ids=lambda spec: spec.name)
def test_every_request_field_has_an_optional_plan_field(spec: Any) -> None:
    plan = PLANS[spec.name]
    assert set(plan.model_fields) == {"method", *spec.request.model_fields}
    assert plan.model_fields["method"].default == spec.name
    assert get_args(plan.model_fields["method"].annotation) == (spec.name,)
    for name, request_field in spec.request.model_fields.items():
        plan_field = plan.model_fields[name]
        assert plan_field.default is None and not plan_field.is_required(), name
        assert plan_field.description == request_field.description, name
    empty = plan()
    assert empty.method == spec.name and empty.stated() == {}


def test_the_union_covers_exactly_the_tools_registered_with_plans() -> None:
    names = [spec.name for spec in PLAN_SPECS]
    assert names == list(PLAN_TOOLS) == list(ANALYSIS_TOOLS) == list(PLANS) == list(COMPARISONS)
    union, *_ = get_args(AnalysisPlan)
    assert [member.model_fields["method"].default for member in get_args(union)] == names
    enum = WritePreregRequest.model_json_schema()["properties"]["analysis_tool"]["anyOf"][0]["enum"]
    assert enum == names
    synth, iv, heterogeneity = PLANS["synthetic_control"], PLANS["instrumental_variables"], PLANS["heterogeneity"]
    expected = (AbTestPlan, DiffInDiffPlan, synth, PropensityPlan, RddPlan, iv, heterogeneity)
    assert expected == tuple(PLANS[n] for n in ANALYSIS_TOOLS)
    assert set(OVERRIDES) <= set(PLANS)  # an override table for a tool that has no plan would be dead


@pytest.mark.parametrize(
    ("plan", "fields"),
    [
        (PropensityPlan, {"trim": 0.5}),
        (RddPlan, {"polynomial": 5}),
        (RddPlan, {"kernel": "gaussian"}),
        (DiffInDiffPlan, {"estimator": "magic"}),
        (AbTestPlan, {"alpha": 0.9}),
        (RddPlan, {"bogus": 1}),
    ],
)
def test_plans_keep_the_request_constraints(plan: Any, fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(fields))):
        plan(**fields)


def test_plans_may_be_partial_and_are_frozen() -> None:
    assert PropensityPlan(covariates=()).covariates == ()  # "none", said explicitly: the tool refuses it when run
    assert RddPlan(covariates=["a"]).covariates == ("a",)  # lists become tuples
    assert RddPlan(outcome="y").stated() == {"outcome": "y"}


@pytest.mark.parametrize("tool", list(MINIMAL))
def test_a_request_pasted_as_the_planned_analysis_is_accepted(tool: str) -> None:
    full = parse_request(get_tool(tool), MINIMAL[tool]).model_dump(mode="json")  # every field, defaults filled
    state = PreregState()
    arguments = {"analysis_tool": tool, "analysis_request": json.dumps(full), "freeze": False}
    state.write(Brief(), json.dumps(arguments))
    plan = state.plan.analysis
    assert plan is not None and plan.method == tool
    stated = {k: v for k, v in full.items() if v is not None}
    if "metrics" in stated:  # a metric states the fields MetricSpec had in version 1, and the others when set
        stated["metrics"] = [
            {k: v for k, v in m.items() if v is not None or k in V1_METRIC_LAYOUT} for m in stated["metrics"]
        ]
    assert plan.stated() == stated
    assert parse_request(get_tool(tool), plan.stated()).model_dump(mode="json") == full  # the same request runs


def test_the_plan_written_has_the_version_1_fields_and_the_new_ones_only_when_stated() -> None:
    written = RddPlan(outcome="y").model_dump(mode="json")
    assert list(written) == ["method", *V1_LAYOUT["rdd"]] and written["kernel"] is None
    assert RddPlan(diagnostics=False).model_dump(mode="json")["diagnostics"] is False
    assert "seed" not in PropensityPlan().model_dump() and PropensityPlan(seed=3).model_dump()["seed"] == 3
    assert "summaries" not in AbTestPlan().model_dump(mode="json")
    metric = AbTestPlan(metrics=[{"name": "m"}]).model_dump(mode="json")["metrics"][0]
    assert list(metric) == list(V1_METRIC_LAYOUT)  # MetricSpec's later fields are written only when stated
    lin = AbTestPlan(metrics=[{"name": "m", "covariates": ["x"]}]).model_dump(mode="json")["metrics"][0]
    assert lin["covariates"] == ["x"]
    assert (
        parse_analysis("rdd", '{"outcome": "y", "diagnostics": null}').model_dump() == RddPlan(outcome="y").model_dump()
    )


DOCUMENTS = sorted((ROOT / "examples" / "prereg").glob("*.json")) + sorted(
    p for p in GOLDEN.glob("*.json") if p.name not in {"write_prereg_schema.json", "partial_brief.json"}
)


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_documents_frozen_under_schema_1_load_verify_and_render_unchanged(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    document = load_plan(path)  # refuses a document whose content no longer matches its hash
    assert document.schema_version == "whyscope.prereg/1" and render(document, "json") == text


# -- nulls dropped before running ----------------------------------------------------------------------------------


def test_the_planned_request_leaves_out_what_the_plan_left_null() -> None:
    plan = RddPlan(dataset="paywall_cutoff", outcome="converted_30d", running="credits_used", cutoff=10)
    request = planned_request("rdd", plan)
    assert request == {"dataset": "paywall_cutoff", "outcome": "converted_30d", "running": "credits_used", "cutoff": 10}
    ran = parse_request(get_tool("rdd"), request)
    assert ran.kernel == "triangular" and ran.polynomial == 1  # type: ignore[attr-defined]  # the tool's defaults
    for other, analysis in (("propensity", plan), ("rdd", None)):
        with pytest.raises(ToolError) as caught:
            planned_request(other, analysis)
        assert caught.value.code == "plan_mismatch"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(list(argv))
    return code, json.loads(capsys.readouterr().out)


def frozen_plan(name: str, tool: str, request: dict[str, Any], target: Path, *, complete: bool = True) -> Path:
    """write_prereg with the brief file's answers and ``request`` as the planned analysis, frozen, as a JSON file."""
    source = load_source(BRIEFS / f"{name}.json")
    plan = source.plan
    answers = [{"item": key, "text": getattr(plan, key)} for key in get_args(TextAnswer) if getattr(plan, key)]
    catalog = Catalog()
    catalog.add(DATA / f"{name}.csv", name)
    state = PreregState()
    arguments = {
        "answers": answers,
        "stopping": plan.stopping,
        "robustness_checks": list(plan.robustness_checks or ()),
        "analysis_tool": tool,
        "analysis_request": json.dumps(request),
        "freeze": complete,
    }
    result = state.write(source.brief, json.dumps(arguments), catalog)
    document = state.frozen if complete else state.freeze(source.brief, catalog)
    assert document is not None and document.freeze is not None
    if complete:
        assert result["summary"] == "Frozen pre-registration: 21 of 21 items complete.", result["missing"]
    assert document.prereg.plan.dataset_sha256 == catalog.get(name).sha256
    target.write_text(render(document, "json"), encoding="utf-8")
    return target


@pytest.mark.parametrize(("name", "tool"), [("agent_mode_opt_in", "propensity"), ("paywall_cutoff", "rdd")])
def test_a_request_round_trips_through_write_prereg_freezing_and_tool_run_with_the_plan(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, tool: str
) -> None:
    planned = load_source(BRIEFS / f"{name}.json").plan.analysis
    assert planned is not None
    request = parse_request(get_tool(tool), planned.stated()).model_dump(mode="json")  # as the tool echoes it
    plan = frozen_plan(name, tool, request, tmp_path / "plan.json")
    data = f"{name}={DATA / f'{name}.csv'}"
    for extra in ((), ("--json", json.dumps(request))):  # the plan's own request, then the request given again
        code, result = run_cli(capsys, "tool", "run", tool, "--plan", str(plan), "--data", data, *extra)
        assert code == 0, result
        check = result["plan_check"]
        assert check["status"] == "pass" and check["deviations"] == [], check
        assert [a["label"] for a in check["analyses"]] == ["confirmatory"]
        assert result["checks"][-1] == {"name": "pre_registration", "status": "pass", "detail": check["summary"]}


def test_an_rdd_plan_without_a_kernel_runs_with_the_tools_defaults_noted_as_not_stated(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plan = frozen_plan("paywall_cutoff", "rdd", MINIMAL["rdd"], tmp_path / "plan.json", complete=False)
    assert '"kernel": null' in plan.read_text(encoding="utf-8")
    data = f"paywall_cutoff={DATA / 'paywall_cutoff.csv'}"
    code, result = run_cli(capsys, "tool", "run", "rdd", "--plan", str(plan), "--data", data)
    assert code == 0, result
    check = result["plan_check"]
    unstated = {d["field"]: d for d in check["deviations"]}
    assert set(unstated) == {
        "treatment_side",
        "polynomial",
        "kernel",
        "bandwidth_selector",
        "inference_bandwidth",
        "alpha",
    }
    assert all(d["severity"] == "minor" and d["planned"] == "not stated" for d in unstated.values())
    assert unstated["kernel"]["executed"] == "triangular"
    assert check["status"] == "warn" and [a["label"] for a in check["analyses"]] == ["confirmatory"]


# -- the generic comparison ----------------------------------------------------------------------------------------


def test_fields_added_to_a_request_are_compared_when_the_plan_states_them() -> None:
    def deviations(plan: Any, request: dict[str, Any]) -> list[tuple[str, str]]:
        document = freeze(assemble(Brief(), StudyPlan(analysis=plan)), software={})
        full = parse_request(get_tool(plan.method), request).model_dump(mode="json")
        report = check_deviations(document, Execution(method=plan.method, request=full))
        return [(d.field, d.severity) for d in report.deviations]

    stated = parse_request(get_tool("propensity"), MINIMAL["propensity"]).model_dump(mode="json")
    unstated_seed = PropensityPlan.model_validate({k: v for k, v in stated.items() if k != "seed"})
    assert deviations(unstated_seed, MINIMAL["propensity"]) == []  # an unstated seed is not noted
    assert deviations(PropensityPlan.model_validate({**stated, "seed": 1}), MINIMAL["propensity"]) == [
        ("seed", "minor")
    ]
    rdd = parse_request(get_tool("rdd"), MINIMAL["rdd"]).model_dump(mode="json")
    assert deviations(RddPlan.model_validate(rdd), MINIMAL["rdd"] | {"diagnostics": False}) == [
        ("diagnostics", "minor")
    ]


SIXTH_TOOL = """
import json
from pydantic import Field
import tools.registry as registry
from tools.results import ToolRequest, ToolResult
from tools.spec import ToolSpec

class ToyRequest(ToolRequest):
    '''A design no surface has words for.'''
    dataset: str
    outcome: str
    window: int = Field(default=7, ge=1, le=30, description="Periods.")
    covariates: list[str] = Field(min_length=1)

toy = ToolSpec(name="toy_design", request=ToyRequest, result=ToolResult, implementation="toy:run", plans=True)
registry.TOOLS = (*registry.TOOLS, toy)
registry._BY_NAME[toy.name] = toy

from assistant.agent.brief import Brief
from assistant.prereg import PlanDocument, assemble, check_deviations, freeze, render
from assistant.prereg.deviations import COMPARISONS, Execution
from assistant.prereg.plans import PLANS
from assistant.prereg.tool import PreregState

assert list(PLANS)[-1] == "toy_design" and "toy_design" in COMPARISONS
state = PreregState()
request = {"dataset": "d", "outcome": "y", "window": 14, "covariates": ["a", "b"]}
state.write(Brief(), json.dumps({"analysis_tool": "toy_design", "analysis_request": json.dumps(request),
                                 "freeze": False}))
prereg = assemble(Brief(), state.plan)
items = {item.key: item for item in prereg.items}
assert prereg.method == "toy_design"
assert items["method"].status == "complete", items["method"]
assert items["method"].value == "toy_design: dataset 'd'; outcome 'y'; window 14; covariates 'a', 'b'.", items["method"]
assert "rdd" not in " ".join(item.value or "" for item in prereg.items)
assert items["covariates"].value == "'a', 'b'" and items["inference"].status == "complete"
assert items["quality_checks"].value.startswith("The diagnostic checks the toy_design tool runs")
assert items["robustness"].status == "missing"  # no refute battery to propose
partial = assemble(Brief(), state.plan.model_copy(update={"analysis": PLANS["toy_design"](outcome="y")}))
assert partial.item("method").status == "missing"  # dataset and covariates, which the tool requires, are open
document = freeze(prereg, software={})
assert PlanDocument.model_validate_json(render(document, "json")) == document
ran = {"dataset": "d", "outcome": "y", "window": 7, "covariates": ["b", "a"]}
report = check_deviations(document, Execution(method="toy_design", request=ran))
assert [(d.field, d.category, d.severity) for d in report.deviations] == [("window", "test", "major")], report
print("ok")
"""


def test_a_sixth_tool_with_plans_gets_its_plan_comparison_and_words_with_no_edit_under_prereg() -> None:
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(SIXTH_TOOL)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


def test_every_refute_check_has_words_in_the_plan() -> None:
    """A tool's battery is listed in the plan's robustness item by these words: a new check name needs them (a
    missing one raised a KeyError for an IV plan)."""
    from assistant.prereg.assemble import ROBUSTNESS_TEXT
    from tools.refute.models import CHECK_NAMES

    assert set(ROBUSTNESS_TEXT) == set(CHECK_NAMES)
