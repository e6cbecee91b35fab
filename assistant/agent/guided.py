"""The guided mode: a deterministic interviewer that needs no LLM and speaks through the same loop.

It asks the six scoping questions with its own "why" follow-ups, records each answer with ``update_brief``,
asks how the change is assigned and calls ``recommend_method``. For an experiment it then asks for the numbers
``power`` needs and calls it, offers to randomise an attached unit list (``assign``,
:mod:`assistant.agent.guided_assign`), and analyses the attached experiment if it has run; a quasi-experiment with
no data yet is sized with power's ``design`` (:mod:`assistant.agent.guided_quasi`); for a design it can run on
attached data (every registered tool with a guide: difference-in-differences, propensity scores, regression
discontinuity) it proposes the dataset and the role of each column and runs the analysis. Either way it then
offers the design's robustness battery (``refute``), when the tool has one, and the follow-up registered for the
analysis (``ToolSpec.follows``: after an A/B test or a propensity analysis, for whom it works, by
``heterogeneity``; :mod:`assistant.agent.guided_followup`). Its own sentences contain no numbers:
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
from assistant.agent.condense import DATA_CLOSE, DATA_OPEN
from assistant.agent.guided_analysis import ANALYSES, analysis_for, request_for
from assistant.agent.guided_assign import ASSIGN, AssignTalk
from assistant.agent.guided_columns import UnitColumn, dataset_unit_column
from assistant.agent.guided_followup import (
    FollowUp,
    asks_for_whom,
    asks_what_is_needed,
    follow_up_for,
    kind_of,
    propose_check,
    read_offer,
    said_back,
    what_it_takes,
    what_would_help,
)
from assistant.agent.guided_followup import propose as propose_follow_up
from assistant.agent.guided_history import MeasuredHistory
from assistant.agent.guided_interview import Interview, set_design
from assistant.agent.guided_prereg import ask as ask_item
from assistant.agent.guided_prereg import offer as offer_items
from assistant.agent.guided_prereg import take as take_item
from assistant.agent.guided_prereg import wants as wants_items
from assistant.agent.guided_quasi import forget as forget_quasi
from assistant.agent.guided_quasi import kind_of as quasi_kind
from assistant.agent.guided_quasi import measured as quasi_measured
from assistant.agent.guided_quasi import next_step as next_quasi
from assistant.agent.guided_quasi import question as quasi_question
from assistant.agent.guided_quasi import replay as replay_quasi
from assistant.agent.guided_quasi import request as quasi_request
from assistant.agent.guided_quasi import take as take_quasi
from assistant.agent.guided_setup import AnalysisTalk, closing_options, failed_checks, flaws_text
from assistant.agent.guided_state import (
    SCOPING,
    SIZING,
    GuidedState,
    Step,
    power_request,
    recommend_request,
    slot_of,
    tool_payload,
    tool_runs,
)
from assistant.agent.scoping import WHY, SlotName
from assistant.agent.stream import ToolCallDraft
from tools.registry import get_tool, tool_for_design, tool_names

if TYPE_CHECKING:
    pass

__all__ = ["GuidedBackend", "GuidedState", "Step"]

#: The tools the interview itself runs (the analysis tools come from the registry's guides).
AA_TEST = "aa_test"
METRIC_HISTORY = "metric_history"
RECOMMEND = "recommend_method"
#: "Measure it" at the baseline or the standard deviation: the figures come from metric_history on the history.
_MEASURE = re.compile(
    r"\bmeasure\b|\bfrom (?:the |my |our )?(?:data|history|file)\b|\buse (?:the |my |our )?(?:data|history)\b", re.I
)
POWER = "power"
REFUTE = "refute"
UPDATE_BRIEF = "update_brief"


class HoldsBrief(Protocol):
    """What the guided mode reads from the conversation it is bound to (:meth:`GuidedBackend.bind`)."""

    @property
    def brief(self) -> Brief: ...


def _words(method: Any) -> str:
    """A design's name as words ("diff_in_diff" -> "diff in diff")."""
    return str(method or "the recommended design").replace("_", " ")


def unmarked(value: Any) -> Any:
    """A result the model read, with the data markers around its strings (and its keys: a tool's own mapping, such
    as metric_history's power_request) taken off."""
    if isinstance(value, str):
        return value.removeprefix(DATA_OPEN).removesuffix(DATA_CLOSE)
    if isinstance(value, list):
        return [unmarked(v) for v in value]
    if isinstance(value, dict):
        return {unmarked(k): unmarked(v) for k, v in value.items()}
    return value


def _is_experiment(method: str | None) -> bool:
    """Whether the design is an experiment, sized with power first: its tool's guide says so."""
    tool = tool_for_design(method) if method else None
    guide = get_tool(tool).guide if tool is not None else None
    return guide is not None and guide.experiment


class GuidedBackend(MeasuredHistory):
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
        elif tool == POWER and arguments.get("design"):
            replay_quasi(state, arguments)
        elif tool == ASSIGN:
            state.done |= {Step.ASSIGN_OFFER, Step.ASSIGN}
        elif tool == POWER:
            sizing = state.sizing
            sizing.metric = arguments.get("metric")
            sizing.baseline = arguments.get("baseline")
            sizing.std_dev = arguments.get("std_dev")
            sizing.mde = arguments.get("mde")
            sizing.daily_units = arguments.get("daily_units")
            sizing.looks = arguments.get("looks") or 1
            sizing.cluster_size = arguments.get("cluster_size")
            sizing.icc = arguments.get("icc")
            sizing.spending = arguments.get("spending") or "obrien_fleming"
            n_total = payload.get("n_total")
            sizing.planned_n_total = n_total if sizing.looks > 1 and isinstance(n_total, int) else None
            state.done |= {*SIZING, Step.POWER}
        elif tool == METRIC_HISTORY and arguments.get("unit_column") and state.design.clustered:
            self._measured_cluster(unmarked(payload))
        elif tool == METRIC_HISTORY and payload.get("baseline") is not None:
            if arguments.get("unit_column") and self._measured_cluster(unmarked(payload)):  # measured per unit
                state.sizing.unit_column = str(arguments["unit_column"])
            state.sizing.baseline = float(payload["baseline"])
            state.done.add(Step.BASELINE)
            if payload.get("kind") == "continuous" and payload.get("std_dev") is not None:
                state.sizing.std_dev = float(payload["std_dev"])
                state.done.add(Step.STD_DEV)
        elif tool == AA_TEST and self.state.design.method != "aa_check":
            state.done |= {Step.AA_OFFER, Step.AA}
            state.check_unit = unmarked(payload.get("repeated_unit") or payload.get("cluster_column")) or None
        elif tool == self._follow_up_name() and tool != self._analysis_tool():
            state.done |= {Step.WHOM_OFFER, Step.WHOM}
        elif analysis_for(state.design.method) is not None and tool == self._analysis_tool():
            state.analysis.dataset = arguments.get("dataset")
            state.analysis.request = arguments
            state.done |= {Step.DATASET, Step.COLUMNS, Step.ANALYSIS}
        elif tool == REFUTE:
            state.done |= {Step.REFUTE_OFFER, Step.REFUTE}

    def _recommended(self, payload: Mapping[str, Any]) -> str:
        """Take the design to run: the top recommendation, or when whyscope cannot run it, the best-ranked one it
        can (never one ranked not_recommended). Returns what to say when that is not the top one."""
        ranked = list(payload.get("recommendations") or [])
        top = ranked[0] if ranked else {}
        runnable = next((r for r in ranked if r.get("available") and r.get("suitability") != "not_recommended"), None)
        chosen = top if top.get("available") else runnable
        self.state.design.method = chosen.get("method") if chosen else None
        self.state.design.experiment = _is_experiment(self.state.design.method)
        self.state.done.add(Step.RECOMMEND)
        if chosen is None or chosen is top or analysis_for(self.state.design.method) is None:
            return ""
        return (
            f"whyscope cannot run {_words(top.get('method'))} yet; the closest design it can run here is "
            f"{_words(chosen.get('method'))}. Its own checks will say how far to trust the estimate.\n\n"
        )

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
        if state.design.assignment == "instrument":  # an instrument needs no pre-period (recommend asks none)
            design_steps = (Step.ASSIGNMENT,)
        for step in (*design_steps, Step.RECOMMEND):
            if step not in state.done:
                return step
        if not state.design.experiment:  # a quasi-experiment with no data yet (none attached, or skipped) is sized
            unused = Step.DATASET in state.done and state.analysis.dataset is None
            return next_quasi(state, self._quasi(), bool(self._datasets()) and not unused) or self._next_analysis()
        check = self._check_step()
        if check is not None:
            return check
        for step in SIZING:
            if step is Step.STD_DEV and state.sizing.metric != "mean":
                continue
            if step is Step.CLUSTER and not state.design.clustered:
                continue
            if step is Step.LOOKS and Step.POWER in state.done:  # a session saved before the question existed
                continue
            if step not in state.done:
                return step
        if Step.POWER not in state.done:
            return Step.POWER
        assign = self._assign()  # then an attached unit list is offered for randomisation
        offered = assign.next_step()
        return offered if offered is not None or assign.only_the_list(self._datasets()) else self._next_analysis()

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
        if state.analysis.challenge and Step.REFUTE not in state.done:
            return Step.REFUTE
        if Step.WHOM_OFFER not in state.done:
            follow = self._follow_up()
            if follow is not None and follow.runnable:
                return Step.WHOM_OFFER
            state.done.add(Step.WHOM_OFFER)  # nothing to offer on this analysis
        if state.analysis.follow_wanted and Step.WHOM not in state.done:
            return Step.WHOM
        return None

    def _check_step(self) -> Step | None:
        """The A/A check before sizing: offered once, when aa_test is registered, the sizing has not started and an
        attached dataset holds the metric; run when the user wanted it."""
        state = self.state
        if AA_TEST not in tool_names():
            return None
        if Step.AA_OFFER not in state.done:
            started = Step.POWER in state.done or Step.METRIC_KIND in state.done
            if started or self._check() is None:
                state.done.add(Step.AA_OFFER)
                return None
            return Step.AA_OFFER
        if state.check_wanted and Step.AA not in state.done:
            return Step.AA
        return None

    def _check(self) -> FollowUp | None:
        """The A/A check proposed on the attached data (the user's changes kept)."""
        state = self.state
        unit = self.brief.slot("unit").value or ""
        check = propose_check(get_tool(AA_TEST), self.catalog, self._metric(), state.check_dataset, unit)
        if check is not None and state.check_roles is not None and check.dataset == state.check_dataset:
            if state.check_roles.get("cluster") != check.roles.get("cluster"):
                check.note = ""  # the user changed the unit the note was about
            check.roles = dict(state.check_roles)
        return check

    def _follow_up_name(self) -> str | None:
        """The follow-up tool registered for this design's analysis tool, if any."""
        if analysis_for(self.state.design.method) is None:
            return None
        spec = follow_up_for(self._analysis_tool())
        return spec.name if spec is not None else None

    def _follow_up(self) -> FollowUp | None:
        """The follow-up proposed on the latest successful analysis (the user's changes to its roles kept), or None
        when the analysis has none or has not run."""
        name = self._follow_up_name()
        analysis = self.state.analysis
        if name is None or analysis.request is None or Step.ANALYSIS not in self.state.done or self.catalog is None:
            return None
        tool = self._analysis_tool()
        payload = self._latest_result(tool)
        dataset = next((d for d in self.catalog if d.name == analysis.request.get("dataset")), None)
        if payload is None or dataset is None:
            return None
        follow = propose_follow_up(get_tool(name), tool, analysis.request, payload, dataset)
        if analysis.follow_roles is not None and follow.runnable:
            follow.roles = dict(analysis.follow_roles)
        return follow

    def _refutable(self) -> bool:
        """Refute is registered and the analysis tool has a battery for it."""
        return REFUTE in tool_names() and get_tool(self._analysis_tool()).battery is not None

    def _datasets(self) -> dict[str, list[str]]:
        """Attached dataset names and their columns."""
        if self.catalog is None:
            return {}
        return {dataset.name: list(dataset.columns) for dataset in self.catalog}

    def _unit_column(self, dataset: str, metric: str) -> UnitColumn | None:
        """The column of ``dataset`` that names the brief's unit when its rows are finer than the unit (user_id in
        sessions of users, Workspace in members of workspaces); None when there is none."""
        return dataset_unit_column(self.catalog, dataset, self.brief.slot("unit").value or "", exclude=(metric,))

    def _quasi(self) -> Any:
        """power's design kind for the recommended quasi-experiment (did, rdd, synth), or None."""
        return quasi_kind(self.state.design.method)

    def _assign(self) -> AssignTalk:
        return AssignTalk(self.state, self.catalog, self.brief)

    def _method(self) -> str:
        method = self.state.design.method
        assert method is not None, "asked for the analysis before a design was recommended"
        return method

    def _dataset(self) -> str:
        dataset = self.state.analysis.dataset
        assert dataset is not None, "asked for the columns before the dataset"
        return dataset

    def _question(self, step: Step) -> str:
        if step is Step.PREREG:
            return ask_item(self._conversation, self.state.prereg) or ""
        if step in (Step.DATASET, Step.COLUMNS, Step.SPLIT):
            return self._analysis_talk().question(step)
        if step is Step.WHOM_OFFER:
            follow = self._follow_up()
            if follow is not None:
                self.state.analysis.follow_roles = dict(follow.roles)
                return follow.question()
        if step is Step.AA_OFFER:
            check = self._check()
            if check is not None:
                self.state.check_dataset, self.state.check_roles = check.dataset, dict(check.roles)
                return check.question()
        if step in (Step.QUASI_SIZE, Step.QUASI_CORR):
            fit = self._latest_result("synthetic_control") or {}
            history = self._interview(step).cluster_history() if METRIC_HISTORY in tool_names() else None
            return quasi_question(self.state, self._quasi(), step, fit.get("pre_rmspe"), history)
        if step is Step.ASSIGN_OFFER and (offer := self._assign().offer()) is not None:
            return offer.question()
        return self._interview().question(step)

    def _ask(self, step: Step | None, on_text: Callable[[str], None], prefix: str = "") -> AssistantTurn:
        analysis = self.state.analysis
        if step is Step.RECOMMEND:  # what was read back ("Reading that as: ...") leads the recommendation's answer
            self.state.note = prefix.strip()
            return self._tool_turn(RECOMMEND, recommend_request(self.state.design), on_text)
        if step is Step.POWER:
            quasi = self._quasi() if not self.state.design.experiment else None
            request = quasi_request(self.state, quasi) if quasi else power_request(self.state.sizing)
            return self._tool_turn(POWER, request, on_text, prefix)
        if step is Step.ASSIGN:
            offer = self._assign().offer()
            assert offer is not None, "ran assign without a unit list"
            return self._tool_turn(ASSIGN, offer.request(), on_text, prefix)
        if step is Step.AA:
            check = self._check()
            assert check is not None, "ran the A/A check without one"
            return self._tool_turn(AA_TEST, check.request(), on_text, prefix)
        if step is Step.WHOM:
            follow = self._follow_up()
            assert follow is not None and follow.runnable, "ran the follow-up without one"
            return self._tool_turn(follow.tool, follow.request(), on_text, prefix)
        if step is Step.ANALYSIS:
            assert analysis.roles is not None
            analysis.follow_roles, analysis.follow_wanted = None, False
            analysis.request = request_for(self._method(), self._dataset(), analysis.roles)
            if self._analysis_tool() == "ab_test":
                analysis.request = self._with_looks(analysis.request)
            return self._tool_turn(self._analysis_tool(), analysis.request, on_text, prefix)
        if step is Step.REFUTE:
            target = {"tool": self._analysis_tool(), "request": analysis.request}
            return self._tool_turn(REFUTE, {"target": target}, on_text, prefix)
        if step is None:
            return self._closing(prefix, on_text)
        self.state.pending = step
        return self._say(prefix + self._question(step), on_text)

    def _with_looks(self, request: dict[str, Any]) -> dict[str, Any]:
        """An experiment sized with interim looks is analysed as the look its data have reached: the planned look
        whose information fraction (units so far over the planned maximum) the data reach, the boundary then
        recomputed by ab_test at the fraction actually reached."""
        sizing = self.state.sizing
        if sizing.looks <= 1 or sizing.planned_n_total is None or self.catalog is None:
            return request
        dataset = next((d for d in self.catalog if d.name == request.get("dataset")), None)
        if dataset is None:
            return request
        fraction = dataset.n_rows / sizing.planned_n_total
        # the planned look the data have reached (a look's data arrive a little before or after its fraction)
        look = sizing.looks if fraction >= 1 else min(sizing.looks, max(1, round(fraction * sizing.looks)))
        schedule = {"looks": sizing.looks, "look": look, "spending": sizing.spending}
        return {**request, "sequential": schedule, "planned_n_total": sizing.planned_n_total}

    def _take(self, step: Step, answer: str, on_text: Callable[[str], None]) -> AssistantTurn | None:
        if not answer:
            return self._say("I did not catch an answer. " + self._question(step), on_text)
        if step in (Step.DATASET, Step.COLUMNS, Step.SPLIT):
            return self._take_analysis(step, answer, on_text)
        if step is Step.PREREG:
            return self._take_item(answer, on_text)
        if step is Step.WHOM_OFFER:
            return self._take_offer(answer, on_text)
        if step is Step.AA_OFFER:
            return self._take_check(answer, on_text)
        if step is Step.ASSIGN_OFFER:
            reply = self._assign().take(answer)
            if reply.say:
                return self._say(reply.say, on_text)
            return self._ask(Step.ASSIGN, on_text) if reply.accept else None
        if step is Step.QUASI_CORR and _MEASURE.search(answer) and METRIC_HISTORY in tool_names():
            found, metric, within = self._interview(step).cluster_history(answer) or ("", "", None)
            if within is not None:  # the DiD's ICC: the outcome's history, measured within its units
                asked = {"dataset": found, "metric": metric, "kind": "continuous", "unit_column": within}
                lead = f"Measuring the ICC of '{metric}' within each '{within}' on the history in '{found}'.\n\n"
                return self._tool_turn(METRIC_HISTORY, asked, on_text, lead)
        if step in (Step.QUASI_SIZE, Step.QUASI_CORR):
            taken = take_quasi(self.state, self._quasi(), step, answer)
            if taken.say is not None:
                return self._say(taken.say, on_text)
            self.state.pending = None
            return self._ask(self._next(), on_text, prefix=taken.prefix + "\n\n" if taken.prefix else "")
        if step in (Step.BASELINE, Step.STD_DEV) and _MEASURE.search(answer) and METRIC_HISTORY in tool_names():
            measured = self._interview(step).measurable()
            if measured is not None:
                dataset, column = measured
                kind = "binary" if self.state.sizing.metric == "proportion" else "continuous"
                request: dict[str, Any] = {"dataset": dataset, "metric": column, "kind": kind}
                prefix = f"Measuring the baseline and the spread of '{column}' on the history in '{dataset}'"
                unit = self._unit_column(dataset, column) if not self.state.design.clustered else None
                self.state.sizing.unit_column = unit.column if unit is not None else None
                if unit is not None:  # rows finer than the unit (sessions of users): measured per unit
                    request["unit_column"] = unit.column
                    prefix += (
                        f", per {unit.one}: '{unit.column}' names the brief's unit ({unit.word}) and repeats across "
                        f"the rows, so the rows of one {unit.one} are not independent"
                    )
                return self._tool_turn(METRIC_HISTORY, request, on_text, prefix + ".\n\n")
        if step is Step.CLUSTER and _MEASURE.search(answer) and METRIC_HISTORY in tool_names():
            history = self._interview(step).cluster_history(answer)
            if history is not None:
                dataset, column, cluster = history
                if cluster is None:
                    return self._say(
                        f"Which column of '{dataset}' holds each unit's cluster? Say 'measure it, cluster=COLUMN'.",
                        on_text,
                    )
                kind = "binary" if self.state.sizing.metric == "proportion" else "continuous"
                request = {"dataset": dataset, "metric": column, "kind": kind, "unit_column": cluster}
                prefix = (
                    f"Measuring the units per '{cluster}' and the ICC of '{column}' within them on the history in "
                    f"'{dataset}'.\n\n"
                )
                return self._tool_turn(METRIC_HISTORY, request, on_text, prefix)
        if step is Step.REFUTE_OFFER and asks_for_whom(answer) and self._follow_up() is not None:
            self.state.analysis.challenge = False  # asked for the follow-up instead of the checks
            self.state.done.add(Step.REFUTE_OFFER)
            self.state.done -= {Step.WHOM_OFFER, Step.WHOM}
            return self._ask(self._next(), on_text)
        interview = self._interview(step)
        slot = slot_of(step)
        taken = interview.take_slot(step, slot, answer) if slot is not None else interview.take(step, answer)
        if taken.say is not None:
            return self._say(taken.say, on_text)
        self.state.pending = None
        if taken.update is not None:  # what it has to say comes with the next question, after the update
            self.state.note = taken.prefix
            return self._tool_turn(UPDATE_BRIEF, taken.update, on_text)
        return self._ask(self._next(), on_text, prefix=taken.prefix + "\n\n") if taken.prefix else None

    def _latest_result(self, tool: str) -> dict[str, Any] | None:
        """``tool``'s latest successful result as the tool returned it: the conversation's typed run, else (a
        resumed session) the transcript's copy with the data markers the model reads taken off."""
        for run in reversed(getattr(self._conversation, "runs", None) or ()):
            if getattr(run, "name", None) == tool and hasattr(run.outcome, "model_dump"):
                return dict(run.outcome.model_dump(mode="json"))
        payload = next((p for t, _a, p in reversed(list(tool_runs(self._transcript))) if t == tool), None)
        return unmarked(payload) if payload is not None else None

    def _take_offer(self, answer: str, on_text: Callable[[str], None]) -> AssistantTurn | None:
        """The answer to the follow-up's offer: run it (with the roles as changed), end here, or ask again."""
        follow = self._follow_up()
        state = self.state
        if follow is None:  # the analysis changed under the offer: go on
            state.done.add(Step.WHOM_OFFER)
            return None
        offer = read_offer(answer, follow)
        if offer.say:
            return self._say(offer.say, on_text)
        state.pending = None
        state.done.add(Step.WHOM_OFFER)
        state.analysis.follow_roles = dict(follow.roles)
        state.analysis.follow_wanted = offer.accept
        if offer.accept:
            return self._ask(Step.WHOM, on_text, prefix=said_back(follow) + "\n\n")
        return None

    def _take_check(self, answer: str, on_text: Callable[[str], None]) -> AssistantTurn | None:
        """The answer to the A/A offer: run it (on the dataset and columns as changed), go on to the sizing, or ask
        again."""
        state = self.state
        named = re.search(r"\bdata\s*set\s*[=:]\s*([^;,\n]+)", answer, re.I)
        if named is not None:
            state.check_dataset, state.check_roles = named.group(1).strip().strip("'\""), None
        check = self._check()
        if check is None:  # nothing fits (the dataset named holds no metric): go on to the sizing
            state.done.add(Step.AA_OFFER)
            prefix = "There is no metric column to check in that dataset; going on to the sizing.\n\n"
            return self._ask(self._next(), on_text, prefix=prefix)
        metric_before = check.roles.get("metric")
        offer = read_offer(answer, check, Step.AA_OFFER)
        if check.roles.get("metric") != metric_before and not re.search(r"\bkind\s*[=:]", answer, re.I):
            dataset = next((d for d in self.catalog if d.name == check.dataset), None)  # a new metric: its own kind
            if dataset is not None:
                check.roles["kind"] = kind_of(dataset, str(check.roles["metric"]))
        if named is not None and not (offer.accept or offer.decline):
            offer.accept, offer.say = True, ""
        if offer.say:
            return self._say(offer.say, on_text)
        state.pending = None
        state.done.add(Step.AA_OFFER)
        state.check_dataset, state.check_roles = check.dataset, dict(check.roles)
        state.check_wanted = offer.accept
        if offer.accept:
            return self._ask(Step.AA, on_text)
        return None

    def _interview(self, step: Step | None = None) -> Interview:
        """The reading of the scoping, design and sizing answers on this interview's state."""
        slot = slot_of(step) if step is not None else None
        return Interview(
            self.state,
            outcome=self.brief.slot("outcome").value or "",
            slot_value=self._slot_value(slot) if slot is not None else "",
            datasets=self._datasets(),
            unit=" ".join(self.brief.slot(name).value or "" for name in ("unit", "population")),
        )

    def _set_design(self, step: Step, decided: bool) -> None:
        """Record a yes/no answer (or a resumed session's) and mark its step done."""
        set_design(self.state, step, decided)

    def _analysis_tool(self) -> str:
        analysis = analysis_for(self.state.design.method)
        assert analysis is not None
        return analysis.tool

    def _take_analysis(self, step: Step, answer: str, on_text: Callable[[str], None]) -> AssistantTurn | None:
        reply = self._analysis_talk().take(step, answer)
        self.state.pending = reply.pending
        if reply.text is not None:
            return self._say(reply.text, on_text)
        return self._ask(self._next(), on_text, prefix=reply.prefix) if reply.prefix else None

    def _analysis_talk(self) -> AnalysisTalk:
        """The analysis set-up's questions and answers on this interview's state and the attached data."""
        brief = self.brief
        context = " ".join(brief.slot(slot).value or "" for slot in ("intervention", "population", "counterfactual"))
        method = self.state.design.method or ""
        guardrails, unit = brief.outcome.guardrails, brief.slot("unit").value or ""
        return AnalysisTalk(
            self.state, self.catalog, method, self._metric(), self._note_facts, context, guardrails, unit
        )

    def _metric(self) -> str:
        """The brief's primary metric as the user wrote it ("" before it is answered)."""
        return self.brief.slot("outcome").value or ""

    def _note_facts(self, facts: dict[str, Any]) -> None:
        """The numbers a set-up sentence shows, from the data's profile: the conversation's provenance check counts
        them as computed (they are, by :mod:`tools.data.profile`), not invented."""
        sources = getattr(self._conversation, "sources", None)
        if isinstance(sources, list) and facts:
            sources.append({"data_profile": facts})

    def _take_item(self, answer: str, on_text: Callable[[str], None]) -> AssistantTurn:
        """An answer to the pre-registration item being asked; the closing once none is left (or on "done")."""
        text, asking = take_item(self._conversation, self.state.prereg, answer)
        if asking:
            self.state.pending = Step.PREREG
            return self._say(text, on_text)
        return self._closing(text + "\n\n" if text else "", on_text, reopen=False)

    def _closing(self, prefix: str, on_text: Callable[[str], None], *, reopen: bool = True) -> AssistantTurn:
        """The end of the interview, or what the user asked to change after it (the set-up reopens there). After a
        run whose own checks failed it says so and what can be done, instead of declaring the scoping complete.
        With pre-registration items still open it offers to answer them, and starts when the user wants to."""
        state = self.state
        last = self._transcript[-1] if self._transcript else {}
        answer = str(last.get("content") or "").strip() if last.get("role") == "user" and reopen else ""
        recommended = self._latest_result(RECOMMEND) if answer and asks_what_is_needed(answer) else None
        needs = (what_would_help(recommended) or what_it_takes(recommended)) if recommended is not None else ""
        if needs:  # "what would we need?": the recommendation's own answer, not the closing again
            state.pending = None
            return self._say(prefix + needs, on_text)
        if answer and wants_items(answer, state.prereg):
            question = ask_item(self._conversation, state.prereg)
            if question is not None:
                state.pending = Step.PREREG
                return self._say(prefix + question, on_text)
        if answer and asks_for_whom(answer):
            follow = self._follow_up()
            if follow is not None:
                state.done -= {Step.WHOM_OFFER, Step.WHOM}
                state.analysis.follow_wanted = False
                state.pending = Step.WHOM_OFFER
                return self._say(prefix + self._question(Step.WHOM_OFFER), on_text)
        guided = analysis_for(state.design.method)
        talk = self._analysis_talk() if guided is not None and self._datasets() else None
        reply = talk.reopen(answer) if talk is not None and answer else None
        if reply is not None:
            state.pending = reply.pending
            if reply.text is not None:
                return self._say(prefix + reply.text, on_text)
            return self._ask(self._next(), on_text, prefix=prefix + reply.prefix)
        state.pending = None
        ending = "In the app, /prereg drafts the pre-registration from them and /plot saves the latest figure."
        offer = offer_items(self._conversation, state.prereg)
        if talk is None or state.analysis.request is None:
            text = "The scoping is complete: the brief holds your answers, and the tools' results are above. " + ending
            return self._say(prefix + text + offer, on_text)
        flaws = self._flaws()
        if flaws:
            text = (
                f"The analysis ran, but {flaws}: read the details above before relying on the estimate. "
                + closing_options(talk.guide)
                + " The brief holds your answers; /prereg drafts the pre-registration in the app."
            )
        else:
            text = (
                "The scoping is complete: the brief holds your answers, and the tools' results are above. "
                + ending
                + " "
                + closing_options(talk.guide)
            )
        return self._say(prefix + text + offer, on_text)

    def _flaws(self) -> str:
        """What went wrong in the latest analysis run ("" if nothing): its own failed checks, a failed battery."""
        failed: list[str] = []
        verdict: str | None = None
        tool = self._analysis_tool()
        for name, _arguments, payload in tool_runs(self._transcript):
            if name == tool:
                failed, verdict = failed_checks(payload), None
            elif name == REFUTE:
                verdict = str(payload.get("verdict") or "") or None
        return flaws_text(failed, verdict)

    def _slot_value(self, slot: SlotName) -> str:
        return self.brief.slot(slot).value or "(as answered)"

    # -- after a tool ran ------------------------------------------------------------------------------------

    def _after_tool(self, messages: Sequence[Message], on_text: Callable[[str], None]) -> AssistantTurn:
        call_name = self._last_call(messages)
        payload = tool_payload(messages[-1], getattr(self._conversation, "runs", None) or ())
        done = self.state.done
        if call_name == AA_TEST and self.state.design.method != "aa_check":
            return self._after_check(payload, on_text)
        if (
            call_name == METRIC_HISTORY
            and self.state.design.clustered
            and Step.CLUSTER not in done
            and (Step.MDE in done)
        ):
            return self._after_cluster_history(payload, on_text)
        if call_name == METRIC_HISTORY and Step.QUASI_SIZE in done and Step.QUASI_CORR not in done:
            taken = quasi_measured(self.state, payload)  # a DiD's ICC, measured before it starts
            self.state.pending = Step.QUASI_CORR if taken.say is not None else None
            return (
                self._say(taken.say, on_text) if taken.say else self._ask(self._next(), on_text, taken.prefix + "\n\n")
            )
        if call_name == METRIC_HISTORY:
            return self._after_history(payload, on_text)
        if call_name == ASSIGN:
            said, again = self._assign().after(payload)
            if again:
                self.state.pending = Step.ASSIGN_OFFER
                return self._say(said + "\n\n" + self._question(Step.ASSIGN_OFFER), on_text)
            return self._ask(self._next(), on_text, prefix=said + "\n\n")
        follow_up = self._follow_up_name()
        if follow_up is not None and call_name == follow_up and call_name != self._analysis_tool():
            return self._after_follow_up(payload, on_text)
        if "error" in payload:
            error = payload["error"]
            if call_name == POWER and self._quasi() and not self.state.design.experiment:
                forget_quasi(self.state)
            elif call_name == POWER:  # numbers the user gave were not usable: ask for them again
                done -= {Step.BASELINE, Step.STD_DEV, Step.MDE, Step.CLUSTER, Step.DAILY_UNITS, Step.POWER}
                self.state.sizing.cluster_size = self.state.sizing.icc = None
                self.state.sizing.unit_column = None
            elif call_name in ANALYSES:  # a column did not fit: ask again (a split the data does not match too)
                done -= {Step.COLUMNS, Step.SPLIT, Step.ANALYSIS}
                if error.get("code") == "split_mismatch" and self.state.analysis.roles is not None:
                    self.state.analysis.roles.pop("split", None)
                self.state.analysis.proposed = self.state.analysis.roles or self.state.analysis.proposed
            elif call_name == REFUTE:
                done.add(Step.REFUTE)
            return self._ask(self._next(), on_text, prefix=f"{error['message']} {error['hint']}\n\n")
        if call_name == RECOMMEND:
            instead = self._recommended(payload)
            said, self.state.note = self.state.note, ""
            lead = said + "\n\n" if said else ""
            step = self._next()
            # the honest "no" says what would help; a recommendation nothing follows says what it takes
            extra = [what_would_help(payload), what_it_takes(payload) if step in (None, Step.QUASI_SIZE) else ""]
            told = "".join(f"{part}\n\n" for part in extra if part)
            return self._ask(step, on_text, prefix=lead + payload.get("summary", "") + "\n\n" + told + instead)
        if call_name == POWER:
            done.add(Step.POWER)
            if self.state.sizing.looks > 1 and isinstance(payload.get("n_total"), int):
                self.state.sizing.planned_n_total = payload["n_total"]
            notes = "".join(f"\n- {w}" for w in payload.get("warnings", []))
            return self._ask(self._next(), on_text, prefix=payload.get("summary", "") + notes + "\n\n")
        if call_name in ANALYSES or call_name == REFUTE:
            done.add(Step.ANALYSIS if call_name != REFUTE else Step.REFUTE)
            notes = "".join(f"\n- {w}" for w in payload.get("warnings", [])[:5])
            failed = failed_checks(payload) if call_name in ANALYSES else []
            if failed:  # a flawed design: say what can be done before going on
                guided = analysis_for(self.state.design.method)
                notes += f"\n\nThe analysis ran, but {flaws_text(failed, None)}. " + (
                    closing_options(guided.guide) + " Or go on:" if guided is not None else ""
                )
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
