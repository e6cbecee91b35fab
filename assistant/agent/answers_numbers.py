"""The guided mode's readers for numbers: the baseline, the lift, the standard deviation, the daily units.

Numbers are read as people write them — ``12%``, ``0.12``, ``twelve percent``, ``1 in 8``, ``$25``, ``2k``,
``1 percentage point``, ``from 10% to 12%``, ``between 20 and 40``, ``14,000 a week`` — and checked as they are
given, in the user's terms ("a standard deviation cannot be negative"), so power never sees a value it would
refuse. Arithmetic on the user's numbers is exact (:class:`~decimal.Decimal`): "from 10% to 12%" is an absolute
change of exactly two points. What is shown back to the user quotes their own words (``said``), so every number in
the guided mode's sentences is one the user wrote.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from assistant.agent.answers import Reading, normalize, off_script, read_yes_no

__all__ = [
    "Amount",
    "Lift",
    "Quantity",
    "describe_lift",
    "quantities",
    "read_baseline",
    "read_daily_units",
    "read_mde",
    "read_std_dev",
]

Metric = Literal["proportion", "mean"]
MAX_MAGNITUDE = Decimal("1e15")
MAX_DAILY = Decimal("1e12")


@dataclass(frozen=True)
class Quantity:
    """A number in the user's text, with its unit and the words it was written with."""

    value: Decimal
    said: str
    start: int
    end: int
    #: "" (a bare number), "percent", "points", "bps", "money", "cents", "times", "fraction", or another word.
    unit: str = ""


@dataclass(frozen=True)
class Amount:
    """A value read from the user's words, and those words (for saying it back)."""

    value: float
    said: str


@dataclass(frozen=True)
class Lift:
    """The smallest effect worth detecting: ``value`` in power's terms for ``kind`` (absolute: the metric's units,
    a rate as a fraction; relative: a fraction of the baseline), and the user's words for it."""

    value: float
    kind: Literal["absolute", "relative"]
    said: str
    #: "from A to B": the user's words for A and B (A None for "to B").
    start: str | None = None
    end: str | None = None


# -- finding the numbers -----------------------------------------------------------------------------------------

_SMALL = (  # noqa: SIM905
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"
    " sixteen seventeen eighteen nineteen"
).split()
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_FRACTIONS = {"half": "0.5", "quarter": "0.25", "third": "0.3333333333", "tenth": "0.1", "fifth": "0.2"}
_UNIT_AFTER_A = (
    r"(?:(?:full |whole )?(?:percentage )?points?|pp|dollars?|bucks?|euros?|pounds?|cents?|minutes?|seconds?|hours?"
    r"|percent|basis points?)"
)
_WORD = (
    rf"(?:(?:{'|'.join(_TENS)})(?:[- ](?:{'|'.join(_SMALL[1:10])}))?|{'|'.join(reversed(_SMALL))})"
    rf"(?: and a half)?(?: hundred| thousand| million)?"
    rf"|(?:a |one )?half(?= |$|\.|,)|(?:a |one )(?:quarter|third|tenth|fifth)(?= |$|\.|,)"
    rf"|a hundred|a thousand|a million|a(?= {_UNIT_AFTER_A}\b)"
)
_DIGITS = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])|\d{1,3}(?: \d{3})+(?![\d.,])|\d+,\d{1,2}(?![\d,])|\d+(?:\.\d+)?|\.\d+"
_NUMBER = re.compile(
    rf"(?<![\w.,/])(?P<sign>(?<!\d)(?<!\d )[-+]\s?|\bminus\s|\bnegative\s)?(?P<cur>[$€£¥]\s?)?"
    rf"(?P<num>{_DIGITS}|(?<![a-z])(?:{_WORD}))"
    r"(?P<scale>\s?(?:k|mn|m|bn|thousand|million|billion)\b)?"
)
_UNIT = re.compile(
    r"\s?(?:of (?:a |one )?)?(?:a )?(?P<unit>%|(?:full |whole )?percentage points?|percent(?:age)? pts?|pp\b|p\.p\."
    r"|ppts?\b|ppt\b|(?:full |whole )?points?\b|pts?\b|basis points?|bps\b|bp\b|per ?cent\b|pct\b|x\b|times\b"
    r"|fold\b|-fold\b"
    r"|dollars?\b|bucks?\b|usd\b|euros?\b|eur\b|pounds?\b|gbp\b|cents?\b|[a-z]+)"
)
_FRACTION = re.compile(rf"\s*(?:in|out of|of every|for every|per)\s+(?P<den>{_DIGITS}|{_WORD})\b")
_SLASH = re.compile(r"(?<![\w.])(?P<a>\d+)\s*/\s*(?P<b>\d+)(?![\w.])")
_MONTHS = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?"
    r"|nov(?:ember)?|dec(?:ember)?"
)
_YEAR_BEFORE = re.compile(r"(?:\b(?:in|since|from|of|year|during|by|until|before|after|fy|q[1-4]|the)\s+)$")


_STRAIGHT = str.maketrans({ord("\u2212"): "-", ord("\u2013"): "-", ord("\u2014"): "-", ord("\u2019"): "'"})


def _plain(text: str) -> str:
    """Lower case with straight dashes: the same length as ``text``, so spans index the user's words."""
    return text.lower().translate(_STRAIGHT)


def _word_value(words: str) -> Decimal:
    words = words.strip().replace("-", " ")
    if words == "a":
        return Decimal(1)
    total = Decimal(0)
    half = words.endswith(" and a half") or " and a half " in words
    words = words.replace(" and a half", "")
    scale = Decimal(1)
    for name, factor in (("hundred", 100), ("thousand", 1000), ("million", 1_000_000)):
        if words.endswith(" " + name) or words == name or words == "a " + name:
            scale = Decimal(factor)
            words = words.removesuffix(name).strip() or "one"
    if words in ("a", ""):
        words = "one"
    for part in words.split():
        if part in ("a", "one") and total == 0 and words.split()[-1] in _FRACTIONS:
            continue
        if part in _FRACTIONS:
            total += Decimal(_FRACTIONS[part])
        elif part in _TENS:
            total += Decimal(20 + 10 * _TENS.index(part))
        elif part in _SMALL:
            total += Decimal(_SMALL.index(part))
    if half:
        total += Decimal("0.5")
    return total * scale


_NOT_UNITS = frozenset(
    (  # noqa: SIM905
        "to and or of in on at for a an the per from by with is was maybe about around than more less up down"
        " over under between if it we i you this that then but so as ish give take last next this each every"
        " all both only just probably roughly approximately perhaps possibly including in total plus minus vs"
        " versus"
    ).split()
)


def _unit_of(raw: str) -> str:
    raw = raw.strip().removeprefix("full ").removeprefix("whole ")
    if raw in _NOT_UNITS:
        return ""
    if raw in ("%", "per cent", "percent", "pct", "percentcent") or raw.startswith("percent "):
        return "percent" if not raw.startswith("percentage point") and "pt" not in raw else "points"
    if raw.startswith(("percentage point", "pp", "p.p.", "ppt", "point", "full point", "whole point", "pt")):
        return "points"
    if raw.startswith(("basis point", "bp")):
        return "bps"
    if raw in ("x", "times", "fold", "-fold"):
        return "times"
    if raw.startswith(("dollar", "buck", "usd", "euro", "eur", "pound", "gbp")):
        return "money"
    if raw.startswith("cent"):
        return "cents"
    return raw


def quantities(text: str) -> list[Quantity]:
    """The numbers in ``text`` with their units: years, dates, clock times, ordinals and splits ("50/50") left out;
    "1 in 8" and "1/8" are fractions."""
    plain = _plain(text)
    found: list[Quantity] = []
    taken: list[tuple[int, int]] = []
    for match in _SLASH.finditer(plain):
        a, b = Decimal(match.group("a")), Decimal(match.group("b"))
        taken.append(match.span())
        if 0 < a < b:
            found.append(Quantity(a / b, text[match.start() : match.end()], *match.span(), unit="fraction"))
    for match in _NUMBER.finditer(plain):
        if any(start <= match.start() < end for start, end in taken):
            continue
        num = match.group("num")
        digits = num.replace(",", ".") if re.fullmatch(r"\d+,\d{1,2}", num) else num.replace(",", "").replace(" ", "")
        try:
            value = Decimal(digits) if num[0].isdigit() or num[0] == "." else _word_value(num)
        except InvalidOperation:
            continue
        end = match.end()
        if match.group("scale"):
            scale = match.group("scale").strip()
            value *= {"k": 1000, "thousand": 1000, "m": 10**6, "mn": 10**6, "million": 10**6}.get(scale, 10**9)
        after = plain[end:]
        if re.match(r"(?:st|nd|rd|th)\b|:\d|\s?(?:am|pm)\b", after):
            continue  # an ordinal or a clock time
        before = plain[: match.start()]
        if re.search(rf"\b(?:{_MONTHS})\.?\s$", before):
            continue  # a date: "March 1"
        unit = ""
        fraction = _FRACTION.match(after)
        if fraction is not None:
            den_text = fraction.group("den")
            den = Decimal(den_text.replace(",", "")) if den_text[0].isdigit() else _word_value(den_text)
            if den > 0:
                value, unit, end = value / den, "fraction", end + fraction.end()
        if not unit:
            unit_match = _UNIT.match(after)
            if unit_match is not None:
                unit = _unit_of(unit_match.group("unit"))
                if unit in ("percent", "points", "bps", "times", "money", "cents"):
                    end += unit_match.end()
                elif unit_match.group(0)[:1].isalpha() and num[-1].isdigit():
                    continue  # digits glued to letters: a name like "v2" or "q3"
        if match.group("cur"):
            unit = "money"
        if (
            not unit
            and re.fullmatch(r"(?:19|20)\d\d", num)
            and (_YEAR_BEFORE.search(before) or re.match(r"\s*(?:-|to|and)\s*(?:19|20)\d\d", after))
        ):
            continue  # a year
        if match.group("sign") and match.group("sign").strip() in ("-", "minus", "negative"):
            value = -value
        taken.append((match.start(), end))
        found.append(Quantity(value, text[match.start() : end].strip(), match.start(), end, unit))
    return sorted(found, key=lambda q: q.start)


# -- what is said around the numbers ----------------------------------------------------------------------------

_SKIP = re.compile(
    r"^\W*(?:skip|pass|n/?a|none|unknown|later|next|no idea|not sure|dunno|idk|\?+)"
    r"(?: (?:it|that|this|for now|please|the sizing))?\W*$"
)
#: "I don't have that number": a don't-know for a number (for a yes/no question the same words are a no).
_NO_NUMBER = re.compile(
    r"\b(?:don't|do not) have (?:it|that|this|one|the (?:number|data|figure)|a number|numbers|data|those)\b"
    r"|\bnever (?:computed|measured|calculated|checked)\b|\bno data\b"
)
_RANGE = re.compile(r"^\s*,?\s*(?:-|to|and|or|\u2013|up to|through|or (?:maybe|perhaps|possibly)|maybe)\s*$")
_DROP = re.compile(
    r"\b(?:drop|decrease|decline|reduc\w*|fall|falls|fell|lower\w*|down|less|fewer|shorter|faster|cut|shrink\w*"
    r"|negative|worse|loss|lose|minus)\b"
)


def _off_script_or(text: str, reason: str, choices: tuple[str, ...] = ()) -> Reading[object]:
    turn = off_script(text)
    if turn is not None:
        return Reading(turn.kind, suggest=turn.suggest)
    return Reading("unclear", reason=reason, choices=choices)


def _range(text: str, numbers: list[Quantity]) -> tuple[Quantity, Quantity] | None:
    """Two numbers written as a range ("between 20 and 40", "20-40", "20 to 40", "30 or 35"), the numbers around
    them only repeating its ends ("40 or so, maybe 20 to 40")."""
    for first, second in itertools.pairwise(numbers):
        between = text[first.end : second.start].lower()
        if _RANGE.match(between) or (re.search(r"\bbetween\s*$", text[: first.start].lower()) and "and" in between):
            low, high = (first, second) if first.value <= second.value else (second, first)
            if all(q.value in (low.value, high.value) for q in numbers) and low.value != high.value:
                return low, high
    return None


def _as_rate(quantity: Quantity) -> Decimal | None:
    """A rate as a fraction: 12% and 0.12 and "12" (a bare number of one or more reads as a percentage)."""
    if quantity.unit in ("percent", "points"):
        return quantity.value / 100
    if quantity.unit == "fraction":
        return quantity.value
    if quantity.unit == "":
        return quantity.value if abs(quantity.value) < 1 else quantity.value / 100
    return None


def _distinct(numbers: list[Quantity], key: object = None) -> list[Quantity]:
    seen: list[Quantity] = []
    for quantity in numbers:
        if all(quantity.value != other.value for other in seen):
            seen.append(quantity)
    return seen


# -- the baseline -------------------------------------------------------------------------------------------------


def read_baseline(text: str, metric: Metric | None) -> Reading[Amount]:
    """The metric's current value: for a rate a fraction strictly between 0 and 1 ("12%", "0.12", "1 in 8"), for
    an average a number in its units ("$25", "25 dollars", "3.5 minutes")."""
    numbers = quantities(text)
    if not numbers:
        return _number_missing(text, "I need the current value as a number")  # type: ignore[return-value]
    if (span := _range(text, numbers)) is not None:
        return Reading("unclear", reason="that is a range: I need one value", choices=(span[0].said, span[1].said))
    if metric == "proportion":
        rates = [q for q in numbers if q.unit in ("percent", "fraction")] or [q for q in numbers if q.unit == ""]
        if not rates:
            return Reading("unclear", reason="a rate is a share of units, such as a percentage")
        if (span := _range(text, rates)) is not None:
            return Reading("unclear", reason="that is a range: I need one value", choices=(span[0].said, span[1].said))
        rates = _distinct(rates)
        if len(rates) > 1:
            return Reading("unclear", reason="that holds more than one number: which one is the current value?")
        rate = _as_rate(rates[0])
        assert rate is not None
        if rate <= 0 or rate >= 1:
            why = "cannot be negative" if rate < 0 else "of zero leaves nothing to compare" if rate == 0 else ""
            reason = f"a rate {why}: it must be above 0% and below 100%" if why else "a rate must be below 100%"
            return Reading("invalid", reason=reason)
        return Reading("answer", Amount(float(rate), rates[0].said))
    values = [q for q in numbers if q.unit not in ("percent", "points", "bps", "times", "fraction")]
    if not values:
        return Reading(
            "unclear", reason="an average is given in its own units, such as dollars or minutes, not as a percentage"
        )
    if (span := _range(text, values)) is not None:
        return Reading("unclear", reason="that is a range: I need one value", choices=(span[0].said, span[1].said))
    values = _distinct(values)
    if len(values) > 1:
        return Reading("unclear", reason="that holds more than one number: which one is the current value?")
    value = values[0].value / 100 if values[0].unit == "cents" else values[0].value
    if abs(value) > MAX_MAGNITUDE:
        return Reading("invalid", reason="that number is larger than the tools take")
    return Reading("answer", Amount(float(value), values[0].said))


def _number_missing(text: str, reason: str) -> Reading[object]:
    normal = normalize(text)
    if _SKIP.match(normal) and "skip" in normal:
        return Reading("skip")
    if _NO_NUMBER.search(normal) and off_script(text) is None:
        return Reading("dont_know")
    return _off_script_or(text, reason)


# -- the standard deviation ---------------------------------------------------------------------------------------

_OF_THE_MEAN = re.compile(
    r"^\s*(?:x|times|\u00d7)?\s*(?:the |its |our |that |this )?(?:mean|average|baseline|current value|avg)\b"
    r"|^\s*(?:%\s*)?of (?:the |its |our )?(?:mean|average|baseline|current value|avg)\b"
)
_MULTIPLE_WORDS = {
    "twice": Decimal(2),
    "double": Decimal(2),
    "three times": Decimal(3),
    "thrice": Decimal(3),
    "triple": Decimal(3),
    "half": Decimal("0.5"),
    "the same as": Decimal(1),
    "same as": Decimal(1),
    "equal to": Decimal(1),
    "about the": Decimal(1),
    "roughly the": Decimal(1),
}


def read_std_dev(text: str, baseline: float | None = None) -> Reading[Amount]:
    """The metric's standard deviation per unit: a positive number, a range (taken at its larger end: a larger
    spread needs more units, so the plan errs on the safe side), or a multiple of the average ("twice the
    mean")."""
    plain = _plain(text)
    multiple = _multiple_of_mean(plain)
    if multiple is not None:
        factor, said = multiple
        if baseline is None or baseline <= 0:
            return Reading("unclear", reason="a multiple of the average needs a positive average: give a number")
        if factor <= 0:
            return Reading("invalid", reason="a standard deviation must be above zero")
        return Reading("answer", Amount(float(factor * Decimal(str(baseline))), said), note="multiple")
    numbers = [q for q in quantities(text) if q.unit not in ("fraction",)]
    if not numbers:
        return _number_missing(text, "I need the standard deviation as a number")  # type: ignore[return-value]
    if (span := _range(text, numbers)) is not None:
        low, high = span
        if low.value <= 0:
            return Reading("invalid", reason="a standard deviation cannot be zero or negative, at either end")
        return Reading("answer", Amount(_units(high), f"{low.said} and {high.said}"), note="range")
    numbers = _distinct(numbers)
    if len(numbers) > 1:
        return Reading("unclear", reason="that holds more than one number: which one is the standard deviation?")
    quantity = numbers[0]
    if quantity.unit in ("percent", "points", "bps", "times"):
        return Reading(
            "unclear", reason="give the standard deviation in the metric's own units, or as a multiple of the average"
        )
    if quantity.value < 0:
        return Reading(
            "invalid",
            reason="a standard deviation cannot be negative: it measures how far values spread around the average",
        )
    if quantity.value == 0:
        return Reading(
            "invalid", reason="a standard deviation of zero would mean every unit has exactly the same value"
        )
    if quantity.value > MAX_MAGNITUDE:
        return Reading("invalid", reason="that number is larger than the tools take")
    return Reading("answer", Amount(_units(quantity), quantity.said))


def _units(quantity: Quantity) -> float:
    return float(quantity.value / 100 if quantity.unit == "cents" else quantity.value)


def _multiple_of_mean(plain: str) -> tuple[Decimal, str] | None:
    """ "twice the mean", "2x the average", "1.5 times the mean", "50% of the mean": the factor and the words."""
    for words, factor in _MULTIPLE_WORDS.items():
        match = re.search(rf"\b{words}\s+(?:the |its |our )?(?:mean|average|avg|baseline)\b", plain)
        if match is not None:
            return factor, match.group(0)
    for quantity in quantities(plain):
        after = plain[quantity.end :]
        if _OF_THE_MEAN.match(after) or (quantity.unit in ("times", "percent") and _OF_THE_MEAN.match(after)):
            factor = quantity.value / 100 if quantity.unit == "percent" else quantity.value
            said = plain[quantity.start : quantity.end + _OF_THE_MEAN.match(after).end()]  # type: ignore[union-attr]
            return factor, said.strip()
    return None


# -- the lift -------------------------------------------------------------------------------------------------------

_TO = re.compile(r"^\s*(?:to|->|→|=>|up to|down to|into|becomes?)\s*$")
#: "to" that does not lead to a level: "up to 5%", "equal to", "relative to".
_NOT_A_LEVEL = re.compile(
    r"(?<!\bgo )(?<!\bgoes )(?<!\bgoing )(?<!\bwent )(?<!\bmove )(?<!\brise )\bup to\s*$"
    r"|\b(?:equal|close|due|relative|compared|similar|according|want|need|like|have|able|used|be) to\s*$"
)
_TO_ONLY = re.compile(
    r"\b(?:to|reach(?:es|ing)?|hit(?:s|ting)?|get(?:s|ting)? to|go(?:es|ing)? (?:up |down )?to|move(?:s|d)? to"
    r"|becom(?:e|es|ing)|end (?:up )?at|land at|rise to|rises to|fall to|falls to|climb to|improve to|drop to)\s*$"
)
_ABSOLUTE = re.compile(r"\babsolute(?:ly)?\b|\bpercentage points?\b|\bpoints?\b|\bpp\b")
_RELATIVE = re.compile(r"\brelative(?:ly)?\b|\blift\b|\bof (?:the |our |its )?(?:baseline|current|rate|mean|average)\b")
_DOUBLE = {
    "double": Decimal(1),
    "doubling": Decimal(1),
    "twice": Decimal(1),
    "triple": Decimal(2),
    "halve": Decimal("-0.5"),
}


def read_mde(text: str, metric: Metric | None, baseline: float | None) -> Reading[Lift]:
    """The smallest lift worth detecting, as the user meant it: points are absolute ("1 percentage point", "2 pp",
    "one point"), a percentage is relative ("5%", "5 percent", "a 5% lift"; "5% absolute" is points), "from 10% to
    12%" is the absolute change between them, an amount is absolute on an average ("+0.5 dollars"), "2x" or
    "double" is relative. A bare number reads as the relative percentage the question asks for."""
    plain = _plain(text)
    normal = normalize(text)
    drop = bool(_DROP.search(normal))
    numbers = quantities(text)
    if not numbers:
        for word, value in _DOUBLE.items():
            if re.search(rf"\b{word}\b", normal):
                return _checked(Lift(float(value), "relative", word), metric, baseline)
        return _number_missing(text, "I need the lift as a number")  # type: ignore[return-value]
    baseline_dec = Decimal(str(baseline)) if baseline is not None else None
    # "from 10% to 12%", "10% -> 12%", "to 12%": levels of the metric, the lift their difference
    for first, second in itertools.pairwise(numbers):
        connector = plain[first.end : second.start]
        if not _TO.match(connector):
            continue
        a, b = _level(first, metric), _level(second, metric)
        levels = (
            re.search(r"\bfrom\s*$", plain[: first.start])
            or not re.fullmatch(r"\s*to\s*", connector)
            or (a is not None and baseline_dec is not None and a == baseline_dec)
        )
        if not levels:
            a = None
        if a is None or b is None:  # "1 to 2 points": a range of lifts
            return Reading("unclear", reason="that is a range: I need one lift", choices=(first.said, second.said))
        lift = Lift(float(b - a), "absolute", f"from {first.said} to {second.said}", first.said, second.said)
        return _checked(lift, metric, baseline)
    if (span := _range(text, numbers)) is not None:
        return Reading("unclear", reason="that is a range: I need one lift", choices=(span[0].said, span[1].said))
    before = plain[: numbers[0].start]
    if (
        len(numbers) == 1
        and baseline_dec is not None
        and _TO_ONLY.search(before)
        and not _NOT_A_LEVEL.search(before)
        and (b := _level(numbers[0], metric)) is not None
    ):
        lift = Lift(float(b - baseline_dec), "absolute", f"to {numbers[0].said}", None, numbers[0].said)
        return _checked(lift, metric, baseline)
    candidates = _distinct(numbers)
    if len(candidates) > 1 and baseline_dec is not None:  # "1 point on our 10%": the baseline said again
        candidates = [q for q in candidates if _level(q, metric) != baseline_dec] or candidates
    if len(candidates) > 1:
        return Reading("unclear", reason="that holds more than one number: which one is the lift?")
    quantity = candidates[0]
    if quantity.value == 0:
        return Reading("invalid", reason="a lift of zero cannot be detected with any number of units")
    sign = Decimal(-1) if drop and quantity.value > 0 else Decimal(1)
    value, unit, said = quantity.value * sign, quantity.unit, quantity.said
    absolute = bool(_ABSOLUTE.search(normal))
    relative = bool(_RELATIVE.search(normal)) and not re.search(r"\brelative to\b", normal)
    if unit == "points" and re.search(r"\brelative\b", normal):
        return Reading("unclear", reason="points are absolute, not relative", choices=_lift_choices(said, metric))
    if unit in ("points", "bps"):
        if metric == "mean" and unit == "bps":
            return Reading("unclear", reason="basis points are for rates: give the lift in the metric's units")
        scale = Decimal(100) if metric == "proportion" or metric is None else Decimal(1)
        scale = Decimal(10_000) if unit == "bps" else scale
        return _checked(Lift(float(value / scale), "absolute", said), metric, baseline)
    if unit == "percent":
        if absolute and not relative:
            if metric == "mean":
                return Reading("unclear", reason="an average's absolute lift is in its own units, not a percentage")
            return _checked(Lift(float(value / 100), "absolute", said), metric, baseline)
        return _checked(Lift(float(value / 100), "relative", said), metric, baseline)
    if unit == "times":
        return _checked(Lift(float(quantity.value - 1), "relative", said), metric, baseline)
    if unit in ("money", "cents") or (unit and unit != "fraction" and metric == "mean"):
        if metric == "proportion":
            return Reading("unclear", reason="a rate's lift is a percentage or percentage points, not an amount")
        scale = Decimal(100) if unit == "cents" else Decimal(1)
        return _checked(Lift(float(value / scale), "absolute", said), metric, baseline)
    if unit == "fraction" or re.fullmatch(r"(?:a |one )?(?:half|quarter|third|tenth|fifth)", said.lower()):
        return _checked(Lift(float(value), "relative", said), metric, baseline)
    if absolute and metric == "proportion":
        return _checked(Lift(float(value / 100), "absolute", f"{said} percentage points"), metric, baseline)
    if abs(quantity.value) >= 1 or relative:
        return _checked(Lift(float(value / 100), "relative", f"{said} percent"), metric, baseline)
    return Reading("unclear", reason="a bare number under one could mean either", choices=_lift_choices(said, metric))


def _lift_choices(said: str, metric: Metric | None) -> tuple[str, ...]:
    if metric == "mean":
        return (f"{said} percent of the current value (relative)", f"{said} in the metric's own units (absolute)")
    return (f"{said} percent of the current rate (relative)", f"{said} percentage points (absolute)")


def _level(quantity: Quantity, metric: Metric | None) -> Decimal | None:
    """A level of the metric ("10%", "12", "$25") in power's terms: a rate as a fraction."""
    if metric == "mean":
        if quantity.unit in ("percent", "points", "bps", "times", "fraction"):
            return None
        return quantity.value / 100 if quantity.unit == "cents" else quantity.value
    return _as_rate(quantity)


def _checked(lift: Lift, metric: Metric | None, baseline: float | None) -> Reading[Lift]:
    """The lift if it can be sized: not zero, and a rate it leads to stays between 0% and 100%."""
    value = Decimal(str(lift.value))
    if value == 0:
        return Reading("invalid", reason="a lift of zero cannot be detected with any number of units")
    if abs(value) > MAX_MAGNITUDE:
        return Reading("invalid", reason="that lift is larger than the tools take")
    if lift.kind == "relative" and value <= -1:
        return Reading("invalid", reason="a drop of the whole current value or more leaves nothing to measure")
    if baseline is not None:
        base = Decimal(str(baseline))
        if lift.kind == "relative" and base <= 0:
            return Reading(
                "invalid", reason="a relative lift needs a current value above zero: give it in the metric's units"
            )
        if metric == "proportion":
            after = base + value if lift.kind == "absolute" else base * (1 + value)
            if after >= 1:
                return Reading("invalid", reason="that lift would take the rate to 100% or above")
            if after <= 0:
                return Reading("invalid", reason="that drop would take the rate to 0% or below")
    return Reading("answer", lift)


def describe_lift(lift: Lift, metric: Metric | None, baseline_said: str | None) -> str:
    """How the lift was read, in words and the user's own numbers (no number of the guided mode's own)."""
    drop = lift.value < 0
    change = "drop" if drop else "lift"
    on = f" the current {baseline_said}" if baseline_said else " the current value"
    if lift.end is not None and lift.start is not None:
        text = f"a change from {lift.start} to {lift.end}: an absolute change in the metric"
        if baseline_said and _plain(lift.start).strip() != _plain(baseline_said).strip():
            text += f" (it starts from {lift.start}; the same change is sized on{on}, the value you gave)"
        return text
    if lift.end is not None:
        return f"a change from{on} to {lift.end}: an absolute change in the metric"
    if lift.kind == "absolute":
        if metric == "proportion":
            return f"an absolute {change} of {lift.said} on{on}: percentage points, not a share of the rate"
        return f"an absolute {change} of {lift.said} on{on}, in the metric's own units"
    return f"a relative {change} of {lift.said} of{on}: a share of it, not percentage points"


# -- the daily units ----------------------------------------------------------------------------------------------

_PER = {
    "day": (r"\b(?:a|per|each|every|/)\s*day\b|\bdaily\b|\bper diem\b|/\s*d\b|\bday\b", Decimal(1)),
    "week": (r"\b(?:a|per|each|every|/)\s*(?:week|wk)\b|\bweekly\b|\bweek\b", Decimal(7)),
    "month": (r"\b(?:a|per|each|every|/)\s*(?:month|mo)\b|\bmonthly\b|\bmonth\b", Decimal(30)),
    "year": (r"\b(?:a|per|each|every|/)\s*(?:year|yr)\b|\byearly\b|\bannual(?:ly)?\b|\byear\b", Decimal(365)),
    "hour": (r"\b(?:an|per|each|every|/)\s*(?:hour|hr)\b|\bhourly\b", Decimal(1) / 24),
}


def read_daily_units(text: str) -> Reading[Amount]:
    """Eligible units entering per day, all arms together: a positive number ("2000", "2k", "about 2,000 a day"),
    a weekly or monthly figure (divided by seven or thirty, and said so), a range (its smaller end: the longer
    duration), or ``skip`` when it is not known."""
    normal = normalize(text)
    numbers = [q for q in quantities(text) if q.unit not in ("percent", "points", "bps", "times", "fraction")]
    if not numbers:
        turn = off_script(text)
        if turn is not None and turn.kind in ("why", "meaning"):
            return Reading(turn.kind)
        if turn is not None or _SKIP.match(normal) or re.search(r"\bskip\b|\bdon't have\b|\bno data\b", normal):
            return Reading("skip")
        return Reading("unclear", reason="I need a number of units per day, or 'skip'")
    if any(q.unit in ("percent",) for q in quantities(text)):
        return Reading("unclear", reason="give the number of eligible units per day, not a percentage of them")
    per, divisor = "day", Decimal(1)
    for name, (pattern, days) in _PER.items():
        if re.search(pattern, normal):
            per, divisor = name, days
            break
    note = "" if per == "day" else per
    if (span := _range(text, numbers)) is not None:
        low = span[0]
        numbers, note = [low], (note + " range").strip()
        said = f"{span[0].said} and {span[1].said}"
    else:
        numbers = _distinct(numbers)
        if len(numbers) > 1:
            return Reading("unclear", reason="that holds more than one number: how many units enter per day?")
        said = numbers[0].said
    value = numbers[0].value
    if value < 0:
        return Reading("invalid", reason="a number of units cannot be negative")
    if value == 0:
        return Reading("invalid", reason="with no units a day the test would never fill: give a number above zero")
    daily = value / divisor
    if daily > MAX_DAILY:
        return Reading("invalid", reason="that is more units a day than the tools take")
    return Reading("answer", Amount(float(daily), said), note=note)


# -- interim looks -----------------------------------------------------------------------------------------------

#: The most looks a plan may have (the power tool's bound).
MAX_LOOKS = 20
_NUMBER_WORDS = {
    word: value
    for value, word in enumerate(
        [
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ],
        start=1,
    )
}
_LOOK_COUNT = re.compile(r"\b(\d{1,3}|" + "|".join(_NUMBER_WORDS) + r")\b")
_ONCE_ONLY = re.compile(
    r"\b(?:only (?:once|at the end)|just (?:once|at the end)|once at the end|at the end only|one analysis|a single "
    r"analysis|single look|one look|fixed[- ]horizon|no peeking|won't peek|will not peek|not before the end)\b"
)
_POCOCK = re.compile(r"\bpocock\b|\bevenly\b|\bequal (?:alpha|boundar)")


@dataclass(frozen=True)
class Looks:
    """A look schedule as the user gave it: the looks in all (the final analysis included) and the spending."""

    looks: int
    spending: Literal["obrien_fleming", "pocock"]


def read_looks(text: str) -> Reading[Looks]:
    """Whether the results will be looked at before the end: "no" or "only at the end" is one look (a fixed
    horizon); a number is the looks in all, the final one included ("5 looks", "five times", "weekly, 4 looks");
    O'Brien-Fleming spending unless the answer says Pocock (or evenly spread). A bare "yes" asks how many."""
    normal = normalize(text)
    spending: Literal["obrien_fleming", "pocock"] = "pocock" if _POCOCK.search(normal) else "obrien_fleming"
    count = _LOOK_COUNT.search(normal)
    if count is not None:
        word = count.group(1)
        looks = int(word) if word.isdigit() else _NUMBER_WORDS[word]
        if not 1 <= looks <= MAX_LOOKS:
            return Reading("invalid", reason="a plan can have one to twenty looks in all")
        return Reading("answer", Looks(looks, spending))
    if _ONCE_ONLY.search(normal):
        return Reading("answer", Looks(1, spending))
    said = read_yes_no(text)
    if said.kind == "answer":
        if said.value is False:
            return Reading("answer", Looks(1, spending))
        return Reading("unclear", reason="how many looks in all, the final analysis included (two to twenty)?")
    return Reading(said.kind, reason=said.reason, suggest=said.suggest)
