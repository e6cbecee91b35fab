"""The message box: Enter sends, Ctrl+J adds a line, Up/Down walk the history, Tab completes commands and paths."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import events
from textual.message import Message
from textual.widgets import TextArea

COMMANDS = (
    "/help",
    "/load",
    "/data",
    "/brief",
    "/power",
    "/run",
    "/prereg",
    "/plot",
    "/export",
    "/model",
    "/clear",
    "/quit",
)
MAX_CHARS = 20_000


class ChatInput(TextArea):
    """A multi-line box that sends on Enter."""

    @dataclass
    class Submitted(Message):
        """The user sent ``value``."""

        input: ChatInput
        value: str

    def __init__(self) -> None:
        super().__init__(
            id="chat-input",
            soft_wrap=True,
            tab_behavior="focus",
            show_line_numbers=False,
            compact=True,
            highlight_cursor_line=False,
            placeholder="Type a message, or /help  (Enter sends, Ctrl+J adds a line)",
        )
        self.sent: list[str] = []
        self._position = 0

    @property
    def value(self) -> str:
        return self.text

    @value.setter
    def value(self, text: str) -> None:
        self.load_text(text)
        self.move_cursor(self.document.end)

    def remember(self, text: str) -> None:
        if text and (not self.sent or self.sent[-1] != text):
            self.sent.append(text)
        self._position = len(self.sent)

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.prevent_default()
            event.stop()
            self.post_message(self.Submitted(self, self.text))
            return
        if event.key == "ctrl+j":
            event.prevent_default()
            event.stop()
            self.insert("\n")
            return
        if event.key == "tab" and self.text.startswith("/"):
            event.prevent_default()
            event.stop()
            self.complete()
            return
        if event.key in ("up", "down") and "\n" not in self.text and self.sent:
            event.prevent_default()
            event.stop()
            self.walk_history(-1 if event.key == "up" else 1)
            return
        await super()._on_key(event)

    def walk_history(self, step: int) -> None:
        self._position = max(0, min(len(self.sent), self._position + step))
        self.value = self.sent[self._position] if self._position < len(self.sent) else ""

    def complete(self) -> None:
        value = self.text
        if " " not in value:
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
