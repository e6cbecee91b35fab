"""The allocate_traffic tool, as registered: a bandit's next traffic split, when the goal is to earn while testing."""

from __future__ import annotations

from tools.allocate.models import AllocateTrafficRequest, AllocateTrafficResult
from tools.spec import ToolSpec

__all__ = ["SPEC"]

SPEC = ToolSpec(
    name="allocate_traffic",
    request=AllocateTrafficRequest,
    result=AllocateTrafficResult,
    implementation="tools.allocate.tool:allocate_traffic",
    designs=("adaptive_allocation",),
    mentions=("bandit", "thompson", "multi-armed", "adaptive allocation", "traffic split", "allocate traffic"),
    no_guide="The guided mode scopes experiments that estimate an effect; a bandit's allocation takes per-arm "
    "counts the user reads off a running test, so it runs from the command line, /run or the model, not from "
    "columns of an attached file.",
)
