"""The refute tool, as registered: challenging an estimate with its design's refutation battery."""

from __future__ import annotations

from tools.refute.models import RefuteRequest, RefuteResult
from tools.spec import ToolSpec

__all__ = ["SPEC"]

SPEC = ToolSpec(
    name="refute",
    request=RefuteRequest,
    result=RefuteResult,
    implementation="tools.refute.tool:refute",
    reports_progress=True,
    offer="after_analysis",
    mentions=("refute", "robustness", "placebo", "sensitivity", "e-value"),
    no_guide="refute challenges an estimate that ran: the guided mode offers its battery after each analysis.",
)
