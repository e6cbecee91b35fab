"""Claims checked like numbers (issue 25): the words of an answer that assert a finding must be backed by a tool
result of the session. The corpus (``claims_corpus.py``) is judged against real results; the guided mode's own
answers must never be flagged."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from assistant.agent.claims import ClaimFlag, gather_evidence, unsupported_claims
from assistant.agent.conversation import Conversation, ToolFinished
from assistant.agent.guided import GuidedBackend
from assistant.agent.guided_state import Step
from assistant.launch import EXAMPLES, example_data
from tests.assistant.agent.claims_corpus import CASES, Case, build_sources
from tests.assistant.journeys import COMMON, END
from tools.data import Catalog

#: Bounds over the whole corpus, set from what the checker reaches (0 and 0 when written).
MAX_FALSE_POSITIVES = 2
MAX_FALSE_NEGATIVES = 0


@pytest.fixture(scope="module")
def sources() -> dict[str, Any]:
    return build_sources()


def judge(case: Case, sources: dict[str, Any]) -> list[ClaimFlag]:
    return unsupported_claims(case.text, [*(sources[name] for name in case.results), case.user])


def errors(case: Case, flags: list[ClaimFlag]) -> tuple[int, int, list[str]]:
    """(false positives, false negatives, wrong problems) of one case, by kind."""
    got = Counter(flag.kind for flag in flags)
    expected = Counter(item.split("/")[0] for item in case.expected)
    problems = {item for item in case.expected if "/" in item}
    wrong = [
        f"{flag.kind}/{flag.problem}"
        for flag in flags
        if any(p.startswith(f"{flag.kind}/") for p in problems) and f"{flag.kind}/{flag.problem}" not in problems
    ]
    return sum((got - expected).values()), sum((expected - got).values()), wrong


def test_the_corpus_is_large_and_covers_every_kind() -> None:
    assert len(CASES) >= 60
    assert len({case.name for case in CASES}) == len(CASES)
    kinds = {item.split("/")[0] for case in CASES for item in case.expected}
    assert kinds == {"direction", "significance", "causation", "decision", "null", "verdict"}
    assert sum(1 for case in CASES if not case.expected) >= 25  # answers that must pass


def test_corpus_false_positives_and_negatives_stay_within_bounds(sources: dict[str, Any]) -> None:
    false_positives = false_negatives = 0
    report = []
    for case in CASES:
        flags = judge(case, sources)
        fp, fn, wrong = errors(case, flags)
        false_positives += fp
        false_negatives += fn
        if fp or fn or wrong:
            report.append(f"{case.name}: expected {case.expected}, got {[(f.kind, f.problem, f.text) for f in flags]}")
        assert not wrong, report[-1]
    assert false_negatives <= MAX_FALSE_NEGATIVES, "\n".join(report)
    assert false_positives <= MAX_FALSE_POSITIVES, "\n".join(report)


@pytest.mark.parametrize("case", [c for c in CASES if c.expected], ids=lambda c: c.name)
def test_every_must_flag_case_is_flagged_on_its_words(case: Case, sources: dict[str, Any]) -> None:
    flags = judge(case, sources)
    assert flags, case.text
    for flag in flags:
        assert case.text[flag.start : flag.end] == flag.text
        assert flag.reason and "\n" not in flag.reason
        assert flag.problem in ("unsupported", "contradicted")


def test_the_smollm2_answer_is_flagged_unsupported() -> None:
    text = "Yes, checkout conversion went up."
    (flag,) = unsupported_claims(text, ["Did checkout conversion go up?"])
    assert (flag.text, flag.kind, flag.problem) == ("went up", "direction", "unsupported")
    assert flag.reason == "no tool result in this session measured an effect"
    assert text[flag.start : flag.end] == "went up"


def test_a_contradiction_names_the_tool_its_estimate_and_its_interval(sources: dict[str, Any]) -> None:
    (flag,) = unsupported_claims("Conversion went up in the treatment arm.", [sources["ab_neg"]])
    assert flag.problem == "contradicted"
    assert flag.reason == (
        "ab_test's estimate for 'conversion' in 'treatment' is -10% and its 95% CI -15.3% to -4.38% excludes 0"
    )
    (overstated,) = unsupported_claims("Conversion went up by 2%.", [sources["ab_ns"]])
    assert overstated.reason.endswith("includes 0, so no change was detected")


def test_ship_against_each_decision(sources: dict[str, Any]) -> None:
    for name, flagged in (("ab_pos", False), ("ab_neg", True), ("ab_ns", True), ("ab_guard", True)):
        flags = unsupported_claims("Based on this, you should ship it.", [sources[name]])
        assert bool(flags) == flagged, name
        if flagged:
            assert flags[0].kind == "decision" and "decision is" in flags[0].reason


def test_evidence_reads_effects_decisions_and_verdicts_generically(sources: dict[str, Any]) -> None:
    evidence = gather_evidence(sources[name] for name in ("ab_arms", "did", "power", "refute_ab", "aa", "error"))
    assert {e.tool for e in evidence.effects} >= {"ab_test", "diff_in_diff", "refute (ab_test)"}
    assert {(r.arm, r.value) for r in evidence.decisions if r.arm} == {("B", "ship"), ("C", "inconclusive")}
    assert [r.value for r in evidence.verdicts] == ["robust", "investigate"]
    assert evidence.estimating == ("ab_test", "diff_in_diff", "refute") and "power" in evidence.planning
    arms = {e.arm: e.significant for e in evidence.effects if e.tool == "ab_test"}
    assert arms == {"B": True, "C": False}


# -- the guided mode's own answers ------------------------------------------------------------------------------------

EXPERIMENT: dict[Any, str | tuple[str, ...]] = {
    **COMMON,
    Step.INTERVENTION: "a one-page checkout",
    Step.WHY_INTERVENTION: "the old checkout loses buyers before they pay",
    Step.OUTCOME: "checkout conversion; guardrails: revenue",
    Step.UNIT: "users",
    Step.CAN_RANDOMIZE: "yes",
    Step.INTERFERENCE: "no",
    Step.METRIC_KIND: "a rate",
    Step.BASELINE: "10%",
    Step.MDE: ("5%", "yes"),
    Step.DAILY_UNITS: "skip",
    Step.DATASET: "ok",
    Step.REFUTE_OFFER: "yes",
    Step.WHOM_OFFER: "no",
}


def guided(script: dict[Any, str | tuple[str, ...]], max_turns: int = 40) -> tuple[Conversation, list[str], set[str]]:
    """Answer the guided mode by the step it waits at, on the bundled examples; its answers and the tools run."""
    catalog = Catalog()
    for name, file_name in EXAMPLES.items():
        path = example_data(file_name)
        assert path is not None
        catalog.add(path, name)
    backend = GuidedBackend(catalog=catalog)
    conversation = Conversation(backend, catalog=catalog)
    answers = [backend.opening()]
    ran: set[str] = set()
    queues = {key: [value] if isinstance(value, str) else list(value) for key, value in script.items()}
    for _ in range(max_turns):
        step = backend.state.pending
        queue = queues.get(END if step is None else step)
        if not queue:
            break
        done = conversation.send(
            queue.pop(0), lambda event: ran.add(event.name) if isinstance(event, ToolFinished) else None
        )
        answers.append(done.text)
    return conversation, answers, ran


def test_the_guided_modes_answers_through_an_experiment_and_its_refutation_are_never_flagged() -> None:
    # the proposed columns analyse revenue: "Decision: ship", then ROBUST (the corpus quotes the inconclusive
    # conversion result back: case "guided_inconclusive_quoted")
    conversation, answers, ran = guided({**EXPERIMENT, Step.COLUMNS: "ok", END: "pre-register"})
    assert {"recommend_method", "power", "ab_test", "refute"} <= ran
    flagged = {text: unsupported_claims(text, conversation.sources) for text in answers}
    assert not {text: flags for text, flags in flagged.items() if flags}
    said = "\n".join(answers)
    assert "Decision: " in said and "checks passed" in said  # the claims were there to be judged


def test_the_guided_modes_answers_on_an_observational_design_are_never_flagged() -> None:
    script: dict[Any, str | tuple[str, ...]] = {
        **EXPERIMENT,
        Step.CAN_RANDOMIZE: "no",
        Step.ASSIGNMENT: "by a score cutoff",
        Step.HAS_PRE: "no",
        Step.COLUMNS: "outcome=converted_30d; cutoff=10",
    }
    conversation, answers, ran = guided(script)
    assert {"rdd", "refute"} <= ran
    assert not [text for text in answers if unsupported_claims(text, conversation.sources)]
