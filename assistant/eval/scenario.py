"""Evaluation scenarios: one TOML file each in ``assistant/eval/scenarios/`` (shipped with the package).

A scenario is a persona in a situation, the data they attach, what they say first, what they answer to what the
assistant asks, and what must (and must not) happen::

    name = "checkout_ab"
    title = "A PM whose checkout A/B test has finished"
    persona = "Product manager; the experiment ran for two weeks, the export is attached."
    covers = ["ab_test", "recommend_method"]   # the tools (and failure modes) the scenario exercises
    guided = true                                # the guided baseline is meant to pass it
    data = ["checkout"]                          # bundled examples by name, or NAME=PATH relative to this file
    opening = "We changed the checkout button for every shopper. Did it raise checkout conversion?"
    max_turns = 30

    [[reply]]                                    # the simulated user: in the last paragraph of the assistant's
    when = "which .*metric|what .*outcome"       # message that a rule matches, the first such rule answers
    say = "checkout conversion; guardrails: refunds"
    times = 1                                    # how often this rule may answer (default 1)

    [expect]
    slots = ["intervention", "outcome", "population", "unit", "counterfactual", "decision"]
    design = "ab_test"                           # recommend_method's first design (a MethodName)
    claims = ["\\bcaus(?:ed|es)\\b"]             # patterns no answer may contain, beside the claim checker
    prereg_complete = false                      # true: the session must end with a complete pre-registration

    [[expect.call]]                              # a tool call that must succeed, with these arguments (a subset)
    tool = "ab_test"
    args = { dataset = "checkout" }

    [[expect.no_call]]                           # a call that must not happen (with these arguments, if given)
    tool = "diff_in_diff"

Top-level keys (``fallback`` too) come before the first ``[[reply]]`` table, as TOML requires. The simulated user is
deterministic: no second model. When no rule matches, the ``fallback`` answers are given in
order; when they run out too, the user stops. The run also stops as soon as every expected call has succeeded (the
answer of that turn is the final answer).
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from assistant.agent.scoping import SLOTS

__all__ = ["CallExpectation", "Expectation", "Reply", "Scenario", "ScenarioError", "load_scenario", "load_scenarios"]

#: Tool names that are not registered statistics tools but may be expected: the conversation-state tools.
STATE_TOOLS = ("update_brief", "write_prereg")


class ScenarioError(Exception):
    """A scenario file that cannot be used: which file and what is wrong."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reply(_Model):
    """One rule of the simulated user: when the assistant's last message matches ``when``, say ``say``."""

    when: str = Field(description="A case-insensitive regular expression searched in the assistant's last message.")
    say: str = Field(min_length=1, description="What the user answers.")
    times: int = Field(default=1, ge=1, le=20, description="How often this rule may answer.")

    @field_validator("when")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression ({exc})") from None
        return value


class CallExpectation(_Model):
    """A tool call: its name and a subset of its arguments (nested objects match as subsets; a list matches when
    every expected item is in it)."""

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)


class Expectation(_Model):
    """What the run must show."""

    slots: tuple[str, ...] = Field(default=SLOTS, description="Brief slots to fill (proposed or confirmed).")
    design: str | None = Field(default=None, description="recommend_method's first design, when it must run.")
    identifiable: bool | None = Field(default=None, description="recommend_method's identifiable, when it matters.")
    call: tuple[CallExpectation, ...] = Field(default=(), description="Calls that must succeed.")
    no_call: tuple[CallExpectation, ...] = Field(default=(), description="Calls that must not happen.")
    claims: tuple[str, ...] = Field(default=(), description="Patterns no answer may contain.")
    answer: tuple[str, ...] = Field(default=(), description="Patterns some answer of the run must contain.")
    errors: tuple[str, ...] = Field(
        default=(), description="Tool error codes the run must meet (a bad column: the tool refuses, then recovers)."
    )
    prereg_complete: bool = Field(
        default=False,
        description="The session's pre-registration must have no item left open (however it was written: the "
        "model's write_prereg calls or the guided mode's questions).",
    )

    @field_validator("slots")
    @classmethod
    def _known_slots(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [slot for slot in value if slot not in SLOTS]
        if unknown:
            raise ValueError(f"unknown slot(s) {', '.join(unknown)}; the slots are {', '.join(SLOTS)}")
        return value

    @field_validator("claims", "answer")
    @classmethod
    def _patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression ({exc})") from None
        return value


class Scenario(_Model):
    """One scenario file, read."""

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    title: str
    persona: str
    covers: tuple[str, ...] = Field(min_length=1)
    guided: bool = Field(description="Whether the guided baseline is meant to pass it.")
    data: tuple[str, ...] = ()
    opening: str = Field(min_length=1)
    max_turns: int = Field(default=30, ge=1, le=200)
    reply: tuple[Reply, ...] = ()
    fallback: tuple[str, ...] = ()
    expect: Expectation = Field(default_factory=Expectation)
    #: The folder of the scenario file: NAME=PATH data are relative to it.
    folder: Path | None = Field(default=None, exclude=True)


def load_scenario(path: Path) -> Scenario:
    """Read one scenario file; a :class:`ScenarioError` names the file and the problem."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(f"{path.name}: cannot be read ({exc}).") from None
    try:
        scenario = Scenario.model_validate({**raw, "folder": path.parent})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in exc.errors())
        raise ScenarioError(f"{path.name}: {problems}.") from None
    if scenario.name != path.stem:
        raise ScenarioError(f"{path.name}: its name is {scenario.name!r}; name the file {scenario.name}.toml.")
    return scenario


def scenario_folder() -> Path:
    """The shipped scenarios' folder."""
    return Path(str(resources.files("assistant.eval").joinpath("scenarios")))


def load_scenarios(names: list[str] | None = None, folder: Path | None = None) -> list[Scenario]:
    """The scenarios in ``folder`` (default: the shipped ones), sorted by name; ``names`` picks some of them (an
    unknown name is a :class:`ScenarioError` listing the known ones)."""
    where = folder or scenario_folder()
    scenarios = [load_scenario(path) for path in sorted(where.glob("*.toml"))]
    if not names:
        return scenarios
    known = {s.name: s for s in scenarios}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ScenarioError(f"No scenario named {', '.join(unknown)}. Known: {', '.join(sorted(known))}.")
    return [known[name] for name in names]
