"""The heterogeneity tool, as registered: for whom did it work — after an A/B test, or an opt-in analysis."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tools.heterogeneity.models import HeterogeneityRequest, HeterogeneityResult
from tools.spec import Guide, ToolSpec, as_list

__all__ = ["SPEC"]

#: The guided mode's word for an observational (opt-in) analysis: no constant assignment probability.
_NO = ("no", "false", "0", "observational", "opt-in", "opt in", "self-selected")


def guided_request(dataset: str, roles: Mapping[str, Any]) -> dict[str, Any]:
    """The heterogeneity request for the guided mode's roles: outcome, treatment (and the treated value when the
    column holds labels), the effect modifiers, pre-specified subgroups, confounders and whether assignment was
    randomized (``randomized=no`` for an opt-in: the propensity is then modelled)."""
    request: dict[str, Any] = {
        "dataset": dataset,
        "outcome": roles["outcome"],
        "treatment": roles["treatment"],
        "effect_modifiers": as_list(roles["effect_modifiers"]),
    }
    if roles.get("treated_value") not in (None, ""):
        request["treated_value"] = str(roles["treated_value"])
    if roles.get("subgroups"):
        request["subgroups"] = as_list(roles["subgroups"])
    if roles.get("covariates"):
        request["covariates"] = as_list(roles["covariates"])
    randomized = str(roles.get("randomized", "yes")).strip().lower()
    request["randomized"] = randomized not in _NO
    return request


SPEC = ToolSpec(
    name="heterogeneity",
    request=HeterogeneityRequest,
    result=HeterogeneityResult,
    implementation="tools.heterogeneity.tool:heterogeneity",
    reports_progress=True,
    designs=("heterogeneous_effects",),
    mentions=(
        "for whom",
        "whom",
        "who benefits",
        "heterogen",
        "segment",
        "uplift",
        "cate",
        "subgroup",
        "target",
        "personalis",
        "personaliz",
        "helps most",
        "gates",
        "qini",
    ),
    guide=Guide(
        required=("outcome", "treatment", "effect_modifiers"),
        optional=("subgroups", "covariates", "treated_value", "randomized"),
        dataset_words=("uplift", "onboarding", "tour", "segment", "experiment", "ab", "test"),
        question="Which column holds the outcome, which the treatment (0/1, or the arm), and which traits may the "
        "effect vary with (effect_modifiers: measured BEFORE the change, such as tenure or plan)? Optional: "
        "subgroups (columns whose levels you named in advance), and randomized=no for an opt-in.",
        build=guided_request,
        suggest=("treatment",),
        rest_as="effect_modifiers",
        lists=("effect_modifiers", "subgroups", "covariates"),
        values=("treated_value", "randomized"),
        words={"treatment": ("tour", "arm", "variant", "group", "treated", "treatment", "opted_in", "exposed")},
    ),
    follows=("ab_test", "propensity"),
    no_battery="Its estimates rest on sample splitting (a model fitted on one half is judged on the other), and the "
    "average effect it starts from is the A/B test's or the propensity analysis's, which refute challenges.",
    plans=True,
)
