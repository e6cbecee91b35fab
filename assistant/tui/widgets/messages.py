"""Chat messages: the user's and whyscope's own notices, as plain text (never parsed as markup)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from assistant.config import printable, redact


def safe(text: str) -> str:
    """Untrusted text made safe to show: escape sequences and control characters removed (the rule ``whyscope
    chat`` applies too: :func:`assistant.config.printable`), then secrets redacted."""
    return redact(printable(text))


class UserMessage(Static):
    """What the user typed, shown literally."""

    def __init__(self, text: str) -> None:
        super().__init__(Text(safe(text)), classes="user-message")
        self.text = text


class NoticeMessage(Static):
    """A line from whyscope itself: errors, notes, unverified numbers."""

    def __init__(self, text: str, kind: str = "note") -> None:
        super().__init__(Text(safe(text)), classes=f"notice {kind}")


class QueuedMessage(Static):
    """A message sent while a turn runs: shown as waiting, sent in order when the app is free (then replaced by
    the :class:`UserMessage` it becomes, where the conversation has got to)."""

    def __init__(self, text: str) -> None:
        super().__init__(Text("queued — sent when the current answer ends:\n") + Text(safe(text)), classes="queued")
        self.text = text

    def dropped(self) -> None:
        """Esc stopped the turn and the queue: say the message was not sent (the input's history keeps it)."""
        self.update(Text("not sent (Esc stopped the turn; Up recalls it):\n") + Text(safe(self.text)))
        self.add_class("dropped")
