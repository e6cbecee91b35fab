"""Sessions on disk: an append-only JSON Lines log per conversation, resumable, exportable to Markdown.

Every message and brief change is appended as it happens (a crash loses at most the line being written); a
truncated or corrupt last line is skipped on load; secrets are redacted before anything is written. Each run of a
registered tool is also written as a typed record (``tool_run``: the validated request and the full result or
error), so a resumed session has its runs back without reading the condensed JSON the model was shown.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.agent.brief import SLOTS, Brief
from assistant.config import data_dir, redact

if TYPE_CHECKING:
    from assistant.agent.runner import ToolRun
    from assistant.prereg.tool import PreregState

__all__ = [
    "SESSION_VERSION",
    "LoadedSession",
    "SessionStore",
    "export_markdown",
    "latest_session",
    "load_prereg",
    "load_runs",
]

SESSION_VERSION = 1


def sessions_dir() -> Path:
    return data_dir() / "sessions"


def latest_session() -> Path | None:
    """The most recently written session file, if any."""
    folder = sessions_dir()
    files = sorted(folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    return files[-1] if files else None


class SessionStore:
    """Appends records to one session file."""

    def __init__(self, path: Path | None = None, *, model: str = "") -> None:
        if path is None:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            path = sessions_dir() / f"{stamp}-{secrets.token_hex(3)}.jsonl"
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists() or self.path.stat().st_size == 0:
            self.append(
                {"type": "meta", "version": SESSION_VERSION, "created": datetime.now(UTC).isoformat(), "model": model}
            )

    def append(self, record: dict[str, Any]) -> None:
        line = redact(json.dumps(record, ensure_ascii=False, default=str))
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()

    def message(self, message: dict[str, Any]) -> None:
        self.append({"type": "message", "message": message})

    def brief(self, brief: Brief) -> None:
        self.append({"type": "brief", "brief": brief.model_dump(mode="json")})

    def tool_run(self, run: ToolRun) -> None:
        """A run of a registered tool, typed (see :meth:`assistant.agent.runner.ToolRun.record`)."""
        self.append(run.record())

    def prereg(self, state: PreregState) -> None:
        """The pre-registration state: the draft plan, the last power result and the frozen plan (if any)."""
        self.append(
            {
                "type": "prereg",
                "plan": state.plan.model_dump(mode="json"),
                "power": state.power.model_dump(mode="json") if state.power is not None else None,
                "frozen": state.frozen.model_dump(mode="json") if state.frozen is not None else None,
            }
        )


@dataclass
class LoadedSession:
    messages: list[dict[str, Any]] = field(default_factory=list)
    brief: Brief = field(default_factory=Brief)
    warnings: list[str] = field(default_factory=list)
    prereg: PreregState | None = None
    runs: list[ToolRun] = field(default_factory=list)


def load_session(path: Path) -> LoadedSession:
    """Read a session back, skipping a damaged line and dropping a tool turn a crash left unanswered."""
    loaded = LoadedSession()
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            loaded.warnings.append(f"Line {number} of {path.name} is damaged and was skipped.")
            continue
        kind = record.get("type")
        if kind == "meta" and record.get("version", SESSION_VERSION) > SESSION_VERSION:
            raise ValueError(f"{path.name} was written by a newer whyscope (session version {record['version']}).")
        if kind == "message":
            loaded.messages.append(record["message"])
        elif kind == "brief":
            loaded.brief = Brief.model_validate(record["brief"])
        elif kind == "tool_run":
            from assistant.agent.runner import ToolRun

            try:
                loaded.runs.append(ToolRun.from_record(record))
            except ValueError as exc:
                loaded.warnings.append(f"Line {number} of {path.name}: {exc}; its result is only in the transcript.")
        elif kind == "prereg":
            state = _prereg_state(record)
            if state is None:
                loaded.warnings.append(f"The pre-registration on line {number} of {path.name} is damaged; skipped.")
            else:
                loaded.prereg = state
    _drop_dangling_tool_turn(loaded)
    answered = {m.get("tool_call_id") for m in loaded.messages if m.get("role") == "tool"}
    loaded.runs = [run for run in loaded.runs if run.call_id in answered]
    return loaded


def load_runs(path: Path) -> list[ToolRun]:
    """The tool runs a session file records (those whose answer the session kept); none when it cannot be read."""
    try:
        return load_session(path).runs
    except (OSError, ValueError):
        return []


def _prereg_state(record: dict[str, Any]) -> PreregState | None:
    from pydantic import ValidationError

    from assistant.prereg.freeze import verify
    from assistant.prereg.models import PlanDocument, StudyPlan
    from assistant.prereg.tool import PreregState
    from tools.power.models import PowerResult

    try:
        state = PreregState(
            plan=StudyPlan.model_validate_json(json.dumps(record.get("plan") or {})),
            power=PowerResult.model_validate_json(json.dumps(record["power"])) if record.get("power") else None,
            frozen=PlanDocument.model_validate_json(json.dumps(record["frozen"])) if record.get("frozen") else None,
        )
    except (ValidationError, TypeError):
        return None
    return None if state.frozen is not None and not verify(state.frozen) else state


def load_prereg(path: Path) -> PreregState | None:
    """The last pre-registration state recorded in a session file (None if there is none or it is damaged)."""
    state = None
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        if '"prereg"' not in line:
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("type") == "prereg":
            state = _prereg_state(record) or state
    return state


def _drop_dangling_tool_turn(loaded: LoadedSession) -> None:
    """If the log ends inside a tool turn (calls without all their results), drop that turn."""
    for index in range(len(loaded.messages) - 1, -1, -1):
        message = loaded.messages[index]
        if message.get("role") == "assistant" and message.get("tool_calls"):
            wanted = {c["id"] for c in message["tool_calls"]}
            answered = {m.get("tool_call_id") for m in loaded.messages[index + 1 :] if m.get("role") == "tool"}
            if not wanted <= answered:
                del loaded.messages[index:]
                loaded.warnings.append("The last tool turn was interrupted and was dropped; ask again to rerun it.")
            return
        if message.get("role") == "user":
            return


def export_markdown(messages: list[dict[str, Any]], brief: Brief, runs: Sequence[ToolRun] = ()) -> str:
    """A readable transcript: the brief, the decision memo (from the session's typed ``runs``:
    ``Conversation.runs``, ``LoadedSession.runs``), then each message (a tool's answer shown by its summary)."""
    by_call = {run.call_id: run for run in runs}
    lines = ["# whyscope session", "", "## Brief", ""]
    for slot in SLOTS:
        value = brief.slot(slot)
        extra = (
            f" (guardrails: {', '.join(brief.outcome.guardrails)})"
            if slot == "outcome" and brief.outcome.guardrails
            else ""
        )
        lines.append(f"- **{slot}** [{value.status}]: {value.value or '—'}{extra}")
    memo = decision_memo(_analyses(runs))
    if memo:
        lines += ["", "## Decision memo", "", *memo]
    lines += ["", "## Conversation", ""]
    for message in messages:
        role = message.get("role")
        if role == "system":
            continue
        if role == "tool":
            run = by_call.get(str(message.get("tool_call_id")))
            text = _run_line(run) if run is not None else _answer_line(message.get("content"))
            lines += [f"> tool result: {text}", ""]
        elif role == "assistant" and message.get("tool_calls"):
            for call in message["tool_calls"]:
                lines += [f"*called `{call['function']['name']}`*", ""]
            if message.get("content"):
                lines += [f"**whyscope:** {message['content']}", ""]
        else:
            who = "You" if role == "user" else "whyscope"
            lines += [f"**{who}:** {message.get('content') or ''}", ""]
    return redact("\n".join(lines)).rstrip() + "\n"


def _run_line(run: ToolRun) -> str:
    """A typed run's line in the transcript: its summary, or its error's message."""
    if not run.ok:
        return str(getattr(run.outcome, "message", "")) or "(error)"
    return str(getattr(run.outcome, "summary", "")) or "(result)"


def _answer_line(content: Any) -> str:
    """A tool answer without a typed run (update_brief, write_prereg, or a session written before runs were
    recorded): its summary or error message, read from the JSON the model was shown."""
    try:
        payload = json.loads(content or "{}")
    except (json.JSONDecodeError, TypeError):
        payload = {}
    if not isinstance(payload, dict):
        return "(result)"
    return str(payload.get("summary") or (payload.get("error") or {}).get("message") or "(result)")


@dataclass(frozen=True)
class Analysis:
    """What the decision memo needs of a successful run: the tool, its request (validated, defaults filled in when
    the run is typed), its summary, and for refute the analysis it challenged and its verdict."""

    name: str
    request: Any
    summary: str
    target: tuple[str, Any] | None = None
    verdict: str = "?"


def decision_memo(analyses: Sequence[Analysis]) -> list[str]:
    """One entry per estimate in the session: its summary, and whether it survived the refutation battery (a
    ``refute`` run whose target is the same tool and request), or that it was not challenged."""
    from tools.registry import estimators

    estimating = {spec.name for spec in estimators()}
    lines = []
    for analysis in analyses:
        if analysis.name not in estimating:
            continue
        lines.append(f"- **{analysis.name}**: {analysis.summary or '(no summary)'}")
        key = (analysis.name, analysis.request)
        challenges = [other for other in analyses if other.name == "refute" and other.target == key]
        if challenges:
            last = challenges[-1]
            lines.append(f"  - Robustness: **{last.verdict.upper()}**. {last.summary}")
        else:
            lines.append("  - Robustness: not checked yet (run `refute` with this analysis as its target).")
    return lines


def _analyses(runs: Sequence[ToolRun]) -> list[Analysis]:
    """The successful runs, typed: requests compared as their tools validate them."""
    from tools.errors import ToolError
    from tools.registry import get_tool, parse_request

    found = []
    for run in runs:
        if not run.ok or run.request is None:
            continue
        target = getattr(run.request, "target", None) if run.name == "refute" else None
        challenged = None
        if target is not None:
            try:
                challenged = (str(target.tool), parse_request(get_tool(target.tool), target.request))
            except ToolError:
                challenged = None
        found.append(
            Analysis(
                name=run.name,
                request=run.request,
                summary=str(getattr(run.outcome, "summary", "")),
                target=challenged,
                verdict=str(getattr(run.outcome, "verdict", "?")),
            )
        )
    return found
