"""The diff_in_diff tool, as registered: a change rolled out to some units (regions, markets) over time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tools.did.models import DiffInDiffRequest, DiffInDiffResult
from tools.spec import Battery, Guide, ToolSpec

__all__ = ["SPEC"]


def guided_request(dataset: str, roles: Mapping[str, Any]) -> dict[str, Any]:
    """The diff_in_diff request for the guided mode's roles: outcome, unit, time, and cohort or treatment."""
    request: dict[str, Any] = {
        "dataset": dataset,
        "outcome": roles["outcome"],
        "unit": roles["unit"],
        "time": roles["time"],
    }
    if roles.get("cohort"):
        request["cohort"] = roles["cohort"]
    else:
        request["treatment"] = roles["treatment"]
    return request


SPEC = ToolSpec(
    name="diff_in_diff",
    request=DiffInDiffRequest,
    result=DiffInDiffResult,
    implementation="tools.did.tool:diff_in_diff",
    designs=("diff_in_diff",),
    mentions=(
        "diff_in_diff",
        "difference-in-difference",
        "difference in difference",
        "diff-in-diff",
        "event study",
        "staggered",
        "rollout",
        "rolled out",
        "parallel trend",
    ),
    guide=Guide(
        required=("outcome", "unit", "time"),
        optional=("cohort", "treatment"),
        dataset_words=("rollout", "staggered", "panel", "region", "market"),
        question="Which columns hold the outcome, the unit (region, market, store), the period, and either "
        "the first period each unit was treated ('cohort', empty or 0 for never treated) or a 0/1 "
        "'treatment' flag per row?",
        build=guided_request,
        suggest=("unit", "time", "cohort"),
        one_of=(("cohort", "treatment"),),
    ),
    battery=Battery(
        auto=("pre_trends", "placebo_time", "leave_one_out", "parallel_trends_sensitivity", "placebo_treatment"),
        more=("data_subset", "bootstrap", "dummy_outcome"),
        design="tools.refute.designs.did:DiffInDiffDesign",
    ),
    plans=True,
)
