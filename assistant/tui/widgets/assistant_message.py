"""The assistant's reply, streamed as Markdown (imported after the first frame: Markdown loads a parser)."""

from __future__ import annotations

from textual.widgets import Markdown

from assistant.tui.widgets.messages import safe


class AssistantMessage(Markdown):
    """The assistant's reply, growing as it streams."""

    def __init__(self) -> None:
        super().__init__("", classes="assistant-message")
        self.text = ""

    async def add(self, delta: str) -> None:
        self.text += safe(delta)
        await self.append(safe(delta))

    async def mark(self, numbers: tuple[str, ...] | list[str]) -> None:
        """Flag numbers that no tool result or user message supports (or claims no result backs), in the order
        they stand in the text, each followed by a warning sign."""
        text, start = self.text, 0
        for number in numbers:
            at = text.find(number, start)
            if at < 0:
                continue
            flagged = f"{number} ⚠"
            text = text[:at] + flagged + text[at + len(number) :]
            start = at + len(flagged)
        self.text = text
        await self.update(text)
