"""Chat messages: the user's and whyscope's own notices, as plain text (never parsed as markup)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from assistant.config import redact


def safe(text: str) -> str:
    """Untrusted text made safe to show: secrets redacted, control and escape characters removed."""
    return "".join(ch for ch in redact(text) if ch in "\n\t" or (ord(ch) >= 32 and ord(ch) != 127))


class UserMessage(Static):
    """What the user typed, shown literally."""

    def __init__(self, text: str) -> None:
        super().__init__(Text(safe(text)), classes="user-message")


class NoticeMessage(Static):
    """A line from whyscope itself: errors, notes, unverified numbers."""

    def __init__(self, text: str, kind: str = "note") -> None:
        super().__init__(Text(safe(text)), classes=f"notice {kind}")
