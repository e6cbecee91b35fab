"""The brief: the six slots with their status, filling as the dialogue goes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.widgets import Static

from assistant.agent.scoping import SLOTS as SLOTS  # the one table (pure: no pydantic before the first frame)
from assistant.tui.widgets.messages import safe

if TYPE_CHECKING:
    from assistant.agent.brief import Brief

MARK = {"missing": "○", "proposed": "◐", "confirmed": "●"}


class BriefPanel(Static):
    """Renders a Brief; call :meth:`show` with each new version."""

    def __init__(self) -> None:
        super().__init__(id="brief")
        self.brief: Any = None

    def on_mount(self) -> None:
        if self.brief is None:
            self.update(Text("Brief\n", style="bold") + Text("starting…"))

    def show(self, brief: Brief) -> None:
        self.brief = brief
        text = Text("Brief\n", style="bold")
        for slot in SLOTS:
            value = getattr(brief, slot)
            text.append(f"{MARK[value.status]} {slot}: ", style="bold" if value.status == "confirmed" else "")
            text.append(safe(value.value or "—") + "\n")
            if slot == "outcome" and brief.outcome.guardrails:
                text.append("   guardrails: " + safe(", ".join(brief.outcome.guardrails)) + "\n")
        if brief.why_chain:
            text.append("\nWhy\n", style="bold")
            for step in brief.why_chain:
                text.append("• " + safe(step.answer) + "\n")
        self.update(text)
