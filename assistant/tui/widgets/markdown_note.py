"""A note from whyscope written in Markdown (the brief, the pre-registration), rendered: headings, lists and tables
instead of their raw syntax. Imported when first needed: Markdown loads a parser, which the first frame does not."""

from __future__ import annotations

from textual.widgets import Markdown

from assistant.tui.widgets.messages import safe


class MarkdownNote(Markdown):
    """Markdown from whyscope itself (its text may quote the user's answers: made safe first; links not opened)."""

    def __init__(self, text: str) -> None:
        super().__init__(safe(text), classes="notice markdown", open_links=False)
        self.text = safe(text)
