"""What the engine reports while it works: streamed text, tool runs (started, progress, finished), brief changes,
notices, failures and the end of a turn. A UI (the app, ``whyscope chat``) consumes them; the engine never draws.

A finished tool carries its typed outcome: the tool's :class:`~tools.results.ToolResult`, or the
:class:`~tools.errors.ToolError` it returned (conversation-state tools, ``update_brief`` and ``write_prereg``, have no
result model and answer with a plain mapping). ``result`` and ``error`` give the JSON form for readers that want it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from assistant.agent.brief import Brief
from assistant.agent.claims import ClaimFlag
from tools.errors import ToolError
from tools.results import ToolResult

if TYPE_CHECKING:
    from assistant.prereg.deviations import DeviationReport

__all__ = [
    "BriefUpdated",
    "Done",
    "Event",
    "Failed",
    "Notice",
    "TextDelta",
    "ToolFinished",
    "ToolProgress",
    "ToolStarted",
    "full_result",
]


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolStarted:
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolFinished:
    """A tool call answered: ``outcome`` is the typed result or error (a mapping for conversation-state tools), and
    ``plan_check`` the deviations from a frozen plan when the run was checked against one."""

    call_id: str
    name: str
    outcome: ToolResult | ToolError | Mapping[str, Any]
    plan_check: DeviationReport | None = None

    @cached_property
    def result(self) -> dict[str, Any] | None:
        """The result's JSON form (the plan check attached), or None when the tool returned an error."""
        return full_result(self.outcome, self.plan_check)

    @property
    def error(self) -> dict[str, Any] | None:
        """The error's JSON form (``code``, ``message``, ``hint``), or None when the tool returned a result."""
        return _error(self.outcome)


@dataclass(frozen=True)
class ToolProgress:
    """A long tool (refute) finished ``done`` of ``total`` steps; ``label`` names the current one."""

    call_id: str
    name: str
    done: int
    total: int
    label: str


@dataclass(frozen=True)
class BriefUpdated:
    brief: Brief


@dataclass(frozen=True)
class Notice:
    message: str


@dataclass(frozen=True)
class Failed:
    kind: str
    message: str
    hint: str


@dataclass(frozen=True)
class Done:
    """The end of a turn: the answer, the numbers in it no tool or user gave (``unverified``) and the claims no tool
    result backs or a result contradicts (``claims``: :class:`~assistant.agent.claims.ClaimFlag`)."""

    text: str
    unverified: tuple[str, ...]
    complete: bool
    claims: tuple[ClaimFlag, ...] = ()


Event = TextDelta | ToolStarted | ToolProgress | ToolFinished | BriefUpdated | Notice | Failed | Done


def full_result(
    outcome: ToolResult | ToolError | Mapping[str, Any], plan_check: DeviationReport | None = None
) -> dict[str, Any] | None:
    """The JSON form of an outcome as a person or script reads it (every field, legacy names included, and the plan
    check when there is one); None for an error."""
    if isinstance(outcome, ToolError):
        return None
    if not isinstance(outcome, ToolResult):
        return dict(outcome)
    result: dict[str, Any] = outcome.model_dump(mode="json")
    if plan_check is not None:
        from assistant.prereg.tool import attach_report

        result = attach_report(result, plan_check)
    return result


def _error(outcome: object) -> dict[str, Any] | None:
    return dict(outcome.to_dict()["error"]) if isinstance(outcome, ToolError) else None
