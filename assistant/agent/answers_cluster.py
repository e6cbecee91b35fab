"""The guided mode's reader for a cluster design's figures: the average units per cluster and the intra-cluster
correlation (ICC), from everyday answers ("about 40 sellers per market and an ICC around 0.05", "clusters of 25,
icc 2%", "25 and 0.1"). Each number's role comes from the words around it; a range is taken at its larger end (the
safe side for a sample size); an ICC outside [0, 1) or a size below one is refused with the reason."""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.agent.answers import Reading, normalize, off_script
from assistant.agent.answers_numbers import (  # the number readers' shared pieces
    _NO_NUMBER,
    MAX_DAILY,
    Amount,
    Quantity,
    _distinct,
    _number_missing,
    _plain,
    _range,
    quantities,
)

__all__ = ["Cluster", "read_cluster"]


@dataclass(frozen=True)
class Cluster:
    """A cluster design's figures read from one answer: the average units per cluster and the intra-cluster
    correlation (ICC) as a fraction, each with the user's words; either may be missing (it is asked again)."""

    size: Amount | None = None
    icc: Amount | None = None


_ICC_NAME = r"(?:icc|rho|\u03c1|intra-?\s?(?:cluster|class)(?: correlation)?|(?:within-cluster )?correlation)"
_FILLER = (
    r"(?:of|is|at|=|:|~|\u2248|around|about|roughly|approximately|approx\.?|near|maybe|probably|perhaps|likely|say"
    r"|like|close to|an?|'s|between|from|somewhere|guess|i'd|i)"
)
#: The words just before a number that make it the ICC ("ICC around 0.05") or the cluster size ("clusters of 25").
_ICC_BEFORE = re.compile(rf"(?:^|\b|\W){_ICC_NAME}\s*(?:{_FILLER}\s*)*$")
_ICC_AFTER = re.compile(rf"^\s*(?:(?:for|as|is) (?:the |an? )?)?{_ICC_NAME}\b")
_SIZE_BEFORE = re.compile(
    r"\b(?:clusters? (?:of|size)|size|groups? of|(?:teams|markets|cities|regions|stores|schools|clusters) of|m|n"
    rf"|hold(?:s|ing)?|averag(?:e|es|ing)|mean)\s*(?:{_FILLER}\s*)*$"
)
_SIZE_AFTER = re.compile(r"^\s*(?:-?ish\b\s*)?(?:[a-z]+\s+){0,2}?(?:per\b|each\b|in (?:a|an|each|every|one)\b|/)")
#: A number of these is a count of clusters ("12 markets"), not a cluster's size.
_CLUSTER_NOUN = re.compile(
    r"^(?:clusters?|markets?|cit(?:y|ies)|teams?|regions?|groups?|stores?|schools?|class(?:es)?|countr(?:y|ies)"
    r"|areas?|compan(?:y|ies)|organi[sz]ations?|orgs?|workspaces?|households?)$"
)
_NOT_A_COUNT = ("percent", "points", "bps", "money", "cents", "times", "fraction")


def _cluster_role(plain: str, quantity: Quantity) -> str:
    """What a number in a cluster answer is: "icc", "size", "count" (of clusters) or "other" (an amount)."""
    before, after = plain[max(0, quantity.start - 48) : quantity.start], plain[quantity.end : quantity.end + 48]
    if _ICC_BEFORE.search(before) or _ICC_AFTER.match(after):
        return "icc"
    if _SIZE_BEFORE.search(before) or _SIZE_AFTER.match(after):
        return "size"
    if quantity.unit in ("percent", "fraction"):
        return "icc"
    if _CLUSTER_NOUN.match(quantity.unit):
        return "count"
    if quantity.unit in _NOT_A_COUNT:
        return "other"
    return "icc" if abs(quantity.value) < 1 else "size"


def _one(text: str, found: list[Quantity], what: str) -> tuple[Quantity | None, str, Reading[Cluster] | None]:
    """The one value given for ``what`` (a range: its larger end, the safe side, and the range's words), or why
    there is none."""
    distinct = _distinct(found)
    if len(distinct) <= 1:
        return (distinct[0] if distinct else None), "", None
    span = _range(text, distinct)
    if span is not None and len(distinct) == 2:
        return span[1], f"{span[0].said} and {span[1].said}", None
    return None, "", Reading("unclear", reason=f"that holds more than one {what}: which one is it?")


def read_cluster(text: str) -> Reading[Cluster]:
    """A cluster design's average units per cluster and ICC, from one answer or from part of one ("about 40 sellers
    per market and an ICC around 0.05", "clusters of 25, icc 2%", "25 and 0.1"): a number named by its words, else
    one of at least one is the size and a fraction or a percentage is the ICC. A range is taken at its larger end
    (a larger design effect: the plan errs on the safe side). A size below one or an ICC outside [0, 1) is refused
    with the reason; "I don't know" beside one figure is noted (``note`` holds "dont_know"), never filled in."""
    numbers = quantities(text)
    if not numbers:
        return _number_missing(text, "I need the units per cluster and the ICC as numbers")  # type: ignore[return-value]
    plain = _plain(text)
    roles: dict[str, list[Quantity]] = {"icc": [], "size": [], "count": [], "other": []}
    for quantity in numbers:
        roles[_cluster_role(plain, quantity)].append(quantity)
    size, size_range, problem = _one(text, roles["size"], "cluster size")
    icc, icc_range, icc_problem = _one(text, roles["icc"], "ICC")
    if problem is not None or icc_problem is not None:
        return problem or icc_problem  # type: ignore[return-value]
    if size is None and icc is None:
        if roles["count"]:
            return Reading(
                "unclear", reason="that reads as a number of clusters: I need how many units one cluster holds"
            )
        return Reading("unclear", reason="a cluster size is a number of units and an ICC a share, not an amount")
    cluster_size = None
    if size is not None:
        if size.unit in _NOT_A_COUNT:
            return Reading("unclear", reason="a cluster size is a number of units, such as sellers per city")
        if size.value < 1:
            return Reading("invalid", reason="a cluster holds at least one unit on average")
        if size.value > MAX_DAILY:
            return Reading("invalid", reason="that cluster size is larger than the tools take")
        cluster_size = Amount(float(size.value), size_range or size.said)
    intra = None
    if icc is not None:
        if icc.unit not in ("", "percent", "fraction") and not re.fullmatch(_ICC_NAME, icc.unit):
            return Reading("unclear", reason="an ICC is a share of the variation, not an amount")
        value = icc.value / 100 if icc.unit == "percent" else icc.value
        if value < 0:
            return Reading("invalid", reason="an ICC cannot be negative here: it is a share, from zero up to one")
        if value >= 1:
            return Reading(
                "invalid",
                reason="an ICC is a share from zero up to, but not including, one: write it as a fraction, or as a "
                "percentage with a percent sign",
            )
        intra = Amount(float(value), icc_range or icc.said)
    turn = off_script(text)
    unsure = (turn is not None and turn.kind == "dont_know") or bool(_NO_NUMBER.search(normalize(text)))
    notes = " ".join(n for n, on in (("range", bool(size_range or icc_range)), ("dont_know", unsure)) if on)
    return Reading("answer", Cluster(cluster_size, intra), note=notes)
