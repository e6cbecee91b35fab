"""The guided mode's last step: the pre-registration draft's open items, asked one at a time.

The draft fills itself from what the session established (:mod:`assistant.prereg.session_facts`); what no run
and no answer settled (the hypotheses, the exclusions, the stopping rule, …) stays open. When the interview ends
with items open, the closing offers to answer them; a user who says so ("pre-register", "fill them in") gets each
item's own question, and the answer is recorded as the app's ``/prereg answer`` records it. "skip" leaves an item
open, "done" stops. Nothing here has a number of its own: the questions come from the plan's item table.
"""

from __future__ import annotations

import re
from typing import Any

from assistant.agent.answers import off_script, read_yes_no
from assistant.agent.guided_state import WHY_ASKED, PreregTalk, Step
from tools.errors import ToolError

__all__ = ["ask", "offer", "take", "wants"]

_WANTS = re.compile(
    r"\b(pre-?regist\w*|prereg\w*|open items?|fill (?:them|it|those|the items?)( in)?|answer (?:them|those|the "
    r"(?:open )?items?))\b",
    re.I,
)
_SKIP = re.compile(r"^\W*(skip|later|pass|next|not now|leave (?:it|this|that) (?:open|for later|blank))\b", re.I)
_STOP = re.compile(r"^\W*(done|stop|enough|that'?s (?:all|enough)|no more|finish(?:ed)?|quit)\b", re.I)


def _open(conversation: Any, talk: PreregTalk) -> list[Any]:
    """The draft's open items the user has not skipped (none without a conversation that keeps a plan)."""
    if getattr(conversation, "prereg", None) is None:
        return []
    from assistant.prereg.session_plan import open_items

    return [item for item in open_items(conversation) if item.key not in talk.skipped]


def offer(conversation: Any, talk: PreregTalk) -> str:
    """The closing's sentence about the open items ("" when none is open)."""
    items = _open(conversation, talk)
    if not items:
        return ""
    talk.offered = True
    labels = ", ".join(item.label.lower() for item in items)
    return (
        f"\n\nThe pre-registration draft holds what this session settled; still open: {labels}. Say "
        "'pre-register' to answer them one at a time here (in the app, /prereg answer ITEM TEXT does the same)."
    )


def wants(answer: str, talk: PreregTalk) -> bool:
    """The user asks to answer the open items (or says yes to the closing's offer)."""
    if _WANTS.search(answer):
        return True
    reading = read_yes_no(answer)
    return talk.offered and reading.answered and reading.value is True


def ask(conversation: Any, talk: PreregTalk, prefix: str = "") -> str | None:
    """The next open item's question (and ``talk.item`` set to it), or None when none is left."""
    items = _open(conversation, talk)
    if not items:
        talk.item = None
        return None
    item = items[0]
    talk.item = item.key
    text = f"{prefix}Pre-registration, {item.label.lower()}: {item.question}"
    if item.status == "unconfirmed" and item.so_far:
        text += f"\nProposed so far: {item.so_far}. Reply 'yes' to confirm it, or write your own."
    return text + "\n(Say 'skip' to leave it open, 'done' to stop.)"


def take(conversation: Any, talk: PreregTalk, answer: str) -> tuple[str, bool]:
    """Read the answer to the item being asked: (what to say, whether another item is being asked)."""
    from assistant.prereg.session_plan import open_items, record_answer

    key = talk.item
    current = next((item for item in open_items(conversation) if item.key == key), None)
    if key is None or current is None:  # answered elsewhere meanwhile (/prereg answer): go on
        return _next(conversation, talk, "")
    if _STOP.match(answer):
        talk.item = None
        return "", False
    if _SKIP.match(answer):
        talk.skipped.add(key)
        return _next(conversation, talk, "Left open. ")
    turn = off_script(answer)
    if turn is not None and turn.kind in ("why", "meaning"):
        again = ask(conversation, talk) or ""
        return f"{WHY_ASKED[Step.PREREG]}\n\n{again}", True
    if turn is not None and turn.kind == "dont_know":
        again = ask(conversation, talk) or ""
        return f"Then leave it open with 'skip': the plan will say it was not decided before the data.\n\n{again}", True
    text = answer
    if current.status == "unconfirmed" and current.so_far:
        reading = read_yes_no(answer)
        if reading.answered and reading.value is True:
            text = current.so_far
    try:
        record_answer(conversation, key, text)
    except ToolError as error:
        again = ask(conversation, talk) or ""
        return f"{error.message} {error.hint}\n\n{again}", True
    return _next(conversation, talk, "Recorded. ")


def _next(conversation: Any, talk: PreregTalk, prefix: str) -> tuple[str, bool]:
    question = ask(conversation, talk, prefix)
    if question is not None:
        return question, True
    done = "" if talk.skipped else " Every item of the plan is answered;"
    return f"{prefix}{done} /prereg shows the document and /prereg freeze freezes it in the app.".strip(), False
