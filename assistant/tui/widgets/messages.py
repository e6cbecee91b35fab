"""Chat messages: the user's (plain text, never parsed as markup) and the assistant's (streamed Markdown)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Markdown, Static

from assistant.config import redact


def safe(text: str) -> str:
    """Untrusted text made safe to show: secrets redacted, control and escape characters removed."""
    return "".join(ch for ch in redact(text) if ch in "\n\t" or (ord(ch) >= 32 and ord(ch) != 127))


class UserMessage(Static):
    """What the user typed, shown literally."""

    def __init__(self, text: str) -> None:
        super().__init__(Text(safe(text)), classes="user-message")


class AssistantMessage(Markdown):
    """The assistant's reply, growing as it streams."""

    def __init__(self) -> None:
        super().__init__("", classes="assistant-message")
        self.text = ""

    async def add(self, delta: str) -> None:
        self.text += safe(delta)
        await self.append(safe(delta))


class NoticeMessage(Static):
    """A line from whyscope itself: errors, notes, unverified numbers."""

    def __init__(self, text: str, kind: str = "note") -> None:
        super().__init__(Text(safe(text)), classes=f"notice {kind}")
