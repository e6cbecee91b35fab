"""Which tools each request offers the model: the scoping tools always, a design's tools once the
conversation reaches that design.

Every schema costs tokens on every request (the four design tools together are about as large as all the
rest), so the first request offers the tools a scoping conversation needs — the brief, the plan,
``recommend_method``, ``power`` and ``ab_test`` — and a design tool joins once ``recommend_method`` has
proposed it, the user or the model has named it, or it ran already (a run in the conversation's typed runs: the
model's offered calls and the user's ``/run``).

Offering is also the phase gate: the conversation refuses a call to a tool the request did not offer, nothing run
(:meth:`assistant.agent.conversation.Conversation._run`). So a call the model merely attempted does not bring a
tool in — only a run does — or a refused call would open the gate on the next request.

Small-model mode (``small=True``, for models with a short context) offers less still: the first request carries
``recommend_method`` (and the caller's ``update_brief``) only. The other scoping tools, ``power`` and ``ab_test``,
join as the design tools do — named in the conversation (their own name counts as a mention), run, or proposed by
``recommend_method`` — and all of them once ``recommend_method`` has answered, when the design question is on the
table and sizing or analysing an experiment may come next.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tools.recommend import RecommendMethodResult
from tools.registry import TOOLS, estimators

__all__ = ["ALWAYS", "SMALL_FIRST", "mentioned", "offered", "spoken"]

#: Offered on every request (conversation-state tools are added by the caller): the specs that say ``offer="always"``.
ALWAYS: tuple[str, ...] = tuple(spec.name for spec in TOOLS if spec.offer == "always")

#: Words in the conversation that bring a tool in (lower case, matched on word starts): each spec's ``mentions``.
MENTIONS: dict[str, tuple[str, ...]] = {spec.name: spec.mentions for spec in TOOLS if spec.mentions}

#: Small-model mode: the one registered tool of the first request (the design question comes before numbers).
SMALL_FIRST = "recommend_method"
#: Small-model mode: the words that bring in a tool, the scoping tools' own names among them (``ab_test``,
#: "ab test"), since those have no ``mentions`` of their own (normal mode offers them always).
SMALL_MENTIONS: dict[str, tuple[str, ...]] = {
    **MENTIONS,
    **{name: (*MENTIONS.get(name, ()), name, name.replace("_", " ")) for name in ALWAYS},
}

#: Tools that join once an estimator is in the conversation (refute: an analysis to challenge is near).
_AFTER_ANALYSIS = tuple(spec.name for spec in TOOLS if spec.offer == "after_analysis")
_ESTIMATORS = frozenset(spec.name for spec in estimators())


def offered(
    messages: Sequence[Mapping[str, Any]], registered: Iterable[str], runs: Iterable[Any] = (), *, small: bool = False
) -> list[str]:
    """The registered tool names to offer with the next request, in registry order. ``runs`` are the conversation's
    typed tool runs (:class:`~assistant.agent.runner.ToolRun`): each brings in its own tool, and a
    ``recommend_method`` result among them the tools it proposes. ``small``: small-model mode (see the module)."""
    names = list(registered)
    wanted = {SMALL_FIRST} if small else set(ALWAYS)
    mentions = SMALL_MENTIONS if small else MENTIONS
    for run in runs:
        wanted.add(str(getattr(run, "name", "")))
        outcome = getattr(run, "outcome", None)
        wanted |= _recommended(outcome)
        if small and isinstance(outcome, RecommendMethodResult):
            wanted.update(ALWAYS)  # the design question is answered: sizing or analysing an experiment may follow
    text = spoken(messages)
    for tool, words in mentions.items():
        if mentioned(text, words):
            wanted.add(tool)
    if (wanted & _ESTIMATORS) - set(ALWAYS):
        wanted.update(_AFTER_ANALYSIS)  # an analysis to challenge is near
    return [name for name in names if name in wanted]


def spoken(messages: Sequence[Mapping[str, Any]]) -> str:
    """What the user and the model have said so far, lower case: the text mentions are looked for in."""
    said = [
        message["content"]
        for message in messages
        if message.get("role") in ("user", "assistant") and isinstance(message.get("content"), str)
    ]
    return " ".join(said).lower() + " "


def mentioned(text: str, words: Iterable[str]) -> bool:
    """Whether any of ``words`` (lower case) starts a word of ``text`` (from :func:`spoken`)."""
    return any(re.search(r"(?<![a-z])" + re.escape(word), text) for word in words)


def _recommended(outcome: Any) -> set[str]:
    """The tools a ``recommend_method`` result proposes (recommended or possible)."""
    if not isinstance(outcome, RecommendMethodResult):
        return set()
    return {r.tool for r in outcome.recommendations if r.tool and r.suitability != "not_recommended"}
