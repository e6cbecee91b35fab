"""The power tool, as registered: sizing a planned experiment."""

from __future__ import annotations

from tools.power.models import PowerRequest, PowerResult
from tools.spec import ToolSpec

__all__ = ["SPEC"]

SPEC = ToolSpec(
    name="power",
    request=PowerRequest,
    result=PowerResult,
    implementation="tools.power.tool:power",
    offer="always",
    no_guide="The guided mode sizes an experiment from the numbers the user gives (baseline, effect, traffic), "
    "not from columns of a dataset.",
)
