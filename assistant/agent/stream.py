"""Assembling a streamed Chat Completions response: text deltas and tool calls split across chunks.

Servers disagree on the details (openai-python#2806/#3201, lmdeploy#3412): a tool-call delta may lack its
``index``, repeat an index in the first chunk, carry its ``id`` only in the first chunk, send ``id=""`` later, or
reuse one ``id`` for two calls; Azure sends chunks with empty ``choices`` (content-filter results); some servers
send a call's ``arguments`` as a JSON object instead of a string. This accumulator takes them all, as plain dicts
(parsed from the stream, not the SDK's types), and never raises for what a chunk holds: a field of the wrong
type is read as absent (arguments sent as an object are serialised, since that is what the server meant).
"""

from __future__ import annotations

import json
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
    #: The index each draft arrived under (keyed by ``id(draft)``), to tell a reused ``id`` from a continuation.
    _index_of: dict[int, int] = field(default_factory=dict)

    def add(self, chunk: Mapping[str, Any]) -> str:
        """Take one chunk; returns the text it added (for live display)."""
        added = ""
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else []:  # empty: a filter-results chunk
            if not isinstance(choice, Mapping) or choice.get("index", 0) not in (0, None):
                continue
            delta = choice.get("delta")
            if not isinstance(delta, Mapping):
                delta = choice.get("message")  # a server that sends whole messages in its chunks
            if isinstance(delta, Mapping):
                added += _content(delta.get("content"))
                if isinstance(refusal := delta.get("refusal"), str):
                    self.refusal += refusal
                calls = delta.get("tool_calls")
                for call in [calls] if isinstance(calls, Mapping) else calls if isinstance(calls, list) else []:
                    if isinstance(call, Mapping):
                        self._add_call(call)
            if isinstance(reason := choice.get("finish_reason"), str) and reason:
                self.finish_reason = reason
        self.text += added
        return added

    @property
    def has_content(self) -> bool:
        """Anything was received: text, a refusal or a tool call."""
        return bool(self.text or self.refusal or self.tool_calls)

    def _add_call(self, call: Mapping[str, Any]) -> None:
        raw_id = call.get("id")
        call_id = raw_id if isinstance(raw_id, str) else str(raw_id) if isinstance(raw_id, int) else ""
        raw_index = call.get("index")
        index = raw_index if isinstance(raw_index, int) and not isinstance(raw_index, bool) else None
        function = call.get("function")
        if not isinstance(function, Mapping):
            function = {}
        draft = self._find(call_id, index)
        if draft is None:
            draft = ToolCallDraft()
            self.tool_calls.append(draft)
            if index is not None:
                self._by_index[index] = draft
                self._index_of[id(draft)] = index
        if call_id and not draft.id:
            draft.id = call_id
            self._by_id[call_id] = draft
        if isinstance(name := function.get("name"), str) and name and not draft.name:
            draft.name = name
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            draft.arguments += arguments
        elif arguments is not None:  # an object (or list) instead of its JSON text: serialise it
            draft.arguments += json.dumps(arguments, ensure_ascii=False, default=str)

    def _find(self, call_id: str, index: int | None) -> ToolCallDraft | None:
        """The draft a delta continues, or None when it starts a new call."""
        if call_id and call_id in self._by_id:
            known = self._by_id[call_id]
            if index is None or self._index_of.get(id(known), index) == index:
                return known
            # the same id under another index: a second call reusing the id (renamed by the conversation)
        if index is not None and index in self._by_index:
            draft = self._by_index[index]
            if not (call_id and draft.id and draft.id != call_id):
                return draft
            return None  # a duplicate index with a new id: a second call
        if index is None and not call_id and self.tool_calls:
            return self.tool_calls[-1]  # a continuation with neither index nor id: the call being built
        return None

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


def _content(value: Any) -> str:
    """A delta's text: a string, or the text parts of a list of content parts; anything else adds nothing."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(p["text"] for p in value if isinstance(p, Mapping) and isinstance(p.get("text"), str))
    return ""
