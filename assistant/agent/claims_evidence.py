"""The evidence claims are judged against (:mod:`assistant.agent.claims`): the effect estimates, decisions and
verdicts of the session's tool results, read generically from each result's fields (``model_dump``), and the texts
the tools and the user wrote (a claim quoted from them is theirs, not the assistant's)."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tools.errors import ToolError

__all__ = ["Effect", "Evidence", "Ruling", "gather_evidence", "normal", "stems"]


@dataclass(frozen=True)
class Effect:
    """An effect estimate found in a result, with what it is about."""

    tool: str
    label: str  # "'converted' in 'treatment'", or the outcome's name
    words: frozenset[str]  # stems of the metric's name (and the arm's)
    arm: str | None
    role: str | None  # primary / secondary / guardrail, when the result says
    good: int  # +1 when an increase is good, -1 when a decrease is (latency, churn)
    estimate: float
    ci_lower: float
    ci_upper: float
    alpha: float
    significant: bool
    primary: bool
    relative: tuple[float, float, float] | None = None  # the relative lift and its interval, when given (for words)

    def shown(self) -> str:
        """The estimate in words: the relative lift as a percentage when there is one."""
        if self.relative is not None:
            return f"{100 * self.relative[0]:+.3g}%"
        return f"{self.estimate:+.4g}"

    def interval(self) -> str:
        """The confidence interval in words, on the scale :meth:`shown` uses."""
        level = f"{100 * (1 - self.alpha):.3g}% CI"
        if self.relative is not None:
            return f"{level} {100 * self.relative[1]:+.3g}% to {100 * self.relative[2]:+.3g}%"
        return f"{level} {self.ci_lower:+.4g} to {self.ci_upper:+.4g}"


@dataclass(frozen=True)
class Ruling:
    """A decision or a verdict a result states."""

    tool: str
    value: str
    arm: str | None = None


@dataclass(frozen=True)
class Evidence:
    """What the session's sources can back: effects, decisions, verdicts, and the tools' and user's own words."""

    effects: tuple[Effect, ...]
    estimating: tuple[str, ...]  # tools whose results estimate an effect of the change
    planning: tuple[str, ...]  # tools that ran but measure no effect (power, recommend_method...)
    decisions: tuple[Ruling, ...]
    verdicts: tuple[Ruling, ...]
    tool_texts: tuple[str, ...]  # every string of a tool result or error, normalised
    user_texts: tuple[str, ...]  # the user's messages, normalised


# --- reading the sources ---------------------------------------------------------------------------------------------

_DECISIONS = frozenset({"ship", "don't ship", "inconclusive", "investigate", "continue"})
_VERDICTS = frozenset({"robust", "fragile", "failed", "trustworthy", "investigate"})
#: Top-level estimates that are not the effect of the change: comparisons, diagnostics and legacy copies.
_NOT_EFFECTS = frozenset(
    {"naive", "ols", "placebo", "complier_share", "qini", "first_stage", "headline", "original", "att", "ate"}
)
_STOP = frozenset(
    {
        *("the", "and", "for", "per", "rate", "count", "total", "mean", "value", "number", "day", "days", "week"),
        *("weeks", "month", "users", "user", "units", "unit", "pre", "post", "difference", "treatment", "control"),
        *("minus", "effect", "estimate", "arm", "arms", "metric", "relative", "absolute", "lift", "share", "with"),
        *("from", "average", "outcome", "any", "new", "old"),
    }
)


def _is_estimate(node: Any) -> bool:
    return isinstance(node, dict) and all(
        isinstance(node.get(key), int | float) and not isinstance(node.get(key), bool)
        for key in ("estimate", "ci_lower", "ci_upper", "p_value")
    )


def stems(text: str) -> set[str]:
    """The stems of the content words of ``text``: lowercase, split on anything not a letter, first five letters."""
    return {word[:5] for word in re.findall(r"[a-z]{3,}", text.lower()) if word not in _STOP}


def normal(text: str) -> str:
    """Text as compared verbatim: no Markdown emphasis or code marks, whitespace collapsed, lower case."""
    return re.sub(r"\s+", " ", re.sub(r"[*`]", "", text)).strip().lower()


@functools.cache
def _tool_kinds() -> dict[str, tuple[str, bool]]:
    """Result class name -> (tool name, whether the tool estimates an effect). Imported late: the registry loads
    every tool, and this module must stay cheap to import."""
    from tools.registry import TOOLS

    return {spec.result.__name__: (spec.name, spec.estimates) for spec in TOOLS}


def _dump(source: Any) -> tuple[str, bool, bool, Any]:
    """(tool name, estimates an effect, is a refute result, its plain data) of a result."""
    if hasattr(source, "model_dump"):
        name, estimates = _tool_kinds().get(type(source).__name__, (_snake(type(source).__name__), False))
        return name, estimates, name == "refute", source.model_dump(mode="json")
    if isinstance(source, dict):
        estimates = _is_estimate(source.get("effect"))
        name = str(source.get("tool") or "a tool")
        return name, estimates, "target_tool" in source and "verdict" in source, source
    return "a tool", False, False, source


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name.removesuffix("Result")).lower()


def _texts(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _texts(value)
    elif isinstance(node, list | tuple):
        for item in node:
            yield from _texts(item)


def _rulings(node: Any, tool: str, key: str, allowed: frozenset[str], arm: str | None = None) -> Iterator[Ruling]:
    """Every ``key`` field (decision, verdict) whose value is one of ``allowed``, with the arm of its entry."""
    if isinstance(node, dict):
        here = node.get("arm") if isinstance(node.get("arm"), str) else arm
        value = node.get(key)
        if isinstance(value, str) and value in allowed:
            yield Ruling(tool, value, here)
        for child_key, child in node.items():
            if child_key not in ("checks", "observed", "simulated", "by_unit", "comparisons"):
                yield from _rulings(child, tool, key, allowed, here)
    elif isinstance(node, list):
        for item in node:
            yield from _rulings(item, tool, key, allowed, arm)


def _effect(
    tool: str, node: Mapping[str, Any], label: str, words: set[str], *, primary: bool, **extra: Any
) -> Effect | None:
    try:
        estimate, lower, upper = float(node["estimate"]), float(node["ci_lower"]), float(node["ci_upper"])
        alpha = float(node.get("alpha", 0.05))
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(x) for x in (estimate, lower, upper, alpha)):
        return None
    significant = extra.pop("significant", None)
    if significant is None:
        significant = lower > 0 or upper < 0
    return Effect(
        tool=tool,
        label=label,
        words=frozenset(words),
        estimate=estimate,
        ci_lower=lower,
        ci_upper=upper,
        alpha=alpha,
        significant=bool(significant),
        primary=primary,
        arm=extra.get("arm"),
        role=extra.get("role"),
        good=extra.get("good", 1),
        relative=extra.get("relative"),
    )


def _effects(tool: str, data: Mapping[str, Any], refute: bool) -> Iterator[Effect]:
    """The effect estimates of one estimating (or refute) result; see the module's docstring."""
    subject = " ".join(str(data.get(key) or "") for key in ("outcome", "effect_label", "metric"))
    base = stems(subject)
    label = str(data.get("outcome") or data.get("effect_label") or "the effect")
    seen: set[tuple[float, float, float]] = set()
    for value in data.values():  # per-metric comparisons (a list of entries with a metric and an absolute estimate)
        if not isinstance(value, list):
            continue
        for item in value:
            if not (
                isinstance(item, dict) and isinstance(item.get("metric"), str) and _is_estimate(item.get("absolute"))
            ):
                continue
            absolute = item["absolute"]
            verdict = item.get("verdict")
            significant: bool | None = None
            if verdict in ("improvement", "regression"):
                significant = True
            elif verdict == "no_detectable_change":
                significant = False
            elif isinstance(item.get("p_value_adjusted"), int | float):
                alpha = float(absolute.get("alpha", 0.05))
                significant = (absolute["ci_lower"] > 0 or absolute["ci_upper"] < 0) and item[
                    "p_value_adjusted"
                ] < alpha
            relative: Any = item.get("relative")
            arm = item.get("arm") if isinstance(item.get("arm"), str) else None
            found = _effect(
                tool,
                absolute,
                f"'{item['metric']}'" + (f" in '{arm}'" if arm else ""),
                stems(item["metric"].replace("_", " ")),
                primary=item.get("role") == "primary",
                significant=significant,
                arm=arm,
                role=item.get("role"),
                good=-1 if item.get("direction") == "decrease" else 1,
                relative=(
                    (float(relative["estimate"]), float(relative["ci_lower"]), float(relative["ci_upper"]))
                    if _is_estimate(relative)
                    else None
                ),
            )
            if found is not None:
                seen.add((found.estimate, found.ci_lower, found.ci_upper))
                yield found
    for key, value in data.items():
        if key in _NOT_EFFECTS or not _is_estimate(value):
            continue
        if (value["estimate"], value["ci_lower"], value["ci_upper"]) in seen:
            continue  # the headline repeats a comparison
        found = _effect(
            tool if not refute else f"refute ({data.get('target_tool', 'the analysis')})",
            value,
            f"'{label}'" if key == "effect" else f"'{label}' ({key})",
            base,
            primary=key == "effect",
        )
        if found is not None:
            yield found


def gather_evidence(sources: Iterable[Any]) -> Evidence:
    """Read the session's sources once: tool results (pydantic models or their dicts), tools' errors and the user's
    words."""
    effects: list[Effect] = []
    estimating: list[str] = []
    planning: list[str] = []
    decisions: list[Ruling] = []
    verdicts: list[Ruling] = []
    tool_texts: list[str] = []
    user_texts: list[str] = []
    for source in sources:
        if isinstance(source, str):
            user_texts.append(normal(source))
            continue
        if isinstance(source, ToolError):
            tool_texts += [normal(source.message), normal(source.hint or "")]
            continue
        name, estimates, refute, data = _dump(source)
        tool_texts += [normal(text) for text in _texts(data) if len(text) > 3]
        if not isinstance(data, dict):
            continue
        if estimates or refute:
            found = list(_effects(name, data, refute))
            effects += found
            if found:
                estimating.append(name)
        elif hasattr(source, "model_dump"):
            planning.append(name)
        decisions += _rulings(data, name, "decision", _DECISIONS)
        if isinstance(data.get("verdict"), str) and data["verdict"] in _VERDICTS:
            verdicts.append(Ruling(name, data["verdict"]))
    return Evidence(
        tuple(effects),
        tuple(dict.fromkeys(estimating)),
        tuple(dict.fromkeys(planning)),
        tuple(decisions),
        tuple(verdicts),
        tuple(dict.fromkeys(tool_texts)),
        tuple(user_texts),
    )
