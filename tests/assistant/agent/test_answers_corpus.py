"""The guided mode's readers against a corpus of phrasings (issue 18, item 3's "Done when"): at least a hundred per
question, with typos, negations, hedges, units and off-script turns, each with what a careful human reads.

A corpus line is ``phrasing <TAB> expected``. Expected is the value (``yes``/``no``; an assignment or a metric
kind; a number; ``absolute X`` / ``relative X`` for a lift; ``answer`` for a scoping slot; ``skip``), or
``?kind`` for a turn that is not an answer (``?dont_know``, ``?why``, ``?meaning``, ``?unclear``, ``?invalid``),
or ``?conflict:a,b`` for an assignment that names two designs (asked about, never picked).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from assistant.agent.answers import Reading, read_slot, read_yes_no
from assistant.agent.answers_design import ASSIGNMENT_CHOICES, read_assignment, read_metric_kind
from assistant.agent.answers_numbers import Amount, Lift, read_baseline, read_daily_units, read_mde, read_std_dev

CORPUS = Path(__file__).parent / "corpus"
BASELINE_RATE, BASELINE_MEAN = 0.10, 25.0

#: Each corpus file and the reader it is read with (the question's context: the metric, the current value).
READERS: dict[str, Callable[[str], Reading[Any]]] = {
    "yes_no_can_randomize.tsv": lambda text: read_yes_no(text, "can_randomize"),
    "yes_no_interference.tsv": lambda text: read_yes_no(text, "interference"),
    "yes_no_has_pre.tsv": lambda text: read_yes_no(text, "has_pre"),
    "yes_no_refute.tsv": lambda text: read_yes_no(text, "refute"),
    "assignment.tsv": read_assignment,
    "metric_kind.tsv": read_metric_kind,
    "baseline_rate.tsv": lambda text: read_baseline(text, "proportion"),
    "baseline_mean.tsv": lambda text: read_baseline(text, "mean"),
    "mde_rate.tsv": lambda text: read_mde(text, "proportion", BASELINE_RATE),
    "mde_mean.tsv": lambda text: read_mde(text, "mean", BASELINE_MEAN),
    "std_dev.tsv": lambda text: read_std_dev(text, BASELINE_MEAN),
    "daily_units.tsv": read_daily_units,
    "slots.tsv": read_slot,
}
#: Each question and its corpus files: every question has at least a hundred phrasings (the robustness offer, not
#: a design question, at least sixty).
QUESTIONS: dict[str, tuple[str, ...]] = {
    "can_randomize": ("yes_no_can_randomize.tsv",),
    "interference": ("yes_no_interference.tsv",),
    "has_pre": ("yes_no_has_pre.tsv",),
    "refute_offer": ("yes_no_refute.tsv",),
    "assignment": ("assignment.tsv",),
    "metric_kind": ("metric_kind.tsv",),
    "baseline": ("baseline_rate.tsv", "baseline_mean.tsv"),
    "mde": ("mde_rate.tsv", "mde_mean.tsv"),
    "std_dev": ("std_dev.tsv",),
    "daily_units": ("daily_units.tsv",),
    "scoping slots": ("slots.tsv",),
}


def corpus(name: str) -> list[tuple[int, str, str]]:
    """The file's (line number, phrasing, expected), comments and blank lines left out."""
    rows = []
    for number, line in enumerate((CORPUS / name).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        phrasing, expected = line.split("\t")
        rows.append((number, phrasing, expected.strip()))
    return rows


CASES = [
    pytest.param(name, phrasing, expected, id=f"{name}:{number}:{phrasing[:40]}")
    for name in READERS
    for number, phrasing, expected in corpus(name)
]


def shown(reading: Reading[Any]) -> str:
    """A reading as the corpus writes it."""
    if reading.kind == "skip":
        return "skip"
    assignments = dict(ASSIGNMENT_CHOICES)
    if reading.kind != "answer":
        named = 1 < len(reading.choices) < len(assignments) and set(reading.choices) <= set(assignments)
        return "?conflict:" + ",".join(sorted(reading.choices)) if named else f"?{reading.kind}"
    value = reading.value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Lift):
        return f"{value.kind} {value.value:.12g}"
    if isinstance(value, Amount):
        return f"{value.value:.12g}"
    if value in assignments or value in ("proportion", "mean"):
        return str(value)
    return "answer"


def agrees(reading: Reading[Any], expected: str) -> bool:
    got = shown(reading)
    if expected.startswith("?conflict:"):
        return got == "?conflict:" + ",".join(sorted(expected.removeprefix("?conflict:").split(",")))
    kind, _, number = expected.rpartition(" ")
    try:
        value = float(number)
    except ValueError:
        return got == expected
    got_kind, _, got_number = got.rpartition(" ")
    try:
        return got_kind == kind and math.isclose(float(got_number), value, rel_tol=1e-9, abs_tol=1e-12)
    except ValueError:
        return False


@pytest.mark.parametrize(("name", "phrasing", "expected"), CASES)
def test_item3_the_phrasing_corpus_reads_as_a_careful_human_reads(name: str, phrasing: str, expected: str) -> None:
    reading = READERS[name](phrasing)
    assert agrees(reading, expected), f"{phrasing!r}: expected {expected}, read {shown(reading)} ({reading})"


@pytest.mark.parametrize("question", list(QUESTIONS))
def test_item3_every_question_has_at_least_a_hundred_phrasings(question: str) -> None:
    count = sum(len(corpus(name)) for name in QUESTIONS[question])
    assert count >= (60 if question == "refute_offer" else 100), f"{question}: {count} phrasings"
    assert {name for names in QUESTIONS.values() for name in names} == set(READERS)


def test_item3_the_corpus_holds_typos_negations_hedges_and_off_script_turns() -> None:
    everything = [(phrasing, expected) for name in READERS for _, phrasing, expected in corpus(name)]
    expected_kinds = {expected.split(":")[0] for _, expected in everything if expected.startswith("?")}
    assert {"?dont_know", "?why", "?meaning", "?unclear", "?invalid", "?conflict"} <= expected_kinds
    texts = " ".join(phrasing.lower() for phrasing, _ in everything)
    for sample in ("cuttoff", "treshold", "stagered", "gradualy", "simultaneusly", "voluntarilly", "avrage", "yse"):
        assert sample in texts  # typos
    for sample in ("not by a cutoff", "can't", "not really", "nope, it's shared", "wasn't random", "no way"):
        assert sample in texts  # negations
    for sample in ("i think so", "probably", "maybe", "not sure", "roughly", "~"):
        assert sample in texts  # hedges
