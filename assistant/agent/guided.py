"""The guided mode: a deterministic interviewer that needs no LLM and speaks through the same loop.

It asks the six scoping questions with its own "why" follow-ups, records each answer with ``update_brief``,
asks how the change is assigned and calls ``recommend_method``. For an experiment it then asks for the numbers
``power`` needs and calls it, and analyses the attached experiment if it has run; for a design it can run on
attached data (every registered tool with a guide: difference-in-differences, propensity scores, regression
discontinuity) it proposes the dataset and the role of each column and runs the analysis. Either way it then
offers the design's robustness battery (``refute``), when the tool has one. Its own sentences contain no numbers:
every number it shows comes from a tool or from the user.

What it knows is a :class:`~assistant.agent.guided_state.GuidedState`; the brief is the conversation's, read from
the transcript it is given (the ``update_brief`` calls), so there is one brief.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import prompts
from assistant.agent.backends import AssistantTurn, Message
from assistant.agent.brief import SLOTS, Brief, replay
from assistant.agent.guided_analysis import (
    ANALYSES,
    analysis_for,
    describe_roles,
    merge_roles,
    missing_roles,
    parse_roles,
    request_for,
    suggest_dataset,
    suggest_roles,
)
from assistant.agent.guided_state import (
    ACCEPT,
    ASSIGNMENTS,
    QUESTIONS,
    SCOPING,
    SIZING,
    YES_NO,
    GuidedState,
    Step,
    number,
    power_request,
    recommend_request,
    slot_of,
    tool_payload,
    tool_runs,
    yes_no,
)
from assistant.agent.scoping import WHY, SlotName
from assistant.agent.stream import ToolCallDraft
from tools.registry import get_tool, tool_for_design, tool_names

if TYPE_CHECKING:
    pass

__all__ = ["GuidedBackend", "GuidedState", "Step"]

#: The tools the interview itself runs (the analysis tools come from the registry's guides).
RECOMMEND = "recommend_method"
POWER = "power"
REFUTE = "refute"
UPDATE_BRIEF = "update_brief"


class HoldsBrief(Protocol):
    """What the guided mode reads from the conversation it is bound to (:meth:`GuidedBackend.bind`)."""

    @property
    def brief(self) -> Brief: ...


def _is_experiment(method: str | None) -> bool:
    """Whether the design is an experiment, sized with power first: its tool's guide says so."""
    tool = tool_for_design(method) if method else None
    guide = get_tool(tool).guide if tool is not None else None
    return guide is not None and guide.experiment


class GuidedBackend:
    """Asks, records, recommends, sizes — deterministically.

    ``history`` is a resumed session's messages: what was answered and run is not asked again. The brief is the
    conversation's: once :meth:`bind` is called, the bound conversation's own; until then, the one the messages the
    backend is given build, and ``brief`` (a resumed session's) stands in until it has seen any.
    ``catalog`` (a ``tools.data.Catalog``) is read for dataset names and columns only.
    """

    def __init__(
        self,
        brief: Brief | None = None,
        history: Sequence[Message] = (),
        catalog: Any = None,
        name: str = "guided mode — no LLM",
    ) -> None:
        self.name = name
        self.catalog = catalog
        self.state = GuidedState()
        self._resumed_brief = brief if brief is not None else Brief()
        self._transcript: Sequence[Message] = history
        self._conversation: HoldsBrief | None = None
        self._calls = 0
        self._introduced = False
        for tool, arguments, payload in tool_runs(history):
            self._introduced = True
            self._replay(tool, arguments, payload)
        confirmed = {
            Step(s) for b in (self._resumed_brief, self.brief) for s in SLOTS if b.slot(s).status == "confirmed"
        }
        self.state.done |= confirmed | {Step(f"why_{slot}") for slot in WHY if Step(slot) in confirmed}

    def bind(self, conversation: HoldsBrief) -> None:
        """Read the brief from ``conversation`` itself from now on (no copy is kept here)."""
        self._conversation = conversation

    @property
    def brief(self) -> Brief:
        """The conversation's brief: the bound conversation's, else as the transcript's ``update_brief`` calls
        built it."""
        if self._conversation is not None:
            return self._conversation.brief
        updates = [arguments for tool, arguments, _ in tool_runs(self._transcript) if tool == UPDATE_BRIEF]
        return replay(updates) if updates else self._resumed_brief

    def _replay(self, tool: str, arguments: dict[str, Any], payload: dict[str, Any]) -> None:
        """Replay a resumed session's tool run: the design facts, the sizing numbers and the analyses it carried
        are known again, so the interview goes on where it stopped."""
        state = self.state
        if tool == UPDATE_BRIEF:
            slot = arguments.get("slot")
            if arguments.get("why_answer") and slot in WHY:
                state.done.add(Step(f"why_{slot}"))
        elif tool == RECOMMEND:
            design = state.design
            for step, value in (
                (Step.CAN_RANDOMIZE, arguments.get("can_randomize")),
                (Step.INTERFERENCE, arguments.get("interference")),
                (Step.HAS_PRE, arguments.get("has_pre_period_data")),
            ):
                if value is not None:
                    self._set_design(step, bool(value))
            if arguments.get("assignment") not in (None, "random", "unknown"):
                design.assignment = arguments["assignment"]
                state.done.add(Step.ASSIGNMENT)
            self._recommended(payload)
        elif tool == POWER:
            sizing = state.sizing
            sizing.metric = arguments.get("metric")
            sizing.baseline = arguments.get("baseline")
            sizing.std_dev = arguments.get("std_dev")
            sizing.mde = arguments.get("mde")
            sizing.daily_units = arguments.get("daily_units")
            state.done |= {*SIZING, Step.POWER}
        elif analysis_for(state.design.method) is not None and tool == self._analysis_tool():
            state.analysis.dataset = arguments.get("dataset")
            state.analysis.request = arguments
            state.done |= {Step.DATASET, Step.COLUMNS, Step.ANALYSIS}
        elif tool == REFUTE:
            state.done |= {Step.REFUTE_OFFER, Step.REFUTE}

    def _recommended(self, payload: Mapping[str, Any]) -> None:
        top = (payload.get("recommendations") or [{}])[0]
        self.state.design.method = top.get("method") if top.get("available") else None
        self.state.design.experiment = _is_experiment(top.get("method"))
        self.state.done.add(Step.RECOMMEND)

    def opening(self) -> str:
        """What the guided mode says before the user has said anything: the intro and the first question (on
        resume, the question where the session stopped)."""
        resumed = self._introduced
        step = self._next()
        asks = step is not None and not step.runs_tool
        self.state.pending = step if asks else None
        self._introduced = True
        intro = "Welcome back: here is where we stopped." if resumed else prompts.load("guided_intro").strip()
        if step is None:
            return intro + "\n\nThe scoping is complete: the brief holds your answers, and the results are above."
        return intro + "\n\n" + (self._question(step) if asks else "Send any message to go on.")

    def complete(
        self, messages: Sequence[Message], tools: Sequence[Mapping[str, Any]], on_text: Callable[[str], None]
    ) -> AssistantTurn:
        self._transcript = messages
        last = messages[-1] if messages else {"role": "user", "content": ""}
        if last.get("role") == "tool":
            return self._after_tool(messages, on_text)
        answer = str(last.get("content") or "").strip()
        step = self.state.pending
        if step is None:
            intro = "" if self._introduced else prompts.load("guided_intro").strip() + "\n\n"
            self._introduced = True
            return self._ask(self._next(), on_text, prefix=intro)
        turn = self._take(step, answer, on_text)
        return turn if turn is not None else self._ask(self._next(), on_text)

    # -- the interview ---------------------------------------------------------------------------------------

    def _next(self) -> Step | None:
        state = self.state
        for step in (*SCOPING, Step.CAN_RANDOMIZE):
            if step not in state.done:
                return step
        design_steps: tuple[Step, ...] = (
            (Step.INTERFERENCE,) if state.design.can_randomize else (Step.ASSIGNMENT, Step.HAS_PRE)
        )
        for step in (*design_steps, Step.RECOMMEND):
            if step not in state.done:
                return step
        if not state.design.experiment:
            return self._next_analysis()
        for step in SIZING:
            if step is Step.STD_DEV and state.sizing.metric != "mean":
                continue
            if step not in state.done:
                return step
        return Step.POWER if Step.POWER not in state.done else self._next_analysis()

    def _next_analysis(self) -> Step | None:
        state = self.state
        if analysis_for(state.design.method) is None or not self._datasets():
            return None
        steps: tuple[Step, ...] = (Step.DATASET, Step.COLUMNS, Step.ANALYSIS)
        if self._refutable():
            steps += (Step.REFUTE_OFFER,)
        for step in steps:
            if step not in state.done:
                return step
        return Step.REFUTE if state.analysis.challenge and Step.REFUTE not in state.done else None

    def _refutable(self) -> bool:
        """Refute is registered and the analysis tool has a battery for it."""
        return REFUTE in tool_names() and get_tool(self._analysis_tool()).battery is not None

    def _datasets(self) -> dict[str, list[str]]:
        """Attached dataset names and their columns."""
        if self.catalog is None:
            return {}
        return {dataset.name: list(dataset.columns) for dataset in self.catalog}

    def _method(self) -> str:
        method = self.state.design.method
        assert method is not None, "asked for the analysis before a design was recommended"
        return method

    def _dataset(self) -> str:
        dataset = self.state.analysis.dataset
        assert dataset is not None, "asked for the columns before the dataset"
        return dataset

    def _question(self, step: Step) -> str:
        if step is Step.DATASET:
            names = list(self._datasets())
            suggested = suggest_dataset(self._method(), names)
            ask = f"Reply 'ok' to use '{suggested}', or name another." if suggested else "Reply with its name."
            if self.state.design.experiment:  # an experiment: it may not have run yet
                return (
                    "If the experiment has already run, I can analyse it. Which attached dataset holds one row per "
                    f"unit with its arm? Attached: {', '.join(names)}. {ask} Say 'skip' if it has not run yet."
                )
            return f"Which attached dataset holds the data? Attached: {', '.join(names)}. {ask}"
        if step is Step.COLUMNS:
            method, dataset, analysis = self._method(), self._dataset(), self.state.analysis
            guided = analysis_for(method)
            assert guided is not None
            columns = self._datasets().get(dataset, [])
            if analysis.proposed is None:
                analysis.proposed = suggest_roles(method, columns, self._slot_value("outcome"))
            proposal = describe_roles(analysis.proposed) or "(nothing matched)"
            missing = missing_roles(method, analysis.proposed)
            need = f" Still needed: {', '.join(missing)}." if missing else ""
            return (
                f"{guided.question}\n\nColumns of '{dataset}': {', '.join(columns)}.\n"
                f"Proposed from their names: {proposal}.{need}\n"
                "Reply 'ok' to use it, or correct any part as role=column (separate parts with ';')."
            )
        return QUESTIONS[step]

    def _ask(self, step: Step | None, on_text: Callable[[str], None], prefix: str = "") -> AssistantTurn:
        analysis = self.state.analysis
        if step is Step.RECOMMEND:
            return self._tool_turn(RECOMMEND, recommend_request(self.state.design), on_text, prefix)
        if step is Step.POWER:
            return self._tool_turn(POWER, power_request(self.state.sizing), on_text, prefix)
        if step is Step.ANALYSIS:
            assert analysis.roles is not None
            analysis.request = request_for(self._method(), self._dataset(), analysis.roles)
            return self._tool_turn(self._analysis_tool(), analysis.request, on_text, prefix)
        if step is Step.REFUTE:
            target = {"tool": self._analysis_tool(), "request": analysis.request}
            return self._tool_turn(REFUTE, {"target": target}, on_text, prefix)
        if step is None:
            self.state.pending = None
            return self._say(
                prefix + "The scoping is complete: the brief holds your answers, and the tools' results are above. "
                "In the app, /prereg drafts the pre-registration from them and /plot saves the latest figure.",
                on_text,
            )
        self.state.pending = step
        return self._say(prefix + self._question(step), on_text)

    def _take(self, step: Step, answer: str, on_text: Callable[[str], None]) -> AssistantTurn | None:
        if not answer:
            return self._say("I did not catch an answer. " + self._question(step), on_text)
        if step in (Step.DATASET, Step.COLUMNS):
            return self._take_analysis(step, answer, on_text)
        if (slot := slot_of(step)) is not None:
            self.state.done.add(step)
            self.state.pending = None
            return self._tool_turn(UPDATE_BRIEF, self._brief_update(step, slot, answer), on_text)
        state = self.state
        if step in YES_NO:
            decided = yes_no(answer)
            if decided is None:
                return self._say("Please answer yes or no. " + QUESTIONS[step], on_text)
            self._set_design(step, decided)
        elif step is Step.ASSIGNMENT:
            lowered = answer.lower()
            found = next((name for name, words in ASSIGNMENTS if any(w in lowered for w in words)), None)
            if found is None:
                return self._say("I could not tell which of these it is. " + QUESTIONS[step], on_text)
            state.design.assignment = found
        elif step is Step.METRIC_KIND:
            lowered = answer.lower()
            if any(w in lowered for w in ("rate", "share", "percent", "conversion", "proportion")):
                state.sizing.metric = "proportion"
            elif any(w in lowered for w in ("average", "mean", "per user", "revenue", "amount")):
                state.sizing.metric = "mean"
            else:
                return self._say("Is it a rate or an average? " + QUESTIONS[step], on_text)
        elif step is Step.DAILY_UNITS and "skip" in answer.lower():
            state.sizing.daily_units = None
        else:
            parsed = number(answer)
            if parsed is None:
                return self._say("I need a number here. " + QUESTIONS[step], on_text)
            self._takenumber(step, *parsed)
        state.done.add(step)
        state.pending = None
        return None

    def _brief_update(self, step: Step, slot: SlotName, answer: str) -> dict[str, Any]:
        """update_brief's arguments for a slot's answer (the outcome's guardrails split off) or its why."""
        arguments: dict[str, Any] = {
            "slot": slot,
            "value": answer,
            "status": "confirmed",
            "guardrails": None,
            "why_question": None,
            "why_answer": None,
            "assumption": None,
        }
        if step.is_why:
            arguments.update(value=self._slot_value(slot), why_question=QUESTIONS[step], why_answer=answer)
        elif slot == "outcome" and "guardrail" in answer.lower():
            primary, rest = re.split(r"(?i)guardrails?\s*:?", answer, maxsplit=1)
            arguments["value"] = primary.strip(" ;,.") or answer
            arguments["guardrails"] = [g.strip(" .") for g in re.split(r"[;,]| and ", rest) if g.strip(" .")]
        return arguments

    def _set_design(self, step: Step, decided: bool) -> None:
        """Record a yes/no answer (or a resumed session's) and mark its step done."""
        design = self.state.design
        if step is Step.CAN_RANDOMIZE:
            design.can_randomize = decided
        elif step is Step.INTERFERENCE:
            design.interference = decided
        elif step is Step.HAS_PRE:
            design.has_pre = decided
        else:
            assert step is Step.REFUTE_OFFER, step
            self.state.analysis.challenge = decided
        self.state.done.add(step)

    def _takenumber(self, step: Step, value: float, percent: bool) -> None:
        sizing = self.state.sizing
        if step is Step.BASELINE:
            sizing.baseline = value / 100 if sizing.metric == "proportion" and (percent or value > 1) else value
        elif step is Step.MDE:
            sizing.mde = value / 100 if percent or abs(value) >= 1 else value
        elif step is Step.STD_DEV:
            sizing.std_dev = value
        else:
            assert step is Step.DAILY_UNITS, step
            sizing.daily_units = value

    def _analysis_tool(self) -> str:
        analysis = analysis_for(self.state.design.method)
        assert analysis is not None
        return analysis.tool

    def _take_analysis(self, step: Step, answer: str, on_text: Callable[[str], None]) -> AssistantTurn | None:
        state = self.state
        accepted = answer.strip().lower().strip(".!") in ACCEPT
        if step is Step.DATASET and answer.strip().lower().strip(".!") in {"skip", "no", "not yet", "none"}:
            state.done |= {Step.DATASET, Step.COLUMNS, Step.ANALYSIS, Step.REFUTE_OFFER}
            state.pending = None
            return None
        if step is Step.DATASET:
            names = list(self._datasets())
            chosen = suggest_dataset(self._method(), names) if accepted else None
            if chosen is None:
                lowered = answer.strip().strip("'\"").lower()
                chosen = next((n for n in names if n.lower() == lowered), None) or next(
                    (n for n in names if lowered and lowered in n.lower()), None
                )
            if chosen is None:
                return self._say("I could not find that dataset. " + self._question(step), on_text)
            state.analysis.dataset = chosen
            state.analysis.proposed = None
        else:
            method, dataset = self._method(), self._dataset()
            roles = dict(state.analysis.proposed or {})
            if not accepted:
                given = parse_roles(answer, method)
                if not given:
                    return self._say("I could not read any role=column pair. " + self._question(step), on_text)
                roles = merge_roles(method, roles, given, self._datasets().get(dataset, []))
            missing = missing_roles(method, roles)
            if missing:
                state.analysis.proposed = roles
                return self._say(f"Still needed: {', '.join(missing)}. " + self._question(step), on_text)
            try:
                request_for(method, dataset, roles)
            except ValueError as exc:
                return self._say(f"{exc}. " + self._question(step), on_text)
            state.analysis.roles = roles
            state.analysis.proposed = roles
        state.done.add(step)
        state.pending = None
        return None

    def _slot_value(self, slot: SlotName) -> str:
        return self.brief.slot(slot).value or "(as answered)"

    # -- after a tool ran ------------------------------------------------------------------------------------

    def _after_tool(self, messages: Sequence[Message], on_text: Callable[[str], None]) -> AssistantTurn:
        call_name = self._last_call(messages)
        payload = tool_payload(messages[-1], getattr(self._conversation, "runs", None) or ())
        done = self.state.done
        if "error" in payload:
            error = payload["error"]
            if call_name == POWER:  # numbers the user gave were not usable: ask for them again
                done -= {Step.BASELINE, Step.STD_DEV, Step.MDE, Step.DAILY_UNITS, Step.POWER}
            elif call_name in ANALYSES:  # a column did not fit: ask again
                done -= {Step.COLUMNS, Step.ANALYSIS}
            elif call_name == REFUTE:
                done.add(Step.REFUTE)
            return self._ask(self._next(), on_text, prefix=f"{error['message']} {error['hint']}\n\n")
        if call_name == RECOMMEND:
            self._recommended(payload)
            return self._ask(self._next(), on_text, prefix=payload.get("summary", "") + "\n\n")
        if call_name == POWER:
            done.add(Step.POWER)
            notes = "".join(f"\n- {w}" for w in payload.get("warnings", []))
            return self._ask(self._next(), on_text, prefix=payload.get("summary", "") + notes + "\n\n")
        if call_name in ANALYSES or call_name == REFUTE:
            done.add(Step.ANALYSIS if call_name != REFUTE else Step.REFUTE)
            notes = "".join(f"\n- {w}" for w in payload.get("warnings", [])[:5])
            return self._ask(self._next(), on_text, prefix=payload.get("summary", "") + notes + "\n\n")
        return self._ask(self._next(), on_text)  # update_brief: the brief is read from the transcript

    @staticmethod
    def _last_call(messages: Sequence[Message]) -> str:
        """The name of the tool whose result is the last message."""
        tool_call_id = messages[-1].get("tool_call_id")
        for message in reversed(messages):
            for call in message.get("tool_calls") or []:
                if call["id"] == tool_call_id:
                    return str(call["function"]["name"])
        return ""

    # -- turns -----------------------------------------------------------------------------------------------

    def _say(self, text: str, on_text: Callable[[str], None]) -> AssistantTurn:
        on_text(text)
        return AssistantTurn(text=text, finish_reason="stop")

    def _tool_turn(
        self, name: str, arguments: dict[str, Any], on_text: Callable[[str], None], prefix: str = ""
    ) -> AssistantTurn:
        if name != UPDATE_BRIEF:
            self.state.pending = None
        self._calls += 1
        if prefix:
            on_text(prefix)
        call = ToolCallDraft(id=f"guided_{self._calls}", name=name, arguments=json.dumps(arguments))
        return AssistantTurn(text=prefix, tool_calls=[call], finish_reason="tool_calls")
