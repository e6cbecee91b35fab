"""The aa_test tool, as registered: trust the experiment system and the metric before trusting an A/B result."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tools.aa_test.models import AaTestRequest, AaTestResult
from tools.spec import Guide, ToolSpec

__all__ = ["SPEC"]


def guided_request(dataset: str, roles: Mapping[str, Any]) -> dict[str, Any]:
    """The aa_test request for the guided mode's roles: the metric and its kind, and the unit column when rows are
    finer than units (sessions of users); an arm column when an A/A test ran."""
    kind = str(roles.get("kind") or "continuous")
    request: dict[str, Any] = {
        "dataset": dataset,
        "metrics": [{"name": roles["metric"], "kind": kind if kind in ("binary", "continuous") else "continuous"}],
    }
    if roles.get("cluster"):
        request["cluster_column"] = roles["cluster"]
    if roles.get("arm"):
        request["arm_column"] = roles["arm"]
    return request


SPEC = ToolSpec(
    name="aa_test",
    request=AaTestRequest,
    result=AaTestResult,
    implementation="tools.aa_test.tool:aa_test",
    takes_dataset=True,
    reports_progress=True,
    designs=("aa_check",),
    mentions=(
        "a/a",
        "aa test",
        "aa_test",
        "false positive",
        "re-randomi",
        "rerandomi",
        "trust the platform",
        "sample ratio",
        "srm",
    ),
    guide=Guide(
        required=("metric",),
        optional=("kind", "cluster", "arm"),
        dataset_words=("history", "historical", "session", "log", "aa", "checkout"),
        question="Which column holds the metric (and is it binary or continuous)? If rows are sessions or events, "
        "which column holds the unit an experiment would assign (cluster, such as user_id)? Name the arm column "
        "only if an A/A test actually ran.",
        build=guided_request,
        values=("kind",),
    ),
)
