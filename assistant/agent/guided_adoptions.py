"""Who was treated when, said in words, for a difference-in-differences whose data have no column that says it.

"California from Q32011", "only California changed, from 2011 Q3", "CA in 2011Q3", "the UK from 2024-03 and France
from 2024-05", "treated: California since Q3 2011" become the diff_in_diff request's ``adoptions``: each unit with
its first treated period; units not named are never treated.

Units are matched against the unit column's values regardless of case; a common abbreviation (CA, UK) or the unique
start of a value (Calif) names it too. A name that matches none is reported with the closest values, never taken.
Periods are read in any form the tool reads (:mod:`tools.did.periods`: Q32011, 2011 Q3, 2011-Q3, the third quarter
of 2011, 2024-03, March 2024, 2024-W09, ISO dates; a bare number after "from", "since" or "in" when the periods are
integers) and written in the time column's own form: a quarter said for an integer period column is translated
through a column holding the same periods as text (organ_donations' Quarter beside Quarter_Num). Deterministic: no
model, no statistics; the tool checks the rest.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tools.data.names import display_name
from tools.did.adoptions import first_period_key, unit_text
from tools.did.panel import PeriodRead, period_text, read_periods
from tools.errors import ToolError

__all__ = ["Adopted", "AdoptionAnswer", "read_adoptions"]

#: Unit columns with more distinct values than this are matched by whole words only (no scan of every value).
_MAX_SCANNED = 20_000
#: Distinct (time, other column) pairs past which a column is no companion of the time column (periods are few).
_MAX_PAIRS = 5_000

_MONTHS = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
    r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4}
_CONNECTOR = r"(?:from|since|in|starting(?:\s+(?:in|from|with))?|as\s+of|on|beginning(?:\s+(?:in|with))?|after|:|=)"
_PERIOD = re.compile(
    r"(?<![\w])(?:"
    r"(?P<ordinal>first|second|third|fourth|1st|2nd|3rd|4th)\s+quarter\s+(?:of\s+)?(?P<ordinal_year>\d{4})"
    r"|q(?P<quarter_of>[1-4])\s+of\s+(?P<quarter_of_year>\d{4})"
    r"|(?P<text>\d{4}-\d{1,2}-\d{1,2}"
    r"|\d{4}-?w\d{1,2}"
    r"|q[1-4]\s?[-/]?\s?\d{4}|\d{4}\s?[-/]?\s?q[1-4]|[1-4]q\s?\d{4}"
    r"|h[12]\s?[-/]?\s?\d{4}|\d{4}\s?[-/]?\s?h[12]"
    r"|\d{4}[-/.]\d{1,2}|\d{1,2}/\d{4}"
    rf"|(?:{_MONTHS})\.?,?\s+\d{{4}}|\d{{4}}\s+(?:{_MONTHS}))"
    r")(?![\w])",
    re.IGNORECASE,
)
#: Words around unit names that name no unit.
_FILLER_WORDS = """only just the a an we our it its they their changed change changes launched launch launches
rolled roll rollout out went go goes live treated treatment treat adopted adopt adoption adopts started start
starts starting began begin from since in on at as of and then later first was were is are got gets get had has
have introduced introduce for to with after before onwards onward beginning by period periods quarter month week
year time policy law feature rule new units unit other others else everyone never not no all rest yes ok so
there that this when which who where what took effect became effective passed enacted implemented switched
switch did does do state states market markets region regions country countries store stores city cities it's
only: treated: both each also too"""
_FILLERS = frozenset(_FILLER_WORDS.split())
_NEGATED = re.compile(r"(?:\bnot|\bexcept|\bexcluding|\bbut not|\bother than|\bbesides|\bwithout)\s*$")

#: Common short names (a US state's postal code, a country's) and what they stand for.
_ALIASES: dict[str, tuple[str, ...]] = {
    "al": ("alabama",), "ak": ("alaska",), "az": ("arizona",), "ar": ("arkansas",), "ca": ("california",),
    "co": ("colorado",), "ct": ("connecticut",), "de": ("delaware",), "dc": ("district of columbia",),
    "fl": ("florida",), "ga": ("georgia",), "hi": ("hawaii",), "id": ("idaho",), "il": ("illinois",),
    "in": ("indiana",), "ia": ("iowa",), "ks": ("kansas",), "ky": ("kentucky",), "la": ("louisiana",),
    "me": ("maine",), "md": ("maryland",), "ma": ("massachusetts",), "mi": ("michigan",), "mn": ("minnesota",),
    "ms": ("mississippi",), "mo": ("missouri",), "mt": ("montana",), "ne": ("nebraska",), "nv": ("nevada",),
    "nh": ("new hampshire",), "nj": ("new jersey",), "nm": ("new mexico",), "ny": ("new york",),
    "nc": ("north carolina",), "nd": ("north dakota",), "oh": ("ohio",), "ok": ("oklahoma",), "or": ("oregon",),
    "pa": ("pennsylvania",), "ri": ("rhode island",), "sc": ("south carolina",), "sd": ("south dakota",),
    "tn": ("tennessee",), "tx": ("texas",), "ut": ("utah",), "vt": ("vermont",), "va": ("virginia",),
    "wa": ("washington",), "wv": ("west virginia",), "wi": ("wisconsin",), "wy": ("wyoming",),
    "uk": ("united kingdom", "great britain", "gb"), "gb": ("united kingdom", "great britain", "uk"),
    "us": ("united states", "usa"), "usa": ("united states", "us"), "uae": ("united arab emirates",),
    "nz": ("new zealand",),
}  # fmt: skip


@dataclass(frozen=True)
class Adopted:
    """A treated unit: its value in the unit column (as text), its first treated period in the time column's form,
    and that period as read, written for the user (2011Q3)."""

    unit: str
    first_period: int | str
    said: str

    def words(self, time: str) -> str:
        """'California from 2011Q3', with the time column's value when it is written otherwise ('(Quarter_Num 4)');
        'Florida from year 2005' for an integer period."""
        shown, column, unit = str(self.first_period), display_name(time, 30), display_name(self.unit, 40)
        if shown != self.said:
            return f"{unit} from {self.said} ({column} {shown})"
        if isinstance(self.first_period, int):
            return f"{unit} from {column} {shown}"
        return f"{unit} from {self.said}"


@dataclass
class AdoptionAnswer:
    """What an answer says about who was treated when: the units and their first periods, or what is wrong."""

    adopted: list[Adopted] = field(default_factory=list)
    #: What cannot be taken, in the user's words (an unknown unit with the closest values; a missing period).
    problems: list[str] = field(default_factory=list)
    #: The numbers the problems and the echo show (for the conversation's provenance check).
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Units:
    """The unit column's values as text, and how to find them in a sentence."""

    texts: list[str]
    by_folded: dict[str, str]
    pattern: re.Pattern[str] | None

    @classmethod
    def of(cls, series: pd.Series) -> _Units:
        texts = sorted({unit_text(v) for v in series.dropna().unique()} - {""})
        by_folded: dict[str, str] = {}
        for text in texts:
            by_folded.setdefault(text.lower(), text)
        pattern = None
        if len(texts) <= _MAX_SCANNED:
            names = sorted(by_folded, key=len, reverse=True)
            pattern = re.compile(r"(?<![\w])(" + "|".join(re.escape(n) for n in names) + r")(?![\w])")
        return cls(texts, by_folded, pattern)

    def find(self, segment: str) -> list[str]:
        """The unit values named in ``segment`` (lower case), in order, skipping negated ones ("not Texas")."""
        found: list[str] = []
        if self.pattern is not None:
            for match in self.pattern.finditer(segment):
                if not _NEGATED.search(segment[: match.start()]):
                    found.append(self.by_folded[match.group(1)])
        else:
            for match in re.finditer(r"[\w.'&-]+", segment):
                if match.group(0) in self.by_folded and not _NEGATED.search(segment[: match.start()]):
                    found.append(self.by_folded[match.group(0)])
        return found

    def guess(self, phrase: str) -> str | None:
        """The value a short name stands for: a common abbreviation (CA, UK) or the unique start of one value."""
        for alias in _ALIASES.get(phrase, ()):
            if alias in self.by_folded:
                return self.by_folded[alias]
        for long_name, shorts in _ALIASES.items():  # the data write the short name ('UK'), the user the long one
            if phrase in shorts and long_name in self.by_folded:
                return self.by_folded[long_name]
        if len(phrase) >= 2:
            starting = [t for folded, t in self.by_folded.items() if folded.startswith(phrase)]
            if len(starting) == 1:
                return starting[0]
        return None

    def closest(self, phrase: str) -> list[str]:
        close = difflib.get_close_matches(phrase, list(self.by_folded), n=3, cutoff=0.6)
        return [self.by_folded[c] for c in close]


def _leftover(segment: str, time: str, unit: str) -> list[str]:
    """The phrases of ``segment`` (lower case) that are no filler word: what the user may have meant as a unit."""
    own = {time.lower(), unit.lower()}
    phrases: list[str] = []
    current: list[str] = []
    for token in re.findall(r"[\w.'&-]+|[,;]", segment):
        word = token.strip(".'")
        if token in ",;" or word in _FILLERS or word in own or not word:
            if current:
                phrases.append(" ".join(current))
            current = []
        else:
            current.append(word)
    if current:
        phrases.append(" ".join(current))
    return phrases


@dataclass(frozen=True)
class _Said:
    """A period in the answer: where it stands, and the text (or integer) to read."""

    start: int
    end: int
    value: int | str
    #: A month named without its year ("in March"): 1-12; the data decide the year when they have one March.
    month: int | None = None


_MONTH_ALONE = re.compile(
    rf"(?<![\w])(?:in|from|since|starting(?:\s+in)?|as\s+of|by|on|after|beginning(?:\s+in)?)\s+"
    rf"(?:(?:early|mid|late)[\s-]+)?(?P<month>{_MONTHS})\b(?!\.?,?\s+\d{{4}})",
    re.IGNORECASE,
)
_MONTH_NUMBER = {name[:3]: i for i, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
)}  # fmt: skip


def _periods(lowered: str, integers: bool, time: str) -> list[_Said]:
    """The periods said in ``lowered``; bare integers only when the periods are integers, and only after a word
    such as 'from' or 'since' ('the 2 states' names no period)."""
    found: list[_Said] = []
    for match in _PERIOD.finditer(lowered):
        if match.group("ordinal"):
            value = f"{match.group('ordinal_year')}Q{_ORDINALS[match.group('ordinal')]}"
        elif match.group("quarter_of"):
            value = f"{match.group('quarter_of_year')}Q{match.group('quarter_of')}"
        else:
            value = match.group("text")
        found.append(_Said(match.start(), match.end(), value))
    for match in _MONTH_ALONE.finditer(lowered):
        if not any(s.start <= match.start("month") < s.end for s in found):
            month = _MONTH_NUMBER[match.group("month")[:3]]
            found.append(_Said(match.start("month"), match.end("month"), match.group("month"), month))
    if integers:
        name = re.escape(time.lower())
        bare = re.compile(
            rf"(?<![\w]){_CONNECTOR}\s*(?:(?:period|quarter|week|month|year|wave|round|{name})\s*=?\s*)?"
            r"(?P<n>[+-]?\d+)(?![\w.%])"
        )
        for match in bare.finditer(lowered):
            if not any(s.start <= match.start("n") < s.end for s in found):
                found.append(_Said(match.start("n"), match.end("n"), int(match.group("n"))))
    return sorted(found, key=lambda s: s.start)


@dataclass
class _TimeColumn:
    """The time column as the tool reads it, and how a period said becomes one of its values."""

    frame: pd.DataFrame
    name: str
    unit: str
    read: PeriodRead | None

    def written(self, key: int) -> int | str:
        """The value of the period with ``key`` as the column writes it."""
        assert self.read is not None
        if self.read.kind == "integer":
            return int(key)
        if self.read.kind == "date":
            return period_text(key, "date")
        rows = np.flatnonzero(self.read.keys == key)
        return str(self.frame[self.name].iloc[int(rows[0])]).strip()

    def convert(self, value: int | str) -> tuple[int | str, str] | str | None:
        """``value`` in the column's form and as read (for the echo); where a column holding the same periods in
        its kind lacks it, why (in words); None when no column holds periods of its kind."""
        read = self.read
        if read is None:  # the tool will say what is wrong with the column
            return value, str(value)
        key = first_period_key(value, read.kind)
        if key is not None:
            present = read.keys[self.frame[self.name].notna().to_numpy()]
            said = period_text(key, read.kind) if read.kind not in ("integer", "date") else str(value)
            if bool(np.isin(key, present)):
                written = self.written(key)
                return written, said if read.kind != "date" else str(written)
            return value, said  # between two dates, or not in the data: the tool says which
        return self._through_companion(value)

    def in_month(self, month: int, written_as: str) -> tuple[int | str, str] | str | None:
        """The first period in ``month`` (1-12) when the data have that month in one year only; why not (in
        words) when they have it in several; None when the periods are no dates or months."""
        read = self.read
        if read is None or read.kind not in ("date", "month"):
            return None
        present = np.unique(read.keys[self.frame[self.name].notna().to_numpy()])
        if read.kind == "date":
            stamps = pd.DatetimeIndex(present.astype("datetime64[ns]"))
            chosen, years = present[stamps.month == month], stamps.year[stamps.month == month]
        else:
            chosen, years = present[present % 12 == month - 1], present[present % 12 == month - 1] // 12
        distinct = sorted({int(y) for y in years})
        if len(distinct) != 1:
            found = ", ".join(f"{written_as} {y}" for y in distinct) if distinct else "none"
            return f"the data have {found}: say the year too"
        key = int(chosen.min())
        written = self.written(key)
        return written, str(written) if read.kind == "date" else period_text(key, read.kind)

    def _through_companion(self, value: int | str) -> tuple[int | str, str] | str | None:
        """``value`` read in another column that holds the same periods one for one (Quarter beside Quarter_Num),
        written as the time column's value on the rows of that period; why not, when that column lacks it."""
        assert self.read is not None
        frame = self.frame
        lacking: str | None = None
        for column in frame.columns:
            if column in (self.name, self.unit) or pd.api.types.is_float_dtype(frame[column].dtype):
                continue
            if pd.api.types.is_integer_dtype(frame[column].dtype) and not isinstance(value, int):
                continue
            pairs = frame[[self.name, column]].dropna().drop_duplicates()
            if not 1 < len(pairs) <= _MAX_PAIRS:
                continue
            try:
                other = read_periods(pairs[column].reset_index(drop=True), str(column))
            except ToolError:
                continue
            key = first_period_key(value, other.kind)
            if key is None:
                continue
            one_for_one = pairs[self.name].nunique() == len(pairs) == len(np.unique(other.keys))
            if not one_for_one:
                continue
            rows = np.flatnonzero(other.keys == key)
            if not len(rows):
                low, high = int(other.keys.min()), int(other.keys.max())
                lacking = (
                    f"'{display_name(column)}' has no {period_text(key, other.kind)} (its periods run from "
                    f"{period_text(low, other.kind)} to {period_text(high, other.kind)})"
                )
                continue
            said = period_text(key, other.kind) if other.kind not in ("integer", "date") else str(value)
            time_value = pairs[self.name].iloc[int(rows[0])]
            time_key = read_periods(pd.Series([time_value]), self.name).keys[0]
            return self.written(int(time_key)), said
        return lacking

    def describe(self) -> tuple[str, dict[str, Any]]:
        """What the column holds, in a few words, and the numbers those words show."""
        column = display_name(self.name)
        if self.read is None or self.read.kind != "integer":
            kind = "dates" if self.read is not None and self.read.kind == "date" else "periods"
            return f"'{column}' holds {kind}", {}
        present = self.read.keys[self.frame[self.name].notna().to_numpy()]
        low, high = int(present.min()), int(present.max())
        return f"'{column}' holds integers ({low} to {high})", {"time_range": {"low": low, "high": high}}


def read_adoptions(text: str, frame: pd.DataFrame, unit: str, time: str, asked: bool) -> AdoptionAnswer | None:
    """Who was treated when in ``text``, for the panel ``frame`` with the columns ``unit`` and ``time``; None when
    the answer says nothing of it (no period, or, unless the question ``asked`` for it, no unit either)."""
    lowered = text.lower()
    original = text if len(lowered) == len(text) else lowered  # (what the user wrote, at the same positions)
    try:
        read: PeriodRead | None = read_periods(frame[time], time)
    except (ToolError, KeyError):
        read = None
    if unit not in frame.columns:
        return None
    units = _Units.of(frame[unit])
    periods = _periods(lowered, read is not None and read.kind == "integer", time)
    if not periods:
        named = units.find(lowered)
        if asked and named:
            name = display_name(named[0], 40)
            return AdoptionAnswer(
                problems=[
                    f"From which period was {name} treated? Say it as '{name} from PERIOD', with the period as "
                    f"'{display_name(time)}' writes it."
                ],
                facts={"unit_values": [named[0]]},
            )
        return None
    answer = AdoptionAnswer()
    column = _TimeColumn(frame, time, unit, read)
    given: dict[str, Adopted] = {}
    unknown: list[str] = []
    bounds = [0, *(s.end for s in periods)]
    segments = [lowered[bounds[i] : s.start] for i, s in enumerate(periods)]
    tail = lowered[periods[-1].end :]
    for i, said in enumerate(periods):
        named = units.find(segments[i])
        if not named and len(periods) == 1:
            named = units.find(tail)
        if not named:
            for phrase in _leftover(segments[i] if segments[i].strip() else tail, time, unit):
                guessed = units.guess(phrase)
                if guessed is not None:
                    named.append(guessed)
                else:
                    unknown.append(phrase)
        if not named:
            continue
        written_as = original[said.start : said.end].strip()
        if said.month is not None:
            converted = column.in_month(said.month, written_as.capitalize())
            if converted is None or isinstance(converted, str):
                answer.problems.append(
                    f"{written_as.capitalize()} of which year? "
                    + (f"In '{display_name(time)}', {converted}." if converted else "Say it with the year.")
                )
                continue
        else:
            converted = column.convert(said.value)
        if converted is None or isinstance(converted, str):
            holds, facts = column.describe()
            answer.facts.update(facts)
            why = converted or f"no other column says which of them '{written_as}' is"
            answer.problems.append(
                f"'{written_as}' is no period of '{display_name(time)}': {holds}, and {why}. Say the first period "
                f"as '{display_name(time)}' writes it."
            )
            continue
        written, shown = converted
        for name in named:
            before = given.get(name)
            if before is not None and before.first_period != written:
                answer.problems.append(
                    f"{display_name(name, 40)} is given two first periods ({before.said} and {shown}): which one is it?"
                )
            given[name] = Adopted(name, written, shown)
    if not given and not asked:  # no unit of the data named: the answer is about something else
        return None
    for phrase in unknown:
        close = units.closest(phrase)
        values = close or units.texts[:3]
        answer.facts.setdefault("unit_values", []).extend(values)
        shown = ", ".join(display_name(v, 40) for v in values)
        at = lowered.find(phrase)
        written = original[at : at + len(phrase)] if at >= 0 else phrase
        hint = f" (closest: {shown})" if close else f" (its values include {shown})"
        answer.problems.append(f"There is no '{display_name(written, 40)}' in '{display_name(unit)}'{hint}.")
    if not given and not answer.problems:
        answer.problems.append(
            f"Which units were treated from {original[periods[0].start : periods[0].end]}? Name them as "
            f"'{display_name(unit)}' writes them."
        )
    answer.adopted = list(given.values())
    if answer.adopted and not answer.problems:
        answer.facts["adoptions"] = {
            "treated": len(answer.adopted),
            "untreated": len(units.texts) - len(answer.adopted),
            "first_periods": [a.first_period for a in answer.adopted],
        }
    return answer
