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
    mentions=("randomi", "assign", "stratif", "block", "rerandomi", "salt"),
    no_guide="The guided mode analyses data already collected; assigning units is a design step before launch that "
    "needs the arms, shares and a salt the team fixes, so it runs from the command line, /run or the model, whose "
    "result carries the plan entry for the pre-registration.",
)
