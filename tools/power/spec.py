"""The power tool, as registered: sizing a planned experiment (an A/B test, or a DiD, RDD or synthetic control)."""

from __future__ import annotations

from tools.power.models import PowerRequest, PowerResult
from tools.power.quasi_models import QUASI_DESIGNS
from tools.spec import ToolSpec

__all__ = ["SPEC"]

SPEC = ToolSpec(
    name="power",
    request=PowerRequest,
    result=PowerResult,
    implementation="tools.power.tool:power",
    offer="always",
    later_fields={"design": tuple(QUASI_DESIGNS.values())},
    no_guide="The guided mode sizes an experiment from the numbers the user gives (baseline, effect, traffic), and a "
    "difference-in-differences, regression discontinuity or synthetic control from counts, periods, spread and "
    "effect, not from columns of a dataset.",
)
