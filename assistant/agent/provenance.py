"""Provenance: every number in the assistant's text must come from a tool result or from the user's words.

A number matches a source value when it equals it at the precision it is written with (``4.35`` matches
0.04347… written as a percent, ``146,642`` matches 146642, ``0.8`` matches 0.80015…), or when it is a
percentage of a fraction in a source (``5%`` ↔ 0.05), or a confidence level 1 - alpha. Numbers that match
nothing are returned so the app can mark them as unverified.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["NumberMention", "collect_numbers", "find_numbers", "unverified_numbers"]

# a number as people write it: optional sign, thousands separators, decimals, exponent, optional percent
_NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>[+\-\u2212]?)(?P<body>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?:[eE](?P<exp>[+\-]?\d+))?"
    r"(?P<pct>\s?%)?(?![\w])"
)
# tokens that contain digits but are names, not quantities: H0, v2, A/B, 2x2, p99, ISO dates, versions
_NOT_A_QUANTITY = re.compile(r"\b(?:[A-Za-z]+\d+\w*|\d+[A-Za-z]\w*|\d{4}-\d{2}-\d{2}|\d+\.\d+\.\d+)\b")
_LIST_MARKER = re.compile(r"^\s*\d{1,2}[.)]\s", re.M)
MINUS = "\u2212"
_SMALL_COUNTS = frozenset(range(0, 11))  # "two arms", "step 3", "1 metric": counting words, not results


@dataclass(frozen=True)
class NumberMention:
    """A number found in text: what was written, its value, and the precision it was written with."""

    text: str
    value: float
    step: float  # half a unit in the last written digit
    percent: bool
    start: int
    end: int


def find_numbers(text: str) -> list[NumberMention]:
    """The quantities in ``text`` (list markers, identifiers like H0 or v2, and dates are skipped)."""
    blanked = _LIST_MARKER.sub(lambda m: " " * len(m.group(0)), text)
    blanked = _NOT_A_QUANTITY.sub(lambda m: " " * len(m.group(0)), blanked)
    found = []
    for match in _NUMBER.finditer(blanked):
        body = match.group("body").replace(",", "")
        decimals = len(body.split(".")[1]) if "." in body else 0
        exponent = int(match.group("exp") or 0)
        sign = -1.0 if match.group("sign") in ("-", MINUS) else 1.0
        value = sign * float(body) * 10.0**exponent
        found.append(
            NumberMention(
                text=text[match.start() : match.end()],
                value=value,
                step=0.5 * 10.0 ** (exponent - decimals),
                percent=bool(match.group("pct")),
                start=match.start(),
                end=match.end(),
            )
        )
    return found


def collect_numbers(source: Any) -> list[float]:
    """Every finite number in a tool result (a pydantic model, dict, list) or in a user's message (text)."""
    return sorted(set(_walk(source)))


def _walk(node: Any) -> Iterator[float]:
    if hasattr(node, "model_dump"):
        yield from _walk(node.model_dump())
    elif isinstance(node, bool) or node is None:
        return
    elif isinstance(node, int | float):
        if math.isfinite(node):
            yield float(node)
    elif isinstance(node, str):
        for mention in find_numbers(node):
            yield mention.value / 100 if mention.percent else mention.value
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value)
            if key == "alpha" and isinstance(value, int | float) and not isinstance(value, bool):
                yield 1.0 - float(value)  # the confidence level a result implies
    elif isinstance(node, list | tuple | set):
        for item in node:
            yield from _walk(item)


def _matches(mention: NumberMention, sources: Iterable[float]) -> bool:
    """Whether the mention equals a source value at the precision it is written with."""
    if mention.percent:
        readings = [(mention.value / 100, mention.step / 100)]
    else:  # as written, or a percentage written without its sign ("4.35" for 0.0435)
        readings = [(mention.value, mention.step), (mention.value / 100, mention.step / 100)]
    signed = mention.text.lstrip()[:1] in ("+", "-", MINUS)
    for value in sources:
        for reading, step in readings:
            tolerance = step * (1 + 1e-9) + 1e-12
            if abs(reading - value) <= tolerance:
                return True
            if not signed and abs(abs(reading) - abs(value)) <= tolerance:
                return True  # "a drop of 3%" for an estimate of -0.03
    return False


def unverified_numbers(text: str, sources: Iterable[Any]) -> list[NumberMention]:
    """The numbers in ``text`` that no source supports (small counting numbers are allowed)."""
    values = [v for source in sources for v in collect_numbers(source)]
    return [
        mention
        for mention in find_numbers(text)
        if not (not mention.percent and mention.value in _SMALL_COUNTS and mention.step >= 0.5)
        and not _matches(mention, values)
    ]
