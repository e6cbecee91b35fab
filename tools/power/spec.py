"""The power tool, as registered: sizing a planned experiment (an A/B test, or a DiD, RDD or synthetic control)."""

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
    later_fields={"design": ("diff_in_diff", "rdd", "synthetic_control")},
    no_guide="The guided mode sizes an experiment from the numbers the user gives (baseline, effect, traffic), and a "
    "difference-in-differences, regression discontinuity or synthetic control from counts, periods, spread and "
    "effect, not from columns of a dataset.",
)
