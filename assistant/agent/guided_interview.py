"""The guided mode's reading of the answers to its own questions: the scoping slots, the design and the sizing.

:class:`Interview` takes one answer for one step, with the readers of :mod:`assistant.agent.answers` and
:mod:`assistant.agent.answers_numbers`, and says what follows as a :class:`Taken`: the step is answered (the
state updated, maybe a line said before the next question, maybe an ``update_brief`` to send), or it stays open
with something to say — why the question matters, a way forward for "I don't know", what could not be read and
the choices, a value that cannot be right in the user's terms, or the lift said back for confirmation before power
runs. A non-answer is never stored as an answer. Its sentences hold no number of their own: what they quote is the
user's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assistant.agent.answers import Reading, normalize, read_slot, read_yes_no
from assistant.agent.answers_cluster import read_cluster
from assistant.agent.answers_design import ASSIGNMENT_CHOICES, read_assignment, read_metric_kind
from assistant.agent.answers_numbers import (
    describe_lift,
    quantities,
    read_baseline,
    read_daily_units,
    read_looks,
    read_mde,
    read_std_dev,
)
from assistant.agent.brief import MAX_TEXT
from assistant.agent.guided_state import HELP, QUESTIONS, SIZING, SUGGESTED, WHY_ASKED, GuidedState, Step
from assistant.agent.scoping import SlotName
from tools.data.names import singular

__all__ = ["MAX_GUARDRAILS", "Interview", "Taken", "head_of", "set_design"]

#: update_brief takes at most this many guardrails.
MAX_GUARDRAILS = 20
_ACCEPT = re.compile(
    r"^(?:ok(?:ay)?|yes|yeah|yep|sure|fine|go|go ahead|sounds good|that works|do that|use (?:it|that)"
    r"|take (?:it|that))$"
)
_YES_NO_TOPICS = {
    Step.CAN_RANDOMIZE: "can_randomize",
    Step.INTERFERENCE: "interference",
    Step.HAS_PRE: "has_pre",
    Step.REFUTE_OFFER: "refute",
}
_ASSIGNMENT_WORDS = dict(ASSIGNMENT_CHOICES)
#: Words that leave the sizing for later, at any sizing question but the daily units (where "skip" skips those).
_SKIP_SIZING = re.compile(
    r"^\W*skip\b|\b(?:has |have |had )?already (?:ran|run|happened|been run|finished|done)\b|\bno need to size\b"
    r"|\b(?:don't|do not) need (?:to size|sizing|a sample size)\b|\bskip (?:the )?sizing\b"
)
#: What an unknown ICC means for a cluster design's sizing (the guided mode never assumes one).
_NO_ICC = (
    "Without the ICC the sample size cannot account for the clustering: sized as if every unit were independent, "
    "the test would come out too small, so I will not size it that way or assume an ICC for you."
)
#: Column names that usually hold a unit's cluster (their singular forms).
_CLUSTER_NAMES = frozenset(
    (  # noqa: SIM905
        "cluster market city region team workspace store school classroom country area org organization household"
    ).split()
)


#: How an assignment that was read is said back.
_SAID_BACK = {
    "cutoff": "a cutoff on a score decides who gets the change",
    "rollout_by_group_over_time": "groups get the change at different dates (a staggered rollout)",
    "all_at_once": "everyone gets the change at once",
    "self_selected": "units choose (or are picked) to get the change",
    "single_unit": "a single market or unit gets the change",
    "instrument": "a randomized nudge, such as an invitation, moves who takes the change up",
    "random": "the change was assigned at random",
}


@dataclass(frozen=True)
class Taken:
    """What an answer does. ``say`` set: the step stays open and this is said. Otherwise the step is answered:
    ``prefix`` is said before the next question, and ``update`` (update_brief's arguments) is sent first if set."""

    say: str | None = None
    prefix: str = ""
    update: dict[str, Any] | None = None


def set_design(state: GuidedState, step: Step, decided: bool | None) -> None:
    """Record a yes/no answer (None: left open) and mark its step done."""
    design = state.design
    if step is Step.CAN_RANDOMIZE:
        design.can_randomize = decided
    elif step is Step.INTERFERENCE:
        design.interference = decided
    elif step is Step.HAS_PRE:
        design.has_pre = decided
    else:
        assert step is Step.REFUTE_OFFER, step
        state.analysis.challenge = bool(decided)
    state.done.add(step)


def head_of(text: str, limit: int = MAX_TEXT) -> str:
    """The first sentences of ``text`` that fit in ``limit`` characters (the first words, if one sentence does
    not fit)."""
    if len(text) <= limit:
        return text
    head = ""
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        if len(head) + len(sentence) + 1 > limit:
            break
        head = f"{head} {sentence}".strip()
    if not head:
        head = text[: text.rfind(" ", 0, limit) if " " in text[:limit] else limit].rstrip()
    return head


_UNIT_WORDS = frozenset(
    (  # noqa: SIM905
        "user users customer customers account accounts session sessions visitor visitors member members unit"
        " units person people agent agents team teams store stores state states day days week weeks month"
        " months"
    ).split()
)


def _words(name: str) -> set[str]:
    """The words of a metric or column name that can match ("revenue_per_user" -> {"revenue"})."""
    return {w for w in re.findall(r"[a-z]+", name.lower()) if len(w) >= 4 and w not in _UNIT_WORDS}


class Interview:
    """Reads an answer to a scoping, design or sizing question against the interview's ``state``.

    ``outcome`` is the brief's primary metric as the user wrote it, ``slot_value`` what a slot holds (for its why),
    ``datasets`` the attached datasets' columns (a way forward for an unknown standard deviation), and ``unit`` the
    brief's unit and population (the words that name a cluster design's cluster, such as "grouped by city")."""

    def __init__(
        self,
        state: GuidedState,
        *,
        outcome: str = "",
        slot_value: str = "",
        datasets: Mapping[str, Sequence[str]] | None = None,
        unit: str = "",
    ) -> None:
        self.state = state
        self.outcome = outcome
        self.slot_value = slot_value
        self.datasets = dict(datasets or {})
        self.unit = unit

    # -- what is asked ----------------------------------------------------------------------------------------

    def question(self, step: Step) -> str:
        """The question for ``step`` (a lift waiting for confirmation is asked about again), after the note a brief
        update left to say, if any."""
        note, self.state.note = self.state.note, ""
        lead = note + "\n\n" if note else ""
        lift = self.state.sizing.lift
        if step is Step.MDE and lift is not None:
            sizing = self.state.sizing
            reading = describe_lift(lift, sizing.metric, sizing.baseline_said)
            return f"{lead}Reading the lift as {reading}. Is that right? (yes, or give the lift again)"
        measured = self.measurable() if step in (Step.BASELINE, Step.STD_DEV) else None
        if measured is not None:
            dataset, name = measured
            return (
                lead + QUESTIONS[step] + f" Or say 'measure it': I will measure the baseline and the spread on the "
                f"history in '{dataset}' (column '{name}')."
            )
        if step is Step.CLUSTER and (history := self.cluster_history()) is not None:
            dataset, name, cluster = history
            if cluster is not None:
                return (
                    lead + QUESTIONS[step] + f" Or say 'measure it': I will measure both on the history in "
                    f"'{dataset}' (column '{name}', clusters by column '{cluster}')."
                )
            return (
                lead + QUESTIONS[step] + f" Or say 'measure it, cluster=COLUMN', naming the column of '{dataset}' "
                "that holds each unit's cluster: I will measure both on its history."
            )
        unit = self.state.sizing.unit_column
        if step is Step.DAILY_UNITS and unit is not None and self.state.sizing.cluster_size is not None:
            return (
                lead + QUESTIONS[step] + f" Count rows as the history does (the sample size counts rows grouped by "
                f"'{unit}'), not distinct '{unit}' values."
            )
        return lead + QUESTIONS[step]

    def cluster_history(self, answer: str = "") -> tuple[str, str, str | None] | None:
        """For 'measure it' at the cluster question: the attached dataset and column that hold the primary metric's
        past values, and the column that names each unit's cluster — named in ``answer`` ("cluster=city"), else the
        one column whose name is a word of the brief's unit and population, or a cluster's usual name (None when
        there is not exactly one). None without a history of the metric."""
        measured = self._matching_column()
        if measured is None:
            return None
        dataset, name = measured
        columns = [c for c in self.datasets.get(dataset, ()) if c != name]
        named = re.search(r"\bcluster(?:_column)?\s*[=:]\s*['\"]?([^'\";,\n]+)", answer, re.I)
        if named is not None:
            wanted = named.group(1).strip()
            return dataset, name, next((c for c in columns if c.lower() == wanted.lower()), wanted)
        # the words after "by", "per" or "within" in the unit ("sellers, grouped by city"), or a cluster's usual name
        said = {singular(w) for w in re.findall(r"\b(?:by|per|within|across|in each)\s+([a-z]+)", self.unit.lower())}
        fits = [c for c in columns if {singular(w) for w in re.findall(r"[a-z]+", c.lower())} & (said | _CLUSTER_NAMES)]
        return dataset, name, fits[0] if len(fits) == 1 else None

    def measurable(self) -> tuple[str, str] | None:
        """The attached dataset and column that hold the primary metric's past values, if any (for 'measure it')."""
        return self._matching_column()

    def _again(self, step: Step, lead: str) -> Taken:
        return Taken(say=f"{lead}\n\n{self.question(step)}" if lead else self.question(step))

    def _off_script(self, step: Step, reading: Reading[Any]) -> Taken:
        """A question back, or "I don't know": why the question matters, or a way forward; the question again."""
        if reading.kind == "why":
            return self._again(step, WHY_ASKED[step])
        if reading.kind == "meaning":
            return self._again(step, WHY_ASKED[step] + " " + self._help(step))
        return self._again(step, "No problem. " + self._help(step))

    def _help(self, step: Step) -> str:
        if step is Step.ASSIGNMENT:
            return "Which of these comes closest? Answer with its number or in your own words."
        help_text = HELP[step]
        if step is Step.STD_DEV and (column := self._matching_column()) is not None:
            dataset, name = column
            help_text += (
                f" The attached dataset '{dataset}' has a column '{name}': the standard deviation of its past values "
                "is the number to give (the power calculation takes the number, not the file)."
            )
        return help_text

    def _matching_column(self) -> tuple[str, str] | None:
        """The attached dataset's column whose name shares the most words with the primary metric (words that name
        the unit, such as "user", do not count)."""
        words = _words(self.outcome)
        best: tuple[int, str, str] | None = None
        for dataset, columns in self.datasets.items():
            for column in columns:
                shared = len(words & _words(column))
                if shared and (best is None or shared > best[0]):
                    best = (shared, dataset, column)
        return None if best is None else (best[1], best[2])

    def _unsure(self, step: Step) -> int:
        """Count a "don't know" for ``step``; the count so far, this one included."""
        count = self.state.unsure.get(step, 0) + 1
        self.state.unsure[step] = count
        return count

    def _answered(self, step: Step, prefix: str = "", update: dict[str, Any] | None = None) -> Taken:
        self.state.unsure.pop(step, None)
        self.state.done.add(step)
        return Taken(prefix=prefix, update=update)

    # -- the scoping slots --------------------------------------------------------------------------------------

    def take_slot(self, step: Step, slot: SlotName, answer: str) -> Taken:
        """A slot's answer (or its why's) for the brief; a non-answer keeps the question open."""
        suggested = SUGGESTED.get(step)
        if suggested is not None and self.state.unsure.get(step) and _ACCEPT.match(normalize(answer).strip(" .!")):
            return self._answered(step, f"Taking {suggested}.", self.brief_update(step, slot, suggested))
        reading = read_slot(answer)
        if reading.kind == "answer":
            text = answer.strip()
            note = ""
            if len(text) > MAX_TEXT:
                note = (
                    "Your answer is longer than one entry of the brief holds: the brief keeps its first sentences, "
                    "and the whole answer stays word for word in the conversation and the session file."
                )
            return self._answered(step, note, self.brief_update(step, slot, text))
        if reading.kind in ("why", "meaning"):
            return self._off_script(step, reading)
        if reading.kind == "dont_know":
            if self._unsure(step) < 2:
                return self._off_script(step, reading)
            return self._left_open(step, slot)
        return self._again(step, "I did not catch an answer there.")

    def _left_open(self, step: Step, slot: SlotName) -> Taken:
        """A second "I don't know": the slot is proposed as open with an assumption (a why is skipped)."""
        self.state.unsure.pop(step, None)
        self.state.done.add(step)
        if step.is_why:
            return Taken(prefix="Fine, we can leave that open.")
        update = self.brief_update(step, slot, "not settled yet")
        update.update(
            status="proposed",
            assumption=f"The {slot} was left open in the scoping: settle it before relying on the result.",
        )
        return Taken(prefix=f"I will mark the {slot} as open in the brief; we can come back to it.", update=update)

    def brief_update(self, step: Step, slot: SlotName, answer: str) -> dict[str, Any]:
        """update_brief's arguments for a slot's answer (the outcome's guardrails split off) or its why, each text
        within the brief's limit (its first sentences: the whole answer stays in the conversation)."""
        arguments: dict[str, Any] = {
            "slot": slot,
            "value": head_of(answer),
            "status": "confirmed",
            "guardrails": None,
            "why_question": None,
            "why_answer": None,
            "assumption": None,
        }
        if step.is_why:
            arguments.update(
                value=head_of(self.slot_value or "(as answered)"),
                why_question=QUESTIONS[step],
                why_answer=head_of(answer),
            )
        elif slot == "outcome" and "guardrail" in answer.lower():
            primary, rest = re.split(r"(?i)guardrails?\s*:?", answer, maxsplit=1)
            guardrails = [g.strip(" .") for g in re.split(r"[;,]| and ", rest) if g.strip(" .")]
            arguments["value"] = head_of(primary.strip(" ;,.") or answer)
            arguments["guardrails"] = [head_of(g) for g in guardrails[:MAX_GUARDRAILS]] or None
        return arguments

    # -- the design and the sizing ------------------------------------------------------------------------------

    def take(self, step: Step, answer: str) -> Taken:
        """An answer to a design or sizing question ("skip" at a sizing question leaves the sizing for later)."""
        if step in SIZING and step is not Step.DAILY_UNITS and _SKIP_SIZING.search(normalize(answer)):
            return self._skip_sizing()
        if step in _YES_NO_TOPICS:
            return self._yes_no(step, answer)
        if step is Step.ASSIGNMENT:
            return self._assignment(answer)
        if step is Step.METRIC_KIND:
            return self._metric_kind(answer)
        if step is Step.MDE:
            return self._mde(answer)
        if step is Step.LOOKS:
            return self._looks(answer)
        if step is Step.CLUSTER:
            return self._cluster(answer)
        return self._number(step, answer)

    def _cluster(self, answer: str) -> Taken:
        """The cluster size and the ICC, from one answer or two: what one answer leaves out is asked again, and an
        unknown ICC is never filled in (without it the size cannot account for the clustering: the user gives one,
        or the sizing is left for later)."""
        sizing = self.state.sizing
        reading = read_cluster(answer)
        if reading.kind == "answer":
            assert reading.value is not None
            if reading.value.size is not None:
                sizing.cluster_size, sizing.cluster_size_said = reading.value.size.value, reading.value.size.said
            if reading.value.icc is not None:
                sizing.icc, sizing.icc_said = reading.value.icc.value, reading.value.icc.said
            if sizing.cluster_size is not None and sizing.icc is not None:
                note = "Sizing with the larger end of each range you gave: the plan errs on the safe side. " * (
                    "range" in reading.note
                )
                return self._answered(
                    Step.CLUSTER,
                    f"{note}Sizing clusters of {sizing.cluster_size_said} units with an ICC of {sizing.icc_said}; "
                    "the power result states the design effect.",
                )
            if sizing.icc is None and "dont_know" in reading.note:
                return self._no_icc()
            have = (
                f"clusters of {sizing.cluster_size_said} units"
                if sizing.cluster_size is not None
                else f"an ICC of {sizing.icc_said}"
            )
            missing = (
                "the ICC (how alike outcomes are within a cluster)"
                if sizing.icc is None
                else ("how many units a cluster holds on average")
            )
            return Taken(say=f"Noted {have}. I still need {missing}; or say 'skip' to leave the sizing for later.")
        if reading.kind == "dont_know" and sizing.icc is None:
            return self._no_icc()
        return self._sizing_off_script(Step.CLUSTER, reading, "I need the units per cluster and the ICC.")

    def _no_icc(self) -> Taken:
        """The ICC is not known: say what that means and ask for it again; a second time, leave the sizing for
        later (a cluster design is never sized as if its units were independent)."""
        if self._unsure(Step.CLUSTER) >= 2:
            taken = self._skip_sizing()
            return Taken(prefix=_NO_ICC + " " + taken.prefix)
        return self._again(Step.CLUSTER, _NO_ICC + " Give a figure you can stand behind, or say 'skip'.")

    def _looks(self, answer: str) -> Taken:
        reading = read_looks(answer)
        sizing = self.state.sizing
        if reading.kind == "answer":
            assert reading.value is not None
            sizing.looks, sizing.spending = reading.value.looks, reading.value.spending
            if sizing.looks == 1:
                return self._answered(Step.LOOKS)
            name = "O'Brien-Fleming" if sizing.spending == "obrien_fleming" else "Pocock"
            return self._answered(
                Step.LOOKS,
                f"Planning the looks with {name} alpha spending: each look has its own boundary, and the sample "
                "size becomes the most the test may need.",
            )
        if reading.kind == "dont_know":
            sizing.looks = 1
            return self._answered(
                Step.LOOKS,
                "Planning one analysis at the end; if you will peek, say how many looks and I will plan them.",
            )
        if reading.kind in ("why", "meaning"):
            return self._off_script(Step.LOOKS, reading)
        lead = reading.reason[:1].upper() + reading.reason[1:] if reading.reason else "I did not catch that"
        return self._again(Step.LOOKS, lead if lead.endswith("?") else lead + ".")

    def _yes_no(self, step: Step, answer: str) -> Taken:
        reading = read_yes_no(answer, _YES_NO_TOPICS[step])  # type: ignore[arg-type]
        if reading.kind == "answer":
            assert reading.value is not None
            set_design(self.state, step, reading.value)
            self.state.unsure.pop(step, None)
            return Taken()
        if reading.kind == "dont_know" and self._unsure(step) >= 2 and step is not Step.REFUTE_OFFER:
            set_design(self.state, step, None)
            self.state.unsure.pop(step, None)
            return Taken(prefix="I will leave that open: the recommendation says what it depends on.")
        if reading.kind in ("why", "meaning", "dont_know"):
            return self._off_script(step, reading)
        reason = reading.reason[:1].upper() + reading.reason[1:] if reading.reason else "I did not catch that"
        return self._again(step, f"{reason}. Please answer yes or no.")

    def _assignment(self, answer: str) -> Taken:
        reading = read_assignment(answer)
        if reading.kind == "answer":
            assert reading.value is not None
            self.state.design.assignment = reading.value
            return self._answered(Step.ASSIGNMENT, f"Reading that as: {_SAID_BACK[reading.value]}.")
        if reading.kind == "dont_know" and self._unsure(Step.ASSIGNMENT) >= 2:
            self.state.design.assignment = None
            return self._answered(Step.ASSIGNMENT, "I will leave that open: the recommendation says what it needs.")
        if reading.kind in ("why", "meaning"):
            return self._off_script(Step.ASSIGNMENT, reading)
        numbers = {name: number for number, (name, _) in enumerate(ASSIGNMENT_CHOICES, start=1)}
        choices = reading.choices or tuple(numbers)
        listed = "\n".join(f"{numbers[name]}. {_ASSIGNMENT_WORDS[name]}" for name in choices if name in numbers)
        if reading.kind == "dont_know":
            lead = "No problem. Which of these comes closest? Answer with its number or in your own words."
        elif len(choices) < len(ASSIGNMENT_CHOICES):
            lead = "That fits more than one of these: which one is it? Answer with its number or in your own words."
        else:
            lead = f"{reading.reason.capitalize()}. Answer with a number or in your own words."
        return Taken(say=f"{lead}\n{listed}")

    def _metric_kind(self, answer: str) -> Taken:
        reading = read_metric_kind(answer)
        if reading.kind == "answer":
            self.state.sizing.metric = reading.value
            words = "a rate" if reading.value == "proportion" else "an average"
            return self._answered(Step.METRIC_KIND, f"Sizing it as {words}.")
        return self._sizing_off_script(Step.METRIC_KIND, reading, "Is it a rate or an average?")

    def _sizing_off_script(self, step: Step, reading: Reading[Any], unclear: str) -> Taken:
        if reading.kind == "skip" or (reading.kind == "dont_know" and self._unsure(step) >= 2):
            return self._skip_sizing()
        if reading.kind in ("why", "meaning", "dont_know"):
            return self._off_script(step, reading)
        if reading.kind == "invalid":
            return self._again(step, reading.reason[:1].upper() + reading.reason[1:] + ".")
        lead = reading.reason[:1].upper() + reading.reason[1:] + "." if reading.reason else unclear
        if reading.choices:
            lead += " Which one: " + " or ".join(reading.choices) + "?"
        return self._again(step, lead)

    def _skip_sizing(self) -> Taken:
        """The sizing is left for later: power does not run."""
        state = self.state
        for step in SIZING:
            state.unsure.pop(step, None)
        state.sizing.lift = None
        state.done |= {*SIZING, Step.POWER}
        also = " (for this cluster design, the cluster size and the ICC too)" if state.design.clustered else ""
        return Taken(
            prefix=f"The sizing is left for later; in the app, /power runs it when you have the numbers{also}."
        )

    def _number(self, step: Step, answer: str) -> Taken:
        sizing = self.state.sizing
        if step is Step.BASELINE:
            reading = read_baseline(answer, sizing.metric)
            if reading.kind == "answer":
                assert reading.value is not None
                sizing.baseline, sizing.baseline_said = reading.value.value, reading.value.said
                said = quantities(reading.value.said)
                bare = sizing.metric == "proportion" and said and said[0].unit == "" and said[0].value >= 1
                return self._answered(step, f"Taking {reading.value.said} as a percentage." if bare else "")
            return self._sizing_off_script(step, reading, "I need a number here.")
        if step is Step.STD_DEV:
            reading = read_std_dev(answer, sizing.baseline)
            if reading.kind == "answer":
                assert reading.value is not None
                sizing.std_dev = reading.value.value
                note = ""
                if reading.note == "range":
                    note = (
                        f"Sizing with the larger end of {reading.value.said}: a larger spread needs more units, so "
                        "the plan errs on the safe side."
                    )
                elif reading.note == "multiple":
                    note = f"Using {reading.value.said} as the standard deviation; the power result states the value."
                return self._answered(step, note)
            return self._sizing_off_script(step, reading, "I need a number here.")
        assert step is Step.DAILY_UNITS, step
        reading = read_daily_units(answer)
        if reading.kind == "skip":
            sizing.daily_units = None
            return self._answered(step)
        if reading.kind == "answer":
            assert reading.value is not None
            sizing.daily_units = reading.value.value
            note = ""
            per = reading.note.replace("range", "").strip()
            if "range" in reading.note:
                note = f"Sizing with the smaller end of {reading.value.said}: fewer units a day, the longer duration. "
            if per:
                note += f"Counting {reading.value.said} a {per} as units per day; the power result states the figure."
            return self._answered(step, note.strip())
        if reading.kind in ("why", "meaning"):
            return self._off_script(step, reading)
        lead = reading.reason[:1].upper() + reading.reason[1:] + "."
        return self._again(step, lead)

    def _mde(self, answer: str) -> Taken:
        sizing = self.state.sizing
        if sizing.lift is not None and not quantities(answer):
            confirmed = read_yes_no(answer)
            if confirmed.kind == "answer" and confirmed.value:
                lift, sizing.lift = sizing.lift, None
                sizing.mde, sizing.mde_kind = lift.value, lift.kind
                return self._answered(Step.MDE)
            if confirmed.kind == "answer":
                sizing.lift = None
                return self._again(Step.MDE, "Then tell me the lift again.")
            if confirmed.kind not in ("why", "meaning", "dont_know"):
                return self._again(Step.MDE, "I did not catch a yes or a no.")
        reading = read_mde(answer, sizing.metric, sizing.baseline)
        if reading.kind == "answer":
            sizing.lift = reading.value
            self.state.unsure.pop(Step.MDE, None)
            return Taken(say=self.question(Step.MDE))
        sizing.lift = None if reading.kind not in ("why", "meaning") else sizing.lift
        return self._sizing_off_script(Step.MDE, reading, "I need the lift as a number.")
