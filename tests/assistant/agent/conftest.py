"""Offline LLM fixtures: canned Chat Completions payloads served by respx; no request may leave the machine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from assistant.agent.backends import OpenAIBackend, OpenAISettings

BASE_URL = "https://llm.test/v1"


@pytest.fixture(autouse=True)
def offline_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.setenv("OPENAI_BASE_URL", BASE_URL)
    monkeypatch.setenv("WHYSCOPE_HOME", str(tmp_path / "whyscope-home"))


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "test-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def text_stream(*pieces: str) -> list[dict[str, Any]]:
    """A streamed text answer, one chunk per piece."""
    return [chunk({"role": "assistant", "content": ""}), *[chunk({"content": p}) for p in pieces], chunk({}, "stop")]


def tool_call_stream(*calls: tuple[str, str, dict[str, Any] | str], split: int = 3) -> list[dict[str, Any]]:
    """Tool calls (id, name, arguments) streamed the way OpenAI does: arguments cut into ``split`` pieces."""
    chunks = [chunk({"role": "assistant", "content": None})]
    for index, (call_id, name, arguments) in enumerate(calls):
        text = arguments if isinstance(arguments, str) else json.dumps(arguments)
        step = max(1, len(text) // split + 1)
        pieces = [text[i : i + step] for i in range(0, len(text), step)] or [""]
        chunks.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call_id,
                            "type": "function",
                            "function": {"name": name, "arguments": pieces[0]},
                        }
                    ]
                }
            )
        )
        chunks += [chunk({"tool_calls": [{"index": index, "function": {"arguments": p}}]}) for p in pieces[1:]]
    chunks.append(chunk({}, "tool_calls"))
    return chunks


def sse(chunks: list[dict[str, Any]], status: int = 200) -> httpx.Response:
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return httpx.Response(status, text=body, headers={"content-type": "text/event-stream"})


def error_response(status: int, message: str = "error") -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": message, "type": "test"}}, headers={"retry-after-ms": "1"})


@pytest.fixture
def llm() -> Iterator[respx.Route]:
    """The mocked chat-completions endpoint; any other request fails the test (assert_all_mocked)."""
    with respx.mock(base_url=BASE_URL, assert_all_mocked=True, assert_all_called=False) as router:
        yield router.post("/chat/completions")


@pytest.fixture
def backend() -> OpenAIBackend:
    return OpenAIBackend(
        OpenAISettings(model="test-model", api_key="sk-test-not-a-real-key", base_url=BASE_URL),
        http_client=httpx.Client(),
    )
