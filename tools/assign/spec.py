"""The assign tool, as registered: design-time randomisation of a unit list, reproducible from a salt."""

from __future__ import annotations

from tools.assign.models import AssignRequest, AssignResult
from tools.spec import ToolSpec

__all__ = ["SPEC"]

SPEC = ToolSpec(
    name="assign",
    request=AssignRequest,
    result=AssignResult,
    implementation="tools.assign.tool:assign",
    # specific words only: "randomize" and "assigned" come up in every scoping conversation (how units get the
    # change), and each offered schema costs tokens on every request
    mentions=(
        "rerandomi",
        "stratified random",
        "stratified assign",
        "block random",
        "blocked random",
        "unit list",
        "assignment list",
        "assignment file",
        "assign units",
        "assign users",
        "assign the units",
        "assign the users",
        "randomise the list",
        "randomize the list",
        "randomisation salt",
        "randomization salt",
    ),
    no_guide="Assigning units is a design step before launch, not an analysis of collected data, so it has no "
    "column-role guide: the guided mode offers it from its own module once an experiment is sized and an attached "
    "dataset looks like a unit list (one row per unit id, no arm column), with the unit column, strata, arms and "
    "salt proposed and changeable; the result carries the plan entry for the pre-registration.",
)
