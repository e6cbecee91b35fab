"""The rdd tool, as registered: a change that applies past a cutoff of a score (a threshold, a tier)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tools.rdd.models import RddRequest, RddResult
from tools.spec import Battery, Guide, ToolSpec, as_list, number

__all__ = ["SPEC"]


def guided_request(dataset: str, roles: Mapping[str, Any]) -> dict[str, Any]:
    """The rdd request for the guided mode's roles: outcome, running variable, cutoff, side, take-up, covariates."""
    side = str(roles.get("side") or "above").lower()
    request: dict[str, Any] = {
        "dataset": dataset,
        "outcome": roles["outcome"],
        "running": roles["running"],
        "cutoff": number(roles["cutoff"], "cutoff"),
        "treatment_side": "below" if side.startswith("b") else "above",
    }
    if roles.get("fuzzy"):
        request["fuzzy"] = roles["fuzzy"]
    if roles.get("covariates"):
        request["covariates"] = as_list(roles["covariates"])
    return request


SPEC = ToolSpec(
    name="rdd",
    request=RddRequest,
    result=RddResult,
    implementation="tools.rdd.tool:rdd",
    designs=("rdd",),
    mentions=("rdd", "regression discontinuity", "cutoff", "cut-off", "threshold", "running variable"),
    guide=Guide(
        required=("outcome", "running", "cutoff"),
        optional=("side", "fuzzy", "covariates"),
        dataset_words=("cutoff", "threshold", "paywall", "tier", "score"),
        question="Which column holds the outcome, which holds the running variable (the score the cutoff "
        "applies to), what is the cutoff value, and are the treated units above or below it ('side')? If not "
        "everyone past the cutoff got the treatment, name the 0/1 take-up column as 'fuzzy'; traits fixed before "
        "the cutoff applied can be given as 'covariates' (checked for a jump that should not be there).",
        build=guided_request,
        suggest=("running",),
        defaults={"side": "above"},
        words={"running": ("running", "score", "centered", "centred", "margin", "share", "distance", "income")},
        lists=("covariates",),
        values=("cutoff", "side"),
    ),
    battery=Battery(
        auto=("density_test", "covariate_continuity", "placebo_cutoff", "bandwidth_sensitivity"),
        more=("data_subset", "bootstrap", "dummy_outcome"),
        design="tools.refute.designs.rdd:RddDesign",
    ),
    plans=True,
)
