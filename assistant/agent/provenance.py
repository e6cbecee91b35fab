"""Provenance: every number in the assistant's text must come from a tool result or from the user's words.

A number matches a source value when it equals it at the precision it is written with (``4.35`` matches
0.04347… written as a percent, ``146,642`` matches 146642, ``0.8`` matches 0.80015…, ``48k`` matches 48,213,
``$2M`` matches 2,040,000), or when it is a percentage of a fraction in a source (``5%`` ↔ 0.05), a multiple
(``3x`` ↔ a ratio of 3, or a relative change of +2), or a confidence level 1 - alpha. Numbers that match nothing
are returned so the app can mark them as unverified.

A result also echoes the settings it ran with — alpha, the target power, the seed, the number of simulations.
Those are not findings: ``alpha = 0.05`` must not back "the lift is 5%". A setting backs a number only where the
text names the setting next to it ("alpha = 0.05", "the 95% CI", "80% power", "seed 0", "2,000 draws"); the same
holds for a number in a result's own sentences that stands next to a setting's name. The user's own words back any
number they contain, and so does a tool's error (a :class:`~tools.errors.ToolError`, or its wire form): its message
and hint are the tool's words, so quoting "at most 2000 characters" back to the user is not an invented number.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tools.errors import ToolError

__all__ = [
    "SETTINGS",
    "Backing",
    "NumberMention",
    "collect_backings",
    "collect_numbers",
    "find_numbers",
    "unverified_numbers",
]

MINUS = "\u2212"
# a number as people write it: optional sign and currency, thousands separators, decimals, exponent, then an
# optional percent sign, multiplier (3x, or 3 with a times sign) or scale (48k, 2M, 1.5bn, 2 million)
_NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>[+\-\u2212]?)(?P<currency>[$€£¥])?"
    r"(?P<body>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?:[eE](?P<exp>[+\-\u2212]?\d+))?"
    r"(?:(?P<pct>\s?%)|(?P<times>x|\s?\u00d7)|(?P<scale>bn|[kKMB]|\s(?:thousand|million|billion)))?(?![\w])"
)
_SCALES = {"k": 1e3, "K": 1e3, "thousand": 1e3, "M": 1e6, "million": 1e6, "B": 1e9, "bn": 1e9, "billion": 1e9}
# tokens that contain digits but are names, not quantities: H0, v2, A/B, 2x2, p99, ISO dates, versions (and not
# the scaled, multiplied or scientific numbers above: 48k, 3x, 1.5e4)
_NOT_A_QUANTITY = re.compile(
    r"\b(?:[A-Za-z]+\d+\w*|\d+(?!(?:bn|[kKMBx])\b)(?![eE][+\-]?\d+\b)[A-Za-z]\w*|\d{4}-\d{2}-\d{2}|\d+\.\d+\.\d+)\b"
)
_LIST_MARKER = re.compile(r"^\s*\d{1,2}[.)]\s", re.M)
_SMALL_COUNTS = frozenset(range(0, 11))  # "two arms", "step 3", "1 metric": counting words, not results

#: Result fields that echo a setting of the request (the user's or the model's choice, not a finding), each with
#: the words that name it. A setting backs a number only where one of its words stands next to that number.
SETTINGS: Mapping[str, str] = {
    "alpha": "alpha",
    "alpha_per_comparison": "alpha",
    "target_power": "power",
    "confidence": "confidence",
    "confidence_level": "confidence",
    "seed": "seed",
    "simulations": "simulations",
    "subset_fraction": "subset",
    "trim": "trim",
    "caliper": "caliper",
    "neighbors": "neighbors",
    "polynomial": "polynomial",
    "winsorize": "winsorize",
    "leads": "leads",
    "lags": "lags",
}
_WORDS = {
    "alpha": r"alpha|\u03b1|significan\w*|level",
    "confidence": r"confiden\w*|ci|intervals?|level",
    "power": r"power(?:ed)?",
    "seed": r"seed",
    "simulations": r"simulations?|draws?|replications?|permutations?|bootstrap\w*",
    "subset": r"subset\w*|fraction",
    "trim": r"trim\w*",
    "caliper": r"caliper",
    "neighbors": r"neighbou?rs?",
    "polynomial": r"polynomial|order",
    "winsorize": r"winsori[sz]\w*|cap\w*|percentile",
    "leads": r"leads?",
    "lags": r"lags?",
}
_NAMES = {group: re.compile(rf"(?<!\w)(?:{words})(?!\w)", re.I) for group, words in _WORDS.items()}
_CLAUSE_END = re.compile(r"[.;!?](?=\s|$)|\n")
_BEFORE, _AFTER = 24, 16  # how far from a number a setting's name counts as "next to it" (characters)


@dataclass(frozen=True)
class NumberMention:
    """A number found in text: what was written, its value, and the precision it was written with."""

    text: str
    value: float
    step: float  # half a unit in the last written digit (times the scale: 500 for "48k")
    percent: bool
    start: int
    end: int
    times: bool = False  # a multiple: "3x", or 3 with a times sign
    scaled: bool = False  # a scale word or suffix: "48k", "2M", "1.5bn", "2 million"
    currency: bool = False  # a currency sign: "$2M", "€40"

    @property
    def plain(self) -> bool:
        """Written as a bare number (no percent, multiple, scale or currency): small ones may be counting words."""
        return not (self.percent or self.times or self.scaled or self.currency)


@dataclass(frozen=True)
class Backing:
    """A number a source offers as backing. ``settings`` is empty for a finding or the user's words; for a
    setting it names the setting groups (keys of :data:`_WORDS`) one of which must be named next to a mention."""

    value: float
    settings: frozenset[str] = frozenset()


def find_numbers(text: str) -> list[NumberMention]:
    """The quantities in ``text`` (list markers, identifiers like H0 or v2, and dates are skipped)."""
    blanked = _LIST_MARKER.sub(lambda m: " " * len(m.group(0)), text)
    blanked = _NOT_A_QUANTITY.sub(lambda m: " " * len(m.group(0)), blanked)
    found = []
    for match in _NUMBER.finditer(blanked):
        body = match.group("body").replace(",", "")
        decimals = len(body.split(".")[1]) if "." in body else 0
        exponent = int((match.group("exp") or "0").replace(MINUS, "-"))
        sign = -1.0 if match.group("sign") in ("-", MINUS) else 1.0
        scale = _SCALES[match.group("scale").strip()] if match.group("scale") else 1.0
        try:
            value = sign * float(body) * 10.0**exponent * scale
            step = 0.5 * 10.0 ** (exponent - decimals) * scale
        except OverflowError:  # "1e999": not a quantity anyone can back
            continue
        if not math.isfinite(value):
            continue
        found.append(
            NumberMention(
                text=text[match.start() : match.end()],
                value=value,
                step=step,
                percent=bool(match.group("pct")),
                start=match.start(),
                end=match.end(),
                times=bool(match.group("times")),
                scaled=bool(match.group("scale")),
                currency=bool(match.group("currency")),
            )
        )
    return found


def collect_backings(source: Any) -> list[Backing]:
    """What a source offers as backing: a tool result (a pydantic model, dict, list), a tool's error (its message
    and hint) or the user's words (text).

    In a result, a number under a :data:`SETTINGS` key is a setting (and alpha implies the confidence level
    1 - alpha), and so is a number in the result's own sentences written next to a setting's name; the rest are
    findings. Every number in the user's words is backing as it stands."""
    if isinstance(source, str):
        return sorted({Backing(m.value / 100 if m.percent else m.value) for m in find_numbers(source)}, key=_order)
    return sorted(set(_walk(source, frozenset())), key=_order)


def collect_numbers(source: Any) -> list[float]:
    """The findings in a source: the numbers that back a mention wherever it stands (settings left out)."""
    return sorted({b.value for b in collect_backings(source) if not b.settings})


def _order(backing: Backing) -> tuple[float, tuple[str, ...]]:
    return backing.value, tuple(sorted(backing.settings))


def _walk(node: Any, settings: frozenset[str]) -> Iterator[Backing]:
    if hasattr(node, "model_dump"):
        yield from _walk(node.model_dump(), settings)
    elif isinstance(node, ToolError):  # a tool's own error and hint: "at most 2000 characters" is the tool's number
        yield from _walk(node.to_dict(), settings)
    elif isinstance(node, bool) or node is None:
        return
    elif isinstance(node, int | float):
        if math.isfinite(node):
            yield Backing(float(node), settings)
    elif isinstance(node, str):
        for mention in find_numbers(node):
            named = settings | _named_settings(node, mention)
            yield Backing(mention.value / 100 if mention.percent else mention.value, named)
    elif isinstance(node, dict):
        for key, value in node.items():
            group = SETTINGS.get(str(key))
            yield from _walk(value, settings | {group} if group else settings)
            if (
                group == "alpha"
                and isinstance(value, int | float)
                and not isinstance(value, bool)
                and math.isfinite(value)
            ):
                yield Backing(1.0 - float(value), frozenset({"confidence"}))  # the level it implies
    elif isinstance(node, list | tuple | set):
        for item in node:
            yield from _walk(item, settings)


def _named_settings(text: str, mention: NumberMention) -> frozenset[str]:
    """The setting groups named next to ``mention`` in ``text``, within its clause."""
    before = text[max(0, mention.start - _BEFORE) : mention.start]
    after = text[mention.end : mention.end + _AFTER]
    if (ends := list(_CLAUSE_END.finditer(before))) != []:
        before = before[ends[-1].end() :]
    if (end := _CLAUSE_END.search(after)) is not None:
        after = after[: end.start()]
    near = f"{before} {mention.text} {after}"
    return frozenset(group for group, names in _NAMES.items() if names.search(near))


def _matches(mention: NumberMention, backings: Iterable[Backing], named: frozenset[str]) -> bool:
    """Whether the mention equals a backing value at the precision it is written with; a setting counts only
    when it is ``named`` next to the mention."""
    if mention.percent:
        readings = [(mention.value / 100, mention.step / 100)]
    elif mention.times:  # a ratio of 3, or a change of +2 (+200%)
        readings = [(mention.value, mention.step), (mention.value - 1, mention.step)]
    elif mention.plain:  # as written, or a percentage written without its sign ("4.35" for 0.0435)
        readings = [(mention.value, mention.step), (mention.value / 100, mention.step / 100)]
    else:
        readings = [(mention.value, mention.step)]
    signed = mention.text.lstrip()[:1] in ("+", "-", MINUS)
    for backing in backings:
        if backing.settings and not backing.settings & named:
            continue
        value = backing.value
        for reading, step in readings:
            tolerance = step * (1 + 1e-9) + 1e-12
            if abs(reading - value) <= tolerance:
                return True
            if not signed and abs(abs(reading) - abs(value)) <= tolerance:
                return True  # "a drop of 3%" for an estimate of -0.03
    return False


def unverified_numbers(text: str, sources: Iterable[Any]) -> list[NumberMention]:
    """The numbers in ``text`` that no source supports (small counting numbers are allowed)."""
    backings = [b for source in sources for b in collect_backings(source)]
    return [
        mention
        for mention in find_numbers(text)
        if not (mention.plain and mention.value in _SMALL_COUNTS and mention.step >= 0.5)
        and not _matches(mention, backings, _named_settings(text, mention))
    ]
