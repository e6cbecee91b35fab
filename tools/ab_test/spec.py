"""The ab_test tool, as registered: analysing a randomized experiment (arms, metrics, guardrails)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tools.ab_test.models import AbTestRequest, AbTestResult
from tools.spec import Battery, Guide, ToolSpec

__all__ = ["SPEC"]


def guided_request(dataset: str, roles: Mapping[str, Any]) -> dict[str, Any]:
    """The ab_test request for the guided mode's roles: arm, metric (its kind, a CUPED covariate), cluster."""
    kind = str(roles.get("kind") or "continuous").lower()
    metric: dict[str, Any] = {"name": roles["metric"], "kind": "binary" if kind.startswith("b") else "continuous"}
    if roles.get("covariate"):
        metric["covariate_column"] = roles["covariate"]
    request: dict[str, Any] = {"dataset": dataset, "arm_column": roles["arm"], "metrics": [metric]}
    if roles.get("cluster"):
        request["cluster_column"] = roles["cluster"]
    return request


SPEC = ToolSpec(
    name="ab_test",
    request=AbTestRequest,
    result=AbTestResult,
    implementation="tools.ab_test.tool:ab_test",
    takes_dataset=True,
    designs=("ab_test", "cluster_ab_test"),
    offer="always",
    guide=Guide(
        required=("arm", "metric"),
        optional=("kind", "covariate", "cluster"),
        dataset_words=("experiment", "ab", "checkout", "test", "exp"),
        question="Which column holds each unit's arm (control or treatment), and which holds the primary metric? "
        "Say 'kind=binary' for a 0/1 metric (converted or not) or 'kind=continuous' (revenue, minutes); a "
        "pre-period value of the metric as 'covariate' sharpens the estimate (CUPED); if rows are finer than the "
        "randomized unit (sessions of users), name the unit's column as 'cluster'.",
        build=guided_request,
        experiment=True,
    ),
    battery=Battery(
        auto=("sample_ratio", "covariate_balance", "placebo_treatment", "bootstrap"),
        more=("data_subset", "dummy_outcome"),
        design="tools.refute.designs.ab_test:AbTestDesign",
    ),
    plans=True,
)
