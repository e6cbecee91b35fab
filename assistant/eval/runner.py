"""Run a scenario through the conversation engine with any backend, as a user would, and score it.

The simulated user (:class:`SimulatedUser`) answers from the scenario's rules not used up yet: the assistant's last
message is read from its last paragraph back (the question a message ends on is what it asks), and in the latest
paragraph some rule matches, the rule written first answers; then the fallbacks in order; then the user stops.
The run stops as soon as every expected call has succeeded and every expected answer pattern has appeared, or at
``max_turns``.

What is scored (:class:`ScenarioScore`): scoping completeness (the brief's expected slots filled), the design
``recommend_method`` returned, the calls that had to succeed and those that must not happen, tool-call validity
(schema errors, retries after an error, loops: repeated calls, the round limit, malformed arguments), provenance
(numbers no tool or user gave) and claims (conclusions no result backs, or patterns the scenario forbids), turns,
model calls, the characters sent and received with a token estimate, and wall time. A scenario passes when it has
no problem (:attr:`ScenarioScore.problems`); schema errors and retries are reported but a model that recovers from
them passes.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from assistant.agent.backends import AssistantTurn, Backend, Message
from assistant.agent.conversation import Conversation, Done, Event, Failed, ToolFinished, ToolStarted
from assistant.agent.guided import GuidedBackend
from assistant.eval.scenario import CallExpectation, Scenario
from tools.errors import ToolError

__all__ = ["CHARS_PER_TOKEN", "ScenarioScore", "SimulatedUser", "run_scenario", "run_suite"]

#: Tool errors that mean the model sent a call the schema or the conversation does not accept.
SCHEMA_ERRORS = frozenset({"invalid_arguments", "invalid_json", "unknown_tool", "invalid_tool_name", "not_offered"})
#: Failures that mean the model went round in circles.
LOOP_FAILURES = frozenset({"round_limit", "malformed_tool_calls"})
#: A rough token count for English and JSON (OpenAI's rule of thumb); reported as an estimate.
CHARS_PER_TOKEN = 4.0

MakeBackend = Callable[[Any], Backend]


class SimulatedUser:
    """A deterministic user: the scenario's reply rules, then its fallbacks, then silence (None)."""

    def __init__(self, scenario: Scenario) -> None:
        self._rules = list(scenario.reply)
        self._left = [rule.times for rule in self._rules]
        self._fallback = list(scenario.fallback)

    def reply(self, said: str) -> str | None:
        """The answer to the assistant's last message ``said``, or None when this user has nothing more to say.

        The message is read from its last paragraph back: in the latest paragraph some rule matches, the first
        such rule in the file answers (so a specific rule written before a general one wins)."""
        paragraphs = [p for p in re.split(r"\n\s*\n", said) if p.strip()]
        for paragraph in reversed(paragraphs):
            for index, rule in enumerate(self._rules):
                if self._left[index] and re.search(rule.when, paragraph, re.I | re.S):
                    self._left[index] -= 1
                    return rule.say
        if self._fallback:
            return self._fallback.pop(0)
        return None


class _Metered:
    """A backend that counts its calls and the characters it sends and receives; everything else is the inner
    backend's (the guided mode's ``bind`` and ``opening``, a remote backend's ``interruptible``)."""

    def __init__(self, inner: Backend) -> None:
        self._inner = inner
        self.calls = 0
        self.sent_chars = 0
        self.received_chars = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[Mapping[str, Any]],
        on_text: Callable[[str], None],
        **kwargs: Any,
    ) -> AssistantTurn:
        self.calls += 1
        self.sent_chars += len(json.dumps(list(messages), ensure_ascii=False, default=str))
        self.sent_chars += len(json.dumps(list(tools), ensure_ascii=False, default=str))
        turn: AssistantTurn = self._inner.complete(messages, tools, on_text, **kwargs)
        self.received_chars += len(turn.text) + sum(len(c.name) + len(c.arguments) for c in turn.tool_calls)
        return turn


@dataclass
class ScenarioScore:
    """How one scenario went with one backend."""

    scenario: str
    backend: str
    ran: bool = True  # False: the scenario is not meant for this backend (the guided baseline's "n/a")
    passed: bool = False
    slots_filled: int = 0
    slots_expected: int = 0
    design_expected: str | None = None
    design: str | None = None
    calls_missing: list[str] = field(default_factory=list)
    calls_forbidden: list[str] = field(default_factory=list)
    errors_missing: list[str] = field(default_factory=list)
    answers_missing: list[str] = field(default_factory=list)
    tools_called: list[str] = field(default_factory=list)
    prereg_open: list[str] = field(default_factory=list)
    schema_errors: int = 0
    retries: int = 0
    loops: int = 0
    unverified_numbers: list[str] = field(default_factory=list)
    claims: list[str] = field(default_factory=list)
    turns: int = 0
    model_calls: int = 0
    sent_chars: int = 0
    received_chars: int = 0
    seconds: float = 0.0
    stopped: str = ""
    failures: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    transcript: list[dict[str, str]] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        """Tokens sent and received, estimated from characters (:data:`CHARS_PER_TOKEN`)."""
        return round((self.sent_chars + self.received_chars) / CHARS_PER_TOKEN)

    def as_dict(self, transcript: bool = True) -> dict[str, Any]:
        data = asdict(self)
        data["tokens_estimate"] = self.tokens
        if not transcript:
            data.pop("transcript")
        return data


def attach(scenario: Scenario) -> Any:
    """A catalog with the scenario's data: bundled examples by name, or NAME=PATH relative to the scenario file."""
    from assistant.launch import EXAMPLES, example_data
    from tools.data import Catalog, parse_data_argument

    catalog = Catalog()
    for item in scenario.data:
        if item in EXAMPLES:
            path = example_data(EXAMPLES[item])
            if path is None:
                raise FileNotFoundError(f"the bundled example {item!r} is not installed")
            catalog.add(str(path), item)
            continue
        name, path_text = parse_data_argument(item)
        path = Path(path_text)
        if not path.is_absolute() and scenario.folder is not None:
            path = scenario.folder / path
        catalog.add(str(path), name)
    return catalog


def run_scenario(
    scenario: Scenario, make_backend: MakeBackend, label: str, *, small_model: bool = False
) -> ScenarioScore:
    """Drive ``scenario`` through a :class:`Conversation` on the backend ``make_backend(catalog)`` returns (in
    small-model mode: the short prompt and fewer tools per request)."""
    score = ScenarioScore(scenario=scenario.name, backend=label)
    started = time.perf_counter()
    events: list[Event] = []
    dones: list[Done] = []
    conversation: Conversation | None = None
    try:
        catalog = attach(scenario)
        inner = make_backend(catalog)
        backend = _Metered(inner)
        conversation = Conversation(backend, catalog=catalog, small_model=small_model)
        user = SimulatedUser(scenario)
        opening = getattr(backend, "opening", None)
        if callable(opening):
            score.transcript.append({"role": "assistant", "content": str(opening())})
        message: str | None = scenario.opening
        score.stopped = f"the turn limit ({scenario.max_turns})"
        for _ in range(scenario.max_turns):
            assert message is not None
            score.transcript.append({"role": "user", "content": message})
            done = conversation.send(message, events.append)
            dones.append(done)
            score.turns += 1
            score.transcript.append({"role": "assistant", "content": done.text})
            if _finished(scenario, events, dones, conversation):
                score.stopped = "every expected call succeeded"
                break
            message = user.reply(done.text)
            if message is None:
                score.stopped = "the simulated user had no answer to the last message"
                break
        score.model_calls = backend.calls
        if not isinstance(inner, GuidedBackend):  # the guided mode sends nothing anywhere: no tokens to count
            score.sent_chars, score.received_chars = backend.sent_chars, backend.received_chars
    except Exception as exc:  # a crash is the worst score, never the end of the suite
        score.problems.append(f"crashed: {type(exc).__name__}: {exc}")
        score.stopped = "crashed"
    score.seconds = round(time.perf_counter() - started, 3)
    if score.stopped != "crashed":  # a crash is the one problem worth naming: the rest follows from it
        _score(score, scenario, events, dones, conversation)
    score.passed = not score.problems
    return score


def run_suite(
    scenarios: Sequence[Scenario],
    make_backend: MakeBackend,
    label: str,
    *,
    guided: bool = False,
    small_model: bool = False,
    on_score: Callable[[ScenarioScore], None] | None = None,
) -> list[ScenarioScore]:
    """Every scenario in turn; with ``guided`` (the baseline), a scenario not meant for the guided mode is listed
    as not run."""
    scores = []
    for scenario in scenarios:
        if guided and not scenario.guided:
            score = ScenarioScore(scenario=scenario.name, backend=label, ran=False, stopped="not meant for guided")
        else:
            score = run_scenario(scenario, make_backend, label, small_model=small_model)
        scores.append(score)
        if on_score is not None:
            on_score(score)
    return scores


# -- scoring ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Call:
    name: str
    arguments: Any  # the parsed JSON arguments (or the raw text when they are not JSON)
    outcome: Any  # the ToolResult, the ToolError or the state tool's mapping; None: never answered


def _calls(events: Sequence[Event]) -> list[_Call]:
    started: dict[str, ToolStarted] = {}
    finished: dict[str, ToolFinished] = {}
    order: list[str] = []
    for event in events:
        if isinstance(event, ToolStarted):
            if event.call_id not in started:
                order.append(event.call_id)
            started[event.call_id] = event
        elif isinstance(event, ToolFinished):
            finished[event.call_id] = event
    calls = []
    for call_id in order:
        start = started[call_id]
        try:
            arguments = json.loads(start.arguments or "{}")
        except json.JSONDecodeError:
            arguments = start.arguments
        end = finished.get(call_id)
        calls.append(_Call(start.name, arguments, end.outcome if end is not None else None))
    return calls


def _subset(expected: Any, actual: Any) -> bool:
    """Whether ``actual`` has everything ``expected`` has (objects by key, lists by item, scalars by value; a
    number matches an equal number, a string ignores case)."""
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(k in actual and _subset(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and all(any(_subset(e, a) for a in actual) for e in expected)
    if isinstance(expected, str) and isinstance(actual, str):
        return expected.casefold() == actual.casefold()
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return float(expected) == float(actual)
    return bool(expected == actual)


def _matches(expectation: CallExpectation, call: _Call) -> bool:
    return call.name == expectation.tool and _subset(expectation.args, call.arguments)


def _succeeded(call: _Call) -> bool:
    return call.outcome is not None and not isinstance(call.outcome, ToolError)


def _finished(scenario: Scenario, events: Sequence[Event], dones: Sequence[Done], conversation: Conversation) -> bool:
    calls = [c for c in _calls(events) if _succeeded(c)]
    if not scenario.expect.call:
        return False  # nothing marks the end: the user talks until the rules run out
    if not all(any(_matches(e, c) for c in calls) for e in scenario.expect.call):
        return False
    said = "\n".join(d.text for d in dones)
    if not all(re.search(p, said, re.I | re.S) for p in scenario.expect.answer):
        return False
    if scenario.expect.prereg_complete:
        from assistant.prereg.session_plan import open_items

        return not open_items(conversation)
    return True


def _score(
    score: ScenarioScore,
    scenario: Scenario,
    events: Sequence[Event],
    dones: Sequence[Done],
    conversation: Conversation | None,
) -> None:
    expect = scenario.expect
    calls = _calls(events)
    score.tools_called = [c.name for c in calls if c.name != "update_brief"]
    # scoping
    score.slots_expected = len(expect.slots)
    if conversation is not None:
        brief = conversation.brief
        missing = [slot for slot in expect.slots if brief.slot(slot).status == "missing"]  # type: ignore[arg-type]
        score.slots_filled = len(expect.slots) - len(missing)
        if missing:
            score.problems.append(f"brief: {', '.join(missing)} not filled")
    # design
    score.design_expected = expect.design
    recommended = [c.outcome for c in calls if c.name == "recommend_method" and _succeeded(c)]
    if recommended:
        last = recommended[-1]
        score.design = last.recommendations[0].method if last.recommendations else None
        if expect.identifiable is not None and last.identifiable is not expect.identifiable:
            score.problems.append(f"identifiable was {last.identifiable}, expected {expect.identifiable}")
    if expect.design is not None and score.design != expect.design:
        score.problems.append(f"design: expected {expect.design}, got {score.design or 'no recommend_method'}")
    # calls
    for expectation in expect.call:
        if not any(_matches(expectation, c) and _succeeded(c) for c in calls):
            score.calls_missing.append(_describe(expectation))
    for expectation in expect.no_call:
        if any(_matches(expectation, c) for c in calls):
            score.calls_forbidden.append(_describe(expectation))
    if score.calls_missing:
        score.problems.append(f"calls missing: {', '.join(score.calls_missing)}")
    if score.calls_forbidden:
        score.problems.append(f"calls that must not happen: {', '.join(score.calls_forbidden)}")
    codes = [c.outcome.code for c in calls if isinstance(c.outcome, ToolError)]
    score.errors_missing = [code for code in expect.errors if code not in codes]
    if score.errors_missing:
        score.problems.append(f"expected tool errors not met: {', '.join(score.errors_missing)}")
    # validity
    score.schema_errors = sum(code in SCHEMA_ERRORS for code in codes)
    score.loops = sum(code == "repeated_call" for code in codes)
    failed_tools: set[str] = set()
    for call in calls:
        if call.name in failed_tools:
            score.retries += 1
            failed_tools.discard(call.name)
        if isinstance(call.outcome, ToolError):
            failed_tools.add(call.name)
    for event in events:
        if isinstance(event, Failed):
            score.failures.append(f"{event.kind}: {event.message}")
            score.loops += event.kind in LOOP_FAILURES
    if score.loops:
        score.problems.append(f"loops: {score.loops} (repeated calls, the round limit or malformed arguments)")
    # provenance and claims
    for done in dones:
        score.unverified_numbers += list(done.unverified)
        score.claims += [f"{flag.text!r}: {flag.reason}" for flag in getattr(done, "claims", ())]
        for pattern in expect.claims:
            score.claims += [f"{m.group(0)!r}: the scenario forbids it" for m in re.finditer(pattern, done.text, re.I)]
    if score.unverified_numbers:
        score.problems.append(f"numbers no tool or user gave: {', '.join(score.unverified_numbers)}")
    if score.claims:
        score.problems.append(f"claims no result backs: {len(score.claims)}")
    if expect.prereg_complete and conversation is not None:
        from assistant.prereg.session_plan import open_items

        score.prereg_open = [item.key for item in open_items(conversation)]
        if score.prereg_open:
            score.problems.append(f"pre-registration items left open: {', '.join(score.prereg_open)}")
    said = "\n".join(d.text for d in dones)
    score.answers_missing = [p for p in expect.answer if not re.search(p, said, re.I | re.S)]
    if score.answers_missing:
        score.problems.append(f"answers never said: {', '.join(score.answers_missing)}")


def _describe(expectation: CallExpectation) -> str:
    if not expectation.args:
        return expectation.tool
    return f"{expectation.tool}({json.dumps(expectation.args, ensure_ascii=False, sort_keys=True)})"
