"""Backends: something that, given the messages and the tool schemas, answers with text and tool calls.

``OpenAIBackend`` speaks Chat Completions with streaming and tools to OpenAI or any compatible server
(Ollama, vLLM, llama.cpp, LM Studio) through an explicit ``httpx.Client``. Network and API failures become a
``BackendError`` with a one-line cause and a fix, and a server's mistakes are named as the server's.

This module is the one retry layer (the SDK gets ``max_retries=0``): 408/409/429/5xx and refused connections are
retried ``max_retries`` times, honouring ``Retry-After`` up to :data:`MAX_RETRY_WAIT` and waiting at most
:data:`MAX_TOTAL_WAIT` in all; every wait is announced (``on_notice``) and ends as soon as ``cancel`` is set. A read
timeout is not retried: a server silent for the whole timeout has already cost that wait.

The body is read in a helper thread that feeds a queue, so that the caller can stop waiting on Esc even while the
socket blocks; :mod:`assistant.agent.sse` judges what arrives (cut, stalled or non-completion bodies).
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from assistant.agent.stream import ToolCallDraft

if TYPE_CHECKING:
    import httpx
    import openai

__all__ = [
    "AssistantTurn",
    "Backend",
    "BackendError",
    "Cancelled",
    "Interruptible",
    "OpenAIBackend",
    "OpenAISettings",
    "excerpt",
    "host_of",
    "retry_after",
]

Message = dict[str, Any]

#: The longest ``Retry-After`` honoured; a server asking for more is reported at once with its wait.
MAX_RETRY_WAIT = 60.0
#: The most time spent waiting between attempts for one model call.
MAX_TOTAL_WAIT = 90.0
#: Seconds to connect (a local server that is not running fails at once; a remote one within this).
CONNECT_TIMEOUT = 10.0
#: How servers say a request is longer than the model's context (OpenAI's code, vLLM's and llama.cpp's wording).
_CONTEXT = re.compile(r"context[_ ]length|maximum context|context window|exceeds the available context", re.I)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]+")


@dataclass
class AssistantTurn:
    """What the model said in one call: text, tool calls, why it stopped, a refusal if any, and — when the server
    did not finish the answer (cut, stalled, no ``finish_reason``) — why it is ``incomplete``."""

    text: str = ""
    tool_calls: list[ToolCallDraft] = field(default_factory=list)
    finish_reason: str | None = None
    refusal: str = ""
    incomplete: str = ""


class BackendError(Exception):
    """A failure the user can act on: ``kind`` for code, ``message`` and ``hint`` for people."""

    def __init__(self, kind: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.hint = hint


class Cancelled(Exception):
    """The user cancelled the turn (Esc): raised from ``on_text`` or from a backend's wait."""


class Backend(Protocol):
    """Anything that can take a turn of the conversation."""

    name: str

    def complete(
        self, messages: Sequence[Message], tools: Sequence[Mapping[str, Any]], on_text: Callable[[str], None]
    ) -> AssistantTurn:
        """One model call; streams text through ``on_text``; raises BackendError on failure."""
        ...


@runtime_checkable
class Interruptible(Protocol):
    """A backend that may wait (retries, a silent server): it reports waits through ``on_notice`` and stops one
    within a fraction of a second of ``cancel`` (raising :class:`Cancelled`)."""

    interruptible: bool

    def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[Mapping[str, Any]],
        on_text: Callable[[str], None],
        *,
        on_notice: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> AssistantTurn: ...


@dataclass(frozen=True)
class OpenAISettings:
    """Where and how to reach the model. The API key is held here only, never written anywhere."""

    model: str
    api_key: str = field(repr=False)
    base_url: str = "https://api.openai.com/v1"
    timeout: float = 60.0  # seconds without a byte (read) before the answer counts as stalled
    strict_tools: bool = True  # some servers reject `strict`; the backend downgrades once if told so
    parallel_tool_calls: bool | None = None  # None: do not send the field
    max_retries: int = 2


def host_of(url: str) -> str:
    """The host (and port) of a URL, never its user or password: what messages name."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "the model server"
    return f"{host}{port}" if host else "the model server"


def excerpt(text: str, limit: int = 120) -> str:
    """The start of something a server sent, safe to show: control characters removed, secrets masked, short."""
    from assistant.config import redact

    flat = " ".join(_CONTROL.sub(" ", text).split())
    flat = redact(flat)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class OpenAIBackend:
    """Chat Completions with streaming and strict tools, through an explicit ``httpx.Client``."""

    interruptible = True

    def __init__(self, settings: OpenAISettings, http_client: httpx.Client | None = None) -> None:
        import httpx
        import openai

        self.settings = settings
        self.name = settings.model
        self.host = host_of(settings.base_url)
        self._strict = settings.strict_tools
        self._parallel = settings.parallel_tool_calls
        # explicit: connect fails fast, read is the stall limit (the SDK's default waits 600 s)
        timeout = httpx.Timeout(settings.timeout, connect=min(CONNECT_TIMEOUT, settings.timeout))
        self._http = http_client or httpx.Client(timeout=timeout)
        self._client = openai.OpenAI(
            api_key=settings.api_key,
            base_url=settings.base_url,
            # a legacy httpx.Client is accepted at run time (and is what respx can intercept in tests)
            http_client=self._http,  # type: ignore[arg-type]
            max_retries=0,  # this backend is the one retry layer: announced, capped, cancellable
            timeout=timeout,  # type: ignore[arg-type]
        )

    def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[Mapping[str, Any]],
        on_text: Callable[[str], None],
        *,
        on_notice: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> AssistantTurn:
        import openai

        notice = on_notice or _ignore
        attempt = 0
        waited = 0.0
        while True:
            try:
                return self._stream(messages, tools, on_text, notice, cancel)
            except openai.BadRequestError as exc:
                if self._downgrade(str(exc)):  # at most once per field, so this loop ends
                    continue
                if _CONTEXT.search(str(exc)):
                    raise BackendError(
                        "context_length",
                        f"The conversation is longer than the model at {self.host} can read.",
                        "Start a new session, or use a model with a longer context.",
                    ) from None
                raise self._error(exc) from None
            except openai.OpenAIError as exc:
                delay = self._retry_delay(exc, attempt)
                if delay is None or attempt >= self.settings.max_retries or waited + delay > MAX_TOTAL_WAIT:
                    raise self._error(exc) from None
                notice(f"{self._why_retry(exc)}; retrying in {_seconds(delay)} (Esc to stop).")
                _wait(delay, cancel)
                waited += delay
                attempt += 1

    # -- one attempt ---------------------------------------------------------------------------------------

    def _stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[Mapping[str, Any]],
        on_text: Callable[[str], None],
        notice: Callable[[str], None],
        cancel: threading.Event | None,
    ) -> AssistantTurn:
        kwargs: dict[str, Any] = {"model": self.settings.model, "messages": list(messages), "stream": True}
        if tools:
            kwargs["tools"] = [self._tool(t) for t in tools]
            if self._parallel is not None:
                kwargs["parallel_tool_calls"] = self._parallel
        from assistant.agent.sse import ResponseReader, lines

        feed: queue.Queue[tuple[str, Any]] = queue.Queue()
        stop = threading.Event()
        threading.Thread(target=self._pump, args=(kwargs, feed, stop), daemon=True, name="whyscope-model").start()
        try:
            reader = ResponseReader(self.host, self.settings.timeout, on_text, notice)
            return reader.read(lines(feed, notice, cancel, self.host))
        finally:
            stop.set()  # the helper stops at its next line (or at the read timeout); nobody waits for it

    def _pump(self, kwargs: dict[str, Any], feed: queue.Queue[tuple[str, Any]], stop: threading.Event) -> None:
        """The helper thread: send the request, then pass on every line of the body, then ``end`` (or ``error``)."""
        try:
            with self._client.chat.completions.with_streaming_response.create(**kwargs) as response:
                feed.put(("head", (response.status_code, response.headers.get("content-type", ""))))
                for line in response.iter_lines():
                    if stop.is_set():
                        return
                    feed.put(("line", line))
            feed.put(("end", None))
        except Exception as exc:  # every failure is judged by the caller's thread
            feed.put(("error", exc))

    # -- requests and retries ------------------------------------------------------------------------------

    def _tool(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        if self._strict:
            return dict(schema)
        function = {k: v for k, v in schema["function"].items() if k != "strict"}
        return {"type": "function", "function": function}

    def _downgrade(self, text: str) -> bool:
        """A server that rejects `strict` or `parallel_tool_calls` (llama_index#19121): drop it, once."""
        lowered = text.lower()
        if self._strict and "strict" in lowered:
            self._strict = False
            return True
        if self._parallel is not None and "parallel_tool_calls" in lowered:
            self._parallel = None
            return True
        return False

    def _retry_delay(self, exc: openai.OpenAIError, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or None when this failure is not worth another one."""
        import openai

        backoff = min(0.5 * 2.0**attempt, 8.0)
        if isinstance(exc, openai.APITimeoutError):
            return None  # already silent for the whole read timeout
        if isinstance(exc, openai.APIConnectionError):
            return backoff
        if not isinstance(exc, openai.APIStatusError):
            return None
        if exc.status_code not in (408, 409, 429) and exc.status_code < 500:
            return None
        if exc.response.headers.get("x-should-retry", "").lower() == "false":
            return None
        asked = retry_after(exc.response.headers)
        if asked is None:
            return backoff
        return asked if asked <= MAX_RETRY_WAIT else None

    def _why_retry(self, exc: openai.OpenAIError) -> str:
        import openai

        if isinstance(exc, openai.RateLimitError):
            return f"Rate limited by {self.host}"
        if isinstance(exc, openai.APIStatusError):
            return f"{self.host} answered HTTP {exc.status_code}"
        return f"Cannot reach {self.host}"

    def _error(self, exc: openai.OpenAIError) -> BackendError:
        import openai

        host = self.host
        if isinstance(exc, openai.APITimeoutError):
            return BackendError(
                "timeout",
                f"The model at {host} did not answer in time.",
                "Try again; a local server may still be loading the model.",
            )
        if isinstance(exc, openai.APIConnectionError):
            return BackendError(
                "unreachable",
                f"Cannot reach {host}.",
                "Check the address and that the server "
                "is running (for Ollama: `ollama serve`), or use --offline for the guided mode.",
            )
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            return BackendError(
                "auth",
                f"Authentication failed for {host}.",
                "Check OPENAI_API_KEY (it is never shown or saved).",
            )
        if isinstance(exc, openai.NotFoundError):
            return BackendError(
                "not_found",
                f"Model '{excerpt(self.settings.model, 80)}' was not found at {host}.",
                "Check --model (and for Azure the deployment name and api-version).",
            )
        if isinstance(exc, openai.APIStatusError):
            asked = retry_after(exc.response.headers)
            if isinstance(exc, openai.RateLimitError):
                wait = f"; it asks to wait {_seconds(asked)}" if asked is not None else ""
                return BackendError(
                    "rate_limited",
                    f"{host} is rate limiting requests{wait}.",
                    "Wait a moment and send the message again.",
                )
            return BackendError(
                "server_error",
                f"{host} answered with HTTP {exc.status_code}.",
                "The server failed; send the message again later.",
            )
        if isinstance(exc, openai.APIResponseValidationError):
            return BackendError(
                "bad_response",
                f"{host} sent a response that is not a valid completion.",
                "Is the base URL an OpenAI-compatible /v1 endpoint?",
            )
        return BackendError("api_error", f"The model call failed: {type(exc).__name__}.", "Send the message again.")


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds a response asks the client to wait (``retry-after-ms``, ``retry-after`` as seconds or an HTTP
    date), or None when it does not say (or says something unreadable, negative or not finite)."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / scale
        except ValueError:
            if scale == 1.0:
                try:
                    seconds = parsedate_to_datetime(value).timestamp() - time.time()
                except (TypeError, ValueError, IndexError, OverflowError):
                    return None
            else:
                continue
        if seconds == seconds and 0 <= seconds < float("inf"):
            return seconds
        return None
    return None


def _wait(seconds: float, cancel: threading.Event | None) -> None:
    """Sleep between attempts; raises :class:`Cancelled` as soon as ``cancel`` is set (Ctrl-C interrupts too)."""
    if cancel is None:
        time.sleep(seconds)
    elif cancel.wait(seconds):
        raise Cancelled


def _seconds(value: float | None) -> str:
    if value is None:
        return "an unknown time"
    return f"{value:.0f} s" if value >= 1 else f"{value:.1f} s"


def _ignore(message: str) -> None:
    return None
