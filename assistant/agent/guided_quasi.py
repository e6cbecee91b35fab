"""The guided mode sizes a quasi-experiment before it starts: a difference-in-differences, a regression
discontinuity or a synthetic control that recommend_method proposed, when no data are attached to analyse yet.

It asks for the design's numbers in one question (:data:`QUESTIONS`), reads them with
:func:`assistant.agent.answers_quasi.read_quasi` (what is missing is asked for again, what was read is kept), asks
a DiD's ICC and serial correlation (never assumed: "don't know" says that power then assumes none and that its result
states it), and runs ``power`` with its ``design`` by simulation. Without an effect it solves for the smallest
detectable one. Its sentences quote the user's words, never a number of their own.
"""

from __future__ import annotations

from typing import Any

from assistant.agent.answers_quasi import (
    KINDS,
    QuasiKind,
    missing,
    read_correlation,
    read_quasi,
    role_words,
)
from assistant.agent.guided_interview import Taken
from assistant.agent.guided_state import HELP, QUESTIONS, WHY_ASKED, GuidedState, Step, with_defaults
from tools.power.quasi_models import QUASI_DESIGNS
from tools.recommend import METHOD_NAMES

__all__ = ["forget", "kind_of", "measured", "next_step", "question", "replay", "request", "take"]

#: The numbers each design needs, asked in one question after QUESTIONS[Step.QUASI_SIZE]'s lead.
DETAILS: dict[QuasiKind, str] = {
    "did": "how many units get the change and how many do not, how many periods of the outcome you will have "
    "before and after it, the outcome's standard deviation between units (per unit and period), and the smallest "
    "effect worth detecting in the outcome's own units. For example: 'twenty regions get it and forty do not, "
    "twelve weeks before and eight after, SD thirty, effect five'.",
    "rdd": "how many units lie within the bandwidth below the cutoff and how many above it, the outcome's standard "
    "deviation, and the smallest effect at the cutoff worth detecting in the outcome's own units. For example: "
    "'three hundred below and two hundred above, SD twelve, effect three'.",
    "synth": "how many donors (comparable units that do not get the change), how many periods before and after "
    "it, the pre-period RMSPE (how far a synthetic control typically misses the treated unit before the change, in "
    "the outcome's units), and the effect worth detecting. For example: 'thirty donors, twenty months before and "
    "six after, RMSPE four, effect ten'.",
}
_RMSPE_FIT = (
    " The synthetic control above measured the pre-period RMSPE of its fit: I will use it unless you give another."
)


def kind_of(method: str | None) -> QuasiKind | None:
    """power's design kind for recommend_method's design, or None when it is not sized as a quasi-experiment."""
    return KINDS.get(method or "")


def next_step(state: GuidedState, kind: QuasiKind | None, has_data: bool) -> Step | None:
    """The sizing step due for a quasi-experiment with no data attached yet (None: nothing to size)."""
    if kind is None or has_data:
        return None
    quasi, done = state.quasi, state.done
    if Step.QUASI_SIZE not in done:
        return Step.QUASI_SIZE
    if quasi.skipped:
        return None
    if kind == "did" and Step.QUASI_CORR not in done:
        return Step.QUASI_CORR
    return Step.POWER if Step.POWER not in done else None


def question(
    state: GuidedState,
    kind: QuasiKind,
    step: Step,
    rmspe: float | None = None,
    history: tuple[str, str, str | None] | None = None,
) -> str:
    """The question for a quasi-experiment's sizing step (what is still missing, once some numbers were read).
    ``rmspe``: a synthetic control's fit measured it; ``history``: an attached history of the outcome (dataset,
    column, the unit's column) on which metric_history can measure a DiD's ICC."""
    note, state.note = state.note, ""
    lead = note + "\n\n" if note else ""
    if step is Step.QUASI_CORR:
        if history is not None and history[2] is not None:
            dataset, column, unit = history
            return (
                lead + QUESTIONS[step] + f" Or say 'measure it': I will measure the ICC of '{column}' within each "
                f"'{unit}' on the history in '{dataset}'."
            )
        return lead + QUESTIONS[step]
    numbers = state.quasi
    if rmspe is not None and "std_dev" not in numbers.values:
        numbers.values["std_dev"], numbers.rmspe_from_fit = rmspe, True
    open_roles = missing(kind, numbers)
    if numbers.said and open_roles:
        have = "; ".join(f"{role_words(kind, r)}: '{said}'" for r, said in numbers.said.items())
        need = ", ".join(role_words(kind, r) for r in open_roles)
        return f"{lead}I have {have}. I still need {need}. (say 'skip' to leave the sizing for later)"
    text = QUESTIONS[step].replace("the design", f"the {METHOD_NAMES[QUASI_DESIGNS[kind]]}") + " " + DETAILS[kind]
    text += " Leave the effect out to get the smallest effect these numbers can detect."
    if numbers.rmspe_from_fit and kind == "synth":
        text += _RMSPE_FIT
    return lead + text + " (say 'skip' to leave the sizing for later)"


def take(state: GuidedState, kind: QuasiKind, step: Step, answer: str) -> Taken:
    """Read the answer to a quasi-experiment's sizing step."""
    if step is Step.QUASI_CORR:
        return _correlation(state, answer)
    numbers = state.quasi
    reading = read_quasi(answer, kind, numbers)
    if reading.kind == "skip":
        numbers.skipped = True
        state.done |= {Step.QUASI_SIZE, Step.QUASI_CORR}
        return Taken(prefix="The sizing is left for later; in the app, /power runs it when you have the numbers.")
    if reading.kind in ("why", "meaning", "dont_know"):
        lead = WHY_ASKED[step] if reading.kind != "dont_know" else "No problem. " + HELP[step]
        return Taken(say=lead + "\n\n" + question(state, kind, step))
    if reading.kind != "answer":
        return Taken(say=reading.reason[:1].upper() + reading.reason[1:] + ".\n\n" + question(state, kind, step))
    assert reading.value is not None
    for role, quantity in reading.value.items():
        numbers.values[role] = float(quantity.value)
        numbers.said[role] = quantity.said
        if role == "std_dev":
            numbers.rmspe_from_fit = False
    if missing(kind, numbers):
        return Taken(say=question(state, kind, step))
    state.done.add(Step.QUASI_SIZE)
    return Taken(prefix=_sizing_words(kind, state))


def _sizing_words(kind: QuasiKind, state: GuidedState, *, asked_all: bool = False) -> str:
    """What is said before the simulation runs ("" before a DiD's correlation question)."""
    numbers = state.quasi
    if kind == "did" and not asked_all:
        return ""
    text = f"Sizing the {METHOD_NAMES[QUASI_DESIGNS[kind]]} by simulation with your numbers."
    if numbers.rmspe_from_fit:
        text += " The pre-period RMSPE is the synthetic control's, from its fit above."
    if "effect" not in numbers.values:
        text += " No effect was given: power solves for the smallest effect these numbers detect."
    return text


def _correlation(state: GuidedState, answer: str) -> Taken:
    numbers = state.quasi
    reading = read_correlation(answer)
    step = Step.QUASI_CORR
    if reading.kind in ("why", "meaning"):
        return Taken(say=WHY_ASKED[step] + "\n\n" + QUESTIONS[step])
    if reading.kind in ("unclear", "invalid"):
        return Taken(say=reading.reason[:1].upper() + reading.reason[1:] + ".\n\n" + QUESTIONS[step])
    found = reading.value or {}
    numbers.icc, numbers.ar1 = found.get("icc"), found.get("ar1")
    state.done.add(step)
    pairs = (("the ICC", numbers.icc), ("the serial correlation", numbers.ar1))
    unknown = [name for name, value in pairs if value is None]
    text = _sizing_words("did", state, asked_all=True)
    if unknown:
        text += (
            f" Without {' and '.join(unknown)}, power assumes none (no stable differences between units, periods "
            "independent of each other) and its result states that assumption; positively correlated periods "
            "usually change the power, so measure them on the outcome's history when you can."
        )
    return Taken(prefix=text)


def measured(state: GuidedState, payload: dict[str, Any]) -> Taken:
    """metric_history measured the ICC on the history: it is the DiD's (the serial correlation stays unknown);
    refused, or no ICC: the tool's words and the question again."""
    step = Step.QUASI_CORR
    if "error" in payload:
        error = payload["error"]
        return Taken(say=f"{error['message']} {error['hint']}\n\n" + QUESTIONS[step])
    icc = (payload.get("power_request") or {}).get("icc")
    if not isinstance(icc, int | float):
        return Taken(say=str(payload.get("summary", "")) + "\n\nIt gave no ICC to size with.\n\n" + QUESTIONS[step])
    state.quasi.icc, state.quasi.ar1 = float(icc), None
    state.done.add(step)
    text = (
        str(payload.get("summary", ""))
        + "\n\nSizing with the ICC measured there. Period-to-period swings shared by all units count as noise within "
        "units in that figure, while the DiD's period effects remove them, so treat it as approximate. The serial "
        "correlation was not measured: power assumes none and its result states that assumption."
    )
    return Taken(prefix=text)


def request(state: GuidedState, kind: QuasiKind) -> dict[str, Any]:
    """The power request for the quasi-experiment (the other fields at their defaults)."""
    from tools.registry import get_tool

    values = state.quasi.values
    design: dict[str, Any] = {
        "kind": kind,
        "treated": 1 if kind == "synth" else int(values["treated"]),
        "control": int(values["control"]),
    }
    if kind != "rdd":
        design |= {"pre": int(values["pre"]), "post": int(values["post"])}
    if kind == "did":
        design |= {"icc": state.quasi.icc, "ar1": state.quasi.ar1}
    effect = values.get("effect")
    given = {
        "metric": "mean",
        "baseline": 0.0,
        "std_dev": values["std_dev"],
        "solve_for": "power" if effect is not None else "mde",
        "mde": effect,
        "mde_kind": "absolute",
        "design": _design(design),
    }
    return with_defaults(get_tool("power").request, given)


def _design(given: dict[str, Any]) -> dict[str, Any]:
    from tools.power.quasi_models import QuasiDesign

    return with_defaults(QuasiDesign, given)


def forget(state: GuidedState) -> None:
    """power refused the numbers: ask for them again from the start."""
    state.quasi.values.clear()
    state.quasi.said.clear()
    state.quasi.icc = state.quasi.ar1 = None
    state.done -= {Step.QUASI_SIZE, Step.QUASI_CORR, Step.POWER}


def replay(state: GuidedState, arguments: dict[str, Any]) -> None:
    """A resumed session's quasi-experimental power run: its numbers are known again and nothing is asked twice."""
    design = arguments.get("design") or {}
    values = {"treated": design.get("treated"), "control": design.get("control"), "pre": design.get("pre")}
    values |= {"post": design.get("post"), "std_dev": arguments.get("std_dev"), "effect": arguments.get("mde")}
    state.quasi.values = {k: float(v) for k, v in values.items() if isinstance(v, int | float)}
    state.quasi.icc, state.quasi.ar1 = design.get("icc"), design.get("ar1")
    state.done |= {Step.QUASI_SIZE, Step.QUASI_CORR, Step.POWER}
