"""The guided mode: a deterministic interviewer that needs no LLM and speaks through the same loop.

It asks the six scoping questions with its own "why" follow-ups, records each answer with ``update_brief``,
asks how the change is assigned and calls ``recommend_method``. For an experiment it then asks for the numbers
``power`` needs and calls it, and analyses the attached experiment if it has run; for a design it can run on
attached data (difference-in-differences, propensity scores, regression discontinuity) it proposes the dataset
and the role of each column and runs the analysis. Either way it then offers the design's robustness battery
(``refute``). Its own sentences contain no numbers: every number it
shows comes from a tool or from the user.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import prompts
from assistant.agent.backends import AssistantTurn, Message
from assistant.agent.brief import SLOTS, Brief
from assistant.agent.guided_analysis import (
    ANALYSES,
    analysis_for,
    describe_roles,
    merge_roles,
    missing_roles,
    parse_roles,
    request_for,
    suggest_dataset,
    suggest_roles,
)
from assistant.agent.stream import ToolCallDraft

__all__ = ["GuidedBackend"]

QUESTIONS: dict[str, str] = {
    "intervention": "What change are you considering, and for whom?",
    "why_intervention": "Why make this change: what problem should it solve, and how would you notice it had?",
    "outcome": "Which single metric would show that it worked? Name metrics that must not get worse after "
    "'guardrails:' (for example: checkout conversion; guardrails: refunds, page latency).",
    "population": "Which users, accounts or markets are eligible for the change?",
    "unit": "What gets assigned to the change: users, sessions, accounts, teams or markets?",
    "counterfactual": "Without the change, what would those units experience, and who can stand in for that "
    "(a randomized control group, regions not launched yet, users who did not opt in)?",
    "decision": "What will you decide with the result: what would make you ship, stop or iterate?",
    "why_decision": "Why that decision: what result would change your mind?",
    "can_randomize": "Can you randomly choose who gets the change? (yes / no)",
    "interference": "Can one unit's treatment affect another unit's outcome, as in a marketplace or a social "
    "feature? (yes / no)",
    "assignment": "How do units get the change: by a score cutoff, group by group over time, everyone at once, "
    "by opting in, in a single market, or through a randomized nudge (an invitation)?",
    "has_pre": "Is the outcome measured for the same units before the change? (yes / no)",
    "metric_kind": "To size the experiment: is the primary metric a rate (the share of units that do "
    "something) or an average (such as revenue per user)?",
    "baseline": "What is its current value? (a rate as a percentage or a fraction; an average in its units)",
    "std_dev": "What is the standard deviation of that average per unit? (from past data)",
    "mde": "What is the smallest relative lift worth detecting, as a percentage?",
    "daily_units": "How many eligible units enter per day, all arms together? (say 'skip' if unknown)",
    "refute_offer": "Shall I challenge this estimate with the robustness checks for its design (placebo tests, "
    "stability, sensitivity to what was not measured)? (yes / no)",
}
ACCEPT = {"ok", "okay", "yes", "y", "use it", "use them", "fine", "sure", "go", "looks good", "correct"}
SLOT_QUESTIONS = {"intervention", "outcome", "population", "unit", "counterfactual", "decision"}
ASSIGNMENTS = [
    ("cutoff", ("cutoff", "threshold", "score")),
    ("rollout_by_group_over_time", ("group by group", "over time", "staggered", "region", "rollout", "roll out")),
    ("all_at_once", ("at once", "everyone", "all users", "same day", "same date")),
    ("self_selected", ("opt", "choose", "chose", "self")),
    ("single_unit", ("single", "one market", "one country", "one city")),
    ("instrument", ("nudge", "invitation", "invite", "encourag", "instrument")),
]
_NUMBER = re.compile(r"[-+]?\d[\d,]*\.?\d*(?:[eE][-+]?\d+)?\s*%?")


def _yes_no(text: str) -> bool | None:
    words = re.findall(r"[a-z']+", text.lower())
    if not words:
        return None
    if words[0] in {"yes", "y", "yeah", "yep", "sure", "we", "can", "definitely"} and "not" not in words:
        return True
    if words[0] in {"no", "n", "nope", "not", "can't", "cannot", "never"} or "not" in words[:3]:
        return False
    return None


def _number(text: str) -> tuple[float, bool] | None:
    """The first number in ``text`` and whether it was written as a percentage."""
    match = _NUMBER.search(text)
    if match is None:
        return None
    token = match.group(0).replace(",", "").strip()
    percent = token.endswith("%") or "percent" in text.lower()
    try:
        return float(token.rstrip("%").strip()), percent
    except ValueError:
        return None


@dataclass
class GuidedBackend:
    """Asks, records, recommends, sizes — deterministically. ``brief`` lets a resumed session skip answered slots."""

    brief: Brief = field(default_factory=Brief)
    history: Sequence[Message] = ()  # a resumed session's messages: what was answered and run is not asked again
    name: str = "guided mode — no LLM"
    facts: dict[str, Any] = field(default_factory=dict)
    catalog: Any = None  # tools.data.Catalog: the attached datasets (read for names and columns only)
    pending: str | None = None
    _calls: int = 0
    _done: set[str] = field(default_factory=set)
    _introduced: bool = False

    def __post_init__(self) -> None:
        self._done |= {slot for slot in SLOTS if self.brief.slot(slot).status == "confirmed"}
        if "intervention" in self._done:
            self._done.add("why_intervention")
        if "decision" in self._done:
            self._done.add("why_decision")
        self._restore(self.history)

    def _restore(self, history: Sequence[Message]) -> None:
        """Replay a resumed session's tool calls: the design facts, the sizing numbers and the analyses they
        carried are known again, so the interview goes on where it stopped."""
        calls: dict[str, tuple[str, dict[str, Any]]] = {}
        for message in history:
            for call in message.get("tool_calls") or []:
                try:
                    arguments = json.loads(call["function"].get("arguments") or "{}")
                except json.JSONDecodeError:
                    continue
                calls[call.get("id", "")] = (call["function"]["name"], arguments if isinstance(arguments, dict) else {})
            if message.get("role") != "tool" or message.get("tool_call_id") not in calls:
                continue
            name, arguments = calls[message["tool_call_id"]]
            try:
                payload = json.loads(message.get("content") or "{}")
            except json.JSONDecodeError:
                continue
            if not isinstance(payload, dict) or "error" in payload:
                continue
            self._introduced = True
            self._replay(name, arguments, payload)

    def _replay(self, name: str, arguments: dict[str, Any], payload: dict[str, Any]) -> None:
        if name == "update_brief":
            slot = arguments.get("slot")
            self.facts[f"value_{slot}"] = arguments.get("value")
            if arguments.get("why_answer"):
                self._done.add(f"why_{slot}")
        elif name == "recommend_method":
            facts = {
                "can_randomize": arguments.get("can_randomize"),
                "interference": arguments.get("interference"),
                "has_pre": arguments.get("has_pre_period_data"),
            }
            for key, value in facts.items():
                if value is not None:
                    self.facts[key] = value
                    self._done.add(key)
            if arguments.get("assignment") not in (None, "random", "unknown"):
                self.facts["assignment"] = arguments["assignment"]
                self._done.add("assignment")
            top = (payload.get("recommendations") or [{}])[0]
            self.facts["method"] = top.get("method") if top.get("available") else None
            self.facts["sizing"] = top.get("method") in ("ab_test", "cluster_ab_test")
            self._done.add("recommend_method")
        elif name == "power":
            self.facts["metric"] = arguments.get("metric")
            for key in ("baseline", "std_dev", "mde", "daily_units"):
                self.facts[key] = arguments.get(key)
            self._done |= {"metric_kind", "baseline", "std_dev", "mde", "daily_units", "power"}
        elif analysis_for(self.facts.get("method")) is not None and name == self._analysis_tool():
            self.facts["dataset"] = arguments.get("dataset")
            self.facts["analysis_request"] = arguments
            self._done |= {"dataset", "columns", "analysis"}
        elif name == "refute":
            self._done |= {"refute_offer", "refute"}

    def opening(self) -> str:
        """What the guided mode says before the user has said anything: the intro and the first question (on
        resume, the question where the session stopped)."""
        resumed = self._introduced
        key = self._next()
        asks = key is not None and key not in ("recommend_method", "power", "analysis", "refute")
        self.pending = key if asks else None
        self._introduced = True
        intro = "Welcome back: here is where we stopped." if resumed else prompts.load("guided_intro").strip()
        if key is None:
            return intro + "\n\nThe scoping is complete: the brief holds your answers, and the results are above."
        return intro + "\n\n" + (self._question(key) if asks else "Send any message to go on.")

    def complete(
        self, messages: Sequence[Message], tools: Sequence[Mapping[str, Any]], on_text: Callable[[str], None]
    ) -> AssistantTurn:
        last = messages[-1] if messages else {"role": "user", "content": ""}
        if last.get("role") == "tool":
            return self._after_tool(messages, on_text)
        answer = str(last.get("content") or "").strip()
        if self.pending is None:
            intro = "" if self._introduced else prompts.load("guided_intro").strip() + "\n\n"
            self._introduced = True
            return self._ask(self._next(), on_text, prefix=intro)
        key = self.pending
        turn = self._take(key, answer, on_text)
        return turn if turn is not None else self._ask(self._next(), on_text)

    # -- the interview ---------------------------------------------------------------------------------------

    def _next(self) -> str | None:
        order = [
            "intervention",
            "why_intervention",
            "outcome",
            "population",
            "unit",
            "counterfactual",
            "decision",
            "why_decision",
            "can_randomize",
        ]
        for key in order:
            if key not in self._done:
                return key
        if self.facts.get("can_randomize"):
            if "interference" not in self._done:
                return "interference"
        else:
            for key in ("assignment", "has_pre"):
                if key not in self._done:
                    return key
        if "recommend_method" not in self._done:
            return "recommend_method"
        if not self.facts.get("sizing"):
            return self._next_analysis()
        for key in ("metric_kind", "baseline", "std_dev", "mde", "daily_units"):
            if key == "std_dev" and self.facts.get("metric") != "mean":
                continue
            if key not in self._done:
                return key
        return "power" if "power" not in self._done else self._next_analysis()

    def _next_analysis(self) -> str | None:
        if analysis_for(self.facts.get("method")) is None or not self._datasets():
            return None
        for key in ("dataset", "columns", "analysis", "refute_offer"):
            if key not in self._done:
                return key
        return "refute" if self.facts.get("refute") and "refute" not in self._done else None

    def _datasets(self) -> dict[str, list[str]]:
        """Attached dataset names and their columns."""
        if self.catalog is None:
            return {}
        return {dataset.name: list(dataset.columns) for dataset in self.catalog}

    def _question(self, key: str) -> str:
        if key == "dataset":
            names = list(self._datasets())
            suggested = suggest_dataset(self.facts["method"], names)
            ask = f"Reply 'ok' to use '{suggested}', or name another." if suggested else "Reply with its name."
            if self.facts.get("sizing"):  # an experiment: it may not have run yet
                return (
                    "If the experiment has already run, I can analyse it. Which attached dataset holds one row per "
                    f"unit with its arm? Attached: {', '.join(names)}. {ask} Say 'skip' if it has not run yet."
                )
            return f"Which attached dataset holds the data? Attached: {', '.join(names)}. {ask}"
        if key == "columns":
            analysis = analysis_for(self.facts["method"])
            assert analysis is not None
            dataset = self.facts["dataset"]
            columns = self._datasets().get(dataset, [])
            roles = self.facts.setdefault(
                "suggested_roles", suggest_roles(self.facts["method"], columns, self._slot_value("outcome"))
            )
            proposal = describe_roles(roles) or "(nothing matched)"
            missing = missing_roles(self.facts["method"], roles)
            need = f" Still needed: {', '.join(missing)}." if missing else ""
            return (
                f"{analysis.question}\n\nColumns of '{dataset}': {', '.join(columns)}.\n"
                f"Proposed from their names: {proposal}.{need}\n"
                "Reply 'ok' to use it, or correct any part as role=column (separate parts with ';')."
            )
        return QUESTIONS[key]

    def _ask(self, key: str | None, on_text: Callable[[str], None], prefix: str = "") -> AssistantTurn:
        if key in ("recommend_method", "power"):
            return self._tool_turn(key, self._arguments(key), on_text, prefix)
        if key == "analysis":
            method = self.facts["method"]
            request = request_for(method, self.facts["dataset"], self.facts["roles"])
            self.facts["analysis_request"] = request
            return self._tool_turn(self._analysis_tool(), request, on_text, prefix)
        if key == "refute":
            target = {"tool": self._analysis_tool(), "request": self.facts["analysis_request"]}
            return self._tool_turn("refute", {"target": target}, on_text, prefix)
        if key is None:
            self.pending = None
            return self._say(
                prefix + "The scoping is complete: the brief holds your answers, and the tools' results are above. "
                "In the app, /prereg drafts the pre-registration from them and /plot saves the latest figure.",
                on_text,
            )
        self.pending = key
        return self._say(prefix + self._question(key), on_text)

    def _take(self, key: str, answer: str, on_text: Callable[[str], None]) -> AssistantTurn | None:
        if not answer:
            return self._say("I did not catch an answer. " + self._question(key), on_text)
        if key in ("dataset", "columns"):
            return self._take_analysis(key, answer, on_text)
        if key in SLOT_QUESTIONS:
            self._done.add(key)
            self.pending = None
            arguments: dict[str, Any] = {
                "slot": key,
                "value": answer,
                "status": "confirmed",
                "guardrails": None,
                "why_question": None,
                "why_answer": None,
                "assumption": None,
            }
            if key == "outcome" and "guardrail" in answer.lower():
                primary, rest = re.split(r"(?i)guardrails?\s*:?", answer, maxsplit=1)
                arguments["value"] = primary.strip(" ;,.") or answer
                arguments["guardrails"] = [g.strip(" .") for g in re.split(r"[;,]| and ", rest) if g.strip(" .")]
            return self._tool_turn("update_brief", arguments, on_text)
        if key.startswith("why_"):
            self._done.add(key)
            self.pending = None
            slot = key.removeprefix("why_")
            value = self.facts.get(f"value_{slot}") or self._slot_value(slot)
            arguments = {
                "slot": slot,
                "value": value,
                "status": "confirmed",
                "guardrails": None,
                "why_question": QUESTIONS[key],
                "why_answer": answer,
                "assumption": None,
            }
            return self._tool_turn("update_brief", arguments, on_text)
        if key in ("can_randomize", "interference", "has_pre", "refute_offer"):
            decided = _yes_no(answer)
            if decided is None:
                return self._say("Please answer yes or no. " + QUESTIONS[key], on_text)
            self.facts["refute" if key == "refute_offer" else key] = decided
        elif key == "assignment":
            lowered = answer.lower()
            found = next((name for name, words in ASSIGNMENTS if any(w in lowered for w in words)), None)
            if found is None:
                return self._say("I could not tell which of these it is. " + QUESTIONS[key], on_text)
            self.facts[key] = found
        elif key == "metric_kind":
            lowered = answer.lower()
            if any(w in lowered for w in ("rate", "share", "percent", "conversion", "proportion")):
                self.facts["metric"] = "proportion"
            elif any(w in lowered for w in ("average", "mean", "per user", "revenue", "amount")):
                self.facts["metric"] = "mean"
            else:
                return self._say("Is it a rate or an average? " + QUESTIONS[key], on_text)
        elif key == "daily_units" and "skip" in answer.lower():
            self.facts[key] = None
        else:
            parsed = _number(answer)
            if parsed is None:
                return self._say("I need a number here. " + QUESTIONS[key], on_text)
            value, percent = parsed
            if key == "baseline" and self.facts.get("metric") == "proportion" and (percent or value > 1):
                value = value / 100
            if key == "mde" and (percent or abs(value) >= 1):
                value = value / 100
            self.facts[key] = value
        self._done.add(key)
        self.pending = None
        return None

    def _analysis_tool(self) -> str:
        analysis = analysis_for(self.facts.get("method"))
        assert analysis is not None
        return analysis.tool

    def _take_analysis(self, key: str, answer: str, on_text: Callable[[str], None]) -> AssistantTurn | None:
        accepted = answer.strip().lower().strip(".!") in ACCEPT
        if key == "dataset" and answer.strip().lower().strip(".!") in {"skip", "no", "not yet", "none"}:
            self._done |= {"dataset", "columns", "analysis", "refute_offer"}
            self.pending = None
            return None
        if key == "dataset":
            names = list(self._datasets())
            chosen = suggest_dataset(self.facts["method"], names) if accepted else None
            if chosen is None:
                lowered = answer.strip().strip("'\"").lower()
                chosen = next((n for n in names if n.lower() == lowered), None) or next(
                    (n for n in names if lowered and lowered in n.lower()), None
                )
            if chosen is None:
                return self._say("I could not find that dataset. " + self._question(key), on_text)
            self.facts["dataset"] = chosen
            self.facts.pop("suggested_roles", None)
        else:
            method = self.facts["method"]
            roles = dict(self.facts.get("suggested_roles") or {})
            if not accepted:
                given = parse_roles(answer, method)
                if not given:
                    return self._say("I could not read any role=column pair. " + self._question(key), on_text)
                roles = merge_roles(method, roles, given, self._datasets().get(self.facts["dataset"], []))
            missing = missing_roles(method, roles)
            if missing:
                self.facts["suggested_roles"] = roles
                return self._say(f"Still needed: {', '.join(missing)}. " + self._question(key), on_text)
            try:
                request_for(method, self.facts["dataset"], roles)
            except ValueError as exc:
                return self._say(f"{exc}. " + self._question(key), on_text)
            self.facts["roles"] = roles
            self.facts["suggested_roles"] = roles
        self._done.add(key)
        self.pending = None
        return None

    def _slot_value(self, slot: str) -> str:
        return str(self.facts.get(f"value_{slot}", "")) or "(as answered)"

    def _arguments(self, tool: str) -> dict[str, Any]:
        if tool == "recommend_method":
            return {
                "can_randomize": self.facts.get("can_randomize"),
                "assignment": "random" if self.facts.get("can_randomize") else self.facts.get("assignment", "unknown"),
                "has_pre_period_data": self.facts.get("has_pre"),
                "pre_periods": None,
                "treated_units": None,
                "control_units": None,
                "observed_confounders": None,
                "interference": self.facts.get("interference"),
            }
        return {
            "metric": self.facts["metric"],
            "baseline": self.facts["baseline"],
            "std_dev": self.facts.get("std_dev"),
            "solve_for": "sample_size",
            "mde": self.facts["mde"],
            "mde_kind": "relative",
            "n_per_arm": None,
            "power": None,
            "alpha": 0.05,
            "alternative": "two-sided",
            "allocation_ratio": 1.0,
            "arms": 2,
            "daily_units": self.facts.get("daily_units"),
            "cluster_size": None,
            "icc": None,
            "variance_reduction": None,
        }

    # -- after a tool ran ------------------------------------------------------------------------------------

    def _after_tool(self, messages: Sequence[Message], on_text: Callable[[str], None]) -> AssistantTurn:
        call_name, arguments = self._last_call(messages)
        payload = json.loads(messages[-1].get("content") or "{}")
        if "error" in payload:
            error = payload["error"]
            if call_name == "power":  # numbers the user gave were not usable: ask for them again
                for key in ("baseline", "std_dev", "mde", "daily_units"):
                    self._done.discard(key)
                self._done.discard("power")
            elif call_name in {a.tool for a in ANALYSES.values()}:  # a column did not fit: ask again
                self._done -= {"columns", "analysis"}
            elif call_name == "refute":
                self._done.add("refute")
            return self._ask(self._next(), on_text, prefix=f"{error['message']} {error['hint']}\n\n")
        if call_name == "update_brief":
            self.facts[f"value_{arguments.get('slot')}"] = arguments.get("value")
            return self._ask(self._next(), on_text)
        if call_name == "recommend_method":
            self._done.add("recommend_method")
            top = (payload.get("recommendations") or [{}])[0]
            self.facts["method"] = top.get("method") if top.get("available") else None
            self.facts["sizing"] = top.get("method") in ("ab_test", "cluster_ab_test")
            return self._ask(self._next(), on_text, prefix=payload.get("summary", "") + "\n\n")
        if call_name == "power":
            self._done.add("power")
            notes = "".join(f"\n- {w}" for w in payload.get("warnings", []))
            return self._ask(self._next(), on_text, prefix=payload.get("summary", "") + notes + "\n\n")
        if call_name in {a.tool for a in ANALYSES.values()} or call_name == "refute":
            self._done.add("analysis" if call_name != "refute" else "refute")
            notes = "".join(f"\n- {w}" for w in payload.get("warnings", [])[:5])
            return self._ask(self._next(), on_text, prefix=payload.get("summary", "") + notes + "\n\n")
        return self._ask(self._next(), on_text)

    @staticmethod
    def _last_call(messages: Sequence[Message]) -> tuple[str, dict[str, Any]]:
        tool_call_id = messages[-1].get("tool_call_id")
        for message in reversed(messages):
            for call in message.get("tool_calls") or []:
                if call["id"] == tool_call_id:
                    return call["function"]["name"], json.loads(call["function"]["arguments"] or "{}")
        return "", {}

    # -- turns -----------------------------------------------------------------------------------------------

    def _say(self, text: str, on_text: Callable[[str], None]) -> AssistantTurn:
        on_text(text)
        return AssistantTurn(text=text, finish_reason="stop")

    def _tool_turn(
        self, name: str, arguments: dict[str, Any], on_text: Callable[[str], None], prefix: str = ""
    ) -> AssistantTurn:
        if name != "update_brief":
            self.pending = None
        self._calls += 1
        if prefix:
            on_text(prefix)
        call = ToolCallDraft(id=f"guided_{self._calls}", name=name, arguments=json.dumps(arguments))
        return AssistantTurn(text=prefix, tool_calls=[call], finish_reason="tool_calls")
