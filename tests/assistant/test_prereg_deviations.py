"""Plan versus execution: a frozen plan and deliberately deviating analyses (ab_test run for real on the example
data; the other estimators through their comparison tables)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from assistant.prereg import AbTestPlan, DeviationReport, Execution, PlanDocument, check_deviations
from tests.assistant.test_prereg_golden import ROOT, example
from tools.ab_test.models import AbTestRequest
from tools.data import Catalog
from tools.registry import dispatch

DATA = ROOT / "examples" / "data" / "ai_feature_ab.csv"


@pytest.fixture(scope="module")
def plan() -> PlanDocument:
    return example("ai_feature_ab")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    catalog = Catalog()
    catalog.add(DATA, "ai_feature_ab")
    return catalog


def planned_request(document: PlanDocument) -> dict[str, Any]:
    """The ab_test request the plan describes, written out by hand from the brief file (not from the code)."""
    brief = json.loads((ROOT / "examples" / "briefs" / "ai_feature_ab.json").read_text(encoding="utf-8"))
    request = {k: v for k, v in brief["plan"]["analysis"].items() if k != "method"}
    assert isinstance(document.prereg.plan.analysis, AbTestPlan)
    return AbTestRequest.model_validate_json(json.dumps(request)).model_dump(mode="json")


def run(request: dict[str, Any], catalog: Catalog) -> dict[str, Any]:
    outcome = dispatch("ab_test", request, catalog)
    assert not isinstance(outcome, Exception), outcome
    return outcome.model_dump(mode="json")


def found(report: DeviationReport) -> set[tuple[str, str, str | None, str]]:
    return {(d.category, d.field, d.metric, d.severity) for d in report.deviations}


def test_the_planned_analysis_has_no_deviation_and_is_confirmatory(plan: PlanDocument, catalog: Catalog) -> None:
    request = planned_request(plan)
    report = check_deviations(plan, Execution(method="ab_test", request=request, result=run(request, catalog)))
    assert report.deviations == () and report.status == "pass"
    assert [(a.metric, a.label) for a in report.analyses] == [
        ("booking conversion", "confirmatory"),
        ("revenue per user", "confirmatory"),
        ("refund requests", "confirmatory"),
        ("search page load time", "confirmatory"),
    ]
    assert report.plan_hash == plan.freeze.content_hash if plan.freeze else False
    assert report.summary == "0 deviation(s) from the plan (0 major); 4 of 4 analyses confirmatory, 0 exploratory."
    assert any("population filter" in n for n in report.notes)  # the run does not say which rows it kept


def test_a_deliberately_deviating_analysis_is_flagged_everywhere(
    plan: PlanDocument, catalog: Catalog, tmp_path: Path
) -> None:
    subset = tmp_path / "eu_only.csv"
    subset.write_text("".join(DATA.read_text(encoding="utf-8").splitlines(keepends=True)[:9_001]), encoding="utf-8")
    catalog_subset = Catalog()
    catalog_subset.add(subset, "eu_only")
    request = planned_request(plan)
    metrics = [m for m in request["metrics"] if m["name"] != "search page load time"]  # a guardrail dropped
    metrics[1] = {**metrics[1], "covariate_column": None}  # CUPED dropped on revenue
    metrics[2] = {**metrics[2], "non_inferiority_margin": 0.5}  # a looser guardrail margin
    metrics.append({**metrics[1], "name": "pre-period revenue", "column": "pre_revenue", "role": "secondary"})
    request = {**request, "dataset": "eu_only", "alpha": 0.1, "correction": "none", "metrics": metrics}
    execution = Execution(
        method="ab_test", request=request, result=run(request, catalog_subset), population_filter="EU users only"
    )
    report = check_deviations(plan, execution)
    assert found(report) == {
        ("population", "dataset", None, "major"),
        ("alpha", "alpha", None, "major"),
        ("correction", "correction", None, "major"),
        ("covariates", "covariate_column", "revenue per user", "major"),
        ("metric", "non_inferiority_margin", "refund requests", "major"),
        ("metric", "metrics", "search page load time", "major"),
        ("metric", "metrics", "pre-period revenue", "minor"),
        ("population", "population_filter", None, "major"),
        ("sample_size", "n_obs", None, "major"),
    }
    assert report.status == "fail"
    by_field = {d.field: d for d in report.deviations}
    assert (by_field["alpha"].planned, by_field["alpha"].executed) == ("0.05", "0.1")
    assert (by_field["n_obs"].planned, by_field["n_obs"].executed) == ("13386", "9000")  # power tool's n_total
    assert "interim look" in by_field["n_obs"].detail
    assert all(a.label == "exploratory" for a in report.analyses)
    assert len(report.analyses) == 4


def test_metric_level_deviations_demote_only_their_metric(plan: PlanDocument, catalog: Catalog) -> None:
    request = planned_request(plan)
    metrics = list(request["metrics"])
    metrics[1] = {**metrics[1], "covariate_column": None}
    metrics.append({**metrics[0], "name": "bookings (any)", "role": "secondary"})
    request = {**request, "metrics": metrics}
    report = check_deviations(plan, Execution(method="ab_test", request=request, result=run(request, catalog)))
    labels = {a.metric: a.label for a in report.analyses}
    assert labels == {
        "booking conversion": "confirmatory",
        "revenue per user": "exploratory",
        "refund requests": "confirmatory",
        "search page load time": "confirmatory",
        "bookings (any)": "exploratory",
    }
    reasons = {a.metric: a.reasons for a in report.analyses}
    assert reasons["revenue per user"] == (
        "covariate_column for revenue per user: planned pre_revenue, analysed with none.",
    )


@pytest.mark.parametrize(
    ("reached", "stopping", "severity"),
    [(13_386, "fixed_horizon", None), (12_800, "fixed_horizon", "minor"), (12_700, "fixed_horizon", "major"),
     (9_000, "sequential", "minor"), (14_724, "fixed_horizon", None), (14_725, "fixed_horizon", "minor")],
)  # fmt: skip
def test_sample_size_reached_against_planned(
    plan: PlanDocument, reached: int, stopping: str, severity: str | None
) -> None:
    # 95% of 13,386 is 12,716.7 (shortfall threshold); 110% is 14,724.6 (overshoot threshold)
    document = plan.model_copy(
        update={
            "prereg": plan.prereg.model_copy(
                update={"plan": plan.prereg.plan.model_copy(update={"stopping": stopping})}
            )
        }
    )
    report = check_deviations(
        document, Execution(method="ab_test", request=planned_request(plan), result={"n_obs": reached})
    )
    assert [d.severity for d in report.deviations] == ([severity] if severity else [])


def test_cluster_designs_compare_clusters() -> None:
    plan = example("cluster_rollout")
    assert plan.prereg.power is not None and plan.prereg.power.clusters_per_arm == 105
    request = AbTestRequest.model_validate_json(
        json.dumps({k: v for k, v in plan.prereg.plan.analysis.model_dump(mode="json").items() if k != "method"})  # type: ignore[union-attr]
    ).model_dump(mode="json")
    report = check_deviations(plan, Execution(method="ab_test", request=request, result={"n_obs": 150}))
    (deviation,) = report.deviations
    assert (deviation.planned, deviation.executed, deviation.severity) == ("210", "150", "major")
    assert "clusters" in deviation.detail


def test_changed_data_and_a_draft_plan(plan: PlanDocument) -> None:
    hashed = plan.model_copy(
        update={
            "prereg": plan.prereg.model_copy(
                update={"plan": plan.prereg.plan.model_copy(update={"dataset_sha256": "a" * 64})}
            )
        }
    )
    execution = Execution(method="ab_test", request=planned_request(plan), dataset_sha256="b" * 64)
    assert found(check_deviations(hashed, execution)) == {("population", "dataset_sha256", None, "major")}
    draft = check_deviations(plan.model_copy(update={"freeze": None}), execution)
    assert draft.plan_hash is None and all(a.reasons == ("the plan is not frozen",) for a in draft.analyses)


def test_a_different_method_than_planned_is_a_major_deviation() -> None:
    plan = example("staggered_rollout")
    report = check_deviations(plan, Execution(method="ab_test", request={"metrics": [{"name": "orders"}]}))
    assert found(report) == {("method", "method", None, "major")}
    assert [a.label for a in report.analyses] == ["exploratory"]


def test_the_comparison_table_extends_to_diff_in_diff() -> None:
    plan = example("staggered_rollout")
    planned = {k: v for k, v in plan.prereg.plan.analysis.model_dump(mode="json").items() if k != "method"}  # type: ignore[union-attr]
    same = check_deviations(
        plan, Execution(method="diff_in_diff", request={**planned, "covariates": None, "leads": None})
    )
    assert same.deviations == () and [(a.metric, a.label) for a in same.analyses] == [("weekly_orders", "confirmatory")]
    changed = {
        **planned,
        "estimator": "twfe",
        "control_group": "never_treated",
        "covariates": ["population"],
        "alpha": 0.1,
    }
    report = check_deviations(plan, Execution(method="diff_in_diff", request=changed, result={"n_obs": 960}))
    assert found(report) == {
        ("test", "estimator", None, "major"),
        ("test", "control_group", None, "major"),
        ("covariates", "covariates", None, "major"),
        ("alpha", "alpha", None, "major"),
    }
    assert [a.label for a in report.analyses] == ["exploratory"]
    assert any("power calculation" in n for n in report.notes)


def test_the_adjustments_added_later_are_compared_against_the_plan(plan: PlanDocument, catalog: Catalog) -> None:
    """A frozen plan that predates regression adjustment reads as: no covariates, no strata, HC2 (the default)."""
    request = planned_request(plan)
    # the default standard errors and seed stated explicitly: still the plan
    same = {**request, "se_type": "HC2"}
    assert check_deviations(plan, Execution(method="ab_test", request=same, result=run(same, catalog))).deviations == ()
    # covariates added to the primary metric after the plan, and HC1 instead of HC2: both major
    metrics = [dict(m) for m in request["metrics"]]
    metrics[0] = {**metrics[0], "covariates": ["pre_revenue"]}
    changed = {**request, "metrics": metrics, "se_type": "HC1"}
    report = check_deviations(plan, Execution(method="ab_test", request=changed, result=run(changed, catalog)))
    assert found(report) == {
        ("covariates", "covariates", "booking conversion", "major"),
        ("test", "se_type", None, "major"),
    }
    # a post-stratification the plan did not have
    strata = {**request, "metrics": [request["metrics"][0]], "strata_column": "refund_request"}
    report = check_deviations(plan, Execution(method="ab_test", request=strata))
    assert ("covariates", "strata_column", None, "major") in found(report)


def test_diff_in_diff_covariate_method_defaults_to_the_plans_doubly_robust_reading() -> None:
    document = example("staggered_rollout")
    planned = {k: v for k, v in document.prereg.plan.analysis.model_dump(mode="json").items() if k != "method"}  # type: ignore[union-attr]
    assert (
        check_deviations(
            document, Execution(method="diff_in_diff", request={**planned, "covariate_method": "dr"})
        ).deviations
        == ()
    )
    report = check_deviations(
        document, Execution(method="diff_in_diff", request={**planned, "covariate_method": "ipw"})
    )
    assert found(report) == {("covariates", "covariate_method", None, "major")}


def test_a_bootstrap_or_a_quantile_the_plan_did_not_state_is_a_deviation(plan: PlanDocument, catalog: Catalog) -> None:
    request = planned_request(plan)
    bootstrapped = {**request, "interval": "bootstrap", "bootstrap_replicates": 500, "seed": 3}
    report = check_deviations(plan, Execution(method="ab_test", request=bootstrapped))
    assert found(report) == {
        ("test", "interval", None, "major"),
        ("test", "bootstrap_replicates", None, "minor"),
        ("test", "seed", None, "minor"),
    }
    metrics = [dict(m) for m in request["metrics"]]
    metrics[-1] = {**metrics[-1], "kind": "quantile", "quantile": 0.95}  # p95 instead of the planned mean
    report = check_deviations(plan, Execution(method="ab_test", request={**request, "metrics": metrics}))
    assert {(d.field, d.severity) for d in report.deviations} == {("kind", "major"), ("quantile", "major")}
