"""What the guided mode knows, typed: the steps of its interview, what it asks at each, how it reads the answers
and the transcript, and the facts gathered.

The brief is not here: the conversation holds it, and the guided mode reads it from the transcript. The six
scoping questions and their "why" follow-ups are :mod:`assistant.agent.scoping`'s; the design, sizing and
robustness questions are the guided mode's own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from assistant.agent.answers_design import ASSIGNMENT_CHOICES
from assistant.agent.answers_quasi import QuasiNumbers
from assistant.agent.scoping import QUESTIONS as SLOT_QUESTIONS
from assistant.agent.scoping import SLOTS, WHY, SlotName
from tools.errors import ToolError
from tools.jsontext import loads

if TYPE_CHECKING:
    from pydantic import BaseModel

    from assistant.agent.answers_numbers import Lift
    from assistant.agent.backends import Message
    from tools.recommend import Assignment

__all__ = [
    "ACCEPT",
    "CLUSTER_DESIGNS",
    "HELP",
    "QUESTIONS",
    "SCOPING",
    "SIZING",
    "SUGGESTED",
    "WHY_ASKED",
    "YES_NO",
    "AnalysisState",
    "DesignFacts",
    "GuidedState",
    "PreregTalk",
    "SizingNumbers",
    "Step",
    "power_request",
    "recommend_request",
    "slot_of",
    "tool_payload",
    "tool_runs",
    "with_defaults",
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
    CLUSTER = "cluster"
    DAILY_UNITS = "daily_units"
    LOOKS = "looks"
    AA_OFFER = "aa_offer"
    AA = "aa"
    POWER = "power"
    QUASI_SIZE = "quasi_size"
    QUASI_CORR = "quasi_corr"
    ASSIGN_OFFER = "assign_offer"
    ASSIGN = "assign"
    DATASET = "dataset"
    COLUMNS = "columns"
    ANALYSIS = "analysis"
    REFUTE_OFFER = "refute_offer"
    REFUTE = "refute"
    WHOM_OFFER = "whom_offer"
    WHOM = "whom"
    SPLIT = "split"
    PREREG = "prereg"

    @property
    def runs_tool(self) -> bool:
        """The step is a tool call, not a question."""
        return self in (Step.RECOMMEND, Step.POWER, Step.ANALYSIS, Step.REFUTE, Step.WHOM, Step.AA, Step.ASSIGN)

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
#: The numbers power needs, in the order they are asked (the standard deviation only for an average, the cluster
#: size and ICC only for a design that randomizes clusters).
SIZING: tuple[Step, ...] = (
    Step.METRIC_KIND,
    Step.BASELINE,
    Step.STD_DEV,
    Step.MDE,
    Step.CLUSTER,
    Step.DAILY_UNITS,
    Step.LOOKS,
)
#: recommend_method's designs that randomize whole clusters: sized with the cluster size and the ICC, never as if
#: their units were independent (that would understate the sample size by the design effect).
CLUSTER_DESIGNS = frozenset({"cluster_ab_test"})

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
    Step.ASSIGNMENT: "How do units get the change? Answer in your own words, or with a number:\n"
    + "\n".join(f"{number}. {words}" for number, (_, words) in enumerate(ASSIGNMENT_CHOICES, start=1)),
    Step.HAS_PRE: "Is the outcome measured for the same units before the change? (yes / no)",
    Step.METRIC_KIND: "To size the experiment: is the primary metric a rate (the share of units that do "
    "something) or an average (such as revenue per user)? (say 'skip' if it has already run)",
    Step.BASELINE: "What is its current value? (a rate as a percentage or a fraction; an average in its units)",
    Step.STD_DEV: "What is the standard deviation of that average per unit? (from past data)",
    Step.MDE: "What is the smallest lift worth detecting? Say it as a percentage of the current value (a relative "
    "lift), in percentage points for a rate, or in the metric's own units for an average.",
    Step.CLUSTER: "Randomizing by cluster (markets, teams): how many units does a cluster hold on average, and how "
    "alike are outcomes within one cluster (the intra-cluster correlation, ICC)? Say both, such as 'forty per "
    "cluster, ICC five percent'. (say 'skip' to leave the sizing for later)",
    Step.DAILY_UNITS: "How many eligible units enter per day, all arms together? (say 'skip' if unknown)",
    Step.LOOKS: "Will you look at the results before the end? (no, or how many looks in all, the final one included, "
    "such as 'five looks')",
    Step.REFUTE_OFFER: "Shall I challenge this estimate with the robustness checks for its design (placebo tests, "
    "stability, sensitivity to what was not measured)? (yes / no)",
    Step.QUASI_SIZE: "To size the design before it starts, tell me in one answer:",
    Step.QUASI_CORR: "How alike are a unit's outcomes from one period to the next? Give the ICC (the share of the "
    "outcome's variance that lies in stable differences between units) and the serial correlation (how much a "
    "unit's shock in one period carries into the next), such as 'ICC half, serial correlation a quarter', either "
    "one, or say 'don't know'.",
}

#: Why each question matters, for a user who asks ("why does that matter?"); the question follows it again.
WHY_ASKED: dict[Step, str] = {
    Step.INTERVENTION: "The change is what the estimate is about: naming it, and who gets it, decides which "
    "comparison can answer your question.",
    Step.WHY_INTERVENTION: "The problem the change should solve tells us which metric to watch and what result "
    "would count as success.",
    Step.OUTCOME: "One primary metric, chosen before the data are in, keeps the test honest: looking at many metrics "
    "and reporting the one that moved is how false wins happen. The guardrails are the metrics that must not get "
    "worse.",
    Step.POPULATION: "The effect is only known for the units the study includes: who is eligible sets who the "
    "result speaks for, and how many units there are.",
    Step.UNIT: "The unit is what gets the change: users, accounts, teams or markets. The analysis counts units, so "
    "the unit sets the sample size and how the uncertainty is computed.",
    Step.COUNTERFACTUAL: "An effect is a difference from what would have happened without the change; a comparison "
    "group stands in for that, and how good a stand-in it is decides which design fits.",
    Step.DECISION: "Knowing what you will do with each result keeps the study focused: it sets how large an effect "
    "matters and how sure you need to be.",
    Step.WHY_DECISION: "The result that would change your mind is the smallest effect worth detecting, and that "
    "drives the sample size.",
    Step.CAN_RANDOMIZE: "If you can decide by chance who gets the change, a randomized test compares like with like "
    "and rests on no further assumption; otherwise the way the change was assigned picks the design.",
    Step.INTERFERENCE: "A standard test assumes each unit's outcome depends only on its own treatment. If treated "
    "units affect the others (shared inventory, a marketplace, a social feature), the comparison is biased, and "
    "whole groups must be randomized instead.",
    Step.ASSIGNMENT: "How units got the change decides what can stand in for the ones that did not: a cutoff "
    "compares units just either side of it, a rollout compares groups not switched on yet, an opt-in compares "
    "users with similar profiles.",
    Step.HAS_PRE: "Measurements of the same units before the change let a design remove stable differences between "
    "them; without them some designs are not possible.",
    Step.METRIC_KIND: "A rate and an average need different formulas for the sample size: a rate's spread follows "
    "from the rate itself, an average's needs its standard deviation.",
    Step.BASELINE: "How many units a test needs depends on where the metric starts: a rate near the middle varies "
    "more than one near the edges, and a relative lift is a share of this value.",
    Step.STD_DEV: "The noisier the metric, the more units it takes to see a lift through the noise: the standard "
    "deviation measures that noise.",
    Step.MDE: "The smallest lift worth detecting sets the sample size: halving it takes about four times the units.",
    Step.CLUSTER: "Units in one cluster resemble each other, so each unit of a cluster-randomized test tells less "
    "than a unit randomized on its own: the sample size grows by the design effect, one plus the cluster size less "
    "one, times the ICC. Sized as if units were independent, the test would come out too small.",
    Step.DAILY_UNITS: "Units a day turn the sample size into the number of days the test must run.",
    Step.LOOKS: "Looking at a running test and stopping at the first significant result raises the false-positive "
    "rate far above alpha (five looks nearly triple it); planning the looks with alpha spending keeps it, at the "
    "price of a somewhat larger maximum sample.",
    Step.QUASI_SIZE: "Before the change starts, the numbers of units and periods decide how small an effect the design "
    "can tell apart from noise; sizing it now says whether the study is worth running, or how many more units or "
    "periods it needs.",
    Step.QUASI_CORR: "Periods of one unit are not independent measurements: stable differences between units and "
    "shocks that carry over from one period to the next change how much each extra period tells, and so the power.",
    Step.ASSIGN_OFFER: "Randomising the list now, from a fixed salt, fixes who gets the change before anyone sees a "
    "result; anyone can redraw the same assignment from the salt, and the balance table shows the arms start alike.",
    Step.DATASET: "The analysis runs on your data: I need to know which attached file holds it.",
    Step.COLUMNS: "Each design needs certain columns (the outcome, who was treated, and so on); naming them tells "
    "the analysis what to compare.",
    Step.SPLIT: "Knowing the planned split lets the sample-ratio check compare what happened with what was planned, "
    "instead of assuming an even split.",
    Step.REFUTE_OFFER: "An estimate can look convincing and still rest on an assumption that fails; the checks try "
    "to break it, and a result that survives them is one to act on.",
    Step.AA_OFFER: "An experiment's analysis assumes its units are independent and its metric well enough behaved "
    "for the test's approximation; splitting past data at random, where nothing differs between the halves, shows "
    "whether that holds before a real result depends on it (Kohavi, Tang and Xu call A/A tests the best guard "
    "against invalid experiments).",
    Step.WHOM_OFFER: "An average effect can hide users it helps a lot and users it does not help, or harms. Slicing "
    "the results by segment until one lights up finds differences that are not there; instead a model of each "
    "user's effect is fitted on half the data and tested on the other half, so what it finds is real.",
    Step.PREREG: "A pre-registration writes the analysis down before the result is known, so that no choice can be "
    "bent towards the answer someone hoped for; an item left open is a choice still free.",
}
#: A way forward for a user who does not know the answer (examples, what to look for, or what to say).
HELP: dict[Step, str] = {
    Step.INTERVENTION: "Describe the change in a sentence, for example: a new onboarding checklist for first-time "
    "users, or a price change for annual plans.",
    Step.WHY_INTERVENTION: "Say what you hope it fixes or improves, for example: new users drop off before they "
    "finish setting up.",
    Step.OUTCOME: "Pick the one metric the change is meant to move, such as checkout conversion, revenue per user or "
    "weekly active users; then the ones that must not get worse, such as refunds or support tickets.",
    Step.POPULATION: "For example: all new sign-ups, paying customers in Europe, or the stores of one region.",
    Step.UNIT: "Most product changes are assigned per user. Choose accounts when people share one, and teams or "
    "markets when users affect each other (a marketplace, a team tool). If unsure, users is the usual choice: "
    "reply 'ok' to take users.",
    Step.COUNTERFACTUAL: "Usually a randomly chosen control group that keeps the current version; without one, "
    "regions or teams not launched yet, or comparable users who did not get it. Reply 'ok' to take a randomly "
    "chosen control group.",
    Step.DECISION: "For example: ship if the metric rises and no guardrail falls; stop if it falls; iterate if the "
    "result is unclear.",
    Step.WHY_DECISION: "For example: a drop in a guardrail, or a lift too small to pay for the work.",
    Step.CAN_RANDOMIZE: "Answer yes if your team decides who gets the change and could leave some units out by "
    "chance, even a small holdout (a feature flag does it). Answer no if it already launched to everyone, or if a "
    "rule, a region's launch date or the users themselves decide who gets it.",
    Step.INTERFERENCE: "Answer yes if what one unit gets can change what another experiences: buyers and sellers "
    "sharing supply, friends seeing each other's posts, teammates sharing a tool, a shared budget. Answer no if each "
    "unit uses the product on its own. For a marketplace or a social feature, yes is the safer answer.",
    Step.HAS_PRE: "Answer yes if your logs, dashboards or data warehouse hold this metric for the same units from "
    "before the change; no if the metric only started with the change or the units are new.",
    Step.METRIC_KIND: "If each unit either does it or not (converts, churns, clicks), it is a rate; if it is an "
    "amount per unit (revenue, minutes, orders), it is an average.",
    Step.BASELINE: "Your dashboard's value for recent weeks will do; a rough value is fine. Or say 'skip' to leave "
    "the sizing for later.",
    Step.STD_DEV: "For revenue or time per user the standard deviation is often two to three times the average: give "
    "a value, a range such as 'between' one value 'and' another (I will size with the larger end, the safe side), "
    "or 'twice the average'. Or say 'skip' to leave the sizing for later.",
    Step.MDE: "Think of the smallest change that would make you act: smaller lifts need many more units. Say it as a "
    "percentage of the current value, in percentage points for a rate, or in the metric's units for an average. Or "
    "say 'skip' to leave the sizing for later.",
    Step.CLUSTER: "The cluster size is the average number of units in one cluster: sellers per city, users per "
    "team (the units divided by the clusters). The ICC is the share of the metric's variation that lies between "
    "clusters rather than within them; a past cluster-randomized test, or the metric's history with its cluster, "
    "measures it. Without it the sample size cannot account for the clustering, and I will not assume one for you: "
    "give a figure you can stand behind, or say 'skip' to leave the sizing for later.",
    Step.DAILY_UNITS: "Say 'skip': the sample size does not need it, only the duration does.",
    Step.LOOKS: "Say 'no' for one analysis at the end, or the number of looks in all, the last one included (such as "
    "'four looks, one a week'). O'Brien-Fleming spending asks much of early looks; say 'Pocock' to spread alpha "
    "evenly.",
    Step.AA_OFFER: "Any past data of the metric will do: one row per user, or per session with the user's ID (then "
    "say cluster=the ID column, or let the check find it). Yes runs it; no goes on to the sizing.",
    Step.WHOM_OFFER: "The traits are columns that describe users before the change: tenure, plan, usage in the weeks "
    "before, region. Leave out anything the change itself can move (activity after launch). Subgroups are the "
    "columns whose levels you decided to compare before seeing the results. Yes runs it; no ends here.",
    Step.QUASI_SIZE: "Rough figures will do: the units you plan to switch on and the ones you will compare them with, "
    "the periods of data you will have, and the outcome's spread from past dashboards or reports. Leave the effect "
    "out and the sizing finds the smallest one the design can detect; or say 'skip' to leave the sizing for later.",
    Step.QUASI_CORR: "A past panel of the outcome measures both: the ICC is the share of its variance between units' "
    "averages, the serial correlation the correlation of a unit's deviations in adjacent periods. Say 'don't know' "
    "to size without them: power then assumes none and its result says so.",
    Step.ASSIGN_OFFER: "Yes draws the arms now from the salt; you can name the unit column, strata (columns whose "
    "groups should be split evenly, such as a region or a plan), the arms and the salt. No goes on without it.",
    Step.REFUTE_OFFER: "The checks re-run the analysis in ways that should not change its answer (placebo dates or "
    "cutoffs, other settings) and measure how strong an unmeasured factor would have to be to explain the estimate "
    "away. Yes runs them; no ends here.",
}
#: What a scoping step proposes when the user does not know and accepts the suggestion ("ok").
SUGGESTED: dict[Step, str] = {
    Step.UNIT: "users",
    Step.COUNTERFACTUAL: "a randomly chosen control group that keeps the current version",
}


# -- reading the answers ------------------------------------------------------------------------------------------

#: Answers that accept a proposal (a dataset, column roles).
ACCEPT = {"ok", "okay", "yes", "y", "use it", "use them", "fine", "sure", "go", "looks good", "correct"}
#: The steps answered yes or no (read by :func:`assistant.agent.answers.read_yes_no`; the other answers' readers
#: are in :mod:`assistant.agent.answers` and :mod:`assistant.agent.answers_numbers`).
YES_NO = (Step.CAN_RANDOMIZE, Step.INTERFERENCE, Step.HAS_PRE, Step.REFUTE_OFFER)


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

    @property
    def clustered(self) -> bool:
        """The design randomizes whole clusters: power needs the cluster size and the ICC."""
        return self.method in CLUSTER_DESIGNS


@dataclass
class SizingNumbers:
    """The numbers ``power`` needs, as the user gave them (a percentage already turned into a fraction)."""

    metric: Literal["proportion", "mean"] | None = None
    baseline: float | None = None
    std_dev: float | None = None
    mde: float | None = None
    #: How ``mde`` is meant: absolute (the metric's units; a rate's points as a fraction) or relative (a share).
    mde_kind: Literal["absolute", "relative"] = "relative"
    daily_units: float | None = None
    #: Planned looks in all (1: a single analysis at the end) and the alpha spending for interim looks.
    looks: int = 1
    spending: Literal["obrien_fleming", "pocock"] = "obrien_fleming"
    #: The power design's maximum units across the arms, when looks are planned (an interim analysis's denominator).
    planned_n_total: int | None = None
    #: The user's words for the baseline, to say the lift back in them.
    baseline_said: str | None = None
    #: A lift read but not confirmed yet: it is said back, and power runs only once the user agrees.
    lift: Lift | None = None
    #: A cluster design's average units per cluster and intra-cluster correlation, and the user's words for them
    #: (one may be known while the other is asked again).
    cluster_size: float | None = None
    icc: float | None = None
    cluster_size_said: str | None = None
    icc_said: str | None = None
    #: The column of the brief's unit when the history's rows are finer than it (sessions of a user): the baseline
    #: was measured with its rows per unit and ICC, and the sample size counts rows grouped by it.
    unit_column: str | None = None


@dataclass
class AnalysisState:
    """The analysis on attached data: the dataset, the column roles proposed and agreed, the request sent, and
    whether the user accepted the robustness battery."""

    dataset: str | None = None
    proposed: dict[str, Any] | None = None
    roles: dict[str, Any] | None = None
    request: dict[str, Any] | None = None
    challenge: bool = False
    #: The follow-up's roles once proposed (the user's changes kept), and whether the user wants it run.
    follow_roles: dict[str, Any] | None = None
    follow_wanted: bool = False


@dataclass
class PreregTalk:
    """The pre-registration's open items, asked one at a time once the user wants to answer them."""

    #: The closing offered to answer the open items.
    offered: bool = False
    #: Items the user chose to leave open ("skip").
    skipped: set[str] = field(default_factory=set)
    #: The item being asked (its key).
    item: str | None = None


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
    #: How many times in a row the user did not know the answer to a question.
    unsure: dict[Step, int] = field(default_factory=dict)
    #: Said before the next question (after a brief update that needed a word: a long answer kept in part).
    note: str = ""
    prereg: PreregTalk = field(default_factory=PreregTalk)
    #: The A/A check before sizing: its dataset and roles once proposed (changes kept), and whether to run it.
    check_dataset: str | None = None
    check_roles: dict[str, Any] | None = None
    check_wanted: bool = False
    #: The unit the A/A check found repeating across rows (its fix: analyse per that unit), proposed as the
    #: experiment's cluster column when the analysed data have it.
    check_unit: str | None = None
    #: A quasi-experiment's sizing numbers (:mod:`assistant.agent.guided_quasi`).
    quasi: QuasiNumbers = field(default_factory=QuasiNumbers)
    #: The randomisation of an attached unit list: the offer (an ``guided_assign.AssignOffer``, the user's changes
    #: kept) and whether to run it.
    assign_offer: Any = None
    assign_wanted: bool = False


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
        "mde_kind": sizing.mde_kind,
        "daily_units": sizing.daily_units,
    }
    if sizing.looks > 1:
        given |= {"looks": sizing.looks, "spending": sizing.spending}
    if sizing.cluster_size is not None and sizing.icc is not None:  # a cluster design: the design effect applies
        given |= {"cluster_size": sizing.cluster_size, "icc": sizing.icc}
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
