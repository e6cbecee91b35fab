"""Assembling a streamed Chat Completions response: text deltas and tool calls split across chunks.

Servers disagree on the details (openai-python#2806/#3201, lmdeploy#3412): a tool-call delta may lack its
``index``, repeat an index in the first chunk, carry its ``id`` only in the first chunk, or send ``id=""`` later;
Azure sends chunks with empty ``choices`` (content-filter results). This accumulator takes them all, as plain
dicts (``chunk.model_dump()``) so that it does not depend on the SDK's types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["StreamAccumulator", "ToolCallDraft"]


@dataclass
class ToolCallDraft:
    """A tool call being assembled: its id, function name and the JSON argument text so far."""

    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass
class StreamAccumulator:
    """Feed chunks with :meth:`add`; read ``text``, ``tool_calls``, ``finish_reason`` and ``refusal``."""

    text: str = ""
    refusal: str = ""
    finish_reason: str | None = None
    tool_calls: list[ToolCallDraft] = field(default_factory=list)
    _by_index: dict[int, ToolCallDraft] = field(default_factory=dict)
    _by_id: dict[str, ToolCallDraft] = field(default_factory=dict)

    def add(self, chunk: Mapping[str, Any]) -> str:
        """Take one chunk; returns the text it added (for live display)."""
        added = ""
        for choice in chunk.get("choices") or []:  # empty choices: a filter-results chunk, nothing to add
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                added += delta["content"]
            if delta.get("refusal"):
                self.refusal += delta["refusal"]
            for call in delta.get("tool_calls") or []:
                self._add_call(call)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        self.text += added
        return added

    def _add_call(self, call: Mapping[str, Any]) -> None:
        call_id = call.get("id") or ""
        index = call.get("index")
        function = call.get("function") or {}
        draft = None
        if call_id and call_id in self._by_id:
            draft = self._by_id[call_id]
        elif (
            index is not None
            and index in self._by_index
            and not (call_id and self._by_index[index].id and self._by_index[index].id != call_id)
        ):
            draft = self._by_index[index]
        elif index is None and not call_id and self.tool_calls:
            draft = self.tool_calls[-1]  # a continuation with neither index nor id: the call being built
        if draft is None:
            draft = ToolCallDraft()
            self.tool_calls.append(draft)
            if index is not None:
                self._by_index[index] = draft
        if call_id and not draft.id:
            draft.id = call_id
            self._by_id[call_id] = draft
        if function.get("name"):
            draft.name = function["name"] if not draft.name else draft.name
        if function.get("arguments"):
            draft.arguments += function["arguments"]

    def finished_calls(self) -> list[ToolCallDraft]:
        """The assembled tool calls, each with an id (servers that send none get ``call_<n>``)."""
        for number, draft in enumerate(self.tool_calls):
            if not draft.id:
                draft.id = f"call_{number}"
        return [draft for draft in self.tool_calls if draft.name or draft.arguments]

    @property
    def truncated(self) -> bool:
        """The server stopped at its token limit: tool calls may be cut mid-arguments and must not run."""
        return self.finish_reason == "length"

    @property
    def filtered(self) -> bool:
        return self.finish_reason == "content_filter"
