"""The guided mode's reader for a quasi-experiment's sizing numbers: several labelled numbers in one answer.

A difference-in-differences, a regression discontinuity or a synthetic control is sized from counts (units that get
the change and units that do not, or within the bandwidth on each side, or donors), periods before and after, the
outcome's standard deviation and the effect worth detecting. The user says them in one answer, in their own words
("twenty regions get it and thirty do not, twelve weeks before and eight after, SD 40, effect 5"): the answer is cut
into clauses and each number takes the role its clause names. Numbers are found by
:func:`assistant.agent.answers_numbers.quantities`; what is said back quotes the user's words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from assistant.agent.answers import Reading, off_script
from assistant.agent.answers_numbers import Quantity, quantities
from tools.power.quasi_models import QUASI_DESIGNS, QuasiKind

__all__ = ["KINDS", "QuasiKind", "QuasiNumbers", "missing", "read_correlation", "read_quasi", "role_words"]

#: recommend_method's designs sized as quasi-experiments, and power's design kind for each.
KINDS: dict[str, QuasiKind] = {design: kind for kind, design in QUASI_DESIGNS.items()}
Role = Literal["treated", "control", "pre", "post", "std_dev", "effect"]
MAX_COUNT = Decimal(10**12)


@dataclass
class QuasiNumbers:
    """What a quasi-experiment's sizing has read so far, and the user's words for each number."""

    values: dict[str, float] = field(default_factory=dict)
    said: dict[str, str] = field(default_factory=dict)
    #: DiD: the ICC and the serial correlation, None when the user does not know (power then assumes none).
    icc: float | None = None
    ar1: float | None = None
    #: The standard deviation is the pre-period RMSPE of a synthetic control that ran.
    rmspe_from_fit: bool = False
    #: The user left the sizing for later.
    skipped: bool = False


#: The roles each design needs, in the order the question names them (the effect may be left out: then the
#: smallest detectable effect is solved for).
NEEDED: dict[QuasiKind, tuple[Role, ...]] = {
    "did": ("treated", "control", "pre", "post", "std_dev"),
    "rdd": ("treated", "control", "std_dev"),
    "synth": ("control", "pre", "post", "std_dev"),
}
ORDER: dict[QuasiKind, tuple[Role, ...]] = {kind: (*roles, "effect") for kind, roles in NEEDED.items()}
_COUNTS = frozenset({"treated", "control", "pre", "post"})

#: The words that name each role in a clause, tried in this order (a standard deviation before an effect, "do not
#: get it" as control before "get it" as treated).
_LABELS: tuple[tuple[Role, re.Pattern[str]], ...] = (
    ("std_dev", re.compile(r"\b(?:sd|s\.d|std|standard deviation|deviation|spread|rmspe|noise|sigma|variab\w*)\b")),
    ("effect", re.compile(r"\b(?:effect|lift|detect\w*|mde|worth|impact|uplift|increase|improvement|change of)\b")),
    ("pre", re.compile(r"\b(?:before|pre|prior|earlier|pre-period|beforehand)\b")),
    ("post", re.compile(r"\b(?:after|post|afterwards|following|post-period)\b")),
    (
        "control",
        re.compile(r"\b(?:control\w*|not|without|donors?|below|comparison|untreated|others?|rest|pool|don't|won't)\b"),
    ),
    (
        "treated",
        re.compile(
            r"\b(?:treat\w*|get|gets|getting|above|receiv\w*|launch\w*|roll\w*|switch\w*|pilot\w*|exposed|with)\b"
        ),
    ),
)
_SEPARATORS = re.compile(r",\s|;|\n|\band\b|\bthen\b|\.\s|\bplus\b")
_DONT_KNOW = re.compile(
    r"\b(?:don't|do not|dunno|no idea|not sure|unknown|idk|never measured|no clue|skip)\b|^\W*(?:no|none|n/?a)\W*$"
)
_SKIP = re.compile(r"^\W*skip\b|\bskip (?:the )?sizing\b|\blater\b|\bno need to size\b")


def role_words(kind: QuasiKind, role: str) -> str:
    """How a role is named back to the user."""
    words = {
        "treated": "the units within the bandwidth above the cutoff" if kind == "rdd" else "the units that get it",
        "control": {
            "rdd": "the units within the bandwidth below the cutoff",
            "synth": "the donors (comparable units that do not get it)",
        }.get(kind, "the units that do not"),
        "pre": "the periods before",
        "post": "the periods after",
        "std_dev": "the pre-period RMSPE" if kind == "synth" else "the outcome's standard deviation",
        "effect": "the effect worth detecting",
    }
    return words[role]


def missing(kind: QuasiKind, numbers: QuasiNumbers) -> list[str]:
    """The roles still needed (the effect is never needed: without it the detectable effect is solved for)."""
    return [role for role in NEEDED[kind] if role not in numbers.values]


def _role_of(text: str) -> Role | None:
    for role, pattern in _LABELS:
        if pattern.search(text):
            return role
    return None


def _clauses(plain: str) -> list[tuple[int, int]]:
    """The spans of the clauses of ``plain``."""
    spans, start = [], 0
    for match in _SEPARATORS.finditer(plain):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(plain)))
    return spans


def _labelled(text: str, numbers: list[Quantity]) -> tuple[list[tuple[Role, Quantity]], list[Quantity]]:
    """The numbers whose clause names a role, and those whose clause names none."""
    plain = text.lower().replace("\u2019", "'")
    found: list[tuple[Role, Quantity]] = []
    loose: list[Quantity] = []
    for start, end in _clauses(plain):
        inside = [q for q in numbers if start <= q.start < end]
        for position, quantity in enumerate(inside):
            low = inside[position - 1].end if position else start
            high = inside[position + 1].start if position + 1 < len(inside) else end
            after = plain[quantity.end : high]
            before = plain[low : quantity.start]
            role = _role_of(f"{quantity.unit} {after}") or _role_of(before)
            if role is None:
                loose.append(quantity)
            else:
                found.append((role, quantity))
    return found, loose


def read_quasi(text: str, kind: QuasiKind, numbers: QuasiNumbers) -> Reading[dict[str, Quantity]]:
    """The numbers of a quasi-experiment's sizing in ``text``, by role (only those said: the caller keeps what was
    said before). Numbers without a role are taken in the question's order only when every number of the answer
    is unlabelled and there are as many as the roles still open."""
    turn = off_script(text)
    plain = text.strip().lower()
    if _SKIP.search(plain):
        return Reading("skip")
    every = [q for q in quantities(text) if q.unit != "fraction"]
    if turn is not None and not every:
        return Reading(turn.kind, suggest=turn.suggest)
    if not every:
        return Reading("unclear", reason="I found no number in that")
    labelled, loose = _labelled(text, every)
    if kind == "synth":  # one treated unit by design: "one treated market" names no number to read
        labelled = [(role, q) for role, q in labelled if role != "treated" or q.value != 1]
    if loose and not labelled:
        open_roles = [r for r in ORDER[kind] if r not in numbers.values]
        if len(loose) in (len(open_roles), len(open_roles) - 1):
            labelled, loose = list(zip(open_roles, loose, strict=False)), []
    if loose:
        said = ", ".join(f"'{q.said}'" for q in loose)
        return Reading("unclear", reason=f"I could not tell what {said} stands for: name it (such as 'SD' or 'before')")
    read: dict[str, Quantity] = {}
    for role, quantity in labelled:
        if role in read and read[role].value != quantity.value:
            return Reading(
                "unclear",
                reason=f"'{read[role].said}' and '{quantity.said}' both read as "
                f"{role_words(kind, role)}: say which is which",
            )
        read[role] = quantity
    for name, quantity in read.items():
        problem = _invalid(name, quantity)
        if problem:
            return Reading("invalid", reason=f"'{quantity.said}' as {role_words(kind, name)}: {problem}")
    if kind == "rdd":
        read = {role: q for role, q in read.items() if role not in ("pre", "post")}
    return Reading("answer", read)


def _invalid(role: str, quantity: Quantity) -> str:
    """Why a number cannot play its role ("" when it can)."""
    value = quantity.value
    if role in _COUNTS:
        if quantity.unit in ("percent", "points", "bps", "money", "cents", "times"):
            return "a count is a whole number of units or periods"
        if value < 1 or value != value.to_integral_value() or value > MAX_COUNT:
            return "a count must be a whole number of at least one"
        return ""
    if quantity.unit in ("percent", "points", "bps", "times"):
        return "give it in the outcome's own units (the units of its standard deviation)"
    if role == "std_dev" and value <= 0:
        return "a standard deviation must be above zero"
    if role == "effect" and value == 0:
        return "an effect of zero cannot be detected: give the smallest effect that would matter"
    return ""


def read_correlation(text: str) -> Reading[dict[str, float]]:
    """A DiD's ICC (the share of the outcome's variance in stable differences between units) and serial correlation
    (of a unit's shocks from one period to the next): either or both, a percentage as a fraction. "Don't know" for
    either leaves it out."""
    plain = text.strip().lower().replace("\u2019", "'")
    every = quantities(text)
    turn = off_script(text)
    if turn is not None and turn.kind in ("why", "meaning") and not every:
        return Reading(turn.kind)
    if not every:
        if _DONT_KNOW.search(plain) or (turn is not None and turn.kind == "dont_know"):
            return Reading("dont_know")
        return Reading("unclear", reason="I found no number in that")
    found: dict[str, float] = {}
    for start, end in _clauses(plain):
        inside = [q for q in every if start <= q.start < end]
        if not inside:
            continue
        clause = plain[start:end]
        name = (
            "ar1"
            if re.search(r"\b(?:serial\w*|autocorr\w*|ar ?\(?1\)?|period to period|shocks?|succe\w*)\b", clause)
            else "icc"
            if re.search(r"\b(?:icc|intra\w*|unit level|between units|stable|persisten\w*)\b", clause)
            else None
        )
        if name is None or len(inside) > 1:
            return Reading("unclear", reason="name each figure: the ICC, the serial correlation, or both")
        quantity = inside[0]
        value = quantity.value / 100 if quantity.unit == "percent" else quantity.value
        low = Decimal(0) if name == "icc" else Decimal(-1)
        if not low <= value < 1 or (name == "ar1" and value == -1):
            what = (
                "the ICC is a share, from zero up to (not including) one"
                if name == "icc"
                else ("a serial correlation lies between minus one and one")
            )
            return Reading("invalid", reason=f"'{quantity.said}': {what}")
        found[name] = float(value)
    return Reading("answer", found)
