"""The metric_history tool, as registered: power's figures measured on past data instead of guessed."""

from __future__ import annotations

from tools.history.models import MetricHistoryRequest, MetricHistoryResult
from tools.spec import ToolSpec

__all__ = ["SPEC"]

SPEC = ToolSpec(
    name="metric_history",
    request=MetricHistoryRequest,
    result=MetricHistoryResult,
    implementation="tools.history.tool:metric_history",
    takes_dataset=True,
    mentions=(
        "baseline",
        "standard deviation",
        "historical",
        "history",
        "past data",
        "icc",
        "intra-class",
        "intraclass",
        "variance",
    ),
    no_guide="The guided mode asks for the baseline and the standard deviation in words; measuring them on past "
    "data runs from the command line, /run or the model (metric_history), whose result is a power request.",
)
