"""Backends: something that, given the messages and the tool schemas, answers with text and tool calls.

``OpenAIBackend`` speaks Chat Completions with streaming and tools to OpenAI or any compatible server
(Ollama, vLLM, llama.cpp, LM Studio) through an explicit ``httpx.Client``. Network and API failures become a
``BackendError`` with a one-line cause and a fix; the SDK's own retries (2, with backoff, honouring
``retry-after``) are the only retry layer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from assistant.agent.stream import StreamAccumulator, ToolCallDraft

if TYPE_CHECKING:
    import httpx
    import openai

__all__ = ["AssistantTurn", "Backend", "BackendError", "OpenAIBackend", "OpenAISettings"]

Message = dict[str, Any]


@dataclass
class AssistantTurn:
    """What the model said in one call: text, tool calls, why it stopped, and a refusal if any."""

    text: str = ""
    tool_calls: list[ToolCallDraft] = field(default_factory=list)
    finish_reason: str | None = None
    refusal: str = ""


class BackendError(Exception):
    """A failure the user can act on: ``kind`` for code, ``message`` and ``hint`` for people."""

    def __init__(self, kind: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.hint = hint


class Backend(Protocol):
    """Anything that can take a turn of the conversation."""

    name: str

    def complete(
        self, messages: Sequence[Message], tools: Sequence[Mapping[str, Any]], on_text: Callable[[str], None]
    ) -> AssistantTurn:
        """One model call; streams text through ``on_text``; raises BackendError on failure."""
        ...


@dataclass(frozen=True)
class OpenAISettings:
    """Where and how to reach the model. The API key is held here only, never written anywhere."""

    model: str
    api_key: str = field(repr=False)
    base_url: str = "https://api.openai.com/v1"
    timeout: float = 60.0
    strict_tools: bool = True  # some servers reject `strict`; the backend downgrades once if told so
    parallel_tool_calls: bool | None = None  # None: do not send the field
    max_retries: int = 2


class OpenAIBackend:
    """Chat Completions with streaming and strict tools, through an explicit ``httpx.Client``."""

    def __init__(self, settings: OpenAISettings, http_client: httpx.Client | None = None) -> None:
        import httpx
        import openai

        self.settings = settings
        self.name = settings.model
        self._strict = settings.strict_tools
        self._parallel = settings.parallel_tool_calls
        self._http = http_client or httpx.Client(timeout=httpx.Timeout(settings.timeout, connect=10.0))
        self._client = openai.OpenAI(
            api_key=settings.api_key,
            base_url=settings.base_url,
            # a legacy httpx.Client is accepted at run time (and is what respx can intercept in tests)
            http_client=self._http,  # type: ignore[arg-type]
            max_retries=settings.max_retries,
            timeout=settings.timeout,
        )

    def complete(
        self, messages: Sequence[Message], tools: Sequence[Mapping[str, Any]], on_text: Callable[[str], None]
    ) -> AssistantTurn:
        import openai

        for attempt in range(2):
            try:
                return self._stream(messages, tools, on_text)
            except openai.BadRequestError as exc:
                if attempt == 0 and self._downgrade(str(exc)):
                    continue
                raise self._error(exc) from None
            except openai.OpenAIError as exc:
                raise self._error(exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _stream(
        self, messages: Sequence[Message], tools: Sequence[Mapping[str, Any]], on_text: Callable[[str], None]
    ) -> AssistantTurn:
        kwargs: dict[str, Any] = {"model": self.settings.model, "messages": list(messages), "stream": True}
        if tools:
            kwargs["tools"] = [self._tool(t) for t in tools]
            if self._parallel is not None:
                kwargs["parallel_tool_calls"] = self._parallel
        accumulator = StreamAccumulator()
        for chunk in self._client.chat.completions.create(**kwargs):
            added = accumulator.add(chunk.model_dump())
            if added:
                on_text(added)
        return AssistantTurn(
            text=accumulator.text,
            tool_calls=accumulator.finished_calls(),
            finish_reason=accumulator.finish_reason,
            refusal=accumulator.refusal,
        )

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

    def _error(self, exc: openai.OpenAIError) -> BackendError:
        import openai

        host = urlsplit(self.settings.base_url).netloc or self.settings.base_url
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
                f"Authentication failed for {self.settings.base_url}.",
                "Check OPENAI_API_KEY (it is never shown or saved).",
            )
        if isinstance(exc, openai.NotFoundError):
            return BackendError(
                "not_found",
                f"Model '{self.settings.model}' was not found at {host}.",
                "Check --model (and for Azure the deployment name and api-version).",
            )
        if isinstance(exc, openai.RateLimitError):
            return BackendError(
                "rate_limited",
                f"{host} is rate limiting requests (retried {self.settings.max_retries} times).",
                "Wait a moment and send the message again.",
            )
        if isinstance(exc, openai.APIStatusError):
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
