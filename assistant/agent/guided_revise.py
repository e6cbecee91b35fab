"""Reading the user's corrections to the guided mode's analysis set-up, in plain words as well as ``role=column``.

"treatment is treat", "use age, educ as covariates", "add re75", "drop re74", "covariates=age, educ",
"control=0", "the cutoff is 0.5", "treated below the cutoff", "change covariates", "back", "use a different
dataset". Column names are matched to the dataset's columns regardless of case; a name that is no column is
reported with the closest ones, never taken. Deterministic: no model.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tools.spec import Guide

__all__ = [
    "ACCEPT_WORDS",
    "Reading",
    "guardrail_value",
    "read_changes",
    "read_side",
    "read_split",
    "resolve_column",
    "said_direction",
    "said_quantile",
]

#: Answers that accept a proposal as it stands.
ACCEPT_WORDS = {
    "ok", "okay", "k", "yes", "y", "yep", "yeah", "use it", "use them", "fine", "sure", "go", "go ahead",
    "looks good", "looks right", "correct", "right", "good", "run it", "proceed", "accept", "agreed", "that's right",
    "yes please", "ok run it", "sounds good", "perfect", "great", "all good",
}  # fmt: skip

#: Other names users give each role (a role the guide does not have is read as the one it does).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "outcome": ("outcome variable", "outcome column", "outcome", "metric", "result column", "dependent variable"),
    "metric": ("primary metric", "metric", "outcome", "kpi"),
    "arm": ("arm column", "arm", "treatment column", "treatment", "variant", "group column", "assignment"),
    "treatment": ("treatment column", "treatment", "treated", "opt-in", "opt in", "opted in", "arm"),
    "covariates": ("covariates", "covariate", "controls", "control variables", "confounders", "features"),
    "covariate": ("cuped covariate", "covariate", "pre-period", "pre period"),
    "unit": ("unit column", "unit", "panel unit", "panel id", "entity", "id column"),
    "time": ("time column", "time", "period column", "period", "date column", "date"),
    "cohort": ("first treated", "first-treated", "adoption period", "cohort"),
    "running": ("running variable", "running", "score column", "forcing variable", "score"),
    "cutoff": ("cutoff", "cut-off", "cut off", "threshold"),
    "side": ("side", "treated side", "treatment side"),
    "fuzzy": ("take-up", "take up", "takeup", "fuzzy", "compliance"),
    "kind": ("kind", "metric kind", "type"),
    "cluster": ("cluster", "clusters", "cluster column", "randomization unit", "randomisation unit"),
    "guardrails": ("guardrails", "guardrail", "guardrail metrics", "guardrail metric", "guardrail columns"),
    "control": ("control arm", "control group", "control label", "control"),
    "split": ("planned split", "split"),
}
_ROLE_NOUN = r"(?:\s+(?:column|variable|var|col))?"
_BACK = re.compile(r"^\s*(?:go\s+)?back\b|^\s*undo\b|^\s*previous(?:\s+step)?\s*$|\bgo back\b|\bstep back\b", re.I)
_OTHER_DATASET = re.compile(
    r"\b(?:different|another|other|new|wrong)\s+(?:data\s*set|file|table|data)\b|"
    r"\b(?:change|switch)\s+(?:the\s+)?(?:data\s*set|file|table|data)\b",
    re.I,
)
_NAMED_DATASET = re.compile(
    r"\b(?:data\s*set|file|table)\s*(?:=|:|\bis\b|\bto\b)\s*['\"]?([\w.\-]+)|\b(?:use|switch to|try)\s+(?:the\s+)?"
    r"(?:data\s*set|file|table)\s+['\"]?([\w.\-]+)",
    re.I,
)
_CHANGE = re.compile(r"\b(?:change|edit|fix|modify|redo|replace|pick|choose|update)\s+(?:the\s+)?(.+)$", re.I)
_ADD = re.compile(
    r"^\s*(?:also\s+)?(?:add|include|plus)\s+(.+?)(?:\s+(?:to|as|in(?:to)?)\s+(?:the\s+)?(\w+))?\s*$", re.I
)
_DROP = re.compile(
    r"^\s*(?:drop|remove|exclude|delete|without|leave out|take out)\s+(.+?)"
    r"(?:\s+(?:from|of|in)\s+(?:the\s+)?(\w+))?\s*$",
    re.I,
)
_DONT_KNOW = re.compile(
    r"\b(no idea|not sure|unsure|don'?t know|do not know|dunno|unknown|no clue|skip|can'?t say|not known|"
    r"no record|idk)\b"
)
_PLANNED = re.compile(
    r"\b(yes|yep|yeah|y|planned|intended|on purpose|by design|deliberate|that way|as planned|correct|right|"
    r"that'?s right|it was)\b"
)
_BELOW = r"\b(?:below|under|less than|lower than|beneath|at most|fewer than)"
_ABOVE = r"\b(?:above|over|more than|higher than|greater than|at least|pass(?:es)?|exceed(?:s|ing)?|reach(?:es)?)"
#: What a side word must stand by: the cutoff (or "it"), or a number ("pass 10 credits").
_OF_WHAT = (
    r"\s+(?:(?:the|an?|its|that|this)\s+)?(?:[\w-]+\s+)?(?:cut-?\s?off|threshold|limit|line|it\b|that\b)|\s+[$€£]?\d"
)
_CUTOFF = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?%?|[-+]?\.\d+")
#: A guardrail's good direction said after its column: "Page Load (ms) (better if lower)", "errors, lower is
#: better", "errors (decrease)".
_DIRECTION = re.compile(
    r"[\s,(]*\b(?:(?:better|good)\s+(?:if|when)\s+)?(?:(lower|less|fewer|smaller|down|decrease|decreasing)|"
    r"(higher|more|larger|bigger|up|increase|increasing))(?:\s+is)?(?:\s+(?:better|good|wanted))?\b[\s)]*$",
    re.I,
)
_NO_GUARDRAILS = re.compile(
    r"^\s*(?:no|without|none of the|drop (?:all )?(?:the )?|remove (?:all )?(?:the )?|clear (?:the )?)\s*"
    r"guardrails?(?:\s+(?:metrics?|columns?))?\s*$|^\s*guardrails?\s*[=:]\s*(?:none|nothing|-)?\s*$",
    re.I,
)
_SPLIT_NUMBERS = re.compile(r"(\d+(?:\.\d+)?)\s*%?\s*(?:/|:|-|to|vs\.?|and)\s*(\d+(?:\.\d+)?)\s*%?")


@dataclass
class Reading:
    """What an answer asks for: role values, columns added to or dropped from the list role, or a command."""

    roles: dict[str, Any] = field(default_factory=dict)
    #: Columns to add (a guardrail with the direction said: ``{"column", "direction"}``).
    add: list[Any] = field(default_factory=list)
    drop: list[str] = field(default_factory=list)
    #: "change covariates": the role to ask about again.
    change: str | None = None
    back: bool = False
    #: "use a different dataset" (""), or the dataset named.
    dataset: str | None = None
    accept: bool = False
    #: Names given for column roles that are no column of the dataset, with the closest columns.
    unknown: list[tuple[str, list[str]]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.roles or self.add or self.drop or self.change or self.back or self.accept) and (
            self.dataset is None and not self.unknown
        )


def resolve_column(name: str, columns: Sequence[str]) -> str | None:
    """The dataset's column called ``name`` (case and surrounding quotes ignored), or None. A name as written is
    tried before one with its surrounding punctuation and brackets stripped, so "Weekly Sales ($)" or
    "Revenue (USD)" — an export's own column names — are found as typed."""
    lowered = {c.lower(): c for c in columns}
    bare = name.strip().strip("'\"`").strip()
    for cleaned in (bare, bare.strip(".,;:!?").strip("'\"`"), name.strip().strip("'\"`.,;:!?()[]").strip()):
        if cleaned in columns:
            return cleaned
        if (found := lowered.get(cleaned.lower())) is not None:
            return found
    return None


def _role_names(guide: Guide) -> dict[str, str]:
    """Every way to name one of the guide's roles -> the role (the guide's own names first)."""
    names: dict[str, str] = {}
    for role in guide.roles:
        names.setdefault(role, role)
    for role in guide.roles:
        for word in SYNONYMS.get(role, ()):
            names.setdefault(word, role)
    for role, words in SYNONYMS.items():  # "outcome" for an experiment's metric, "treatment" for its arm
        if role in guide.roles:
            continue
        for word in words:
            target = next((r for r in guide.roles if word in SYNONYMS.get(r, ())), None)
            if target is not None:
                names.setdefault(word, target)
    return names


def _names_pattern(names: dict[str, str]) -> str:
    return "|".join(re.escape(n).replace(r"\ ", r"\s+") for n in sorted(names, key=len, reverse=True))


def read_changes(text: str, guide: Guide, columns: Sequence[str]) -> Reading:
    """What ``text`` asks to change in the roles of ``guide`` on a dataset with ``columns``."""
    reading = Reading()
    answer = text.strip()
    lowered = re.sub(r"\s+", " ", answer.lower()).strip(" .!")
    if lowered in ACCEPT_WORDS:
        reading.accept = True
        return reading
    if _BACK.search(lowered) and len(lowered.split()) <= 4:
        reading.back = True
        return reading
    named = _NAMED_DATASET.search(answer)
    if named is not None:
        reading.dataset = next(g for g in named.groups() if g)
        return reading
    if _OTHER_DATASET.search(lowered):
        reading.dataset = ""
        return reading
    if "guardrails" in guide.roles and _NO_GUARDRAILS.match(lowered):
        reading.roles["guardrails"] = []
        return reading
    names = _role_names(guide)
    pattern = _names_pattern(names)
    _pairs(answer, guide, names, pattern, columns, reading)
    if reading.roles or reading.unknown:
        _plain_values(lowered, guide, reading)
        return reading
    if _list_edit(answer, guide, names, columns, reading):
        return reading
    change = _CHANGE.search(lowered)
    if change is not None:
        role = _role_in(change.group(1), names, pattern)
        if role is not None:
            reading.change = role
            return reading
    _plain_values(lowered, guide, reading)
    return reading


def _role_in(text: str, names: dict[str, str], pattern: str) -> str | None:
    found = re.search(rf"\b({pattern})\b", text, re.I)
    return names[re.sub(r"\s+", " ", found.group(1).lower())] if found else None


def _pairs(
    answer: str, guide: Guide, names: dict[str, str], pattern: str, columns: Sequence[str], reading: Reading
) -> None:
    """``role=value`` / ``role: value`` / ``role is value`` / ``use value as role`` / ``value is the role``."""
    marks = list(
        re.finditer(rf"\b(?:the\s+)?({pattern}){_ROLE_NOUN}\s*(?:=|:|\bis\b|\bshould be\b|\bto\b)\s*", answer, re.I)
    )
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(answer)
        raw = answer[mark.end() : end].strip().strip(";").strip()
        raw = re.split(r"(?i)[;\n]|\b(?:and|but)\s+(?:the\s+)?(?=" + pattern + r")", raw)[0].strip()
        _set(names[re.sub(r"\s+", " ", mark.group(1).lower())], raw, guide, columns, reading)
    if marks:
        return
    use = re.search(
        rf"^\s*(?:use|take|set|make)\s+(.+?)\s+(?:as|for)\s+(?:the\s+)?({pattern}){_ROLE_NOUN}\s*$", answer, re.I
    )
    if use is None:
        use = re.search(rf"^\s*(.+?)\s+(?:is|are)\s+(?:the\s+)?({pattern}){_ROLE_NOUN}\s*$", answer, re.I)
    if use is not None:
        _set(names[re.sub(r"\s+", " ", use.group(2).lower())], use.group(1), guide, columns, reading)


def _split_list(raw: str) -> list[str]:
    return [c.strip() for c in re.split(r"\s*(?:,|;|\band\b|\n|\s\+\s)\s*", raw) if c.strip()]


def _set(role: str, raw: str, guide: Guide, columns: Sequence[str], reading: Reading) -> None:
    raw = raw.strip().strip(".!?").strip()
    if not raw:
        return
    if role in guide.values:
        if role in guide.lists:
            reading.roles[role] = _split_list(raw)
        elif role == "cutoff":  # a cutoff may be written with thousands separators (1,000)
            written = _CUTOFF.match(raw)
            reading.roles[role] = written.group(0) if written else raw.split(",")[0].strip()
        else:  # a label as the user typed it
            reading.roles[role] = re.split(r"[,\s]", raw)[0].strip().strip("'\"")
        return
    if role == "guardrails":
        _guardrails(raw, columns, reading)
        return
    values = _split_list(raw) if role in guide.lists else [raw.split(",")[0].strip()]
    found: list[str] = []
    for value in values:
        column = resolve_column(value, columns)
        if column is None and role not in guide.lists:  # "treat (the 0/1 column)": its first word
            column = resolve_column(value.split()[0], columns) if value.split() else None
        if column is None:
            reading.unknown.append((value, difflib.get_close_matches(value, list(columns), n=3)))
        else:
            found.append(column)
    if found:
        reading.roles[role] = found if role in guide.lists else found[0]


def said_direction(text: str) -> Literal["increase", "decrease"] | None:
    """The good direction a guardrail's words end with ("page load time, lower is better": "decrease"), or None."""
    said = _DIRECTION.search(text.strip())
    return None if said is None else "decrease" if said.group(1) else "increase"


#: A quantile said with a guardrail: "page_load_ms (p95, better if lower)", "latency median".
_QUANTILE = re.compile(r"(?i)[\s,(]*\b(p\d{1,2}(?:\.\d+)?|median)\b[\s,]*\)?")


def said_quantile(value: str) -> tuple[str, str | None]:
    """A guardrail's words without the quantile said with them ("p95", "median"), and that quantile (None: none)."""
    found = _QUANTILE.search(value)
    if found is None or found.start() == 0:
        return value, None
    opened = "(" in found.group(0) and not found.group(0).rstrip().endswith(")")  # "(p95, better if lower)"
    rest = (value[: found.start()].rstrip() + (" (" if opened else " ") + value[found.end() :].lstrip()).strip()
    return rest, found.group(1).lower()


def _guardrail_item(column: str, direction: str | None, kind: str | None) -> Any:
    """A guardrail as the roles hold it: its column alone, or with the direction and the quantile said."""
    if not direction and not kind:
        return column
    item: dict[str, str] = {"column": column}
    if direction:
        item["direction"] = direction
    if kind:
        item["kind"] = kind
    return item


def guardrail_value(value: str, columns: Sequence[str]) -> tuple[str | None, str | None]:
    """A guardrail as written ("Page Load (ms) (better if lower)", "errors, lower is better"): its column (None
    when it is no column) and the direction said ("decrease", "increase", or None when none is said)."""
    whole = resolve_column(value, columns)  # a column whose own name ends like a direction ("Time Up")
    said = _DIRECTION.search(value)
    if whole is not None or said is None or said.start() == 0:
        return whole, None
    return resolve_column(value[: said.start()], columns), "decrease" if said.group(1) else "increase"


def _guardrail_parts(raw: str) -> list[str]:
    """The guardrails of a list, a direction said after one (", lower is better") kept with it."""
    parts: list[str] = []
    for part in _split_list(raw):
        if parts and _DIRECTION.fullmatch(" " + part):
            parts[-1] = f"{parts[-1]} ({part})"
        else:
            parts.append(part)
    return parts


def _guardrails(raw: str, columns: Sequence[str], reading: Reading) -> None:
    """``guardrails=a (lower is better), b``: each a column, with the direction when it is said."""
    items: list[Any] = []
    for said in _guardrail_parts(raw):
        value, kind = said_quantile(said)
        column, direction = guardrail_value(value, columns)
        if column is None:
            reading.unknown.append((said, difflib.get_close_matches(said, list(columns), n=3)))
        else:
            items.append(_guardrail_item(column, direction, kind))
    if items:
        reading.roles["guardrails"] = items


def _list_edit(answer: str, guide: Guide, names: dict[str, str], columns: Sequence[str], reading: Reading) -> bool:
    """``add re75`` / ``drop re74 from covariates`` / ``add guardrail errors (better if lower)``: for the guide's
    list of columns (covariates, or an experiment's guardrails)."""
    lists = [role for role in guide.lists if role not in guide.values]
    if not lists:
        return False
    edits: tuple[tuple[re.Pattern[str], list[Any]], ...] = ((_ADD, reading.add), (_DROP, reading.drop))
    for regex, target in edits:
        found = regex.match(answer)
        if found is None:
            continue
        into = found.group(2)
        if into and names.get(into.lower()) not in lists:
            continue
        said = re.sub(r"(?i)^the\s+", "", found.group(1))
        for length in (2, 1):  # "add guardrail X", "drop the guardrail metric X": the role named first
            words = said.split(None, length)
            if len(words) > length and names.get(" ".join(words[:length]).lower()) in lists:
                said = words[length]
                break
        if "guardrails" in lists:
            for part in _guardrail_parts(said):
                value, kind = said_quantile(part)
                column, direction = guardrail_value(value, columns)
                if column is None:
                    reading.unknown.append((part, difflib.get_close_matches(part, list(columns), n=3)))
                elif target is reading.add:
                    target.append(_guardrail_item(column, direction, kind))
                else:
                    target.append(column)
            return bool(target or reading.unknown)
        for value in _split_list(said):
            column = resolve_column(value, columns)
            if column is None:
                reading.unknown.append((value, difflib.get_close_matches(value, list(columns), n=3)))
            else:
                target.append(column)
        return bool(target or reading.unknown)
    return False


def _plain_values(lowered: str, guide: Guide, reading: Reading) -> None:
    """Values said without a role name: an RD's side ("treated below the cutoff"), a cutoff ("at 0.5")."""
    if "side" in guide.roles and "side" not in reading.roles:
        side = read_side(lowered)
        if side is not None:
            reading.roles["side"] = side
    if "cutoff" in guide.roles and "cutoff" not in reading.roles:
        cutoff = re.search(r"\b(?:cut-?\s?off|threshold)\b[^\d\-+]*([-+]?\d[\d,]*\.?\d*)", lowered)
        if cutoff is not None:
            reading.roles["cutoff"] = cutoff.group(1)


def read_side(text: str) -> str | None:
    """The treated side of a cutoff in plain words ("households below an income cutoff", "below it get the
    transfer", "users who pass 10 credits"), or None; a side word must stand by what it is a side of."""
    lowered = re.sub(r"\s+", " ", text.lower()).strip(" .!")
    alone = re.fullmatch(r"(?:treated |side |the )?(below|above)(?: it| the cut-?\s?off)?", lowered)
    if alone is not None:
        return alone.group(1)
    said = [s for s, words in (("below", _BELOW), ("above", _ABOVE)) if re.search(f"{words}(?:{_OF_WHAT})", lowered)]
    return said[0] if len(said) == 1 else None


def read_split(text: str, levels: Sequence[str], counts: Sequence[int]) -> tuple[str, list[str] | None] | None:
    """The answer to "was the split planned that way?": ``("planned", split)`` with ``label:share`` items (the
    observed counts when the user says it was planned so), ``("equal", split)``, ``("unknown", None)`` (the check
    then assumes equal shares), or None when the answer says none of these."""
    lowered = re.sub(r"\s+", " ", text.lower()).strip(" .!")
    numbers = _SPLIT_NUMBERS.search(lowered)
    if numbers is not None and len(levels) == 2:
        a, b = numbers.group(1), numbers.group(2)
        if float(a) > 0 and float(b) > 0:
            kind = "equal" if float(a) == float(b) else "planned"
            return kind, [f"{levels[0]}:{a}", f"{levels[1]}:{b}"]
    if _DONT_KNOW.search(lowered):
        return "unknown", None
    if re.search(r"\b(equal|even|evenly|half|halves|same size|fifty)\b", lowered):
        return "equal", [f"{level}:1" for level in levels]
    if re.search(r"\b(not|no|nope|wasn'?t|isn'?t)\b", lowered):
        return None  # "no, it was not": then what was it? asked again
    if _PLANNED.search(lowered):
        return "planned", [f"{level}:{count}" for level, count in zip(levels, counts, strict=True)]
    return None
