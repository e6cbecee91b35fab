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
