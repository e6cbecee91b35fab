"""The instrumental_variables tool, as registered: something else moved the treatment — a randomised invite or
nudge while use stayed optional, a rollout decided by shard or lottery."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tools.iv.models import InstrumentalVariablesRequest, InstrumentalVariablesResult
from tools.spec import Battery, Guide, ToolSpec, as_list

__all__ = ["SPEC"]


def guided_request(dataset: str, roles: Mapping[str, Any]) -> dict[str, Any]:
    """The instrumental_variables request for the guided mode's roles: outcome, treatment (what units chose to
    do), instruments (what moved it), covariates and a cluster column (then clustered standard errors)."""
    request: dict[str, Any] = {
        "dataset": dataset,
        "outcome": roles["outcome"],
        "treatment": roles["treatment"],
        "instruments": as_list(roles["instruments"]),
    }
    if roles.get("covariates"):
        request["covariates"] = as_list(roles["covariates"])
    if roles.get("cluster"):
        request["cluster"] = roles["cluster"]
        request["standard_errors"] = "cluster"
    return request


SPEC = ToolSpec(
    name="instrumental_variables",
    request=InstrumentalVariablesRequest,
    result=InstrumentalVariablesResult,
    implementation="tools.iv.tool:instrumental_variables",
    designs=("instrumental_variable",),
    mentions=(
        "instrumental",
        "instrument",
        "2sls",
        "two-stage least",
        "encouragement",
        "complier",
        "non-compliance",
        "noncompliance",
        "nudge",
        "lottery",
        "shard",
        "take-up",
        "uptake",
    ),
    guide=Guide(
        required=("outcome", "treatment", "instruments"),
        optional=("covariates", "cluster"),
        dataset_words=("invite", "nudge", "encourage", "lottery", "shard", "offer", "iv"),
        question="Which column holds the outcome, which the treatment units chose (used the feature: 0/1 or "
        "amount), and which the instrument that moved it (the randomised invite, nudge or lottery: 0/1)? "
        "Covariates measured before the instrument are optional.",
        build=guided_request,
        suggest=("instruments", "treatment"),
        lists=("instruments", "covariates"),
        words={
            "instruments": (
                "invite",
                "invited",
                "offer",
                "offered",
                "nudge",
                "encourag",
                "lottery",
                "assigned",
                "assignment",
                "shard",
                "eligible",
                "arm",
            ),
            "treatment": ("used", "use", "adopt", "took", "uptake", "take_up", "exposed", "active", "enrolled"),
        },
    ),
    battery=Battery(
        auto=("covariate_balance", "weak_instrument", "leave_one_out", "dummy_outcome", "bootstrap"),
        more=("data_subset", "random_common_cause"),
        design="tools.refute.designs.iv:InstrumentalVariablesDesign",
    ),
    plans=True,
)
