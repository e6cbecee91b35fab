"""The guided mode's analysis set-up on attached data: the dataset, the column roles, an experiment's planned split,
and what the user can change after the analysis ran.

:class:`AnalysisTalk` holds no state of its own: it reads and updates the guided mode's
:class:`~assistant.agent.guided_state.GuidedState` and reads the catalog. Each answer gives an :class:`Answer`:
a question to ask (and the step that awaits its answer), or "go on" to the interview's next step. Every number it
says comes from the data's profile (:mod:`tools.data.profile`), handed to the conversation's provenance check
through ``note_facts``, or from the user.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from assistant.agent.guided_adoptions import AdoptionAnswer, read_adoptions
from assistant.agent.guided_analysis import (
    analysis_for,
    apply_reading,
    column_lists,
    describe_roles,
    is_example,
    missing_roles,
    missing_text,
    ordered_roles,
    propose_roles,
    request_for,
    suggest_dataset,
)
from assistant.agent.guided_columns import reasons_text
from assistant.agent.guided_revise import Reading, read_changes, read_side, read_split
from assistant.agent.guided_state import GuidedState, Step
from tools.data.names import display_name
from tools.data.profile import ColumnProfile, FrameProfile, profile_dataset
from tools.did.adoptions import unit_text
from tools.errors import ToolError
from tools.spec import Guide, number

__all__ = ["AFTER_COLUMNS", "ANALYSIS_STEPS", "AnalysisTalk", "Answer", "failed_checks"]

#: The set-up and analysis steps, from the dataset on: what going back to the dataset undoes.
ANALYSIS_STEPS = frozenset(
    {Step.DATASET, Step.COLUMNS, Step.SPLIT, Step.ANALYSIS, Step.REFUTE_OFFER, Step.REFUTE, Step.WHOM_OFFER, Step.WHOM}
)
#: What changing a column undoes: the agreed columns and everything that ran on them.
AFTER_COLUMNS = frozenset(
    {Step.COLUMNS, Step.SPLIT, Step.ANALYSIS, Step.REFUTE_OFFER, Step.REFUTE, Step.WHOM_OFFER, Step.WHOM}
)
#: An arm this much smaller than an even share makes the guided mode ask for the planned split.
UNEQUAL_SHARE = 0.45
_SKIP = {"skip", "no", "not yet", "none", "nope", "it has not run", "it hasn't run", "not run yet", "later"}
_SHOWN_COLUMNS = 40


@dataclass
class Answer:
    """What to do with an answer: say ``text`` and wait at ``pending``; or, with ``text`` None, go on to the next
    step of the interview, saying ``prefix`` first."""

    text: str | None = None
    pending: Step | None = None
    prefix: str = ""


def failed_checks(payload: Mapping[str, Any]) -> list[str]:
    """The names of a result's own checks that failed (a design the tool itself flags)."""
    return [
        str(c.get("name")) for c in payload.get("checks") or [] if isinstance(c, dict) and c.get("status") == "fail"
    ]


@dataclass
class AnalysisTalk:
    """The set-up questions and answers for the design ``method`` on the catalog's datasets."""

    state: GuidedState
    catalog: Any
    method: str
    #: The brief's primary metric (the outcome's proposal starts from it).
    metric: str
    #: Hands the numbers a sentence shows (from the data's profile) to the provenance check.
    note_facts: Callable[[dict[str, Any]], None]
    #: What the brief says about the change and who gets it (an RD's treated side: "households below a cutoff").
    context: str = ""
    #: The brief's guardrails (an experiment's proposal matches them to columns, each with its good direction).
    guardrails: Sequence[str] = ()
    #: The brief's unit of assignment ("whole workspaces": a cluster design's cluster column is named by it).
    unit: str = ""

    @property
    def guide(self) -> Guide:
        analysis = analysis_for(self.method)
        assert analysis is not None
        return analysis.guide

    # -- the datasets ----------------------------------------------------------------------------------------

    def datasets(self) -> dict[str, list[str]]:
        """Attached dataset names and their columns."""
        if self.catalog is None:
            return {}
        return {dataset.name: list(dataset.columns) for dataset in self.catalog}

    def own(self) -> list[str]:
        """The user's own datasets (every attached one that is not a bundled example), in attachment order."""
        if self.catalog is None:
            return []
        return [dataset.name for dataset in self.catalog if not is_example(dataset)]

    def suggested(self) -> str | None:
        return suggest_dataset(self.method, list(self.datasets()), self.own())

    def dataset_question(self) -> str:
        names, own = list(self.datasets()), self.own()
        suggested = self.suggested()
        ask = f"Reply 'ok' to use '{suggested}', or name another." if suggested else "Reply with its name."
        examples = [n for n in names if n not in own]
        if own and examples:
            listing = f"Your data: {', '.join(own)} (bundled examples: {', '.join(examples)})."
        else:
            listing = f"Attached: {', '.join(names)}."
        if self.state.design.experiment:  # an experiment: it may not have run yet
            return (
                "If the experiment has already run, I can analyse it. Which attached dataset holds one row per "
                f"unit with its arm? {listing} {ask} Say 'skip' if it has not run yet."
            )
        if self.method in ("diff_in_diff", "rdd", "synthetic_control"):  # not started yet: it can be sized instead
            ask += " Say 'skip' if it has not started yet: I can size it before it does."
        return f"Which attached dataset holds the data? {listing} {ask}"

    def _dataset_named(self, answer: str) -> str | None:
        names = list(self.datasets())
        lowered = answer.strip().strip("'\".").lower()
        lowered = re.sub(r"^(?:(?:use|take|try|the|it'?s|its|my|data\s*set|file|table|called|named)\s+)+", "", lowered)
        lowered = re.sub(r"\.(?:csv|tsv|txt|parquet|pq)(?:\.gz)?$", "", lowered.strip("'\" "))
        found = next((n for n in names if n.lower() == lowered), None) or next(
            (n for n in names if lowered and len(lowered) > 2 and lowered in n.lower()), None
        )
        if found is None:  # "ok, the checkout data", "use the checkout export": one attached name, said as a word
            said = [n for n in names if re.search(rf"(?<![\w-]){re.escape(n.lower())}(?![\w-])", answer.lower())]
            found = said[0] if len(said) == 1 else None
        return found

    def _choose(self, name: str) -> None:
        analysis = self.state.analysis
        if analysis.dataset != name:
            analysis.roles = None
        analysis.dataset, analysis.proposed = name, None
        self.state.done.add(Step.DATASET)

    # -- the profile -----------------------------------------------------------------------------------------

    def _profile(self) -> FrameProfile | None:
        name = self.state.analysis.dataset
        if self.catalog is None or name is None:
            return None
        try:
            return profile_dataset(self.catalog.get(name))
        except ToolError:
            return None

    def _note(self, profile: FrameProfile | None, columns: Iterable[str], **more: Any) -> None:
        facts: dict[str, Any] = {c: profile[c].facts() for c in columns if profile is not None and c in profile}
        self.note_facts({**facts, **more})

    # -- the questions ---------------------------------------------------------------------------------------

    def question(self, step: Step) -> str:
        if step is Step.DATASET:
            return self.dataset_question()
        if step is Step.SPLIT:
            return self.split_question()
        return self.columns_question()

    def columns_question(self) -> str:
        analysis = self.state.analysis
        dataset = analysis.dataset
        assert dataset is not None, "asked for the columns before the dataset"
        columns = self.datasets().get(dataset, [])
        reasons = ""
        if analysis.proposed is None:
            try:
                attached = self.catalog.get(dataset, check_disk=False)
            except ToolError as error:  # detached meanwhile: say so and ask for a dataset again
                self.state.done -= ANALYSIS_STEPS
                self.state.pending = Step.DATASET
                return f"{error.message} {self.dataset_question()}"
            proposal = propose_roles(self.method, attached, self.metric, guardrails=self.guardrails, unit=self.unit)
            side = read_side(self.context) if "side" in self.guide.roles else None
            if side is not None:
                proposal.roles["side"] = side
                proposal.reasons["side"] = f"side: {side} (as the brief says)"
            unit = self.state.check_unit
            if (
                unit
                and "cluster" in self.guide.roles
                and unit in attached.columns
                and not proposal.roles.get("cluster")
            ):
                proposal.roles["cluster"] = unit  # the A/A check showed rows of one unit are not independent
                proposal.reasons["cluster"] = f"cluster: {unit} (the A/A check found its rows repeat: count units)"
            analysis.proposed = proposal.roles
            self.note_facts(proposal.facts)
            reasons = reasons_text(proposal, proposal.roles)
        shown = ", ".join(columns[:_SHOWN_COLUMNS])
        if len(columns) > _SHOWN_COLUMNS:
            shown += f", … ({len(columns)} columns)"
            self.note_facts({"columns": len(columns)})
        missing = missing_roles(self.method, analysis.proposed)
        need = f" Still needed: {missing_text(missing)}." if missing else ""
        remedies = [self._remedy(m) for m in missing]
        need += "".join(f"\n{r}" for r in remedies if r)
        example = self._example_change()
        return (
            f"{self.guide.question}\n\nColumns of '{dataset}': {shown}.\n"
            f"Proposed from the data: {describe_roles(analysis.proposed) or '(nothing fits)'}.{need}\n"
            + (f"{reasons}\n\n" if reasons else "")  # a blank line: the reasons are a Markdown list
            + f"Reply 'ok' to use it, or change any part in your words ({example}) or as role=column "
            "(separate parts with ';'); 'back' to choose another dataset."
        )

    def _remedy(self, missing: str) -> str:
        """The guide's advice for a role the data has no column for ("cohort or treatment": any of the group),
        when no 0/1 column is left that could be it; who was treated when can always be said in words (with an
        example from the data)."""
        group = missing.split(" or ")
        advice = next((self.guide.remedies[r] for r in group if r in self.guide.remedies), "")
        if "adoptions" in group:
            return advice.replace("{example}", self._adoption_example())
        profile, roles = self._profile(), self.state.analysis.proposed or {}
        taken = {v for v in roles.values() if isinstance(v, str)}
        if profile is not None and any(p.two_levels for c, p in profile.columns.items() if c not in taken):
            return ""
        return advice

    def _adoption_example(self) -> str:
        """'Alaska from Q12011': a unit and a period of the data in the form the answer takes (the period as a
        text period column beside an integer one writes it: what people say)."""
        roles = self.state.analysis.proposed or {}
        unit, time = roles.get("unit"), roles.get("time")
        try:
            frame = self.catalog.get(self.state.analysis.dataset or "").frame
            units = frame[unit].dropna()
            periods = frame[time].dropna()
        except (ToolError, KeyError, TypeError, AttributeError):
            return "UNIT from PERIOD"
        if not len(units) or not len(periods):
            return "UNIT from PERIOD"
        profile = self._profile()
        spoken = [c for c in profile.of_kind("period") if c != time] if profile is not None else []
        if spoken and frame[[time, spoken[0]]].dropna().drop_duplicates()[time].is_unique:
            periods = frame[spoken[0]].dropna()
        distinct = list(pd.unique(periods))
        middle = distinct[len(distinct) // 2]
        if isinstance(middle, pd.Timestamp):
            middle = middle.date().isoformat() if middle == middle.normalize() else middle.isoformat()
        example = display_name(f"{unit_text(units.iloc[0])} from {str(middle).strip()}")
        self.note_facts({"example": example})
        return example

    def _example_change(self) -> str:
        guide = self.guide
        first = next((r for r in guide.required if r not in guide.values), guide.required[0])
        parts = [f"'{first} is NAME'"]
        if lists := column_lists(guide):
            parts.append(f"'add NAME' or 'drop NAME' for the {lists[0]}")
        return ", ".join(parts)

    def split_question(self) -> str:
        arm, profile = self._arm_profile()
        if arm is None:  # (the arm is no two-level column any more)
            return self.columns_question()
        self._note(profile, [arm.name])
        sizes = " and ".join(
            f"{count:,} units ({arm.name} = {level})" for level, count in zip(arm.levels, arm.counts, strict=True)
        )
        return (
            f"The arms have {sizes}. Was the split planned that way, or meant to be even? Say 'planned', 'even', "
            "the planned ratio in that order (such as '2:3'), or 'no idea'."
        )

    def _arm_profile(self) -> tuple[ColumnProfile | None, FrameProfile | None]:
        roles = self.state.analysis.roles or self.state.analysis.proposed or {}
        profile = self._profile()
        arm = roles.get("arm")
        if profile is None or not isinstance(arm, str) or arm not in profile or not profile[arm].two_levels:
            return None, profile
        return profile[arm], profile

    def _split_needed(self, roles: Mapping[str, Any]) -> bool:
        if not self.guide.experiment or "split" in roles:  # (an empty split: the user does not know it)
            return False
        arm, _ = self._arm_profile()
        if arm is None or len(arm.counts) != 2:
            return False
        return min(arm.counts) < UNEQUAL_SHARE * sum(arm.counts)

    # -- the answers -----------------------------------------------------------------------------------------

    def take(self, step: Step, answer: str) -> Answer:
        if step is Step.DATASET:
            return self._take_dataset(answer)
        if step is Step.SPLIT:
            return self._take_split(answer)
        return self._take_columns(answer)

    def _take_dataset(self, answer: str) -> Answer:
        state = self.state
        lowered = answer.strip().lower().strip(".!")
        if lowered in _SKIP:
            state.done |= {Step.DATASET, Step.COLUMNS, Step.SPLIT, Step.ANALYSIS, Step.REFUTE_OFFER}
            return Answer()
        reading = read_changes(answer, self.guide, [])
        if reading.back:
            return Answer("The dataset is the first step of the analysis. " + self.dataset_question(), Step.DATASET)
        chosen = self.suggested() if reading.accept else None
        if chosen is None:
            chosen = self._dataset_named(reading.dataset or answer) if reading.dataset != "" else None
        if chosen is None:
            return Answer("I could not find that dataset. " + self.dataset_question(), Step.DATASET)
        self._choose(chosen)
        return Answer()

    def _take_columns(self, answer: str) -> Answer:
        state, analysis = self.state, self.state.analysis
        dataset = analysis.dataset
        assert dataset is not None
        columns = self.datasets().get(dataset, [])
        if analysis.proposed is None:  # (a resumed session: propose again before changing)
            self.columns_question()
        reading = read_changes(answer, self.guide, columns)
        if reading.back or reading.dataset == "":
            state.done -= ANALYSIS_STEPS
            return Answer("Back to the dataset. " + self.dataset_question(), Step.DATASET)
        if reading.dataset:
            named = self._dataset_named(reading.dataset)
            if named is None:
                return Answer(
                    f"No dataset called '{reading.dataset}' is attached. " + self.dataset_question(), Step.DATASET
                )
            self._choose(named)
            return Answer(self.columns_question(), Step.COLUMNS)
        current = dict(analysis.proposed or analysis.roles or {})
        adopted = self._adoptions(answer, current)
        if adopted is not None:
            return self._take_adoptions(adopted, current)
        if reading.unknown:
            return Answer(_unknown(reading, dataset) + " " + self.columns_question(), Step.COLUMNS)
        if reading.change is not None:
            role = reading.change
            now = current.get(role)
            shown = ", ".join(now) if isinstance(now, list) else (now or "not set")
            more = f" (a list: '{role}=a, b', or 'add NAME' / 'drop NAME')" if role in column_lists(self.guide) else ""
            return Answer(
                f"Now: {role}={shown}. What should it be? Reply '{role}=NAME'{more}; the columns of "
                f"'{dataset}' are: {', '.join(columns[:_SHOWN_COLUMNS])}.",
                Step.COLUMNS,
            )
        if not reading.accept and not (reading.roles or reading.add or reading.drop):
            return Answer("I could not tell which role to set or change. " + self.columns_question(), Step.COLUMNS)
        roles = current if reading.accept else apply_reading(self.method, current, reading, columns, self._profile())
        return self._agree(roles)

    def _agree(self, roles: dict[str, Any], prefix: str = "") -> Answer:
        """Take ``roles`` as the agreed columns when they make a request (then go on, saying ``prefix`` first), or
        say what is still needed or wrong and ask again."""
        state, analysis = self.state, self.state.analysis
        analysis.proposed = roles
        missing = missing_roles(self.method, roles)
        if missing:
            return Answer(f"Still needed: {missing_text(missing)}. " + self.columns_question(), Step.COLUMNS)
        problem = self._problem(roles)
        if problem:
            return Answer(problem + " " + self.columns_question(), Step.COLUMNS)
        previous = analysis.roles or {}
        if previous.get("arm") != roles.get("arm"):
            roles.pop("split", None)
        analysis.roles = roles
        if self._split_needed(roles):
            state.done.add(Step.COLUMNS)
            return Answer(prefix + self.split_question(), Step.SPLIT)
        state.done |= {Step.COLUMNS, Step.SPLIT}
        return Answer(prefix=prefix)

    # -- who was treated when, in words ----------------------------------------------------------------------

    def _adoptions(self, answer: str, roles: Mapping[str, Any]) -> AdoptionAnswer | None:
        """What ``answer`` says about who was treated when (a DiD whose roles name the unit and time columns), or
        None when it says nothing of it."""
        if "adoptions" not in self.guide.roles:
            return None
        unit, time = roles.get("unit"), roles.get("time")
        if not isinstance(unit, str) or not isinstance(time, str) or self.catalog is None:
            return None
        try:
            frame = self.catalog.get(self.state.analysis.dataset or "").frame
        except ToolError:
            return None
        group = next((g for g in self.guide.one_of if "adoptions" in g), ("adoptions",))
        asked = not any(roles.get(r) for r in group)
        return read_adoptions(answer, frame, unit, time, asked)

    def _take_adoptions(self, adopted: AdoptionAnswer, current: Mapping[str, Any]) -> Answer:
        """The treated units and their first periods as the roles' ``adoptions`` (a treatment or cohort column
        dropped), said back; or what is wrong with them, and the question again."""
        if adopted.facts:
            self.note_facts(adopted.facts)
        if adopted.problems:
            return Answer(" ".join(adopted.problems) + "\n\n" + self.columns_question(), Step.COLUMNS)
        group = next((g for g in self.guide.one_of if "adoptions" in g), ("adoptions",))
        roles = {role: value for role, value in current.items() if role not in group}
        roles["adoptions"] = [{"unit": a.unit, "first_period": a.first_period, "said": a.said} for a in adopted.adopted]
        time = str(roles.get("time"))
        others = adopted.facts.get("adoptions", {}).get("untreated", 0)
        unit = str(roles.get("unit"))
        said = "; ".join(a.words(time) for a in adopted.adopted)
        rest = f"the other {others:,} units of '{unit}' count as never treated" if others else "no unit is untreated"
        return self._agree(ordered_roles(self.guide, roles), prefix=f"Treated: {said}; {rest}.\n\n")

    def _problem(self, roles: Mapping[str, Any]) -> str:
        """Why the roles cannot make a request, in the user's words ("" when they can)."""
        try:
            request_for(self.method, self.state.analysis.dataset or "", roles)
        except ValueError as exc:
            return f"{str(exc)[:1].upper()}{str(exc)[1:]}."
        running, cutoff = roles.get("running"), roles.get("cutoff")
        profile = self._profile()
        if isinstance(running, str) and cutoff is not None and profile is not None and running in profile:
            column = profile[running]
            value = number(cutoff, "cutoff")
            low, high = column.minimum, column.maximum
            if low is not None and high is not None and not low < value <= high:
                self._note(profile, [running])
                return (
                    f"The cutoff {cutoff} is outside the values of '{running}' ({column.describe()}): which column "
                    "is the score the cutoff applies to, or what is the cutoff?"
                )
        return ""

    def _take_split(self, answer: str) -> Answer:
        state, analysis = self.state, self.state.analysis
        if read_changes(answer, self.guide, []).back:
            state.done -= AFTER_COLUMNS
            analysis.proposed = analysis.roles
            return Answer(self.columns_question(), Step.COLUMNS)
        arm, _ = self._arm_profile()
        roles = dict(analysis.roles or {})
        if arm is None:  # the arm changed meanwhile: nothing to ask
            state.done |= {Step.COLUMNS, Step.SPLIT}
            return Answer()
        read = read_split(answer, arm.levels, arm.counts)
        if read is None:
            return Answer("I did not catch the planned split. " + self.split_question(), Step.SPLIT)
        _kind, split = read
        prefix = ""
        if split is None:
            roles["split"] = []  # asked and not known: the check assumes equal arms
            prefix = (
                "Without a planned split, the sample-ratio check assumes the arms were meant to be equal in size; "
                "its result will say so, and an unequal design is not a fault in itself.\n\n"
            )
        else:
            roles["split"] = split
        analysis.roles = analysis.proposed = roles
        state.done |= {Step.COLUMNS, Step.SPLIT}
        return Answer(prefix=prefix)

    # -- after the analysis ran ------------------------------------------------------------------------------

    def reopen(self, answer: str) -> Answer | None:
        """An answer given after the set-up ended: what it asks to change (the set-up reopened at that step), or
        None when it asks for no change."""
        state, analysis = self.state, self.state.analysis
        if analysis.dataset is None:  # never set up (skipped): only a dataset reopens it
            reading = read_changes(answer, self.guide, [])
            if reading.dataset is None and not reading.back and not re.search(r"\banaly[sz]", answer, re.I):
                return None
            state.done -= ANALYSIS_STEPS
            return Answer(self.dataset_question(), Step.DATASET)
        reading = read_changes(answer, self.guide, self.datasets().get(analysis.dataset, []))
        changes_adoptions = self._adoptions(answer, analysis.roles or {}) is not None
        if (reading.empty or reading.accept) and not changes_adoptions:
            return None
        state.done -= AFTER_COLUMNS
        state.analysis.challenge = False
        analysis.proposed = dict(analysis.roles) if analysis.roles is not None else None  # (resumed: proposed again)
        if reading.back:
            return Answer("Back to the columns. " + self.columns_question(), Step.COLUMNS)
        return self._take_columns(answer)


def _unknown(reading: Reading, dataset: str) -> str:
    parts = []
    for name, close in reading.unknown:
        hint = f" (closest: {', '.join(close)})" if close else ""
        parts.append(f"'{name}'{hint}")
    return f"There is no column {' or '.join(parts)} in '{dataset}'."


def closing_options(guide: Guide) -> str:
    """How to change the analysis after it ran, with the guide's own role names."""
    first = next((r for r in guide.required if r not in guide.values), guide.required[0])
    lists = column_lists(guide)
    listed = f", '{lists[0]}=a, b'" if lists else ""
    return (
        f"To change the analysis, name a role and its column ('{first}=NAME'{listed}), say 'change {first}', "
        "'use a different dataset' or 'back'."
    )


def flaws_text(failed: Sequence[str], verdict: str | None) -> str:
    """The words for a run whose own checks failed (or whose robustness battery failed)."""
    parts = []
    if failed:
        parts.append(f"its own checks failed: {', '.join(failed)}")
    if verdict == "failed":
        parts.append("its robustness battery failed")
    return " and ".join(parts)
