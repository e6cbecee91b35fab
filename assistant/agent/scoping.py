"""The scoping questions, once: the six slots of the brief, in order, what each asks, and its "why" follow-up.

Pure (standard library only): the app's brief panel imports it before the first frame, where pydantic must not be
loaded yet; :mod:`assistant.agent.brief` (the pydantic models) and the guided mode read the same table.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["QUESTIONS", "SLOTS", "WHY", "SlotName"]

SlotName = Literal["intervention", "outcome", "population", "unit", "counterfactual", "decision"]

#: The scoping slots, in the order they are asked.
SLOTS: tuple[SlotName, ...] = get_args(SlotName)

#: What each slot asks, in the user's terms.
QUESTIONS: dict[SlotName, str] = {
    "intervention": "What change are you considering, and for whom?",
    "outcome": "Which single metric would show that it worked, and which metrics must not get worse?",
    "population": "Which users, accounts or markets are eligible for the change?",
    "unit": "What gets assigned to the change: users, sessions, accounts, teams or markets?",
    "counterfactual": "Without the change, what would those units experience, and who can stand in for that "
    "(a randomized control group, regions not launched yet, users who did not opt in)?",
    "decision": "What will you decide with the result: what would make you ship, stop or iterate?",
}

#: The "why" asked after a slot's answer, for the slots that have one (their answers form the brief's why-chain).
WHY: dict[SlotName, str] = {
    "intervention": "Why make this change: what problem should it solve, and how would you notice it had?",
    "decision": "Why that decision: what result would change your mind?",
}
