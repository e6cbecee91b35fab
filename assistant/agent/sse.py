"""Reading a Chat Completions response body, as it arrives, into an :class:`~assistant.agent.backends.AssistantTurn`.

The body should be Server-Sent Events whose ``data`` are chunk objects, ending with a ``finish_reason`` and
``data: [DONE]``. Servers and proxies send other things, and each gets a name here instead of an empty answer or
"a bug in whyscope":

- a body that is no event stream (an HTML error page, ``{"hello": "world"}``): ``bad_response`` quoting its status,
  content type and first bytes — unless it is a whole completion (a server that ignores ``stream``), which is read;
- an event that is not a JSON object: skipped and reported; only such events is a ``bad_response``;
- ``{"error": …}`` in the stream: ``server_error`` with the server's message;
- a stream that ends without ``finish_reason`` or ``[DONE]``, breaks off mid-event, loses its connection or stalls
  past the read timeout: the answer so far is kept and returned :attr:`~AssistantTurn.incomplete`, saying why
  (with nothing received yet it is a ``BackendError``).

Lines come from :func:`lines`, which waits on the helper thread's queue in short steps so that Esc ends the wait
within :data:`POLL` seconds, and tells the user once when the server has been silent for a while.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from assistant.agent.backends import AssistantTurn, BackendError, Cancelled, excerpt
from assistant.agent.stream import StreamAccumulator
from tools.jsontext import JsonTextError, loads

__all__ = ["MAX_BODY_CHARS", "MAX_STREAM_CHARS", "POLL", "SILENCE_NOTICE", "ResponseReader", "lines"]

#: How often a wait looks at the cancel flag: Esc ends any wait within this.
POLL = 0.2
#: Seconds without a byte before the user is told the backend is still waiting.
SILENCE_NOTICE = 15.0
#: The most characters one answer may stream (a runaway server is cut here, its answer kept as incomplete).
MAX_STREAM_CHARS = 4_000_000
#: The most characters of a body that is not an event stream read to say what it was.
MAX_BODY_CHARS = 1_000_000
_SSE_FIELD = re.compile(r"^(data|event|id|retry)?:")

#: What the helper thread puts on the queue: ("head", (status, content_type)), ("line", text), ("end", None) or
#: ("error", exception).
Item = tuple[str, Any]


def lines(
    feed: queue.Queue[Item], notice: Callable[[str], None], cancel: threading.Event | None, host: str
) -> Iterator[Item]:
    """The helper thread's items as they come, until ``end`` or ``error``; raises :class:`Cancelled` within
    :data:`POLL` s of ``cancel``, and says once when the server has been silent for :data:`SILENCE_NOTICE` s."""
    quiet_since = time.monotonic()
    told = False
    while True:
        if cancel is not None and cancel.is_set():
            raise Cancelled
        try:
            item = feed.get(timeout=POLL)
        except queue.Empty:
            if not told and time.monotonic() - quiet_since >= SILENCE_NOTICE:
                notice(f"Waiting for {host}: nothing received for {SILENCE_NOTICE:g} s (Esc to stop).")
                told = True
            continue
        quiet_since = time.monotonic()
        yield item
        if item[0] in ("end", "error"):
            return


class ResponseReader:
    """Reads one response: text goes to ``on_text`` as it arrives, what went wrong to ``notice`` or an exception.

    ``timeout`` is the read timeout in seconds (named when a stall ends the answer)."""

    def __init__(
        self, host: str, timeout: float, on_text: Callable[[str], None], notice: Callable[[str], None]
    ) -> None:
        self.host = host
        self.timeout = timeout
        self.on_text = on_text
        self.notice = notice
        self.accumulator = StreamAccumulator()
        self.status = 200
        self.content_type = ""
        self.done = False  # data: [DONE] was received
        self.skipped: list[str] = []  # events that were not JSON objects
        self._data: list[str] = []  # the data lines of the event being read
        self._event = ""

    def read(self, items: Iterator[Item]) -> AssistantTurn:
        """The turn the items add up to; raises :class:`BackendError` when they hold no answer at all."""
        body: list[str] | None = None  # the lines of a body that is not an event stream
        chars = 0
        incomplete = ""
        for kind, item in items:
            if kind == "head":
                self.status, self.content_type = item
            elif kind == "line":
                line: str = item
                chars += len(line) + 1
                if body is None and not self._data and line.strip() and not _SSE_FIELD.match(line):
                    body = []  # the first line is no Server-Sent Event: a body to judge whole
                if body is not None:
                    body.append(line)
                    if chars > MAX_BODY_CHARS:
                        break
                    continue
                if chars > MAX_STREAM_CHARS:
                    incomplete = f"the answer passed {MAX_STREAM_CHARS:,} characters and was cut there"
                    break
                self._line(line)
                if self.done:
                    break
            elif kind == "end":
                if self._data and not self._dispatch():  # the last event, never closed, is cut mid-way
                    self.skipped.pop()
                    incomplete = f"the stream from {self.host} broke off in the middle of a message"
                break
            else:
                incomplete = self._failed(item)
                break
        if body is not None:
            return self._whole_body("\n".join(body))
        return self._turn(incomplete)

    # -- events ----------------------------------------------------------------------------------------------

    def _line(self, line: str) -> None:
        if not line:
            self._dispatch()
        elif line.startswith("data:"):
            self._data.append(line[5:].removeprefix(" "))
        elif line.startswith("event:"):
            self._event = line[6:].strip()
        # comments (":…"), "id:", "retry:" and unknown fields are ignored, as the SSE standard says

    def _dispatch(self) -> bool:
        """Take the event read so far; False when its data is not a JSON object (it is kept in ``skipped``)."""
        text, name = "\n".join(self._data), self._event
        self._data.clear()
        self._event = ""
        if not text.strip():
            return True
        if text.strip() == "[DONE]":
            self.done = True
            return True
        try:
            chunk = loads(text)
        except JsonTextError:
            chunk = None
        if not isinstance(chunk, dict):
            self.skipped.append(text)
            return False
        if name == "error" or ("error" in chunk and "choices" not in chunk):
            raise BackendError(
                "server_error",
                f"{self.host} reported an error during the answer: {error_text(chunk)}.",
                "Send the message again; if it persists, the server's log says more.",
            )
        added = self.accumulator.add(chunk)
        if added:
            self.on_text(added)
        return True

    def _failed(self, exc: Exception) -> str:
        """The reason a failure mid-body leaves the answer incomplete; re-raises what is not the network's."""
        import httpx

        if isinstance(exc, BackendError | Cancelled) or not isinstance(exc, httpx.HTTPError | httpx.StreamError):
            raise exc  # the request's own errors (retried by the backend), or a bug that should show as itself
        stalled = isinstance(exc, httpx.TimeoutException)
        if self.accumulator.finish_reason is not None:
            return ""  # the answer was finished; only the end of the stream was lost
        if not self.accumulator.has_content:
            raise BackendError(
                "timeout" if stalled else "connection_lost",
                f"{self.host} sent nothing for {self.timeout:g} s after starting its answer."
                if stalled
                else f"The connection to {self.host} closed before an answer arrived.",
                "Send the message again; a local server may still be loading the model.",
            )
        if stalled:
            return f"{self.host} sent nothing for {self.timeout:g} s and the answer stopped there"
        return f"the connection to {self.host} closed in the middle of the answer"

    def _turn(self, incomplete: str) -> AssistantTurn:
        accumulator = self.accumulator
        if self.skipped:
            self.notice(
                f"{self.host} sent {len(self.skipped)} stream event(s) that are not JSON objects; they were skipped "
                f"(first: '{excerpt(self.skipped[0], 60)}')."
            )
            if not accumulator.has_content:
                raise self._not_a_completion(self.skipped[0])
            incomplete = incomplete or f"{self.host} sent parts of the answer that could not be read"
        if not incomplete and not self.done and accumulator.finish_reason is None:
            if not accumulator.has_content:
                raise self._not_a_completion("")
            incomplete = f"{self.host} ended the stream without finishing the answer"
        return AssistantTurn(
            text=accumulator.text,
            tool_calls=accumulator.finished_calls(),
            finish_reason=accumulator.finish_reason,
            refusal=accumulator.refusal,
            incomplete=incomplete,
        )

    # -- a body that is not an event stream ------------------------------------------------------------------

    def _whole_body(self, text: str) -> AssistantTurn:
        """A whole completion (a server that ignores ``stream``), a reported error, or something else — named with
        its status and first bytes."""
        try:
            value = loads(text, max_chars=MAX_BODY_CHARS)
        except JsonTextError:
            value = None
        if isinstance(value, dict) and isinstance(value.get("choices"), list) and value["choices"]:
            choices = [{**c, "delta": c.get("message")} if isinstance(c, dict) else c for c in value["choices"]]
            added = self.accumulator.add({"choices": choices})
            if added:
                self.on_text(added)
            if self.accumulator.finish_reason is None:
                self.accumulator.finish_reason = "stop"  # a whole body is a finished answer
            return self._turn("")
        if isinstance(value, dict) and "error" in value:
            raise BackendError(
                "server_error",
                f"{self.host} answered HTTP {self.status} with an error: {error_text(value)}.",
                "Send the message again; if it persists, check the server.",
            )
        raise self._not_a_completion(text)

    def _not_a_completion(self, text: str) -> BackendError:
        what = f"HTTP {self.status} ({self.content_type or 'no content type'})"
        return BackendError(
            "bad_response",
            f"{self.host} answered {what} with something that is not a chat completion: '{excerpt(text)}'."
            if text.strip()
            else f"{self.host} answered {what} with no answer in it.",
            "Is the base URL an OpenAI-compatible endpoint (it usually ends in /v1), and is a proxy in between?",
        )


def error_text(body: Mapping[str, Any]) -> str:
    """The message of an ``{"error": …}`` body, short and safe to show."""
    error = body.get("error")
    if isinstance(error, Mapping):
        error = error.get("message") or error.get("type") or error
    return excerpt(str(error), 200) if error else "no detail given"
