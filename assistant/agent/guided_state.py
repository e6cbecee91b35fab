"""What the guided mode knows, typed: the steps of its interview, what it asks at each, how it reads the answers
and the transcript, and the facts gathered.

The brief is not here: the conversation holds it, and the guided mode reads it from the transcript. The six
scoping questions and their "why" follow-ups are :mod:`assistant.agent.scoping`'s; the design, sizing and
robustness questions are the guided mode's own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from assistant.agent.scoping import QUESTIONS as SLOT_QUESTIONS
from assistant.agent.scoping import SLOTS, WHY, SlotName
from tools.errors import ToolError
from tools.jsontext import loads

if TYPE_CHECKING:
    from pydantic import BaseModel

    from assistant.agent.backends import Message
    from tools.recommend import Assignment

__all__ = [
    "ACCEPT",
    "ASSIGNMENTS",
    "QUESTIONS",
    "SCOPING",
    "SIZING",
    "YES_NO",
    "AnalysisState",
    "DesignFacts",
    "GuidedState",
    "SizingNumbers",
    "Step",
    "number",
    "power_request",
    "recommend_request",
    "slot_of",
    "tool_payload",
    "tool_runs",
    "with_defaults",
    "yes_no",
]


class Step(StrEnum):
    """One step of the interview: a question the guided mode asks, or a tool it runs (:attr:`runs_tool`)."""

    INTERVENTION = "intervention"
    WHY_INTERVENTION = "why_intervention"
    OUTCOME = "outcome"
    POPULATION = "population"
    UNIT = "unit"
    COUNTERFACTUAL = "counterfactual"
    DECISION = "decision"
    WHY_DECISION = "why_decision"
    CAN_RANDOMIZE = "can_randomize"
    INTERFERENCE = "interference"
    ASSIGNMENT = "assignment"
    HAS_PRE = "has_pre"
    RECOMMEND = "recommend_method"
    METRIC_KIND = "metric_kind"
    BASELINE = "baseline"
    STD_DEV = "std_dev"
    MDE = "mde"
    DAILY_UNITS = "daily_units"
    POWER = "power"
    DATASET = "dataset"
    COLUMNS = "columns"
    ANALYSIS = "analysis"
    REFUTE_OFFER = "refute_offer"
    REFUTE = "refute"

    @property
    def runs_tool(self) -> bool:
        """The step is a tool call, not a question."""
        return self in (Step.RECOMMEND, Step.POWER, Step.ANALYSIS, Step.REFUTE)

    @property
    def is_why(self) -> bool:
        """The step asks why after a slot's answer (the answer joins the brief's why-chain)."""
        return self.value.startswith("why_")


def slot_of(step: Step) -> SlotName | None:
    """The brief's slot a scoping step fills (a why-step: the slot it follows), or None."""
    name = step.value.removeprefix("why_")
    return next((slot for slot in SLOTS if slot == name), None)


#: The scoping steps, in order: each slot of the brief, then its "why" where it has one.
SCOPING: tuple[Step, ...] = tuple(
    Step(key) for slot in SLOTS for key in (slot, *((f"why_{slot}",) if slot in WHY else ()))
)
#: The numbers power needs, in the order they are asked (the standard deviation only for an average).
SIZING: tuple[Step, ...] = (Step.METRIC_KIND, Step.BASELINE, Step.STD_DEV, Step.MDE, Step.DAILY_UNITS)

#: How the guided mode wants a slot's answer written, where it parses it.
_ANSWER_FORMS: dict[SlotName, str] = {
    "outcome": " Name those after 'guardrails:' (for example: checkout conversion; guardrails: refunds, page latency).",
}

#: What the guided mode asks at each question step (the dataset and the columns are asked with what is attached).
QUESTIONS: dict[Step, str] = {
    **{Step(slot): SLOT_QUESTIONS[slot] + _ANSWER_FORMS.get(slot, "") for slot in SLOTS},
    **{Step(f"why_{slot}"): question for slot, question in WHY.items()},
    Step.CAN_RANDOMIZE: "Can you randomly choose who gets the change? (yes / no)",
    Step.INTERFERENCE: "Can one unit's treatment affect another unit's outcome, as in a marketplace or a social "
    "feature? (yes / no)",
    Step.ASSIGNMENT: "How do units get the change: by a score cutoff, group by group over time, everyone at once, "
    "by opting in, in a single market, or through a randomized nudge (an invitation)?",
    Step.HAS_PRE: "Is the outcome measured for the same units before the change? (yes / no)",
    Step.METRIC_KIND: "To size the experiment: is the primary metric a rate (the share of units that do "
    "something) or an average (such as revenue per user)?",
    Step.BASELINE: "What is its current value? (a rate as a percentage or a fraction; an average in its units)",
    Step.STD_DEV: "What is the standard deviation of that average per unit? (from past data)",
    Step.MDE: "What is the smallest relative lift worth detecting, as a percentage?",
    Step.DAILY_UNITS: "How many eligible units enter per day, all arms together? (say 'skip' if unknown)",
    Step.REFUTE_OFFER: "Shall I challenge this estimate with the robustness checks for its design (placebo tests, "
    "stability, sensitivity to what was not measured)? (yes / no)",
}


# -- reading the answers ------------------------------------------------------------------------------------------

#: Answers that accept a proposal (a dataset, column roles).
ACCEPT = {"ok", "okay", "yes", "y", "use it", "use them", "fine", "sure", "go", "looks good", "correct"}
#: recommend_method's assignments and the words in an answer that name them.
ASSIGNMENTS: list[tuple[Assignment, tuple[str, ...]]] = [
    ("cutoff", ("cutoff", "threshold", "score")),
    ("rollout_by_group_over_time", ("group by group", "over time", "staggered", "region", "rollout", "roll out")),
    ("all_at_once", ("at once", "everyone", "all users", "same day", "same date")),
    ("self_selected", ("opt", "choose", "chose", "self")),
    ("single_unit", ("single", "one market", "one country", "one city")),
    ("instrument", ("nudge", "invitation", "invite", "encourag", "instrument")),
]
#: The steps answered yes or no.
YES_NO = (Step.CAN_RANDOMIZE, Step.INTERFERENCE, Step.HAS_PRE, Step.REFUTE_OFFER)
_NUMBER = re.compile(r"[-+]?\d[\d,]*\.?\d*(?:[eE][-+]?\d+)?\s*%?")


def yes_no(text: str) -> bool | None:
    """A yes or a no at the start of the answer; None when it is neither."""
    words = re.findall(r"[a-z']+", text.lower())
    if not words:
        return None
    if words[0] in {"yes", "y", "yeah", "yep", "sure", "we", "can", "definitely"} and "not" not in words:
        return True
    if words[0] in {"no", "n", "nope", "not", "can't", "cannot", "never"} or "not" in words[:3]:
        return False
    return None


def number(text: str) -> tuple[float, bool] | None:
    """The first number in ``text`` and whether it was written as a percentage."""
    match = _NUMBER.search(text)
    if match is None:
        return None
    token = match.group(0).replace(",", "").strip()
    percent = token.endswith("%") or "percent" in text.lower()
    try:
        return float(token.rstrip("%").strip()), percent
    except ValueError:
        return None


# -- reading the transcript ---------------------------------------------------------------------------------------


def tool_runs(messages: Sequence[Message]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """The transcript's tool calls that succeeded, in order: (tool name, arguments, the result the model read).

    A resumed session is replayed from them, and the brief is rebuilt from its ``update_brief`` calls."""
    calls: dict[str, tuple[str, dict[str, Any]]] = {}
    for message in messages:
        for call in message.get("tool_calls") or []:
            try:
                arguments = json.loads(call["function"].get("arguments") or "{}")
            except json.JSONDecodeError:
                continue
            calls[call.get("id", "")] = (call["function"]["name"], arguments if isinstance(arguments, dict) else {})
        if message.get("role") != "tool" or message.get("tool_call_id") not in calls:
            continue
        name, arguments = calls[message["tool_call_id"]]
        try:
            payload = json.loads(message.get("content") or "{}")
        except json.JSONDecodeError:
            continue
        if isinstance(payload, dict) and "error" not in payload:
            yield name, arguments, payload


@dataclass
class DesignFacts:
    """What ``recommend_method`` is asked (from the user's answers) and what it recommended."""

    can_randomize: bool | None = None
    interference: bool | None = None
    assignment: Assignment | None = None
    has_pre: bool | None = None
    #: The top recommendation when whyscope can run it, else None.
    method: str | None = None
    #: The top recommendation is an experiment (its tool's guide says so): power sizes it before any analysis.
    experiment: bool = False


@dataclass
class SizingNumbers:
    """The numbers ``power`` needs, as the user gave them (a percentage already turned into a fraction)."""

    metric: Literal["proportion", "mean"] | None = None
    baseline: float | None = None
    std_dev: float | None = None
    mde: float | None = None  # relative
    daily_units: float | None = None


@dataclass
class AnalysisState:
    """The analysis on attached data: the dataset, the column roles proposed and agreed, the request sent, and
    whether the user accepted the robustness battery."""

    dataset: str | None = None
    proposed: dict[str, Any] | None = None
    roles: dict[str, Any] | None = None
    request: dict[str, Any] | None = None
    challenge: bool = False


@dataclass
class GuidedState:
    """Everything the guided mode knows besides the brief, and where the interview stands."""

    design: DesignFacts = field(default_factory=DesignFacts)
    sizing: SizingNumbers = field(default_factory=SizingNumbers)
    analysis: AnalysisState = field(default_factory=AnalysisState)
    #: Steps answered or run (a resumed session's replay marks them too).
    done: set[Step] = field(default_factory=set)
    #: The question awaiting the user's answer.
    pending: Step | None = None


# -- the requests the guided mode sends -------------------------------------------------------------------------


def with_defaults(model: type[BaseModel], given: Mapping[str, Any]) -> dict[str, Any]:
    """A request with ``given`` and every other field of the request model at its default, in the model's order
    (what a model's strict call sends)."""
    request: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name in given:
            request[name] = given[name]
        elif not info.is_required():
            request[name] = info.get_default(call_default_factory=True)
    return request


def recommend_request(design: DesignFacts) -> dict[str, Any]:
    """The recommend_method request from the design answers (the other fields at their defaults)."""
    from tools.registry import get_tool

    given = {
        "can_randomize": design.can_randomize,
        "assignment": "random" if design.can_randomize else design.assignment or "unknown",
        "has_pre_period_data": design.has_pre,
        "interference": design.interference,
    }
    return with_defaults(get_tool("recommend_method").request, given)


def power_request(sizing: SizingNumbers) -> dict[str, Any]:
    """The power request for a sample size from the sizing answers (the other fields at their defaults)."""
    from tools.registry import get_tool

    given = {
        "metric": sizing.metric,
        "baseline": sizing.baseline,
        "std_dev": sizing.std_dev,
        "solve_for": "sample_size",
        "mde": sizing.mde,
        "mde_kind": "relative",
        "daily_units": sizing.daily_units,
    }
    return with_defaults(get_tool("power").request, given)


def tool_payload(answer: Mapping[str, Any], runs: Sequence[Any] = ()) -> dict[str, Any]:
    """A tool's result (or error) as the user should read it: from the conversation's typed run for the answer's
    call when there is one (the answer in the history is written for the model: its data marked and escaped),
    else the answer's JSON."""
    call_id = answer.get("tool_call_id")
    for run in reversed(runs):
        if run.call_id == call_id:
            outcome = run.outcome
            return outcome.to_dict() if isinstance(outcome, ToolError) else dict(outcome.model_dump(mode="json"))
    try:
        payload = loads(answer.get("content") or "{}")
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}
