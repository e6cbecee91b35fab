"""The guided mode randomises an attached unit list once an experiment is sized: the ``assign`` tool.

After ``power`` has run for an experiment, an attached dataset that looks like a list of units to assign — a
column whose values are unique row by row (the unit id), no arm column, no column of the primary metric, and no
period column — is offered for randomisation: the unit column, strata (none, unless the brief's population or unit
names a column of the list, such as "stores in each region"), the arms (control and treatment) and a salt made of
the intervention's words, all changeable in the answer ("yes, stratify by region", "salt=spring-promo"). The result's
summary is said; the full assignment file is written by the command line, whose command is given. Its own
sentences hold no numbers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from assistant.agent.answers import read_yes_no
from assistant.agent.guided_columns import metric_column
from assistant.agent.guided_state import GuidedState, Step
from tools.registry import tool_names

__all__ = [
    "ASSIGN",
    "AssignOffer",
    "AssignTalk",
    "Reply",
    "command",
    "find_unit_list",
    "proposal",
    "read_reply",
    "slug",
]

ASSIGN = "assign"

#: Column names that mark a dataset as an experiment's results (arms already assigned), not a list to assign.
_ARM = re.compile(r"(?i)^(?:arm|arms|variant|variation|group|treat\w*|assign\w*|bucket|cohort|condition|test_group)$")
#: Column names of periods: a panel, not a unit list.
_TIME = re.compile(r"(?i)^(?:date|day|week|month|year|period|time|timestamp|ts)$|_(?:date|at|time)$")
#: Column names that name a unit id, preferred when several columns are unique.
_ID = re.compile(r"(?i)(?:^id$|_id$|^id_|\bid\b|^unit|^user|^account|^customer|^store|^member|^team)")
#: Words in a dataset's name that say it lists units to assign.
_LIST_NAME = re.compile(
    r"(?i)(?:^|[\W_])(?:list|lists|units|roster|eligible|assign\w*|population|frame|stores|customers|accounts"
    r"|members|participants|users|schools|clinics|regions|markets|teams)(?:$|[\W_])"
)
_STOP = frozenset(
    (  # noqa: SIM905
        "the and for with from into each all our their who that this per attached want wants would could should "
        "will can please test testing try trying randomise randomize randomised randomized list lists picked "
        "random half some we you your us it its is are be been of to in on at by as an but not"
    ).split()
)


@dataclass
class AssignOffer:
    """A unit list and the randomisation proposed for it (the user's changes kept)."""

    dataset: str
    unit_column: str
    columns: tuple[str, ...]
    strata: list[str]
    arms: list[str]
    salt: str

    def question(self) -> str:
        strata = ", ".join(f"'{c}'" for c in self.strata) if self.strata else "none"
        return (
            f"'{self.dataset}' looks like the unit list to assign: one row per '{self.unit_column}' and no arm "
            f"column. Shall I randomise the unit list now? Unit column '{self.unit_column}'; strata {strata}; arms "
            f"{', '.join(self.arms)}; salt '{self.salt}' (the fixed text anyone can redraw the same assignment "
            "from). Say yes, no, or change any of them, such as 'yes, stratify by region' or 'salt=my-test'."
        )

    def request(self) -> dict[str, Any]:
        request: dict[str, Any] = {
            "dataset": self.dataset,
            "unit_column": self.unit_column,
            "salt": self.salt,
            "arms": list(self.arms),
        }
        if self.strata:
            request["strata"] = list(self.strata)
        return request


@dataclass(frozen=True)
class Reply:
    """The answer to the offer: run it, decline it, or ``say`` (the offer again, with what was not understood)."""

    accept: bool = False
    say: str = ""


def slug(text: str) -> str:
    """A salt from the intervention's words: lower-case letters joined by dashes, no numbers."""
    words = [w for w in re.findall(r"[a-z]+", text.lower()) if w not in _STOP and len(w) > 1]
    return "-".join(dict.fromkeys(words[:6])) or "experiment"


def find_unit_list(catalog: Any, metric: str) -> tuple[str, str] | None:
    """The first attached dataset that looks like a unit list: (its name, its unit column), or None. It has a
    unique id column, no arm, period or metric column, and a name that says so ("store_list", "eligible_users")
    or no numeric column besides the id (an experiment's data hold numeric outcomes)."""
    if catalog is None:
        return None
    for dataset in catalog:
        columns = [str(c) for c in dataset.columns]
        if any(_ARM.match(c) or _TIME.search(c) for c in columns):
            continue
        try:
            frame = dataset.frame
        except (OSError, ValueError):  # an unreadable file is not offered
            continue
        if len(frame) < 2:
            continue
        unique = [c for c in columns if frame[c].notna().all() and frame[c].is_unique]
        named = [c for c in unique if _ID.search(c)]
        if not named and len(unique) != 1:
            continue
        unit = (named or unique)[0]
        traits = [c for c in columns if c != unit]
        if metric and metric_column(metric, traits) is not None:
            continue  # it holds the primary metric: a history (or results) to analyse, not a list to assign
        listed = _LIST_NAME.search(dataset.name) or _LIST_NAME.search(Path(str(dataset.path)).stem)
        if listed or not any(pd.api.types.is_numeric_dtype(frame[c]) for c in traits):
            return dataset.name, unit
    return None


def proposal(catalog: Any, found: tuple[str, str], brief_words: str, intervention: str) -> AssignOffer:
    """The randomisation proposed for the unit list: strata only where the brief's words name a column."""
    name, unit = found
    dataset = next(d for d in catalog if d.name == name)
    columns = tuple(str(c) for c in dataset.columns)
    said = set(re.findall(r"[a-z]+", brief_words.lower()))
    strata = [
        c
        for c in columns
        if c != unit
        and (words := [w for w in re.findall(r"[a-z]+", c.lower()) if len(w) > 3])
        and all(w in said or w.rstrip("s") in said or w + "s" in said for w in words)
    ][:2]
    return AssignOffer(name, unit, columns, strata, ["control", "treatment"], slug(intervention))


_SET = re.compile(r"\b(unit|unit_column|strata|stratum|arms|salt)\s*[=:]\s*([^;\n]+?)(?=\s+\w+\s*[=:]|;|\n|$)", re.I)
_STRATIFY = re.compile(r"\bstratif\w*(?: it| the list| them)? (?:by|on) ([\w ,]+?)(?=\s*,?\s*\w+\s*[=:]|[.;]|$)", re.I)


def read_reply(answer: str, offer: AssignOffer) -> Reply:
    """Read the answer to the offer, applying the changes it names to ``offer``."""
    changes = [(m.group(1).lower(), m.group(2).strip()) for m in _SET.finditer(answer)]
    if (stratify := _STRATIFY.search(answer)) is not None:
        changes.append(("strata", stratify.group(1)))
    lookup = {c.lower(): c for c in offer.columns}
    for key, value in changes:
        if key == "salt":
            offer.salt = value.strip("'\" ")
            continue
        names = [v.strip().strip("'\"") for v in re.split(r",|\band\b", value) if v.strip()]
        if key == "arms":
            if len(names) < 2:
                return Reply(say="Name at least two arms, the control first.\n\n" + offer.question())
            offer.arms = names
            continue
        unknown = [n for n in names if n.lower() not in lookup]
        if unknown:
            listed = ", ".join(f"'{c}'" for c in offer.columns)
            return Reply(say=f"'{unknown[0]}' is not a column of '{offer.dataset}' ({listed}).\n\n" + offer.question())
        picked = [lookup[n.lower()] for n in names]
        if key.startswith("unit"):
            offer.unit_column = picked[0]
        else:
            offer.strata = [c for c in picked if c != offer.unit_column]
    said = read_yes_no(answer)
    if said.kind == "answer":
        return Reply(accept=bool(said.value))
    if changes:
        return Reply(accept=True)
    return Reply(say="I did not catch a yes or a no.\n\n" + offer.question())


def command(offer: AssignOffer) -> str:
    """How to save the full assignment file: the command line writes it (the app shows the first units)."""
    request = json.dumps(offer.request(), ensure_ascii=False)
    return (
        "To save the full assignment (every unit and its arm) as a CSV file, run: "
        f"whyscope tool run assign --json '{request}' --data {offer.dataset}=FILE --assignments assignment.csv"
    )


class AssignTalk:
    """The offer to randomise an attached unit list, on the guided mode's state (the brief read for its words)."""

    def __init__(self, state: GuidedState, catalog: Any, brief: Any) -> None:
        self.state = state
        self.catalog = catalog
        self.brief = brief

    def offer(self) -> AssignOffer | None:
        """The offer for the attached unit list (the user's changes kept), or None without one."""
        if ASSIGN not in tool_names():
            return None
        kept = self.state.assign_offer
        if isinstance(kept, AssignOffer) and any(d.name == kept.dataset for d in self.catalog or ()):
            return kept
        found = find_unit_list(self.catalog, self.brief.slot("outcome").value or "")
        if found is None:
            return None
        words = " ".join(self.brief.slot(name).value or "" for name in ("population", "unit"))
        offer = proposal(self.catalog, found, words, self.brief.slot("intervention").value or "")
        self.state.assign_offer = offer
        return offer

    def next_step(self) -> Step | None:
        """The offer, then the run when wanted; None once both are behind (or there is no unit list)."""
        offer, done = self.offer(), self.state.done
        if offer is None:
            return None
        if Step.ASSIGN_OFFER not in done:
            return Step.ASSIGN_OFFER
        return Step.ASSIGN if self.state.assign_wanted and Step.ASSIGN not in done else None

    def only_the_list(self, datasets: Any) -> bool:
        """Every attached dataset is the unit list: nothing to analyse after it."""
        offer = self.offer()
        return offer is not None and all(name == offer.dataset for name in datasets)

    def take(self, answer: str) -> Reply:
        """The answer to the offer: the changes applied, and whether to run."""
        offer = self.offer()
        if offer is None:  # the list was detached under the offer
            self.state.done.add(Step.ASSIGN_OFFER)
            return Reply()
        reply = read_reply(answer, offer)
        if not reply.say:
            self.state.done.add(Step.ASSIGN_OFFER)
            self.state.assign_wanted = reply.accept
        return reply

    def after(self, payload: dict[str, Any]) -> tuple[str, bool]:
        """What to say after assign ran, and whether the offer is to be asked again (refused: its words)."""
        self.state.assign_wanted = False
        offer = self.offer()
        if "error" in payload:
            error = payload["error"]
            self.state.done -= {Step.ASSIGN_OFFER, Step.ASSIGN}
            return f"{error['message']} {error['hint']}", True
        self.state.done |= {Step.ASSIGN_OFFER, Step.ASSIGN}
        notes = "".join(f"\n- {w}" for w in payload.get("warnings", [])[:3])
        saving = "\n\n" + command(offer) if offer is not None else ""
        return payload.get("summary", "") + notes + saving, False
