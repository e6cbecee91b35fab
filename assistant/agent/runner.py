"""The one way a registered tool runs, whoever asked for it: the model (:class:`~assistant.agent.conversation.
Conversation`), the user in the app (``/power``, ``/run``) or on the command line (``whyscope tool run``).

:func:`run_tool` does, in one place, everything a run means beyond the statistics:

- validation, through :func:`tools.registry.parse_request` and :func:`tools.registry.dispatch` (which never raises);
- progress and cancel, for the tools that report them (refute);
- the check against a frozen plan: an analysis run carries its deviations (``plan_check``);
- the pre-registration's bookkeeping: a ``power`` result becomes the plan's sample size, and is saved;
- provenance: the result becomes a source the assistant's numbers are checked against;
- the record: a typed :class:`ToolRun` in the session's ``runs`` and in its file.

Writing the call and its answer into the message history stays with the caller (the conversation), which knows
whose call it was.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from assistant.agent.condense import MAX_TOOL_CHARS, condense, condense_error
from assistant.agent.events import Event, Failed, Notice, ToolFinished, ToolProgress, full_result
from assistant.agent.session import SessionStore
from tools.errors import ToolError
from tools.registry import dispatch, get_tool, parse_request
from tools.results import ToolRequest, ToolResult

if TYPE_CHECKING:  # the pre-registration loads only when a run needs it (the command line without --plan does not)
    from assistant.prereg.deviations import DeviationReport
    from assistant.prereg.tool import PreregState

__all__ = ["RunState", "ToolRun", "ToolRunner", "run_tool"]


@dataclass(frozen=True)
class ToolRun:
    """One run of a registered tool: the call, the request it validated to (None when it did not), the typed
    outcome, and the deviations from a frozen plan when it was checked against one."""

    call_id: str
    name: str
    request: ToolRequest | None
    outcome: ToolResult | ToolError
    plan_check: DeviationReport | None = None

    @property
    def ok(self) -> bool:
        return isinstance(self.outcome, ToolResult)

    @property
    def result(self) -> dict[str, Any] | None:
        """The full JSON form (every field, with the plan check attached), None for an error."""
        return full_result(self.outcome, self.plan_check)

    def for_model(self, limit: int = MAX_TOOL_CHARS) -> str:
        """What the model reads as the tool's answer: the error, or the result as its class declares, condensed."""
        if isinstance(self.outcome, ToolError):
            return condense_error(self.outcome, request=self.request)
        report = self.plan_check
        if report is None:
            return condense(self.outcome, limit, request=self.request)
        from assistant.prereg.tool import attach_report

        return condense(self.outcome, limit, extend=lambda v: attach_report(v, report), request=self.request)

    def record(self) -> dict[str, Any]:
        """The session-file record (restored by :meth:`from_record`)."""
        outcome = self.outcome
        return {
            "type": "tool_run",
            "call_id": self.call_id,
            "name": self.name,
            "request": None if self.request is None else self.request.model_dump(mode="json"),
            "result": outcome.model_dump(mode="json", exclude_computed_fields=True)
            if isinstance(outcome, ToolResult)
            else None,
            "error": outcome.to_dict()["error"] if isinstance(outcome, ToolError) else None,
            "plan_check": None if self.plan_check is None else self.plan_check.model_dump(mode="json"),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ToolRun:
        """A run read back from the session file; ValueError when it no longer fits the tool's models."""
        from pydantic import ValidationError

        from assistant.prereg.deviations import DeviationReport

        try:
            spec = get_tool(str(record.get("name")))
            request = record.get("request")
            error = record.get("error")
            outcome: ToolResult | ToolError = (
                ToolError(str(error["code"]), str(error["message"]), str(error.get("hint", "")))
                if isinstance(error, Mapping)
                else spec.result.model_validate(record["result"])
            )
            plan_check = record.get("plan_check")
            return cls(
                call_id=str(record["call_id"]),
                name=spec.name,
                request=None if request is None else spec.request.model_validate(request),
                outcome=outcome,
                plan_check=None if plan_check is None else DeviationReport.model_validate(plan_check),
            )
        except (ToolError, ValidationError, KeyError, TypeError) as exc:
            raise ValueError(f"the {record.get('name')!r} run {record.get('call_id')!r} cannot be restored") from exc


class RunState(Protocol):
    """What a run reads and updates: the data, the pre-registration, the provenance sources, the runs so far and
    the session file. A :class:`~assistant.agent.conversation.Conversation` is one; :class:`ToolRunner` is the
    smallest (the command line)."""

    catalog: Any
    store: SessionStore | None
    sources: list[Any]
    runs: list[ToolRun]

    @property
    def prereg(self) -> PreregState | None:
        """The pre-registration a result feeds (a conversation always has one; the command line only with --plan)."""


@dataclass
class ToolRunner:
    """A :class:`RunState` without a conversation: ``whyscope tool run`` (with ``--plan``, the frozen plan)."""

    catalog: Any = None
    prereg: PreregState | None = None
    store: SessionStore | None = None
    sources: list[Any] = field(default_factory=list)
    runs: list[ToolRun] = field(default_factory=list)

    def run(
        self,
        name: str,
        arguments: str | Mapping[str, Any],
        emit: Callable[[Event], None] | None = None,
        *,
        call_id: str = "run_1",
        cancel: threading.Event | None = None,
    ) -> ToolRun:
        return run_tool(self, call_id, name, arguments, emit or _ignore, cancel=cancel)


def run_tool(
    state: RunState,
    call_id: str,
    name: str,
    arguments: str | Mapping[str, Any],
    emit: Callable[[Event], None],
    *,
    cancel: threading.Event | None = None,
) -> ToolRun:
    """Run a registered tool for ``state``: validate, run (progress and cancel reach the tools that take them),
    check against the frozen plan, record; every step is reported through ``emit``, ending with
    :class:`~assistant.agent.events.ToolFinished`. Never raises for anything the arguments hold."""

    def progress(done: int, total: int, label: str) -> None:
        emit(ToolProgress(call_id, name, done, total, label))

    request: ToolRequest | None = None
    try:
        request = parse_request(get_tool(name), arguments)
    except ToolError as error:
        outcome: ToolResult | ToolError = error
    else:
        outcome = dispatch(name, request, state.catalog, progress=progress, cancel=cancel)  # not parsed again
    report = None
    if isinstance(outcome, ToolResult):
        assert request is not None
        try:
            report = _bookkeeping(state, name, request, outcome)
        except Exception as exc:  # a bug in the bookkeeping must not cost the user the result
            emit(
                Failed(
                    "internal_error",
                    f"The {name} result could not be recorded for the pre-registration ({type(exc).__name__}).",
                    "This is a bug in whyscope; the result is shown, but unchecked against any frozen plan.",
                )
            )
        if report is not None:
            emit(Notice(f"Checked against the frozen plan: {report.summary}"))
    if isinstance(outcome, ToolError):  # its message and hint may quote numbers ("at most 2000 characters")
        state.sources.append(outcome)
    run = ToolRun(call_id=call_id, name=name, request=request, outcome=outcome, plan_check=report)
    state.runs.append(run)
    if state.store is not None:
        state.store.tool_run(run)
    emit(ToolFinished(call_id, name, outcome, report))
    return run


def _bookkeeping(state: RunState, name: str, request: ToolRequest, result: ToolResult) -> DeviationReport | None:
    """The pre-registration and provenance side of a result; returns its deviations from a frozen plan, if any."""
    from tools.power.models import PowerResult

    prereg = state.prereg
    if prereg is not None and isinstance(result, PowerResult):  # the plan's sample size: the last power result
        prereg.power = result
        if state.store is not None and prereg.frozen is None:
            state.store.prereg(prereg)
    report = None
    if prereg is not None and prereg.frozen is not None:
        report = prereg.check(name, request.model_dump(mode="json"), result.model_dump(mode="json"), state.catalog)
    state.sources.append(result)
    if report is not None:
        state.sources.append(report)
    return report


def _ignore(event: Event) -> None:
    return None
