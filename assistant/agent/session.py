"""Sessions on disk: an append-only JSON Lines log per conversation, resumable, exportable to Markdown.

Every message and brief change is appended as it happens (a crash loses at most the line being written); secrets
are redacted value by value before a record is serialised, so a mask never breaks a line's JSON. Each run of a
registered tool is also written as a typed record (``tool_run``: the validated request and the full result or
error), so a resumed session has its runs back without reading the condensed JSON the model was shown.

One process writes a session at a time: :class:`SessionStore` holds an exclusive ``flock`` on the file while it
is open (the system releases it when the process ends, however it ends, so a killed whyscope leaves no stale lock)
and a second process gets :class:`SessionInUse`. Reading never fails on a damaged file: a line that is not a
record whyscope writes is skipped and reported by number, and the history is repaired so every tool call is
answered (:mod:`assistant.agent.session_repair`).
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from assistant.agent.brief import SLOTS, Brief
from assistant.agent.session_repair import clean_message, repair_tool_pairs
from assistant.config import data_dir, printable, redact, redact_value
from tools.jsontext import JsonTextError, loads

if TYPE_CHECKING:
    from assistant.agent.runner import ToolRun
    from assistant.prereg.tool import PreregState

__all__ = [
    "SESSION_VERSION",
    "LoadedSession",
    "SessionInUse",
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


class SessionInUse(Exception):
    """Another whyscope process has this session open for writing (the message says what to do)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            f"The session {path.name} is open in another whyscope. Close that one first, or start a new session "
            "(run without --resume)."
        )


@dataclass
class _Hold:
    """This process's lock on one session file, shared by every store of the process that opens it."""

    handle: IO[bytes]
    count: int = 0


_HOLDS: dict[str, _Hold] = {}
_HOLDS_GUARD = threading.Lock()


def _lock(path: Path) -> str:
    """Take (or share, within this process) the exclusive lock on ``path``; its key for :func:`_unlock`.

    The lock is between processes: stores of one process share it, since one process runs one conversation on a
    session (and the app and its tests reopen a session they already hold)."""
    key = os.path.realpath(path)
    with _HOLDS_GUARD:
        hold = _HOLDS.get(key)
        if hold is None:
            handle = path.open("ab")  # creates the file; appending never changes what is there
            try:
                _flock(handle)
            except BlockingIOError:
                handle.close()
                raise SessionInUse(path) from None
            except OSError:  # a file system without locks: write unlocked rather than not at all
                pass
            hold = _HOLDS[key] = _Hold(handle)
        hold.count += 1
    return key


def _flock(handle: IO[bytes]) -> None:
    if sys.platform == "win32":  # pragma: no cover - no advisory locks there: sessions are unlocked
        return
    import fcntl

    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _unlock(key: str) -> None:
    """Give back one store's share of a lock; the last one closes the file, which releases the lock."""
    with _HOLDS_GUARD:
        hold = _HOLDS.get(key)
        if hold is None:
            return
        hold.count -= 1
        if hold.count <= 0:
            del _HOLDS[key]
            hold.handle.close()


class SessionStore:
    """Appends records to one session file, which it holds locked against other processes until :meth:`close`
    (or until it is garbage-collected, or the process ends). Raises :class:`SessionInUse` when another process
    holds it."""

    def __init__(self, path: Path | None = None, *, model: str = "") -> None:
        if path is None:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            path = sessions_dir() / f"{stamp}-{secrets.token_hex(3)}.jsonl"
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._release = weakref.finalize(self, _unlock, _lock(self.path))
        if self.path.stat().st_size == 0:
            self.append(
                {"type": "meta", "version": SESSION_VERSION, "created": datetime.now(UTC).isoformat(), "model": model}
            )

    def close(self) -> None:
        """Release the session for other processes (appending afterwards still works, unlocked)."""
        self._release()

    def append(self, record: dict[str, Any]) -> None:
        """Write one record as one line: its strings redacted first (never the JSON text), a lone surrogate the
        model sent written as its JSON escape rather than failing the write."""
        line = json.dumps(redact_value(record), ensure_ascii=False, default=str)
        with self.path.open("a", encoding="utf-8", errors="backslashreplace") as handle:
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
    #: What the user should be told: damaged lines skipped (by number), repairs made, a newer file's version.
    warnings: list[str] = field(default_factory=list)
    prereg: PreregState | None = None
    runs: list[ToolRun] = field(default_factory=list)
    #: The session version the file declares; above :data:`SESSION_VERSION` it must not be appended to.
    version: int = SESSION_VERSION
    damaged_lines: list[int] = field(default_factory=list)


def load_session(path: Path) -> LoadedSession:
    """Read a session back, whatever shape the file is in (only an unreadable file raises ``OSError``).

    A line that is not a record whyscope writes (not JSON, not an object, a message that is not a message, a brief
    that does not validate, an unknown record type or version) is skipped and its number reported; the history is
    then repaired so every tool call is answered and a turn a crash cut off is dropped. A file from a newer whyscope
    is read as far as this version understands it; :attr:`LoadedSession.version` tells the caller not to append."""
    loaded = LoadedSession()
    messages: list[dict[str, Any]] = []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = loads(line)
        except JsonTextError:
            record = None
        if not isinstance(record, dict) or not _read_record(record, number, path, loaded, messages):
            loaded.damaged_lines.append(number)
    loaded.messages, repair = repair_tool_pairs(messages)
    answered = {m["tool_call_id"] for m in loaded.messages if m["role"] == "tool"}
    loaded.runs = [run for run in loaded.runs if run.call_id in answered]
    notes = []
    if loaded.version > SESSION_VERSION:
        notes.append(
            f"{path.name} was written by a newer whyscope (session version {loaded.version}); only what this "
            "version understands was read."
        )
    if damaged := loaded.damaged_lines:
        shown = ", ".join(map(str, damaged[:10])) + (", …" if len(damaged) > 10 else "")
        notes.append(
            f"{len(damaged)} damaged line{'s' if len(damaged) > 1 else ''} of {path.name} "
            f"{'were' if len(damaged) > 1 else 'was'} skipped (line{'s' if len(damaged) > 1 else ''} {shown})."
        )
    loaded.warnings[:0] = notes
    loaded.warnings += repair.notes
    return loaded


def _read_record(
    record: dict[str, Any], number: int, path: Path, loaded: LoadedSession, messages: list[dict[str, Any]]
) -> bool:
    """Apply one record to ``loaded``; False when it is damaged (the caller reports the line)."""
    kind = record.get("type")
    if kind == "meta":
        version = record.get("version", SESSION_VERSION)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            return False
        loaded.version = max(loaded.version, version)
        return True
    if kind == "message":
        message, damaged = clean_message(record.get("message"))
        if message is not None:
            messages.append(message)
        return not damaged
    if kind == "brief":
        try:
            loaded.brief = Brief.model_validate(record.get("brief"))
        except (ValueError, TypeError):  # pydantic's ValidationError is a ValueError: the earlier brief stays
            return False
        return True
    if kind == "tool_run":
        from assistant.agent.runner import ToolRun

        try:
            loaded.runs.append(ToolRun.from_record(record))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            loaded.warnings.append(f"Line {number} of {path.name}: {exc}; its result is only in the transcript.")
        return True
    if kind == "prereg":
        state = _prereg_state(record)
        if state is None:
            loaded.warnings.append(f"The pre-registration on line {number} of {path.name} is damaged; skipped.")
        else:
            loaded.prereg = state
        return True
    return False


def load_runs(path: Path) -> list[ToolRun]:
    """The tool runs a session file records (those whose answer the session kept); none when it cannot be read."""
    try:
        return load_session(path).runs
    except (OSError, ValueError):
        return []


def _prereg_state(record: dict[str, Any]) -> PreregState | None:
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
        stored = record["frozen"].get("prereg") if state.frozen is not None else None
        return None if state.frozen is not None and not verify(state.frozen, stored) else state
    except (ValueError, TypeError, KeyError, AttributeError):  # ValidationError is a ValueError
        return None


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
            record = loads(line)
        except JsonTextError:
            continue
        if isinstance(record, dict) and record.get("type") == "prereg":
            state = _prereg_state(record) or state
    return state


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
                lines += [f"*called `{call.get('function', {}).get('name', '?')}`*", ""]
            if message.get("content"):
                lines += [f"**whyscope:** {message['content']}", ""]
        else:
            who = "You" if role == "user" else "whyscope"
            lines += [f"**{who}:** {message.get('content') or ''}", ""]
    return redact(printable("\n".join(lines))).rstrip() + "\n"  # `whyscope export` may print to a terminal


def _run_line(run: ToolRun) -> str:
    """A typed run's line in the transcript: its summary, or its error's message."""
    if not run.ok:
        return str(getattr(run.outcome, "message", "")) or "(error)"
    return str(getattr(run.outcome, "summary", "")) or "(result)"


def _answer_line(content: Any) -> str:
    """A tool answer without a typed run (update_brief, write_prereg, or a session written before runs were
    recorded): its summary or error message, read from the JSON the model was shown."""
    try:
        payload = loads(content or "{}")
    except (JsonTextError, TypeError):
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
