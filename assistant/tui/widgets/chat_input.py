"""The message box: Enter sends, Up/Down walk the history, Tab completes slash commands and paths."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Input

COMMANDS = ("/help", "/load", "/data", "/brief", "/power", "/run", "/prereg", "/export", "/model", "/clear", "/quit")
MAX_CHARS = 20_000


class ChatInput(Input):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", "previous", show=False),
        Binding("down", "history(1)", "next", show=False),
        Binding("tab", "complete", "complete", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(placeholder="Type a message, or /help", id="chat-input", max_length=MAX_CHARS)
        self.history: list[str] = []
        self._position = 0

    def remember(self, text: str) -> None:
        if text and (not self.history or self.history[-1] != text):
            self.history.append(text)
        self._position = len(self.history)

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self._position = max(0, min(len(self.history), self._position + step))
        self.value = self.history[self._position] if self._position < len(self.history) else ""
        self.cursor_position = len(self.value)

    def action_complete(self) -> None:
        value = self.value
        if value.startswith("/") and " " not in value:
            matches = [c for c in COMMANDS if c.startswith(value)]
            if len(matches) == 1:
                self.value = matches[0] + " "
        elif value.startswith("/load "):
            prefix = value[len("/load ") :]
            folder = Path(prefix).expanduser().parent if prefix else Path(".")
            stem = Path(prefix).name
            try:
                options = sorted(p for p in folder.iterdir() if p.name.startswith(stem))
            except OSError:
                return
            if len(options) == 1:
                option = options[0]
                self.value = "/load " + str(option) + ("/" if option.is_dir() else "")
        self.cursor_position = len(self.value)
