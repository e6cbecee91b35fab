"""The diff_in_diff tool, as registered: a change rolled out to some units (regions, markets) over time."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tools.did.models import DiffInDiffRequest, DiffInDiffResult
from tools.spec import Battery, Guide, ToolSpec, as_list

__all__ = ["SPEC", "adoption_item"]


def guided_request(dataset: str, roles: Mapping[str, Any]) -> dict[str, Any]:
    """The diff_in_diff request for the guided mode's roles: outcome, unit, time, and who was treated when (a
    cohort column, a 0/1 treatment column, or ``adoptions``: each treated unit with its first treated period, as
    ``{"unit", "first_period"}`` items or 'UNIT from PERIOD' text), and optional ``covariates``: unit traits
    fixed before the change (none proposed: the user names them)."""
    request: dict[str, Any] = {
        "dataset": dataset,
        "outcome": roles["outcome"],
        "unit": roles["unit"],
        "time": roles["time"],
    }
    if roles.get("cohort"):
        request["cohort"] = roles["cohort"]
    elif roles.get("adoptions"):
        request["adoptions"] = [adoption_item(item) for item in roles["adoptions"]]
    else:
        request["treatment"] = roles["treatment"]
    if roles.get("covariates"):  # time-invariant pre-treatment unit traits (Callaway-Sant'Anna: doubly robust)
        request["covariates"] = as_list(roles["covariates"])
    return request


def adoption_item(item: Any) -> dict[str, Any]:
    """One adoption of the guided mode's roles as the request's item (a whole number as an integer period)."""
    if isinstance(item, Mapping):
        unit, first = str(item["unit"]), item["first_period"]
    else:
        unit, _, first = str(item).rpartition(" from ")
    if isinstance(first, str) and re.fullmatch(r"[+-]?\d+", first.strip()):
        first = int(first)
    return {"unit": unit.strip(), "first_period": first}


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
        optional=("cohort", "treatment", "adoptions", "covariates"),
        dataset_words=("rollout", "staggered", "panel", "region", "market"),
        question="Which columns hold the outcome, the unit (region, market, store), the period, and either "
        "the first period each unit was treated ('cohort', empty or 0 for never treated) or a 0/1 "
        "'treatment' flag per row? (If no column says who was treated when, say it in words.) Optionally "
        "'covariates': unit traits fixed before the change (such as population), for comparing like with like.",
        build=guided_request,
        suggest=("unit", "time", "cohort"),
        one_of=(("cohort", "treatment", "adoptions"),),
        values=("adoptions",),
        lists=("covariates",),
        words={"treatment": ("treated", "treatment", "treat", "post", "policy", "law", "active", "on")},
        remedies={
            "adoptions": "No column of the data says which units were treated when. Tell me in words: each "
            "treated unit and its first treated period, such as '{example}' (units you do not name count as never "
            "treated; several: 'A from P and B from Q'). Or add a 0/1 column to the file (1 for a treated unit "
            "from its first treated period on), attach it again (/load in the app, --data for whyscope chat) and "
            "say 'use a different dataset'."
        },
    ),
    battery=Battery(
        auto=("pre_trends", "placebo_time", "leave_one_out", "parallel_trends_sensitivity", "placebo_treatment"),
        more=("data_subset", "bootstrap", "dummy_outcome"),
        design="tools.refute.designs.did:DiffInDiffDesign",
    ),
    plans=True,
    engine_frame="tools.engine.did:panel_frame",
)
