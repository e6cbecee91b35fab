"""The propensity tool, as registered: users who chose the change themselves (opt-in), compared on what drove it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tools.propensity.models import PropensityRequest, PropensityResult
from tools.spec import Battery, Guide, ToolSpec, as_list

__all__ = ["SPEC"]


def guided_request(dataset: str, roles: Mapping[str, Any]) -> dict[str, Any]:
    """The propensity request for the guided mode's roles: outcome, treatment, covariates."""
    return {
        "dataset": dataset,
        "outcome": roles["outcome"],
        "treatment": roles["treatment"],
        "covariates": as_list(roles["covariates"]),
    }


SPEC = ToolSpec(
    name="propensity",
    request=PropensityRequest,
    result=PropensityResult,
    implementation="tools.propensity.tool:propensity",
    designs=("propensity",),
    mentions=("propensity", "opt-in", "opt in", "opted in", "matching", "ipw", "aipw", "observational"),
    guide=Guide(
        required=("outcome", "treatment", "covariates"),
        optional=(),
        dataset_words=("opt", "toggle", "agent", "feature", "observational"),
        question="Which columns hold the outcome, the treatment (who opted in), and the covariates — the "
        "traits measured BEFORE anyone opted in that drive both opting in and the outcome (usage history, "
        "tenure, plan)? Leave out anything measured after the choice: it would hide part of the effect.",
        build=guided_request,
        suggest=("treatment",),
        rest_as="covariates",
        lists=("covariates",),
    ),
    battery=Battery(
        auto=(
            "overlap",
            "covariate_balance",
            "placebo_treatment",
            "random_common_cause",
            "data_subset",
            "e_value",
            "omitted_variable_bounds",
            "rosenbaum_bounds",
        ),
        more=("bootstrap", "dummy_outcome"),
        design="tools.refute.designs.propensity:PropensityScoreDesign",
    ),
    plans=True,
)
